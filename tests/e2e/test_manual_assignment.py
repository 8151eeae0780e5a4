"""Manual replica assignments on a multi-node cluster, as Apache Kafka's
KRaft controller takes them (ReplicationControlManager: createTopic,
createPartitions, validateManualPartitionAssignment).

CreateTopics with assignments needs numPartitions and replicationFactor
both -1 (INVALID_REQUEST, replication factor checked first). Every replica
list must be non-empty, name registered brokers only, name none twice and
be as long as the lists before it (INVALID_REPLICA_ASSIGNMENT); Kafka walks
each list sorted, so the lowest offending broker id is the one named. The
partition indexes, in any order, must be 0..n-1, each once; every list is
checked before the sequence is. An accepted topic gets exactly the asked
replicas in the asked order, all in sync, led by the first, and the result
says num_partitions = the number of lists, replication_factor = their
length. CreatePartitions takes one list per added partition, each checked
the same way against the topic's replication factor; a refused topic gets
no partition at all. Every refusal carries Kafka's exact message.

One cluster of three combined nodes (tests/e2e/cluster.py) serves the whole
module: nothing here stops a node, and every topic has its own name.
Assignments go through kafka-python's KafkaAdminClient (CreateTopics v7 and
CreatePartitions v3, sent to the node Metadata names as the controller) with
raise_errors=False, so each topic's error code and message are read from the
response itself.
Two partitions with one index cannot be written with kafka-python's NewTopic
(a dict), so that case builds kafka-python's own CreateTopicsRequest and
sends it the way create_topics does. confluent-kafka's binding refuses any
replica assignment client-side, so it only produces and consumes here.
Placement is read from every node with hand-encoded Metadata v9.
"""

from __future__ import annotations

import pytest
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.protocol.admin import CreateTopicsRequest

import kafka_wire as kw
from clients import consume_partition, expected, keyed_messages, produce, unique_topic
from cluster import Cluster, MetadataView
from conftest import SKEIN_BIN
from test_cluster import create_topic, wait_topic_placed

INVALID_REPLICA_ASSIGNMENT = 39
INVALID_REQUEST = 42
BROKERS = {1, 2, 3}
# How long the controller may take to create a topic before it answers.
REQUEST_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------
# Fixtures: one cluster and one kafka-python admin client for the module.

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three combined nodes, started once for every test here. At teardown
    every process gets SIGTERM and must exit 0."""
    if not SKEIN_BIN.exists():
        pytest.fail(f"skein binary not found at {SKEIN_BIN} (build it or set SKEIN_BIN)")
    c = Cluster(tmp_path_factory.mktemp("manual-assignment"), combined=3)
    try:
        c.start()
        c.wait_ready(BROKERS)
        yield c
    finally:
        problems = c.close()
    if problems:
        pytest.fail("\n".join(problems) + f" (node logs under {c.base_dir})")


@pytest.fixture(autouse=True)
def node_logs_on_failure(request, cluster):
    """conftest's report hook attaches every node's log to a failed test."""
    request.node._skein_brokers = list(cluster.nodes.values())


@pytest.fixture(scope="module")
def kafka_admin(cluster):
    client = KafkaAdminClient(bootstrap_servers=cluster.bootstrap(),
                              client_id="skein-e2e-manual-assignment",
                              request_timeout_ms=REQUEST_TIMEOUT_MS)
    yield client
    client.close()


# --------------------------------------------------------------------------
# Helpers.

def create(kafka_admin: KafkaAdminClient, *topics: NewTopic,
           validate_only: bool = False) -> dict[str, dict]:
    """One CreateTopics request for `topics`; each topic's result by name
    (error_code, error_message, num_partitions, replication_factor, ...)."""
    response = kafka_admin.create_topics(list(topics), timeout_ms=REQUEST_TIMEOUT_MS,
                                         validate_only=validate_only, raise_errors=False)
    results = {t["name"]: t for t in response["topics"]}
    assert sorted(results) == sorted(t.name for t in topics), response
    return results


def create_raw(kafka_admin: KafkaAdminClient, topic: str,
               assignments: list[tuple[int, list[int]]]) -> dict:
    """CreateTopics for one topic whose assignments are sent exactly as
    listed, repeated partition indexes included (NewTopic takes a dict).
    Built from kafka-python's own request class and sent to the controller
    as create_topics sends it; returns the topic's result."""
    creatable = CreateTopicsRequest.CreatableTopic
    request = CreateTopicsRequest(
        topics=[creatable(
            name=topic, num_partitions=-1, replication_factor=-1,
            assignments=[creatable.CreatableReplicaAssignment(partition_index=p, broker_ids=b)
                         for p, b in assignments],
            configs=[])],
        timeout_ms=REQUEST_TIMEOUT_MS, validate_only=False)
    response = kafka_admin._manager.run(kafka_admin._send_request_to_controller, request,
                                        lambda r: (), False)
    [result] = response.to_dict()["topics"]
    assert result["name"] == topic, result
    return result


