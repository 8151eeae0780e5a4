//! A registered broker as the committed metadata says: the incarnation that
//! registered, its broker epoch (the offset of its registration record),
//! where to reach it, its rack, and whether it is fenced.
//!
//! Invariant: a broker is fenced from its registration until a heartbeat
//! shows it caught up; a fenced broker leads nothing and is in no ISR of
//! more than one member.

use crate::metadata_record::{BrokerEndpoint, IncarnationId};

/// How many superseded incarnations of one broker the image remembers, to
/// refuse a registration from a process that has since been replaced.
pub const RETIRED_INCARNATIONS_MAX: usize = 8;

/// One registered broker (Kafka's `BrokerRegistration`).
///
/// Lives on: the control shard, and every shard through the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// The broker's `node.id`.
    pub broker_id: i32,
    /// The incarnation that registered last.
    pub incarnation_id: IncarnationId,
    /// The offset of the registration record: heartbeats must name it.
    pub broker_epoch: i64,
    /// Its listeners, by name.
    pub listeners: Vec<BrokerEndpoint>,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
    /// Whether it is fenced (may not lead or be in an ISR).
    pub fenced: bool,
    /// Earlier incarnations of this broker, newest last, at most
    /// [`RETIRED_INCARNATIONS_MAX`]: a registration from one is stale.
    pub retired_incarnations: Vec<IncarnationId>,
}

impl BrokerRegistration {
    /// The endpoint of listener `name`.
    pub fn listener(&self, name: &str) -> Option<&BrokerEndpoint> {
        self.listeners.iter().find(|listener| listener.name == name)
    }
}
