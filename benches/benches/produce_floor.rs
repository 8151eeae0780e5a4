//! The floor of Skein's produce design on this machine: the CPU that the
//! design's own per-byte work costs per GB of 1 KiB records, with nothing
//! else around it (no reactor, no protocol, no partition state).
//!
//! A sender thread (the client; its CPU is not counted) writes requests of
//! about 1 MiB — a 4-byte length, then `SKEIN_BENCH_BATCHES` v2 record
//! batches of `SKEIN_BENCH_BATCH_RECORDS` records with 1 024-byte values,
//! built by the engine's test batch builder — over a loopback TCP socket on
//! 127.0.0.1, with up to `SKEIN_BENCH_IN_FLIGHT` requests unanswered. The
//! receiver thread does exactly what issue 18 says the design costs per
//! request, and nothing else:
//!
//! 1. `recv` the request into a reused buffer;
//! 2. CRC32C of each batch, with the broker's own check
//!    (`skein_engine::validate_batch`: length, header fields, CRC32C);
//! 3. copy of each batch into its partition's 4096-aligned write buffer
//!    (batch *i* goes to partition *i* mod `SKEIN_BENCH_PARTITIONS`);
//! 4. every `SKEIN_BENCH_GROUP` requests (group commit; default the
//!    partition count, see `main`), one O_DIRECT `pwrite` per partition of
//!    its whole aligned pages (the partial last page is kept and rewritten in
//!    place by the next write, as the log does), into files preallocated in
//!    `$SKEIN_BENCH_DIR`;
//! 5. then one `fdatasync` per written file (flush.policy=batch);
//! 6. then an 8-byte response to each request of the group.
//!
//! With more than one partition, steps 4 and 5 run on one IO thread per
//! partition file, all at once, as the broker's io_uring submissions (and
//! io-wq's fdatasyncs) reach the disk concurrently; with one, inline.
//!
//! The CPU counted is the receiver thread's (`getrusage(RUSAGE_THREAD)`)
//! plus the IO threads' (`CLOCK_THREAD_CPUTIME_ID`) over the measured
//! requests (the first tenth warms up), split by step with
//! `CLOCK_THREAD_CPUTIME_ID`; "IO hand-off" is what the IO threads cost
//! beyond their writes and fdatasyncs (telling them, waking them, waiting). The same run is repeated without steps 4 and 5
//! ("no disk"), so the per-byte passes alone are visible. 1 GB is 1e9 bytes
//! of record values, as `cpu_per_gb.py` counts what rdkafka_performance
//! produced. Each round runs both variants (their order alternates); the
//! median and the spread of `SKEIN_BENCH_ROUNDS` rounds are printed, then
//! one `FLOOR_JSON {...}` line for scripts.
//!
//! Run: `cargo bench -p skein-benches --bench produce_floor`
//! (`SKEIN_BENCH_QUICK=1` smoke run; `SKEIN_BENCH_MB` MiB of values per
//! variant, default 1024; `SKEIN_BENCH_ROUNDS`; `SKEIN_BENCH_DIR`;
//! `SKEIN_BENCH_PARTITIONS` default 8; `SKEIN_BENCH_BATCHES` per request,
//! default 8; `SKEIN_BENCH_BATCH_RECORDS` default 128; `SKEIN_BENCH_GROUP`
//! default the partition count; `SKEIN_BENCH_IN_FLIGHT` default twice the
//! group; `SKEIN_BENCH_VARIANTS` = `disk`, `no-disk` or both).

use std::alloc::Layout;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use skein_benches::{bench_dir, median, quick, rounds, scenario_bytes};
use skein_engine::test_batch::BatchBuilder;
use skein_engine::validate_batch;

/// Value bytes per record: rdkafka_performance's `-s 1024`.
const RECORD_VALUE_BYTES: usize = 1_024;
/// Alignment of O_DIRECT writes and of the write buffers.
const PAGE: usize = 4_096;
const RESPONSE_BYTES: usize = 8;

