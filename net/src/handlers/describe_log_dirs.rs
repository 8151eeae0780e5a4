//! DescribeLogDirs: this broker's one log directory (`log.dirs`) with the
//! size of every partition in it, and the directory's total and usable bytes
//! (v4). Partitions named in the request that this broker does not hold are
//! left out, as Kafka does.

use futures::future::join_all;
use kafka_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResponse, DescribeLogDirsResult, DescribeLogDirsTopic,
};

use super::{str_bytes, topic_name};
use crate::shard_state::ShardState;

/// Answers a DescribeLogDirs request.
pub async fn handle(ctx: &ShardState, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let image = ctx.image();
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
    let mut topics = Vec::with_capacity(wanted.len());
    for (topic, partitions) in wanted {
        let sizes = join_all(partitions.iter().map(|&p| ctx.size(topic.topic_id, p))).await;
        let described: Vec<DescribeLogDirsPartition> = partitions
            .iter()
            .zip(sizes)
            .filter_map(|(&partition, size)| match size {
                Ok(bytes) => Some(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(partition)
                        .with_partition_size(i64::try_from(bytes).unwrap_or(i64::MAX))
                        // A single replica never lags.
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                ),
                // Not held here (or the owner is shutting down): not
                // described, as Kafka leaves out partitions it has no log of.
                Err(_) => None,
            })
            .collect();
        if !described.is_empty() {
            topics.push(
                DescribeLogDirsTopic::default()
                    .with_name(topic_name(&topic.name))
                    .with_partitions(described),
            );
        }
    }
    let dir = log_dir(ctx);
    let (total_bytes, usable_bytes) = disk_space(&dir).unwrap_or((-1, -1));
    DescribeLogDirsResponse::default().with_results(vec![DescribeLogDirsResult::default()
        .with_log_dir(str_bytes(&dir.to_string_lossy()))
        .with_topics(topics)
        .with_total_bytes(total_bytes)
        .with_usable_bytes(usable_bytes)])
}

/// The log directory as Kafka names it: an absolute path.
pub fn log_dir(ctx: &ShardState) -> std::path::PathBuf {
    let dir = ctx.config.data_dir();
    std::path::absolute(&dir).unwrap_or(dir)
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
