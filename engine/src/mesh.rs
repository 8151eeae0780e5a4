//! The cross-shard mesh: bounded request/reply channels between every pair
//! of shards.
//!
//! Built from glommio shared channels created before the executors start, so
//! shard ids are fixed (glommio's own mesh numbers peers in join order). A
//! full channel makes the sender wait: back-pressure, never an unbounded
//! queue.
//!
//! Replies travel back on a second set of shared channels, not through a
//! thread-safe oneshot: a oneshot would wake the caller's task from the
//! replying shard's thread, and glommio's foreign wake-ups race with the
//! owning executor freeing the task (seen as segfaults in `do_wake` under
//! load). Shared channels instead notify the peer executor, which wakes its
//! own task. Each shard keeps its pending calls in a shard-local table, and
//! one pump task per peer completes them as answers arrive.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use futures::channel::oneshot;
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use crate::mesh_stats::MeshStats;
use crate::placement::ShardId;

/// A request on its way to another shard.
struct Call<Req> {
    origin: ShardId,
    call_id: u64,
    request: Req,
}

/// A reply on its way back to the calling shard.
struct Answer<Rep> {
    call_id: u64,
    reply: Rep,
}

/// Why a cross-shard call did not produce a reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MeshError {
    /// The target shard is not part of the mesh.
    #[error("no shard {0:?} in the mesh")]
    UnknownShard(ShardId),
    /// The target shard stopped (shutdown) before replying.
    #[error("shard {0:?} stopped before replying")]
    ShardStopped(ShardId),
}

/// The unconnected ends for one shard, made on the main thread and moved to
/// the shard's executor, where [`MeshPorts::connect`] turns them into a
/// [`Mesh`] and an [`Inbox`].
pub struct MeshPorts<Req: Send + 'static, Rep: Send + 'static> {
    shard: ShardId,
    call_senders: Vec<Option<SharedSender<Call<Req>>>>,
    call_receivers: Vec<SharedReceiver<Call<Req>>>,
    answer_senders: Vec<Option<SharedSender<Answer<Rep>>>>,
    answer_receivers: Vec<SharedReceiver<Answer<Rep>>>,
}

/// Creates the ports of a full mesh of `shards` shards whose channels hold at
/// most `capacity` messages each; element `i` belongs to shard `i`.
///
/// # Panics
/// If `shards` or `capacity` is zero.
pub fn mesh_ports<Req: Send + 'static, Rep: Send + 'static>(
    shards: usize,
    capacity: usize,
) -> Vec<MeshPorts<Req, Rep>> {
    assert!(shards > 0);
    assert!(capacity > 0);
    let mut ports: Vec<MeshPorts<Req, Rep>> = (0..shards)
        .map(|shard| MeshPorts {
            shard: ShardId(shard),
            call_senders: (0..shards).map(|_| None).collect(),
            call_receivers: Vec::with_capacity(shards.saturating_sub(1)),
            answer_senders: (0..shards).map(|_| None).collect(),
            answer_receivers: Vec::with_capacity(shards.saturating_sub(1)),
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from == to {
                continue;
            }
            let (sender, receiver) = shared_channel::new_bounded(capacity);
            ports[from].call_senders[to] = Some(sender);
            ports[to].call_receivers.push(receiver);
            let (sender, receiver) = shared_channel::new_bounded(capacity);
            ports[to].answer_senders[from] = Some(sender);
            ports[from].answer_receivers.push(receiver);
        }
    }
    ports
}

/// Connects every sender of a list at once (a connect waits for the peer to
/// connect its end, so one at a time would deadlock two shards).
async fn connect_senders<T: Send + 'static>(
    senders: Vec<Option<SharedSender<T>>>,
) -> Vec<Option<ConnectedSender<T>>> {
    futures::future::join_all(senders.into_iter().map(|sender| async move {
        match sender {
            Some(sender) => Some(sender.connect().await),
            None => None,
        }
    }))
    .await
}

async fn connect_receivers<T: Send + 'static>(
    receivers: Vec<SharedReceiver<T>>,
) -> Vec<ConnectedReceiver<T>> {
    futures::future::join_all(receivers.into_iter().map(|receiver| receiver.connect())).await
}

