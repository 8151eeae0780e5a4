//! The coordinator's transitions and errors, driven step by step as the
//! driver would, with appends and markers completed by hand.

use super::*;
use crate::transaction_coordinator::{AddOffsets, DescribedTransaction};

const NOW: i64 = 1_700_000_000_000;
const TXN: &str = "orders-tx";

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition {
        topic: topic.into(),
        partition,
    }
}

fn loaded() -> TransactionCoordinator {
    let config = TransactionCoordinatorConfig::default();
    let mut coordinator = TransactionCoordinator::new(config.clone());
    for p in 0..config.transaction_state_num_partitions {
        assert!(coordinator.load_partition(p, 3, Vec::new(), NOW).is_ok());
    }
    coordinator
}

/// A harness that completes every write and marker send at once and keeps
/// the records written, like a driver with an infallible log.
struct Harness {
    coordinator: TransactionCoordinator,
    log: Vec<(u32, StateRecord)>,
    markers: Vec<TransactionMarkers>,
    next_token: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            coordinator: loaded(),
            log: Vec::new(),
            markers: Vec::new(),
            next_token: 0,
        }
    }

    /// Runs `actions` to completion and returns the responses.
    fn settle(&mut self, now: i64, mut actions: Vec<Action>) -> Vec<Response> {
        let mut responses = Vec::new();
        while !actions.is_empty() {
            let mut next = Vec::new();
            for action in actions {
                match action {
                    Action::Respond { response, .. } => responses.push(response),
                    Action::Persist {
                        id,
                        partition,
                        record,
                    } => {
                        self.log.push((partition, record));
                        next.extend(self.coordinator.persisted(now, id, Ok(())));
                    }
                    Action::SendMarkers { id, markers } => {
                        self.markers.push(markers);
                        next.extend(self.coordinator.markers_written(now, id));
                    }
                }
            }
            actions = next;
        }
        responses
    }

    fn ask(&mut self, now: i64, request: Request) -> Response {
        let token = RequestToken(self.next_token);
        self.next_token += 1;
        let actions = self.coordinator.request(now, token, request);
        let mut responses = self.settle(now, actions);
        assert_eq!(responses.len(), 1, "{responses:?}");
        responses.remove(0)
    }

    fn init(&mut self, now: i64, fresh: i64, existing: Option<(i64, i16)>) -> Response {
        self.ask(
            now,
            Request::InitProducerId(InitProducerId {
                transactional_id: TXN.into(),
                transaction_timeout_ms: 60_000,
                producer_id_and_epoch: existing,
                fresh_producer_id: fresh,
            }),
        )
    }

    fn add(&mut self, now: i64, pid: i64, epoch: i16, partitions: Vec<TopicPartition>) -> Response {
        self.ask(
            now,
            Request::AddPartitions(AddPartitions {
                transactional_id: TXN.into(),
                producer_id: pid,
                producer_epoch: epoch,
                partitions,
                verify_only: false,
            }),
        )
    }

    fn end(&mut self, now: i64, pid: i64, epoch: i16, committed: bool) -> Response {
        self.ask(
            now,
            Request::EndTxn(EndTxn {
                transactional_id: TXN.into(),
                producer_id: pid,
                producer_epoch: epoch,
                committed,
            }),
        )
    }

    fn describe(&mut self) -> Result<DescribedTransaction, TransactionError> {
        match self.ask(NOW, Request::DescribeTransactions(vec![TXN.into()])) {
            Response::DescribeTransactions(mut all) => all.remove(0).1,
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn init_gives_a_fresh_producer_id_at_epoch_zero_then_bumps_the_epoch() {
    let mut h = Harness::new();
    assert_eq!(
        h.init(NOW, 4_000, None),
        Response::InitProducerId(Ok((4_000, 0)))
    );
    assert_eq!(
        h.init(NOW, 4_001, None),
        Response::InitProducerId(Ok((4_000, 1)))
    );
    assert_eq!(h.log.len(), 2);
    let partition = partition_for_transactional_id(TXN, 50);
    assert!(h.log.iter().all(|(p, _)| *p == partition));
    let value = decode_value(h.log[1].1.value.as_deref().unwrap_or_default());
    assert_eq!(
        value.map(|v| (v.producer_epoch, v.state)),
        Ok((1, TransactionState::Empty))
    );
}

#[test]
fn timeout_outside_the_maximum_is_invalid() {
    let mut h = Harness::new();
    for timeout in [0, 900_001] {
        let response = h.ask(
            NOW,
            Request::InitProducerId(InitProducerId {
                transactional_id: TXN.into(),
                transaction_timeout_ms: timeout,
                producer_id_and_epoch: None,
                fresh_producer_id: 1,
            }),
        );
        assert_eq!(
            response,
            Response::InitProducerId(Err(TransactionError::InvalidTransactionTimeout))
        );
    }
    assert!(h.log.is_empty());
}

#[test]
fn commit_writes_prepare_then_markers_then_complete() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    let partitions = vec![tp("a", 0), tp("a", 1), tp("b", 0)];
    assert_eq!(
        h.add(NOW, 7, 0, partitions.clone()),
        Response::AddPartitions(partitions.iter().map(|p| (p.clone(), Ok(()))).collect())
    );
    assert_eq!(h.describe().map(|d| d.state), Ok("Ongoing"));
    assert_eq!(h.end(NOW + 5, 7, 0, true), Response::EndTxn(Ok(())));
    assert_eq!(h.markers.len(), 1);
    assert_eq!(h.markers[0].partitions, partitions);
    assert!(h.markers[0].committed);
    assert_eq!(
        (h.markers[0].producer_id, h.markers[0].producer_epoch),
        (7, 0)
    );
    assert_eq!(h.markers[0].coordinator_epoch, 3);
    let states: Vec<TransactionState> = h
        .log
        .iter()
        .filter_map(|(_, r)| decode_value(r.value.as_deref()?).ok())
        .map(|v| v.state)
        .collect();
    assert_eq!(
        states,
        vec![
            TransactionState::Empty,
            TransactionState::Ongoing,
            TransactionState::PrepareCommit,
            TransactionState::CompleteCommit
        ]
    );
    let described = h.describe();
    assert_eq!(described.clone().map(|d| d.state), Ok("CompleteCommit"));
    assert_eq!(described.map(|d| d.partitions.len()), Ok(0));
    // A retried commit is answered ok; an abort of it is invalid.
    assert_eq!(h.end(NOW, 7, 0, true), Response::EndTxn(Ok(())));
    assert_eq!(
        h.end(NOW, 7, 0, false),
        Response::EndTxn(Err(TransactionError::InvalidTxnState))
    );
    // The next transaction starts from CompleteCommit.
    assert!(
        matches!(h.add(NOW, 7, 0, vec![tp("a", 0)]), Response::AddPartitions(r) if r[0].1.is_ok())
    );
}

#[test]
fn end_txn_while_markers_are_pending_is_concurrent() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0)]);
    let actions = h.coordinator.request(
        NOW,
        RequestToken(99),
        Request::EndTxn(EndTxn {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            committed: true,
        }),
    );
    let [Action::Persist { id, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let actions = h.coordinator.persisted(NOW, *id, Ok(()));
    assert!(matches!(
        actions.as_slice(),
        [Action::Respond { .. }, Action::SendMarkers { .. }]
    ));
    // Markers not yet written: the producer's next transaction must wait.
    assert_eq!(
        h.add(NOW, 7, 0, vec![tp("a", 0)]),
        Response::AddPartitions(vec![(
            tp("a", 0),
            Err(TransactionError::ConcurrentTransactions)
        )])
    );
    assert_eq!(
        h.end(NOW, 7, 0, true),
        Response::EndTxn(Err(TransactionError::ConcurrentTransactions))
    );
    assert_eq!(
        h.init(NOW, 8, None),
        Response::InitProducerId(Err(TransactionError::ConcurrentTransactions))
    );
}

/// The sequence librdkafka sends for "commit, then produce and abort"
/// (tests/e2e/test_transactions.py::test_commit_and_abort_across_partitions):
/// the next transaction's AddPartitionsToTxn is refused while the commit's
/// markers and then its CompleteCommit are being written, succeeds on the
/// retry, and the abort that follows is recorded and completed. (That test
/// failed because librdkafka aborted locally, without EndTxn, before any
/// AddPartitionsToTxn had succeeded, not because of this state machine.)
#[test]
fn abort_after_a_commit_is_recorded_once_the_next_transactions_partitions_are_added() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    let partitions = vec![tp("a", 0), tp("a", 1), tp("a", 2)];
    h.add(NOW, 7, 0, partitions.clone());
    let end = |committed| {
        Request::EndTxn(EndTxn {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            committed,
        })
    };
    let actions = h.coordinator.request(NOW, RequestToken(90), end(true));
    let [Action::Persist { id, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let actions = h.coordinator.persisted(NOW, *id, Ok(()));
    let [Action::Respond { .. }, Action::SendMarkers { id: markers, .. }] = actions.as_slice()
    else {
        panic!("{actions:?}")
    };
    let refused = Response::AddPartitions(
        partitions
            .iter()
            .map(|p| (p.clone(), Err(TransactionError::ConcurrentTransactions)))
            .collect(),
    );
    // Markers in flight, then CompleteCommit in flight: retry later.
    assert_eq!(h.add(NOW + 1, 7, 0, partitions.clone()), refused);
    let actions = h.coordinator.markers_written(NOW + 2, *markers);
    let [Action::Persist { id, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(h.add(NOW + 3, 7, 0, partitions.clone()), refused);
    assert_eq!(h.coordinator.persisted(NOW + 4, *id, Ok(())), Vec::new());
    assert_eq!(h.describe().map(|d| d.state), Ok("CompleteCommit"));
    // The retry after CompleteCommit starts the next transaction.
    assert_eq!(
        h.add(NOW + 20, 7, 0, partitions.clone()),
        Response::AddPartitions(partitions.iter().map(|p| (p.clone(), Ok(()))).collect())
    );
    let described = h.describe();
    assert_eq!(described.clone().map(|d| d.state), Ok("Ongoing"));
    assert_eq!(described.map(|d| d.start_ms), Ok(NOW + 20));
    // Its abort is recorded, its markers are abort markers for the same
    // partitions at the same epoch, and it completes.
    assert_eq!(h.ask(NOW + 21, end(false)), Response::EndTxn(Ok(())));
    let last = h.markers.last().cloned();
    assert_eq!(
        last.map(|m| (m.committed, m.producer_epoch, m.partitions)),
        Some((false, 0, partitions))
    );
    let described = h.describe();
    assert_eq!(described.clone().map(|d| d.state), Ok("CompleteAbort"));
    assert_eq!(described.map(|d| d.partitions.len()), Ok(0));
    // A retried abort is answered ok; a commit of it is invalid.
    assert_eq!(h.ask(NOW + 22, end(false)), Response::EndTxn(Ok(())));
    assert_eq!(
        h.ask(NOW + 22, end(true)),
        Response::EndTxn(Err(TransactionError::InvalidTxnState))
    );
}

#[test]
fn end_txn_with_nothing_begun_is_invalid_txn_state() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    assert_eq!(
        h.end(NOW, 7, 0, true),
        Response::EndTxn(Err(TransactionError::InvalidTxnState))
    );
}

#[test]
fn a_second_instance_fences_the_first_and_aborts_its_transaction() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0), tp("b", 2)]);
    // The new instance's first InitProducerId aborts the ongoing
    // transaction at a bumped epoch and is told to retry.
    assert_eq!(
        h.init(NOW, 8, None),
        Response::InitProducerId(Err(TransactionError::ConcurrentTransactions))
    );
    assert_eq!(h.markers.len(), 1);
    assert!(!h.markers[0].committed);
    assert_eq!(h.markers[0].producer_epoch, 1);
    assert_eq!(h.describe().map(|d| d.state), Ok("CompleteAbort"));
    assert_eq!(h.init(NOW, 8, None), Response::InitProducerId(Ok((7, 2))));
    // The old instance is fenced wherever it turns.
    assert_eq!(
        h.end(NOW, 7, 0, true),
        Response::EndTxn(Err(TransactionError::ProducerFenced))
    );
    assert_eq!(
        h.add(NOW, 7, 0, vec![tp("a", 0)]),
        Response::AddPartitions(vec![(tp("a", 0), Err(TransactionError::ProducerFenced))])
    );
    assert_eq!(
        h.add(NOW, 9, 2, vec![tp("a", 0)]),
        Response::AddPartitions(vec![(
            tp("a", 0),
            Err(TransactionError::InvalidProducerIdMapping)
        )])
    );
}

