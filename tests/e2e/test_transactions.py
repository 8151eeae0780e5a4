"""Transactions (KIP-98) with confluent-kafka's transactional producer on one
broker: the transaction coordinator (FindCoordinator key type 1,
InitProducerId with a transactional.id, AddPartitionsToTxn, EndTxn, epoch
fencing, timeouts, DescribeTransactions/ListTransactions through
kafka-python's admin client) and its state in __transaction_state across
restarts.

With the partition side (WriteTxnMarkers served by the data shards, the
last stable offset, read_committed fetches): a read_committed consumer sees
exactly the committed records.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import (
    CoordinatorLoadInProgressError,
    CoordinatorNotAvailableError,
    TransactionalIdNotFoundError,
)

from clients import (
    TIMEOUT_S,
    admin,
    consume_partition,
    consumer,
    create_topic,
    producer,
    unique_topic,
    wait_until,
)

# Short enough for the timeout tests, long enough for a slow CI machine.
TXN_TIMEOUT_MS = 6000
BROKER_SETTINGS = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500"}


def txn_producer(bootstrap: str, transactional_id: str, **conf):
    return producer(
        bootstrap,
        **{
            "transactional.id": transactional_id,
            "enable.idempotence": True,
            "socket.timeout.ms": 5000,
            "message.timeout.ms": TXN_TIMEOUT_MS,
            "transaction.timeout.ms": TXN_TIMEOUT_MS,
            **conf,
        },
    )


def kafka_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="skein-e2e-txn",
                            request_timeout_ms=10000)


def describe(bootstrap: str, transactional_id: str):
    """DescribeTransactions, retried while the coordinator is loading or
    __transaction_state is being created at start (kafka-python does not
    retry COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE)."""
    deadline = time.monotonic() + TIMEOUT_S
    client = kafka_admin(bootstrap)
    try:
        while True:
            try:
                return client.describe_transactions([transactional_id])[transactional_id]
            except (CoordinatorLoadInProgressError, CoordinatorNotAvailableError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        client.close()


def state_name(description) -> str:
    state = description.state
    return getattr(state, "value", state)


def error_of(excinfo) -> KafkaError:
    return excinfo.value.args[0]


def test_init_transactions_registers_the_id_at_epoch_zero_and_restart_bumps_it(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    first = describe(broker.bootstrap, tid)
    assert state_name(first) == "Empty"
    assert first.producer_epoch == 0
    assert first.producer_id >= 0
    assert first.transaction_timeout_ms == TXN_TIMEOUT_MS
    # The state is durable: after a crash the next instance gets the same
    # producer id at the next epoch.
    broker.restart(kill=True)
    p2 = txn_producer(broker.bootstrap, tid)
    p2.init_transactions(TIMEOUT_S)
    second = describe(broker.bootstrap, tid)
    assert (second.producer_id, second.producer_epoch) == (first.producer_id, 1)
    client = kafka_admin(broker.bootstrap)
    try:
        listed = [t for listings in client.list_transactions().values() for t in listings
                  if t.transactional_id == tid]
    finally:
        client.close()
    assert [(t.producer_id, getattr(t.state, "value", t.state)) for t in listed] == [
        (first.producer_id, "Empty")
    ]


def test_timeout_above_transaction_max_timeout_is_refused(broker_factory):
    broker = broker_factory({"transaction.max.timeout.ms": "10000"})
    p = txn_producer(broker.bootstrap, unique_topic("tid"), **{"transaction.timeout.ms": 20000})
    with pytest.raises(KafkaException) as excinfo:
        p.init_transactions(TIMEOUT_S)
    assert error_of(excinfo).code() == KafkaError.INVALID_TRANSACTION_TIMEOUT


def test_unknown_transactional_id_is_not_found(broker_factory):
    broker = broker_factory()
    with pytest.raises(TransactionalIdNotFoundError):
        describe(broker.bootstrap, "never-initialised")


def test_second_producer_with_the_same_id_fences_the_first(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=2)
    tid = unique_topic("tid")
    first = txn_producer(broker.bootstrap, tid)
    first.init_transactions(TIMEOUT_S)
    second = txn_producer(broker.bootstrap, tid)
    second.init_transactions(TIMEOUT_S)
    assert describe(broker.bootstrap, tid).producer_epoch == 1
    first.begin_transaction()
    first.produce(topic, key=b"k", value=b"from the fenced instance", partition=0)
    with pytest.raises(KafkaException) as excinfo:
        first.commit_transaction(TIMEOUT_S)
    error = error_of(excinfo)
    assert error.fatal(), error
    assert error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED), error
    # The new instance is unaffected.
    second.begin_transaction()
    second.produce(topic, key=b"k", value=b"from the new instance", partition=1)
    second.flush(TIMEOUT_S)
    assert state_name(describe(broker.bootstrap, tid)) == "Ongoing"
    assert {(tp.topic, tp.partition) for tp in describe(broker.bootstrap, tid).topic_partitions} == {
        (topic, 1)
    }


def test_kill_mid_transaction_then_restart_aborts_it_on_timeout(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=3)
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    for i in range(6):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3)
    assert p.flush(TIMEOUT_S) == 0
    ongoing = describe(broker.bootstrap, tid)
    assert state_name(ongoing) == "Ongoing"
    assert len(ongoing.topic_partitions) == 3
    broker.restart(kill=True)
    # Reloaded from __transaction_state, still ongoing, then aborted by the
    # coordinator once transaction.timeout.ms has passed, with the epoch
    # bumped so the old instance is fenced.
    def aborted():
        d = describe(broker.bootstrap, tid)
        return d if state_name(d) in ("PrepareAbort", "CompleteAbort") else None

    d = wait_until(aborted, "the coordinator aborts the timed-out transaction", timeout_s=30)
    assert (d.producer_id, d.producer_epoch) == (ongoing.producer_id, ongoing.producer_epoch + 1)
    client = kafka_admin(broker.bootstrap)
    try:
        ongoing_now = [t for listings in client.list_transactions(state_filters=["Ongoing"]).values()
                       for t in listings]
    finally:
        client.close()
    assert [t for t in ongoing_now if t.transactional_id == tid] == []


def test_send_offsets_to_transaction_is_invisible_before_the_commit(broker_factory):
    from confluent_kafka import ConsumerGroupTopicPartitions

    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=1)
    group = unique_topic("group")
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    c = consumer(broker.bootstrap, **{"group.id": group, "enable.auto.commit": False})
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 5)], c.consumer_group_metadata(),
                                  TIMEOUT_S)
    # AddOffsetsToTxn put the group's __consumer_offsets partition in the
    # transaction; TxnOffsetCommit wrote the offset, still pending.
    d = describe(broker.bootstrap, tid)
    assert state_name(d) == "Ongoing"
    assert {tp.topic for tp in d.topic_partitions} == {"__consumer_offsets"}
    a = admin(broker.bootstrap)
    result = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(TIMEOUT_S)
    assert [tp.offset for tp in result.topic_partitions] == [-1001]
    c.close()


# ---------------------------------------------------------------------------
# Everything below needs the transaction markers written to the partitions.


def test_commit_and_abort_across_partitions(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=3)
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    committed, aborted = [], []
    for round_ in range(4):
        p.begin_transaction()
        batch = [(i % 3, b"r%d-%d" % (round_, i)) for i in range(9)]
        for partition, value in batch:
            p.produce(topic, key=b"k", value=value, partition=partition)
        # Every record is written (and so its partition registered with the
        # coordinator) before the transaction ends. Without this flush an
        # abort right after produce() never reaches the broker: librdkafka
        # aborts locally, without EndTxn, when no AddPartitionsToTxn has
        # succeeded yet ("No partitions registered: not sending EndTxn"),
        # and purges the records. Its registration is sent on a timer, and
        # the first one after a commit is often refused with
        # CONCURRENT_TRANSACTIONS while the commit's markers are written
        # (retried 20 ms later), so the abort usually won the race and the
        # coordinator rightly stayed in CompleteCommit, as Kafka's would.
        assert p.flush(15) == 0
        if round_ % 2 == 0:
            p.commit_transaction(15)
            committed += batch
        else:
            p.abort_transaction(15)
            aborted += batch
    # EndTxn answers once PrepareAbort is written; the markers complete it.
    wait_until(lambda: state_name(describe(broker.bootstrap, tid)) == "CompleteAbort",
               "the last transaction completes its abort")
    # read_uncommitted sees every data record, committed and aborted alike
    # (control batches are not records).
    for partition in range(3):
        seen = [m.value for m in consume_partition(broker.bootstrap, topic, partition,
                                                   **{"isolation.level": "read_uncommitted"})]
        want = [v for p_, v in committed + aborted if p_ == partition]
        assert sorted(seen) == sorted(want)
        assert len(seen) == 12
    # read_committed sees exactly the committed ones, in order.
    for partition in range(3):
        c = consumer(broker.bootstrap, **{"isolation.level": "read_committed"})
        c.assign([TopicPartition(topic, partition, 0)])
        seen = []
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and len(seen) < 6:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                seen.append(m.value())
        c.close()
        assert seen == [v for p_, v in committed if p_ == partition]


def test_new_instance_aborts_the_fenced_instances_open_transaction(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=1)
    tid = unique_topic("tid")
    first = txn_producer(broker.bootstrap, tid)
    first.init_transactions(TIMEOUT_S)
    first.begin_transaction()
    first.produce(topic, value=b"doomed", partition=0)
    assert first.flush(TIMEOUT_S) == 0
    second = txn_producer(broker.bootstrap, tid)
    second.init_transactions(15)
    d = describe(broker.bootstrap, tid)
    assert (state_name(d), d.producer_epoch) == ("Empty", 2)
    with pytest.raises(KafkaException) as excinfo:
        first.commit_transaction(TIMEOUT_S)
    assert error_of(excinfo).code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED)


def test_timed_out_transaction_is_invisible_to_read_committed_after_a_crash(broker_factory):
    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=1)
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    p.produce(topic, value=b"never visible", partition=0)
    assert p.flush(TIMEOUT_S) == 0
    broker.restart(kill=True)
    wait_until(lambda: state_name(describe(broker.bootstrap, tid)) == "CompleteAbort",
               "the abort completes", timeout_s=30)
    after = txn_producer(broker.bootstrap, unique_topic("tid"))
    after.init_transactions(TIMEOUT_S)
    after.begin_transaction()
    after.produce(topic, value=b"visible", partition=0)
    after.commit_transaction(15)
    c = consumer(broker.bootstrap, **{"isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and not seen:
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            seen.append(m.value())
    c.close()
    assert seen == [b"visible"]


def test_send_offsets_to_transaction_commits_offsets_only_on_commit(broker_factory):
    from confluent_kafka import ConsumerGroupTopicPartitions

    broker = broker_factory(BROKER_SETTINGS)
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic, partitions=1)
    group = unique_topic("group")
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(TIMEOUT_S)
    c = consumer(broker.bootstrap, **{"group.id": group, "enable.auto.commit": False})
    metadata = c.consumer_group_metadata()

    def committed_offset():
        a = admin(broker.bootstrap)
        futures = a.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])
        result = futures[group].result(TIMEOUT_S)
        return result.topic_partitions[0].offset

    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 5)], metadata, TIMEOUT_S)
    p.abort_transaction(15)
    assert committed_offset() < 0
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(topic, 0, 7)], metadata, TIMEOUT_S)
    assert committed_offset() < 0
    p.commit_transaction(15)
    wait_until(lambda: committed_offset() == 7, "the transactional offset is visible")
    c.close()
