"""A multi-node cluster from Kafka's KRaft properties (issue 13): every node
agrees on the brokers, the cluster id and the controller; topics are placed
and led across brokers; the quorum survives kill -9 of its active
controller; a paused broker is fenced and its leaderships move; a node of
another cluster is refused; controller-only plus broker-only nodes work;
and a single node with no cluster properties is unchanged.

Each node is its own `skein serve` process (tests/e2e/cluster.py writes its
properties file and gives it its own ports and log). Cluster facts are read
from each node with hand-encoded Metadata v9 and DescribeCluster v0, so
"node 3 says" means exactly that; topics are created, produced to and read
with confluent-kafka. Produce here uses acks=1 and reads come from the
leader; data replication itself is tested in test_replication.py.

Timing: broker.heartbeat.interval.ms=500, broker.session.timeout.ms=3000.
Every wait polls against a deadline and fails saying what it last saw.
"""

from __future__ import annotations

import json
import struct
import subprocess
import time
from collections import Counter

import pytest
from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from cluster import (
    INVALID_REPLICATION_FACTOR,
    NOT_LEADER_OR_FOLLOWER,
    SESSION_TIMEOUT_MS,
    Cluster,
    MetadataView,
    Node,
    describe_cluster,
    kafka_cluster_id,
    metadata,
    wait_port_closed,
)
from clients import (
    TIMEOUT_S,
    admin,
    consume_partition,
    expected,
    kafka_error_code,
    keyed_messages,
    produce,
    unique_topic,
)
from conftest import SKEIN_BIN, free_port

# A new active controller after kill -9 of the old one: the issue asks for
# "a few seconds"; this is the bound a test holds it to.
ELECTION_TIMEOUT_S = 15.0
# Fencing needs broker.session.timeout.ms without a heartbeat, then a
# committed fence record published to every node.
FENCE_TIMEOUT_S = SESSION_TIMEOUT_MS / 1000 + 12.0
REJOIN_TIMEOUT_S = 30.0
TOPIC_TIMEOUT_S = 20.0


@pytest.fixture
def cluster_factory(request, tmp_path):
    """Returns make(**Cluster kwargs) -> Cluster (not started). At teardown
    every process gets SIGTERM (a paused one SIGCONT) and must exit 0; a
    failing test shows every node's log (conftest's report hook)."""
    if not SKEIN_BIN.exists():
        pytest.fail(f"skein binary not found at {SKEIN_BIN} (build it or set SKEIN_BIN)")
    clusters: list[Cluster] = []
    request.node._skein_brokers = []

    def make(**kwargs) -> Cluster:
        c = Cluster(tmp_path / f"cluster{len(clusters)}", **kwargs)
        clusters.append(c)
        request.node._skein_brokers.extend(c.nodes.values())
        return c

    yield make

    problems = []
    for c in clusters:
        problems += c.close()
    if problems:
        pytest.fail("\n".join(problems) + " (node logs below)")


# --------------------------------------------------------------------------
# Helpers.

def create_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int) -> None:
    """CreateTopics through confluent-kafka's AdminClient; raises the
    KafkaException of a refused creation."""
    a = admin(bootstrap)  # held: a destroyed client fails its futures
    futures = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)],
        operation_timeout=10, request_timeout=TIMEOUT_S)
    futures[topic].result(TIMEOUT_S)


