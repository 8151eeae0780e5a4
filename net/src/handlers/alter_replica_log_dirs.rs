//! AlterReplicaLogDirs: moves replicas between the log directories of this
//! broker. A path that is not one of `log.dirs` is LOG_DIR_NOT_FOUND and an
//! offline one KAFKA_STORAGE_ERROR, as in Kafka. Each partition is moved by
//! its owner shard (stop, copy, swap: see `skein_engine::LogDirs`), one
//! after another; the answer comes once each is in its new directory
//! (Kafka answers at once and copies in the background).

use kafka_protocol::messages::alter_replica_log_dirs_request::AlterReplicaLogDirsRequest;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult, AlterReplicaLogDirsResponse,
};

use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::{partition_error, ErrorCode};
use crate::shard_state::ShardState;

/// Answers an AlterReplicaLogDirs request.
/// Kafka: ALTER on the cluster, else every partition is
/// CLUSTER_AUTHORIZATION_FAILED.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let refused = !caller.may_on_cluster(AclOperation::Alter);
    let image = ctx.image();
    let mut results = Vec::new();
    for dir in request.dirs {
        let target = ctx
            .log_dirs()
            .index_of(std::path::Path::new(dir.path.as_str()));
        for topic in dir.topics {
            let known = image.topic(topic.name.as_str());
            let mut partitions = Vec::with_capacity(topic.partitions.len());
            for &partition in &topic.partitions {
                let code = match (target, known) {
                    _ if refused => ErrorCode::ClusterAuthorizationFailed,
                    (None, _) => ErrorCode::LogDirNotFound,
                    (Some(index), _) if ctx.log_dirs().is_offline(index) => {
                        ErrorCode::KafkaStorageError
                    }
                    (Some(index), Some(known)) if (0..known.partitions).contains(&partition) => {
                        match ctx.move_to_log_dir(known.topic_id, partition, index).await {
                            Ok(()) => ErrorCode::None,
                            Err(error) => partition_error(&error),
                        }
                    }
                    (Some(_), _) => ErrorCode::UnknownTopicOrPartition,
                };
                partitions.push(
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(partition)
                        .with_error_code(code.code()),
                );
            }
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(topic.name)
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}
