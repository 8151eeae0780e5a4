//! A glommio executor for tests: runs a future on a fresh executor thread
//! with a small `io_memory`, because the sandbox's RLIMIT_MEMLOCK is 8 MiB.

use std::future::Future;

/// Runs `make()` to completion on a fresh glommio executor and returns its
/// output.
///
/// # Panics
/// If the executor cannot be spawned or its thread panics (a test failure).
pub fn run<T: Send + 'static, F, G>(make: G) -> T
where
    G: FnOnce() -> F + Send + 'static,
    F: Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move { make().await })
        .expect("spawn executor")
        .join()
        .expect("executor thread")
}