def wait_topic_placed(cluster: Cluster, topic: str, partitions: int, replicas_on: set[int],
                      replication_factor: int, asked: list[Node] | None = None,
                      timeout_s: float = TOPIC_TIMEOUT_S) -> dict[int, MetadataView]:
    """Waits until Metadata from every node in `asked` (default: running
    brokers) shows `topic` with `partitions` partitions, each with
    `replication_factor` distinct replicas among `replicas_on`, the full
    replica set in sync, a leader among its replicas, and every node saying
    the same leader and leader epoch. Returns each node's view."""
    asked = asked if asked is not None else cluster.running_brokers()

    def probe():
        views = cluster.metadata_from(asked, [topic])
        problems = []
        for i, v in views.items():
            t = v.topics.get(topic)
            if t is None or t.error_code != 0 or sorted(t.partitions) != list(range(partitions)):
                problems.append(f"node {i}: {t}")
                continue
            for p, pv in sorted(t.partitions.items()):
                if (pv.error_code != 0 or len(pv.replicas) != replication_factor
                        or len(set(pv.replicas)) != replication_factor
                        or not set(pv.replicas) <= replicas_on
                        or set(pv.isr) != set(pv.replicas) or pv.leader not in pv.replicas):
                    problems.append(f"node {i} partition {p}: {pv}")
        states = {i: {p: (pv.leader, pv.leader_epoch) for p, pv in v.topics[topic].partitions.items()}
                  for i, v in views.items() if topic in v.topics}
        if not problems and len({tuple(sorted(s.items())) for s in states.values()}) != 1:
            problems.append(f"nodes disagree on (leader, leader epoch): {states}")
        return not problems, (views if not problems else problems)

    views, _ = cluster.wait_for(
        f"{topic}: {partitions} partitions with {replication_factor} in-sync replicas on "
        f"{sorted(replicas_on)}, one leader each, the same on every node", probe, timeout_s)
    return views


def produce_and_read_back(bootstrap: str, topic: str, partitions: int, per_partition: int,
                          tag: str) -> None:
    """Produces per_partition keyed messages to each partition with acks=1
    (the leader alone: data replication is the next issue) and reads every
    partition back from its leader: exactly those messages, offsets 0..n-1."""
    batches = {p: keyed_messages(per_partition, partition=p, tag=f"{tag}-p{p}") for p in range(partitions)}
    produce(bootstrap, topic, [m for p in range(partitions) for m in batches[p]], acks=1)
    for p in range(partitions):
        got = consume_partition(bootstrap, topic, p, 0, expect_count=per_partition)
        assert got == expected(batches[p], p), f"{topic}/{p}: read back {got}"


def produce_raw(node: Node, topic: str, partition: int) -> int:
    """One record produced with Produce v3, acks=1, straight to `node`;
    returns the partition's error code."""
    batch = kw.record_batch([(b"k", b"raw", [])], base_timestamp=int(time.time() * 1000))
    response = kw.request(node.client_port,
                          kw.header_v1(kw.PRODUCE, 3, 11) + kw.produce_v3_body(topic, partition, batch, acks=1))
    r = kw.Reader(response)
    assert r.i32() == 11
    [(name, index, error_code, _)] = kw.parse_produce_v3(response[4:])
    assert (name, index) == (topic, partition)
    return error_code


