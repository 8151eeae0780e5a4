//! Kafka's endpoint syntaxes: listeners, `NAME://HOST:PORT[,…]`, as the
//! `listeners` and `advertised.listeners` properties take them; quorum voters,
//! `ID@HOST:PORT[,…]` (`controller.quorum.voters`); and the security protocol
//! of each listener name, `NAME:PROTOCOL[,…]`
//! (`listener.security.protocol.map`). Invariant: a parsed list has unique
//! names (or ids), names are non-empty runs of letters, digits, `_` and `-`,
//! and ports are in 0..=65535.

use std::fmt;

/// One named listener: `PLAINTEXT://127.0.0.1:9092`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The listener name, upper-cased (`PLAINTEXT`, `CONTROLLER`, `INTERNAL`).
    pub name: String,
    /// The host as written; empty means every interface, as in Kafka. An
    /// IPv6 address is kept without its brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

/// Parses a comma-separated listener list; an empty text is an empty list.
///
/// # Errors
/// A reason naming the bad entry: no `://`, a bad name, a missing or bad
/// port, or a name used twice.
pub fn parse_listeners(text: &str) -> Result<Vec<Listener>, String> {
    let mut listeners: Vec<Listener> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let listener = parse_one(entry)?;
        if listeners.iter().any(|l| l.name == listener.name) {
            return Err(format!("listener name {} is used twice", listener.name));
        }
        listeners.push(listener);
    }
    Ok(listeners)
}

fn parse_one(entry: &str) -> Result<Listener, String> {
    let (name, address) = entry
        .split_once("://")
        .ok_or_else(|| format!("{entry:?} is not NAME://HOST:PORT"))?;
    let name = listener_name(entry, name)?;
    let (host, port) = host_port(entry, address)?;
    Ok(Listener { name, host, port })
}

/// A listener name, upper-cased, as `entry` gives it.
fn listener_name(entry: &str, name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(name.to_ascii_uppercase())
    } else {
        Err(format!("{entry:?}: bad listener name {name:?}"))
    }
}

/// `HOST:PORT` (the host possibly empty or a bracketed IPv6 address).
fn host_port(entry: &str, address: &str) -> Result<(String, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{entry:?}: no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{entry:?}: bad port {port:?}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok((host.to_string(), port))
}

/// One voter of the metadata quorum: `1@controller1:9093`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    /// The voter's `node.id`.
    pub node_id: i32,
    /// Its controller listener's host.
    pub host: String,
    /// Its controller listener's port.
    pub port: u16,
}

/// Parses `controller.quorum.voters`: `ID@HOST:PORT` entries, comma
/// separated; an empty text is an empty list.
///
/// # Errors
/// A reason naming the bad entry, or an id given twice.
pub fn parse_voters(text: &str) -> Result<Vec<Voter>, String> {
    let mut voters: Vec<Voter> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, address) = entry
            .split_once('@')
            .ok_or_else(|| format!("{entry:?} is not ID@HOST:PORT"))?;
        let node_id: i32 = id
            .parse()
            .ok()
            .filter(|id| *id >= 0)
            .ok_or_else(|| format!("{entry:?}: bad node id {id:?}"))?;
        let (host, port) = host_port(entry, address)?;
        if host.is_empty() {
            return Err(format!("{entry:?}: no host"));
        }
        if voters.iter().any(|v| v.node_id == node_id) {
            return Err(format!("voter {node_id} is given twice"));
        }
        voters.push(Voter {
            node_id,
            host,
            port,
        });
    }
    Ok(voters)
}

/// Kafka's security protocols.
pub const SECURITY_PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Parses `listener.security.protocol.map`: `NAME:PROTOCOL` entries, comma
/// separated, into `(NAME, PROTOCOL)` pairs, both upper-cased.
///
/// # Errors
/// A reason naming the bad entry: no `:`, a bad name, a protocol that is not
/// one of [`SECURITY_PROTOCOLS`], or a name given twice.
pub fn parse_protocol_map(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut map: Vec<(String, String)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("{entry:?} is not NAME:PROTOCOL"))?;
        let name = listener_name(entry, name.trim())?;
        let protocol = protocol.trim().to_ascii_uppercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            return Err(format!(
                "{entry:?}: unknown security protocol (one of {})",
                SECURITY_PROTOCOLS.join(", ")
            ));
        }
        if map.iter().any(|(n, _)| *n == name) {
            return Err(format!("listener name {name} is mapped twice"));
        }
        map.push((name, protocol));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kraft_listener_list_parses_in_order() {
        let listeners =
            parse_listeners("PLAINTEXT://127.0.0.1:9092, CONTROLLER://:9093,ext://[::1]:19092")
                .unwrap();
        let shown: Vec<String> = listeners.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "PLAINTEXT://127.0.0.1:9092",
                "CONTROLLER://:9093",
                "EXT://[::1]:19092"
            ]
        );
        assert_eq!(listeners[1].host, "");
        assert_eq!(listeners[2].host, "::1");
    }

    #[test]
    fn quorum_voters_and_protocol_maps_parse_as_kafka_writes_them() {
        let voters = parse_voters("1@c1:9093, 2@[::1]:9093,3@c3:19093").unwrap();
        assert_eq!(voters.len(), 3);
        assert_eq!(voters[1].host, "::1");
        assert_eq!(voters[2].port, 19093);
        for bad in [
            "c1:9093",
            "x@c1:9093",
            "-1@c1:9093",
            "1@:9093",
            "1@a:1,1@b:2",
        ] {
            assert!(parse_voters(bad).is_err(), "{bad}");
        }
        let map = parse_protocol_map("CONTROLLER:PLAINTEXT,internal:sasl_ssl").unwrap();
        assert_eq!(
            map,
            [
                ("CONTROLLER".to_string(), "PLAINTEXT".to_string()),
                ("INTERNAL".to_string(), "SASL_SSL".to_string())
            ]
        );
        for bad in ["CONTROLLER", "A:TLS", "A:SSL,a:SSL"] {
            assert!(parse_protocol_map(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_listeners_are_refused_with_the_entry() {
        assert!(parse_listeners("").unwrap().is_empty());
        for bad in [
            "127.0.0.1:9092",
            "PLAINTEXT://127.0.0.1",
            "PLAINTEXT://h:99999",
            "://h:1",
            "A B://h:1",
            "PLAINTEXT://a:1,plaintext://b:2",
        ] {
            assert!(parse_listeners(bad).is_err(), "{bad}");
        }
    }
}
