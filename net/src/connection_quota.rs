//! Connection limits across the whole broker, as Kafka's
//! `max.connections`, `max.connections.per.ip` and
//! `max.connections.per.ip.overrides` set them. Shared by every data shard's
//! listener (each accepts its own share of connections), so the counts are
//! behind one mutex: taken only when a connection opens or closes, never on
//! the request path.
//!
//! Kafka's behaviour: at `max.connections` the acceptor holds the connection
//! it has and accepts no other until a connection closes (new ones wait in
//! the kernel's backlog); a connection past its address's limit is accepted
//! and closed at once.
//!
//! Invariant: the counts equal the live [`ConnectionSlot`]s, each counted
//! once in the total and once under its address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The limits, from the broker properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `max.connections`: connections of the whole broker.
    pub max_connections: usize,
    /// `max.connections.per.ip`: connections from one address.
    pub max_per_ip: usize,
    /// `max.connections.per.ip.overrides`: per-address exceptions.
    pub per_ip_overrides: HashMap<IpAddr, usize>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The broker's connection counts. Lives on: every data shard (shared).
#[derive(Debug)]
pub struct ConnectionQuotas {
    limits: ConnectionLimits,
    counts: Mutex<Counts>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The broker is at `max.connections`: wait for a slot.
    BrokerFull,
    /// The address is at its limit: close the connection.
    TooManyFromAddress { limit: usize },
}

/// One admitted connection; dropping it gives the slot back.
#[derive(Debug)]
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl ConnectionQuotas {
    /// Quotas enforcing `limits`.
    pub fn new(limits: ConnectionLimits) -> Arc<ConnectionQuotas> {
        Arc::new(ConnectionQuotas {
            limits,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// Whether the broker is at `max.connections`.
    #[cfg(test)]
    pub fn broker_full(&self) -> bool {
        self.lock().total >= self.limits.max_connections
    }

    /// Admits a connection from `ip`, or says why not.
    ///
    /// # Errors
    /// [`Refusal::BrokerFull`] (the caller waits and asks again) or
    /// [`Refusal::TooManyFromAddress`] (the caller closes the connection).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let mut counts = self.lock();
        if counts.total >= self.limits.max_connections {
            return Err(Refusal::BrokerFull);
        }
        let limit = self
            .limits
            .per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.limits.max_per_ip);
        let from_ip = counts.by_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= limit {
            return Err(Refusal::TooManyFromAddress { limit });
        }
        counts.total += 1;
        counts.by_ip.insert(ip, from_ip + 1);
        Ok(ConnectionSlot {
            quotas: Arc::clone(self),
            ip,
        })
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open_connections(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: every
        // update is a single step under the lock.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut counts = self.quotas.lock();
        assert!(counts.total > 0, "a slot is counted in the total");
        counts.total -= 1;
        let remaining = match counts.by_ip.get_mut(&self.ip) {
            Some(count) => {
                *count -= 1;
                *count
            }
            None => unreachable!("a slot is counted under its address"),
        };
        if remaining == 0 {
            counts.by_ip.remove(&self.ip);
        }
    }
}

/// Parses `max.connections.per.ip.overrides`, `host:count,host:count`.
/// Hosts must be IP addresses here (Kafka also resolves host names; Skein
/// refuses a name rather than resolve it at start).
///
/// # Errors
/// A reason naming the bad entry.
pub fn parse_per_ip_overrides(text: &str) -> Result<HashMap<IpAddr, usize>, String> {
    let mut overrides = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("{entry:?} is not ADDRESS:COUNT"))?;
        let ip: IpAddr = host
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| format!("{entry:?}: {host:?} is not an IP address"))?;
        let count: usize = count
            .parse()
            .map_err(|_| format!("{entry:?}: bad count {count:?}"))?;
        overrides.insert(ip, count);
    }
    Ok(overrides)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_slot_is_given_back_when_its_connection_closes() {
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            max_connections: 2,
            max_per_ip: 10,
            per_ip_overrides: HashMap::new(),
        });
        let first = quotas.admit(ip("127.0.0.1")).unwrap();
        let _second = quotas.admit(ip("127.0.0.2")).unwrap();
        assert!(quotas.broker_full());
        assert_eq!(
            quotas.admit(ip("127.0.0.3")).unwrap_err(),
            Refusal::BrokerFull
        );
        drop(first);
        assert_eq!(quotas.open_connections(), 1);
        assert!(quotas.admit(ip("127.0.0.3")).is_ok());
    }

    #[test]
    fn an_address_past_its_limit_is_refused_and_overrides_win() {
        let quotas = ConnectionQuotas::new(ConnectionLimits {
            max_connections: usize::MAX,
            max_per_ip: 1,
            per_ip_overrides: parse_per_ip_overrides("127.0.0.9:3, [::1]:0").unwrap(),
        });
        let _one = quotas.admit(ip("127.0.0.1")).unwrap();
        assert_eq!(
            quotas.admit(ip("127.0.0.1")).unwrap_err(),
            Refusal::TooManyFromAddress { limit: 1 }
        );
        let slots: Vec<_> = (0..3)
            .map(|_| quotas.admit(ip("127.0.0.9")).unwrap())
            .collect();
        assert!(quotas.admit(ip("127.0.0.9")).is_err());
        assert!(quotas.admit(ip("::1")).is_err());
        drop(slots);
        assert_eq!(quotas.open_connections(), 1);
    }

    #[test]
    fn overrides_parse_as_kafka_writes_them() {
        assert!(parse_per_ip_overrides("").unwrap().is_empty());
        for bad in ["127.0.0.1", "localhost:3", "127.0.0.1:x"] {
            assert!(parse_per_ip_overrides(bad).is_err(), "{bad}");
        }
    }
}
