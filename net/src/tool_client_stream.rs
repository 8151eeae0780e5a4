//! A blocking client connection to a broker for the CLI and `skein bench`:
//! TCP, then TLS and the SASL login as its [`ClientSecurity`] asks, then
//! Kafka frames over [`ClientStream`]. The login itself is
//! [`LoginExchange`]'s, shared with the broker's own connections.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rustls::{ClientConfig, ClientConnection};
use rustls_pki_types::ServerName;

use crate::sasl_login::{LoginError, LoginExchange};
use crate::tool_client_security::{ClientSecurity, ClientSecurityError, SaslLogin};

/// The SaslHandshake version sent (v1: SaslAuthenticate requests follow).
const SASL_HANDSHAKE_VERSION: i16 = 1;
/// The SaslAuthenticate version sent (v1: with the session lifetime).
const SASL_AUTHENTICATE_VERSION: i16 = 1;
/// Largest SASL response frame accepted, in bytes: they carry a token and
/// an error message, so this only guards against garbage sizes.
const SASL_RESPONSE_BYTES_MAX: usize = 1 << 20;
/// Sent as `client_id` in the SASL requests.
const CLIENT_ID: &str = "skein";

/// A connected, secured (as asked) and logged-in stream to a broker.
/// Blocking: set timeouts on [`socket`](Self::socket).
#[derive(Debug)]
pub struct ClientStream {
    socket: TcpStream,
    tls: Option<Arc<Mutex<ClientConnection>>>,
}

/// Connects to `address` (`host:port`, the first of its addresses that
/// accepts within `timeout`), runs the TLS handshake and the SASL login
/// that `security` asks for, each bounded by `timeout` per read or write.
/// The stream is returned with TCP_NODELAY and without timeouts.
///
/// # Errors
/// [`ClientSecurityError::Connect`], [`ClientSecurityError::Handshake`],
/// and for the login [`ClientSecurityError::Refused`] (a wrong password is
/// SASL_AUTHENTICATION_FAILED), [`ClientSecurityError::Scram`],
/// [`ClientSecurityError::Io`], [`ClientSecurityError::Protocol`].
pub fn connect(
    address: &str,
    security: &ClientSecurity,
    timeout: Duration,
) -> Result<ClientStream, ClientSecurityError> {
    let connect_error = |source| ClientSecurityError::Connect {
        address: address.to_owned(),
        source,
    };
    let mut last_error = std::io::Error::new(ErrorKind::NotFound, "address did not resolve");
    let mut socket = None;
    for socket_address in address.to_socket_addrs().map_err(connect_error)? {
        match TcpStream::connect_timeout(&socket_address, timeout) {
            Ok(connected) => {
                socket = Some(connected);
                break;
            }
            Err(error) => last_error = error,
        }
    }
    let socket = socket.ok_or_else(|| connect_error(last_error))?;
    let setup = |socket: &TcpStream, timeout: Option<Duration>| {
        socket.set_nodelay(true)?;
        socket.set_read_timeout(timeout)?;
        socket.set_write_timeout(timeout)
    };
    setup(&socket, Some(timeout)).map_err(connect_error)?;
    let mut stream = match security.tls() {
        None => ClientStream { socket, tls: None },
        Some(config) => handshake(socket, address, Arc::clone(config))?,
    };
    if let Some(login) = security.sasl() {
        SaslExchange {
            stream: &mut stream,
            address,
            correlation_id: 0,
        }
        .login(login)?;
    }
    setup(&stream.socket, None).map_err(|source| ClientSecurityError::Io {
        address: address.to_owned(),
        source,
    })?;
    Ok(stream)
}

/// The TLS handshake on `socket`, verifying the certificate against the
/// host part of `address`.
fn handshake(
    mut socket: TcpStream,
    address: &str,
    config: Arc<ClientConfig>,
) -> Result<ClientStream, ClientSecurityError> {
    let handshake_error = |source| ClientSecurityError::Handshake {
        address: address.to_owned(),
        source,
    };
    let host = address
        .rsplit_once(':')
        .map_or(address, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let server_name = ServerName::try_from(host.to_owned())
        .map_err(|error| handshake_error(std::io::Error::new(ErrorKind::InvalidInput, error)))?;
    let mut connection = ClientConnection::new(config, server_name)
        .map_err(|error| handshake_error(std::io::Error::other(error)))?;
    while connection.is_handshaking() {
        connection
            .complete_io(&mut socket)
            .map_err(handshake_error)?;
    }
    Ok(ClientStream {
        socket,
        tls: Some(Arc::new(Mutex::new(connection))),
    })
}

fn lock(tls: &Mutex<ClientConnection>) -> std::io::Result<MutexGuard<'_, ClientConnection>> {
    tls.lock()
        .map_err(|_| std::io::Error::other("TLS session lock poisoned"))
}

fn invalid_data(error: rustls::Error) -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, error)
}

impl ClientStream {
    /// The TCP socket: for timeouts, `shutdown` and addresses. Reading or
    /// writing it directly bypasses TLS.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Whether the stream runs TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A second handle on the same connection (one thread may read while
    /// another writes; two readers or two writers interleave bytes).
    ///
    /// # Errors
    /// If the socket cannot be duplicated.
    pub fn try_clone(&self) -> std::io::Result<ClientStream> {
        Ok(ClientStream {
            socket: self.socket.try_clone()?,
            tls: self.tls.clone(),
        })
    }

