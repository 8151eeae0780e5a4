//! The Kafka protocol server: framing, request header and version
//! negotiation, one handler module per API key, error-code mapping and the
//! zero-copy fetch response writer.
//!
//! Owns: connections and the wire. Must not: hold partition state (that is
//! the engine's, on the partition's owner shard).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
