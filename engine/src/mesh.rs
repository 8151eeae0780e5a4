//! The cross-shard mesh: a bounded request/reply channel from every shard to
//! every other shard.
//!
//! Built from glommio shared channels created before the executors start, so
//! shard ids are fixed (glommio's own mesh numbers peers in join order). A
//! full channel makes the sender wait: back-pressure, never an unbounded
//! queue. Each request carries a oneshot for its reply.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use futures::channel::oneshot;
use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use crate::placement::ShardId;

/// A request travelling to another shard with the channel for its reply.
pub struct Envelope<Req, Rep> {
    request: Req,
    reply: oneshot::Sender<Rep>,
}

/// Sends a reply back; a requester that went away is not an error.
fn send_reply<Rep>(reply: oneshot::Sender<Rep>, answer: Rep) {
    // The requester may have been cancelled (its connection closed): the
    // reply then has nowhere to go and is dropped.
    if reply.send(answer).is_err() {
        tracing::trace!("cross-shard reply dropped: requester gone");
    }
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

/// The sending end of a channel to one peer shard.
type PeerSender<Req, Rep> = ConnectedSender<Envelope<Req, Rep>>;

/// The unconnected ends for one shard, made on the main thread and moved to
/// the shard's executor, where [`MeshPorts::connect`] turns them into a
/// [`Mesh`].
pub struct MeshPorts<Req: Send + 'static, Rep: Send + 'static> {
    shard: ShardId,
    senders: Vec<Option<SharedSender<Envelope<Req, Rep>>>>,
    receivers: Vec<SharedReceiver<Envelope<Req, Rep>>>,
}

/// Creates the ports of a full mesh of `shards` shards whose channels hold at
/// most `capacity` requests each; element `i` belongs to shard `i`.
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
            senders: (0..shards).map(|_| None).collect(),
            receivers: Vec::with_capacity(shards.saturating_sub(1)),
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from == to {
                continue;
            }
            let (sender, receiver) = shared_channel::new_bounded(capacity);
            ports[from].senders[to] = Some(sender);
            ports[to].receivers.push(receiver);
        }
    }
    ports
}

impl<Req: Send + 'static, Rep: Send + 'static> MeshPorts<Req, Rep> {
    /// Connects this shard's ends; must run on the shard's own executor.
    /// Returns the mesh handle and the stream of requests sent to this shard.
    pub async fn connect(self) -> (Mesh<Req, Rep>, Inbox<Req, Rep>) {
        // A sender's connect waits for the receiving shard to connect its end,
        // so both directions must be connected at once or two shards deadlock.
        let senders =
            futures::future::join_all(self.senders.into_iter().map(|sender| async move {
                match sender {
                    Some(sender) => Some(sender.connect().await),
                    None => None,
                }
            }));
        let receivers = futures::future::join_all(
            self.receivers
                .into_iter()
                .map(|receiver| receiver.connect()),
        );
        let (senders, receivers) = futures::future::join(senders, receivers).await;
        let mesh = Mesh {
            shard: self.shard,
            senders: Rc::new(senders),
        };
        (mesh, Inbox { receivers })
    }
}

/// This shard's sending side of the mesh. Cheap to clone (shard-local `Rc`).
///
/// Lives on: one shard (not `Send`).
pub struct Mesh<Req: Send + 'static, Rep: Send + 'static> {
    shard: ShardId,
    senders: Rc<Vec<Option<PeerSender<Req, Rep>>>>,
}

impl<Req: Send + 'static, Rep: Send + 'static> Clone for Mesh<Req, Rep> {
    fn clone(&self) -> Self {
        Mesh {
            shard: self.shard,
            senders: Rc::clone(&self.senders),
        }
    }
}

impl<Req: Send + 'static, Rep: Send + 'static> Mesh<Req, Rep> {
    /// The shard this handle lives on.
    pub fn shard(&self) -> ShardId {
        self.shard
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
        let (reply, replied) = oneshot::channel();
        sender
            .send(Envelope { request, reply })
            .await
            .map_err(|_| MeshError::ShardStopped(target))?;
        replied.await.map_err(|_| MeshError::ShardStopped(target))
    }
}

/// The requests arriving at one shard from all the others.
pub struct Inbox<Req: Send + 'static, Rep: Send + 'static> {
    receivers: Vec<ConnectedReceiver<Envelope<Req, Rep>>>,
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
        let running = Rc::new(RefCell::new(Vec::new()));
        for receiver in self.receivers {
            let handler = Rc::clone(&handler);
            running.borrow_mut().push(glommio::spawn_local(async move {
                while let Some(envelope) = receiver.recv().await {
                    let Envelope { request, reply } = envelope;
                    let work = handler(request);
                    glommio::spawn_local(async move {
                        send_reply(reply, work.await);
                    })
                    .detach();
                }
            }));
        }
        let tasks = std::mem::take(&mut *running.borrow_mut());
        for task in tasks {
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
                        let server = glommio::spawn_local(
                            inbox.serve(move |n: u32| async move { (me.0, n * 2) }),
                        );
                        let mut replies = Vec::new();
                        for target in 0..mesh.shard_count() {
                            if target != me.0 {
                                replies.push(mesh.call(ShardId(target), 21).await);
                            }
                        }
                        assert_eq!(
                            mesh.call(me, 1).await,
                            Err(MeshError::UnknownShard(me)),
                            "calling yourself goes through the local path"
                        );
                        drop(mesh);
                        server.await;
                        replies
                    })
                    .unwrap(),
            );
        }
        for (shard, handle) in handles.into_iter().enumerate() {
            let replies = handle.join().unwrap();
            let targets: Vec<usize> = (0..3).filter(|t| *t != shard).collect();
            let expected: Vec<Result<(usize, u32), MeshError>> =
                targets.iter().map(|t| Ok((*t, 42))).collect();
            assert_eq!(replies, expected);
        }
    }
}
