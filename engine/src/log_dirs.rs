//! Log directories (`log.dirs`, JBOD): the directories a broker keeps its
//! partitions in, which one holds each partition, and which have failed.
//!
//! As Kafka's `LogManager`:
//! * every directory holds partitions; a new partition goes to the online
//!   directory holding the fewest (ties: the first configured);
//! * each directory has its own `meta.properties` (the same `cluster.id` and
//!   `node.id`, its own `directory.id`);
//! * at start every directory is scanned: a partition found live in two
//!   directories is a start-up error;
//! * a directory whose IO fails goes offline with its partitions, while the
//!   others keep serving;
//! * a move between directories copies the partition to
//!   `<topic>-<p>.<uuid>-future` in the target directory.
//!
//! Moves here are stop-copy-swap (Kafka copies while the partition serves,
//! then catches up): the caller closes the partition first, and
//! [`LogDirs::move_partition_files`] copies and fsyncs the future copy,
//! renames the old directory to `<topic>-<p>.<uuid>-delete`, renames the
//! future to `<topic>-<p>` and removes the old copy. Because the old copy is
//! renamed away only once the future copy is whole, recovery
//! ([`LogDirs::open`]) knows which copy to keep after a crash at any point:
//! a live `<topic>-<p>` wins and every future/delete copy of it goes; with no
//! live copy, a future beside a delete copy is whole and is promoted.
//!
//! Lives on: shared by every shard of the process (`Arc`); the locations
//! map is behind a mutex taken only when a partition is opened, removed or
//! moved, never on the data path.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Kafka's name for the file of a log directory's identity.
pub const META_PROPERTIES_FILE: &str = "meta.properties";
/// The file written and removed by [`LogDirs::probe`].
const PROBE_FILE: &str = ".skein-log-dir-probe";
const FUTURE_SUFFIX: &str = "-future";
const DELETE_SUFFIX: &str = "-delete";

