//! The consumer group protocol (KIP-848) through the sans-IO coordinator:
//! members join, reconcile incrementally (a partition is revoked before it
//! is assigned elsewhere), leave, time out, survive a reload, and get
//! Kafka's errors.

mod group_support;

use std::collections::{BTreeMap, BTreeSet};

use group_support::*;
use skein_controller::group_coordinator::*;

const TOPIC: [u8; 16] = [0xA; 16];
const GROUP: &str = "orders-consumers";

fn harness(partitions: i32) -> Harness {
    let mut h = Harness::new();
    h.coordinator.set_topics([(
        "orders".to_string(),
        TopicMetadata {
            topic_id: TOPIC,
            partitions,
        },
    )]);
    h
}

fn hb(member_id: &str, epoch: i32) -> ConsumerGroupHeartbeat {
    ConsumerGroupHeartbeat {
        group_id: GROUP.into(),
        member_id: member_id.into(),
        member_epoch: epoch,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: if epoch == 0 { 60_000 } else { -1 },
        subscribed_topic_names: (epoch == 0).then(|| vec!["orders".to_string()]),
        subscribed_topic_regex: None,
        server_assignor: None,
        owned_partitions: (epoch == 0).then(Vec::new),
        client_id: "rdkafka".into(),
        client_host: "/127.0.0.1".into(),
    }
}

