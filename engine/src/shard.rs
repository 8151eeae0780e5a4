//! The shard runtime: one pinned glommio executor per data core, plus the
//! control shard, which gets a core of its own when there are at least three
//! and otherwise shares the first one.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use crate::placement::ShardId;

/// A set of CPU cores, written as Linux does: `0-3,6,8-9`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSet(Vec<usize>);

/// Why a core list could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreSetError {
    /// A piece of the list is not `N` or `N-M` with N ≤ M.
    #[error("bad core list item {0:?}: expected N or N-M")]
    BadItem(String),
    /// The list names no core.
    #[error("the core list is empty")]
    Empty,
    /// A core is named twice.
    #[error("core {0} is listed twice")]
    Duplicate(usize),
}

impl CoreSet {
    /// Every core this process may run on.
    pub fn all_available() -> CoreSet {
        let cores: Vec<usize> = core_affinity::get_core_ids()
            .map(|ids| ids.into_iter().map(|id| id.id).collect())
            .unwrap_or_default();
        if cores.is_empty() {
            CoreSet(vec![0])
        } else {
            CoreSet(cores)
        }
    }

    /// The cores, in the order given.
    pub fn cores(&self) -> &[usize] {
        &self.0
    }
}

impl FromStr for CoreSet {
    type Err = CoreSetError;

    fn from_str(text: &str) -> Result<CoreSet, CoreSetError> {
        let mut cores = Vec::new();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || CoreSetError::BadItem(item.to_string());
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                None => {
                    let core: usize = item.parse().map_err(|_| bad())?;
                    (core, core)
                }
            };
            if first > last || last > 4095 {
                return Err(bad());
            }
            for core in first..=last {
                if cores.contains(&core) {
                    return Err(CoreSetError::Duplicate(core));
                }
                cores.push(core);
            }
        }
        if cores.is_empty() {
            return Err(CoreSetError::Empty);
        }
        Ok(CoreSet(cores))
    }
}

impl fmt::Display for CoreSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&text.join(","))
    }
}

/// Where each shard runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardPlan {
    /// Core of data shard `i`, for `i in 0..data_cores.len()`.
    pub data_cores: Vec<usize>,
    /// Core of the control shard (its shard id is `data_cores.len()`).
    pub control_core: usize,
    /// Whether the control shard shares its core with data shard 0.
    pub control_shares_core: bool,
}

/// A data shard's direct-IO buffer pool (glommio's `io_memory`), registered
/// with io_uring and pinned at start: the write buffers of dozens of loaded
/// partitions (each between 64 KiB and 4 MiB, following demand) plus reads.
/// When it runs out, buffers come from the system allocator, which works
/// but page-faults fresh memory on every write.
const DATA_IO_MEMORY_BYTES: usize = 64 << 20;

/// The control shard's pool: its few logs take small buffers.
const CONTROL_IO_MEMORY_BYTES: usize = 10 << 20;

impl ShardPlan {
    /// With three or more cores the last one is the control shard's own;
    /// with fewer, every core runs a data shard and the control shard shares
    /// the first.
    pub fn for_cores(cores: &CoreSet) -> ShardPlan {
        let list = cores.cores();
        assert!(!list.is_empty(), "a CoreSet is never empty");
        let plan = if list.len() >= 3 {
            let (control, data) = list.split_last().expect("checked non-empty");
            ShardPlan {
                data_cores: data.to_vec(),
                control_core: *control,
                control_shares_core: false,
            }
        } else {
            ShardPlan {
                data_cores: list.to_vec(),
                control_core: list[0],
                control_shares_core: true,
            }
        };
        assert!(!plan.data_cores.is_empty());
        plan
    }

    /// Number of data shards.
    pub fn data_shards(&self) -> usize {
        self.data_cores.len()
    }

    /// The control shard's id: it comes after the data shards.
    pub fn control_shard(&self) -> ShardId {
        ShardId(self.data_cores.len())
    }

    /// Data shards plus the control shard.
    pub fn shard_count(&self) -> usize {
        self.data_cores.len() + 1
    }

