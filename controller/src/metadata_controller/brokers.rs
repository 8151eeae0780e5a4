//! The broker rules: registration (a new incarnation gets a new broker
//! epoch and starts fenced), heartbeats (unfence once caught up, fence on
//! request, controlled shutdown), the session timeout that fences a silent
//! broker, and unregistration. Kafka's `ClusterControlManager` with its
//! `BrokerHeartbeatManager`.
//!
//! Invariant: a broker that is fenced, shutting down or unregistered leads
//! no partition and is in no ISR except as the last member of an offline
//! partition's.

use std::sync::Arc;

use super::partition_change::PartitionChange;
use super::proposal::Proposal;
use super::{BrokerSession, ControllerResult, MetadataController};
use crate::broker_registration::BrokerRegistration;
use crate::error::ControllerError;
use crate::image::{MetadataImage, TopicImage};
use crate::metadata_record::{BrokerEndpoint, IncarnationId, MetadataRecord, NO_LEADER};

/// A BrokerRegistration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBrokerRegistration {
    /// The broker's `node.id`, at least 0.
    pub broker_id: i32,
    /// Drawn at random each time the broker process starts.
    pub incarnation_id: IncarnationId,
    /// Its listeners, at most [`LISTENERS_MAX`](crate::LISTENERS_MAX).
    pub listeners: Vec<BrokerEndpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
}

/// A BrokerHeartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerHeartbeat {
    /// The broker.
    pub broker_id: i32,
    /// The epoch its registration was given.
    pub broker_epoch: i64,
    /// The offset of the last metadata record the broker has applied; -1
    /// for none.
    pub caught_up_offset: i64,
    /// It asks to be fenced.
    pub want_fence: bool,
    /// It asks for a controlled shutdown.
    pub want_shutdown: bool,
    /// Its log directories that have failed (BrokerHeartbeat v1
    /// `OfflineLogDirs`): its replicas in them lose their leaderships and
    /// ISR places (KIP-858).
    pub offline_log_dirs: Vec<super::DirectoryId>,
}

/// The answer to a heartbeat, true once its records are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerHeartbeatReply {
    /// The broker has applied the metadata up to its own registration.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// The broker may stop now: its leaderships have moved and it knows.
    pub should_shut_down: bool,
}

impl MetadataController {
    /// BrokerRegistration at time `now_ms`: the new broker epoch. The broker
    /// starts fenced. A retry from the registered incarnation gets its epoch
    /// again and writes nothing. A new incarnation is refused while the
    /// registered one is unfenced and its session alive
    /// ([`ControllerError::DuplicateBrokerRegistration`])
    /// or if a later incarnation already replaced it
    /// ([`ControllerError::StaleBrokerIncarnation`]); otherwise the old one
    /// loses its leaderships and ISR places and the new one is recorded,
    /// its epoch the offset of its registration record.
    ///
    /// # Errors
    /// Besides the two above, [`ControllerError::InvalidRequest`] for a
    /// negative broker id, more than [`LISTENERS_MAX`](crate::LISTENERS_MAX)
    /// listeners, or a listener name, host or rack longer than a record
    /// holds (65 535 bytes).
    pub fn register_broker(
        &mut self,
        registration: NewBrokerRegistration,
        now_ms: u64,
    ) -> ControllerResult<Result<i64, ControllerError>> {
        if let Err(error) = check_registration(&registration) {
            return refused(error);
        }
        let broker_id = registration.broker_id;
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        if let Some(existing) = image.broker(broker_id) {
            if existing
                .retired_incarnations
                .contains(&registration.incarnation_id)
            {
                return refused(ControllerError::StaleBrokerIncarnation(broker_id));
            }
            if existing.incarnation_id == registration.incarnation_id {
                self.touch(broker_id, existing.broker_epoch, now_ms);
                return ControllerResult {
                    records: Vec::new(),
                    response: Ok(existing.broker_epoch),
                };
            }
            // A fenced broker has no session to protect (Kafka's
            // `hasValidSession`): one that shut down may restart at once.
            if !existing.fenced && self.session_alive(broker_id, existing.broker_epoch, now_ms) {
                return refused(ControllerError::DuplicateBrokerRegistration(broker_id));
            }
            self.remove_from_partitions(&mut proposal, broker_id);
        }
        let broker_epoch = i64::try_from(proposal.image().version).expect("offsets fit i64");
        proposal.push(MetadataRecord::BrokerRegistration {
            broker_id,
            incarnation_id: registration.incarnation_id,
            broker_epoch,
            listeners: registration.listeners,
            rack: registration.rack,
        });
        self.sessions.insert(
            broker_id,
            BrokerSession {
                broker_epoch,
                last_contact_ms: now_ms,
                shutting_down: false,
                shutdown_offset: None,
            },
        );
        ControllerResult {
            records: proposal.into_records(),
            response: Ok(broker_epoch),
        }
    }

