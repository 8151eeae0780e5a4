//! The leadership rules: ElectLeaders (preferred or unclean), the
//! partitions whose preferred replica could lead but does not (for
//! `auto.leader.rebalance.enable`), and AlterPartition, by which a leader
//! shrinks or expands its ISR. Kafka's `ReplicationControlManager`.

use std::sync::Arc;

use super::brokers::refused;
use super::partition_change::{ElectionType, PartitionChange};
use super::proposal::Proposal;
use super::{ControllerResult, MetadataController};
use crate::error::ControllerError;
use crate::metadata_record::TopicId;
use crate::partition_state::PartitionState;

/// The broker epoch of an ISR member the leader has not heard from in this
/// incarnation (or an AlterPartition below v3): not checked.
pub const UNKNOWN_BROKER_EPOCH: i64 = -1;

/// An AlterPartition request for one partition, from its leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterPartition {
    /// The leader sending it.
    pub broker_id: i32,
    /// Its broker epoch.
    pub broker_epoch: i64,
    /// The partition's topic.
    pub topic_id: TopicId,
    /// The partition.
    pub partition: i32,
    /// The leader epoch the leader is in.
    pub leader_epoch: i32,
    /// The partition epoch the leader last saw.
    pub partition_epoch: i32,
    /// The ISR it wants.
    pub new_isr: Vec<i32>,
    /// The broker epoch of each member of `new_isr`, in order, as the
    /// leader learned it from the member's fetches (KIP-903): a member whose
    /// registered epoch differs restarted since, and may not join on what
    /// its earlier incarnation fetched. `-1` skips the check for a member;
    /// empty (AlterPartition below v3) skips it for all.
    pub new_isr_broker_epochs: Vec<i64>,
}

/// One partition's outcome of ElectLeaders: `(topic, partition, result)`.
pub type ElectionResult = (String, i32, Result<(), ControllerError>);

