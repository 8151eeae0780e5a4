"""Metadata commit rate against a running `skein serve` (librdkafka via
confluent-kafka): every request below is one metadata change, committed
(fsynced) and published to every data shard before it is answered, one at a
time, so the rate is the control shard's commit path end to end.

  topics N    N CreateTopics requests of one 1-partition topic each,
              sequentially: topic creations per second
  configs N   N IncrementalAlterConfigs requests on one topic, sequentially
              (no partition is created: the metadata path alone)

Usage:
  python benches/scripts/metadata_bench.py 127.0.0.1:9092 topics 200
  python benches/scripts/metadata_bench.py 127.0.0.1:9092 configs 500
"""

from __future__ import annotations

import sys
import time
import uuid

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)


def topics(admin: AdminClient, n: int) -> None:
    prefix = f"mb-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    for i in range(n):
        name = f"{prefix}-{i}"
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
    elapsed = time.perf_counter() - start
    print(f"topics: {n} creations in {elapsed:.2f} s = {n / elapsed:.0f}/s "
          f"({elapsed / n * 1000:.2f} ms each)")


def configs(admin: AdminClient, n: int) -> None:
    topic = f"mb-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    start = time.perf_counter()
    for i in range(n):
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("retention.ms", str(3_600_000 + i), incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([res])[res].result(30)
    elapsed = time.perf_counter() - start
    print(f"configs: {n} changes in {elapsed:.2f} s = {n / elapsed:.0f}/s "
          f"({elapsed / n * 1000:.2f} ms each)")


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[2] not in ("topics", "configs"):
        sys.exit(__doc__)
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})
    {"topics": topics, "configs": configs}[sys.argv[2]](admin, int(sys.argv[3]))


if __name__ == "__main__":
    main()