    /// Whether `shard` may busy-poll before it parks: data shards only, and
    /// not one that shares its core with the control shard (its spinning
    /// would hold the core the control shard needs).
    pub fn may_spin(&self, shard: ShardId) -> bool {
        shard != self.control_shard()
            && !(self.control_shares_core && self.core_of(shard) == self.control_core)
    }

    /// The core a shard runs on.
    pub fn core_of(&self, shard: ShardId) -> usize {
        self.data_cores
            .get(shard.0)
            .copied()
            .unwrap_or(self.control_core)
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// glommio refused to build an executor (io_uring unavailable, memlock).
    #[error("cannot start the executor of shard {shard:?} on core {core}: {reason}")]
    Executor {
        /// The shard whose executor failed.
        shard: ShardId,
        /// The core it was to run on.
        core: usize,
        /// glommio's error, as text (it is not `Sync`).
        reason: String,
    },
    /// A shard's thread panicked.
    #[error("shard {0:?} panicked")]
    ShardPanicked(ShardId),
}

/// Runs `shard_main(shard_id)` on every shard's pinned executor, one thread
/// per shard, and waits for them all. `shard_main` is called on the shard's
/// own thread.
///
/// A data shard that runs out of work keeps polling its rings and channels
/// for `data_spin_before_park` before it parks (sleeps in the kernel until
/// an IO completes or a peer wakes it); zero parks at once. Spinning saves
/// the sleep and the wake-up when work comes back within that time, and
/// burns the core when it does not. A data shard that shares its core with
/// the control shard never spins: it would take the core from the control
/// shard for the whole spin. The control shard parks at once.
///
/// # Errors
/// If an executor cannot be built or a shard panics.
pub fn run_shards<M, F>(
    plan: &ShardPlan,
    data_spin_before_park: Duration,
    shard_main: M,
) -> Result<(), RuntimeError>
where
    M: Fn(ShardId) -> F + Send + Sync + Clone + 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    raise_memlock_limit();
    let mut handles = Vec::with_capacity(plan.shard_count());
    for shard in (0..plan.shard_count()).map(ShardId) {
        let core = plan.core_of(shard);
        let shard_main = shard_main.clone();
        let name = if shard == plan.control_shard() {
            "skein-control".to_string()
        } else {
            format!("skein-shard-{}", shard.0)
        };
        let io_memory = if shard == plan.control_shard() {
            CONTROL_IO_MEMORY_BYTES
        } else {
            DATA_IO_MEMORY_BYTES
        };
        let spin_before_park = if plan.may_spin(shard) {
            data_spin_before_park
        } else {
            Duration::ZERO
        };
        let handle = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&name)
            .io_memory(io_memory)
            .spin_before_park(spin_before_park)
            .spawn(move || async move {
                raise_io_wq_workers(shard);
                shard_main(shard).await;
            })
            .map_err(|error| RuntimeError::Executor {
                shard,
                core,
                reason: error.to_string(),
            })?;
        handles.push((shard, handle));
    }
    for (shard, handle) in handles {
        handle
            .join()
            .map_err(|_| RuntimeError::ShardPanicked(shard))?;
    }
    Ok(())
}

/// Most kernel io-wq workers a shard's thread may use for its blocking
/// io_uring requests on files: each fdatasync, each direct-IO write into
/// preallocated (unwritten) space and each open runs on one. The kernel's
/// default bound is a few workers (2 or 8 on a 2-CPU machine), which caps
/// a shard at that many fdatasyncs in flight: appends to thousands of
/// partitions (one fdatasync each under `flush.policy=batch`) then queue
/// behind each other although the device could take more at once.
const IO_WQ_BOUNDED_WORKERS: u32 = 64;

