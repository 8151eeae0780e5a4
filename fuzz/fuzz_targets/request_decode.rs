//! Fuzzes the request decoder: any bytes as a frame body (header and body)
//! must decode or be refused without a panic, an abort or an allocation
//! sized by a length read off the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    if let Ok((_header, request)) = skein_net::request::decode_frame(frame) {
        // Either outcome is fine; reaching here without a crash is the test.
        drop(request);
    }
});
