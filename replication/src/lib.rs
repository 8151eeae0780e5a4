//! Replication: leader/follower state per partition (ISR, high watermark,
//! follower fetchers, delayed produce). Skein runs single-node today, so a
//! partition's only replica is its leader and the high watermark is the log's
//! acknowledged end; this crate holds the place the multi-node work will fill.
//!
//! Owns: per-partition replica state. Must not: talk to sockets directly.