#[test]
fn kip_360_reinit_with_the_current_epoch_bumps_and_a_stale_one_is_fenced() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    assert_eq!(
        h.init(NOW, 8, Some((7, 0))),
        Response::InitProducerId(Ok((7, 1)))
    );
    // A retry of that bump (its response was lost) gets the same epoch.
    assert_eq!(
        h.init(NOW, 8, Some((7, 0))),
        Response::InitProducerId(Ok((7, 1)))
    );
    assert_eq!(h.log.len(), 2);
    assert_eq!(
        h.init(NOW, 8, Some((7, 5))),
        Response::InitProducerId(Err(TransactionError::ProducerFenced))
    );
}

#[test]
fn exhausted_epoch_rotates_to_the_fresh_producer_id() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    if let Some(meta) = h.coordinator.transactions.get_mut(TXN) {
        meta.producer_epoch = i16::MAX - 1;
    }
    assert_eq!(h.init(NOW, 8, None), Response::InitProducerId(Ok((8, 0))));
}

#[test]
fn timed_out_transaction_is_aborted_with_an_epoch_bump_on_the_next_scan() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0)]);
    let actions = h.coordinator.tick(NOW + 30_000);
    assert!(h.settle(NOW + 30_000, actions).is_empty());
    assert_eq!(h.describe().map(|d| d.state), Ok("Ongoing"));
    // 60 s timeout; the scan runs every 10 s.
    assert_eq!(h.coordinator.next_deadline(), Some(NOW + 40_000));
    let actions = h.coordinator.tick(NOW + 60_000);
    assert!(h.settle(NOW + 60_000, actions).is_empty());
    assert_eq!(
        h.describe().map(|d| (d.state, d.producer_epoch)),
        Ok(("CompleteAbort", 1))
    );
    assert_eq!(h.markers.len(), 1);
    assert!(!h.markers[0].committed);
    assert_eq!(h.markers[0].producer_epoch, 1);
    assert_eq!(
        h.end(NOW + 61_000, 7, 0, true),
        Response::EndTxn(Err(TransactionError::ProducerFenced))
    );
}

