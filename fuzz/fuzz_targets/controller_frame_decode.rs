//! Fuzzes the controller listener's decoder: any bytes as a frame body
//! (raft frames, BrokerRegistration, BrokerHeartbeat) must decode or be
//! refused without a panic, an abort or an allocation sized by a length
//! read off the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    if let Ok((_header, request)) = skein_net::controller_rpc::decode_controller_frame(frame) {
        drop(request);
    }
});
