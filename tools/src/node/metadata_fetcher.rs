//! A broker-only node's reader of the committed metadata log: it asks a
//! voter for the entries after the index it has applied (a long poll, see
//! `ControlShard::metadata_fetch`), applies the answer, and the publisher
//! sends each new image to the data shards, as a KRaft broker follows
//! `__cluster_metadata`. It reads from the active controller when it knows
//! it (a lagging or partitioned voter would hold it back), else from each
//! voter in turn, reconnecting after any failure; a voter it cannot reach
//! is not taken for the active controller until a voter names it again.
//!
//! Lives on: the control shard of a broker-only node.

use std::rc::Rc;
use std::time::Duration;

use crate::node::control_shard::ControlShard;
use skein_net::controller_client::ControllerConnection;
use skein_net::controller_rpc::MetadataFetch;

/// How long a voter may hold a fetch waiting for a new entry.
const FETCH_WAIT_MS: u32 = 500;
/// About how many payload bytes one answer carries.
const FETCH_BYTES: u32 = 4 << 20;
/// The pause after a failed fetch before the next voter is tried.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// Follows the committed metadata log from the voters until the task is
/// cancelled. `local_cluster_id` (stored or configured) travels with each
/// fetch until the image records the quorum's, so a voter of another
/// cluster refuses this node.
pub async fn run(control: Rc<ControlShard>, node_id: i32, local_cluster_id: Option<String>) {
    let voters = control.voters().to_vec();
    if voters.is_empty() {
        return;
    }
    let mut next_voter = 0usize;
    let mut connection: Option<(i32, ControllerConnection)> = None;
    let mut warned = false;
    loop {
        let Some(after_index) = control.applied_metadata_index() else {
            return;
        };
        let (voter_id, mut open) = match connection.take() {
            Some(open) => open,
            None => {
                let voter = control
                    .active_controller()
                    .and_then(|id| voters.iter().find(|voter| voter.node_id == id))
                    .or_else(|| voters.get(next_voter % voters.len()));
                next_voter = next_voter.wrapping_add(1);
                let Some(voter) = voter else {
                    return;
                };
                let address = format!("{}:{}", voter.host, voter.port);
                match ControllerConnection::connect_to(
                    &address,
                    &control.peer_security().controller,
                )
                .await
                {
                    Ok(open) => (voter.node_id, open),
                    Err(error) => {
                        control.voter_unreachable(voter.node_id);
                        if !warned {
                            tracing::warn!(voter = voter.node_id, %address, %error, "metadata voter unreachable; trying the next");
                            warned = true;
                        }
                        glommio::timer::sleep(RETRY_BACKOFF).await;
                        continue;
                    }
                }
            }
        };
        let fetch = MetadataFetch {
            from: node_id,
            cluster_id: control
                .image()
                .cluster_id
                .clone()
                .or_else(|| local_cluster_id.clone()),
            after_index,
            max_wait_ms: FETCH_WAIT_MS,
            max_bytes: FETCH_BYTES,
        };
        let answer = match open.fetch_metadata(&fetch).await {
            Ok(answer) => answer,
            Err(error) => {
                control.voter_unreachable(voter_id);
                tracing::debug!(voter = voter_id, %error, "metadata fetch failed; reconnecting");
                glommio::timer::sleep(RETRY_BACKOFF).await;
                continue;
            }
        };
        warned = false;
        let leader = answer.leader_id;
        let refused = answer.error_code != 0;
        if let Err(error) = control.follow(voter_id, answer) {
            // A voter sent what does not apply: ask another.
            tracing::error!(voter = voter_id, %error, "committed metadata does not apply");
            glommio::timer::sleep(RETRY_BACKOFF).await;
            continue;
        }
        if refused {
            glommio::timer::sleep(RETRY_BACKOFF).await;
            continue;
        }
        // Keep the connection unless another voter is now the leader.
        if leader.is_none_or(|leader| leader == voter_id) {
            connection = Some((voter_id, open));
        }
    }
}
