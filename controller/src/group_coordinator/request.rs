//! The requests the group coordinator accepts: the fields of Kafka's group
//! and offset APIs that the coordinator needs, already decoded and
//! version-normalised by the network layer.

use bytes::Bytes;

use crate::TopicId;

/// A topic partition, named the way Kafka names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index, ≥ 0.
    pub partition: i32,
}

/// One protocol a joining member supports, in the member's preference order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupProtocol {
    /// The protocol name, e.g. `"range"`, `"cooperative-sticky"`.
    pub name: String,
    /// Opaque protocol metadata (for consumers, the subscription).
    pub metadata: Bytes,
}

/// JoinGroup (API key 11). The response is delayed until the rebalance
/// completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroup {
    /// The group id; must be non-empty.
    pub group_id: String,
    /// `""` on a member's first join.
    pub member_id: String,
    /// `group.instance.id` for static membership (v5+), else `None`.
    pub group_instance_id: Option<String>,
    /// The request header's client id; prefixes generated member ids.
    pub client_id: String,
    /// The client's address, for DescribeGroups (Kafka shows `/ip`).
    pub client_host: String,
    /// E.g. `"consumer"`, `"connect"`.
    pub protocol_type: String,
    /// Supported protocols in preference order.
    pub protocols: Vec<JoinGroupProtocol>,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// Rebalance timeout in ms (v1+; for v0 pass the session timeout).
    pub rebalance_timeout_ms: i32,
    /// Why the member (re)joins (v8+), for logs.
    pub reason: Option<String>,
    /// `version >= 4`: a dynamic member's first join gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// `version >= 9`: a static leader rejoining a stable group gets
    /// `skip_assignment` instead of a fake leader id.
    pub supports_skip_assignment: bool,
}

/// SyncGroup (API key 14). The response is delayed until the leader's
/// assignment is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// The group id.
    pub group_id: String,
    /// The generation from the member's JoinGroup response.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The protocol type (v5+), checked against the group's if present.
    pub protocol_type: Option<String>,
    /// The protocol name (v5+), checked against the group's if present.
    pub protocol_name: Option<String>,
    /// The leader's assignment, member id → assignment; empty for followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// Heartbeat (API key 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The group id.
    pub group_id: String,
    /// The member's generation.
    pub generation_id: i32,
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
}

/// One member leaving in a LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberIdentity {
    /// The member id; `""` to remove a static member by instance id only.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Why it leaves (v5+), for logs.
    pub reason: Option<String>,
}

/// LeaveGroup (API key 13). Versions 0–2 carry one member: pass it as a
/// one-element `members`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroup {
    /// The group id.
    pub group_id: String,
    /// The members leaving.
    pub members: Vec<MemberIdentity>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch (v6+), `None` if absent or -1.
    pub leader_epoch: Option<i32>,
    /// Client metadata; `None` (null) is stored as `""`.
    pub metadata: Option<String>,
    /// OffsetCommit v1's `commit_timestamp` (ms since the epoch); `None` for
    /// -1 (the default, and every other version), which stamps the commit
    /// with the coordinator's clock. Kafka 3.x stores a client's timestamp
    /// as given; it only matters for when the offset expires.
    pub commit_timestamp_ms: Option<i64>,
}

/// OffsetCommit (API key 8). The response waits until the commit is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The group id.
    pub group_id: String,
    /// The member's generation, or -1 for a standalone (simple consumer)
    /// commit.
    pub generation_id: i32,
    /// The member id, `""` for a standalone commit.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// OffsetCommit v2–v4 `retention_time_ms`; `None` for -1 (the default,
    /// and every other version). When set, the offsets expire that long
    /// after the commit instead of after `offsets.retention.minutes`, where
    /// Kafka expires offsets at all: in empty and standalone groups, and for
    /// topics no member of a stable consumer group subscribes to.
    pub retention_time_ms: Option<i64>,
    /// The offsets; the network layer has already answered partitions of
    /// unknown topics with `UnknownTopicOrPartition` and left them out.
    pub offsets: Vec<OffsetCommitPartition>,
    /// The request's OffsetCommit version: members of consumer groups must
    /// use v9+ (UNSUPPORTED_VERSION otherwise), where `generation_id`
    /// carries the member epoch.
    pub api_version: i16,
}

/// OffsetFetch (API key 9) for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetch {
    /// The group id.
    pub group_id: String,
    /// The partitions to fetch, or `None` for all the group has.
    pub partitions: Option<Vec<TopicPartition>>,
    /// OffsetFetch v9+: the member id and epoch of a consumer group member,
    /// checked as Kafka does (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH);
    /// `None` for admin clients and older versions.
    pub member: Option<(String, i32)>,
    /// OffsetFetch v7+ `require_stable` (KIP-447): a partition with offsets
    /// of an open transaction is answered UNSTABLE_OFFSET_COMMIT instead of
    /// its committed offset, so a consumer waits for the transaction.
    pub require_stable: bool,
}

