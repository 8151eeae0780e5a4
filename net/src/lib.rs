//! The Kafka protocol server: framing, request header and version
//! negotiation, one handler module per API key, error-code mapping and the
//! zero-copy fetch response writer; plus the node that runs the data shards
//! and the control shard.
//!
//! Owns: connections and the wire. Must not: hold partition state (that is
//! the engine's, on the partition's owner shard).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod admin_http;
mod broker_lifecycle;
mod cluster_view;
mod connection;
mod connection_quota;
mod control_shard;
mod controller_client;
pub mod controller_rpc;
mod controller_server;
mod dispatch;
mod error_code;
pub mod fetch_response;
mod fetch_session;
pub mod frame;
mod group_driver;
mod handlers;
mod listener;
mod metadata_upgrade;
mod metrics;
mod node;
mod offsets_topic;
mod partition_leadership;
mod producer_state;
mod quorum_driver;
pub mod request;
pub mod response;
mod response_errors;
mod shard_message;
mod shard_state;
mod supported_apis;
mod tls;
mod tls_stream;

pub use error_code::error_code_name;
pub use listener::ListenerEndpoint;
pub use node::{run_node, NodeError, NodeOptions};
pub use shard_state::AdvertisedAddress;
pub use supported_apis::{SupportedApi, SUPPORTED_APIS};
