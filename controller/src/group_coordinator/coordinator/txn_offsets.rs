//! Transactional offset commits (KIP-98, KIP-447) in the group coordinator:
//! Kafka's `GroupMetadataManager.storeOffsets` with a producer id and
//! `GroupMetadata.prepareTxnOffsetCommit`/`completePendingTxnOffsetCommit`.
//!
//! A TxnOffsetCommit is validated like an OffsetCommit (a member's
//! generation must be current; a non-member commits to an empty or unknown
//! group), written as a transactional batch of the producer and, once
//! durable, held as pending: OffsetFetch does not see it. When the
//! transaction's markers reach the group's `__consumer_offsets` partition
//! ([`Request::CompleteTransaction`]) a commit makes the pending offsets the
//! committed ones and an abort drops them. A replay sees the same outcome:
//! the driver hands it a committed transaction's records at its marker and
//! leaves an aborted one's out; the records of a transaction still open at
//! the end of the replay become pending again, and a transaction that ends
//! while the partition loads is applied once the load is done.

use super::*;
use crate::group_coordinator::request::{CompleteTransaction, TxnOffsetCommit};

impl GroupCoordinator {
    /// Whether an open transaction holds an offset of `group_id` for
    /// `partition` (Kafka's `hasPendingTransactionalOffsets`).
    pub(super) fn has_pending_txn_offset(
        &self,
        group_id: &str,
        partition: &TopicPartition,
    ) -> bool {
        self.pending_txn_offsets
            .iter()
            .any(|((_, group), offsets)| group == group_id && offsets.contains_key(partition))
    }

    pub(super) fn txn_offset_commit(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        req: TxnOffsetCommit,
    ) {
        let fail_all = |e: GroupError| {
            Response::TxnOffsetCommit(
                req.offsets
                    .iter()
                    .map(|o| (o.topic_partition.clone(), Err(e.clone())))
                    .collect(),
            )
        };
        if let Err(e) = self.validate_group_status(&req.group_id, true) {
            return self.respond(token, fail_all(e));
        }
        let member_commit =
            req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some();
        let group = self.groups.get(&req.group_id);
        let validation = match group {
            Some(group) if group.is(GroupState::Dead) => Err(GroupError::CoordinatorNotAvailable),
            Some(group) if member_commit => group
                .validate_current_member(&req.member_id, req.group_instance_id.as_deref())
                .and(if req.generation_id == group.generation_id {
                    Ok(())
                } else {
                    Err(GroupError::IllegalGeneration)
                }),
            // A member of a group that is gone.
            None if member_commit && !self.consumer_groups.contains_key(&req.group_id) => {
                Err(GroupError::IllegalGeneration)
            }
            _ => Ok(()),
        };
        if let Err(e) = validation {
            return self.respond(token, fail_all(e));
        }
        let max = usize::try_from(self.config.offset_metadata_max_bytes).unwrap_or(0);
        let results: Vec<(TopicPartition, Result<OffsetCommitValue, GroupError>)> = req
            .offsets
            .into_iter()
            .map(|o| {
                let metadata = o.metadata.unwrap_or_default();
                let value = if metadata.len() > max {
                    Err(GroupError::OffsetMetadataTooLarge)
                } else {
                    Ok(OffsetCommitValue {
                        offset: o.offset,
                        leader_epoch: o.leader_epoch.filter(|e| *e >= 0),
                        metadata,
                        commit_timestamp_ms: now_ms,
                        expire_timestamp_ms: None,
                    })
                };
                (o.topic_partition, value)
            })
            .collect();
        let records: Vec<OffsetsRecord> = results
            .iter()
            .filter_map(|(tp, value)| {
                Some(OffsetsRecord {
                    key: RecordKey::OffsetCommit {
                        group_id: req.group_id.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                    }
                    .encode(),
                    value: Some(value.as_ref().ok()?.encode()),
                })
            })
            .collect();
        if records.is_empty() {
            let response = results
                .into_iter()
                .map(|(tp, r)| (tp, r.map(|_| ())))
                .collect();
            return self.respond(token, Response::TxnOffsetCommit(response));
        }
        self.next_persist_id += 1;
        let id = PersistId(self.next_persist_id);
        let partition = self.partition_of(&req.group_id);
        self.pending_persists.insert(
            id,
            PendingPersist::TxnOffsetCommit {
                token,
                group_id: req.group_id,
                producer_id: req.producer_id,
                results,
            },
        );
        self.out.push(Action::Persist {
            id,
            partition,
            records,
            transactional: Some((req.producer_id, req.producer_epoch)),
        });
    }

