//! Raft messages on the wire between controllers: raft-rs's protobuf
//! encoding, decoded defensively.
//!
//! The bytes come from the network and are hostile: a message larger than
//! the configured bound is refused before it is parsed, the parser (rust-
//! protobuf 2, which checks lengths against the bytes present and refuses
//! group wire types, so it neither over-allocates nor recurses) runs inside
//! `catch_unwind`, and a message that decodes is checked against who sent it
//! and which message types a peer may send. A refused message is dropped and
//! counted; it never panics the process.
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};

/// Why an inbound raft message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageRejection {
    /// Larger than the configured bound.
    #[error("message of {bytes} bytes exceeds the {max} byte bound")]
    TooLarge { bytes: usize, max: usize },
    /// Not a protobuf raft message.
    #[error("message does not decode")]
    Malformed,
    /// The message names a sender other than the peer it came from.
    #[error("message claims sender {claimed}, arrived from {peer}")]
    WrongSender { claimed: u64, peer: u64 },
    /// The message is addressed to another node.
    #[error("message addressed to node {to}")]
    WrongRecipient { to: u64 },
    /// The sender is not a voter of this quorum (or is this node).
    #[error("message from node {from}, not a peer voter")]
    UnknownPeer { from: u64 },
    /// A message type peers never send (local or unused by Skein).
    #[error("message type {msg_type:?} is not accepted from the network")]
    TypeNotAccepted { msg_type: MessageType },
}

/// Encodes `message` for the wire.
pub fn encode_message(message: &Message) -> Bytes {
    // Encoding into a Vec cannot fail for raft's messages (no required
    // fields).
    Bytes::from(
        message
            .write_to_bytes()
            .expect("encoding a raft message into a Vec"),
    )
}

/// Decodes a protobuf value, or `None` if `bytes` is not one. Never panics.
pub(crate) fn decode_protobuf<M: protobuf::Message>(bytes: &[u8]) -> Option<M> {
    catch_unwind(AssertUnwindSafe(|| M::parse_from_bytes(bytes)))
        .ok()?
        .ok()
}

/// Message types a peer controller may send.
fn accepted_from_network(msg_type: MessageType) -> bool {
    matches!(
        msg_type,
        MessageType::MsgAppend
            | MessageType::MsgAppendResponse
            | MessageType::MsgRequestVote
            | MessageType::MsgRequestVoteResponse
            | MessageType::MsgRequestPreVote
            | MessageType::MsgRequestPreVoteResponse
            | MessageType::MsgSnapshot
            | MessageType::MsgHeartbeat
            | MessageType::MsgHeartbeatResponse
    )
}

/// Decodes a message that arrived from `peer` for node `node_id` of a
/// quorum with `voters`.
///
/// # Errors
/// The [`MessageRejection`] saying why the message must be dropped.
pub fn decode_message(
    bytes: &[u8],
    peer: u64,
    node_id: u64,
    voters: &[u64],
    message_bytes_max: usize,
) -> Result<Message, MessageRejection> {
    if bytes.len() > message_bytes_max {
        return Err(MessageRejection::TooLarge {
            bytes: bytes.len(),
            max: message_bytes_max,
        });
    }
    let message: Message = decode_protobuf(bytes).ok_or(MessageRejection::Malformed)?;
    if message.from != peer {
        return Err(MessageRejection::WrongSender {
            claimed: message.from,
            peer,
        });
    }
    if message.to != node_id {
        return Err(MessageRejection::WrongRecipient { to: message.to });
    }
    if peer == node_id || !voters.contains(&peer) {
        return Err(MessageRejection::UnknownPeer { from: peer });
    }
    let msg_type = message.get_msg_type();
    if !accepted_from_network(msg_type) {
        return Err(MessageRejection::TypeNotAccepted { msg_type });
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::Entry;

    fn heartbeat(from: u64, to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgHeartbeat);
        m.from = from;
        m.to = to;
        m.term = 7;
        m
    }

    #[test]
    fn a_message_round_trips() {
        let mut m = heartbeat(2, 1);
        m.set_msg_type(MessageType::MsgAppend);
        m.mut_entries().push(Entry {
            index: 5,
            term: 7,
            data: Bytes::from_static(b"payload"),
            ..Entry::default()
        });
        let bytes = encode_message(&m);
        assert_eq!(decode_message(&bytes, 2, 1, &[1, 2, 3], 1 << 20), Ok(m));
    }

    #[test]
    fn messages_that_do_not_fit_the_quorum_are_rejected() {
        let voters = [1, 2, 3];
        let bytes = encode_message(&heartbeat(2, 1));
        assert_eq!(
            decode_message(&bytes, 3, 1, &voters, 1 << 20),
            Err(MessageRejection::WrongSender {
                claimed: 2,
                peer: 3
            })
        );
        assert_eq!(
            decode_message(&bytes, 2, 3, &voters, 1 << 20),
            Err(MessageRejection::WrongRecipient { to: 1 })
        );
        assert_eq!(
            decode_message(&bytes, 2, 1, &[1, 3], 1 << 20),
            Err(MessageRejection::UnknownPeer { from: 2 })
        );
        assert_eq!(
            decode_message(&bytes, 2, 1, &voters, 3),
            Err(MessageRejection::TooLarge {
                bytes: bytes.len(),
                max: 3
            })
        );
        let mut hup = heartbeat(2, 1);
        hup.set_msg_type(MessageType::MsgHup);
        assert_eq!(
            decode_message(&encode_message(&hup), 2, 1, &voters, 1 << 20),
            Err(MessageRejection::TypeNotAccepted {
                msg_type: MessageType::MsgHup
            })
        );
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let valid = encode_message(&heartbeat(2, 1));
        for _ in 0..20_000 {
            let mut bytes = if rng.gen_bool(0.5) {
                valid.to_vec()
            } else {
                (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect()
            };
            for _ in 0..rng.gen_range(0..4) {
                if !bytes.is_empty() {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = rng.gen();
                }
            }
            decode_message(&bytes, 2, 1, &[1, 2, 3], 1 << 20).ok();
        }
        // A length prefix far beyond the bytes present.
        let huge = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert_eq!(
            decode_message(&huge, 2, 1, &[1, 2, 3], 1 << 20),
            Err(MessageRejection::Malformed)
        );
    }
}
