"""The checker of the fault test (test_faults.py): what a history of
produces and reads must satisfy after faults, whatever the faults were.

Input, all plain data:
  sent      value -> the partition it was produced to (every value unique)
  acked     value -> (partition, offset) from a delivery report without error
  failed    values whose delivery report carried an error
  final     partition -> [(offset, value), ...] as a consumer read each
            partition from the beginning after the faults, in read order
  observed  (partition, offset, value) as a consumer running during the
            faults saw them (repeats allowed: it may have re-read)

The rules (Kafka's promises for acks=all with min.insync.replicas and an
idempotent producer, and the high watermark as the limit of what
consumers read):
  LOST              an acknowledged value is not in the final log
  DUPLICATE         a value is in the final log more than once
  NEVER_SENT        a value in the final log was never produced
  WRONG_PARTITION   a value is in another partition than it was sent to
  ACK_OFFSET        an acknowledged value is at another offset than its
                    delivery report said
  OFFSETS           a partition's offsets are not dense and increasing
                    from its log start (no retention, no transactions:
                    every offset holds one record; `log_start` gives
                    a partition's first offset, default 0)
  VANISHED          the running consumer saw (partition, offset) and the
                    final log has no record there
  CHANGED           the running consumer saw (partition, offset, value)
                    and the final log has another value there

`check` returns a Verdict with the counts the closing note reports and
every violation; it never raises on bad input, it describes it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

LOST = "LOST"
DUPLICATE = "DUPLICATE"
NEVER_SENT = "NEVER_SENT"
WRONG_PARTITION = "WRONG_PARTITION"
ACK_OFFSET = "ACK_OFFSET"
OFFSETS = "OFFSETS"
VANISHED = "VANISHED"
CHANGED = "CHANGED"
KINDS = (LOST, DUPLICATE, NEVER_SENT, WRONG_PARTITION, ACK_OFFSET, OFFSETS, VANISHED, CHANGED)

# How many violations of one kind the summary spells out.
SHOWN_PER_KIND = 10


@dataclass(frozen=True)
class Violation:
    kind: str
    partition: int
    offset: int | None
    detail: str

    def __str__(self) -> str:
        at = f"p{self.partition}" + (f"@{self.offset}" if self.offset is not None else "")
        return f"{self.kind} {at}: {self.detail}"


@dataclass
class Verdict:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    # Neither acknowledged nor failed (no delivery report): must be 0 once
    # the producer was flushed.
    unreported: int = 0
    records: int = 0  # records in the final log
    found: int = 0  # distinct sent values in the final log
    acked_found: int = 0
    failed_found: int = 0  # failed values that were written anyway
    duplicates: int = 0  # records beyond the first of their value
    observed: int = 0  # distinct (partition, offset) the running consumer saw
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> str:
        return (f"sent={self.sent} acked={self.acked} failed={self.failed} "
                f"unreported={self.unreported} found={self.found} records={self.records} "
                f"acked_found={self.acked_found} failed_found={self.failed_found} "
                f"duplicates={self.duplicates} observed={self.observed}")

    def summary(self) -> str:
        """The counts, then per kind how many violations and the first few."""
        lines = [self.counts()]
        by_kind: dict[str, list[Violation]] = defaultdict(list)
        for v in self.violations:
            by_kind[v.kind].append(v)
        for kind in KINDS:
            found = by_kind.get(kind, [])
            if not found:
                continue
            partitions = Counter(v.partition for v in found)
            lines.append(f"{kind}: {len(found)} (per partition {dict(sorted(partitions.items()))})")
            lines += [f"  {v}" for v in found[:SHOWN_PER_KIND]]
            if len(found) > SHOWN_PER_KIND:
                lines.append(f"  ... {len(found) - SHOWN_PER_KIND} more")
        return "\n".join(lines)


def check(sent: Mapping[bytes, int], acked: Mapping[bytes, tuple[int, int]],
          failed: Iterable[bytes], final: Mapping[int, Sequence[tuple[int, bytes]]],
          observed: Iterable[tuple[int, int, bytes]],
          log_start: Mapping[int, int] | None = None) -> Verdict:
    failed = set(failed)
    verdict = Verdict(sent=len(sent), acked=len(acked), failed=len(failed))
    verdict.unreported = sum(1 for v in sent if v not in acked and v not in failed)
    add = verdict.violations.append

    # Where each value is in the final log, and the offsets' shape.
    where: dict[bytes, list[tuple[int, int]]] = defaultdict(list)
    at: dict[tuple[int, int], bytes] = {}
    for partition in sorted(final):
        expected_offset = (log_start or {}).get(partition, 0)
        for offset, value in final[partition]:
            verdict.records += 1
            if offset != expected_offset:
                what = "a gap" if offset > expected_offset else "going back"
                add(Violation(OFFSETS, partition, offset,
                              f"expected offset {expected_offset}, read {offset} ({what})"))
            expected_offset = max(expected_offset, offset + 1)
            if (partition, offset) in at:
                continue  # reported above as going back
            at[(partition, offset)] = value
            where[value].append((partition, offset))

    for value, places in where.items():
        if value not in sent:
            for partition, offset in places:
                add(Violation(NEVER_SENT, partition, offset, f"value {value!r} was never produced"))
            continue
        verdict.found += 1
        if len(places) > 1:
            verdict.duplicates += len(places) - 1
            partition, _ = places[1]
            add(Violation(DUPLICATE, partition, places[1][1],
                          f"value {value!r} is at {len(places)} places: {places}"))
        for partition, offset in places:
            if partition != sent[value]:
                add(Violation(WRONG_PARTITION, partition, offset,
                              f"value {value!r} was sent to partition {sent[value]}"))

    for value, (partition, offset) in acked.items():
        places = where.get(value)
        if not places:
            add(Violation(LOST, partition, offset,
                          f"acknowledged value {value!r} is not in the final log"))
            continue
        verdict.acked_found += 1
        if offset >= 0 and (partition, offset) not in places:
            add(Violation(ACK_OFFSET, partition, offset,
                          f"acknowledged value {value!r} at offset {offset}, found at {places}"))
    verdict.failed_found = sum(1 for value in failed if value in where)

    seen: set[tuple[int, int, bytes]] = set()
    for partition, offset, value in observed:
        if (partition, offset, value) in seen:
            continue
        seen.add((partition, offset, value))
        now = at.get((partition, offset))
        if now is None:
            add(Violation(VANISHED, partition, offset,
                          f"the running consumer read {value!r}; the final log has no record there"))
        elif now != value:
            add(Violation(CHANGED, partition, offset,
                          f"the running consumer read {value!r}; the final log has {now!r}"))
    verdict.observed = len({(p, o) for p, o, _ in seen})
    return verdict
