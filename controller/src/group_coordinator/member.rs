//! A member of a classic consumer group (Kafka's `MemberMetadata`): its
//! protocols, its assignment, the JoinGroup/SyncGroup it is parked on, and
//! its session deadline.

use bytes::Bytes;

use super::action::RequestToken;
use super::request::JoinGroupProtocol;

/// How long a new member's JoinGroup may stay parked before the member is
/// dropped (Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`): new members
/// cannot heartbeat, so the session timeout does not protect against
/// clients that disconnected mid-rebalance and retried with a new id.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// One group member. Invariant: `awaiting_join` and `awaiting_sync` each hold
/// a token that has not been answered yet; whoever takes one answers it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) member_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<JoinGroupProtocol>,
    pub(crate) assignment: Bytes,
    pub(crate) awaiting_join: Option<RequestToken>,
    pub(crate) awaiting_sync: Option<RequestToken>,
    /// Joined but has not completed a rebalance yet.
    pub(crate) is_new: bool,
    /// When the member's session expires unless it heartbeats first.
    pub(crate) heartbeat_deadline_ms: Option<i64>,
}

impl Member {
    /// The member's metadata for `protocol`, if it supports it.
    pub(crate) fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| &p.metadata)
    }

    /// Whether `protocols` are exactly the member's (names, order and bytes).
    pub(crate) fn matches(&self, protocols: &[JoinGroupProtocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub(crate) fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Kafka's `hasSatisfiedHeartbeat` evaluated when the session deadline
    /// passes without a heartbeat: members parked in a rebalance are exempt
    /// (the rebalance timeout covers them) unless they are new.
    pub(crate) fn exempt_from_session_expiry(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    /// Whether the member uses static membership.
    pub(crate) fn is_static(&self) -> bool {
        self.group_instance_id.is_some()
    }
}

/// Generates member ids the way Kafka shapes them, `<prefix>-<uuid>`, where
/// the prefix is the client id (or the instance id of a static member). The
/// UUID is derived from a driver-supplied seed and a counter, so a run is
/// reproducible in tests; the driver seeds it from a random source so ids
/// differ across coordinator restarts.
#[derive(Debug, Clone)]
pub(crate) struct MemberIdGenerator {
    seed: u64,
    counter: u64,
}

impl MemberIdGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        Self { seed, counter: 0 }
    }

    /// The next id of a consumer group member: 22 characters of URL-safe
    /// base64 over 128 random bits, the form of Kafka's `Uuid.toString()`.
    pub(crate) fn next_uuid(&mut self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        self.counter += 1;
        let hi = splitmix64(self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let lo = splitmix64(hi ^ self.counter);
        let bits = (u128::from(hi) << 64) | u128::from(lo);
        (0..22)
            .map(|i| {
                let shift = 128i32 - 6 * (i + 1);
                let index = if shift >= 0 {
                    (bits >> shift) & 0x3f
                } else {
                    (bits << -shift) & 0x3f
                };
                char::from(ALPHABET[index as usize])
            })
            .collect()
    }

    /// The next id for `prefix`.
    pub(crate) fn next(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let hi = splitmix64(self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let lo = splitmix64(hi ^ self.counter);
        // Lay the 128 bits out as a version-4, variant-1 UUID like Java's
        // UUID.randomUUID().
        let hi = (hi & !0xF000) | 0x4000;
        let lo = (lo & !(0b11 << 62)) | (0b10 << 62);
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xFFFF,
            hi & 0xFFFF,
            lo >> 48,
            lo & 0xFFFF_FFFF_FFFF
        )
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_member_ids_look_like_kafkas() {
        let mut ids = MemberIdGenerator::new(7);
        let a = ids.next("rdkafka");
        let b = ids.next("rdkafka");
        assert_ne!(a, b);
        let uuid = a.strip_prefix("rdkafka-").unwrap();
        let parts: Vec<usize> = uuid.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&uuid[14..15], "4");
    }
}