type PendingCalls<Rep> = Rc<RefCell<HashMap<u64, oneshot::Sender<Rep>>>>;

impl<Req: Send + 'static, Rep: Send + 'static> MeshPorts<Req, Rep> {
    /// Connects this shard's ends; must run on the shard's own executor.
    /// Returns the mesh handle and the stream of requests sent to this shard.
    pub async fn connect(self) -> (Mesh<Req, Rep>, Inbox<Req, Rep>) {
        let (call_senders, call_receivers, answer_senders, answer_receivers) = futures::join!(
            connect_senders(self.call_senders),
            connect_receivers(self.call_receivers),
            connect_senders(self.answer_senders),
            connect_receivers(self.answer_receivers),
        );
        let pending: PendingCalls<Rep> = Rc::new(RefCell::new(HashMap::new()));
        for receiver in answer_receivers {
            let pending = Rc::clone(&pending);
            glommio::spawn_local(async move {
                while let Some(answer) = receiver.recv().await {
                    let waiting = pending.borrow_mut().remove(&answer.call_id);
                    // A caller that was cancelled left its entry; the answer
                    // then has nowhere to go and is dropped.
                    if let Some(waiting) = waiting {
                        if waiting.send(answer.reply).is_err() {
                            tracing::trace!("cross-shard reply dropped: caller gone");
                        }
                    }
                }
            })
            .detach();
        }
        let stats = Arc::new(MeshStats::new(self.shard, call_senders.len()));
        let mesh = Mesh {
            shard: self.shard,
            stats,
            senders: Rc::new(call_senders),
            pending,
            next_call_id: Rc::new(Cell::new(0)),
        };
        let inbox = Inbox {
            shard: self.shard,
            receivers: call_receivers,
            answer_senders: Rc::new(answer_senders),
        };
        (mesh, inbox)
    }
}

/// The sending end of a channel to one peer shard.
type PeerSender<Req> = ConnectedSender<Call<Req>>;

/// This shard's sending side of the mesh. Cheap to clone (shard-local `Rc`).
///
/// Lives on: one shard (not `Send`).
pub struct Mesh<Req: Send + 'static, Rep: Send + 'static> {
    shard: ShardId,
    stats: Arc<MeshStats>,
    senders: Rc<Vec<Option<PeerSender<Req>>>>,
    pending: PendingCalls<Rep>,
    next_call_id: Rc<Cell<u64>>,
}