#[test]
fn idle_transactional_id_expires_with_a_tombstone() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    let expiry = NOW + 604_800_000 + 3_600_000;
    let actions = h.coordinator.tick(expiry);
    h.settle(expiry, actions);
    assert_eq!(h.log.last().map(|(_, r)| r.value.is_none()), Some(true));
    assert_eq!(h.describe(), Err(TransactionError::TransactionalIdNotFound));
}

#[test]
fn failed_append_answers_and_keeps_the_old_state() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    let actions = h.coordinator.request(
        NOW,
        RequestToken(5),
        Request::AddPartitions(AddPartitions {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            partitions: vec![tp("a", 0)],
            verify_only: false,
        }),
    );
    let [Action::Persist { id, .. }] = actions.as_slice() else {
        panic!()
    };
    assert_eq!(
        h.coordinator
            .persisted(NOW, *id, Err(AppendError::Unavailable)),
        vec![Action::Respond {
            token: RequestToken(5),
            response: Response::AddPartitions(vec![(
                tp("a", 0),
                Err(TransactionError::CoordinatorNotAvailable)
            )]),
        }]
    );
    assert_eq!(h.describe().map(|d| d.state), Ok("Empty"));
}

#[test]
fn add_offsets_adds_the_groups_consumer_offsets_partition() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    let response = h.ask(
        NOW,
        Request::AddOffsets(AddOffsets {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            group_id: "my-group".into(),
        }),
    );
    assert_eq!(response, Response::AddOffsets(Ok(())));
    assert_eq!(
        h.describe().map(|d| d.partitions),
        Ok(vec![tp(CONSUMER_OFFSETS_TOPIC, 12)])
    );
}