/// The shape of one run.
#[derive(Clone, Copy, Debug)]
struct Shape {
    partitions: usize,
    batches_per_request: usize,
    batch_records: usize,
    in_flight: usize,
    /// Requests whose bytes one write + fdatasync per partition covers.
    group: usize,
    /// A multiple of `group`.
    requests: usize,
    /// A multiple of `group`.
    warm_up_requests: usize,
}

/// Thread CPU seconds spent in each step, over the measured requests.
#[derive(Clone, Copy, Debug, Default)]
struct Phases {
    recv: f64,
    crc: f64,
    copy: f64,
    write: f64,
    sync: f64,
    /// Telling the IO workers to go and waiting for them (receiver), and
    /// the workers' own wake-ups: the price of concurrent IO from threads.
    handoff: f64,
    respond: f64,
}

impl Phases {
    fn sum(&self) -> f64 {
        self.recv + self.crc + self.copy + self.write + self.sync + self.handoff + self.respond
    }
}

/// What the receiver measured.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// getrusage(RUSAGE_THREAD) user + system, over the measured requests.
    cpu_s: f64,
    phases: Phases,
    value_bytes: u64,
    wall_s: f64,
}

impl Outcome {
    fn per_gb(&self, seconds: f64) -> f64 {
        seconds / (self.value_bytes as f64 / 1e9)
    }
}

/// A 4096-aligned, zeroed heap buffer (the write buffer O_DIRECT needs).
struct AlignedBuffer {
    ptr: *mut u8,
    layout: Layout,
}

