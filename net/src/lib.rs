//! The Kafka protocol server: framing, request header and version
//! negotiation, one handler module per API key, error-code mapping and the
//! zero-copy fetch response writer; the controller listener's wire (raft
//! frames, Kafka's broker-controller messages, forwarded admin requests,
//! metadata fetches) and its client; SASL authentication (PLAIN, SCRAM)
//! of each connection; the data shard's state. The process
//! that runs the shards (and the drivers of the control shard's metadata
//! quorum and group coordinator) is composed by the `skein` binary
//! (`tools/src/node`).
//!
//! Owns: connections and the wire. Must not: hold partition state (that is
//! `skein_replication`'s, on the partition's owner shard: handlers call its
//! typed operations, here or across the mesh).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod admin_http;
pub mod alter_partition;
pub mod authenticator;
pub mod authorized_operations;
mod caller;
mod certificate_subject;
pub mod client_security;
mod cluster_view;
mod connection;
pub mod connection_quota;
pub mod control_forwarding;
pub mod controller_client;
pub mod controller_rpc;
mod dispatch;
pub mod error_code;
pub mod fetch_reads;
pub mod fetch_response;
mod fetch_session;
mod follower_session;
pub mod frame;
mod group_request;
mod handlers;
pub mod isr_driver;
pub mod listener;
pub mod metrics;
pub mod offsets_topic;
mod partition_leadership;
pub mod peer_authentication;
pub mod replica_fetcher;
pub mod replication_quota;
pub mod request;
pub mod response;
mod response_errors;
mod response_writer;
pub mod sasl_login;
pub mod sasl_plain;
pub mod scram;
pub mod shard_message;
pub mod shard_state;
mod supported_apis;
pub mod tls;
pub mod tls_stream;
pub mod tool_client_security;
pub mod tool_client_stream;
mod transaction_request;
mod transaction_verification;

pub use error_code::error_code_name;
pub use listener::ListenerEndpoint;
pub use supported_apis::{SupportedApi, SUPPORTED_APIS};
