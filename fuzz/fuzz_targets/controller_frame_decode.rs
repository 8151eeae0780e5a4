//! Fuzzes the controller listener's decoders: any bytes as a frame body
//! (raft frames, BrokerRegistration, BrokerHeartbeat, forwarded admin
//! requests, metadata fetches) and as a metadata fetch answer (what a
//! broker-only node reads from a voter) must decode or be refused without
//! a panic, an abort or an allocation sized by a length read off the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skein_net::controller_rpc::{decode_controller_frame, decode_metadata_fetch_answer};

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    if let Ok((_header, request)) = decode_controller_frame(frame.clone()) {
        drop(request);
    }
    if let Ok(answer) = decode_metadata_fetch_answer(frame, 0) {
        drop(answer);
    }
});
