//! Fuzzes the replay of a `__consumer_offsets` partition: any bytes, cut
//! into length-prefixed keys and values (a zero-length value is a
//! tombstone), must load or be refused without a panic, an abort or an
//! allocation sized by a length read off the disk. Covers every record
//! schema the coordinator reads: offset commits, classic group metadata and
//! the consumer group (KIP-848) records, whose values are flexible-version
//! encodings with varint lengths and tagged fields. A partition that loads
//! then serves a consumer group heartbeat without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skein_controller::group_coordinator::{
    partition_for_group, ConsumerGroupHeartbeat, GroupCoordinator, GroupCoordinatorConfig,
    OffsetsRecord, Request, RequestToken, TopicMetadata,
};

const GROUP: &str = "g";

fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let [high, low, tail @ ..] = *rest else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*high, *low])).min(tail.len());
    let (bytes, after) = tail.split_at(len);
    *rest = after;
    Some(bytes)
}

fuzz_target!(|data: &[u8]| {
    let config = GroupCoordinatorConfig {
        offsets_topic_num_partitions: 1,
        ..GroupCoordinatorConfig::default()
    };
    let mut coordinator = GroupCoordinator::new(config, 1);
    let mut records = Vec::new();
    let mut rest = data;
    while let (Some(key), Some(value)) = (take(&mut rest), take(&mut rest)) {
        records.push(OffsetsRecord {
            key: Bytes::copy_from_slice(key),
            value: (!value.is_empty()).then(|| Bytes::copy_from_slice(value)),
        });
    }
    let now = 1_700_000_000_000;
    assert_eq!(partition_for_group(GROUP, 1), 0);
    if coordinator.load_partition(0, records, now).is_err() {
        return;
    }
    coordinator.set_topics([(
        "t".to_string(),
        TopicMetadata {
            topic_id: [1; 16],
            partitions: 3,
        },
    )]);
    let heartbeat = ConsumerGroupHeartbeat {
        group_id: GROUP.into(),
        member_id: "m".into(),
        member_epoch: 0,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: 1000,
        subscribed_topic_names: Some(vec!["t".into()]),
        subscribed_topic_regex: None,
        server_assignor: None,
        owned_partitions: Some(Vec::new()),
        client_id: "c".into(),
        client_host: "/h".into(),
    };
    coordinator.request(now, RequestToken(1), Request::ConsumerGroupHeartbeat(heartbeat));
    coordinator.tick(now + 3_600_000);
});