impl MetadataController {
    /// ElectLeaders of `election` (preferred or unclean) for `partitions`
    /// (`(topic name, partition)`), or for every partition when `None`; one
    /// result per partition asked for, in order. With `None`, partitions
    /// that need no election are left out of the results, as Kafka does.
    ///
    /// A preferred election moves leadership to the first replica if it is
    /// in the ISR and may lead ([`ControllerError::PreferredLeaderNotAvailable`]
    /// otherwise). An unclean one elects a leader for a partition that has
    /// none, from outside the ISR if need be
    /// ([`ControllerError::EligibleLeadersNotAvailable`] if no replica may
    /// lead). An election that would change nothing answers
    /// [`ControllerError::ElectionNotNeeded`].
    pub fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<Vec<(String, i32)>>,
    ) -> ControllerResult<Vec<ElectionResult>> {
        let all = partitions.is_none();
        let wanted = partitions.unwrap_or_else(|| {
            self.image
                .topics()
                .flat_map(|topic| {
                    topic
                        .partition_states()
                        .map(|(partition, _)| (topic.name.clone(), partition))
                })
                .collect()
        });
        let mut proposal = Proposal::new(&self.image);
        let mut results = Vec::with_capacity(wanted.len());
        for (name, partition) in wanted {
            let result = self.elect_leader(&mut proposal, election, &name, partition);
            if all && result == Err(ControllerError::ElectionNotNeeded) {
                continue;
            }
            results.push((name, partition, result));
        }
        ControllerResult {
            records: proposal.into_records(),
            response: results,
        }
    }

    fn elect_leader(
        &self,
        proposal: &mut Proposal<'_>,
        election: ElectionType,
        name: &str,
        partition: i32,
    ) -> Result<(), ControllerError> {
        let image = proposal.image();
        let topic = image
            .topic(name)
            .ok_or_else(|| ControllerError::UnknownTopic(name.to_owned()))?;
        let state = topic
            .partition(partition)
            .ok_or(ControllerError::UnknownPartition { partition })?;
        let already = match election {
            ElectionType::Preferred => state.preferred_leader() == Some(state.leader),
            ElectionType::Online | ElectionType::Unclean => state.is_online(),
        };
        if already {
            return Err(ControllerError::ElectionNotNeeded);
        }
        let record = PartitionChange::new(state, topic.topic_id, partition)
            .election(election)
            .unclean_allowed(election == ElectionType::Unclean || self.unclean_allowed(topic))
            .build(|broker| self.may_lead(image, broker));
        let elected = match &record {
            Some(crate::MetadataRecord::PartitionChange { leader, .. }) => match election {
                ElectionType::Preferred => *leader == state.preferred_leader(),
                ElectionType::Online | ElectionType::Unclean => {
                    leader.is_some_and(|leader| leader != crate::NO_LEADER)
                }
            },
            _ => false,
        };
        if !elected {
            return Err(match election {
                ElectionType::Preferred => ControllerError::PreferredLeaderNotAvailable,
                ElectionType::Online | ElectionType::Unclean => {
                    ControllerError::EligibleLeadersNotAvailable
                }
            });
        }
        proposal.push(record.expect("an election wrote a record"));
        Ok(())
    }

    /// The partitions, as `(topic name, partition)`, not led by their
    /// preferred replica although it is in the ISR and may lead: what a
    /// driver with `auto.leader.rebalance.enable` passes to a preferred
    /// [`MetadataController::elect_leaders`] every
    /// `leader.imbalance.check.interval.seconds`.
    pub fn imbalanced_partitions(&self) -> Vec<(String, i32)> {
        let image = &self.image;
        image
            .topics()
            .flat_map(|topic| {
                topic
                    .partition_states()
                    .filter(|(_, state)| {
                        state.preferred_leader().is_some_and(|preferred| {
                            preferred != state.leader
                                && state.isr.contains(&preferred)
                                && self.may_lead(image, preferred)
                        })
                    })
                    .map(|(partition, _)| (topic.name.clone(), partition))
            })
            .collect()
    }

    /// The imbalanced partitions (see
    /// [`MetadataController::imbalanced_partitions`]) of the preferred
    /// leaders whose share of imbalanced partitions is above
    /// `percentage` % of the partitions they prefer, as Kafka's
    /// `leader.imbalance.per.broker.percentage` check does.
    pub fn partitions_to_rebalance(&self, percentage: u32) -> Vec<(String, i32)> {
        let image = &self.image;
        let mut preferred_counts: std::collections::BTreeMap<i32, usize> = Default::default();
        for topic in image.topics() {
            for (_, state) in topic.partition_states() {
                if let Some(preferred) = state.preferred_leader() {
                    *preferred_counts.entry(preferred).or_default() += 1;
                }
            }
        }
        let imbalanced = self.imbalanced_partitions();
        let mut imbalanced_counts: std::collections::BTreeMap<i32, usize> = Default::default();
        let preferred_of = |name: &str, partition: i32| {
            image
                .topic(name)
                .and_then(|topic| topic.partition(partition))
                .and_then(|state| state.preferred_leader())
        };
        for (name, partition) in &imbalanced {
            if let Some(preferred) = preferred_of(name, *partition) {
                *imbalanced_counts.entry(preferred).or_default() += 1;
            }
        }
        let over = |broker: i32| {
            let total = preferred_counts.get(&broker).copied().unwrap_or(0);
            let off = imbalanced_counts.get(&broker).copied().unwrap_or(0);
            // off / total > percentage / 100, in integers.
            total > 0 && off * 100 > total * percentage as usize
        };
        imbalanced
            .into_iter()
            .filter(|(name, partition)| preferred_of(name, *partition).is_some_and(over))
            .collect()
    }

    /// AlterPartition for one partition: the leader sets its ISR. Checked
    /// as Kafka does, in this order: the sender's broker epoch
    /// ([`ControllerError::StaleBrokerEpoch`]); the topic and partition;
    /// epochs newer than the controller knows ([`ControllerError::NotController`]);
    /// its leader epoch ([`ControllerError::FencedLeaderEpoch`]); the sender
    /// leads ([`ControllerError::InvalidRequest`]); its partition epoch
    /// ([`ControllerError::InvalidUpdateVersion`]); the ISR is distinct
    /// replicas that include the leader ([`ControllerError::InvalidRequest`]);
    /// every member may be in an ISR ([`ControllerError::IneligibleReplica`]:
    /// not registered, shutting down or fenced — KIP-841 — or, KIP-903, its
    /// broker epoch in the request is not `-1` and differs from its
    /// registration's).
    /// Answers the partition's state once the change is committed.
    pub fn alter_partition(
        &self,
        request: AlterPartition,
    ) -> ControllerResult<Result<PartitionState, ControllerError>> {
        let image = Arc::clone(&self.image);
        let checked = self.check_alter_partition(&request);
        let state = match checked {
            Ok(state) => state,
            Err(error) => return refused(error),
        };
        let record = PartitionChange::new(state, request.topic_id, request.partition)
            .isr(request.new_isr)
            .build(|broker| self.may_lead(&image, broker));
        let mut proposal = Proposal::new(&image);
        if let Some(record) = record {
            proposal.push(record);
        }
        let state = proposal
            .image()
            .partition(&request.topic_id, request.partition)
            .expect("checked above")
            .clone();
        ControllerResult {
            records: proposal.into_records(),
            response: Ok(state),
        }
    }

    fn check_alter_partition(
        &self,
        request: &AlterPartition,
    ) -> Result<&PartitionState, ControllerError> {
        let broker_epoch = self
            .image
            .broker(request.broker_id)
            .map_or(-1, |broker| broker.broker_epoch);
        if broker_epoch != request.broker_epoch {
            return Err(ControllerError::StaleBrokerEpoch {
                broker_id: request.broker_id,
                broker_epoch: request.broker_epoch,
                current: broker_epoch,
            });
        }
        let topic = self
            .image
            .topic_by_id(&request.topic_id)
            .ok_or(ControllerError::UnknownTopicId)?;
        let state =
            topic
                .partition(request.partition)
                .ok_or(ControllerError::UnknownPartition {
                    partition: request.partition,
                })?;
        if request.leader_epoch > state.leader_epoch
            || request.partition_epoch > state.partition_epoch
        {
            return Err(ControllerError::NotController);
        }
        // A stale leader epoch first: an old leader learns it was fenced
        // (and waits for the metadata that says so) rather than that its
        // request was malformed.
        if request.leader_epoch < state.leader_epoch {
            return Err(ControllerError::FencedLeaderEpoch {
                requested: request.leader_epoch,
                current: state.leader_epoch,
            });
        }
        if request.broker_id != state.leader {
            return Err(ControllerError::InvalidRequest(
                "AlterPartition from a broker that does not lead the partition",
            ));
        }
        if request.partition_epoch < state.partition_epoch {
            return Err(ControllerError::InvalidUpdateVersion {
                requested: request.partition_epoch,
                current: state.partition_epoch,
            });
        }
        let isr = &request.new_isr;
        let distinct = isr
            .iter()
            .enumerate()
            .all(|(index, member)| !isr[..index].contains(member));
        if !distinct || !isr.iter().all(|member| state.replicas.contains(member)) {
            return Err(ControllerError::InvalidRequest(
                "the ISR must be distinct replicas of the partition",
            ));
        }
        if !isr.contains(&state.leader) {
            return Err(ControllerError::InvalidRequest(
                "the ISR must include the leader",
            ));
        }
        let epochs = &request.new_isr_broker_epochs;
        if !epochs.is_empty() && epochs.len() != isr.len() {
            return Err(ControllerError::InvalidRequest(
                "one broker epoch per ISR member",
            ));
        }
        for (index, member) in isr.iter().copied().enumerate() {
            let epoch = epochs.get(index).copied().unwrap_or(UNKNOWN_BROKER_EPOCH);
            let offline = self
                .replica_offline(member, &request.topic_id, request.partition)
                .then_some("its replica is in an offline log directory");
            if let Some(reason) = self.isr_ineligibility(member, epoch).or(offline) {
                tracing::info!(
                    broker_id = request.broker_id,
                    partition = request.partition,
                    member,
                    reason,
                    "AlterPartition names an ineligible ISR member"
                );
                return Err(ControllerError::IneligibleReplica(member));
            }
        }
        Ok(state)
    }

    /// Why `broker_id`, fetching at `broker_epoch` (`-1`: unknown), may not
    /// be put in an ISR, in Kafka's order (`ineligibleReplicasForIsr`); `None`
    /// when it may.
    fn isr_ineligibility(&self, broker_id: i32, broker_epoch: i64) -> Option<&'static str> {
        let Some(registration) = self.image.broker(broker_id) else {
            return Some("not registered");
        };
        if self.shutting_down(registration) {
            return Some("shutting down");
        }
        if registration.fenced {
            return Some("fenced");
        }
        if broker_epoch != UNKNOWN_BROKER_EPOCH && broker_epoch != registration.broker_epoch {
            return Some("broker epoch mismatch");
        }
        None
    }
}
