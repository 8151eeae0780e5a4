//! The ISR driver: how a leader's ISR changes go through the active
//! controller, as Kafka's `ReplicaManager` isr-expiration task and
//! `AlterPartitionManager` do. Per data shard, for every partition it leads
//! with followers: every `replica.lag.time.max.ms / 2` it proposes to drop
//! the followers that have not caught up for `replica.lag.time.max.ms`
//! ([`Partition::isr_to_shrink`]); more often (Kafka checks on each
//! follower fetch) it proposes to add the followers whose log reached the
//! high watermark and this leader epoch's start
//! ([`Partition::isr_to_expand`]). The leader never changes its ISR alone:
//! it marks the proposal pending ([`Partition::propose_isr`]: one per
//! partition, the high watermark waits for the union of both ISRs), sends
//! every pending proposal of the shard in one AlterPartition to the active
//! controller over the controller listener, applies what the controller
//! committed ([`Partition::commit_isr`]; the image that records it follows),
//! and reacts to refusals as `alter_partition` says (abandon, wait for the
//! metadata, or retry).
//!
//! A node's data shards each keep their own controller connection; a lost
//! connection or NOT_CONTROLLER moves on to the controller the control
//! shard names, else to the next voter. Lives on: each data shard.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::messages::{AlterPartitionResponse, ApiKey};
use skein_controller::MetadataImage;
use skein_replication::{BrokerId, Partition, PartitionKey};

use crate::alter_partition::{build_request, outcomes, IsrOutcome, IsrProposal};
use crate::controller_client::ControllerConnection;
use crate::controller_rpc::ALTER_PARTITION_VERSION;
use crate::error_code::ErrorCode;
use crate::shard_state::{now_ms, ShardState};

/// How often followers that caught up are looked for (Kafka looks on each
/// of their fetches; a short poll keeps the fetch path free of it).
const EXPAND_CHECK_MS: i64 = 100;

/// Where a partition's proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// To send (new, or to retry).
    Send,
    /// Answered (committed, or refused for a stale view): pending until
    /// the partition's replica set no longer holds it.
    Settling,
}

#[derive(Debug)]
struct Pending {
    proposal: IsrProposal,
    stage: Stage,
}

/// Runs the shard's ISR driver until the task is cancelled.
pub async fn run(ctx: Rc<ShardState>) {
    let lag_max_ms = ctx.config.replica_lag_time_max_ms().max(1);
    let shrink_interval_ms = (lag_max_ms / 2).max(1);
    let tick_ms = shrink_interval_ms.min(EXPAND_CHECK_MS);
    let tick = Duration::from_millis(u64::try_from(tick_ms).unwrap_or(1));
    let mut pending: HashMap<PartitionKey, Pending> = HashMap::new();
    let mut link: Option<(i32, ControllerConnection)> = None;
    let mut next_voter = 0usize;
    let mut last_shrink_check = now_ms();
    loop {
        glommio::timer::sleep(tick).await;
        if ctx.is_stopping() {
            return;
        }
        let now = now_ms();
        let shrink_due = now - last_shrink_check >= shrink_interval_ms;
        if shrink_due {
            last_shrink_check = now;
        }
        let image = ctx.image();
        let led = ctx.leader_partitions();
        settle(&mut pending, &led);
        for (key, partition) in &led {
            if pending.contains_key(key) {
                continue;
            }
            let wanted = eligible_expansion(&image, partition).or_else(|| {
                shrink_due
                    .then(|| partition.isr_to_shrink(now, lag_max_ms))
                    .flatten()
            });
            let Some(isr) = wanted else {
                continue;
            };
            if let Some(proposal) = propose(&image, ctx.config.node_id(), key, partition, isr) {
                pending.insert(
                    *key,
                    Pending {
                        proposal,
                        stage: Stage::Send,
                    },
                );
            }
        }
        let mut keys: Vec<PartitionKey> = pending
            .iter()
            .filter(|(_, p)| p.stage == Stage::Send)
            .map(|(key, _)| *key)
            .collect();
        if keys.is_empty() {
            continue;
        }
        keys.sort_unstable();
        let local = ctx.config.node_id();
        let Some(broker_epoch) = image.broker(local).map(|b| b.broker_epoch) else {
            // Not registered yet: nothing can be asked.
            continue;
        };
        let proposals: Vec<IsrProposal> = keys
            .iter()
            .filter_map(|key| pending.get(key).map(|p| p.proposal.clone()))
            .collect();
        let request = build_request(local, broker_epoch, &proposals);
        let Some(response) = call(&ctx, &mut link, &mut next_voter, &request).await else {
            continue;
        };
        if response.error_code == ErrorCode::NotController.code() {
            link = None;
        }
        let now = now_ms();
        for (key, outcome) in keys.iter().zip(outcomes(&response, &proposals)) {
            let Some(entry) = pending.get_mut(key) else {
                continue;
            };
            let partition = led.iter().find(|(k, _)| k == key).map(|(_, p)| p);
            match outcome {
                IsrOutcome::Committed {
                    isr,
                    leader_epoch,
                    partition_epoch,
                } => {
                    tracing::info!(
                        partition = key.1,
                        ?isr,
                        partition_epoch,
                        "ISR change committed"
                    );
                    let applied = partition.is_some_and(|partition| {
                        partition.commit_isr(isr, leader_epoch, partition_epoch, now)
                    });
                    if applied {
                        entry.stage = Stage::Settling;
                    } else {
                        // The image got there first (or the controller
                        // changed nothing): the proposal is over.
                        if let Some(partition) = partition {
                            partition.abandon_proposed_isr();
                        }
                        pending.remove(key);
                    }
                }
                IsrOutcome::Abandon(code) => {
                    tracing::info!(
                        partition = key.1,
                        code,
                        "ISR change refused; back to the committed ISR"
                    );
                    if let Some(partition) = partition {
                        partition.abandon_proposed_isr();
                    }
                    pending.remove(key);
                }
                IsrOutcome::AwaitMetadata(code) => {
                    tracing::debug!(
                        partition = key.1,
                        code,
                        "ISR change refused; awaiting newer metadata"
                    );
                    entry.stage = Stage::Settling;
                }
                IsrOutcome::Retry(code) => {
                    tracing::debug!(partition = key.1, code, "ISR change not made; retrying");
                    entry.stage = Stage::Send;
                }
            }
        }
    }
}

