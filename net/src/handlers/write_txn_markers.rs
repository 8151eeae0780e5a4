//! WriteTxnMarkers (API 27, v1; Kafka's inter-broker API from a
//! transaction coordinator to the partitions' leaders): writes a commit or
//! abort marker — a control batch with the producer's id and epoch and the
//! coordinator epoch — to every named partition this broker leads, as
//! Kafka's `handleWriteTxnMarkersRequest` appends them (origin COORDINATOR,
//! acks=all: each partition is answered once the high watermark passes its
//! marker, at most [`MARKER_TIMEOUT_MS`]). The marker ends the producer's
//! transaction in the partition's producer state, which moves the last
//! stable offset (and indexes an abort for read_committed fetches).
//!
//! Errors per partition, as Kafka: UNKNOWN_TOPIC_OR_PARTITION,
//! NOT_LEADER_OR_FOLLOWER, INVALID_PRODUCER_EPOCH (older than the
//! producer's), TRANSACTION_COORDINATOR_FENCED (a coordinator epoch older
//! than the producer's last marker's), NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT,
//! KAFKA_STORAGE_ERROR, CORRUPT_MESSAGE. A producer the partition does not
//! know gets its marker written (it ends nothing). A negative producer id
//! cannot name a transaction: INVALID_REQUEST for its partitions (Kafka
//! would write a marker no one reads).
//!
//! A marker written to a `__consumer_offsets` partition also ends the
//! producer's transactional offset commits there: the group coordinator of
//! this broker (the partition's leader, so the group's coordinator) is told
//! before the partition is answered, as Kafka's `onTransactionCompleted`
//! runs before the response is sent. So the transaction coordinator may be
//! on any node, and the producer's next transaction cannot commit offsets
//! before the previous one's are applied.
//!
//! The partitions of one request are written concurrently.

use futures::future::join_all;
use kafka_protocol::messages::write_txn_markers_request::WriteTxnMarkersRequest;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    WriteTxnMarkersResponse,
};
use skein_replication::txn_result;

use super::resolve_topic;
use skein_controller::group_coordinator::CONSUMER_OFFSETS_TOPIC;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::group_request;
use crate::partition_leadership::{check_leader, NO_LEADER_EPOCH};
use crate::shard_message::MarkerWrite;
use crate::shard_state::ShardState;

/// How long a marker's acks=all wait may take: Kafka uses the broker's
/// `request.timeout.ms` (default 30000).
pub const MARKER_TIMEOUT_MS: u64 = 30_000;

/// Answers a WriteTxnMarkers request.
/// Kafka: CLUSTER_ACTION on the cluster (markers come from transaction
/// coordinators), else every partition is CLUSTER_AUTHORIZATION_FAILED.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let refused = !caller.may_on_cluster(AclOperation::ClusterAction);
    let image = ctx.image();
    let mut markers = Vec::with_capacity(request.markers.len());
    for marker in request.markers {
        let producer_id = marker.producer_id.0;
        let committed = marker.transaction_result;
        let write = MarkerWrite {
            producer_id,
            producer_epoch: marker.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            result: txn_result(marker.transaction_result),
            timeout_ms: MARKER_TIMEOUT_MS,
        };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for topic in marker.topics {
            let resolved = if refused {
                Err(ErrorCode::ClusterAuthorizationFailed)
            } else {
                resolve_topic(&image, &topic.name, &uuid::Uuid::nil(), false)
            };
            let offsets_topic = topic.name.as_str() == CONSUMER_OFFSETS_TOPIC;
            let writes = topic.partition_indexes.iter().map(|index| {
                let index = *index;
                let resolved = &resolved;
                let image = &image;
                async move {
                    let code = match resolved {
                        Err(code) => *code,
                        Ok(found) if !(0..found.partitions).contains(&index) => {
                            ErrorCode::UnknownTopicOrPartition
                        }
                        Ok(_) if producer_id < 0 => ErrorCode::InvalidRequest,
                        Ok(found) => match check_leader(image, found, index, NO_LEADER_EPOCH) {
                            Err(code) => code,
                            Ok(()) => match ctx.write_txn_marker(found.topic_id, index, write).await
                            {
                                Ok(_) => {
                                    if offsets_topic {
                                        complete_offsets(ctx, index, producer_id, committed).await;
                                    }
                                    ErrorCode::None
                                }
                                Err(error) => {
                                    tracing::debug!(%error, producer_id, "a transaction marker was refused");
                                    error.code()
                                }
                            },
                        },
                    };
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(index)
                        .with_error_code(code.code())
                }
            });
            let partitions = join_all(writes).await;
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(topic.name)
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// Tells this broker's group coordinator that the transaction of
/// `producer_id` ended (`committed` or aborted) in `__consumer_offsets`
/// partition `partition`, whose marker is written: its pending offsets
/// there become committed or are dropped. A coordinator that no longer
/// serves the partition ignores it (the next leader reads the marker when
/// it loads the partition); one that is loading it applies it after the
/// load.
async fn complete_offsets(ctx: &ShardState, partition: i32, producer_id: i64, committed: bool) {
    let Ok(partition) = u32::try_from(partition) else {
        return;
    };
    if let Err(error) =
        group_request::complete_transaction(ctx, partition, producer_id, committed).await
    {
        // Kafka logs it too: the marker is written, and a coordinator that
        // cannot be reached is shutting down (the next one replays it).
        tracing::debug!(%error, partition, producer_id, "group coordinator not told of a transaction's end");
    }
}
