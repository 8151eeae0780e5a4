//! One blocking TCP connection to one broker: Kafka framing (a 4-byte
//! big-endian size before every request and response), request headers,
//! correlation ids, and ApiVersions negotiation on connect. TLS and the
//! SASL login, when the [`ClientSecurity`] asks for them, are
//! `skein_net::tool_client_security`'s, done before negotiation.
//!
//! Invariant: responses arrive in request order on a connection (Kafka
//! guarantees it), so a reader matches each response frame with the oldest
//! [`PendingResponse`] and checks the correlation id.
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use skein_net::tool_client_security::{self, ClientSecurity, ClientSecurityError, ClientStream};

use super::api_versions::{api_key_of, ApiVersionTable};
use super::ClientError;

/// Largest response frame accepted, in bytes. Fetch responses are bounded by
/// the request's `max_bytes`, so this only guards against garbage sizes.
const RESPONSE_FRAME_BYTES_MAX: usize = 256 << 20;

/// How long one blocking socket read waits before the reader re-checks its
/// request deadline.
const READ_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Kafka's UNSUPPORTED_VERSION error code: an ApiVersions request newer than
/// the broker speaks gets it, with a v0-shaped response body.
const UNSUPPORTED_VERSION: i16 = 35;

/// Settings shared by every connection a tool opens.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Sent as `client_id` in every request header.
    pub client_id: String,
    /// How long to wait for one response before giving up on it.
    pub request_timeout: Duration,
    /// How long to wait for the TCP handshake.
    pub connect_timeout: Duration,
    /// TLS and SASL, as Kafka's client properties ask (PLAINTEXT by default).
    pub security: ClientSecurity,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: "skein".to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            security: ClientSecurity::plaintext(),
        }
    }
}

/// A request that was sent and whose response has not been read yet.
#[derive(Debug, Clone)]
pub struct PendingResponse {
    /// The correlation id the response must carry.
    pub correlation_id: i32,
    /// The request's API.
    pub api: ApiKey,
    /// The version the request was encoded with (the response uses the same).
    pub version: i16,
    /// When the request was handed to the socket.
    pub sent_at: Instant,
}

/// A negotiated connection to one broker, used for request/response calls.
/// [`split`](Self::split) it to pipeline.
#[derive(Debug)]
pub struct Connection {
    writer: RequestWriter,
    reader: ResponseReader,
}

