//! DescribeLogDirs: every log directory of this broker (`log.dirs`) with
//! the partitions in it, their sizes and offset lag, and the directory's
//! total and usable bytes (v4). A failed directory is listed with
//! KAFKA_STORAGE_ERROR and nothing else, as Kafka lists it. Partitions
//! named in the request that this broker does not hold are left out, as
//! Kafka does.

use futures::future::join_all;
use kafka_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResponse, DescribeLogDirsResult, DescribeLogDirsTopic,
};

use skein_controller::AclOperation;

use super::{str_bytes, topic_name};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Answers a DescribeLogDirs request.
/// Kafka: DESCRIBE on the cluster.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !caller.may_on_cluster(AclOperation::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let image = ctx.image();
    let log_dirs = ctx.log_dirs();
    // (topic, partitions) to describe: the request's, or every topic.
    let wanted: Vec<(std::sync::Arc<skein_controller::TopicImage>, Vec<i32>)> = match request.topics
    {
        Some(topics) => topics
            .into_iter()
            .filter_map(|wanted| {
                let topic = image.topic(wanted.topic.as_str())?;
                let partitions = wanted
                    .partitions
                    .into_iter()
                    .filter(|p| (0..topic.partitions).contains(p))
                    .collect();
                Some((std::sync::Arc::clone(topic), partitions))
            })
            .collect(),
        None => image
            .topics()
            .map(|topic| {
                (
                    std::sync::Arc::clone(topic),
                    (0..topic.partitions).collect(),
                )
            })
            .collect(),
    };
    // Per directory, its topics in request order.
    let mut per_dir: Vec<Vec<DescribeLogDirsTopic>> = vec![Vec::new(); log_dirs.dirs().len()];
    for (topic, partitions) in wanted {
        let sizes = join_all(partitions.iter().map(|&p| ctx.size(topic.topic_id, p))).await;
        let mut by_dir: Vec<Vec<DescribeLogDirsPartition>> = vec![Vec::new(); per_dir.len()];
        for (&partition, size) in partitions.iter().zip(sizes) {
            // Not held here, offline or moving (or the owner is shutting
            // down): not described, as Kafka leaves out partitions it has
            // no online log of.
            let Ok(bytes) = size else { continue };
            let Some(dir) = log_dirs.locate(&format!("{}-{partition}", topic.name)) else {
                continue;
            };
            let Some(slot) = by_dir.get_mut(dir) else {
                continue;
            };
            slot.push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(partition)
                    .with_partition_size(i64::try_from(bytes).unwrap_or(i64::MAX))
                    // Kafka's lag of a current (not future) replica:
                    // max(high watermark - log end, 0), always 0.
                    .with_offset_lag(0)
                    .with_is_future_key(false),
            );
        }
        for (described, topics) in by_dir.into_iter().zip(per_dir.iter_mut()) {
            if !described.is_empty() {
                topics.push(
                    DescribeLogDirsTopic::default()
                        .with_name(topic_name(&topic.name))
                        .with_partitions(described),
                );
            }
        }
    }
    let results = log_dirs
        .dirs()
        .iter()
        .zip(per_dir)
        .map(|(dir, topics)| {
            let result = DescribeLogDirsResult::default()
                .with_log_dir(str_bytes(&dir.path().to_string_lossy()));
            if dir.is_offline() {
                return result
                    .with_error_code(ErrorCode::KafkaStorageError.code())
                    .with_total_bytes(-1)
                    .with_usable_bytes(-1);
            }
            let (total_bytes, usable_bytes) = disk_space(dir.path()).unwrap_or((-1, -1));
            result
                .with_topics(topics)
                .with_total_bytes(total_bytes)
                .with_usable_bytes(usable_bytes)
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

/// The file system's total and available bytes under `dir`, or `None` if
/// it cannot be asked. One `statvfs` reads the mounted file system's
/// superblock counters without disk IO, so it does not stall the shard.
fn disk_space(dir: &std::path::Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and
    // `stats` is a properly sized out-parameter that statvfs fills on success.
    let status = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it initialised `stats`.
    let stats = unsafe { stats.assume_init() };
    let fragment = stats.f_frsize;
    let total = stats.f_blocks.saturating_mul(fragment);
    let usable = stats.f_bavail.saturating_mul(fragment);
    Some((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(usable).unwrap_or(i64::MAX),
    ))
}