    fn read_tls(&self, tls: &Mutex<ClientConnection>, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            {
                let mut connection = lock(tls)?;
                match connection.reader().read(buf) {
                    // 0: the broker closed the session (close_notify).
                    Ok(read) => return Ok(read),
                    Err(error) if error.kind() == ErrorKind::WouldBlock => {}
                    Err(error) => return Err(error),
                }
            }
            // Wait for ciphertext without the lock, so that a writer on
            // another thread is never held up by a read that waits.
            let mut probe = [0u8; 1];
            let eof = self.socket.peek(&mut probe)? == 0;
            let mut connection = lock(tls)?;
            let mut socket = &self.socket;
            if eof || connection.read_tls(&mut socket)? == 0 {
                // A close without close_notify: reported as end of stream.
                return Ok(0);
            }
            connection.process_new_packets().map_err(invalid_data)?;
            // Alerts or key updates the records asked for.
            while connection.wants_write() {
                connection.write_tls(&mut socket)?;
            }
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &self.tls {
            None => self.socket.read(buf),
            Some(tls) => self.read_tls(tls, buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.tls {
            None => self.socket.write(buf),
            Some(tls) => {
                let mut connection = lock(tls)?;
                // The session's send buffer is empty here (every write
                // drains it), so this takes at least part of `buf`.
                let taken = connection.writer().write(buf)?;
                let mut socket = &self.socket;
                while connection.wants_write() {
                    connection.write_tls(&mut socket)?;
                }
                Ok(taken)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &self.tls {
            None => self.socket.flush(),
            Some(tls) => {
                let mut connection = lock(tls)?;
                let mut socket = &self.socket;
                while connection.wants_write() {
                    connection.write_tls(&mut socket)?;
                }
                Ok(())
            }
        }
    }
}

/// One SASL login: Kafka-framed SaslHandshake and SaslAuthenticate calls
/// on a fresh stream.
struct SaslExchange<'a> {
    stream: &'a mut ClientStream,
    address: &'a str,
    correlation_id: i32,
}

impl SaslExchange<'_> {
    fn login(&mut self, login: &SaslLogin) -> Result<(), ClientSecurityError> {
        let mut exchange = LoginExchange::new(
            login.mechanism,
            &login.username,
            &login.password,
            crate::scram::random_nonce(),
        );
        let handshake = self.call(
            ApiKey::SaslHandshake,
            &exchange.handshake_request(),
            SASL_HANDSHAKE_VERSION,
        )?;
        let mut request = exchange
            .on_handshake(&handshake)
            .map_err(|error| self.login_error(error))?;
        loop {
            let response = self.call(
                ApiKey::SaslAuthenticate,
                &request,
                SASL_AUTHENTICATE_VERSION,
            )?;
            match exchange
                .on_authenticate(&response)
                .map_err(|error| self.login_error(error))?
            {
                Some(next) => request = next,
                None => return Ok(()),
            }
        }
    }

    /// The error of a failed login step.
    fn login_error(&self, error: LoginError) -> ClientSecurityError {
        match error {
            LoginError::Refused {
                api,
                error_code,
                message,
            } => ClientSecurityError::Refused {
                api,
                code: error_code,
                message: (!message.is_empty()).then_some(message),
            },
            LoginError::Scram(source) => ClientSecurityError::Scram {
                address: self.address.to_owned(),
                source,
            },
            LoginError::AfterCompletion => ClientSecurityError::Protocol {
                address: self.address.to_owned(),
                reason: error.to_string(),
            },
        }
    }

    fn call<R: Request>(
        &mut self,
        api: ApiKey,
        request: &R,
        version: i16,
    ) -> Result<R::Response, ClientSecurityError> {
        let protocol_error = |reason: String| ClientSecurityError::Protocol {
            address: self.address.to_owned(),
            reason,
        };
        let io_error = |source| ClientSecurityError::Io {
            address: self.address.to_owned(),
            source,
        };
        let correlation_id = self.correlation_id;
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut frame = BytesMut::with_capacity(256);
        frame.put_i32(0);
        header
            .encode(&mut frame, R::header_version(version))
            .map_err(|error| protocol_error(format!("encode {api:?} header: {error:#}")))?;
        request
            .encode(&mut frame, version)
            .map_err(|error| protocol_error(format!("encode {api:?}: {error:#}")))?;
        let size = i32::try_from(frame.len() - 4)
            .map_err(|_| protocol_error(format!("{api:?} request too large")))?;
        if let Some(prefix) = frame.get_mut(..4) {
            prefix.copy_from_slice(&size.to_be_bytes());
        }
        self.stream.write_all(&frame).map_err(io_error)?;
        self.stream.flush().map_err(io_error)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io_error)?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .ok()
            .filter(|size| (4..=SASL_RESPONSE_BYTES_MAX).contains(size))
            .ok_or_else(|| {
                protocol_error(format!(
                    "{api:?} response frame of {} bytes",
                    i32::from_be_bytes(size)
                ))
            })?;
        let mut body = vec![0u8; size];
        self.stream.read_exact(&mut body).map_err(io_error)?;
        let mut body = Bytes::from(body);
        let response_header_version = <R::Response as HeaderVersion>::header_version(version);
        let header = ResponseHeader::decode(&mut body, response_header_version)
            .map_err(|error| protocol_error(format!("{api:?} response header: {error:#}")))?;
        if header.correlation_id != correlation_id {
            return Err(protocol_error(format!(
                "{api:?} response correlation id {}, expected {correlation_id}",
                header.correlation_id
            )));
        }
        let response = R::Response::decode(&mut body, version)
            .map_err(|error| protocol_error(format!("{api:?} response: {error:#}")))?;
        if body.has_remaining() {
            tracing::debug!(
                ?api,
                trailing = body.remaining(),
                "bytes after a SASL response"
            );
        }
        Ok(response)
    }
}
