//! Kafka's listener syntax, `NAME://HOST:PORT[,NAME://HOST:PORT…]`, as the
//! `listeners` and `advertised.listeners` properties take it. Invariant: a
//! parsed list has unique names, each a non-empty run of letters, digits and
//! underscores, and a port in 0..=65535.

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
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        return Err(format!("{entry:?}: bad listener name {name:?}"));
    }
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
    Ok(Listener {
        name: name.to_ascii_uppercase(),
        host: host.to_string(),
        port,
    })
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
