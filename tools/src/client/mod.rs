//! A blocking Kafka protocol client: one TCP connection per broker, version
//! negotiation through ApiVersions, typed requests and responses with the
//! `kafka-protocol` crate, and the few cluster operations the tools need
//! (metadata, topic creation, offset lookup, record-set inspection).
//!
//! It speaks only the wire protocol, so it works against any
//! Kafka-compatible broker, not just Skein. It is deliberately simple: plain
//! `std::net` sockets, no async runtime. A [`Connection`] can be
//! [split](Connection::split) into a [`RequestWriter`] and a
//! [`ResponseReader`] so one thread pipelines requests while another reads
//! the (in-order) responses.

// The admin subcommands (`skein topic|group|cluster`) are to reuse this
// whole API; until they land, `bench` uses only part of it.
#![allow(dead_code, unused_imports)]

mod acls;
mod api_versions;
mod cluster;
mod configs;
mod connection;
mod error;
mod fetch;
mod group_offsets;
mod groups;
mod list_offsets;
mod metadata;
mod offsets_for_times;
pub mod partitioner;
mod produce;
pub(crate) mod quorum;
mod reassignments;
mod record_set;
mod response_error;
mod scram_users;
mod topic;
mod topic_admin;

pub use api_versions::ApiVersionTable;
pub use cluster::{ClusterBroker, ClusterDescription};
pub use configs::{ConfigChange, ConfigEntry, ConfigResource};
pub use connection::{
    decode_response, Connection, ConnectionConfig, PendingResponse, RequestWriter, ResponseReader,
};
pub use error::{error_code_name, ClientError};
pub use fetch::FetchedRecords;
pub use group_offsets::CommittedOffsets;
pub use groups::{GroupDescription, GroupMember, ListedGroup};
pub use list_offsets::OffsetSpec;
pub use metadata::{BrokerAddress, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use quorum::{QuorumDescription, QuorumReplica};
pub use reassignments::OngoingReassignment;
pub use record_set::{plain_record, BatchHeader, BatchHeaders, BATCH_HEADER_BYTES};
pub use scram_users::ScramUser;
pub use topic::{TopicCreation, TopicSpec};
