//! TxnOffsetCommit (v0–v3): offsets a transactional producer commits for a
//! consumer group inside its transaction (`send_offsets_to_transaction`).
//! Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION here; the
//! rest go to the group coordinator, which writes them as a transactional
//! batch of the producer and answers once they are durable. They become
//! visible to OffsetFetch only when the transaction commits. Before that,
//! the transaction is verified (KIP-890,
//! [`crate::transaction_verification`]): a
//! group not added with AddOffsetsToTxn gets INVALID_TXN_STATE.

use kafka_protocol::messages::txn_offset_commit_request::TxnOffsetCommitRequest;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use skein_controller::group_coordinator::{self as groups, Request, Response};

use super::commit_screen::{CommitEntry, ScreenedCommit};
use crate::caller::Caller;
use crate::group_request::ask;
use crate::shard_state::ShardState;
use crate::transaction_verification::{self, Verification};

/// Answers a TxnOffsetCommit request of `version`. Kafka: WRITE on the
/// transactional id, READ on the group, then READ on each topic.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: TxnOffsetCommitRequest,
    version: i16,
) -> TxnOffsetCommitResponse {
    let image = ctx.image();
    let refused = caller
        .transactional_group_refusal(request.transactional_id.as_str(), request.group_id.as_str());
    let mut screened = ScreenedCommit::default();
    for topic in &request.topics {
        let entries = topic.partitions.iter().map(|partition| CommitEntry {
            partition: partition.partition_index,
            offset: partition.committed_offset,
            leader_epoch: (version >= 2 && partition.committed_leader_epoch >= 0)
                .then_some(partition.committed_leader_epoch),
            metadata: partition.committed_metadata.as_ref().map(|m| m.to_string()),
            commit_timestamp_ms: None,
        });
        screened.add_topic(&image, caller, refused, topic.name.as_str(), entries);
    }
    // Kafka's group coordinator verifies the transaction before the write
    // (an empty group id is refused before that, by the coordinator).
    let verified = if screened.offsets.is_empty() || request.group_id.is_empty() {
        Ok(())
    } else {
        let verification = Verification {
            transactional_id: request.transactional_id.as_str(),
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
            group_id: request.group_id.as_str(),
        };
        transaction_verification::verify(ctx, verification).await
    };
    let results = if screened.offsets.is_empty() || verified.is_err() {
        Some(Vec::new())
    } else {
        let commit = groups::TxnOffsetCommit {
            transactional_id: request.transactional_id.to_string(),
            group_id: request.group_id.to_string(),
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
            generation_id: if version >= 3 {
                request.generation_id
            } else {
                -1
            },
            member_id: if version >= 3 {
                request.member_id.to_string()
            } else {
                String::new()
            },
            group_instance_id: request.group_instance_id.map(|id| id.to_string()),
            offsets: std::mem::take(&mut screened.offsets),
        };
        let expected = commit.offsets.len();
        match ask(ctx, Request::TxnOffsetCommit(commit)).await {
            Ok(Response::TxnOffsetCommit(results)) if results.len() == expected => Some(results),
            Ok(_) | Err(_) => None,
        }
    };
    let codes = match verified {
        Ok(()) => screened.codes(results),
        Err(code) => screened.codes_refused(code),
    };
    let topics = request
        .topics
        .into_iter()
        .zip(codes)
        .map(|(topic, codes)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(codes)
                .map(|(partition, code)| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