    pub(super) fn txn_offsets_persisted(
        &mut self,
        token: RequestToken,
        group_id: String,
        producer_id: i64,
        results: Vec<(TopicPartition, Result<OffsetCommitValue, GroupError>)>,
        result: Result<(), AppendError>,
    ) {
        let response = results
            .into_iter()
            .map(|(tp, value)| {
                let outcome = match value {
                    Err(e) => Err(e),
                    Ok(value) => {
                        if result.is_ok() {
                            self.pending_txn_offsets
                                .entry((producer_id, group_id.clone()))
                                .or_default()
                                .insert(tp.clone(), value);
                        }
                        result.map_err(AppendError::for_offsets)
                    }
                };
                (tp, outcome)
            })
            .collect();
        self.respond(token, Response::TxnOffsetCommit(response));
    }

    pub(super) fn complete_transaction(
        &mut self,
        now_ms: i64,
        token: RequestToken,
        req: CompleteTransaction,
    ) {
        let loading = usize::try_from(req.partition)
            .ok()
            .and_then(|p| self.partitions.get(p))
            .is_some_and(|status| *status == PartitionStatus::Loading);
        if loading {
            self.completed_while_loading
                .entry(req.partition)
                .or_default()
                .push((req.producer_id, req.committed));
            return self.respond(token, Response::CompleteTransaction(0));
        }
        let completed =
            self.complete_pending_offsets(now_ms, req.partition, req.producer_id, req.committed);
        self.respond(token, Response::CompleteTransaction(completed));
    }

    /// Ends `producer_id`'s pending offsets in the groups of `partition`:
    /// committed ones become the groups' offsets, aborted ones are dropped.
    /// Returns how many there were.
    pub(super) fn complete_pending_offsets(
        &mut self,
        now_ms: i64,
        partition: u32,
        producer_id: i64,
        committed: bool,
    ) -> usize {
        let count = self.config.offsets_topic_num_partitions;
        let keys: Vec<(i64, String)> = self
            .pending_txn_offsets
            .range((producer_id, String::new())..)
            .take_while(|((id, _), _)| *id == producer_id)
            .filter(|((_, group_id), _)| partition_for_group(group_id, count) == partition)
            .map(|(key, _)| key.clone())
            .collect();
        let mut completed = 0;
        for key in keys {
            let Some(offsets) = self.pending_txn_offsets.remove(&key) else {
                continue;
            };
            completed += offsets.len();
            if !committed {
                continue;
            }
            let group_id = key.1;
            let mut group = self
                .groups
                .remove(&group_id)
                .unwrap_or_else(|| Group::new(group_id, now_ms));
            for (tp, value) in offsets {
                group.offsets.insert(tp, value);
            }
            self.put_group(group);
        }
        completed
    }