/// The expansion of `partition`'s ISR to propose, without the followers
/// that may not join (Kafka's `isReplicaIsrEligible`): fenced or
/// unregistered in the image, or — KIP-903 — whose last fetch carried
/// another broker epoch than their registration has now (a follower that
/// restarted, perhaps with an empty disk, joins only once it has caught up
/// as its new incarnation). The controller would answer INELIGIBLE_REPLICA.
/// `None` when no eligible follower joins.
fn eligible_expansion(image: &MetadataImage, partition: &Partition) -> Option<Vec<BrokerId>> {
    let mut expanded = partition.isr_to_expand()?;
    let set = partition.replica_set()?;
    let committed = set.isr().len();
    let mut index = 0;
    expanded.retain(|broker| {
        let registered = image
            .broker(*broker)
            .filter(|b| !b.fenced)
            .map(|b| b.broker_epoch);
        let keep = index < committed || set.broker_epoch_isr_eligible(*broker, registered);
        index += 1;
        keep
    });
    (expanded.len() > committed).then_some(expanded)
}

/// Forgets the proposals that are over: the partition is gone, no longer
/// led at that epoch, or its replica set no longer holds the proposal (an
/// image committed it or replaced the leader's state).
fn settle(pending: &mut HashMap<PartitionKey, Pending>, led: &[(PartitionKey, Rc<Partition>)]) {
    pending.retain(|key, entry| {
        let Some((_, partition)) = led.iter().find(|(k, _)| k == key) else {
            return false;
        };
        let Some(set) = partition.replica_set() else {
            return false;
        };
        let proposed: Vec<BrokerId> = entry.proposal.isr.iter().map(|(b, _)| *b).collect();
        set.leader_epoch() == entry.proposal.leader_epoch
            && set.proposed_isr() == Some(proposed.as_slice())
    });
}

/// Marks `isr` pending on `partition` and returns the proposal to send,
/// each member with its broker epoch as Kafka's `addBrokerEpochToIsr` sets
/// it: this broker's own from `image`, each follower's from its last fetch
/// (-1 when it has not fetched in this leader epoch; the controller then
/// does not check it).
fn propose(
    image: &MetadataImage,
    local: BrokerId,
    key: &PartitionKey,
    partition: &Partition,
    isr: Vec<BrokerId>,
) -> Option<IsrProposal> {
    let set = partition.replica_set()?;
    tracing::info!(
        partition = key.1,
        from = ?set.isr(),
        to = ?isr,
        leader_epoch = set.leader_epoch(),
        partition_epoch = set.partition_epoch(),
        "proposing an ISR change to the controller"
    );
    let members = isr
        .iter()
        .map(|broker| {
            let epoch = if *broker == local {
                image.broker(local).map_or(-1, |b| b.broker_epoch)
            } else {
                set.fetched_broker_epoch(*broker)
            };
            (*broker, epoch)
        })
        .collect();
    partition.propose_isr(isr);
    Some(IsrProposal {
        topic_id: key.0,
        partition: key.1,
        leader_epoch: set.leader_epoch(),
        partition_epoch: set.partition_epoch(),
        isr: members,
    })
}

/// Sends `request` to the active controller (the one the control shard
/// names, else the next voter), connecting as needed. `None` when no
/// controller answered; the connection is dropped then.
async fn call(
    ctx: &ShardState,
    link: &mut Option<(i32, ControllerConnection)>,
    next_voter: &mut usize,
    request: &kafka_protocol::messages::AlterPartitionRequest,
) -> Option<AlterPartitionResponse> {
    let voters = ctx.config.quorum_voters();
    let active = ctx.controller_id.load(Ordering::Relaxed);
    let target = if active >= 0 {
        active
    } else {
        *next_voter = next_voter.wrapping_add(1);
        voters
            .get(*next_voter % voters.len().max(1))
            .map_or(-1, |voter| voter.node_id)
    };
    if link.as_ref().is_none_or(|(id, _)| *id != target) {
        *link = None;
        let voter = voters.iter().find(|voter| voter.node_id == target)?;
        let address = format!("{}:{}", voter.host, voter.port);
        match ControllerConnection::connect_to(&address, &ctx.peer_security.controller).await {
            Ok(connection) => *link = Some((target, connection)),
            Err(error) => {
                tracing::debug!(controller = target, %address, %error, "controller unreachable for AlterPartition");
                return None;
            }
        }
    }
    let (_, connection) = link.as_mut()?;
    match connection
        .call::<_, AlterPartitionResponse>(ApiKey::AlterPartition, ALTER_PARTITION_VERSION, request)
        .await
    {
        Ok(response) => Some(response),
        Err(error) => {
            tracing::debug!(controller = target, %error, "AlterPartition failed; retrying");
            *link = None;
            None
        }
    }
}