def add_partitions(kafka_admin: KafkaAdminClient, topic: str, total: int,
                   assignments: list[list[int]]) -> dict:
    """One CreatePartitions request growing `topic` to `total` partitions
    on `assignments`; returns the topic's result."""
    response = kafka_admin.create_partitions({topic: NewPartitions(total, assignments)},
                                             timeout_ms=REQUEST_TIMEOUT_MS, raise_errors=False)
    [result] = response.to_dict()["results"]
    assert result["name"] == topic, result
    return result


def assert_refused(result: dict, code: int, message: str) -> None:
    """Kafka's code and exact message; a refused topic reports
    num_partitions and replication_factor -1 (the schema's defaults)."""
    assert (result["error_code"], result["error_message"]) == (code, message), result
    assert (result["num_partitions"], result["replication_factor"]) == (-1, -1), result


def assert_created(result: dict, partitions: int, replication_factor: int) -> None:
    assert result["error_code"] == 0, result
    assert not result["error_message"], result
    assert (result["num_partitions"], result["replication_factor"]) == \
        (partitions, replication_factor), result


def assert_absent(cluster: Cluster, topic: str) -> None:
    """No node knows `topic` (Metadata without auto-creation)."""
    for i, v in cluster.metadata_from(cluster.broker_nodes(), [topic]).items():
        t = v.topics.get(topic)
        assert t is not None and t.error_code == kw.UNKNOWN_TOPIC_OR_PARTITION \
            and not t.partitions, f"node {i} says {topic}: {t}"


def wait_placement(cluster: Cluster, topic: str,
                   placement: dict[int, list[int]]) -> dict[int, MetadataView]:
    """Waits until every node shows `topic` placed, all replicas in sync and
    the same leaders everywhere (test_cluster.wait_topic_placed), then
    asserts each node says exactly `placement`: partition -> replicas in
    order, ISR = those replicas, leader = the first one."""
    rf = len(next(iter(placement.values())))
    views = wait_topic_placed(cluster, topic, len(placement), BROKERS, rf,
                              asked=cluster.broker_nodes())
    for i, v in views.items():
        said = {p: (list(pv.replicas), sorted(pv.isr), pv.leader)
                for p, pv in v.topics[topic].partitions.items()}
        assert said == {p: (r, sorted(r), r[0]) for p, r in placement.items()}, \
            f"node {i}: {topic} (replicas, isr, leader) by partition: {said}"
    return views


# --------------------------------------------------------------------------
# CreateTopics.

@pytest.mark.timeout(180)
def test_create_topics_places_every_partition_exactly_as_assigned(cluster, kafka_admin):
    rf3 = unique_topic("manual-rf3")
    rf2 = unique_topic("manual-rf2")
    rf1 = unique_topic("manual-rf1")
    refused = unique_topic("manual-refused")
    rf3_placement = {0: [2, 1, 3], 1: [3, 2, 1], 2: [1, 3, 2]}
    # Indexes sent out of order: Kafka needs them to be 0..n-1, in any order.
    rf2_placement = {1: [3, 1], 0: [2, 3]}
    rf1_placement = {0: [3], 1: [1], 2: [2], 3: [3]}

    # One request: the three good topics are created, the bad one alone
    # is refused.
    results = create(
        kafka_admin,
        NewTopic(rf3, -1, -1, replica_assignments=rf3_placement),
        NewTopic(rf2, -1, -1, replica_assignments=rf2_placement),
        NewTopic(refused, -1, -1, replica_assignments={0: [1, 2], 1: [2, 2]}),
        NewTopic(rf1, -1, -1, replica_assignments=rf1_placement),
    )
    assert_created(results[rf3], 3, 3)
    assert_created(results[rf2], 2, 2)
    assert_created(results[rf1], 4, 1)
    assert_refused(results[refused], INVALID_REPLICA_ASSIGNMENT,
                   "The manual partition assignment includes the broker 2 more than once.")

    wait_placement(cluster, rf3, rf3_placement)
    wait_placement(cluster, rf2, {0: [2, 3], 1: [3, 1]})
    wait_placement(cluster, rf1, rf1_placement)
    assert_absent(cluster, refused)


