//! The client's typed errors. A Kafka error code from a response is kept as
//! the code itself (with its name for display) so callers can decide what is
//! retriable.
use kafka_protocol::error::ParseResponseErrorCode;
use kafka_protocol::messages::ApiKey;

/// Everything that can go wrong talking to a broker.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No address in the bootstrap list could be connected to.
    #[error("could not connect to any of {servers:?}")]
    NoReachableBroker {
        /// The bootstrap list as given.
        servers: String,
        /// The last connect error, if any address resolved.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Connecting to one broker failed.
    #[error("connect to {address}")]
    Connect {
        /// `host:port` that was dialled.
        address: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// A read or write on an established connection failed.
    #[error("I/O with {address}")]
    Io {
        /// `host:port` of the peer.
        address: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
    /// The broker closed the connection.
    #[error("{address} closed the connection")]
    Closed {
        /// `host:port` of the peer.
        address: String,
    },
    /// No response arrived within the request timeout.
    #[error("{api:?} request to {address} timed out after {timeout_ms} ms")]
    Timeout {
        /// The API whose response is missing.
        api: ApiKey,
        /// `host:port` of the peer.
        address: String,
        /// The timeout that expired, in milliseconds.
        timeout_ms: u64,
    },
    /// The broker does not support a version of `api` this client can speak.
    #[error("broker does not support {api:?} in a version this client speaks ({client_min}..={client_max})")]
    UnsupportedApi {
        /// The API.
        api: ApiKey,
        /// Lowest version this client speaks.
        client_min: i16,
        /// Highest version this client speaks.
        client_max: i16,
    },
    /// Encoding a request failed (a bug here, or a field out of range).
    #[error("encode {api:?} v{version}: {message}")]
    Encode {
        /// The API.
        api: ApiKey,
        /// The version being encoded.
        version: i16,
        /// The encoder's message.
        message: String,
    },
    /// A response could not be decoded.
    #[error("decode {api:?} v{version} response: {message}")]
    Decode {
        /// The API.
        api: ApiKey,
        /// The version being decoded.
        version: i16,
        /// The decoder's message.
        message: String,
    },
    /// A response carried another correlation id than the oldest pending
    /// request: the broker broke per-connection ordering.
    #[error("response correlation id {got}, expected {expected}")]
    CorrelationMismatch {
        /// The oldest outstanding correlation id.
        expected: i32,
        /// What the response carried.
        got: i32,
    },
    /// A response frame announced a size outside `0..=limit`.
    #[error("response frame of {size} bytes (limit {limit})")]
    FrameSize {
        /// The size read off the wire.
        size: i64,
        /// The largest frame this client accepts.
        limit: usize,
    },
    /// The broker answered with a Kafka error code.
    #[error("{api:?} failed{}: {} ({code}){}", context.as_deref().map(|c| format!(" for {c}")).unwrap_or_default(), error_code_name(*code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// The API.
        api: ApiKey,
        /// The Kafka error code (never 0).
        code: i16,
        /// What the code applies to (a topic, a partition), if not the whole request.
        context: Option<String>,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The TLS handshake or the SASL login failed (refusals with a Kafka
    /// error code are [`ClientError::Kafka`]), or the security properties
    /// are unusable.
    #[error(transparent)]
    Security(#[from] skein_net::tool_client_security::ClientSecurityError),
    /// Metadata did not name a leader for a partition, or named an unknown broker.
    #[error("no leader known for {topic}-{partition}")]
    NoLeader {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
    },
}

impl ClientError {
    /// The error and each of its sources, `: `-separated, e.g.
    /// `I/O with 127.0.0.1:9092: Connection reset by peer (os error 104)`.
    pub fn to_report(&self) -> String {
        let mut report = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            report.push_str(": ");
            report.push_str(&cause.to_string());
            source = cause.source();
        }
        report
    }
}

/// The Kafka name of an error code, e.g. `NOT_LEADER_OR_FOLLOWER` for 6
/// (one spelling for the CLI, the bench and the broker's metrics).
pub use skein_net::error_code_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_includes_the_socket_error() {
        let error = ClientError::Io {
            address: "127.0.0.1:9092".to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"),
        };
        assert_eq!(error.to_report(), "I/O with 127.0.0.1:9092: reset by peer");
    }

    #[test]
    fn error_code_names_follow_kafka_spelling() {
        assert_eq!(error_code_name(0), "NONE");
        assert_eq!(error_code_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_code_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    }
}