impl AlignedBuffer {
    fn new(bytes: usize) -> AlignedBuffer {
        let layout = Layout::from_size_align(bytes.next_multiple_of(PAGE), PAGE).expect("layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        AlignedBuffer { ptr, layout }
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` holds `layout.size()` initialised (zeroed) bytes we own.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_slice`, and `&mut self` makes the access unique.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

// SAFETY: the buffer is owned memory with no thread affinity; access goes
// through `&self` / `&mut self` (behind a `Mutex` when shared).
unsafe impl Send for AlignedBuffer {}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// One partition's file and write buffer: bytes `[0, filled)` of `buffer`
/// belong at `file_position` (a page boundary) onwards.
struct PartitionFile {
    file: Option<File>,
    buffer: AlignedBuffer,
    filled: usize,
    file_position: u64,
    dirty: bool,
}

impl PartitionFile {
    fn open(dir: &Path, index: usize, capacity: usize, preallocate: u64, disk: bool) -> Self {
        let file = disk.then(|| {
            let path = dir.join(format!("partition-{index}.log"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(&path)
                .expect("open O_DIRECT");
            // The log preallocates its active segment ahead of the writes:
            // a direct write into allocated space does not take the inode
            // lock an extending write does.
            // SAFETY: a valid fd and non-negative range.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, preallocate as i64) };
            assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
            file
        });
        PartitionFile {
            file,
            buffer: AlignedBuffer::new(capacity),
            filled: 0,
            file_position: 0,
            dirty: false,
        }
    }

    fn copy_in(&mut self, batch: &[u8]) {
        let end = self.filled + batch.len();
        self.buffer.as_mut_slice()[self.filled..end].copy_from_slice(batch);
        self.filled = end;
        self.dirty = true;
    }

    /// One O_DIRECT write of the whole pages holding `[0, filled)`.
    fn write(&mut self) {
        if !self.dirty {
            return;
        }
        let file = self.file.as_ref().expect("disk variant");
        let bytes = self.filled.next_multiple_of(PAGE);
        file.write_all_at(&self.buffer.as_slice()[..bytes], self.file_position)
            .expect("pwrite");
    }

    fn sync(&mut self) {
        if !self.dirty {
            return;
        }
        let file = self.file.as_ref().expect("disk variant");
        file.sync_data().expect("fdatasync");
    }

    /// Keeps the partial last page at the front of the buffer, where the
    /// next write rewrites it in place at its aligned file offset.
    fn advance(&mut self) {
        let whole = self.filled / PAGE * PAGE;
        if whole > 0 {
            let partial = self.filled - whole;
            self.buffer
                .as_mut_slice()
                .copy_within(whole..whole + partial, 0);
            self.filled = partial;
            self.file_position += whole as u64;
        }
        self.dirty = false;
    }
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), seconds.
fn thread_cpu_now() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0);
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// getrusage(RUSAGE_THREAD) user + system, seconds.
fn thread_rusage_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid `who` and a pointer to an rusage we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0);
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The request the sender repeats: a 4-byte length, then the batches.
fn build_request(shape: &Shape) -> Vec<u8> {
    let batch = BatchBuilder::new(1_700_000_000_000)
        .records(shape.batch_records, RECORD_VALUE_BYTES, 7)
        .build();
    let body_bytes = batch.len() * shape.batches_per_request;
    let mut request = Vec::with_capacity(4 + body_bytes);
    request.extend_from_slice(&u32::try_from(body_bytes).expect("small").to_be_bytes());
    for _ in 0..shape.batches_per_request {
        request.extend_from_slice(&batch);
    }
    request
}

fn sender(mut stream: TcpStream, request: Vec<u8>, shape: Shape) {
    let mut response = [0u8; RESPONSE_BYTES];
    let mut answered = 0;
    for sent in 1..=shape.requests {
        stream.write_all(&request).expect("send request");
        if sent - answered >= shape.in_flight {
            stream.read_exact(&mut response).expect("response");
            answered += 1;
        }
    }
    while answered < shape.requests {
        stream.read_exact(&mut response).expect("response");
        answered += 1;
    }
}

/// What an IO worker reports after one request's write and fdatasync.
struct IoDone {
    worker: usize,
    write_s: f64,
    sync_s: f64,
    /// The worker thread's CPU so far (CLOCK_THREAD_CPUTIME_ID), cumulative.
    thread_cpu_s: f64,
}

/// One thread per partition file that writes and fdatasyncs it when told:
/// the design submits every partition's write, then every fdatasync, at once
/// (io_uring; the fdatasyncs run on io-wq workers of the process), so the
/// disk sees them concurrently. Written one after another from one thread,
/// eight files' fdatasyncs would make the floor wait on the disk eight times
/// per request and measure a slower, costlier shape than the broker's.
/// Their CPU counts, as io-wq's does in the broker's.
struct IoWorkers {
    go: Vec<mpsc::Sender<bool>>,
    done: mpsc::Receiver<IoDone>,
    handles: Vec<std::thread::JoinHandle<()>>,
    thread_cpu_s: Vec<f64>,
}

impl IoWorkers {
    fn start(partitions: &[Arc<Mutex<PartitionFile>>]) -> IoWorkers {
        let (done_tx, done) = mpsc::channel();
        let (mut go, mut handles) = (Vec::new(), Vec::new());
        for (worker, partition) in partitions.iter().enumerate() {
            let (go_tx, go_rx) = mpsc::channel::<bool>();
            let (partition, done_tx) = (partition.clone(), done_tx.clone());
            handles.push(std::thread::spawn(move || {
                while go_rx.recv() == Ok(true) {
                    let mut partition = partition.lock().expect("partition lock");
                    let t0 = thread_cpu_now();
                    partition.write();
                    let t1 = thread_cpu_now();
                    partition.sync();
                    partition.advance();
                    let t2 = thread_cpu_now();
                    drop(partition);
                    let report = IoDone {
                        worker,
                        write_s: t1 - t0,
                        sync_s: t2 - t1,
                        thread_cpu_s: thread_cpu_now(),
                    };
                    done_tx.send(report).expect("receiver alive");
                }
            }));
            go.push(go_tx);
        }
        IoWorkers {
            go,
            done,
            handles,
            thread_cpu_s: vec![0.0; partitions.len()],
        }
    }

    /// Writes and fdatasyncs every partition with new bytes, concurrently;
    /// returns once all are durable.
    fn flush(&mut self, partitions: &[Arc<Mutex<PartitionFile>>], phases: &mut Phases) {
        let mut pending = 0;
        for (worker, partition) in partitions.iter().enumerate() {
            if partition.lock().expect("partition lock").dirty {
                self.go[worker].send(true).expect("worker alive");
                pending += 1;
            }
        }
        for _ in 0..pending {
            let report = self.done.recv().expect("worker alive");
            phases.write += report.write_s;
            phases.sync += report.sync_s;
            self.thread_cpu_s[report.worker] = report.thread_cpu_s;
        }
    }

    fn stop(self) {
        for go in &self.go {
            go.send(false).expect("worker alive");
        }
        for handle in self.handles {
            handle.join().expect("IO worker");
        }
    }
}

/// The design's per-request work, timed; returns the receiver's figures.
fn receiver(mut stream: TcpStream, dir: &Path, shape: Shape, disk: bool) -> Outcome {
    let request_bytes = build_request(&shape).len();
    let batch_bytes = (request_bytes - 4) / shape.batches_per_request;
    let batches_per_partition = shape.batches_per_request.div_ceil(shape.partitions);
    let capacity = shape.group * batches_per_partition * batch_bytes + PAGE;
    let preallocate = (shape.requests * batches_per_partition * batch_bytes + PAGE) as u64;
    let partitions: Vec<Arc<Mutex<PartitionFile>>> = (0..shape.partitions)
        .map(|index| {
            let file = PartitionFile::open(dir, index, capacity, preallocate, disk);
            Arc::new(Mutex::new(file))
        })
        .collect();
    // One file is written inline: one write and one fdatasync per request
    // need no concurrency.
    let mut workers = (disk && shape.partitions > 1).then(|| IoWorkers::start(&partitions));
    let mut body = vec![0u8; request_bytes];
    let mut batch_ends = Vec::with_capacity(shape.batches_per_request);
    let mut phases = Phases::default();
    let mut started: Option<(f64, Vec<f64>, Instant)> = None;
    for request in 0..shape.requests {
        if request == shape.warm_up_requests {
            phases = Phases::default();
            let workers_cpu = workers
                .as_ref()
                .map_or(Vec::new(), |w| w.thread_cpu_s.clone());
            started = Some((thread_rusage_seconds(), workers_cpu, Instant::now()));
        }
        let t0 = thread_cpu_now();
        let mut length = [0u8; 4];
        stream.read_exact(&mut length).expect("request length");
        let length = u32::from_be_bytes(length) as usize;
        stream
            .read_exact(&mut body[..length])
            .expect("request body");
        let body = &body[..length];
        let t1 = thread_cpu_now();
        batch_ends.clear();
        let mut position = 0;
        while position < body.len() {
            // The broker's own check: length, header fields and CRC32C.
            let end = position
                + validate_batch(&body[position..], usize::MAX).expect("a valid batch (CRC32C)");
            batch_ends.push(end);
            position = end;
        }
        let t2 = thread_cpu_now();
        let mut start = 0;
        for (index, &end) in batch_ends.iter().enumerate() {
            let mut partition = partitions[index % shape.partitions]
                .lock()
                .expect("partition lock");
            partition.copy_in(&body[start..end]);
            start = end;
        }
        let t3 = thread_cpu_now();
        let mut t4 = t3;
        // Group commit: one write + fdatasync per partition covers
        // `shape.group` requests, then each of them is answered.
        let flush = (request + 1) % shape.group == 0;
        match workers.as_mut() {
            _ if !flush => {}
            Some(workers) => workers.flush(&partitions, &mut phases),
            None => {
                for partition in &partitions {
                    let mut partition = partition.lock().expect("partition lock");
                    if disk {
                        partition.write();
                        t4 = thread_cpu_now();
                        partition.sync();
                    }
                    partition.advance();
                }
            }
        }
        let t5 = thread_cpu_now();
        if flush {
            for answered in request + 1 - shape.group..=request {
                let response = (answered as u64).to_be_bytes();
                stream.write_all(&response).expect("response");
            }
        }
        let t6 = thread_cpu_now();
        phases.recv += t1 - t0;
        phases.crc += t2 - t1;
        phases.copy += t3 - t2;
        if workers.is_some() {
            phases.handoff += t5 - t3;
        } else {
            phases.write += t4 - t3;
            phases.sync += t5 - t4;
        }
        phases.respond += t6 - t5;
    }
    let (cpu_start, workers_cpu_start, wall_start) = started.expect("more requests than warm-up");
    let receiver_cpu = thread_rusage_seconds() - cpu_start;
    // The workers' CPU over the measured requests, with their wake-ups;
    // what is not their write or fdatasync is the hand-off's.
    let workers_cpu = match workers.take() {
        Some(workers) => {
            let cpu: f64 = workers
                .thread_cpu_s
                .iter()
                .zip(&workers_cpu_start)
                .map(|(end, start)| end - start)
                .sum();
            workers.stop();
            phases.handoff += cpu - phases.write - phases.sync;
            cpu
        }
        None => 0.0,
    };
    let measured = (shape.requests - shape.warm_up_requests) as u64;
    Outcome {
        cpu_s: receiver_cpu + workers_cpu,
        phases,
        value_bytes: measured
            * (shape.batches_per_request * shape.batch_records * RECORD_VALUE_BYTES) as u64,
        wall_s: wall_start.elapsed().as_secs_f64(),
    }
}

/// One run of `shape` through a fresh loopback connection.
fn run_variant(dir: &Path, shape: Shape, disk: bool) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    let client = std::thread::spawn(move || {
        let stream = TcpStream::connect(address).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        sender(stream, build_request(&shape), shape);
    });
    let (stream, _) = listener.accept().expect("accept");
    stream.set_nodelay(true).expect("nodelay");
    let files_dir = dir.to_path_buf();
    let outcome = std::thread::spawn(move || receiver(stream, &files_dir, shape, disk))
        .join()
        .expect("receiver thread");
    client.join().expect("sender thread");
    for entry in std::fs::read_dir(dir).expect("read bench dir") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    outcome
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// "median [min–max]" of `values`, 3 decimals.
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.3} [{min:.3}–{max:.3}]", median(values))
}

fn json_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.4}")).collect();
    format!("[{}]", items.join(","))
}