@pytest.mark.timeout(120)
def test_validate_only_checks_the_assignment_and_creates_nothing(cluster, kafka_admin):
    good = unique_topic("manual-validated")
    bad = unique_topic("manual-validated-bad")
    results = create(
        kafka_admin,
        NewTopic(good, -1, -1, replica_assignments={0: [3, 2], 1: [1, 3]}),
        NewTopic(bad, -1, -1, replica_assignments={0: [3, 2], 1: [1, 4]}),
        validate_only=True,
    )
    assert_created(results[good], 2, 2)
    assert_refused(results[bad], INVALID_REPLICA_ASSIGNMENT,
                   "The manual partition assignment includes broker 4, but no such broker is "
                   "registered.")
    assert_absent(cluster, good)
    assert_absent(cluster, bad)


NUM_PARTITIONS_SET = ("A manual partition assignment was specified, but numPartitions was not "
                      "set to -1.")
REPLICATION_FACTOR_SET = ("A manual partition assignment was specified, but replication factor "
                          "was not set to -1.")
NOT_CONSECUTIVE = "partitions should be a consecutive 0-based integer sequence"


def inconsistent(got: int, previous: int) -> str:
    return (f"The manual partition assignment includes a partition with {got} replica(s), but "
            f"this is not consistent with previous partitions, which have {previous} replica(s).")


# (num_partitions, replication_factor, assignments, error code, Kafka's message)
CREATE_TOPICS_REFUSALS = {
    "num_partitions_set": (
        2, -1, {0: [1, 2], 1: [2, 3]}, INVALID_REQUEST, NUM_PARTITIONS_SET),
    "replication_factor_set": (
        -1, 2, {0: [1, 2], 1: [2, 3]}, INVALID_REQUEST, REPLICATION_FACTOR_SET),
    "both_set_replication_factor_checked_first": (
        2, 2, {0: [1, 2], 1: [2, 3]}, INVALID_REQUEST, REPLICATION_FACTOR_SET),
    "empty_replica_list": (
        -1, -1, {0: []}, INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes an empty replica list."),
    "empty_replica_list_after_a_good_one": (
        -1, -1, {0: [1, 2], 1: []}, INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes an empty replica list."),
    "unregistered_broker": (
        -1, -1, {0: [1, 7]}, INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes broker 7, but no such broker is registered."),
    "broker_twice": (
        -1, -1, {0: [2, 1, 2]}, INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes the broker 2 more than once."),
    # Kafka walks the list sorted ([1, 1, 9]): the repeated 1 comes first.
    "broker_twice_named_before_a_higher_unregistered_one": (
        -1, -1, {0: [9, 1, 1]}, INVALID_REPLICA_ASSIGNMENT,
        "The manual partition assignment includes the broker 1 more than once."),
    "fewer_replicas_than_partition_0": (
        -1, -1, {0: [1, 2], 1: [3]}, INVALID_REPLICA_ASSIGNMENT, inconsistent(1, 2)),
    "more_replicas_than_partition_0": (
        -1, -1, {0: [1], 1: [2, 3]}, INVALID_REPLICA_ASSIGNMENT, inconsistent(2, 1)),
    "index_gap": (
        -1, -1, {0: [1], 2: [2]}, INVALID_REPLICA_ASSIGNMENT, NOT_CONSECUTIVE),
    "indexes_not_from_0": (
        -1, -1, {1: [1], 2: [2]}, INVALID_REPLICA_ASSIGNMENT, NOT_CONSECUTIVE),
    # Every list is checked before the sequence of indexes.
    "lists_checked_before_the_index_sequence": (
        -1, -1, {0: [1], 2: [2, 3]}, INVALID_REPLICA_ASSIGNMENT, inconsistent(2, 1)),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CREATE_TOPICS_REFUSALS))
def test_create_topics_refuses_a_bad_assignment_with_kafkas_error(cluster, kafka_admin, case):
    num_partitions, replication_factor, assignments, code, message = CREATE_TOPICS_REFUSALS[case]
    topic = unique_topic("manual-bad")
    results = create(kafka_admin, NewTopic(topic, num_partitions, replication_factor,
                                           replica_assignments=assignments))
    assert_refused(results[topic], code, message)
    assert_absent(cluster, topic)


@pytest.mark.timeout(120)
def test_create_topics_refuses_two_assignments_for_one_partition(cluster, kafka_admin):
    topic = unique_topic("manual-twice")
    result = create_raw(kafka_admin, topic, [(0, [1, 2]), (1, [2, 3]), (0, [3, 1])])
    assert_refused(result, INVALID_REPLICA_ASSIGNMENT,
                   "Found multiple manual partition assignments for partition 0")
    assert_absent(cluster, topic)

    # The same lists with distinct indexes are fine: only the repeat was refused.
    result = create_raw(kafka_admin, topic, [(0, [1, 2]), (1, [2, 3]), (2, [3, 1])])
    assert_created(result, 3, 2)
    wait_placement(cluster, topic, {0: [1, 2], 1: [2, 3], 2: [3, 1]})


# --------------------------------------------------------------------------
# CreatePartitions.

def rf2_topic(cluster: Cluster) -> tuple[str, list[int]]:
    """A new topic of one partition with replication factor 2, placed by
    the controller (no manual assignment); its name and partition 0's
    replicas."""
    topic = unique_topic("grown")
    create_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=2)
    views = wait_topic_placed(cluster, topic, 1, BROKERS, 2, asked=cluster.broker_nodes())
    return topic, list(next(iter(views.values())).topics[topic].partitions[0].replicas)


@pytest.mark.timeout(180)
def test_create_partitions_places_the_new_partitions_exactly_as_assigned(cluster, kafka_admin):
    topic, first = rf2_topic(cluster)
    result = add_partitions(kafka_admin, topic, 4, [[3, 1], [2, 3], [1, 2]])
    assert (result["error_code"], result["error_message"]) == (0, None), result
    wait_placement(cluster, topic, {0: first, 1: [3, 1], 2: [2, 3], 3: [1, 2]})

    # Growing again by one, on the reverse of partition 1's replicas.
    result = add_partitions(kafka_admin, topic, 5, [[1, 3]])
    assert (result["error_code"], result["error_message"]) == (0, None), result
    wait_placement(cluster, topic, {0: first, 1: [3, 1], 2: [2, 3], 3: [1, 2], 4: [1, 3]})


# (new total count, assignments, Kafka's message); the topic has one
# partition with two replicas. Every refusal is INVALID_REPLICA_ASSIGNMENT.
CREATE_PARTITIONS_REFUSALS = {
    "fewer_lists_than_partitions_added": (
        3, [[1, 2]],
        "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified."),
    "more_lists_than_partitions_added": (
        2, [[1, 2], [2, 3]],
        "Attempted to add 1 additional partition(s), but only 2 assignment(s) were specified."),
    "fewer_replicas_than_the_topic": (2, [[3]], inconsistent(1, 2)),
    "more_replicas_than_the_topic": (2, [[1, 2, 3]], inconsistent(3, 2)),
    "empty_replica_list": (
        2, [[]], "The manual partition assignment includes an empty replica list."),
    "unregistered_broker": (
        2, [[1, 7]],
        "The manual partition assignment includes broker 7, but no such broker is registered."),
    "broker_twice": (
        2, [[2, 2]], "The manual partition assignment includes the broker 2 more than once."),
    # The first list is good, the second is not: no partition is added.
    "second_list_bad": (
        3, [[1, 2], [3, 3]],
        "The manual partition assignment includes the broker 3 more than once."),
}


@pytest.fixture(scope="module")
def one_partition_topic(cluster) -> tuple[str, list[int]]:
    """The topic the CreatePartitions refusals all try to grow."""
    return rf2_topic(cluster)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CREATE_PARTITIONS_REFUSALS))