/// DescribeGroups (API key 15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeGroups {
    /// The groups to describe.
    pub group_ids: Vec<String>,
}

/// ListGroups (API key 16).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListGroups {
    /// Only groups in these states (v4+), Kafka's names matched
    /// case-insensitively (classic: `Stable`, `PreparingRebalance`, …;
    /// consumer: `Assigning`, `Reconciling`, …); empty for all.
    pub states_filter: Vec<String>,
    /// Only groups of these types (v5+): `classic`, `consumer`,
    /// case-insensitive; empty for all.
    pub types_filter: Vec<String>,
}

/// ConsumerGroupHeartbeat (API key 68): join, heartbeat, reconcile or
/// leave a consumer group (KIP-848).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeat {
    /// The group id.
    pub group_id: String,
    /// The member id: `""` to have one generated (v0), else the client's.
    pub member_id: String,
    /// 0 to join, the current epoch to heartbeat, -1 to leave, -2 for a
    /// static member leaving temporarily.
    pub member_epoch: i32,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The client's rack.
    pub rack_id: Option<String>,
    /// Rebalance timeout in ms, -1 if unchanged.
    pub rebalance_timeout_ms: i32,
    /// Subscribed topic names, `None` if unchanged.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// Subscription regex (v1), `None` if unchanged.
    pub subscribed_topic_regex: Option<String>,
    /// The server assignor to use, `None` if unchanged.
    pub server_assignor: Option<String>,
    /// The partitions the member owns, `None` if unchanged.
    pub owned_partitions: Option<Vec<(TopicId, Vec<i32>)>>,
    /// The request header's client id.
    pub client_id: String,
    /// The client's address (`/ip`).
    pub client_host: String,
}

/// ConsumerGroupDescribe (API key 69).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescribe {
    /// The groups to describe.
    pub group_ids: Vec<String>,
}

/// DeleteGroups (API key 42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteGroups {
    /// The groups to delete.
    pub group_ids: Vec<String>,
}

/// OffsetDelete (API key 47).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetDelete {
    /// The group id.
    pub group_id: String,
    /// The partitions whose committed offsets to delete.
    pub partitions: Vec<TopicPartition>,
}

/// TxnOffsetCommit (API key 28): offsets committed inside a producer's
/// transaction. They are written at once, as a transactional batch of the
/// producer, and become visible (OffsetFetch) only when the transaction
/// commits ([`Request::CompleteTransaction`]); an abort drops them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommit {
    /// The producer's transactional id (for logs).
    pub transactional_id: String,
    /// The group id.
    pub group_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The consumer's generation (v3+), -1 if not a member.
    pub generation_id: i32,
    /// The consumer's member id (v3+), `""` if not a member.
    pub member_id: String,
    /// The consumer's `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
    /// The offsets (commit timestamps are ignored).
    pub offsets: Vec<OffsetCommitPartition>,
}

/// A transaction that wrote offsets to `__consumer_offsets` partition
/// `partition` ended: its markers are written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteTransaction {
    /// The `__consumer_offsets` partition.
    pub partition: u32,
    /// The producer whose transaction ended.
    pub producer_id: i64,
    /// Commit (the pending offsets become the committed ones) or abort
    /// (they are dropped).
    pub committed: bool,
}

/// A request to the group coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// JoinGroup; delayed response.
    JoinGroup(JoinGroup),
    /// SyncGroup; delayed response.
    SyncGroup(SyncGroup),
    /// Heartbeat; immediate response.
    Heartbeat(Heartbeat),
    /// LeaveGroup; immediate response.
    LeaveGroup(LeaveGroup),
    /// OffsetCommit; response after the commit is durable.
    OffsetCommit(OffsetCommit),
    /// OffsetFetch; immediate response.
    OffsetFetch(OffsetFetch),
    /// DescribeGroups; immediate response.
    DescribeGroups(DescribeGroups),
    /// ListGroups; immediate response.
    ListGroups(ListGroups),
    /// DeleteGroups; immediate response (tombstones are emitted as persists).
    DeleteGroups(DeleteGroups),
    /// OffsetDelete; immediate response (tombstones are emitted as persists).
    OffsetDelete(OffsetDelete),
    /// ConsumerGroupHeartbeat; response once its records are durable.
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeat),
    /// ConsumerGroupDescribe; immediate response.
    ConsumerGroupDescribe(ConsumerGroupDescribe),
    /// TxnOffsetCommit; response once the offsets are durable (pending).
    TxnOffsetCommit(TxnOffsetCommit),
    /// A transaction's markers reached a `__consumer_offsets` partition;
    /// immediate response.
    CompleteTransaction(CompleteTransaction),
}
