//! Whether this broker may serve a partition: only its leader answers
//! Produce, consumer Fetch, ListOffsets, OffsetForLeaderEpoch and
//! DeleteRecords, and a request that names a leader epoch must name the
//! current one. Kafka's `Partition.checkCurrentLeaderEpoch` and
//! `ReplicaManager.getPartitionOrError`, from the metadata image; and the
//! role the image gives this broker's replica.

use skein_controller::{MetadataImage, TopicImage};
use skein_replication::{ReplicaAssignment, Role};

use crate::error_code::ErrorCode;

/// A request's `current_leader_epoch` that asks for no check.
pub const NO_LEADER_EPOCH: i32 = -1;

/// `Ok` if this broker leads `partition` of `topic` in `image` and
/// `current_leader_epoch` (unless [`NO_LEADER_EPOCH`] or lower) is the
/// partition's leader epoch: NOT_LEADER_OR_FOLLOWER when another broker (or
/// none) leads, FENCED_LEADER_EPOCH for an older epoch, UNKNOWN_LEADER_EPOCH
/// for a newer one. A partition with no replica state (a single-node log
/// from before replicas were recorded) is led here at epoch 0.
///
/// # Errors
/// The error code to answer for the partition.
pub fn check_leader(
    image: &MetadataImage,
    topic: &TopicImage,
    partition: i32,
    current_leader_epoch: i32,
) -> Result<(), ErrorCode> {
    let (leader, leader_epoch) = match topic.partition(partition) {
        Some(state) => (state.leader, state.leader_epoch),
        None => (image.local_broker_id(), 0),
    };
    if leader != image.local_broker_id() {
        return Err(ErrorCode::NotLeaderOrFollower);
    }
    match current_leader_epoch {
        epoch if epoch <= NO_LEADER_EPOCH => Ok(()),
        epoch if epoch < leader_epoch => Err(ErrorCode::FencedLeaderEpoch),
        epoch if epoch > leader_epoch => Err(ErrorCode::UnknownLeaderEpoch),
        _ => Ok(()),
    }
}

/// The role `image` gives this broker's replica of `partition` of `topic`:
/// leader at the partition's leader epoch when the image names this broker
/// its leader, else a follower of the named leader (-1: none). A partition
/// with no replica state (a single-node log from before replicas were
/// recorded) is led here at epoch 0.
pub fn replica_role(image: &MetadataImage, topic: &TopicImage, partition: i32) -> Role {
    match topic.partition(partition) {
        None => Role::Leader { leader_epoch: 0 },
        Some(state) if state.leader == image.local_broker_id() => Role::Leader {
            leader_epoch: state.leader_epoch,
        },
        Some(state) => Role::Follower {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
        },
    }
}

/// The replicas and ISR `image` records for `partition` of `topic`, seen
/// from this broker. A partition with no replica state (a single-node log
/// from before replicas were recorded) is held by this broker alone.
pub fn replica_assignment(
    image: &MetadataImage,
    topic: &TopicImage,
    partition: i32,
) -> ReplicaAssignment {
    let local_broker = image.local_broker_id();
    match topic.partition(partition) {
        None => ReplicaAssignment::single(local_broker),
        Some(state) => ReplicaAssignment {
            local_broker,
            replicas: state.replicas.clone(),
            isr: state.isr.clone(),
            partition_epoch: state.partition_epoch,
        },
    }
}

/// A topic's `min.insync.replicas`: its override, else the broker default,
/// else Kafka's default of 1.
pub fn min_insync_replicas(config: &skein_controller::BrokerConfig, topic: &TopicImage) -> i32 {
    const NAME: &str = "min.insync.replicas";
    topic
        .configs
        .get(NAME)
        .cloned()
        .or_else(|| config.topic_default(NAME))
        .and_then(|value| value.parse().ok())
        .unwrap_or(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use skein_controller::MetadataRecord;

    use super::*;

    const TOPIC: [u8; 16] = [7; 16];

    /// Topic "t" with partition 0 led by `leader` at epoch 3 and partition
    /// 1 without replica state, seen from broker `local`.
    fn image(local: i32, leader: i32) -> MetadataImage {
        let mut image = MetadataImage::new(local);
        image.apply(&MetadataRecord::Topic {
            topic_id: TOPIC,
            name: "t".into(),
            partitions: 2,
            configs: Vec::new(),
        });
        image.apply(&MetadataRecord::Partition {
            topic_id: TOPIC,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            leader,
            leader_epoch: 3,
            partition_epoch: 5,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        });
        image
    }

    fn check(image: &MetadataImage, partition: i32, epoch: i32) -> Result<(), ErrorCode> {
        let topic = image.topic("t").unwrap();
        check_leader(image, topic, partition, epoch)
    }

    #[test]
    fn only_the_leader_serves_at_its_epoch() {
        let leader = image(2, 2);
        assert_eq!(check(&leader, 0, NO_LEADER_EPOCH), Ok(()));
        assert_eq!(check(&leader, 0, 3), Ok(()));
        assert_eq!(check(&leader, 0, 2), Err(ErrorCode::FencedLeaderEpoch));
        assert_eq!(check(&leader, 0, 4), Err(ErrorCode::UnknownLeaderEpoch));
        let follower = image(1, 2);
        assert_eq!(
            check(&follower, 0, NO_LEADER_EPOCH),
            Err(ErrorCode::NotLeaderOrFollower)
        );
        let offline = image(2, -1);
        assert_eq!(check(&offline, 0, 3), Err(ErrorCode::NotLeaderOrFollower));
    }

    #[test]
    fn a_partition_without_replica_state_is_led_here_at_epoch_zero() {
        let image = image(1, 2);
        assert_eq!(check(&image, 1, 0), Ok(()));
        assert_eq!(check(&image, 1, 1), Err(ErrorCode::UnknownLeaderEpoch));
        let topic = image.topic("t").unwrap();
        assert_eq!(
            replica_role(&image, topic, 1),
            Role::Leader { leader_epoch: 0 }
        );
    }

    #[test]
    fn the_replica_assignment_is_the_images_replicas_and_isr() {
        let image = image(2, 2);
        let topic = image.topic("t").unwrap();
        assert_eq!(
            replica_assignment(&image, topic, 0),
            ReplicaAssignment {
                local_broker: 2,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                partition_epoch: 5,
            }
        );
        assert_eq!(
            replica_assignment(&image, topic, 1),
            ReplicaAssignment::single(2)
        );
    }

    #[test]
    fn the_replica_role_follows_the_images_leader_and_epoch() {
        let leader = image(2, 2);
        let topic = leader.topic("t").unwrap();
        assert_eq!(
            replica_role(&leader, topic, 0),
            Role::Leader { leader_epoch: 3 }
        );
        let follower = image(1, 2);
        let topic = follower.topic("t").unwrap();
        assert_eq!(
            replica_role(&follower, topic, 0),
            Role::Follower {
                leader: 2,
                leader_epoch: 3
            }
        );
    }
}