impl Connection {
    /// Connects to the first reachable address of a comma-separated
    /// bootstrap list (`host:port,host:port`) and negotiates versions.
    ///
    /// # Errors
    /// [`ClientError::NoReachableBroker`] if none connects; negotiation
    /// errors of the broker that did.
    pub fn connect_bootstrap(
        servers: &str,
        config: &ConnectionConfig,
    ) -> Result<Self, ClientError> {
        let mut last_error = None;
        for address in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match Self::connect(address, config) {
                Ok(connection) => return Ok(connection),
                Err(ClientError::Connect { source, .. }) => last_error = Some(source),
                Err(other) => return Err(other),
            }
        }
        Err(ClientError::NoReachableBroker {
            servers: servers.to_owned(),
            source: last_error,
        })
    }

    /// Connects to `address` (`host:port`) and negotiates API versions.
    ///
    /// # Errors
    /// [`ClientError::Connect`] if no resolved address accepts; any error of
    /// the ApiVersions exchange.
    pub fn connect(address: &str, config: &ConnectionConfig) -> Result<Self, ClientError> {
        let stream =
            tool_client_security::connect(address, &config.security, config.connect_timeout)
                .map_err(|error| match error {
                    ClientSecurityError::Connect { address, source } => {
                        ClientError::Connect { address, source }
                    }
                    ClientSecurityError::Refused { api, code, message } => ClientError::Kafka {
                        api,
                        code,
                        context: None,
                        message,
                    },
                    other => ClientError::Security(other),
                })?;
        let io_error = |source| ClientError::Io {
            address: address.to_owned(),
            source,
        };
        stream
            .socket()
            .set_read_timeout(Some(READ_POLL_INTERVAL))
            .map_err(io_error)?;
        stream
            .socket()
            .set_write_timeout(Some(config.request_timeout))
            .map_err(io_error)?;
        let read_stream = stream.try_clone().map_err(io_error)?;
        let mut connection = Self {
            writer: RequestWriter {
                stream,
                address: address.to_owned(),
                client_id: StrBytes::from_string(config.client_id.clone()),
                next_correlation_id: 0,
                versions: Arc::new(ApiVersionTable::default()),
                buffer: BytesMut::with_capacity(64 << 10),
            },
            reader: ResponseReader {
                stream: read_stream,
                address: address.to_owned(),
                buffer: BytesMut::with_capacity(64 << 10),
                request_timeout: config.request_timeout,
            },
        };
        connection.negotiate()?;
        Ok(connection)
    }

    /// The versions the broker advertised.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.writer.versions
    }

    /// `host:port` of the broker.
    pub fn address(&self) -> &str {
        &self.writer.address
    }

    /// Sends `request` at the highest common version and waits for its response.
    ///
    /// # Errors
    /// Any [`ClientError`] of sending, waiting or decoding. Kafka error codes
    /// inside the response are not errors here: the caller inspects them.
    pub fn call<R: Request>(&mut self, request: &R) -> Result<R::Response, ClientError> {
        let pending = self.writer.send(request)?;
        self.reader.receive::<R>(&pending)
    }

    /// Sends `request`, which the broker does not answer (Produce with
    /// acks=0), at the highest common version.
    ///
    /// # Errors
    /// Any [`ClientError`] of sending.
    pub fn send_unanswered<R: Request>(&mut self, request: &R) -> Result<(), ClientError> {
        self.writer.send(request).map(drop)
    }

    /// Splits into a writer and a reader that can live on different threads.
    pub fn split(self) -> (RequestWriter, ResponseReader) {
        (self.writer, self.reader)
    }

    fn negotiate(&mut self) -> Result<(), ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("skein"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut version = 3;
        loop {
            let pending = self.writer.send_version(&request, version)?;
            let frame = self.reader.receive_frame(&pending)?;
            let response: ApiVersionsResponse =
                match decode_response::<ApiVersionsRequest>(frame.clone(), &pending) {
                    Ok(response) => response,
                    // A broker that does not know our version answers in v0
                    // shape (with UNSUPPORTED_VERSION and its own range).
                    Err(ClientError::Decode { .. }) if version > 0 => {
                        let as_v0 = PendingResponse {
                            version: 0,
                            ..pending
                        };
                        decode_response::<ApiVersionsRequest>(frame, &as_v0)?
                    }
                    Err(other) => return Err(other),
                };
            if response.error_code == UNSUPPORTED_VERSION && version > 0 {
                version = response
                    .api_keys
                    .iter()
                    .find(|entry| entry.api_key == ApiKey::ApiVersions as i16)
                    .map_or(0, |entry| entry.max_version.min(version - 1));
                continue;
            }
            if response.error_code != 0 {
                return Err(ClientError::Kafka {
                    api: ApiKey::ApiVersions,
                    code: response.error_code,
                    context: None,
                    message: None,
                });
            }
            self.writer.versions =
                Arc::new(ApiVersionTable::from_ranges(response.api_keys.iter().map(
                    |entry| (entry.api_key, entry.min_version, entry.max_version),
                )));
            return Ok(());
        }
    }
}

/// The sending half of a connection: encodes and writes requests.
#[derive(Debug)]
pub struct RequestWriter {
    stream: ClientStream,
    address: String,
    client_id: StrBytes,
    next_correlation_id: i32,
    versions: Arc<ApiVersionTable>,
    buffer: BytesMut,
}

impl RequestWriter {
    /// Encodes `request` at the highest common version and writes it.
    /// Blocks until the bytes are in the socket buffer.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedApi`], [`ClientError::Encode`], [`ClientError::Io`].
    pub fn send<R: Request>(&mut self, request: &R) -> Result<PendingResponse, ClientError> {
        let version = self.versions.pick::<R>()?;
        self.send_version(request, version)
    }

    /// The versions the broker advertised.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// Encodes `request` at `version` and writes it.
    ///
    /// # Errors
    /// [`ClientError::Encode`], [`ClientError::Io`].
    pub fn send_version<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<PendingResponse, ClientError> {
        let api = api_key_of::<R>();
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let encode_error = |error: anyhow::Error| ClientError::Encode {
            api,
            version,
            message: format!("{error:#}"),
        };
        self.buffer.clear();
        self.buffer.put_i32(0);
        header
            .encode(&mut self.buffer, R::header_version(version))
            .map_err(encode_error)?;
        request
            .encode(&mut self.buffer, version)
            .map_err(encode_error)?;
        let size = i32::try_from(self.buffer.len() - 4).map_err(|_| ClientError::Encode {
            api,
            version,
            message: "request larger than 2 GiB".to_owned(),
        })?;
        self.buffer[..4].copy_from_slice(&size.to_be_bytes());
        self.stream
            .write_all(&self.buffer)
            .map_err(|source| ClientError::Io {
                address: self.address.clone(),
                source,
            })?;
        Ok(PendingResponse {
            correlation_id,
            api,
            version,
            sent_at: Instant::now(),
        })
    }