fn send(
    h: &mut Harness,
    req: ConsumerGroupHeartbeat,
) -> Result<ConsumerGroupHeartbeatResponse, GroupError> {
    let t = h.send(Request::ConsumerGroupHeartbeat(req));
    match h.take(t) {
        Some(Response::ConsumerGroupHeartbeat(r)) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// A simulated client: what it owns, as its callbacks would see it.
struct Client {
    member_id: String,
    epoch: i32,
    owned: BTreeSet<i32>,
}

impl Client {
    fn join(h: &mut Harness, member_id: &str) -> Client {
        let r = send(h, hb(member_id, 0)).unwrap();
        let mut c = Client {
            member_id: r.member_id.clone(),
            epoch: r.member_epoch,
            owned: BTreeSet::new(),
        };
        c.apply(&r);
        c
    }

    fn apply(&mut self, r: &ConsumerGroupHeartbeatResponse) {
        self.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            self.owned = a.iter().flat_map(|(_, ps)| ps.iter().copied()).collect();
        }
    }

    fn heartbeat(&mut self, h: &mut Harness) {
        let mut req = hb(&self.member_id, self.epoch);
        req.owned_partitions = Some(vec![(TOPIC, self.owned.iter().copied().collect())]);
        let r = send(h, req).unwrap();
        self.apply(&r);
    }
}

/// Every partition owned by at most one client.
fn assert_owned_once(clients: &[&Client]) {
    let mut seen = BTreeMap::new();
    for c in clients {
        for p in &c.owned {
            if let Some(other) = seen.insert(*p, c.member_id.clone()) {
                panic!("partition {p} owned by {other} and {}", c.member_id);
            }
        }
    }
}

fn converge(h: &mut Harness, clients: &mut [&mut Client]) {
    for _ in 0..6 {
        for i in 0..clients.len() {
            clients[i].heartbeat(h);
            let view: Vec<&Client> = clients.iter().map(|c| &**c).collect();
            assert_owned_once(&view);
        }
    }
}

#[test]
fn first_member_gets_every_partition_at_epoch_one() {
    let mut h = harness(4);
    let a = Client::join(&mut h, "");
    assert_eq!(a.member_id.len(), 22, "a Kafka-style uuid");
    assert_eq!(a.epoch, 1);
    assert_eq!(a.owned, (0..4).collect());
    assert_eq!(
        h.coordinator.consumer_group_state(GROUP),
        Some(ConsumerGroupState::Stable)
    );
}

#[test]
fn a_joining_member_gets_partitions_only_after_the_owner_revokes_them() {
    let mut h = harness(6);
    let mut a = Client::join(&mut h, "member-a");
    let mut b = Client::join(&mut h, "member-b");
    // b joined at epoch 2 but every partition is still a's.
    assert_eq!(b.epoch, 2);
    assert!(b.owned.is_empty(), "nothing free yet: {:?}", b.owned);
    assert_owned_once(&[&a, &b]);
    // a is told to give up half and keeps its epoch until it acknowledges.
    a.heartbeat(&mut h);
    assert_eq!(a.owned.len(), 3);
    assert_eq!(a.epoch, 1);
    // a acknowledges (heartbeats without them) and moves to epoch 2.
    a.heartbeat(&mut h);
    assert_eq!(a.epoch, 2);
    b.heartbeat(&mut h);
    assert_eq!(b.owned.len(), 3);
    assert_owned_once(&[&a, &b]);
    assert_eq!(
        h.coordinator.consumer_group_state(GROUP),
        Some(ConsumerGroupState::Stable)
    );
}

#[test]
fn five_members_share_and_a_leaver_s_partitions_move_to_the_others() {
    let mut h = harness(10);
    let mut clients: Vec<Client> = (0..5)
        .map(|i| Client::join(&mut h, &format!("m{i}")))
        .collect();
    {
        let mut refs: Vec<&mut Client> = clients.iter_mut().collect();
        converge(&mut h, &mut refs);
    }
    for c in &clients {
        assert_eq!(c.owned.len(), 2, "{} owns {:?}", c.member_id, c.owned);
    }
    let leaver = clients.remove(0);
    let r = send(&mut h, hb(&leaver.member_id, LEAVE_GROUP_MEMBER_EPOCH)).unwrap();
    assert_eq!(r.member_epoch, -1);
    let mut refs: Vec<&mut Client> = clients.iter_mut().collect();
    converge(&mut h, &mut refs);
    let total: usize = clients.iter().map(|c| c.owned.len()).sum();
    assert_eq!(total, 10);
    assert!(clients.iter().all(|c| c.owned.len() >= 2));
}

#[test]
fn a_silent_member_is_removed_after_the_session_timeout() {
    let mut h = harness(2);
    let mut a = Client::join(&mut h, "a");
    let b = Client::join(&mut h, "b");
    a.heartbeat(&mut h);
    a.heartbeat(&mut h);
    h.advance(45_000);
    // b said nothing for 45 s; a kept its session by heartbeating late.
    let r = send(&mut h, hb(&b.member_id, b.epoch));
    assert_eq!(r, Err(GroupError::UnknownMemberId));
}

#[test]
fn the_group_survives_a_coordinator_reload() {
    let mut h = harness(4);
    let mut a = Client::join(&mut h, "a");
    let mut b = Client::join(&mut h, "b");
    let mut refs = [&mut a, &mut b];
    converge(&mut h, &mut refs);
    let partition = partition_for_group(GROUP, 50);
    let records = h.records_of(partition);
    let mut reloaded = GroupCoordinator::new(GroupCoordinatorConfig::default(), 7);
    for p in 0..50 {
        let rs = if p == partition {
            records.clone()
        } else {
            Vec::new()
        };
        reloaded.load_partition(p, rs, T0).unwrap();
    }
    reloaded.set_topics([(
        "orders".to_string(),
        TopicMetadata {
            topic_id: TOPIC,
            partitions: 4,
        },
    )]);
    h.coordinator = reloaded;
    assert_eq!(
        h.coordinator.consumer_group_state(GROUP),
        Some(ConsumerGroupState::Stable)
    );
    let before = (a.epoch, a.owned.clone());
    a.heartbeat(&mut h);
    assert_eq!((a.epoch, a.owned.clone()), before);
    b.heartbeat(&mut h);
    assert_owned_once(&[&a, &b]);
}

#[test]
fn heartbeat_errors_are_kafkas() {
    let mut h = harness(2);
    let a = Client::join(&mut h, "a");
    assert_eq!(
        send(&mut h, hb(&a.member_id, a.epoch + 5)),
        Err(GroupError::FencedMemberEpoch)
    );
    assert_eq!(
        send(&mut h, hb("ghost", 3)),
        Err(GroupError::UnknownMemberId)
    );
    let mut other = hb("x", 1);
    other.group_id = "no-such-group".into();
    assert_eq!(send(&mut h, other), Err(GroupError::GroupIdNotFound));
    let mut assignor = hb("c", 0);
    assignor.server_assignor = Some("sticky".into());
    assert!(matches!(
        send(&mut h, assignor),
        Err(GroupError::UnsupportedAssignor { .. })
    ));
    let mut no_topics = hb("c", 0);
    no_topics.subscribed_topic_names = Some(Vec::new());
    assert!(matches!(
        send(&mut h, no_topics),
        Err(GroupError::InvalidRequest { .. })
    ));
    assert!(matches!(
        send(&mut h, hb("c", -3)),
        Err(GroupError::InvalidRequest { .. })
    ));
}

#[test]
fn static_member_must_leave_before_its_instance_id_is_reused() {
    let mut h = harness(2);
    let mut first = hb("s1", 0);
    first.instance_id = Some("instance-1".into());
    let r = send(&mut h, first.clone()).unwrap();
    let mut second = first.clone();
    second.member_id = "s2".into();
    assert_eq!(
        send(&mut h, second.clone()),
        Err(GroupError::UnreleasedInstanceId)
    );
    let mut leave = hb("s1", LEAVE_GROUP_STATIC_MEMBER_EPOCH);
    leave.instance_id = Some("instance-1".into());
    assert_eq!(send(&mut h, leave).unwrap().member_epoch, -2);
    // The new incarnation takes the instance's partitions over at once.
    let r2 = send(&mut h, second).unwrap();
    assert_eq!(r2.assignment, r.assignment);
}

#[test]
fn commits_need_the_current_member_epoch() {
    let mut h = harness(2);
    let a = Client::join(&mut h, "a");
    let commit = |epoch: i32, version: i16| OffsetCommit {
        group_id: GROUP.into(),
        generation_id: epoch,
        member_id: a.member_id.clone(),
        group_instance_id: None,
        retention_time_ms: None,
        offsets: vec![OffsetCommitPartition {
            topic_partition: tp("orders", 0),
            offset: 42,
            leader_epoch: None,
            metadata: None,
            commit_timestamp_ms: None,
        }],
        api_version: version,
    };
    let result = |h: &mut Harness, c: OffsetCommit| {
        let t = h.send(Request::OffsetCommit(c));
        match h.take(t) {
            Some(Response::OffsetCommit(r)) => r[0].1.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        result(&mut h, commit(a.epoch + 1, 9)),
        Err(GroupError::StaleMemberEpoch)
    );
    assert_eq!(
        result(&mut h, commit(a.epoch, 8)),
        Err(GroupError::UnsupportedVersion)
    );
    assert_eq!(result(&mut h, commit(a.epoch, 9)), Ok(()));
    assert_eq!(h.fetch(GROUP, Some(vec![tp("orders", 0)]))[0].offset, 42);
}

#[test]
fn classic_and_consumer_groups_keep_to_their_own_protocol() {
    let mut h = harness(2);
    let a = Client::join(&mut h, "a");
    let t = h.send(Request::JoinGroup(join(
        GROUP,
        "",
        "kafka-python",
        &["range"],
    )));
    assert_eq!(h.join_result(t), Err(GroupError::InconsistentGroupProtocol));
    // Once empty, the consumer group may become a classic group.
    send(&mut h, hb(&a.member_id, LEAVE_GROUP_MEMBER_EPOCH)).unwrap();
    let t = h.send(Request::JoinGroup(join(
        GROUP,
        "",
        "kafka-python",
        &["range"],
    )));
    assert!(h.is_pending(t) || h.join_result(t).is_ok());
    // And a classic group with members refuses consumer members.
    assert_eq!(send(&mut h, hb("b", 0)), Err(GroupError::GroupIdNotFound));
    let t = h.send(Request::ListGroups(ListGroups {
        states_filter: Vec::new(),
        types_filter: vec!["consumer".into()],
    }));
    let Some(Response::ListGroups { groups, .. }) = h.take(t) else {
        panic!()
    };
    assert!(groups.is_empty());
}

mod replay {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn key(kind: u8, member: u8) -> Bytes {
        let group_id = GROUP.to_string();
        let member_id = format!("m{}", member % 3);
        match kind % 7 {
            0 => RecordKey::ConsumerGroupMetadata { group_id },
            1 => RecordKey::ConsumerGroupPartitionMetadata { group_id },
            2 => RecordKey::ConsumerGroupMemberMetadata {
                group_id,
                member_id,
            },
            3 => RecordKey::ConsumerGroupTargetAssignmentMetadata { group_id },
            4 => RecordKey::ConsumerGroupTargetAssignmentMember {
                group_id,
                member_id,
            },
            5 => RecordKey::ConsumerGroupCurrentMemberAssignment {
                group_id,
                member_id,
            },
            _ => RecordKey::GroupMetadata { group_id },
        }
        .encode()
    }

    proptest! {
        /// Whatever the log holds, a replay loads or is refused with an
        /// error, and a loaded group then serves heartbeats: bytes from the
        /// disk never panic the coordinator.
        #[test]
        fn replay_of_arbitrary_values_never_panics(
            records in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..48)),
                0..24,
            )
        ) {
            let partition = partition_for_group(GROUP, 50);
            let records: Vec<OffsetsRecord> = records
                .into_iter()
                .map(|(kind, member, value)| OffsetsRecord {
                    key: key(kind, member),
                    value: (!value.is_empty()).then(|| Bytes::from(value)),
                })
                .collect();
            let mut h = harness(3);
            if h.coordinator.begin_load(partition).is_ok()
                && h.coordinator.load_partition(partition, records, T0).is_ok()
            {
                for m in ["m0", "m1", "new"] {
                    let _ = send(&mut h, hb(m, 0));
                }
                h.advance(120_000);
            }
        }
    }
}

