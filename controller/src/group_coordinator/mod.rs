//! The group coordinator: Kafka's classic consumer-group protocol
//! (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, static membership), the
//! consumer group protocol of KIP-848 (ConsumerGroupHeartbeat with
//! server-side assignment and incremental reconciliation,
//! ConsumerGroupDescribe) and committed offsets (OffsetCommit/Fetch/Delete),
//! with Describe/List/Delete groups, stored in the compacted
//! `__consumer_offsets` topic.
//!
//! The core is sans-IO: [`GroupCoordinator::step`] takes an [`Input`] (a
//! request with its [`RequestToken`], a tick, or an append completion) and
//! the caller's clock `now_ms`, and returns [`Action`]s: responses, possibly
//! for requests received in earlier steps, and `__consumer_offsets` appends
//! whose completion the driver reports back. The driver owns sockets, the
//! log and timers; [`GroupCoordinator::next_deadline`] says when to tick.
//!
//! Behaviour follows Apache Kafka's `GroupCoordinator`/`GroupMetadata`
//! (3.x, classic protocol) so librdkafka, kafka-python, kafkajs, sarama and
//! the Java client see what they expect, including error codes: each
//! [`GroupError`] variant documents its Kafka error code.
//!
//! Lives on: the control shard only.
//!
//! # A driver in miniature
//!
//! ```
//! use skein_controller::group_coordinator::*;
//!
//! let config = GroupCoordinatorConfig::default();
//! let mut coordinator = GroupCoordinator::new(config.clone(), 0x5eed);
//! let now = 1_700_000_000_000;
//! // Replay each __consumer_offsets partition (empty on a first start).
//! for p in 0..config.offsets_topic_num_partitions {
//!     coordinator.load_partition(p, Vec::new(), now).unwrap();
//! }
//! let join = JoinGroup {
//!     group_id: "orders".into(),
//!     member_id: String::new(),
//!     group_instance_id: None,
//!     client_id: "rdkafka".into(),
//!     client_host: "/10.0.0.7".into(),
//!     protocol_type: "consumer".into(),
//!     protocols: vec![JoinGroupProtocol { name: "range".into(), metadata: Default::default() }],
//!     session_timeout_ms: 10_000,
//!     rebalance_timeout_ms: 60_000,
//!     reason: None,
//!     require_known_member_id: false,
//!     supports_skip_assignment: false,
//! };
//! // The JoinGroup is parked: no response yet, only a deadline to tick at.
//! assert!(coordinator.request(now, RequestToken(1), Request::JoinGroup(join)).is_empty());
//! let deadline = coordinator.next_deadline().unwrap();
//! assert_eq!(deadline, now + 3_000); // group.initial.rebalance.delay.ms
//! let actions = coordinator.tick(deadline);
//! let Action::Respond { token, response: Response::JoinGroup(Ok(joined)) } = &actions[0] else {
//!     unreachable!()
//! };
//! assert_eq!((*token, joined.generation_id), (RequestToken(1), 1));
//! assert_eq!(joined.leader, joined.member_id);
//! ```

mod action;
mod assignor;
mod config;
mod consumer_group;
mod consumer_member;
mod consumer_record;
mod coordinator;
mod error;
mod group;
mod member;
mod partitioning;
mod record;
mod request;
mod response;

pub use action::{Action, OffsetsRecord, PersistId, RequestToken};
pub use assignor::{Assignment, ConsumerAssignor};
pub use config::{
    GroupCoordinatorConfig, DEFAULT_GROUP_INITIAL_REBALANCE_DELAY_MS,
    DEFAULT_OFFSETS_TOPIC_NUM_PARTITIONS,
};
pub use consumer_group::{ConsumerGroupState, TopicMetadata};
pub use consumer_member::{MemberState, LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH};
pub use coordinator::{GroupCoordinator, Input};
pub use error::{
    AppendError, ConfigError, GroupError, LoadError, PartitionOutOfRange, RecordError,
};
pub use group::GroupState;
pub use partitioning::{
    java_string_hash_code, kafka_abs, partition_for_group, CONSUMER_OFFSETS_TOPIC,
};
pub use record::{GroupMetadataValue, MemberRecord, OffsetCommitValue, RecordKey};
pub use request::{
    CompleteTransaction, ConsumerGroupDescribe, ConsumerGroupHeartbeat, DeleteGroups,
    DescribeGroups, Heartbeat, JoinGroup, JoinGroupProtocol, LeaveGroup, ListGroups,
    MemberIdentity, OffsetCommit, OffsetCommitPartition, OffsetDelete, OffsetFetch, Request,
    SyncGroup, TopicPartition, TxnOffsetCommit,
};
pub use response::{
    ConsumerGroupHeartbeatResponse, DescribedConsumerGroup, DescribedConsumerMember,
    DescribedGroup, DescribedMember, FetchedOffset, JoinGroupMember, JoinGroupResponse,
    LeaveGroupMemberResult, ListedGroup, PartitionResults, Response, SyncGroupResponse,
};
