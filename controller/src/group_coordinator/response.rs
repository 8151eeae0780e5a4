//! The responses the group coordinator produces, one per [`super::Request`]
//! kind. Errors are [`GroupError`]s; the network layer maps them to Kafka
//! codes in `net/src/error_code.rs`.

use bytes::Bytes;

use super::consumer_group::ConsumerGroupState;
use super::error::GroupError;
use super::group::GroupState;
use super::request::TopicPartition;
use crate::TopicId;

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupMember {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the selected protocol.
    pub metadata: Bytes,
}

/// A successful JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// The member id (generated on a first join).
    pub member_id: String,
    /// The new generation.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The selected protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// v9+: the static leader must not run the assignor (the group is stable).
    pub skip_assignment: bool,
    /// All members with metadata if this member is the leader, else empty.
    pub members: Vec<JoinGroupMember>,
}

/// A successful SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The group's protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment; empty if the leader gave it none.
    pub assignment: Bytes,
}

/// The outcome for one member of a LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveGroupMemberResult {
    /// The member id from the request.
    pub member_id: String,
    /// The instance id from the request.
    pub group_instance_id: Option<String>,
    /// `Ok` if it was removed.
    pub result: Result<(), GroupError>,
}

/// A committed offset as returned by OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// The partition.
    pub topic_partition: TopicPartition,
    /// The committed offset, -1 if none.
    pub offset: i64,
    /// The committed leader epoch, `None` (wire -1) if none.
    pub leader_epoch: Option<i32>,
    /// The committed metadata, `""` if none.
    pub metadata: String,
    /// A `require_stable` fetch found offsets of an open transaction for
    /// this partition: the offset is withheld (-1) and the partition is
    /// answered UNSTABLE_OFFSET_COMMIT (88).
    pub unstable: bool,
}

/// A member in a DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// Its client host.
    pub client_host: String,
    /// Its metadata for the selected protocol (empty unless Stable).
    pub metadata: Bytes,
    /// Its assignment (empty unless Stable).
    pub assignment: Bytes,
}

/// One group in a DescribeGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// The group id.
    pub group_id: String,
    /// `Err` for a group this node cannot describe (loading, not
    /// coordinator). A group that does not exist is `Ok` with state
    /// [`GroupState::Dead`], as Kafka answers before DescribeGroups v6; for
    /// v6+ the network layer answers `GROUP_ID_NOT_FOUND` when `exists` is
    /// false.
    pub result: Result<(), GroupError>,
    /// Whether the group exists.
    pub exists: bool,
    /// The state; Kafka's name via [`GroupState::kafka_name`].
    pub state: GroupState,
    /// The protocol type, `""` if none.
    pub protocol_type: String,
    /// The selected protocol when Stable, else `""`.
    pub protocol_name: String,
    /// The generation, -1 for a missing group (not on the wire: for admin
    /// tools and tests).
    pub generation_id: i32,
    /// The leader's member id, `""` if none (not on the wire).
    pub leader: String,
    /// The members.
    pub members: Vec<DescribedMember>,
}

/// One group in a ListGroups response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// The protocol type, `""` if none.
    pub protocol_type: String,
    /// The state of a classic group.
    pub state: GroupState,
    /// `Some` for a consumer group: its state (`state` is then `Empty`).
    pub consumer_state: Option<ConsumerGroupState>,
}

impl ListedGroup {
    /// The group type ListGroups v5 sends: `classic` or `consumer`.
    pub fn group_type(&self) -> &'static str {
        match self.consumer_state {
            Some(_) => "consumer",
            None => "classic",
        }
    }

    /// Kafka's name of the group's state.
    pub fn state_name(&self) -> &'static str {
        match self.consumer_state {
            Some(state) => state.kafka_name(),
            None => self.state.kafka_name(),
        }
    }
}

