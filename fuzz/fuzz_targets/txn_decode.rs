//! Fuzzes the decoders of transaction bytes read from disk or a leader: an
//! aborted-transaction index file (`.txnindex`) and a transaction marker
//! (control batch). Neither may panic; what decodes obeys its invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = skein_replication::decode_txn_index(data, 0, i64::MAX) {
        for pair in entries.windows(2) {
            assert!(pair[0].last_offset < pair[1].last_offset, "ascending markers");
        }
        for entry in &entries {
            assert!(entry.first_offset <= entry.last_offset);
        }
    }
    std::hint::black_box(skein_replication::decode_txn_marker(data));
});
