//! The metadata quorum as DescribeQuorum reports it: its leader, epoch,
//! high watermark, and how far each voter's log reaches.
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{ApiKey, DescribeQuorumRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

/// The metadata log's topic, which DescribeQuorum asks about.
const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// One replica of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuorumReplica {
    /// Its node id.
    pub id: i32,
    /// The end of its log as the leader knows it, -1 if unknown.
    pub log_end_offset: i64,
    /// When the leader last heard from it (ms since the epoch), -1 if unknown.
    pub last_fetch_timestamp: i64,
    /// When it was last caught up with the leader, -1 if unknown.
    pub last_caught_up_timestamp: i64,
}

/// The answer of [`Connection::describe_quorum`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QuorumDescription {
    /// The leader's node id (the active controller), -1 if none.
    pub leader_id: i32,
    /// The leader's epoch (the quorum's term).
    pub leader_epoch: i32,
    /// The highest committed offset of the metadata log.
    pub high_watermark: i64,
    /// The voters, sorted by id.
    pub voters: Vec<QuorumReplica>,
    /// The observers (replicas that do not vote), sorted by id.
    pub observers: Vec<QuorumReplica>,
}

impl QuorumDescription {
    /// How many offsets `replica`'s log is behind the leader's, if both
    /// are known.
    pub fn lag(&self, replica: &QuorumReplica) -> Option<i64> {
        let leader = self
            .voters
            .iter()
            .find(|voter| voter.id == self.leader_id)?;
        if leader.log_end_offset < 0 || replica.log_end_offset < 0 {
            return None;
        }
        Some((leader.log_end_offset - replica.log_end_offset).max(0))
    }
}

fn replicas(states: &[ReplicaState]) -> Vec<QuorumReplica> {
    let mut replicas: Vec<QuorumReplica> = states
        .iter()
        .map(|state| QuorumReplica {
            id: state.replica_id.0,
            log_end_offset: state.log_end_offset,
            last_fetch_timestamp: state.last_fetch_timestamp,
            last_caught_up_timestamp: state.last_caught_up_timestamp,
        })
        .collect();
    replicas.sort_by_key(|replica| replica.id);
    replicas
}

impl Connection {
    /// Describes the metadata quorum (partition 0 of `__cluster_metadata`).
    ///
    /// # Errors
    /// [`ClientError::UnsupportedApi`] on brokers without DescribeQuorum
    /// (before Kafka 3.3, or ZooKeeper mode); a top-level or partition
    /// Kafka error; any other [`ClientError`].
    pub fn describe_quorum(&mut self) -> Result<QuorumDescription, ClientError> {
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str(CLUSTER_METADATA_TOPIC)))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let response = self.call(&request)?;
        check_error_code(
            ApiKey::DescribeQuorum,
            response.error_code,
            "",
            response.error_message.as_ref(),
        )?;
        let partition = response
            .topics
            .iter()
            .filter(|topic| topic.topic_name.as_str() == CLUSTER_METADATA_TOPIC)
            .flat_map(|topic| &topic.partitions)
            .find(|partition| partition.partition_index == 0)
            .ok_or_else(|| ClientError::Kafka {
                api: ApiKey::DescribeQuorum,
                code: 3,
                context: Some(format!("{CLUSTER_METADATA_TOPIC}-0")),
                message: Some("the answer does not describe the metadata partition".into()),
            })?;
        check_error_code(
            ApiKey::DescribeQuorum,
            partition.error_code,
            CLUSTER_METADATA_TOPIC,
            partition.error_message.as_ref(),
        )?;
        Ok(QuorumDescription {
            leader_id: partition.leader_id.0,
            leader_epoch: partition.leader_epoch,
            high_watermark: partition.high_watermark,
            voters: replicas(&partition.current_voters),
            observers: replicas(&partition.observers),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A replica with unknown fetch times (tests of the quorum's display).
    pub(crate) fn replica(id: i32, log_end_offset: i64) -> QuorumReplica {
        QuorumReplica {
            id,
            log_end_offset,
            last_fetch_timestamp: -1,
            last_caught_up_timestamp: -1,
        }
    }

    #[test]
    fn lag_is_the_distance_to_the_leaders_log_end() {
        let quorum = QuorumDescription {
            leader_id: 1,
            leader_epoch: 4,
            high_watermark: 90,
            voters: vec![replica(0, 80), replica(1, 100), replica(2, -1)],
            observers: vec![],
        };
        let lags: Vec<Option<i64>> = quorum.voters.iter().map(|v| quorum.lag(v)).collect();
        assert_eq!(lags, [Some(20), Some(0), None]);
        let leaderless = QuorumDescription {
            leader_id: -1,
            ..quorum
        };
        assert_eq!(leaderless.lag(&replica(0, 80)), None);
    }
}
