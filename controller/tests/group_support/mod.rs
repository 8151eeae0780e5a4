//! Shared fixture for the group coordinator tests: a simulated driver with a
//! manual clock, an in-memory `__consumer_offsets` log and a response inbox.
#![allow(dead_code)]

use std::collections::BTreeMap;

use bytes::Bytes;
use skein_controller::group_coordinator::*;

/// Start of simulated time (a realistic epoch-ms value).
pub const T0: i64 = 1_700_000_000_000;
pub const SESSION_MS: i32 = 10_000;
pub const REBALANCE_MS: i32 = 30_000;

/// A simulated driver around one coordinator.
pub struct Harness {
    pub coordinator: GroupCoordinator,
    pub now_ms: i64,
    next_token: u64,
    /// Answered requests not yet taken.
    pub inbox: BTreeMap<RequestToken, Response>,
    /// Every token ever answered, to catch double answers.
    answered: Vec<RequestToken>,
    /// Appends are acknowledged at once when true; else they queue.
    pub auto_persist: bool,
    /// Appends awaiting a manual `complete_persists`.
    pub queued: Vec<(PersistId, u32, Vec<OffsetsRecord>)>,
    /// The durable log: (partition, record) in append order.
    pub log: Vec<(u32, OffsetsRecord)>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(GroupCoordinatorConfig::default())
    }

    pub fn with_config(config: GroupCoordinatorConfig) -> Self {
        let partitions = config.offsets_topic_num_partitions;
        let mut coordinator = GroupCoordinator::new(config, 42);
        for p in 0..partitions {
            coordinator.load_partition(p, Vec::new(), T0).unwrap();
        }
        Self {
            coordinator,
            now_ms: T0,
            next_token: 0,
            inbox: BTreeMap::new(),
            answered: Vec::new(),
            auto_persist: true,
            queued: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Carries out actions like a driver: answers go to the inbox, appends to
    /// the log (acknowledged at once if `auto_persist`).
    pub fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Respond { token, response } => {
                    assert!(
                        !self.answered.contains(&token),
                        "token {token:?} answered twice"
                    );
                    self.answered.push(token);
                    self.inbox.insert(token, response);
                }
                Action::Persist {
                    id,
                    partition,
                    records,
                    ..
                } => {
                    if self.auto_persist {
                        self.log.extend(records.into_iter().map(|r| (partition, r)));
                        let more = self.coordinator.persisted(self.now_ms, id, Ok(()));
                        self.apply(more);
                    } else {
                        self.queued.push((id, partition, records));
                    }
                }
            }
        }
    }

    /// Resolves every queued append with `result`.
    pub fn complete_persists(&mut self, result: Result<(), AppendError>) {
        for (id, partition, records) in std::mem::take(&mut self.queued) {
            if result.is_ok() {
                self.log.extend(records.into_iter().map(|r| (partition, r)));
            }
            let actions = self.coordinator.persisted(self.now_ms, id, result);
            self.apply(actions);
        }
    }

    pub fn send(&mut self, request: Request) -> RequestToken {
        self.next_token += 1;
        let token = RequestToken(self.next_token);
        let actions = self.coordinator.request(self.now_ms, token, request);
        self.apply(actions);
        token
    }

    /// Moves the clock forward by `ms`, ticking at every deadline on the way
    /// as a driver's timer would.
    pub fn advance(&mut self, ms: i64) {
        let target = self.now_ms + ms;
        for _ in 0..10_000 {
            match self.coordinator.next_deadline() {
                Some(deadline) if deadline <= target => {
                    self.now_ms = self.now_ms.max(deadline);
                    let actions = self.coordinator.tick(self.now_ms);
                    self.apply(actions);
                }
                _ => break,
            }
        }
        self.now_ms = target;
    }

    /// Sends a v3-style JoinGroup (see [`join`]).
    pub fn join(
        &mut self,
        group: &str,
        member_id: &str,
        client_id: &str,
        protocols: &[&str],
    ) -> RequestToken {
        self.send(Request::JoinGroup(join(
            group, member_id, client_id, protocols,
        )))
    }

    pub fn take(&mut self, token: RequestToken) -> Option<Response> {
        self.inbox.remove(&token)
    }

    pub fn is_pending(&self, token: RequestToken) -> bool {
        !self.answered.contains(&token)
    }

    pub fn join_result(&mut self, token: RequestToken) -> Result<JoinGroupResponse, GroupError> {
        match self.take(token) {
            Some(Response::JoinGroup(r)) => r,
            other => panic!("expected a JoinGroup response for {token:?}, got {other:?}"),
        }
    }

    pub fn joined(&mut self, token: RequestToken) -> JoinGroupResponse {
        self.join_result(token).expect("join succeeded")
    }

    pub fn sync_result(&mut self, token: RequestToken) -> Result<SyncGroupResponse, GroupError> {
        match self.take(token) {
            Some(Response::SyncGroup(r)) => r,
            other => panic!("expected a SyncGroup response for {token:?}, got {other:?}"),
        }
    }

    pub fn heartbeat(
        &mut self,
        group: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        self.heartbeat_static(group, generation_id, member_id, None)
    }

    pub fn heartbeat_static(
        &mut self,
        group: &str,
        generation_id: i32,
        member_id: &str,
        instance: Option<&str>,
    ) -> Result<(), GroupError> {
        let t = self.send(Request::Heartbeat(Heartbeat {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: instance.map(Into::into),
        }));
        match self.take(t) {
            Some(Response::Heartbeat(r)) => r,
            other => panic!("expected a Heartbeat response, got {other:?}"),
        }
    }

    pub fn sync(
        &mut self,
        group: &str,
        generation_id: i32,
        member_id: &str,
        assignments: &[(&str, &str)],
    ) -> RequestToken {
        self.send(Request::SyncGroup(SyncGroup {
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| ((*m).to_owned(), Bytes::copy_from_slice(a.as_bytes())))
                .collect(),
        }))
    }

    pub fn leave(
        &mut self,
        group: &str,
        member_id: &str,
    ) -> Result<Vec<LeaveGroupMemberResult>, GroupError> {
        let t = self.send(Request::LeaveGroup(LeaveGroup {
            group_id: group.into(),
            members: vec![MemberIdentity {
                member_id: member_id.into(),
                group_instance_id: None,
                reason: None,
            }],
        }));
        match self.take(t) {
            Some(Response::LeaveGroup(r)) => r,
            other => panic!("expected a LeaveGroup response, got {other:?}"),
        }
    }

    pub fn commit(
        &mut self,
        group: &str,
        generation_id: i32,
        member_id: &str,
        offsets: &[(&str, i32, i64)],
    ) -> RequestToken {
        self.send(Request::OffsetCommit(OffsetCommit {
            api_version: 9,
            group_id: group.into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            retention_time_ms: None,
            offsets: offsets
                .iter()
                .map(|(topic, partition, offset)| OffsetCommitPartition {
                    topic_partition: tp(topic, *partition),
                    offset: *offset,
                    leader_epoch: Some(5),
                    metadata: Some(format!("m{offset}")),
                    commit_timestamp_ms: None,
                })
                .collect(),
        }))
    }

    pub fn commit_result(
        &mut self,
        token: RequestToken,
    ) -> Vec<(TopicPartition, Result<(), GroupError>)> {
        match self.take(token) {
            Some(Response::OffsetCommit(r)) => r,
            other => panic!("expected an OffsetCommit response, got {other:?}"),
        }
    }

    /// Commits and expects every partition to succeed.
    pub fn commit_ok(
        &mut self,
        group: &str,
        generation_id: i32,
        member_id: &str,
        offsets: &[(&str, i32, i64)],
    ) {
        let t = self.commit(group, generation_id, member_id, offsets);
        for (tp, r) in self.commit_result(t) {
            assert_eq!(r, Ok(()), "commit of {tp:?}");
        }
    }

    pub fn fetch(
        &mut self,
        group: &str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> Vec<FetchedOffset> {
        let t = self.send(Request::OffsetFetch(OffsetFetch {
            member: None,
            group_id: group.into(),
            partitions,
            require_stable: false,
        }));
        match self.take(t) {
            Some(Response::OffsetFetch(r)) => r.expect("fetch succeeded"),
            other => panic!("expected an OffsetFetch response, got {other:?}"),
        }
    }

    pub fn describe(&mut self, group: &str) -> DescribedGroup {
        let t = self.send(Request::DescribeGroups(DescribeGroups {
            group_ids: vec![group.into()],
        }));
        match self.take(t) {
            Some(Response::DescribeGroups(mut g)) => g.remove(0),
            other => panic!("expected a DescribeGroups response, got {other:?}"),
        }
    }

    pub fn state(&self, group: &str) -> Option<GroupState> {
        self.coordinator.group_state(group)
    }

    /// Joins three dynamic members (v3, no member id round trip), waits out
    /// the initial delay, syncs with the leader's assignment and returns the
    /// member ids in join order and the generation.
    pub fn stable_group(&mut self, group: &str, n: usize) -> (Vec<String>, i32) {
        let tokens: Vec<_> = (0..n)
            .map(|i| {
                self.send(Request::JoinGroup(join(
                    group,
                    "",
                    &format!("client-{i}"),
                    &["range"],
                )))
            })
            .collect();
        // Two initial delays: members kept arriving during the first.
        self.advance(6_000);
        let joined: Vec<JoinGroupResponse> = tokens.into_iter().map(|t| self.joined(t)).collect();
        let generation = joined[0].generation_id;
        let ids: Vec<String> = joined.iter().map(|j| j.member_id.clone()).collect();
        let assignments: Vec<(String, String)> = ids
            .iter()
            .map(|m| (m.clone(), format!("assign-{m}")))
            .collect();
        let pairs: Vec<(&str, &str)> = assignments
            .iter()
            .map(|(m, a)| (m.as_str(), a.as_str()))
            .collect();
        let mut syncs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let a = if i == 0 { pairs.clone() } else { Vec::new() };
            syncs.push(self.sync(group, generation, id, &a));
        }
        for t in syncs {
            self.sync_result(t).expect("sync succeeded");
        }
        assert_eq!(self.state(group), Some(GroupState::Stable));
        (ids, generation)
    }

    /// Records of the durable log for `partition`.
    pub fn records_of(&self, partition: u32) -> Vec<OffsetsRecord> {
        self.log
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition,
    }
}

/// A `ConsumerProtocolSubscription` v0 for `topics`.
pub fn subscription(topics: &[&str]) -> Bytes {
    let mut b = vec![0u8, 0];
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

/// A JoinGroup v3-style request (no MEMBER_ID_REQUIRED round trip)
/// subscribing to topic "t" with the given protocols in preference order.
pub fn join(group: &str, member_id: &str, client_id: &str, protocols: &[&str]) -> JoinGroup {
    JoinGroup {
        group_id: group.into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: client_id.into(),
        client_host: "/127.0.0.1".into(),
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| JoinGroupProtocol {
                name: (*p).into(),
                metadata: subscription(&["t"]),
            })
            .collect(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        reason: None,
        require_known_member_id: false,
        supports_skip_assignment: false,
    }
}
