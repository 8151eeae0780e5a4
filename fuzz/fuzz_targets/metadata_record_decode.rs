//! Fuzzes the metadata record decoder and the image that applies records:
//! any bytes, cut into length-prefixed records as a metadata log or a Raft
//! entry holds them, must decode or be refused without a panic, an abort or
//! an allocation sized by a length read off the disk; a record that decodes
//! re-encodes to the same bytes; and the image applies any sequence of
//! decoded records without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skein_controller::{MetadataImage, MetadataRecord};

fuzz_target!(|data: &[u8]| {
    let mut image = MetadataImage::new(1);
    let mut rest = data;
    while let [high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
        let (bytes, after) = tail.split_at(len);
        rest = after;
        let Ok(record) = MetadataRecord::decode(bytes) else {
            continue;
        };
        let mut encoded = Vec::new();
        record.encode(&mut encoded);
        assert_eq!(encoded, bytes, "a decoded record re-encodes to its bytes");
        image.apply(&record);
    }
    // Every accessor works on whatever the records built.
    for topic in image.topics() {
        for (partition, state) in topic.partition_states() {
            assert_eq!(image.leader(&topic.topic_id, partition), Some(state.leader));
        }
    }
    for broker in image.brokers() {
        for (topic_id, partition) in image.partitions_led_by(broker.broker_id) {
            assert_eq!(image.leader(&topic_id, partition), Some(broker.broker_id));
        }
    }
});
