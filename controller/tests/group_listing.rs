//! The coordinator's listing of its groups for metrics: every group with
//! its state and its durable committed offsets.

mod group_support;

use group_support::*;
use skein_controller::group_coordinator::*;

/// A listed group: id, state, committed (topic, partition, offset).
type Listed = (String, GroupState, Vec<(String, i32, i64)>);

#[test]
fn groups_lists_states_and_only_durable_offsets() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_ok("g", generation, &ids[0], &[("t", 0, 42), ("t", 1, 7)]);
    h.stable_group("other", 2);
    h.auto_persist = false;
    let pending = h.commit("g", generation, &ids[0], &[("t", 2, 9)]);
    assert!(h.is_pending(pending));
    let listed: Vec<Listed> = h
        .coordinator
        .groups()
        .map(|(id, state, offsets)| {
            let offsets = offsets
                .map(|(topic, partition, offset)| (topic.to_owned(), partition, offset))
                .collect();
            (id.to_owned(), state, offsets)
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                "g".to_owned(),
                GroupState::Stable,
                vec![("t".to_owned(), 0, 42), ("t".to_owned(), 1, 7)]
            ),
            ("other".to_owned(), GroupState::Stable, vec![]),
        ]
    );
}