def test_create_partitions_refuses_a_bad_assignment_with_kafkas_error(
        cluster, kafka_admin, one_partition_topic, case):
    total, assignments, message = CREATE_PARTITIONS_REFUSALS[case]
    topic, first = one_partition_topic
    result = add_partitions(kafka_admin, topic, total, assignments)
    assert (result["error_code"], result["error_message"]) == \
        (INVALID_REPLICA_ASSIGNMENT, message), result
    # Still the one partition, on every node.
    for i, v in cluster.metadata_from(cluster.broker_nodes(), [topic]).items():
        partitions = v.topics[topic].partitions
        assert sorted(partitions) == [0] and list(partitions[0].replicas) == first, \
            f"node {i}: {topic} is now {partitions}"


# --------------------------------------------------------------------------
# Data on a manually placed partition.

@pytest.mark.timeout(180)
def test_acks_all_record_on_a_manually_placed_rf3_partition_reads_back_exactly(
        cluster, kafka_admin):
    topic = unique_topic("manual-data")
    placement = {0: [3, 1, 2]}
    results = create(kafka_admin, NewTopic(topic, -1, -1, replica_assignments=placement))
    assert_created(results[topic], 1, 3)
    wait_placement(cluster, topic, placement)

    messages = keyed_messages(1, partition=0, tag="manual")
    [delivered] = produce(cluster.bootstrap(), topic, messages, acks="all")
    assert (delivered.partition(), delivered.offset()) == (0, 0)
    got = consume_partition(cluster.bootstrap(), topic, 0, 0, expect_count=1)
    assert got == expected(messages, 0), got
    assert got[0].value == messages[0]["value"] and got[0].offset == 0
    # Placement unchanged by the write: still all three in sync, 3 leading.
    wait_placement(cluster, topic, placement)