fn main() {
    let mut shape = Shape {
        partitions: env_usize("SKEIN_BENCH_PARTITIONS", 8).max(1),
        batches_per_request: env_usize("SKEIN_BENCH_BATCHES", 8).max(1),
        batch_records: env_usize("SKEIN_BENCH_BATCH_RECORDS", 128).max(1),
        in_flight: 0,
        group: 0,
        requests: 0,
        warm_up_requests: 0,
    };
    // Group commit as the broker did it: under rdkafka_performance's load
    // (1 KiB records, 8 partitions, ~1 MB requests) it issued 871
    // fdatasyncs per GB, about one per request; with one fdatasync per
    // partition per `group` requests, `group` = partitions gives the same.
    shape.group = env_usize("SKEIN_BENCH_GROUP", shape.partitions).max(1);
    // The sender must be able to send a whole group before any response.
    shape.in_flight = env_usize("SKEIN_BENCH_IN_FLIGHT", 2 * shape.group).max(shape.group);
    let request_values = shape.batches_per_request * shape.batch_records * RECORD_VALUE_BYTES;
    let requests = (scenario_bytes(1_024) as usize)
        .div_ceil(request_values)
        .max(10 * shape.group);
    shape.requests = requests.next_multiple_of(shape.group);
    shape.warm_up_requests = (shape.requests / 10).next_multiple_of(shape.group);
    let variants = std::env::var("SKEIN_BENCH_VARIANTS").unwrap_or_default();
    let with_disk = variants.is_empty() || variants.split(',').any(|v| v == "disk");
    let without_disk = variants.is_empty() || variants.split(',').any(|v| v == "no-disk");
    assert!(
        with_disk || without_disk,
        "SKEIN_BENCH_VARIANTS is disk, no-disk or both"
    );
    let dir = bench_dir("produce-floor");
    println!(
        "dir {}  requests {} of {} batches x {} records x {} B values ({} KiB)  partitions {}  group commit every {} requests  in flight {}  rounds {}{}",
        dir.display(),
        shape.requests,
        shape.batches_per_request,
        shape.batch_records,
        RECORD_VALUE_BYTES,
        build_request(&shape).len() >> 10,
        shape.partitions,
        shape.group,
        shape.in_flight,
        rounds(),
        if quick() { " (quick)" } else { "" },
    );
    let mut json = Vec::new();
    for (disk, enabled) in [(true, with_disk), (false, without_disk)] {
        if !enabled {
            continue;
        }
        json.push((disk, Vec::new()));
    }
    for round in 0..rounds() {
        // Alternate which variant runs first, so both see the same drift.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..json.len()).collect()
        } else {
            (0..json.len()).rev().collect()
        };
        for index in order {
            let disk = json[index].0;
            let outcome = run_variant(&dir, shape, disk);
            json[index].1.push(outcome);
        }
    }
    let mut fields = Vec::new();
    for (disk, outcomes) in &json {
        let name = if *disk { "disk" } else { "no-disk" };
        let total: Vec<f64> = outcomes.iter().map(|o| o.per_gb(o.cpu_s)).collect();
        let phase = |pick: fn(&Phases) -> f64| -> Vec<f64> {
            outcomes.iter().map(|o| o.per_gb(pick(&o.phases))).collect()
        };
        let recv = phase(|p| p.recv);
        let crc = phase(|p| p.crc);
        let copy = phase(|p| p.copy);
        let write = phase(|p| p.write);
        let sync = phase(|p| p.sync);
        let handoff = phase(|p| p.handoff);
        let respond = phase(|p| p.respond);
        let timed = phase(Phases::sum);
        let mb_per_s: Vec<f64> = outcomes
            .iter()
            .map(|o| o.value_bytes as f64 / 1e6 / o.wall_s)
            .collect();
        println!(
            "floor {name:<7}: {} core·s/GB  ({} MB/s of values)  rounds: {}",
            spread(&total),
            spread(&mb_per_s),
            total
                .iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        println!(
            "  by step, core·s/GB: recv {}  crc {}  copy {}  write {}  fdatasync {}  IO hand-off {}  response {}  (steps sum {})",
            spread(&recv),
            spread(&crc),
            spread(&copy),
            spread(&write),
            spread(&sync),
            spread(&handoff),
            spread(&respond),
            spread(&timed),
        );
        let key = name.replace('-', "_");
        fields.push(format!("\"{key}_core_s_per_gb\":{}", json_list(&total)));
        for (step, values) in [
            ("recv", &recv),
            ("crc", &crc),
            ("copy", &copy),
            ("write", &write),
            ("fdatasync", &sync),
            ("handoff", &handoff),
            ("response", &respond),
        ] {
            fields.push(format!(
                "\"{key}_{step}_core_s_per_gb\":{}",
                json_list(values)
            ));
        }
        fields.push(format!("\"{key}_mb_per_s\":{}", json_list(&mb_per_s)));
    }
    println!("FLOOR_JSON {{{}}}", fields.join(","));
    std::fs::remove_dir_all(&dir).expect("clean up");
}
