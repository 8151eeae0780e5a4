//! The control plane: the metadata log (topic, partition and config records)
//! replayed into an immutable metadata image that every shard receives, and
//! the group coordinator. Runs on the control shard only.
//!
//! Owns: metadata records and their durable log, the image, group state.
//! Must not: block a data shard.

pub mod group_coordinator;