/// A successful ConsumerGroupHeartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeatResponse {
    /// The member id (generated on a first join without one).
    pub member_id: String,
    /// The member's epoch (-1 after leaving, -2 after a static leave).
    pub member_epoch: i32,
    /// How often to heartbeat, ms (0 when leaving).
    pub heartbeat_interval_ms: i32,
    /// The member's assignment, when the request was a full one or the
    /// assignment changed; `None` otherwise.
    pub assignment: Option<Vec<(TopicId, Vec<i32>)>>,
}

/// A member in a ConsumerGroupDescribe response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConsumerMember {
    /// The member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// Its rack.
    pub rack_id: Option<String>,
    /// Its epoch.
    pub member_epoch: i32,
    /// Its client id.
    pub client_id: String,
    /// Its client host.
    pub client_host: String,
    /// The topic names it subscribes to.
    pub subscribed_topic_names: Vec<String>,
    /// Its subscription regex.
    pub subscribed_topic_regex: Option<String>,
    /// What it owns now: topic id, topic name (`""` if deleted), partitions.
    pub assignment: Vec<(TopicId, String, Vec<i32>)>,
    /// What it should own once reconciled.
    pub target_assignment: Vec<(TopicId, String, Vec<i32>)>,
}

/// One group in a ConsumerGroupDescribe response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedConsumerGroup {
    /// The group id.
    pub group_id: String,
    /// `Err(GroupIdNotFound)` for a missing or classic group; load and
    /// coordinator errors.
    pub result: Result<(), GroupError>,
    /// The state.
    pub state: ConsumerGroupState,
    /// The group epoch.
    pub group_epoch: i32,
    /// The target assignment's epoch.
    pub assignment_epoch: i32,
    /// The assignor the group uses.
    pub assignor_name: String,
    /// The members.
    pub members: Vec<DescribedConsumerMember>,
}

/// Per-partition outcomes of OffsetCommit and OffsetDelete, in request
/// order.
pub type PartitionResults = Vec<(TopicPartition, Result<(), GroupError>)>;

/// A response, sent through [`super::Action::Respond`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// JoinGroup. On error the response's member id is the request's, except
    /// [`GroupError::MemberIdRequired`], which carries the generated one.
    JoinGroup(Result<JoinGroupResponse, GroupError>),
    /// SyncGroup.
    SyncGroup(Result<SyncGroupResponse, GroupError>),
    /// Heartbeat.
    Heartbeat(Result<(), GroupError>),
    /// LeaveGroup: a top-level error, or one result per member in request
    /// order. For v0–2 use the single member's result as the top level.
    LeaveGroup(Result<Vec<LeaveGroupMemberResult>, GroupError>),
    /// OffsetCommit: one result per requested partition, in request order.
    OffsetCommit(PartitionResults),
    /// OffsetFetch: the offsets, or a group-level error.
    OffsetFetch(Result<Vec<FetchedOffset>, GroupError>),
    /// DescribeGroups, in request order.
    DescribeGroups(Vec<DescribedGroup>),
    /// ListGroups: the groups, with a top-level error (loading) that Kafka
    /// still sends alongside the groups it could list.
    ListGroups {
        /// `Err(CoordinatorLoadInProgress)` while any partition is loading.
        result: Result<(), GroupError>,
        /// The groups matching the filter.
        groups: Vec<ListedGroup>,
    },
    /// DeleteGroups: one result per group, in request order.
    DeleteGroups(Vec<(String, Result<(), GroupError>)>),
    /// OffsetDelete: a group-level error, or one result per partition.
    OffsetDelete(Result<PartitionResults, GroupError>),
    /// ConsumerGroupHeartbeat.
    ConsumerGroupHeartbeat(Result<ConsumerGroupHeartbeatResponse, GroupError>),
    /// ConsumerGroupDescribe, in request order.
    ConsumerGroupDescribe(Vec<DescribedConsumerGroup>),
    /// Per partition, in request order.
    TxnOffsetCommit(PartitionResults),
    /// How many pending offsets the completion applied or dropped.
    CompleteTransaction(usize),
}
