//! Fuzzes the replay of a `__transaction_state` partition: any bytes, cut
//! into length-prefixed keys and values (a zero-length value is a
//! tombstone), must load or be refused without a panic, an abort or an
//! allocation sized by a count read off the disk. A partition that loads is
//! then ticked past every timeout (aborts, marker sends) and asked for an
//! InitProducerId and a ListTransactions.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use skein_controller::transaction_coordinator::{
    InitProducerId, ListTransactions, Request, RequestToken, StateRecord, TransactionCoordinator,
    TransactionCoordinatorConfig,
};

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
    let config = TransactionCoordinatorConfig {
        transaction_state_num_partitions: 1,
        ..TransactionCoordinatorConfig::default()
    };
    let mut coordinator = TransactionCoordinator::new(config);
    let mut records = Vec::new();
    let mut rest = data;
    while let (Some(key), Some(value)) = (take(&mut rest), take(&mut rest)) {
        records.push(StateRecord {
            key: Bytes::copy_from_slice(key),
            value: (!value.is_empty()).then(|| Bytes::copy_from_slice(value)),
        });
    }
    let now = 1_700_000_000_000;
    if coordinator.load_partition(0, 1, records, now).is_err() {
        return;
    }
    coordinator.tick(now + 1_000_000_000);
    let init = InitProducerId {
        transactional_id: "t".into(),
        transaction_timeout_ms: 1_000,
        producer_id_and_epoch: None,
        fresh_producer_id: 1,
    };
    coordinator.request(now, RequestToken(1), Request::InitProducerId(init));
    coordinator.request(
        now,
        RequestToken(2),
        Request::ListTransactions(ListTransactions::default()),
    );
});