#[test]
fn verify_only_checks_membership_without_writing() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0)]);
    let writes = h.log.len();
    let response = h.ask(
        NOW,
        Request::AddPartitions(AddPartitions {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            partitions: vec![tp("a", 0), tp("a", 1)],
            verify_only: true,
        }),
    );
    assert_eq!(
        response,
        Response::AddPartitions(vec![
            (tp("a", 0), Ok(())),
            (tp("a", 1), Err(TransactionError::InvalidTxnState))
        ])
    );
    assert_eq!(h.log.len(), writes);
}

#[test]
fn unowned_and_loading_partitions_refuse_requests() {
    let mut h = Harness::new();
    let partition = partition_for_transactional_id(TXN, 50);
    assert!(h.coordinator.begin_load(partition).is_ok());
    assert_eq!(
        h.init(NOW, 7, None),
        Response::InitProducerId(Err(TransactionError::CoordinatorLoadInProgress))
    );
    assert!(h.coordinator.unload_partition(partition).is_ok());
    assert_eq!(
        h.init(NOW, 7, None),
        Response::InitProducerId(Err(TransactionError::NotCoordinator))
    );
    assert_eq!(h.describe(), Err(TransactionError::NotCoordinator));
}

#[test]
fn unload_answers_the_request_waiting_on_a_write() {
    let mut h = Harness::new();
    let actions = h.coordinator.request(
        NOW,
        RequestToken(1),
        Request::InitProducerId(InitProducerId {
            transactional_id: TXN.into(),
            transaction_timeout_ms: 1_000,
            producer_id_and_epoch: None,
            fresh_producer_id: 7,
        }),
    );
    let [Action::Persist { id, partition, .. }] = actions.as_slice() else {
        panic!()
    };
    let unloaded = h.coordinator.unload_partition(*partition);
    assert_eq!(
        unloaded,
        Ok(vec![Action::Respond {
            token: RequestToken(1),
            response: Response::InitProducerId(Err(TransactionError::NotCoordinator)),
        }])
    );
    assert!(h.coordinator.persisted(NOW, *id, Ok(())).is_empty());
}

