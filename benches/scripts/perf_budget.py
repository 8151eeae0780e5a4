#!/usr/bin/env python3
"""Splits `perf script -F comm,tid,period,ip,sym` samples of a broker into
the CPU budget categories of issue 18 item 1 (the first rule whose
substring appears anywhere in a sample's stack wins).

Usage: perf script -i perf.data -F comm,tid,period,ip,sym > s.txt
       python3 benches/scripts/perf_budget.py s.txt [CORE_S_PER_GB]
"""
import sys, collections

RULES = [
    # (category, substrings any frame may contain) — order matters.
    ("reactor sleep/wake (context switch, membarrier IPIs)", ["io_cqring_wait", "link_rings_and_sleep", "Parker::park", "membarrier"]),
    ("request buffer: zero-fill, realloc copy, page faults", ["BytesMut::resize", "BytesMut::reserve", "grow_for_arrivals", "exc_page_fault", "clear_page"]),
    ("socket receive", ["tcp_recvmsg", "__sys_recvfrom", "__libc_recv", "recv_into_spare", "read_frame_size"]),
    ("CRC", ["crc32c"]),
    ("copy into the write buffer", ["Inner::copy_in"]),
    ("request parse", ["decode_request", "parse_request_header", "kafka_protocol::messages::produce_request", "Decodable"]),
    ("response (encode + send)", ["encode_response", "tcp_sendmsg", "__sys_sendto", "__libc_send", "write_all", "Encodable"]),
    ("IO: fdatasync", ["fdatasync", "vfs_fsync", "ext4_sync", "xfs_file_fsync", "sync_once"]),
    ("IO: submission + completion (io_uring, block, virtio)", ["io_uring", "io_submit_sqes", "blk_", "virtio", "iowrite16", "submit_sqes", "iomap_dio", "ext4_file_write", "xfs_file_write", "process_one_event", "consume_completion", "io_issue_sqe", "DmaFile", "write_at"]),
    ("cross-shard hops (mesh channels)", ["shared_channel", "skein_engine::mesh", "Mesh", "connect::{{closure}}", "ConnectedSender", "ConnectedReceiver"]),
    ("wake-ups (WaitList, waker, task switch)", ["WaitList", "notify_all", "notify_passed", "Waker", "wake_by", "::wake", "schedule", "WaitUntil"]),
    ("validation, metrics, producer state", ["validate", "record_count", "metrics", "producer", "BatchHeader"]),
    ("allocation", ["malloc", "_int_free", "cfree", "realloc", "buddy_alloc"]),
    ("timers + reactor loop", ["process_timers", "Timer", "clock_gettime", "spin_poll_io", "poll_io", "preempt"]),
]

def main():
    samples = collections.Counter()
    total = 0
    stack, period = [], 0
    def flush():
        nonlocal total
        if not stack:
            return
        text = "\n".join(stack)
        for name, keys in RULES:
            if any(k in text for k in keys):
                samples[name] += period
                break
        else:
            samples["the rest"] += period
        total += period
    for line in open(sys.argv[1]):
        if line and not line[0].isspace():
            flush()
            stack = []
            parts = line.split()
            period = int(parts[2]) if len(parts) > 2 else 1
        elif line.strip():
            stack.append(line.strip())
    flush()
    core_s_per_gb = float(sys.argv[2]) if len(sys.argv) > 2 else None
    print(f"{'category':58} {'share':>6} {'core·s/GB':>10}")
    for name, count in samples.most_common():
        share = count / total
        extra = f"{share * core_s_per_gb:10.3f}" if core_s_per_gb else ""
        print(f"{name:58} {share:6.1%} {extra}")
    print(f"{'total samples':58} {total / 1001001:6.0f}")

main()