mod schedules {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Heartbeat(usize),
        Join,
        Leave(usize),
        Wait,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..6usize).prop_map(Step::Heartbeat),
            1 => Just(Step::Join),
            1 => (0..6usize).prop_map(Step::Leave),
            1 => Just(Step::Wait),
        ]
    }

    /// A client that behaves as KIP-848 asks: it reports what it owns,
    /// drops revoked partitions before its next heartbeat, and on
    /// FENCED_MEMBER_EPOCH / UNKNOWN_MEMBER_ID drops everything and rejoins.
    fn heartbeat(h: &mut Harness, c: &mut Client) {
        let mut req = hb(&c.member_id, c.epoch);
        req.owned_partitions = Some(vec![(TOPIC, c.owned.iter().copied().collect())]);
        match send(h, req) {
            Ok(r) => c.apply(&r),
            Err(GroupError::FencedMemberEpoch | GroupError::UnknownMemberId) => {
                c.owned.clear();
                let r = send(h, hb(&c.member_id, 0)).unwrap();
                c.apply(&r);
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    proptest! {
        /// Under any interleaving of heartbeats, joins and leaves, no two
        /// clients ever own the same partition, and once everyone
        /// heartbeats a few times every partition is owned, balanced.
        #[test]
        fn no_partition_is_ever_owned_twice(steps in proptest::collection::vec(step(), 1..80)) {
            let mut h = harness(7);
            let mut clients: Vec<Client> = vec![Client::join(&mut h, "c0")];
            let mut next = 1;
            for s in steps {
                match s {
                    Step::Heartbeat(i) => {
                        let n = clients.len();
                        if n > 0 {
                            heartbeat(&mut h, &mut clients[i % n]);
                        }
                    }
                    Step::Join if clients.len() < 6 => {
                        clients.push(Client::join(&mut h, &format!("c{next}")));
                        next += 1;
                    }
                    Step::Join => {}
                    Step::Leave(i) if !clients.is_empty() => {
                        let n = clients.len();
                        let c = clients.remove(i % n);
                        send(&mut h, hb(&c.member_id, LEAVE_GROUP_MEMBER_EPOCH)).unwrap();
                    }
                    Step::Leave(_) => {}
                    Step::Wait => h.advance(1_000),
                }
                let view: Vec<&Client> = clients.iter().collect();
                assert_owned_once(&view);
            }
            if !clients.is_empty() {
                for _ in 0..4 {
                    for c in clients.iter_mut() {
                        heartbeat(&mut h, c);
                    }
                    let view: Vec<&Client> = clients.iter().collect();
                    assert_owned_once(&view);
                }
                let counts: Vec<usize> = clients.iter().map(|c| c.owned.len()).collect();
                prop_assert_eq!(counts.iter().sum::<usize>(), 7);
                prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1);
                prop_assert_eq!(
                    h.coordinator.consumer_group_state(GROUP),
                    Some(ConsumerGroupState::Stable)
                );
            }
        }
    }
}