    /// Shuts both directions of the socket down, which also wakes a reader
    /// blocked on it.
    pub fn shutdown(&self) {
        // The peer may already have closed; there is nothing to do about a
        // failed shutdown of a socket we are abandoning.
        if let Err(error) = self.stream.socket().shutdown(std::net::Shutdown::Both) {
            tracing::debug!(%error, address = %self.address, "socket shutdown");
        }
    }
}

/// The receiving half of a connection: reads response frames in order.
#[derive(Debug)]
pub struct ResponseReader {
    stream: ClientStream,
    address: String,
    buffer: BytesMut,
    request_timeout: Duration,
}

impl ResponseReader {
    /// Blocks until the response to `pending` arrives and decodes it.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] after the request timeout (counted from
    /// `pending.sent_at`); socket, framing, ordering and decode errors.
    pub fn receive<R: Request>(
        &mut self,
        pending: &PendingResponse,
    ) -> Result<R::Response, ClientError> {
        let frame = self.receive_frame(pending)?;
        decode_response::<R>(frame, pending)
    }

    /// Blocks until the next response frame arrives (the one for `pending`,
    /// if it is the oldest outstanding request) and returns it undecoded.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] after the request timeout (counted from
    /// `pending.sent_at`); socket and framing errors.
    pub fn receive_frame(&mut self, pending: &PendingResponse) -> Result<Bytes, ClientError> {
        let deadline = pending.sent_at + self.request_timeout;
        loop {
            if let Some(frame) = self.poll_frame()? {
                return Ok(frame);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout {
                    api: pending.api,
                    address: self.address.clone(),
                    timeout_ms: u64::try_from(self.request_timeout.as_millis()).unwrap_or(u64::MAX),
                });
            }
        }
    }

    /// Returns the next complete response frame (without its size prefix),
    /// or `None` if none completed within one short poll interval.
    ///
    /// # Errors
    /// [`ClientError::Io`], [`ClientError::Closed`], [`ClientError::FrameSize`].
    pub fn poll_frame(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            if let Some(frame) = self.split_frame()? {
                return Ok(Some(frame));
            }
            let wanted = match self.buffer.get(..4) {
                Some(prefix) => {
                    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
                    (usize::try_from(size).unwrap_or(0) + 4 - self.buffer.len()).max(64 << 10)
                }
                None => 64 << 10,
            };
            let filled = self.buffer.len();
            self.buffer.resize(filled + wanted, 0);
            let outcome = self.stream.read(&mut self.buffer[filled..]);
            match outcome {
                Ok(0) => {
                    self.buffer.truncate(filled);
                    return Err(ClientError::Closed {
                        address: self.address.clone(),
                    });
                }
                Ok(read) => self.buffer.truncate(filled + read),
                Err(error) => {
                    self.buffer.truncate(filled);
                    return match error.kind() {
                        ErrorKind::WouldBlock | ErrorKind::TimedOut => Ok(None),
                        ErrorKind::Interrupted => continue,
                        _ => Err(ClientError::Io {
                            address: self.address.clone(),
                            source: error,
                        }),
                    };
                }
            }
        }
    }

    /// `host:port` of the broker.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn split_frame(&mut self) -> Result<Option<Bytes>, ClientError> {
        let Some(prefix) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let size = usize::try_from(size)
            .ok()
            .filter(|size| *size <= RESPONSE_FRAME_BYTES_MAX)
            .ok_or(ClientError::FrameSize {
                size: i64::from(size),
                limit: RESPONSE_FRAME_BYTES_MAX,
            })?;
        if self.buffer.len() < 4 + size {
            return Ok(None);
        }
        self.buffer.advance(4);
        Ok(Some(self.buffer.split_to(size).freeze()))
    }
}