#[test]
fn reload_rebuilds_state_and_resends_markers_of_a_preparing_transaction() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0), tp("b", 1)]);
    // EndTxn's PrepareAbort is durable but the coordinator dies before the
    // markers: keep the log up to the prepare.
    let actions = h.coordinator.request(
        NOW,
        RequestToken(1),
        Request::EndTxn(EndTxn {
            transactional_id: TXN.into(),
            producer_id: 7,
            producer_epoch: 0,
            committed: false,
        }),
    );
    let [Action::Persist { record, .. }] = actions.as_slice() else {
        panic!()
    };
    let mut records: Vec<StateRecord> = h.log.iter().map(|(_, r)| r.clone()).collect();
    records.push(record.clone());
    // Another id in the same partition, removed by a tombstone.
    records.push(StateRecord {
        key: encode_key("gone"),
        value: records[0].value.clone(),
    });
    records.push(StateRecord {
        key: encode_key("gone"),
        value: None,
    });
    let partition = partition_for_transactional_id(TXN, 50);
    let mut fresh = loaded();
    let actions = fresh
        .load_partition(partition, 9, records, NOW + 1)
        .unwrap_or_default();
    let [Action::SendMarkers { markers, .. }] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!(markers.coordinator_epoch, 9);
    assert!(!markers.committed);
    assert_eq!(markers.partitions, vec![tp("a", 0), tp("b", 1)]);
    let held: Vec<(&str, TransactionState)> = fresh.transactions().collect();
    assert_eq!(held, vec![(TXN, TransactionState::PrepareAbort)]);
}

#[test]
fn reload_of_an_ongoing_transaction_aborts_it_after_its_timeout() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0)]);
    let records: Vec<StateRecord> = h.log.iter().map(|(_, r)| r.clone()).collect();
    let partition = partition_for_transactional_id(TXN, 50);
    let mut restarted = Harness::new();
    restarted.coordinator = TransactionCoordinator::new(TransactionCoordinatorConfig::default());
    for p in 0..50 {
        let records = if p == partition {
            records.clone()
        } else {
            Vec::new()
        };
        assert_eq!(
            restarted.coordinator.load_partition(p, 1, records, NOW),
            Ok(Vec::new())
        );
    }
    let actions = restarted.coordinator.tick(NOW + 60_000);
    restarted.settle(NOW + 60_000, actions);
    assert_eq!(restarted.describe().map(|d| d.state), Ok("CompleteAbort"));
    assert_eq!(restarted.markers.len(), 1);
}

#[test]
fn undecodable_record_fails_the_load() {
    let mut coordinator = TransactionCoordinator::new(TransactionCoordinatorConfig::default());
    let bad = StateRecord {
        key: encode_key("x"),
        value: Some(bytes::Bytes::from_static(&[0, 0, 1])),
    };
    assert!(matches!(
        coordinator.load_partition(0, 1, vec![bad], NOW),
        Err(TransactionLoadError::Record { index: 0, .. })
    ));
    assert!(coordinator.load_partition(50, 1, Vec::new(), NOW).is_err());
}

#[test]
fn list_filters_by_state_and_producer_and_reports_unknown_states() {
    let mut h = Harness::new();
    h.init(NOW, 7, None);
    h.add(NOW, 7, 0, vec![tp("a", 0)]);
    let response = h.ask(
        NOW + 2_000,
        Request::ListTransactions(ListTransactions {
            state_filters: vec!["Ongoing".into(), "Bogus".into()],
            producer_id_filters: vec![7],
            duration_filter_ms: Some(1_000),
        }),
    );
    assert_eq!(
        response,
        Response::ListTransactions(Ok((
            vec![ListedTransaction {
                transactional_id: TXN.into(),
                producer_id: 7,
                state: "Ongoing"
            }],
            vec!["Bogus".into()]
        )))
    );
    let response = h.ask(
        NOW,
        Request::ListTransactions(ListTransactions {
            state_filters: vec!["Empty".into()],
            ..ListTransactions::default()
        }),
    );
    assert_eq!(
        response,
        Response::ListTransactions(Ok((Vec::new(), Vec::new())))
    );
}
