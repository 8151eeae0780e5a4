//! The error codes a response carries, for the per-API error counters.
//!
//! Every response type the broker sends implements [`ErrorCodes`]: it
//! visits each `error_code` field — top level, per topic, per partition,
//! per member — so a response with errors on three partitions reports three.
//! Zero (`NONE`) is reported too; the caller skips it. A visit reads fields
//! and allocates nothing.
use kafka_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, DescribeTransactionsResponse,
    EndTxnResponse, ListTransactionsResponse, TxnOffsetCommitResponse,
};
use kafka_protocol::messages::{
    AlterConfigsResponse, AlterReplicaLogDirsResponse, ApiVersionsResponse,
    CreatePartitionsResponse, CreateTopicsResponse, DeleteGroupsResponse, DeleteRecordsResponse,
    DeleteTopicsResponse, DescribeClusterResponse, DescribeConfigsResponse, DescribeGroupsResponse,
    DescribeLogDirsResponse, DescribeQuorumResponse, ElectLeadersResponse, FindCoordinatorResponse,
    HeartbeatResponse, IncrementalAlterConfigsResponse, InitProducerIdResponse, JoinGroupResponse,
    LeaveGroupResponse, ListGroupsResponse, ListOffsetsResponse, MetadataResponse,
    OffsetCommitResponse, OffsetDeleteResponse, OffsetFetchResponse, OffsetForLeaderEpochResponse,
    ProduceResponse, SyncGroupResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsResponse, ListPartitionReassignmentsResponse,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsResponse, DescribeUserScramCredentialsResponse,
    SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::messages::{ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatResponse};
use kafka_protocol::messages::{CreateAclsResponse, DeleteAclsResponse, DescribeAclsResponse};

/// A response whose error codes can be listed.
pub trait ErrorCodes {
    /// Calls `visit` with every error code in the response.
    fn error_codes(&self, visit: &mut dyn FnMut(i16));
}

impl ErrorCodes for ApiVersionsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for MetadataResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for topic in &self.topics {
            visit(topic.error_code);
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for ProduceResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.responses {
            for partition in &topic.partition_responses {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for ListOffsetsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for CreateTopicsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            visit(topic.error_code);
        }
    }
}

impl ErrorCodes for DeleteTopicsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.responses {
            visit(topic.error_code);
        }
    }
}

impl ErrorCodes for CreatePartitionsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.results {
            visit(topic.error_code);
        }
    }
}

impl ErrorCodes for DeleteRecordsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for DescribeConfigsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for resource in &self.results {
            visit(resource.error_code);
        }
    }
}

impl ErrorCodes for AlterConfigsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for resource in &self.responses {
            visit(resource.error_code);
        }
    }
}

impl ErrorCodes for IncrementalAlterConfigsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for resource in &self.responses {
            visit(resource.error_code);
        }
    }
}

impl ErrorCodes for DescribeClusterResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for DescribeLogDirsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for dir in &self.results {
            visit(dir.error_code);
        }
    }
}

impl ErrorCodes for kafka_protocol::messages::WriteTxnMarkersResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for marker in &self.markers {
            for topic in &marker.topics {
                for partition in &topic.partitions {
                    visit(partition.error_code);
                }
            }
        }
    }
}

impl ErrorCodes for kafka_protocol::messages::DescribeProducersResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for AlterReplicaLogDirsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.results {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for OffsetForLeaderEpochResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for FindCoordinatorResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for coordinator in &self.coordinators {
            visit(coordinator.error_code);
        }
    }
}

impl ErrorCodes for JoinGroupResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for SyncGroupResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for HeartbeatResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for LeaveGroupResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for member in &self.members {
            visit(member.error_code);
        }
    }
}

impl ErrorCodes for OffsetCommitResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for OffsetFetchResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        // v0-7 answer one group at the top level, v8+ in `groups`.
        visit(self.error_code);
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
        for group in &self.groups {
            visit(group.error_code);
            for topic in &group.topics {
                for partition in &topic.partitions {
                    visit(partition.error_code);
                }
            }
        }
    }
}

impl ErrorCodes for DescribeGroupsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for group in &self.groups {
            visit(group.error_code);
        }
    }
}

impl ErrorCodes for ConsumerGroupHeartbeatResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for ConsumerGroupDescribeResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for group in &self.groups {
            visit(group.error_code);
        }
    }
}

impl ErrorCodes for ListGroupsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for DeleteGroupsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for group in &self.results {
            visit(group.error_code);
        }
    }
}

impl ErrorCodes for OffsetDeleteResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for InitProducerIdResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for AddPartitionsToTxnResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        let by_transaction = self
            .results_by_transaction
            .iter()
            .flat_map(|t| &t.topic_results);
        for topic in self
            .results_by_topic_v3_and_below
            .iter()
            .chain(by_transaction)
        {
            for partition in &topic.results_by_partition {
                visit(partition.partition_error_code);
            }
        }
    }
}

impl ErrorCodes for TxnOffsetCommitResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for AddOffsetsToTxnResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for EndTxnResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for DescribeTransactionsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for state in &self.transaction_states {
            visit(state.error_code);
        }
    }
}

impl ErrorCodes for ListTransactionsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for ElectLeadersResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for topic in &self.replica_election_results {
            for partition in &topic.partition_result {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for AlterPartitionReassignmentsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for topic in &self.responses {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

impl ErrorCodes for ListPartitionReassignmentsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for SaslHandshakeResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for SaslAuthenticateResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for DescribeUserScramCredentialsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for result in &self.results {
            visit(result.error_code);
        }
    }
}

impl ErrorCodes for AlterUserScramCredentialsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for result in &self.results {
            visit(result.error_code);
        }
    }
}

impl ErrorCodes for DescribeAclsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
    }
}

impl ErrorCodes for CreateAclsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for result in &self.results {
            visit(result.error_code);
        }
    }
}

impl ErrorCodes for DeleteAclsResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        for result in &self.filter_results {
            visit(result.error_code);
        }
    }
}

impl ErrorCodes for DescribeQuorumResponse {
    fn error_codes(&self, visit: &mut dyn FnMut(i16)) {
        visit(self.error_code);
        for topic in &self.topics {
            for partition in &topic.partitions {
                visit(partition.error_code);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
    };

    fn codes(response: &dyn ErrorCodes) -> Vec<i16> {
        let mut seen = Vec::new();
        response.error_codes(&mut |code| seen.push(code));
        seen
    }

    #[test]
    fn every_topic_result_of_create_topics_is_visited() {
        let response = CreateTopicsResponse::default().with_topics(vec![
            CreatableTopicResult::default().with_error_code(36),
            CreatableTopicResult::default(),
        ]);
        assert_eq!(codes(&response), [36, 0]);
    }

    #[test]
    fn offset_fetch_visits_groups_and_their_partitions() {
        let response =
            OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                .with_error_code(69)
                .with_topics(vec![OffsetFetchResponseTopics::default().with_partitions(
                    vec![OffsetFetchResponsePartitions::default().with_error_code(3)],
                )])]);
        assert_eq!(codes(&response), [0, 69, 3]);
    }
}
