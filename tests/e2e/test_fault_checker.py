"""The fault test's checker (fault_checker.py) on hand-made histories: a
clean one passes, and each kind of violation is caught and named. No
broker: these run in milliseconds."""

from __future__ import annotations

import fault_checker as fc


def history():
    """Two partitions, six values sent, four acknowledged, one failed and
    not written, one failed but written (a timed-out request that made
    it), all read back in place; the running consumer saw a prefix."""
    sent = {b"a": 0, b"b": 0, b"c": 0, b"d": 1, b"e": 1, b"f": 1}
    acked = {b"a": (0, 0), b"b": (0, 1), b"d": (1, 0), b"e": (1, 1)}
    failed = {b"c", b"f"}
    final = {0: [(0, b"a"), (1, b"b")], 1: [(0, b"d"), (1, b"e"), (2, b"f")]}
    observed = [(0, 0, b"a"), (1, 0, b"d"), (1, 1, b"e"), (0, 0, b"a")]
    return sent, acked, failed, final, observed


def kinds(verdict: fc.Verdict) -> list[str]:
    return sorted({v.kind for v in verdict.violations})


def test_a_clean_history_passes_with_its_counts():
    verdict = fc.check(*history())
    assert verdict.ok, verdict.summary()
    assert (verdict.sent, verdict.acked, verdict.failed, verdict.unreported) == (6, 4, 2, 0)
    assert (verdict.records, verdict.found, verdict.duplicates) == (5, 5, 0)
    assert (verdict.acked_found, verdict.failed_found, verdict.observed) == (4, 1, 3)
    assert verdict.counts().startswith("sent=6 acked=4 failed=2 unreported=0 found=5 records=5")


def test_an_acknowledged_value_missing_from_the_final_log_is_lost():
    sent, acked, failed, final, observed = history()
    final[1] = [(0, b"d")]  # e (acked at 1/1) and f truncated away
    verdict = fc.check(sent, acked, failed, final, [])
    assert kinds(verdict) == [fc.LOST]
    assert [str(v) for v in verdict.violations] == [
        "LOST p1@1: acknowledged value b'e' is not in the final log"]


def test_a_value_written_twice_is_a_duplicate_even_if_its_produce_failed():
    sent, acked, failed, final, observed = history()
    final[1].append((3, b"f"))
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.DUPLICATE]
    assert verdict.duplicates == 1
    final[0].append((2, b"a"))
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.DUPLICATE] and verdict.duplicates == 2


def test_a_value_nobody_sent_is_caught():
    sent, acked, failed, final, observed = history()
    final[0].append((2, b"zz"))
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.NEVER_SENT]
    assert verdict.violations[0].offset == 2


def test_a_value_in_another_partition_than_it_was_sent_to_is_caught():
    sent, acked, failed, final, observed = history()
    final[0].append((2, b"c"))  # c was sent to partition 0: fine
    assert fc.check(sent, acked, failed, final, observed).ok
    sent[b"c"] = 1
    assert kinds(fc.check(sent, acked, failed, final, observed)) == [fc.WRONG_PARTITION]


def test_an_acknowledged_value_at_another_offset_than_reported_is_caught():
    sent, acked, failed, final, observed = history()
    acked[b"b"] = (0, 7)
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.ACK_OFFSET]
    # An unknown offset (-1) in a delivery report is no claim to check.
    acked[b"b"] = (0, -1)
    assert fc.check(sent, acked, failed, final, observed).ok


def test_offsets_with_a_gap_going_back_or_not_from_the_start_are_caught():
    sent, acked, failed, final, observed = history()
    gap = {0: [(0, b"a"), (2, b"b")], 1: final[1]}
    verdict = fc.check(sent, {b"a": (0, 0), b"b": (0, 2)}, failed, gap, [])
    assert kinds(verdict) == [fc.OFFSETS]
    assert "a gap" in verdict.violations[0].detail
    back = {0: [(0, b"a"), (1, b"b"), (1, b"c")], 1: final[1]}
    verdict = fc.check(sent, acked, failed, back, [])
    assert kinds(verdict) == [fc.OFFSETS]
    assert "going back" in verdict.violations[0].detail
    late = {0: [(1, b"a"), (2, b"b")], 1: final[1]}
    verdict = fc.check(sent, {b"a": (0, 1), b"b": (0, 2)}, failed, late, [])
    assert kinds(verdict) == [fc.OFFSETS]
    assert fc.check(sent, {b"a": (0, 1), b"b": (0, 2)}, failed, late, [], log_start={0: 1}).ok


def test_a_record_the_running_consumer_saw_that_was_truncated_away_vanished():
    sent, acked, failed, final, observed = history()
    observed.append((1, 2, b"f"))
    assert fc.check(sent, acked, failed, final, observed).ok
    final[1] = final[1][:2]  # f (failed, unacknowledged) truncated after it was read
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.VANISHED]
    assert (verdict.violations[0].partition, verdict.violations[0].offset) == (1, 2)


def test_a_record_the_running_consumer_saw_replaced_by_another_changed():
    sent, acked, failed, final, observed = history()
    sent[b"g"] = 1
    observed.append((1, 2, b"g"))  # g was read at 1/2, then replaced by f
    verdict = fc.check(sent, acked, failed, final, observed)
    assert kinds(verdict) == [fc.CHANGED]
    assert "b'g'" in verdict.violations[0].detail and "b'f'" in verdict.violations[0].detail


def test_values_without_a_delivery_report_are_counted_as_unreported():
    sent, acked, failed, final, observed = history()
    sent[b"h"] = 0
    verdict = fc.check(sent, acked, failed, final, observed)
    assert verdict.ok and verdict.unreported == 1


def test_the_summary_names_each_kind_with_its_count_and_partitions():
    sent, acked, failed, final, observed = history()
    final[1] = [(0, b"d")]
    final[0].append((2, b"zz"))
    summary = fc.check(sent, acked, failed, final, observed).summary()
    assert "LOST: 1 (per partition {1: 1})" in summary
    assert "NEVER_SENT: 1 (per partition {0: 1})" in summary
    assert "VANISHED: 1 (per partition {1: 1})" in summary
