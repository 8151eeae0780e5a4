//! Randomised simulation: clients send arbitrary (often stale or wrong)
//! group requests, appends fail or stall, time jumps. The coordinator must
//! never panic, must answer every request exactly once, and must leave no
//! request parked forever.

mod group_support;

use group_support::*;
use proptest::prelude::*;
use skein_controller::group_coordinator::*;

#[derive(Debug, Clone)]
enum Step {
    JoinNew {
        client: u8,
        instance: Option<u8>,
        v4: bool,
        protocol: u8,
    },
    Rejoin {
        member: u8,
        protocol: u8,
    },
    Sync {
        member: u8,
        generation_delta: i8,
        leader_assigns: bool,
    },
    /// Every known member syncs with its generation, each assigning all.
    SyncAll,
    Heartbeat {
        member: u8,
    },
    Leave {
        member: u8,
    },
    Commit {
        member: u8,
        offset: i64,
    },
    Advance {
        ms: u32,
    },
    Persist {
        fail: bool,
    },
    ToggleAutoPersist,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..4u8, proptest::option::of(0..2u8), any::<bool>(), 0..2u8)
            .prop_map(|(client, instance, v4, protocol)| Step::JoinNew { client, instance, v4, protocol }),
        3 => (0..8u8, 0..2u8).prop_map(|(member, protocol)| Step::Rejoin { member, protocol }),
        3 => (0..8u8, prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)], any::<bool>())
            .prop_map(|(member, generation_delta, leader_assigns)| Step::Sync { member, generation_delta, leader_assigns }),
        3 => Just(Step::SyncAll),
        3 => (0..8u8).prop_map(|member| Step::Heartbeat { member }),
        1 => (0..8u8).prop_map(|member| Step::Leave { member }),
        1 => (0..8u8, 0..100i64).prop_map(|(member, offset)| Step::Commit { member, offset }),
        3 => prop_oneof![4 => 0..4_000u32, 1 => 0..40_000u32].prop_map(|ms| Step::Advance { ms }),
        1 => any::<bool>().prop_map(|fail| Step::Persist { fail }),
        1 => Just(Step::ToggleAutoPersist),
    ]
}

const PROTOCOLS: [&[&str]; 2] = [&["range"], &["range", "roundrobin"]];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_request_is_answered_exactly_once_and_nothing_panics(steps in proptest::collection::vec(step(), 1..80)) {
        let mut h = Harness::new();
        let mut sent = Vec::new();
        // The instance id each JoinGroup was sent with.
        let mut join_instance: std::collections::BTreeMap<RequestToken, Option<String>> = Default::default();
        // Member ids learnt from responses, with the generation last seen.
        let mut known: Vec<(String, Option<String>, i32)> = Vec::new();
        let pick = |known: &Vec<(String, Option<String>, i32)>, i: u8| known.get(i as usize % known.len().max(1)).cloned();
        for s in steps {
            match s {
                Step::JoinNew { client, instance, v4, protocol } => {
                    let mut j = join("g", "", &format!("c{client}"), PROTOCOLS[protocol as usize]);
                    j.group_instance_id = instance.map(|i| format!("i{i}"));
                    j.require_known_member_id = v4;
                    let instance = j.group_instance_id.clone();
                    let t = h.send(Request::JoinGroup(j));
                    join_instance.insert(t, instance);
                    sent.push(t);
                }
                Step::Rejoin { member, protocol } => {
                    if let Some((id, instance, _)) = pick(&known, member) {
                        let mut j = join("g", &id, "c", PROTOCOLS[protocol as usize]);
                        j.group_instance_id = instance.clone();
                        let t = h.send(Request::JoinGroup(j));
                        join_instance.insert(t, instance);
                        sent.push(t);
                    }
                }
                Step::Sync { member, generation_delta, leader_assigns } => {
                    if let Some((id, _, generation)) = pick(&known, member) {
                        let assignments: Vec<(String, String)> = if leader_assigns {
                            known.iter().map(|(m, _, _)| (m.clone(), format!("a-{m}"))).collect()
                        } else {
                            Vec::new()
                        };
                        let pairs: Vec<(&str, &str)> = assignments.iter().map(|(m, a)| (m.as_str(), a.as_str())).collect();
                        sent.push(h.sync("g", generation + i32::from(generation_delta), &id, &pairs));
                    }
                }
                Step::SyncAll => {
                    let assignments: Vec<(String, String)> =
                        known.iter().map(|(m, _, _)| (m.clone(), format!("a-{m}"))).collect();
                    let pairs: Vec<(&str, &str)> = assignments.iter().map(|(m, a)| (m.as_str(), a.as_str())).collect();
                    for (id, _, generation) in known.clone() {
                        sent.push(h.sync("g", generation, &id, &pairs));
                    }
                }
                Step::Heartbeat { member } => {
                    if let Some((id, instance, generation)) = pick(&known, member) {
                        let _ = h.heartbeat_static("g", generation, &id, instance.as_deref());
                    }
                }
                Step::Leave { member } => {
                    if let Some((id, _, _)) = pick(&known, member) {
                        let _ = h.leave("g", &id);
                    }
                }
                Step::Commit { member, offset } => {
                    if let Some((id, _, generation)) = pick(&known, member) {
                        sent.push(h.commit("g", generation, &id, &[("t", 0, offset)]));
                    }
                }
                Step::Advance { ms } => h.advance(i64::from(ms)),
                Step::Persist { fail } => {
                    h.complete_persists(if fail { Err(AppendError::NotLeader) } else { Ok(()) });
                }
                Step::ToggleAutoPersist => h.auto_persist = !h.auto_persist,
            }
            // Learn member ids and generations from join responses.
            for (token, response) in h.inbox.iter() {
                if let Response::JoinGroup(r) = response {
                    let instance = join_instance.get(token).cloned().flatten();
                    match r {
                        Ok(j) => {
                            known.retain(|(m, _, _)| m != &j.member_id);
                            known.push((j.member_id.clone(), instance, j.generation_id));
                        }
                        Err(GroupError::MemberIdRequired { member_id }) => {
                            known.push((member_id.clone(), None, 0));
                        }
                        Err(_) => {}
                    }
                }
            }
            let joins: Vec<RequestToken> = h
                .inbox
                .iter()
                .filter(|(_, r)| matches!(r, Response::JoinGroup(_)))
                .map(|(t, _)| *t)
                .collect();
            for t in joins {
                h.take(t);
            }
            known.truncate(16);
        }
        // Drain: durable appends, then long enough for every session,
        // rebalance and join timeout to pass.
        h.auto_persist = true;
        h.complete_persists(Ok(()));
        for _ in 0..4 {
            h.advance(10 * 60 * 1000);
            h.complete_persists(Ok(()));
        }
        for t in sent {
            prop_assert!(!h.is_pending(t), "request {:?} never answered", t);
        }
        let state = h.state("g");
        prop_assert!(matches!(state, None | Some(GroupState::Empty)), "group left as {:?}", state);
    }
}