/// Why the log directories cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LogDirsError {
    /// `log.dirs` named no directory, or one twice.
    #[error("log.dirs must name at least one directory, each once")]
    BadList,
    /// A directory could not be created, read or written.
    #[error("log directory IO on {path:?}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A partition is live in two directories.
    #[error("partition {name} is in two log directories, {first:?} and {second:?}")]
    DuplicatePartition {
        /// `<topic>-<partition>`.
        name: String,
        /// One directory.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// A directory's `meta.properties` names another node.
    #[error("{path:?} belongs to node.id {found}, not {expected}")]
    NodeIdMismatch {
        /// The directory.
        path: PathBuf,
        /// The node id stored there.
        found: String,
        /// This node's id.
        expected: i32,
    },
    /// A directory's `meta.properties` names another cluster.
    #[error("{path:?} belongs to cluster {found}, not {expected}")]
    ClusterIdMismatch {
        /// The directory.
        path: PathBuf,
        /// The cluster id stored there.
        found: String,
        /// The cluster id expected.
        expected: String,
    },
    /// Two directories carry the same `directory.id` (one was copied).
    #[error("{first:?} and {second:?} have the same directory.id")]
    DuplicateDirectoryId {
        /// One directory.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Every directory is offline, or the one asked for is.
    #[error("no online log directory")]
    Offline,
    /// The partition is not in any directory.
    #[error("partition {0} is in no log directory")]
    NotFound(String),
}

impl LogDirsError {
    fn io(path: &Path, source: std::io::Error) -> LogDirsError {
        LogDirsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One configured log directory.
#[derive(Debug)]
pub struct LogDir {
    path: PathBuf,
    directory_id: String,
    offline: AtomicBool,
}

impl LogDir {
    /// The directory, absolute.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its `directory.id` (22 characters of URL-safe base64, as Kafka's).
    pub fn directory_id(&self) -> &str {
        &self.directory_id
    }

    /// Whether its IO has failed (it stays offline until restart).
    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    /// Its `directory.id` as the 16 bytes of the UUID it encodes (what
    /// BrokerHeartbeat and AssignReplicasToDirs carry). An id that is not
    /// 22 characters of URL-safe base64 (hand-edited) maps to a stable hash
    /// of its text.
    pub fn directory_uuid(&self) -> [u8; 16] {
        decode_directory_id(&self.directory_id)
            .unwrap_or_else(|| {
                // FNV-1a, 128 bits: stable across restarts.
                let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
                for byte in self.directory_id.bytes() {
                    hash ^= u128::from(byte);
                    hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
                }
                hash
            })
            .to_be_bytes()
    }
}

/// The UUID a [`new_directory_id`] text encodes; `None` if it is not one.
fn decode_directory_id(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != 22 {
        return None;
    }
    let mut value: u128 = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let digit = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        value = if index < 21 {
            (value << 6) | u128::from(digit)
        } else {
            // The last digit holds the low 2 bits, then four zero bits.
            (value << 2) | u128::from(digit >> 4)
        };
    }
    Some(value)
}

/// The broker's log directories and where each partition lives.
#[derive(Debug)]
pub struct LogDirs {
    dirs: Vec<LogDir>,
    /// Where each partition lives, with each directory's count.
    locations: Mutex<Locations>,
}

/// `<topic>-<partition>` → index into the directories, and how many
/// partitions each directory holds, kept together so that placing a new
/// partition is O(directories), not a count over every partition (that made
/// creating 100 000 partitions quadratic: `assign` was the largest cost).
#[derive(Debug)]
struct Locations {
    by_name: HashMap<String, usize>,
    /// Partitions per directory, in configured order.
    counts: Vec<usize>,
}

impl Locations {
    fn new(by_name: HashMap<String, usize>, dirs: usize) -> Locations {
        let mut counts = vec![0usize; dirs];
        for &index in by_name.values() {
            counts[index] += 1;
        }
        Locations { by_name, counts }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Records `name` in directory `index` (moving it there if it was
    /// elsewhere).
    fn insert(&mut self, name: &str, index: usize) {
        if let Some(before) = self.by_name.insert(name.to_string(), index) {
            self.counts[before] -= 1;
        }
        self.counts[index] += 1;
    }

    fn remove(&mut self, name: &str) {
        if let Some(before) = self.by_name.remove(name) {
            self.counts[before] -= 1;
        }
    }
}

impl LogDirs {
    /// Opens the directories `paths` (creating missing ones) of node
    /// `node_id`: checks their `meta.properties`, finishes or rolls back
    /// moves and deletions a crash interrupted, and records where each
    /// partition lives. Blocking: run before the shards start.
    ///
    /// # Errors
    /// An unusable list, IO failures, a directory of another node, two
    /// directories with one `directory.id`, a partition in two directories.
    pub fn open(paths: &[PathBuf], node_id: i32) -> Result<LogDirs, LogDirsError> {
        let mut dirs: Vec<LogDir> = Vec::with_capacity(paths.len());
        for path in paths {
            std::fs::create_dir_all(path).map_err(|e| LogDirsError::io(path, e))?;
            let path = std::path::absolute(path).map_err(|e| LogDirsError::io(path, e))?;
            if dirs.iter().any(|d| d.path == path) {
                return Err(LogDirsError::BadList);
            }
            let meta = read_meta_properties(&path)?;
            if let Some(found) = meta.get("node.id") {
                if found.parse::<i32>().ok() != Some(node_id) {
                    return Err(LogDirsError::NodeIdMismatch {
                        path,
                        found: found.clone(),
                        expected: node_id,
                    });
                }
            }
            let directory_id = meta
                .get("directory.id")
                .cloned()
                .unwrap_or_else(new_directory_id);
            if let Some(other) = dirs.iter().find(|d| d.directory_id == directory_id) {
                return Err(LogDirsError::DuplicateDirectoryId {
                    first: other.path.clone(),
                    second: path,
                });
            }
            dirs.push(LogDir {
                path,
                directory_id,
                offline: AtomicBool::new(false),
            });
        }
        if dirs.is_empty() {
            return Err(LogDirsError::BadList);
        }
        let locations = Locations::new(recover_partitions(&dirs)?, dirs.len());
        Ok(LogDirs {
            dirs,
            locations: Mutex::new(locations),
        })
    }

    /// Every directory, in configured order.
    pub fn dirs(&self) -> &[LogDir] {
        &self.dirs
    }

    /// Directory `index`.
    ///
    /// # Panics
    /// If `index` is not one of [`LogDirs::dirs`].
    pub fn dir(&self, index: usize) -> &LogDir {
        &self.dirs[index]
    }

    /// The index of the directory at `path` (as given or absolute).
    pub fn index_of(&self, path: &Path) -> Option<usize> {
        let absolute = std::path::absolute(path).ok()?;
        self.dirs.iter().position(|d| d.path == absolute)
    }

    /// Checks every directory's `meta.properties` against `cluster_id` and
    /// writes it (with this node's id and the directory's id) where it is
    /// missing. Blocking.
    ///
    /// # Errors
    /// A directory of another cluster; IO failures.
    pub fn claim(&self, cluster_id: &str, node_id: i32) -> Result<(), LogDirsError> {
        for dir in &self.dirs {
            let meta = read_meta_properties(&dir.path)?;
            match meta.get("cluster.id") {
                Some(found) if found != cluster_id => {
                    return Err(LogDirsError::ClusterIdMismatch {
                        path: dir.path.clone(),
                        found: found.clone(),
                        expected: cluster_id.to_string(),
                    })
                }
                Some(_) if meta.get("directory.id") == Some(&dir.directory_id) => continue,
                _ => {}
            }
            let text = format!(
                "#\n#Written by Skein\ncluster.id={cluster_id}\ndirectory.id={}\nnode.id={node_id}\nversion=1\n",
                dir.directory_id
            );
            write_durably(&dir.path, META_PROPERTIES_FILE, text.as_bytes())?;
        }
        Ok(())
    }

    /// The directory partition `name` (`<topic>-<partition>`) lives in.
    pub fn locate(&self, name: &str) -> Option<usize> {
        self.locked().get(name)
    }

    /// The directory partition `name` lives in, or, for a new partition,
    /// the online directory holding the fewest partitions (ties: the first
    /// configured), which it is recorded in.
    ///
    /// # Errors
    /// `Offline` when a new partition finds every directory offline.
    pub fn assign(&self, name: &str) -> Result<usize, LogDirsError> {
        let mut locations = self.locked();
        if let Some(index) = locations.get(name) {
            return Ok(index);
        }
        let index = (0..self.dirs.len())
            .filter(|&i| !self.dirs[i].is_offline())
            .min_by_key(|&i| (locations.counts[i], i))
            .ok_or(LogDirsError::Offline)?;
        locations.insert(name, index);
        Ok(index)
    }

    /// Forgets partition `name` (its files were removed).
    pub fn release(&self, name: &str) {
        self.locked().remove(name);
    }

    /// How many partitions each directory holds, in configured order.
    pub fn partition_counts(&self) -> Vec<usize> {
        self.locked().counts.clone()
    }

    /// The partition directory of `name` in directory `index`.
    pub fn partition_path(&self, index: usize, name: &str) -> PathBuf {
        self.dirs[index].path.join(name)
    }

    /// Takes directory `index` offline (its partitions answer
    /// KAFKA_STORAGE_ERROR until restart). Returns whether it was online.
    pub fn mark_offline(&self, index: usize, reason: &str) -> bool {
        let was_online = !self.dirs[index].offline.swap(true, Ordering::AcqRel);
        if was_online {
            tracing::error!(
                dir = %self.dirs[index].path.display(),
                reason,
                "log directory failed; its partitions are offline until the broker restarts"
            );
        }
        was_online
    }

    /// Whether directory `index` is offline.
    pub fn is_offline(&self, index: usize) -> bool {
        self.dirs[index].is_offline()
    }

    /// Checks every online directory by writing, fsyncing and removing a
    /// small file in it, as Kafka notices a failed directory when its
    /// periodic checkpoint writes fail; a directory that fails goes
    /// offline. Blocking: run off the shards. Returns the indexes taken
    /// offline by this probe.
    pub fn probe(&self) -> Vec<usize> {
        let mut failed = Vec::new();
        for (index, dir) in self.dirs.iter().enumerate() {
            if dir.is_offline() {
                continue;
            }
            if let Err(error) = probe_dir(&dir.path) {
                if self.mark_offline(index, &error.to_string()) {
                    failed.push(index);
                }
            }
        }
        failed
    }

    /// Moves the files of partition `name`, closed by the caller, to
    /// directory `to`: copies them to `<name>.<uuid>-future` there and
    /// fsyncs the copy, renames the old directory to `<name>.<uuid>-delete`,
    /// renames the future copy to `<name>`, removes the old copy, and
    /// records the new location. Returns the new partition directory. A
    /// crash at any step leaves one whole copy that [`LogDirs::open`] keeps.
    /// Blocking.
    ///
    /// # Errors
    /// `NotFound` for a partition in no directory; `Offline` if either
    /// directory is; IO failures (the old copy is then still the live one,
    /// unless the failure came after the swap).
    pub fn move_partition_files(&self, name: &str, to: usize) -> Result<PathBuf, LogDirsError> {
        let from = self
            .locate(name)
            .ok_or_else(|| LogDirsError::NotFound(name.to_string()))?;
        if from == to {
            return Ok(self.partition_path(to, name));
        }
        if self.is_offline(from) || self.is_offline(to) {
            return Err(LogDirsError::Offline);
        }
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let source = self.partition_path(from, name);
        let target_parent = &self.dirs[to].path;
        let future = target_parent.join(format!("{name}.{tag}{FUTURE_SUFFIX}"));
        if let Err(error) = copy_dir(&source, &future).and_then(|()| sync_dir(target_parent)) {
            // The old copy stays live; the partial future is removed now or
            // by the next start's recovery.
            if let Err(cleanup) = std::fs::remove_dir_all(&future) {
                tracing::warn!(%cleanup, path = %future.display(), "could not remove a partial future copy");
            }
            return Err(error);
        }
        let doomed = self.dirs[from]
            .path
            .join(format!("{name}.{tag}{DELETE_SUFFIX}"));
        rename(&source, &doomed)?;
        sync_dir(&self.dirs[from].path)?;
        let live = self.partition_path(to, name);
        rename(&future, &live)?;
        sync_dir(target_parent)?;
        self.locked().insert(name, to);
        std::fs::remove_dir_all(&doomed).map_err(|e| LogDirsError::io(&doomed, e))?;
        sync_dir(&self.dirs[from].path)?;
        Ok(live)
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Locations> {
        // A panic while holding the lock left a consistent map (every
        // mutation is one insert or remove with its count), so a poisoned
        // lock is usable.
        self.locations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The partition name (`<topic>-<partition>`) a directory entry stands for,
/// and whether it is live, a future copy or a copy being deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Live(String),
    Future(String),
    Delete(String),
}

fn classify(file_name: &str) -> Option<Entry> {
    let tagged = |suffix: &str| -> Option<String> {
        let (name, tag) = file_name.strip_suffix(suffix)?.rsplit_once('.')?;
        let hex = tag.len() == 32 && tag.bytes().all(|b| b.is_ascii_hexdigit());
        (hex && is_partition_name(name)).then(|| name.to_string())
    };
    if let Some(name) = tagged(FUTURE_SUFFIX) {
        return Some(Entry::Future(name));
    }
    if let Some(name) = tagged(DELETE_SUFFIX) {
        return Some(Entry::Delete(name));
    }
    is_partition_name(file_name).then(|| Entry::Live(file_name.to_string()))
}

/// `<topic>-<partition>` with a non-empty topic and a decimal partition.
fn is_partition_name(name: &str) -> bool {
    name.rsplit_once('-').is_some_and(|(topic, partition)| {
        !topic.is_empty()
            && !partition.is_empty()
            && partition.bytes().all(|b| b.is_ascii_digit())
            && partition.parse::<i32>().is_ok()
    })
}

/// Scans every directory and settles each partition on one copy (see the
/// module doc): returns where each live partition is.
fn recover_partitions(dirs: &[LogDir]) -> Result<HashMap<String, usize>, LogDirsError> {
    // name → (live dirs, futures, deletes), each as (dir index, path).
    type Copies = (Vec<usize>, Vec<(usize, PathBuf)>, Vec<(usize, PathBuf)>);
    let mut found: BTreeMap<String, Copies> = BTreeMap::new();
    for (index, dir) in dirs.iter().enumerate() {
        let entries = std::fs::read_dir(&dir.path).map_err(|e| LogDirsError::io(&dir.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LogDirsError::io(&dir.path, e))?;
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Some(kind) = entry.file_name().to_str().and_then(classify) else {
                continue;
            };
            match kind {
                Entry::Live(name) => found.entry(name).or_default().0.push(index),
                Entry::Future(name) => found.entry(name).or_default().1.push((index, entry.path())),
                Entry::Delete(name) => found.entry(name).or_default().2.push((index, entry.path())),
            }
        }
    }
    let mut locations = HashMap::new();
    for (name, (live, futures, deletes)) in found {
        if let [first, second, ..] = live[..] {
            return Err(LogDirsError::DuplicatePartition {
                name,
                first: dirs[first].path.clone(),
                second: dirs[second].path.clone(),
            });
        }
        let mut futures = futures.into_iter();
        if let Some(&index) = live.first() {
            locations.insert(name.clone(), index);
        } else if !deletes.is_empty() {
            // The old copy was renamed away only after the future copy was
            // whole: the future is the partition now.
            if let Some((index, future)) = futures.next() {
                let target = dirs[index].path.join(&name);
                tracing::info!(from = %future.display(), to = %target.display(), "finishing a log directory move a crash interrupted");
                rename(&future, &target)?;
                sync_dir(&dirs[index].path)?;
                locations.insert(name.clone(), index);
            }
        }
        for (index, path) in futures.chain(deletes) {
            tracing::info!(path = %path.display(), "removing a partition copy left by an interrupted move or deletion");
            std::fs::remove_dir_all(&path).map_err(|e| LogDirsError::io(&path, e))?;
            sync_dir(&dirs[index].path)?;
        }
    }
    Ok(locations)
}

/// The `key=value` lines of `dir/meta.properties` (empty if absent).
fn read_meta_properties(dir: &Path) -> Result<HashMap<String, String>, LogDirsError> {
    let path = dir.join(META_PROPERTIES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(error) => return Err(LogDirsError::io(&path, error)),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with('!'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect())
}

/// Writes `dir/name` durably: a temporary file, fsync, rename, fsync of
/// the directory.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LogDirsError> {
    let temporary = dir.join(format!("{name}.tmp"));
    let io = |e| LogDirsError::io(&temporary, e);
    std::fs::write(&temporary, bytes).map_err(io)?;
    std::fs::File::open(&temporary)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    rename(&temporary, &dir.join(name))?;
    sync_dir(dir)
}

fn probe_dir(dir: &Path) -> Result<(), LogDirsError> {
    write_durably(dir, PROBE_FILE, b"probe\n")?;
    let path = dir.join(PROBE_FILE);
    std::fs::remove_file(&path).map_err(|e| LogDirsError::io(&path, e))
}

/// Copies the regular files of `from` into a new directory `to`, fsyncing
/// each and `to` itself.
fn copy_dir(from: &Path, to: &Path) -> Result<(), LogDirsError> {
    std::fs::create_dir(to).map_err(|e| LogDirsError::io(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| LogDirsError::io(from, e))? {
        let entry = entry.map_err(|e| LogDirsError::io(from, e))?;
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target).map_err(|e| LogDirsError::io(&target, e))?;
        std::fs::File::open(&target)
            .and_then(|f| f.sync_all())
            .map_err(|e| LogDirsError::io(&target, e))?;
    }
    sync_dir(to)
}

fn rename(from: &Path, to: &Path) -> Result<(), LogDirsError> {
    std::fs::rename(from, to).map_err(|e| LogDirsError::io(from, e))
}

fn sync_dir(dir: &Path) -> Result<(), LogDirsError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| LogDirsError::io(dir, e))
}

/// A fresh directory id: URL-safe base64 (no padding) of a random UUID, as
/// Kafka's `Uuid.randomUuid().toString()`.
fn new_directory_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().as_u128();
    // 128 bits in 22 six-bit digits, most significant first; the last
    // digit holds the low 2 bits followed by four zero bits.
    (0..22)
        .map(|i: i32| {
            let shift = 122 - 6 * i;
            let digit = if shift >= 0 {
                (bytes >> shift) & 63
            } else {
                (bytes << -shift) & 63
            };
            char::from(ALPHABET[digit as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_id_decodes_to_the_uuid_it_encodes() {
        // Kafka's Uuid.toString() of 0x0102..10 is "AQIDBAUGBwgJCgsMDQ4PEA".
        let uuid = u128::from_be_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(decode_directory_id("AQIDBAUGBwgJCgsMDQ4PEA"), Some(uuid));
        for _ in 0..100 {
            let id = new_directory_id();
            let decoded = decode_directory_id(&id).unwrap();
            assert_eq!(uuid::Uuid::from_u128(decoded).as_u128(), decoded);
        }
        assert_eq!(decode_directory_id("not base64"), None);
    }

    fn partition_dir(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000000000000000000.log"), b"data").unwrap();
        dir
    }

    fn two_dirs() -> (tempfile::TempDir, Vec<PathBuf>) {
        let root = tempfile::tempdir().unwrap();
        let paths = vec![root.path().join("a"), root.path().join("b")];
        (root, paths)
    }

    #[test]
    fn new_partitions_go_to_the_dir_with_the_fewest() {
        let (_root, paths) = two_dirs();
        partition_dir(&paths[0], "t-0");
        partition_dir(&paths[0], "t-1");
        let dirs = LogDirs::open(&paths, 1).unwrap();
        assert_eq!(dirs.partition_counts(), vec![2, 0]);
        assert_eq!(
            dirs.assign("t-0").unwrap(),
            0,
            "an existing partition stays"
        );
        assert_eq!(dirs.assign("u-0").unwrap(), 1);
        assert_eq!(dirs.assign("u-1").unwrap(), 1);
        // 2 and 2: the tie goes to the first configured.
        assert_eq!(dirs.assign("u-2").unwrap(), 0);
        dirs.release("t-0");
        dirs.release("t-1");
        assert_eq!(dirs.partition_counts(), vec![1, 2]);
        assert_eq!(dirs.assign("u-3").unwrap(), 0);
        dirs.release("t-0");
        assert_eq!(
            dirs.partition_counts(),
            vec![2, 2],
            "releasing an unknown partition changes no count"
        );
    }

    #[test]
    fn offline_dirs_get_no_new_partitions() {
        let (_root, paths) = two_dirs();
        let dirs = LogDirs::open(&paths, 1).unwrap();
        assert!(dirs.mark_offline(0, "test"));
        assert!(
            !dirs.mark_offline(0, "test"),
            "only the first failure counts"
        );
        assert_eq!(dirs.assign("t-0").unwrap(), 1);
        assert_eq!(dirs.assign("t-1").unwrap(), 1);
        dirs.mark_offline(1, "test");
        assert!(matches!(dirs.assign("t-2"), Err(LogDirsError::Offline)));
    }

    #[test]
    fn a_partition_in_two_dirs_is_a_startup_error() {
        let (_root, paths) = two_dirs();
        partition_dir(&paths[0], "t-0");
        partition_dir(&paths[1], "t-0");
        let error = LogDirs::open(&paths, 1).unwrap_err();
        assert!(
            matches!(error, LogDirsError::DuplicatePartition { ref name, .. } if name == "t-0")
        );
    }

    #[test]
    fn each_dir_gets_meta_properties_with_its_own_directory_id() {
        let (_root, paths) = two_dirs();
        let dirs = LogDirs::open(&paths, 3).unwrap();
        dirs.claim("cluster-x", 3).unwrap();
        let first = read_meta_properties(&paths[0]).unwrap();
        let second = read_meta_properties(&paths[1]).unwrap();
        assert_eq!(first["cluster.id"], "cluster-x");
        assert_eq!(first["node.id"], "3");
        assert_eq!(first["version"], "1");
        assert_eq!(first["directory.id"].len(), 22);
        assert_ne!(first["directory.id"], second["directory.id"]);
        // Reopened, the ids are kept; another node or cluster is refused.
        let again = LogDirs::open(&paths, 3).unwrap();
        assert_eq!(again.dir(0).directory_id(), first["directory.id"]);
        assert!(matches!(
            LogDirs::open(&paths, 4),
            Err(LogDirsError::NodeIdMismatch { .. })
        ));
        assert!(matches!(
            again.claim("cluster-y", 3),
            Err(LogDirsError::ClusterIdMismatch { .. })
        ));
    }

    #[test]
    fn a_move_copies_the_files_and_removes_the_old_copy() {
        let (_root, paths) = two_dirs();
        partition_dir(&paths[0], "t-0");
        let dirs = LogDirs::open(&paths, 1).unwrap();
        let moved = dirs.move_partition_files("t-0", 1).unwrap();
        assert_eq!(moved, paths[1].canonicalize().unwrap().join("t-0"));
        assert_eq!(
            std::fs::read(moved.join("00000000000000000000.log")).unwrap(),
            b"data"
        );
        assert!(!paths[0].join("t-0").exists());
        assert_eq!(dirs.locate("t-0"), Some(1));
        assert_eq!(std::fs::read_dir(&paths[0]).unwrap().count(), 0);
    }

    #[test]
    fn a_crash_before_the_swap_keeps_the_old_copy() {
        let (_root, paths) = two_dirs();
        partition_dir(&paths[0], "t-0");
        // A partial future copy, the old one still live.
        partition_dir(&paths[1], "t-0.0123456789abcdef0123456789abcdef-future");
        let dirs = LogDirs::open(&paths, 1).unwrap();
        assert_eq!(dirs.locate("t-0"), Some(0));
        assert_eq!(std::fs::read_dir(&paths[1]).unwrap().count(), 0);
    }

    #[test]
    fn a_crash_after_the_old_copy_was_renamed_promotes_the_future() {
        let (_root, paths) = two_dirs();
        partition_dir(&paths[0], "t-0.0123456789abcdef0123456789abcdef-delete");
        partition_dir(&paths[1], "t-0.0123456789abcdef0123456789abcdef-future");
        let dirs = LogDirs::open(&paths, 1).unwrap();
        assert_eq!(dirs.locate("t-0"), Some(1));
        assert!(paths[1]
            .join("t-0")
            .join("00000000000000000000.log")
            .exists());
        assert_eq!(std::fs::read_dir(&paths[0]).unwrap().count(), 0);
    }

    #[test]
    fn a_removed_dir_fails_its_probe_and_goes_offline() {
        let (_root, paths) = two_dirs();
        let dirs = LogDirs::open(&paths, 1).unwrap();
        assert!(dirs.probe().is_empty());
        std::fs::remove_dir_all(&paths[1]).unwrap();
        assert_eq!(dirs.probe(), vec![1]);
        assert!(dirs.is_offline(1));
        assert!(!dirs.is_offline(0));
        assert!(dirs.probe().is_empty(), "reported once");
    }

    #[test]
    fn names_are_classified_as_kafka_names_them() {
        assert_eq!(
            classify("my-topic-12"),
            Some(Entry::Live("my-topic-12".into()))
        );
        assert_eq!(classify("__skein_metadata"), None);
        assert_eq!(classify("t-x"), None);
        assert_eq!(
            classify("a.b-3.0123456789abcdef0123456789abcdef-future"),
            Some(Entry::Future("a.b-3".into()))
        );
        assert_eq!(classify("t-3.xyz-delete"), None);
    }
}