/// Raises the calling shard thread's io-wq bound to
/// [`IO_WQ_BOUNDED_WORKERS`]; on a kernel without the call the shard runs
/// with the default.
fn raise_io_wq_workers(shard: ShardId) {
    match glommio::executor().set_io_wq_max_workers(IO_WQ_BOUNDED_WORKERS, 0) {
        Ok([bounded, _]) => {
            tracing::debug!(
                shard = shard.0,
                previous = bounded,
                now = IO_WQ_BOUNDED_WORKERS,
                "io-wq bounded workers"
            );
        }
        Err(error) => {
            tracing::warn!(shard = shard.0, %error, "could not raise the io-wq worker bound")
        }
    }
}

/// glommio registers its IO buffers with io_uring, which counts against
/// RLIMIT_MEMLOCK (often 8 MiB). Raise the soft limit to the hard limit, and
/// the hard limit too where we are allowed to; a failure only means a smaller
/// limit, which glommio reports itself if it is too small.
fn raise_memlock_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; the resource is valid.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return;
    }
    let wanted = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a struct we own; failure leaves the limit as is.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &wanted) } == 0 {
        return;
    }
    let soft = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &soft) } != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_thread_raises_its_io_wq_bound() {
        let mut nproc = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut nproc) },
            0
        );
        // The kernel caps the bound at RLIMIT_NPROC.
        let expected = u64::from(IO_WQ_BOUNDED_WORKERS).min(nproc.rlim_cur);
        LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                raise_io_wq_workers(ShardId(0));
                let [bounded, _] = glommio::executor()
                    .set_io_wq_max_workers(0, 0)
                    .expect("query the io-wq bounds");
                assert_eq!(u64::from(bounded), expected);
            })
            .expect("executor")
            .join()
            .expect("join");
    }

    #[test]
    fn core_lists_parse_like_linux() {
        assert_eq!("0-3".parse::<CoreSet>().unwrap().cores(), &[0, 1, 2, 3]);
        assert_eq!("1,3-4".parse::<CoreSet>().unwrap().cores(), &[1, 3, 4]);
        assert_eq!("2".parse::<CoreSet>().unwrap().cores(), &[2]);
        assert_eq!("".parse::<CoreSet>(), Err(CoreSetError::Empty));
        assert_eq!("1,1".parse::<CoreSet>(), Err(CoreSetError::Duplicate(1)));
        assert!(matches!(
            "3-1".parse::<CoreSet>(),
            Err(CoreSetError::BadItem(_))
        ));
        assert!(matches!(
            "x".parse::<CoreSet>(),
            Err(CoreSetError::BadItem(_))
        ));
    }

    #[test]
    fn control_shard_gets_its_own_core_from_three() {
        let plan = ShardPlan::for_cores(&"0-3".parse().unwrap());
        assert_eq!(plan.data_cores, vec![0, 1, 2]);
        assert_eq!(plan.control_core, 3);
        assert!(!plan.control_shares_core);
        assert_eq!(plan.control_shard(), ShardId(3));
    }

    #[test]
    fn control_shard_shares_core_zero_on_small_machines() {
        let plan = ShardPlan::for_cores(&"0-1".parse().unwrap());
        assert_eq!(plan.data_cores, vec![0, 1]);
        assert_eq!(plan.control_core, 0);
        assert!(plan.control_shares_core);
        let single = ShardPlan::for_cores(&"5".parse().unwrap());
        assert_eq!(single.data_cores, vec![5]);
        assert_eq!(single.core_of(single.control_shard()), 5);
    }

    #[test]
    fn only_data_shards_off_the_control_core_may_spin() {
        let own_core = ShardPlan::for_cores(&"0-3".parse().unwrap());
        assert!(own_core.may_spin(ShardId(0)));
        assert!(own_core.may_spin(ShardId(2)));
        assert!(!own_core.may_spin(own_core.control_shard()));
        let shared = ShardPlan::for_cores(&"0-1".parse().unwrap());
        assert!(!shared.may_spin(ShardId(0)));
        assert!(shared.may_spin(ShardId(1)));
        assert!(!shared.may_spin(shared.control_shard()));
        let single = ShardPlan::for_cores(&"5".parse().unwrap());
        assert!(!single.may_spin(ShardId(0)));
    }
}