impl<Req: Send + 'static, Rep: Send + 'static> Clone for Mesh<Req, Rep> {
    fn clone(&self) -> Self {
        Mesh {
            shard: self.shard,
            stats: Arc::clone(&self.stats),
            senders: Rc::clone(&self.senders),
            pending: Rc::clone(&self.pending),
            next_call_id: Rc::clone(&self.next_call_id),
        }
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> Mesh<Req, Rep> {
    /// The shard this handle lives on.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// This shard's call statistics (in flight per peer, send-to-answer
    /// time), for the metrics registry to read.
    pub fn stats(&self) -> Arc<MeshStats> {
        Arc::clone(&self.stats)
    }

    /// How many shards the mesh joins (this one included).
    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    /// Sends `request` to `target` and waits for its reply. Waits while the
    /// target's channel is full (back-pressure).
    ///
    /// # Errors
    /// [`MeshError::UnknownShard`] for a target outside the mesh or this
    /// shard itself (call locally instead); [`MeshError::ShardStopped`] if the
    /// target shut down first.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the reply; the target still runs the
    /// request.
    pub async fn call(&self, target: ShardId, request: Req) -> Result<Rep, MeshError> {
        let sender = self
            .senders
            .get(target.0)
            .and_then(Option::as_ref)
            .ok_or(MeshError::UnknownShard(target))?;
        let call_id = self.next_call_id.get();
        self.next_call_id.set(call_id + 1);
        let (reply, replied) = oneshot::channel();
        let previous = self.pending.borrow_mut().insert(call_id, reply);
        assert!(previous.is_none(), "call ids are unique per shard");
        let call = Call {
            origin: self.shard,
            call_id,
            request,
        };
        // Counts the call in flight until it is answered, fails or is
        // dropped; times it only when answered.
        let in_flight = self.stats.start(target);
        if sender.send(call).await.is_err() {
            self.pending.borrow_mut().remove(&call_id);
            return Err(MeshError::ShardStopped(target));
        }
        let reply = replied.await.map_err(|_| MeshError::ShardStopped(target))?;
        in_flight.answered();
        Ok(reply)
    }
}

/// The requests arriving at one shard from all the others.
pub struct Inbox<Req: Send + 'static, Rep: Send + 'static> {
    shard: ShardId,
    receivers: Vec<ConnectedReceiver<Call<Req>>>,
    answer_senders: Rc<Vec<Option<ConnectedSender<Answer<Rep>>>>>,
}

impl<Req: Send + 'static, Rep: Send + 'static> Inbox<Req, Rep> {
    /// Serves every incoming request with `handler`, each in its own task so a
    /// slow request (a long-poll) does not hold up the others. Returns when
    /// every sender has gone.
    pub async fn serve<H, F>(self, handler: H)
    where
        H: Fn(Req) -> F + 'static,
        F: Future<Output = Rep> + 'static,
    {
        let handler = Rc::new(handler);
        let me = self.shard;
        let mut loops = Vec::with_capacity(self.receivers.len());
        for receiver in self.receivers {
            let handler = Rc::clone(&handler);
            let answer_senders = Rc::clone(&self.answer_senders);
            loops.push(glommio::spawn_local(async move {
                while let Some(call) = receiver.recv().await {
                    let Call {
                        origin,
                        call_id,
                        request,
                    } = call;
                    let work = handler(request);
                    let answer_senders = Rc::clone(&answer_senders);
                    glommio::spawn_local(async move {
                        let reply = work.await;
                        let Some(sender) = answer_senders.get(origin.0).and_then(Option::as_ref)
                        else {
                            tracing::error!(?origin, ?me, "no answer channel to the caller");
                            return;
                        };
                        if sender.send(Answer { call_id, reply }).await.is_err() {
                            tracing::trace!("cross-shard reply dropped: caller's shard gone");
                        }
                    })
                    .detach();
                }
            }));
        }
        for task in loops {
            task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};

    #[test]
    fn request_reaches_target_shard_and_reply_returns() {
        let ports = mesh_ports::<u32, (usize, u32)>(3, 4);
        let mut handles = Vec::new();
        for port in ports {
            handles.push(
                LocalExecutorBuilder::new(Placement::Unbound)
                    .spawn(move || async move {
                        let (mesh, inbox) = port.connect().await;
                        let me = mesh.shard();
                        glommio::spawn_local(
                            inbox.serve(move |n: u32| async move { (me.0, n * 2) }),
                        )
                        .detach();
                        let mut replies = Vec::new();
                        for round in 0..50u32 {
                            for target in 0..mesh.shard_count() {
                                if target != me.0 {
                                    let reply = mesh.call(ShardId(target), round).await;
                                    replies.push(reply);
                                }
                            }
                        }
                        let stats = mesh.stats();
                        assert_eq!(stats.call_latency.snapshot().count(), 100);
                        assert!(stats.in_flight().all(|(_, calls)| calls == 0));
                        assert_eq!(
                            mesh.call(me, 1).await,
                            Err(MeshError::UnknownShard(me)),
                            "calling yourself goes through the local path"
                        );
                        // Stay up until every peer has finished calling us.
                        glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
                        replies
                    })
                    .unwrap(),
            );
        }
        for (shard, handle) in handles.into_iter().enumerate() {
            let replies = handle.join().unwrap();
            let targets: Vec<usize> = (0..3).filter(|t| *t != shard).collect();
            let expected: Vec<Result<(usize, u32), MeshError>> = (0..50u32)
                .flat_map(|round| targets.iter().map(move |t| Ok((*t, round * 2))))
                .collect();
            assert_eq!(replies, expected);
        }
    }
}