    /// BrokerHeartbeat at time `now_ms`. Renews the broker's session, then:
    /// a controlled shutdown moves its leaderships away (and takes it out of
    /// every ISR) and, once its metadata has caught up with that, fences it
    /// and tells it to stop; a fence request fences it; a fenced broker
    /// that has caught up with its own registration is unfenced, and
    /// offline partitions it can lead get it as leader.
    ///
    /// # Errors
    /// [`ControllerError::BrokerIdNotRegistered`], or
    /// [`ControllerError::StaleBrokerEpoch`] for another registration's
    /// epoch.
    pub fn broker_heartbeat(
        &mut self,
        heartbeat: BrokerHeartbeat,
        now_ms: u64,
    ) -> ControllerResult<Result<BrokerHeartbeatReply, ControllerError>> {
        let broker_id = heartbeat.broker_id;
        let Some(broker) = self.image.broker(broker_id) else {
            return refused(ControllerError::BrokerIdNotRegistered(broker_id));
        };
        if broker.broker_epoch != heartbeat.broker_epoch {
            return refused(ControllerError::StaleBrokerEpoch {
                broker_id,
                broker_epoch: heartbeat.broker_epoch,
                current: broker.broker_epoch,
            });
        }
        let fenced = broker.fenced;
        let broker_epoch = broker.broker_epoch;
        let is_caught_up = heartbeat.caught_up_offset >= broker_epoch;
        self.touch(broker_id, broker_epoch, now_ms);
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        let mut should_shut_down = false;
        if heartbeat.want_shutdown {
            if fenced {
                should_shut_down = true;
            } else {
                self.session_mut(broker_id).shutting_down = true;
                self.remove_from_partitions(&mut proposal, broker_id);
                if proposal.len() > 0 {
                    let last = proposal.image().version - 1;
                    self.session_mut(broker_id).shutdown_offset = Some(last);
                } else {
                    let waits_for = self.session_mut(broker_id).shutdown_offset;
                    should_shut_down = waits_for.is_none_or(|offset| {
                        u64::try_from(heartbeat.caught_up_offset).is_ok_and(|at| at >= offset)
                    });
                    if should_shut_down {
                        proposal.push(MetadataRecord::BrokerFenced {
                            broker_id,
                            broker_epoch,
                        });
                    }
                }
            }
        } else if heartbeat.want_fence {
            if !fenced {
                self.fence(&mut proposal, broker_id, broker_epoch);
            }
        } else if fenced && is_caught_up {
            proposal.push(MetadataRecord::BrokerUnfenced {
                broker_id,
                broker_epoch,
            });
            self.elect_offline_partitions(&mut proposal, broker_id);
        }
        self.report_offline_directories(
            &mut proposal,
            broker_id,
            broker_epoch,
            &heartbeat.offline_log_dirs,
        );
        let is_fenced = !proposal.image().is_live(broker_id);
        ControllerResult {
            records: proposal.into_records(),
            response: Ok(BrokerHeartbeatReply {
                is_caught_up,
                is_fenced,
                should_shut_down,
            }),
        }
    }