def produce_raw_once_known(node: Node, topic: str, partition: int) -> int:
    """`produce_raw`, retried while `node` answers UNKNOWN_TOPIC_OR_PARTITION:
    each of a node's shards applies a new metadata image on its own, so a
    connection may land on a shard that has not seen the topic yet when
    another shard already listed it in Metadata. Clients retry that error
    the same way."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        error_code = produce_raw(node, topic, partition)
        if error_code != kw.UNKNOWN_TOPIC_OR_PARTITION or time.monotonic() > deadline:
            return error_code
        time.sleep(0.1)


def assert_refusal_names(node: Node, *ids: str) -> None:
    """Some line the refused node wrote names every one of `ids`."""
    lines = node.output_of_last_start()
    assert any(all(i in line for i in ids) for line in lines), \
        f"node {node.node_id}: no line of its output names all of {ids}; its last lines: {lines[-5:]}"


# --------------------------------------------------------------------------
# a) Three combined nodes.

@pytest.mark.timeout(120)
def test_three_combined_nodes_agree_and_spread_partition_leaders(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    views = cluster.wait_ready({1, 2, 3})
    cluster_ids = {v.cluster_id for v in views.values()}
    assert len(cluster_ids) == 1, cluster_ids
    for i, v in views.items():
        assert v.controller_id in {1, 2, 3}, f"node {i} names controller {v.controller_id}"

    # DescribeCluster from every node: the same cluster id, brokers and
    # active controller.
    controller, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TOPIC_TIMEOUT_S)
    for n in cluster.broker_nodes():
        d = describe_cluster(n.client_port, n.node_id)
        assert d.cluster_id in cluster_ids, (n.node_id, d)
        assert d.brokers == {i: ("127.0.0.1", cluster.node(i).client_port) for i in (1, 2, 3)}, d
    # And as confluent-kafka's AdminClient sees it.
    a = admin(cluster.bootstrap())
    described = a.describe_cluster(request_timeout=TIMEOUT_S).result(TIMEOUT_S)
    assert described.cluster_id in cluster_ids
    assert described.controller is not None and described.controller.id == controller, described.controller
    assert sorted(node.id for node in described.nodes) == [1, 2, 3]

    topic = unique_topic("cluster")
    create_topic(cluster.bootstrap(), topic, partitions=6, replication_factor=3)
    views = wait_topic_placed(cluster, topic, 6, {1, 2, 3}, 3)
    leaders = next(iter(views.values())).leaders(topic)
    assert set(leaders.values()) == {1, 2, 3}, \
        f"leaders {leaders}: every node must lead at least one of the 6 partitions"
    for p, pv in views[1].topics[topic].partitions.items():
        # A new partition is led by its preferred (first) replica, as in Kafka.
        assert pv.leader == pv.replicas[0], (p, pv)

    # confluent-kafka's describe_topics agrees with the Metadata.
    description = a.describe_topics(TopicCollection([topic]), request_timeout=TIMEOUT_S)[topic].result(TIMEOUT_S)
    assert {p.id: p.leader.id for p in description.partitions} == leaders
    assert all(sorted(r.id for r in p.isr) == [1, 2, 3] for p in description.partitions)

    # A produce sent to a broker that does not lead the partition is refused.
    for p, leader in leaders.items():
        follower = cluster.node(next(i for i in (1, 2, 3) if i != leader))
        assert produce_raw_once_known(follower, topic, p) == NOT_LEADER_OR_FOLLOWER, (p, leader, follower.node_id)

    # ~100 messages over the 6 partitions, each read back from its leader.
    produce_and_read_back(cluster.bootstrap(), topic, 6, 17, "a")

    # InitProducerId on every node, the active controller or not: each
    # hands out producer ids from a block the controller reserved, and no
    # id is handed out twice.
    producer_ids = []
    for n in cluster.broker_nodes():
        for _ in range(2):
            response = kw.request(n.client_port, kw.header_v1(22, 0, 5) + kw.string(None) + kw.i32(60000))
            r = kw.Reader(response)
            assert r.i32() == 5
            r.i32()  # throttle
            assert r.i16() == 0, f"InitProducerId on node {n.node_id}"
            producer_ids.append(r.i64())
            assert r.i16() == 0  # epoch
    assert len(set(producer_ids)) == len(producer_ids) == 6, producer_ids

    # The CLI against a node that is not the active controller: it finds
    # the controller for DescribeQuorum and for topic changes.
    follower = next(n for n in cluster.broker_nodes() if n.node_id != controller)
    shown = subprocess.run([SKEIN_BIN, "cluster", "-b", follower.bootstrap],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert f"Quorum leader:   {controller}" in shown.stdout, shown.stdout
    cli_topic = unique_topic("cli")
    made = subprocess.run([SKEIN_BIN, "topic", "create", cli_topic, "--partitions", "2",
                           "--replication-factor", "3", "-b", follower.bootstrap],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    wait_topic_placed(cluster, cli_topic, 2, {1, 2, 3}, 3)

    # CreateTopics sent straight to a node that is not the active
    # controller is forwarded to it, as a KRaft broker forwards: the topic
    # is created, and the controller's refusal of the same name again comes
    # back with its code.
    forwarded = unique_topic("forwarded")
    create = kw.header_v1(19, 2, 7) + kw.create_topics_v2_body(
        [forwarded], num_partitions=3, replication_factor=3)
    response = kw.request(follower.client_port, create)
    assert kw.parse_create_topics_v2(response[4:]) == {forwarded: 0}
    wait_topic_placed(cluster, forwarded, 3, {1, 2, 3}, 3)
    response = kw.request(follower.client_port, create)
    assert kw.parse_create_topics_v2(response[4:]) == {forwarded: TOPIC_ALREADY_EXISTS}


@pytest.mark.timeout(120)
def test_each_client_listener_advertises_every_broker_on_that_listener(cluster_factory):
    """A docker-style deployment: an internal and an external listener per
    broker. Each broker registers both, and a client gets every broker's
    address on the listener it connected to."""
    cluster = cluster_factory(combined=3)
    external = {}
    for n in cluster.nodes.values():
        external[n.node_id] = free_port()
        n.properties["listeners"] += f",EXTERNAL://127.0.0.1:{external[n.node_id]}"
        n.properties["listener.security.protocol.map"] = \
            "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
        n.properties["inter.broker.listener.name"] = "PLAINTEXT"
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    for n in cluster.broker_nodes():
        inside = describe_cluster(n.client_port, n.node_id)
        assert inside.brokers == {i: ("127.0.0.1", cluster.node(i).client_port) for i in (1, 2, 3)}, inside
        outside = describe_cluster(external[n.node_id], n.node_id)
        assert outside.brokers == {i: ("127.0.0.1", external[i]) for i in (1, 2, 3)}, outside


# --------------------------------------------------------------------------
# b) kill -9 of the active controller.

@pytest.mark.timeout(120)
def test_kill_9_of_the_active_controller_elects_another_and_it_rejoins(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    old, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TOPIC_TIMEOUT_S)
    victim = cluster.node(old)
    survivors = [n for n in cluster.broker_nodes() if n is not victim]

    victim.kill()
    new, elapsed = cluster.agreed_controller(survivors, {n.node_id for n in survivors},
                                             ELECTION_TIMEOUT_S, interval_s=0.05)
    assert new != old
    print(f"new active controller {new} {elapsed:.2f}s after kill -9 of {old}")

    # The new controller creates topics. Until the dead broker's session
    # expires it may still get replicas; once it is fenced every partition
    # is led by a survivor.
    topic = unique_topic("after-kill")
    create_topic(cluster.bootstrap(survivors), topic, partitions=3, replication_factor=2)

    def fenced_and_led_by_survivors():
        views = cluster.metadata_from(survivors, [topic])
        said = {i: (sorted(v.brokers), v.topics.get(topic) and v.leaders(topic)) for i, v in views.items()}
        ok = all(
            set(v.brokers) == {n.node_id for n in survivors}
            and topic in v.topics and len(v.topics[topic].partitions) == 3
            and all(pv.leader in v.brokers and old not in pv.isr
                    for pv in v.topics[topic].partitions.values())
            for v in views.values())
        return ok, said

    cluster.wait_for(f"node {old} fenced and {topic} led by nodes {[n.node_id for n in survivors]}",
                     fenced_and_led_by_survivors, FENCE_TIMEOUT_S)
    produce_and_read_back(cluster.bootstrap(survivors), topic, 3, 5, "b")

    # Restarted on its data dir and ports, it rejoins: listed by every
    # node again (so unfenced), it knows the topic created while it was
    # down, and names the same controller.
    wait_port_closed(victim.client_port, 10)
    wait_port_closed(victim.controller_port, 10)
    victim.start()
    cluster.wait_ready({1, 2, 3}, timeout_s=REJOIN_TIMEOUT_S)

    def knows_topic():
        t = metadata(victim.client_port, old, [topic]).topics.get(topic)
        return t is not None and t.error_code == 0 and len(t.partitions) == 3, t

    cluster.wait_for(f"restarted node {old} knowing {topic}", knows_topic, REJOIN_TIMEOUT_S)
    cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TOPIC_TIMEOUT_S)


# --------------------------------------------------------------------------
# c) A paused broker is fenced.

@pytest.mark.timeout(120)
def test_a_broker_paused_past_its_session_timeout_is_fenced_and_its_leaderships_move(cluster_factory):
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    controller, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TOPIC_TIMEOUT_S)
    topic = unique_topic("fence")
    create_topic(cluster.bootstrap(), topic, partitions=6, replication_factor=3)
    before = wait_topic_placed(cluster, topic, 6, {1, 2, 3}, 3)[controller].topics[topic].partitions
    # Pause a broker that is not the active controller (pausing that one
    # is an election, test b) and leads partitions.
    led = Counter(pv.leader for pv in before.values())
    paused = cluster.node(max((i for i in (1, 2, 3) if i != controller), key=lambda i: led[i]))
    assert led[paused.node_id] >= 1, f"node {paused.node_id} leads nothing: {dict(led)}"
    others = [n for n in cluster.broker_nodes() if n is not paused]
    moved = sorted(p for p, pv in before.items() if pv.leader == paused.node_id)

    paused.pause()
    started = time.monotonic()

    def fenced():
        views = cluster.metadata_from(others, [topic])
        said = {}
        ok = True
        for i, v in views.items():
            parts = v.topics[topic].partitions if topic in v.topics else {}
            said[i] = (sorted(v.brokers), {p: (pv.leader, pv.isr) for p, pv in sorted(parts.items())})
            ok = ok and paused.node_id not in v.brokers and len(parts) == 6 and all(
                pv.leader in v.brokers and paused.node_id not in pv.isr for pv in parts.values())
        return ok, (views if ok else said)

    views, _ = cluster.wait_for(f"node {paused.node_id} fenced: not listed, leading nothing, in no ISR",
                                fenced, FENCE_TIMEOUT_S)
    fenced_after = time.monotonic() - started
    print(f"node {paused.node_id} fenced {fenced_after:.2f}s after SIGSTOP")
    # Not before its session could have expired (the last heartbeat may
    # have been one interval before the SIGSTOP).
    assert fenced_after >= (SESSION_TIMEOUT_MS - 1000) / 1000, f"fenced after only {fenced_after:.2f}s"
    after = views[others[0].node_id].topics[topic].partitions
    for p in moved:
        assert after[p].leader in {n.node_id for n in others}, (p, after[p])
        assert after[p].leader_epoch > before[p].leader_epoch, (p, before[p], after[p])
        assert set(after[p].isr) == {n.node_id for n in others}, (p, after[p])
    # The partitions it led take writes at their new leaders.
    for p in moved:
        msgs = keyed_messages(4, partition=p, tag=f"c-p{p}")
        produce(cluster.bootstrap(others), topic, msgs, acks=1)
        got = consume_partition(cluster.bootstrap(others), topic, p, 0, expect_count=4)
        assert got == expected(msgs, p), (p, got)

    paused.resume()
    cluster.wait_ready({1, 2, 3}, timeout_s=REJOIN_TIMEOUT_S)


# --------------------------------------------------------------------------
# d) Another cluster's node.

@pytest.mark.timeout(120)
def test_a_node_with_another_cluster_id_is_refused_naming_both_ids(cluster_factory):
    ours, theirs, third = kafka_cluster_id(), kafka_cluster_id(), kafka_cluster_id()
    cluster = cluster_factory(combined=3, cluster_id=ours)
    # Two of three voters are a quorum: they form the cluster (and record
    # its id) before the stranger starts.
    cluster.start([1, 2])
    views = cluster.wait_ready({1, 2})
    assert {v.cluster_id for v in views.values()} == {ours}

    stranger = cluster.node(3)
    stranger.properties["cluster.id"] = theirs
    stranger.start()
    code = stranger.wait_exit(timeout_s=30)
    assert code != 0, "a node of another cluster exited with code 0"
    assert_refusal_names(stranger, ours, theirs)
    # The cluster goes on without it.
    views = cluster.wait_ready({1, 2}, timeout_s=TOPIC_TIMEOUT_S)
    assert {v.cluster_id for v in views.values()} == {ours}

    # A node whose data dir belongs to the cluster refuses another
    # configured id at start.
    member = cluster.node(2)
    assert member.stop() == 0
    member.properties["cluster.id"] = third
    member.start()
    code = member.wait_exit(timeout_s=30)
    assert code != 0, "a node restarted with another cluster.id exited with code 0"
    assert_refusal_names(member, ours, third)


# --------------------------------------------------------------------------
# e) Controller-only and broker-only nodes.

@pytest.mark.timeout(120)
def test_three_controllers_and_two_brokers_serve_replication_factor_two(cluster_factory):
    cluster = cluster_factory(controllers=3, brokers=2)
    assert [n.roles for n in cluster.nodes.values()] == ["controller"] * 3 + ["broker"] * 2
    cluster.start()
    views = cluster.wait_ready({4, 5})
    for i, v in views.items():
        # Clients send CreateTopics to Metadata's controller id, so it must
        # be a broker they can reach (Kafka answers a live broker's id and
        # forwards to the controllers).
        assert v.controller_id in {4, 5}, f"node {i} names controller {v.controller_id}"

    topic = unique_topic("split")
    create_topic(cluster.bootstrap(), topic, partitions=4, replication_factor=2)
    views = wait_topic_placed(cluster, topic, 4, {4, 5}, 2)
    assert set(views[4].leaders(topic).values()) == {4, 5}, views[4].leaders(topic)
    produce_and_read_back(cluster.bootstrap(), topic, 4, 10, "e")

    refused = unique_topic("split-rf3")
    with pytest.raises(KafkaException) as e:
        create_topic(cluster.bootstrap(), refused, partitions=1, replication_factor=3)
    assert kafka_error_code(e.value) == INVALID_REPLICATION_FACTOR, e.value
    assert refused not in metadata(cluster.node(4).client_port, 4).topics

    # DescribeQuorum sent to a broker is forwarded to the active
    # controller, which lists both brokers as observers of its log.
    def quorum_seen_from(node):
        shown = subprocess.run([SKEIN_BIN, "cluster", "--format", "json", "-b", node.bootstrap],
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        return json.loads(shown.stdout)["quorum"]

    quorum = quorum_seen_from(cluster.node(4))
    leader = quorum["leader_id"]
    assert leader in {1, 2, 3}, quorum
    assert sorted(v["id"] for v in quorum["voters"]) == [1, 2, 3], quorum
    assert sorted(o["id"] for o in quorum["observers"]) == [4, 5], quorum

    # kill -9 of the active controller: the brokers follow the log from the
    # new one, and a topic created through them is placed and served.
    cluster.node(leader).kill()
    after = unique_topic("split-after-kill")
    create_topic(cluster.bootstrap(), after, partitions=2, replication_factor=2)
    wait_topic_placed(cluster, after, 2, {4, 5}, 2)
    produce_and_read_back(cluster.bootstrap(), after, 2, 5, "k")
    new_leader = quorum_seen_from(cluster.node(5))["leader_id"]
    assert new_leader in {1, 2, 3} - {leader}, new_leader


@pytest.mark.timeout(120)
def test_broker_only_nodes_hand_out_producer_ids_for_idempotent_and_transactional_producers(
        cluster_factory):
    """A broker-only node holds no quorum: it takes producer ids in blocks
    from the active controller (AllocateProducerIds), as a KRaft broker
    does. It answered InitProducerId NOT_CONTROLLER, so no idempotent or
    transactional producer could start on a cluster with dedicated
    controllers."""
    from confluent_kafka import Producer

    from clients import common_conf, consume_partition, keyed_messages, produce
    from test_metadata_quorum import init_producer_id

    # Two brokers: __transaction_state at two replicas (Kafka's default of
    # three would wait for a third broker, as Kafka's would).
    cluster = cluster_factory(controllers=3, brokers=2,
                              properties={"transaction.state.log.replication.factor": "2"})
    cluster.start()
    cluster.wait_ready({4, 5})
    ids = [init_producer_id(cluster.node(n).client_port) for n in (4, 5, 4, 5)]
    assert all(i >= 0 for i in ids) and len(set(ids)) == len(ids), ids

    topic = unique_topic("split-idem")
    create_topic(cluster.bootstrap(), topic, partitions=1, replication_factor=2)
    wait_topic_placed(cluster, topic, 1, {4, 5}, 2)
    messages = keyed_messages(20, partition=0, tag="idem")
    delivered = produce(cluster.bootstrap(), topic, messages, acks="all", **{"enable.idempotence": True})
    assert [m.offset() for m in delivered] == list(range(20))

    p = Producer({**common_conf(cluster.bootstrap()), "transactional.id": unique_topic("split-txn")})
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=f"txn-{i}".encode(), partition=0)
    p.commit_transaction(TIMEOUT_S)
    got = consume_partition(cluster.bootstrap(), topic, 0, 20, expect_count=5,
                            **{"isolation.level": "read_committed"})
    assert [m.value for m in got] == [f"txn-{i}".encode() for i in range(5)]


# --------------------------------------------------------------------------
# f) One node.

@pytest.mark.timeout(60)
def test_a_single_node_without_cluster_properties_is_its_own_controller(broker):
    node_id = 0  # Skein's default node.id
    views = metadata(broker.port, node_id)
    assert views.brokers == {node_id: ("127.0.0.1", broker.port)}
    assert views.controller_id == node_id
    assert views.cluster_id
    d = describe_cluster(broker.port, node_id)
    assert (d.error_code, d.cluster_id, d.controller_id) == (0, views.cluster_id, node_id)
    assert d.brokers == views.brokers

    topic = unique_topic("single")
    create_topic(broker.bootstrap, topic, partitions=3, replication_factor=1)
    md = metadata(broker.port, node_id, [topic])
    assert {p: (pv.leader, pv.replicas, pv.isr) for p, pv in md.topics[topic].partitions.items()} == \
        {p: (node_id, (node_id,), (node_id,)) for p in range(3)}
    produce_and_read_back(broker.bootstrap, topic, 3, 5, "f")
    with pytest.raises(KafkaException) as e:
        create_topic(broker.bootstrap, unique_topic("single-rf3"), partitions=1, replication_factor=3)
    assert kafka_error_code(e.value) == INVALID_REPLICATION_FACTOR, e.value


@pytest.mark.timeout(60)
def test_a_one_voter_properties_file_forms_a_one_node_cluster(cluster_factory):
    cluster = cluster_factory(combined=1)
    cluster.start()
    views = cluster.wait_ready({1})
    assert views[1].controller_id == 1
    topic = unique_topic("one-voter")
    create_topic(cluster.bootstrap(), topic, partitions=2, replication_factor=1)
    wait_topic_placed(cluster, topic, 2, {1}, 1)
    produce_and_read_back(cluster.bootstrap(), topic, 2, 5, "f1")
    # SIGTERM and start again on the same data dir: same cluster id.
    node = cluster.node(1)
    assert node.stop() == 0
    wait_port_closed(node.client_port, 10)
    node.start()
    again = cluster.wait_ready({1})
    assert again[1].cluster_id == views[1].cluster_id
    got = consume_partition(cluster.bootstrap(), topic, 0, 0, expect_count=5)
    assert len(got) == 5


# --------------------------------------------------------------------------
# g) The controller listener takes hostile bytes as a client port does.

RAFT_API_KEY = 32000
BROKER_REGISTRATION = 62
INCONSISTENT_CLUSTER_ID = 104
NOT_CONTROLLER = 41
TOPIC_ALREADY_EXISTS = 36


def _broker_registration_v0(broker_id: int, cluster_id: str) -> bytes:
    listener = (kw.compact_string("PLAINTEXT") + kw.compact_string("127.0.0.1")
                + struct.pack(">Hh", 1, 0) + kw.uvarint(0))
    return (kw.i32(broker_id) + kw.compact_string(cluster_id) + bytes(range(16))
            + kw.uvarint(2) + listener      # one listener
            + kw.uvarint(1)                 # no features
            + kw.compact_string(None)       # no rack
            + kw.uvarint(0))


@pytest.mark.timeout(120)
def test_the_controller_listener_survives_hostile_frames_and_refuses_strangers(cluster_factory):
    """Broken frames on a controller port close that connection only; raft
    frames from a non-voter or with garbage are dropped; a registration with
    another cluster id gets INCONSISTENT_CLUSTER_ID from the active
    controller and NOT_CONTROLLER from the others. The cluster then still
    serves."""
    cluster = cluster_factory(combined=3)
    cluster.start()
    cluster.wait_ready({1, 2, 3})
    controller, _ = cluster.agreed_controller(cluster.broker_nodes(), {1, 2, 3}, TOPIC_TIMEOUT_S)
    for n in cluster.broker_nodes():
        port = n.controller_port
        # A size far above the limit, a frame cut short, an API not served
        # on this port: each closes its connection, nothing else.
        with kw.connect(port, 5.0) as s:
            kw.send_all(s, struct.pack(">i", 0x7FFFFFFF))
            kw.expect_closed(s)
        with kw.connect(port, 5.0) as s:
            kw.send_all(s, struct.pack(">i", 100) + b"\x00" * 10)
        with kw.connect(port, 5.0) as s:
            kw.send_all(s, kw.frame(kw.header_v1(0, 3, 1) + b"\x00" * 8))
            kw.expect_closed(s)
        # Raft frames: from a node that is not a voter, and from a voter
        # with a message that does not decode; dropped, no answer.
        with kw.connect(port, 5.0) as s:
            for sender in (99, 1 if n.node_id != 1 else 2):
                body = kw.i32(sender) + kw.i16(-1) + b"\xff\x00garbage raft message"
                kw.send_all(s, kw.frame(kw.header_v1(RAFT_API_KEY, 0, 0) + body))
            # A raft frame whose cluster-id length runs past the frame.
            kw.send_all(s, kw.frame(kw.header_v1(RAFT_API_KEY, 0, 0) + kw.i32(2) + kw.i16(500) + b"x"))
            kw.expect_closed(s)
        # A broker of another cluster.
        response = kw.request(port, kw.header_v2(BROKER_REGISTRATION, 0, 7) + _broker_registration_v0(9, kafka_cluster_id()))
        r = kw.Reader(response)
        assert r.i32() == 7
        r.tagged_fields()
        r.i32()  # throttle
        expected_code = INCONSISTENT_CLUSTER_ID if n.node_id == controller else NOT_CONTROLLER
        assert r.i16() == expected_code, (n.node_id, controller)
    cluster.check_alive()
    views = cluster.wait_ready({1, 2, 3})
    assert 9 not in next(iter(views.values())).brokers
    topic = unique_topic("hostile")
    create_topic(cluster.bootstrap(), topic, partitions=3, replication_factor=3)
    wait_topic_placed(cluster, topic, 3, {1, 2, 3}, 3)
    produce_and_read_back(cluster.bootstrap(), topic, 3, 5, "g")
