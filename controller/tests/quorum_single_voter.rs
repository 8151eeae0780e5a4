//! The metadata quorum with one voter, as `skein serve` runs it: it leads as
//! soon as it campaigns, a proposal commits and is handed out to apply in
//! the same step, and a quorum seeded from a snapshot (a data dir upgraded
//! from the pre-quorum metadata log) installs it first and continues after
//! it.
use bytes::Bytes;
use skein_controller::quorum::{
    MemoryLogStore, QuorumAction, QuorumConfig, QuorumInput, QuorumNode, QuorumRole, RaftLogStore,
    StoredLog,
};

fn open(store: &MemoryLogStore) -> QuorumNode<MemoryLogStore> {
    QuorumNode::open(QuorumConfig::new(1, vec![1]), store.clone()).unwrap()
}

fn applied(actions: &[QuorumAction]) -> Vec<(u64, Bytes)> {
    actions
        .iter()
        .filter_map(|a| match a {
            QuorumAction::Apply(entries) => Some(entries),
            _ => None,
        })
        .flatten()
        .map(|e| (e.index, e.payload.clone()))
        .collect()
}

#[test]
fn single_voter_leads_on_campaign_and_commits_a_proposal_in_the_same_step() {
    let store = MemoryLogStore::new();
    let mut node = open(&store);
    let actions = node.step(QuorumInput::Campaign).unwrap();
    assert!(actions.contains(&QuorumAction::BecameLeader { term: 1 }));
    assert_eq!(node.role(), QuorumRole::Leader);
    let syncs = store.sync_count();
    let actions = node
        .step(QuorumInput::Propose(Bytes::from_static(b"a")))
        .unwrap();
    let QuorumAction::Proposed { index, term } = actions[0] else {
        panic!("not proposed: {actions:?}");
    };
    assert_eq!(term, 1);
    assert_eq!(applied(&actions), vec![(index, Bytes::from_static(b"a"))]);
    assert!(store.sync_count() > syncs, "synced before it was applied");
    assert_eq!(store.durable().entries.last().unwrap().index, index);
}

#[test]
fn seeded_quorum_installs_its_snapshot_then_continues_after_it() {
    let mut store = MemoryLogStore::new();
    store
        .rewrite(&StoredLog::seeded(&[1], Bytes::from_static(b"image")))
        .unwrap();
    let mut node = open(&store);
    let actions = node.step(QuorumInput::Campaign).unwrap();
    assert_eq!(
        actions[0],
        QuorumAction::InstallSnapshot {
            index: 1,
            term: 1,
            data: Bytes::from_static(b"image")
        }
    );
    assert_eq!(node.role(), QuorumRole::Leader);
    assert!(node.term() > 1);
    let actions = node
        .step(QuorumInput::Propose(Bytes::from_static(b"b")))
        .unwrap();
    let entries = applied(&actions);
    assert_eq!(entries.len(), 1);
    assert!(entries[0].0 > 1);
    drop(node);
    // A restart (after a crash that lost what was staged, the commit index
    // of the last step) installs the same snapshot and replays the entry
    // after it: campaigning commits it again.
    store.crash();
    let mut node = open(&store);
    let actions = node.step(QuorumInput::Campaign).unwrap();
    assert!(matches!(
        actions[0],
        QuorumAction::InstallSnapshot { index: 1, .. }
    ));
    assert_eq!(applied(&actions), entries);
}

#[test]
fn a_single_voter_reports_itself_as_leader_with_no_lag() {
    let store = MemoryLogStore::new();
    let mut node = open(&store);
    node.step(QuorumInput::Campaign).unwrap();
    node.step(QuorumInput::Propose(Bytes::from_static(b"a")))
        .unwrap();
    let status = node.status();
    assert_eq!(status.leader_id, Some(1));
    assert_eq!(status.term, 1);
    // The leader's empty entry of term 1, then the proposal.
    assert_eq!(status.high_watermark, 2);
    let [voter] = status.voters.as_slice() else {
        panic!("one voter: {status:?}");
    };
    assert_eq!((voter.id, voter.log_end_offset), (1, Some(2)));
    assert_eq!(status.lag(voter), Some(0));
}
