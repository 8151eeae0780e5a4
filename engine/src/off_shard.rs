//! File system calls that can hold the calling thread for milliseconds — an
//! unlink that frees a large file's extents, a directory listing, creation,
//! rename or removal — run on the executor's blocking thread pool, so the
//! shard's other partitions keep being served meanwhile. Reads and writes
//! of segment data and fsyncs go through io_uring instead (`segment`,
//! `durable_write`); this is for the calls io_uring does not cover here.

/// Runs `work` on the current glommio executor's blocking thread pool and
/// resolves to its result. Must run inside a glommio executor.
pub(crate) async fn off_shard<R, F>(work: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_another_thread_and_its_result_comes_back() {
        let (shard_thread, worker_thread, value) = crate::test_executor::run(|| async {
            let (thread, value) = off_shard(|| (std::thread::current().id(), 42)).await;
            (std::thread::current().id(), thread, value)
        });
        assert_ne!(worker_thread, shard_thread);
        assert_eq!(value, 42);
    }
}