    /// The pending offsets of `partition`'s transactions still open at the
    /// end of its replay: `open_transactions` holds each producer's
    /// transactional records in log order.
    pub(super) fn open_transaction_offsets(
        &self,
        partition: u32,
        open_transactions: Vec<(i64, Vec<OffsetsRecord>)>,
    ) -> Result<PendingTxnOffsets, LoadError> {
        let count = self.config.offsets_topic_num_partitions;
        let mut pending = PendingTxnOffsets::new();
        for (producer_id, records) in open_transactions {
            for (index, record) in records.into_iter().enumerate() {
                let key = RecordKey::decode(&record.key)
                    .map_err(|source| LoadError::Record { index, source })?;
                let RecordKey::OffsetCommit {
                    group_id,
                    topic,
                    partition: topic_partition,
                } = key
                else {
                    // Only offset commits are written transactionally.
                    continue;
                };
                if partition_for_group(&group_id, count) != partition {
                    continue;
                }
                let tp = TopicPartition {
                    topic,
                    partition: topic_partition,
                };
                let offsets = pending.entry((producer_id, group_id)).or_default();
                match record.value {
                    Some(value) => {
                        let value = OffsetCommitValue::decode(&value)
                            .map_err(|source| LoadError::Record { index, source })?;
                        offsets.insert(tp, value);
                    }
                    None => {
                        offsets.remove(&tp);
                    }
                }
            }
        }
        pending.retain(|_, offsets| !offsets.is_empty());
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group_coordinator::request::{OffsetCommitPartition, OffsetFetch};

    const NOW: i64 = 1_700_000_000_000;

    fn loaded() -> GroupCoordinator {
        let config = GroupCoordinatorConfig::default();
        let mut coordinator = GroupCoordinator::new(config.clone(), 7);
        for p in 0..config.offsets_topic_num_partitions {
            assert!(coordinator.load_partition(p, Vec::new(), NOW).is_ok());
        }
        coordinator
    }

    fn commit(coordinator: &mut GroupCoordinator, producer_id: i64, offset: i64) -> Vec<Action> {
        let request = Request::TxnOffsetCommit(TxnOffsetCommit {
            transactional_id: "tx".into(),
            group_id: "my-group".into(),
            producer_id,
            producer_epoch: 0,
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: vec![OffsetCommitPartition {
                topic_partition: TopicPartition {
                    topic: "in".into(),
                    partition: 0,
                },
                offset,
                leader_epoch: None,
                metadata: None,
                commit_timestamp_ms: None,
            }],
        });
        coordinator.request(NOW, RequestToken(1), request)
    }

    fn fetch(
        coordinator: &mut GroupCoordinator,
        partitions: Option<Vec<TopicPartition>>,
        require_stable: bool,
    ) -> Vec<FetchedOffset> {
        let request = Request::OffsetFetch(OffsetFetch {
            group_id: "my-group".into(),
            partitions,
            member: None,
            require_stable,
        });
        match coordinator.request(NOW, RequestToken(2), request).pop() {
            Some(Action::Respond {
                response: Response::OffsetFetch(Ok(offsets)),
                ..
            }) => offsets,
            other => panic!("{other:?}"),
        }
    }

    fn fetched(coordinator: &mut GroupCoordinator) -> Vec<i64> {
        fetch(coordinator, None, false)
            .iter()
            .map(|o| o.offset)
            .collect()
    }

    fn complete(coordinator: &mut GroupCoordinator, producer_id: i64, committed: bool) -> Response {
        let request = Request::CompleteTransaction(CompleteTransaction {
            partition: partition_for_group("my-group", 50),
            producer_id,
            committed,
        });
        match coordinator.request(NOW, RequestToken(3), request).pop() {
            Some(Action::Respond { response, .. }) => response,
            other => panic!("{other:?}"),
        }
    }

    /// Commits `offset` for `producer_id` and completes the append.
    fn durable_commit(coordinator: &mut GroupCoordinator, producer_id: i64, offset: i64) {
        let actions = commit(coordinator, producer_id, offset);
        let [Action::Persist {
            id,
            partition,
            transactional,
            ..
        }] = actions.as_slice()
        else {
            panic!("{actions:?}")
        };
        assert_eq!(*partition, 12);
        assert_eq!(*transactional, Some((producer_id, 0)));
        let answered = coordinator.persisted(NOW, *id, Ok(()));
        assert!(matches!(
            answered.as_slice(),
            [Action::Respond { response: Response::TxnOffsetCommit(r), .. }] if r[0].1.is_ok()
        ));
    }

    #[test]
    fn transactional_offsets_become_visible_only_when_the_transaction_commits() {
        let mut coordinator = loaded();
        durable_commit(&mut coordinator, 9, 42);
        assert_eq!(fetched(&mut coordinator), Vec::<i64>::new());
        // Another producer's completion does not touch them.
        assert_eq!(
            complete(&mut coordinator, 8, true),
            Response::CompleteTransaction(0)
        );
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(1)
        );
        assert_eq!(fetched(&mut coordinator), vec![42]);
        // A second notification finds nothing pending.
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(0)
        );
    }

    #[test]
    fn a_require_stable_fetch_waits_for_an_open_transactions_offsets() {
        let mut coordinator = loaded();
        durable_commit(&mut coordinator, 8, 5);
        complete(&mut coordinator, 8, true);
        durable_commit(&mut coordinator, 9, 42);
        let in_0 = TopicPartition {
            topic: "in".into(),
            partition: 0,
        };
        let in_1 = TopicPartition {
            topic: "in".into(),
            partition: 1,
        };
        let stable = |o: &FetchedOffset| (o.offset, o.unstable);
        // Without require_stable the last committed offset is answered.
        let plain = fetch(&mut coordinator, Some(vec![in_0.clone()]), false);
        assert_eq!(plain.iter().map(stable).collect::<Vec<_>>(), [(5, false)]);
        // With it, the partition the transaction touches is unstable; the
        // others are answered as usual.
        let wanted = Some(vec![in_0.clone(), in_1]);
        let strict = fetch(&mut coordinator, wanted.clone(), true);
        assert_eq!(
            strict.iter().map(stable).collect::<Vec<_>>(),
            [(-1, true), (-1, false)]
        );
        let all = fetch(&mut coordinator, None, true);
        assert_eq!(all.iter().map(stable).collect::<Vec<_>>(), [(-1, true)]);
        complete(&mut coordinator, 9, true);
        let strict = fetch(&mut coordinator, wanted, true);
        assert_eq!(
            strict.iter().map(stable).collect::<Vec<_>>(),
            [(42, false), (-1, false)]
        );
    }

    #[test]
    fn aborted_transactional_offsets_are_dropped() {
        let mut coordinator = loaded();
        durable_commit(&mut coordinator, 9, 42);
        assert_eq!(
            complete(&mut coordinator, 9, false),
            Response::CompleteTransaction(1)
        );
        assert_eq!(fetched(&mut coordinator), Vec::<i64>::new());
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(0)
        );
        assert_eq!(fetched(&mut coordinator), Vec::<i64>::new());
    }

    #[test]
    fn losing_the_partition_drops_pending_transactional_offsets() {
        let mut coordinator = loaded();
        durable_commit(&mut coordinator, 9, 42);
        assert!(coordinator.unload_partition(12).is_ok());
        assert!(coordinator.load_partition(12, Vec::new(), NOW).is_ok());
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(0)
        );
    }

    /// The record a TxnOffsetCommit of `offset` for `in-0` writes.
    fn offset_record(offset: i64) -> OffsetsRecord {
        OffsetsRecord {
            key: RecordKey::OffsetCommit {
                group_id: "my-group".into(),
                topic: "in".into(),
                partition: 0,
            }
            .encode(),
            value: Some(
                OffsetCommitValue {
                    offset,
                    leader_epoch: None,
                    metadata: String::new(),
                    commit_timestamp_ms: NOW,
                    expire_timestamp_ms: None,
                }
                .encode(),
            ),
        }
    }

    #[test]
    fn offsets_of_a_transaction_open_at_reload_stay_pending_until_it_commits() {
        let mut coordinator = loaded();
        assert!(coordinator.begin_load(12).is_ok());
        let open = vec![(9, vec![offset_record(41), offset_record(42)])];
        assert!(coordinator
            .load_partition_with_open_transactions(12, Vec::new(), open, NOW)
            .is_ok());
        assert_eq!(fetched(&mut coordinator), Vec::<i64>::new());
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(1)
        );
        assert_eq!(fetched(&mut coordinator), vec![42]);
    }

    #[test]
    fn offsets_of_a_transaction_open_at_reload_are_dropped_when_it_aborts() {
        let mut coordinator = loaded();
        durable_commit(&mut coordinator, 8, 7);
        assert_eq!(
            complete(&mut coordinator, 8, true),
            Response::CompleteTransaction(1)
        );
        assert!(coordinator.begin_load(12).is_ok());
        let committed = vec![offset_record(7)];
        let open = vec![(9, vec![offset_record(42)])];
        assert!(coordinator
            .load_partition_with_open_transactions(12, committed, open, NOW)
            .is_ok());
        assert_eq!(
            complete(&mut coordinator, 9, false),
            Response::CompleteTransaction(1)
        );
        assert_eq!(fetched(&mut coordinator), vec![7]);
    }

    #[test]
    fn a_transaction_ending_while_its_partition_loads_is_applied_after_the_load() {
        let mut coordinator = loaded();
        assert!(coordinator.begin_load(12).is_ok());
        // The marker lies past what the replay read.
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(0)
        );
        let open = vec![(9, vec![offset_record(42)])];
        assert!(coordinator
            .load_partition_with_open_transactions(12, Vec::new(), open, NOW)
            .is_ok());
        assert_eq!(fetched(&mut coordinator), vec![42]);
    }

    #[test]
    fn a_new_load_forgets_completions_held_for_an_earlier_one() {
        let mut coordinator = loaded();
        assert!(coordinator.begin_load(12).is_ok());
        assert_eq!(
            complete(&mut coordinator, 9, true),
            Response::CompleteTransaction(0)
        );
        // The next load reads past that marker; the producer's open
        // transaction there is a later one.
        assert!(coordinator.begin_load(12).is_ok());
        let open = vec![(9, vec![offset_record(42)])];
        assert!(coordinator
            .load_partition_with_open_transactions(12, Vec::new(), open, NOW)
            .is_ok());
        assert_eq!(fetched(&mut coordinator), Vec::<i64>::new());
    }
}
