//! AlterReplicaLogDirs: moves replicas between the log directories of this
//! broker. Skein keeps every partition in its one `log.dirs` directory, so a
//! request naming that directory succeeds at once (the replica is already
//! there, or will be created there, as Kafka answers for a replica it does not
//! hold yet) and any other path is LOG_DIR_NOT_FOUND, Kafka's answer for a
//! directory that is not in its configuration.

use kafka_protocol::messages::alter_replica_log_dirs_request::AlterReplicaLogDirsRequest;
use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult, AlterReplicaLogDirsResponse,
};

use super::describe_log_dirs::log_dir;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Answers an AlterReplicaLogDirs request.
pub fn handle(
    ctx: &ShardState,
    request: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let ours = log_dir(ctx);
    let mut results = Vec::new();
    for dir in request.dirs {
        let requested = std::path::Path::new(dir.path.as_str());
        let code = if requested == ours {
            ErrorCode::None
        } else {
            ErrorCode::LogDirNotFound
        };
        for topic in dir.topics {
            let partitions = topic
                .partitions
                .iter()
                .map(|&partition| {
                    AlterReplicaLogDirPartitionResult::default()
                        .with_partition_index(partition)
                        .with_error_code(code.code())
                })
                .collect();
            results.push(
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(topic.name)
                    .with_partitions(partitions),
            );
        }
    }
    AlterReplicaLogDirsResponse::default().with_results(results)
}