    /// The session timeout at time `now_ms`: every unfenced broker whose
    /// last heartbeat is more than `broker.session.timeout.ms` old is
    /// fenced, and its partitions get new leaders. A broker this controller
    /// has not heard from yet (it just became active) starts its session
    /// now. Returns the fenced brokers.
    pub fn tick(&mut self, now_ms: u64) -> ControllerResult<Vec<i32>> {
        let timeout = self.settings.broker_session_timeout_ms;
        let mut expired = Vec::new();
        for broker in self.image.live_brokers() {
            let session = self
                .sessions
                .entry(broker.broker_id)
                .or_insert(BrokerSession {
                    broker_epoch: broker.broker_epoch,
                    last_contact_ms: now_ms,
                    shutting_down: false,
                    shutdown_offset: None,
                });
            if session.broker_epoch != broker.broker_epoch {
                *session = BrokerSession {
                    broker_epoch: broker.broker_epoch,
                    last_contact_ms: now_ms,
                    shutting_down: false,
                    shutdown_offset: None,
                };
            }
            if now_ms.saturating_sub(session.last_contact_ms) > timeout {
                expired.push((broker.broker_id, broker.broker_epoch));
            }
        }
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        for (broker_id, broker_epoch) in &expired {
            tracing::warn!(broker_id, "broker session expired; fencing it");
            self.fence(&mut proposal, *broker_id, *broker_epoch);
        }
        ControllerResult {
            records: proposal.into_records(),
            response: expired
                .into_iter()
                .map(|(broker_id, _)| broker_id)
                .collect(),
        }
    }

    /// Forgets every broker session: a controller that just became active
    /// gives each live broker a fresh session at its next tick (Kafka's
    /// `BrokerHeartbeatManager` is rebuilt on activation), so sessions from
    /// an earlier term of its never fence a broker that heartbeated to
    /// another controller meanwhile.
    pub fn reset_broker_sessions(&mut self) {
        self.sessions.clear();
    }

    /// UnregisterBroker: the broker loses its leaderships and ISR places
    /// and its registration is removed.
    ///
    /// # Errors
    /// [`ControllerError::BrokerIdNotRegistered`].
    pub fn unregister_broker(
        &mut self,
        broker_id: i32,
    ) -> ControllerResult<Result<(), ControllerError>> {
        let Some(broker) = self.image.broker(broker_id) else {
            return refused(ControllerError::BrokerIdNotRegistered(broker_id));
        };
        let broker_epoch = broker.broker_epoch;
        let image = Arc::clone(&self.image);
        let mut proposal = Proposal::new(&image);
        self.remove_from_partitions(&mut proposal, broker_id);
        proposal.push(MetadataRecord::BrokerUnregistered {
            broker_id,
            broker_epoch,
        });
        self.sessions.remove(&broker_id);
        ControllerResult {
            records: proposal.into_records(),
            response: Ok(()),
        }
    }

    /// Whether `broker_id` may lead, and may join an ISR or take a new
    /// replica, in `image`: registered, unfenced and not shutting down.
    pub(super) fn may_lead(&self, image: &MetadataImage, broker_id: i32) -> bool {
        let Some(broker) = image.broker(broker_id) else {
            return false;
        };
        !broker.fenced && !self.shutting_down(broker)
    }

    /// Whether the registration `broker` is in a controlled shutdown.
    pub(super) fn shutting_down(&self, broker: &BrokerRegistration) -> bool {
        self.sessions.get(&broker.broker_id).is_some_and(|session| {
            session.broker_epoch == broker.broker_epoch && session.shutting_down
        })
    }

    /// Whether `topic` may elect a leader from outside its ISR.
    pub(super) fn unclean_allowed(&self, topic: &TopicImage) -> bool {
        match topic.configs.get("unclean.leader.election.enable") {
            Some(value) => value == "true",
            None => self.settings.unclean_leader_election_enable,
        }
    }

    /// Fences the broker: it leaves every ISR and loses its leaderships,
    /// then a `BrokerFenced` record.
    fn fence(&self, proposal: &mut Proposal<'_>, broker_id: i32, broker_epoch: i64) {
        self.remove_from_partitions(proposal, broker_id);
        proposal.push(MetadataRecord::BrokerFenced {
            broker_id,
            broker_epoch,
        });
    }

    /// One change per partition whose ISR holds `broker_id` or that it
    /// leads: out of the ISR (unless it is the last member), and a new
    /// leader elected without it.
    fn remove_from_partitions(&self, proposal: &mut Proposal<'_>, broker_id: i32) {
        self.remove_from_partitions_where(proposal, broker_id, |_, _| true);
    }