/// Decodes one response frame (without size prefix) for `pending`.
///
/// # Errors
/// [`ClientError::CorrelationMismatch`], [`ClientError::Decode`].
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    pending: &PendingResponse,
) -> Result<R::Response, ClientError> {
    let decode_error = |message: String| ClientError::Decode {
        api: pending.api,
        version: pending.version,
        message,
    };
    // ResponseHeader::decode panics on fewer than 4 bytes in this crate
    // version: check first (a broker bug must not take the tool down).
    if frame.len() < 4 {
        return Err(decode_error(format!("{}-byte response frame", frame.len())));
    }
    let header_version = <R::Response as HeaderVersion>::header_version(pending.version);
    let header = ResponseHeader::decode(&mut frame, header_version)
        .map_err(|error| decode_error(format!("header: {error:#}")))?;
    if header.correlation_id != pending.correlation_id {
        return Err(ClientError::CorrelationMismatch {
            expected: pending.correlation_id,
            got: header.correlation_id,
        });
    }
    let response = R::Response::decode(&mut frame, pending.version)
        .map_err(|error| decode_error(format!("{error:#}")))?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{MetadataRequest, MetadataResponse};
    use std::net::TcpListener;

    /// Builds a reply body from `(api_version, correlation_id)`.
    type Reply = Box<dyn FnOnce(i16, i32) -> Vec<u8> + Send>;

    /// A scripted peer: reads one request per entry of `replies` and answers
    /// it with the reply built from `(api_version, correlation_id)`.
    fn scripted_peer(replies: Vec<Reply>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for reply in replies {
                let mut size = [0; 4];
                stream.read_exact(&mut size).unwrap();
                let mut request = vec![0; i32::from_be_bytes(size) as usize];
                stream.read_exact(&mut request).unwrap();
                let version = i16::from_be_bytes([request[2], request[3]]);
                let correlation_id =
                    i32::from_be_bytes([request[4], request[5], request[6], request[7]]);
                let body = reply(version, correlation_id);
                stream
                    .write_all(&(body.len() as i32).to_be_bytes())
                    .unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        address
    }

    fn api_versions_reply(
        error_code: i16,
        ranges: &[(ApiKey, i16, i16)],
        version: i16,
        correlation_id: i32,
    ) -> Vec<u8> {
        let mut body = BytesMut::new();
        body.put_i32(correlation_id);
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(
                ranges
                    .iter()
                    .map(|(key, min, max)| {
                        ApiVersion::default()
                            .with_api_key(*key as i16)
                            .with_min_version(*min)
                            .with_max_version(*max)
                    })
                    .collect(),
            )
            .encode(&mut body, version)
            .unwrap();
        body.to_vec()
    }

    #[test]
    fn negotiation_retries_at_the_version_an_older_broker_names() {
        let address = scripted_peer(vec![
            Box::new(|version, correlation_id| {
                assert_eq!(version, 3);
                // An older broker answers an unknown version in v0 shape.
                api_versions_reply(
                    UNSUPPORTED_VERSION,
                    &[(ApiKey::ApiVersions, 0, 2)],
                    0,
                    correlation_id,
                )
            }),
            Box::new(|version, correlation_id| {
                assert_eq!(version, 2);
                let ranges = [(ApiKey::ApiVersions, 0, 2), (ApiKey::Metadata, 0, 9)];
                api_versions_reply(0, &ranges, version, correlation_id)
            }),
        ]);
        let connection = Connection::connect(&address, &ConnectionConfig::default()).unwrap();
        assert_eq!(
            connection.versions().broker_range(ApiKey::Metadata),
            Some((0, 9))
        );
        assert_eq!(connection.versions().pick::<MetadataRequest>().unwrap(), 9);
    }

    #[test]
    fn a_response_with_another_correlation_id_is_an_error() {
        let address = scripted_peer(vec![
            Box::new(|version, correlation_id| {
                api_versions_reply(
                    0,
                    &[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)],
                    version,
                    correlation_id,
                )
            }),
            Box::new(|version, correlation_id| {
                let mut body = BytesMut::new();
                body.put_i32(correlation_id + 7);
                body.put_u8(0); // empty tagged fields of the v1 response header
                MetadataResponse::default()
                    .encode(&mut body, version)
                    .unwrap();
                body.to_vec()
            }),
        ]);
        let mut connection = Connection::connect(&address, &ConnectionConfig::default()).unwrap();
        let outcome = connection.call(&MetadataRequest::default());
        assert!(
            matches!(outcome, Err(ClientError::CorrelationMismatch { expected, got }) if got == expected + 7),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_silent_broker_times_out() {
        let address = scripted_peer(vec![Box::new(|version, correlation_id| {
            api_versions_reply(
                0,
                &[(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 12)],
                version,
                correlation_id,
            )
        })]);
        let config = ConnectionConfig {
            request_timeout: Duration::from_millis(200),
            ..ConnectionConfig::default()
        };
        let mut connection = Connection::connect(&address, &config).unwrap();
        let outcome = connection.call(&MetadataRequest::default());
        assert!(
            matches!(
                outcome,
                Err(ClientError::Timeout { .. }) | Err(ClientError::Closed { .. })
            ),
            "{outcome:?}"
        );
    }
}