    /// [`MetadataController::remove_from_partitions`] for the partitions
    /// `(topic id, partition)` that `wanted` accepts.
    pub(super) fn remove_from_partitions_where(
        &self,
        proposal: &mut Proposal<'_>,
        broker_id: i32,
        wanted: impl Fn(&crate::metadata_record::TopicId, i32) -> bool,
    ) {
        let image = proposal.image();
        let mut records = Vec::new();
        for topic in image.topics() {
            let unclean = self.unclean_allowed(topic);
            for (partition, state) in topic.partition_states() {
                if !state.isr.contains(&broker_id) && state.leader != broker_id {
                    continue;
                }
                if !wanted(&topic.topic_id, partition) {
                    continue;
                }
                let isr = state
                    .isr
                    .iter()
                    .copied()
                    .filter(|member| *member != broker_id)
                    .collect();
                let record = PartitionChange::new(state, topic.topic_id, partition)
                    .isr(isr)
                    .unclean_allowed(unclean)
                    .build(|candidate| candidate != broker_id && self.may_lead(image, candidate));
                records.extend(record);
            }
        }
        for record in records {
            proposal.push(record);
        }
    }

    /// One change per offline partition that `broker_id` (just unfenced)
    /// replicates: a leader, if one may now be elected.
    fn elect_offline_partitions(&self, proposal: &mut Proposal<'_>, broker_id: i32) {
        let image = proposal.image();
        let mut records = Vec::new();
        for topic in image.topics() {
            let unclean = self.unclean_allowed(topic);
            for (partition, state) in topic.partition_states() {
                if state.leader != NO_LEADER || !state.replicas.contains(&broker_id) {
                    continue;
                }
                let record = PartitionChange::new(state, topic.topic_id, partition)
                    .unclean_allowed(unclean)
                    .build(|candidate| self.may_lead(image, candidate));
                records.extend(record);
            }
        }
        for record in records {
            proposal.push(record);
        }
    }

    fn session_alive(&self, broker_id: i32, broker_epoch: i64, now_ms: u64) -> bool {
        self.sessions.get(&broker_id).is_some_and(|session| {
            session.broker_epoch == broker_epoch
                && now_ms.saturating_sub(session.last_contact_ms)
                    <= self.settings.broker_session_timeout_ms
        })
    }

    /// Renews the session of the registration of `broker_epoch`.
    fn touch(&mut self, broker_id: i32, broker_epoch: i64, now_ms: u64) {
        let session = self.sessions.entry(broker_id).or_insert(BrokerSession {
            broker_epoch,
            last_contact_ms: now_ms,
            shutting_down: false,
            shutdown_offset: None,
        });
        if session.broker_epoch != broker_epoch {
            *session = BrokerSession {
                broker_epoch,
                last_contact_ms: now_ms,
                shutting_down: false,
                shutdown_offset: None,
            };
        }
        session.last_contact_ms = session.last_contact_ms.max(now_ms);
    }

    fn session_mut(&mut self, broker_id: i32) -> &mut BrokerSession {
        self.sessions
            .get_mut(&broker_id)
            .expect("a heartbeat touches its session first")
    }
}

/// Refuses what a registration record cannot hold.
fn check_registration(registration: &NewBrokerRegistration) -> Result<(), ControllerError> {
    if registration.broker_id < 0 {
        return Err(ControllerError::InvalidRequest("negative broker id"));
    }
    if registration.listeners.len() > crate::LISTENERS_MAX {
        return Err(ControllerError::InvalidRequest("too many listeners"));
    }
    let too_long = |text: &str| text.len() > usize::from(u16::MAX);
    let long_listener = registration
        .listeners
        .iter()
        .any(|listener| too_long(&listener.name) || too_long(&listener.host));
    if long_listener || registration.rack.as_deref().is_some_and(too_long) {
        return Err(ControllerError::InvalidRequest(
            "listener or rack name too long",
        ));
    }
    Ok(())
}

/// A refusal: nothing to commit.
pub(super) fn refused<T>(error: ControllerError) -> ControllerResult<Result<T, ControllerError>> {
    ControllerResult {
        records: Vec::new(),
        response: Err(error),
    }
}
