//! The security of this node's outgoing connections to other nodes: TLS
//! (rustls client) and the SASL login (SaslHandshake v1, then
//! SaslAuthenticate v2 with PLAIN or SCRAM-SHA-256/512 tokens), as a Kafka
//! broker's own client connections do them, for the two kinds of peer:
//!
//! * another broker's inter-broker listener (replica fetchers,
//!   WriteTxnMarkers);
//! * a controller's controller listener (the raft transport, broker
//!   registration and heartbeats, AlterPartition, forwarding, metadata
//!   fetches).
//!
//! [`connect`] is the one place where such a connection is opened: it
//! returns a stream already past the TLS handshake and the SASL exchange,
//! ready for requests. What to do comes resolved from the configuration
//! ([`skein_controller::ClientLogin`]); the TLS client configuration is
//! built once at start ([`PeerSecurity::load`]), so opening a connection
//! reads no file.
//!
//! Trust: the peer's certificate is checked against the listener's trust
//! store and for the host name (or IP address) the peer is reached at, as
//! Kafka's default `ssl.endpoint.identification.algorithm=https` does; the
//! listener's key store, when given, is this node's client certificate.
//!
//! Lives on: whichever shard opens the connection (the values are shared,
//! immutable after start).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse, SaslHandshakeResponse};
use kafka_protocol::protocol::{Decodable, Encodable};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use skein_controller::{BrokerConfig, ClientLogin, ClientSasl};

use crate::controller_rpc::{decode_response, encode_request};
use crate::frame::read_frame_body;
use crate::sasl_login::{LoginError, LoginExchange};
use crate::tls::{key_and_chain, protocol_versions, trust_store, TlsError};
use crate::tls_stream;

/// SaslHandshake version sent: v1, tokens then travel in SaslAuthenticate
/// (KIP-152).
const SASL_HANDSHAKE_VERSION: i16 = 1;
/// SaslAuthenticate version sent (flexible, with the session lifetime).
const SASL_AUTHENTICATE_VERSION: i16 = 2;
/// The largest answer read during the login: far above a SCRAM message.
const LOGIN_RESPONSE_BYTES_MAX: usize = 64 * 1024;

/// A connection to a peer: a socket, or TLS over it.
pub trait PeerStream: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> PeerStream for T {}

/// An open connection to a peer, past its TLS handshake and login.
pub struct PeerConnection {
    /// What requests are written to and responses read from.
    pub stream: Box<dyn PeerStream>,
    /// The socket itself when `stream` is the plain socket (no TLS over
    /// it): responses can then be received straight into a buffer's
    /// uninitialised capacity ([`crate::frame::read_frame_body_from_socket`]).
    pub plain_socket: Option<RawFd>,
}

/// Why a connection to a peer could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ClientSecurityError {
    /// Connecting, writing or reading failed.
    #[error("connection failed")]
    Io(#[from] std::io::Error),
    /// The TLS handshake failed (the peer's certificate did not verify, no
    /// common version, or the peer is not TLS).
    #[error("TLS handshake with {host} failed")]
    Tls {
        /// The host the peer was reached at.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The peer refused the SASL login.
    #[error("SASL {mechanism} login as {user} refused (error code {error_code}): {message}")]
    Refused {
        /// The mechanism.
        mechanism: &'static str,
        /// The user logged in as.
        user: String,
        /// Kafka's error code in the answer.
        error_code: i16,
        /// The peer's message, or the SCRAM failure.
        message: String,
    },
    /// The peer's answer broke the protocol.
    #[error("SASL login: {0}")]
    Protocol(String),
}

/// How to connect to one kind of peer listener.
#[derive(Clone)]
pub struct ClientSecurity {
    login: ClientLogin,
    tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("listener", &self.login.listener)
            .field("protocol", &self.login.protocol)
            .field("mechanism", &self.login.sasl.as_ref().map(|s| s.mechanism))
            .finish()
    }
}

impl ClientSecurity {
    /// Plaintext: no TLS, no SASL.
    pub fn plaintext() -> ClientSecurity {
        ClientSecurity {
            login: ClientLogin::plaintext(""),
            tls: None,
        }
    }

    /// Builds the TLS client configuration of `login` (reading its trust
    /// and key stores).
    ///
    /// # Errors
    /// [`TlsError`]: a store cannot be read or holds nothing usable.
    pub fn load(login: ClientLogin) -> Result<ClientSecurity, TlsError> {
        let tls = match &login.ssl {
            Some(settings) => Some(Arc::new(build_client_config(settings)?)),
            None => None,
        };
        Ok(ClientSecurity { login, tls })
    }

    /// The security protocol (`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT`,
    /// `SASL_SSL`).
    pub fn protocol(&self) -> &str {
        &self.login.protocol
    }
}

/// Both kinds of peer this node connects to.
#[derive(Debug, Clone)]
pub struct PeerSecurity {
    /// Other brokers' inter-broker listener.
    pub inter_broker: ClientSecurity,
    /// The controllers' listener.
    pub controller: ClientSecurity,
}

impl PeerSecurity {
    /// Plaintext to every peer.
    pub fn plaintext() -> PeerSecurity {
        PeerSecurity {
            inter_broker: ClientSecurity::plaintext(),
            controller: ClientSecurity::plaintext(),
        }
    }

    /// Resolves `config`'s logins (see
    /// [`BrokerConfig::inter_broker_login`] and
    /// [`BrokerConfig::controller_login`]) and reads their TLS stores.
    /// Blocking file IO: call it at start, before the shards run.
    ///
    /// # Errors
    /// Why this node cannot log in to its peers, naming the property.
    pub fn load(config: &BrokerConfig) -> Result<PeerSecurity, String> {
        let inter_broker = config.inter_broker_login()?;
        let controller = config.controller_login()?;
        Ok(PeerSecurity {
            inter_broker: ClientSecurity::load(inter_broker).map_err(|e| e.to_string())?,
            controller: ClientSecurity::load(controller).map_err(|e| e.to_string())?,
        })
    }
}

/// Opens a connection to `address`, reached as `host` (the name the peer's
/// certificate must carry), with `security`: TCP, then TLS, then the SASL
/// login. No timeout of its own: the caller bounds it.
///
/// # Errors
/// [`ClientSecurityError`]; the connection is dropped.
///
/// # Cancel safety
/// Dropping the future drops the connection.
pub async fn connect(
    address: SocketAddr,
    host: &str,
    security: &ClientSecurity,
) -> Result<PeerConnection, ClientSecurityError> {
    let socket = glommio::net::TcpStream::connect(address)
        .await
        .map_err(|error| ClientSecurityError::Io(std::io::Error::from(error)))?;
    // Small request/response exchanges: do not wait for more bytes.
    if let Err(error) = socket.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a peer connection");
    }
    let plain_socket = security.tls.is_none().then(|| socket.as_raw_fd());
    let mut stream: Box<dyn PeerStream> = match &security.tls {
        None => Box::new(socket),
        Some(config) => {
            let name = server_name(host)?;
            let tls = tls_stream::connect(socket, Arc::clone(config), name)
                .await
                .map_err(|source| ClientSecurityError::Tls {
                    host: host.to_string(),
                    source,
                })?;
            Box::new(tls)
        }
    };
    if let Some(sasl) = &security.login.sasl {
        login(&mut stream, sasl).await?;
    }
    Ok(PeerConnection {
        stream,
        plain_socket,
    })
}

/// The name the peer's certificate is checked for: an IP address as such
/// (a certificate's IP SAN), else a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, ClientSecurityError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| {
        ClientSecurityError::Protocol(format!("{host} is not a host name TLS can verify"))
    })
}

/// The SASL exchange: SaslHandshake, then SaslAuthenticate rounds.
async fn login(
    stream: &mut Box<dyn PeerStream>,
    sasl: &ClientSasl,
) -> Result<(), ClientSecurityError> {
    let refused = |error: LoginError| {
        let (error_code, message) = match error {
            LoginError::Refused {
                error_code,
                message,
                ..
            } => (error_code, message),
            other => (0, other.to_string()),
        };
        ClientSecurityError::Refused {
            mechanism: sasl.mechanism.name(),
            user: sasl.username.clone(),
            error_code,
            message,
        }
    };
    let mut exchange = LoginExchange::new(
        sasl.mechanism,
        &sasl.username,
        &sasl.password,
        crate::scram::random_nonce(),
    );
    let handshake: SaslHandshakeResponse = call(
        stream,
        ApiKey::SaslHandshake,
        SASL_HANDSHAKE_VERSION,
        0,
        &exchange.handshake_request(),
    )
    .await?;
    let mut request = exchange.on_handshake(&handshake).map_err(refused)?;
    for correlation_id in 1.. {
        let response: SaslAuthenticateResponse = call(
            stream,
            ApiKey::SaslAuthenticate,
            SASL_AUTHENTICATE_VERSION,
            correlation_id,
            &request,
        )
        .await?;
        match exchange.on_authenticate(&response).map_err(refused)? {
            Some(next) => request = next,
            None => break,
        }
    }
    Ok(())
}

/// Sends one request and reads its response, bounded by
/// [`LOGIN_RESPONSE_BYTES_MAX`].
async fn call<Req: Encodable, Resp: Decodable>(
    stream: &mut Box<dyn PeerStream>,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &Req,
) -> Result<Resp, ClientSecurityError> {
    let frame = encode_request(api_key, version, correlation_id, request)
        .map_err(|error| ClientSecurityError::Protocol(format!("cannot encode: {error}")))?;
    stream.write_all(&frame).await?;
    stream.flush().await?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await?;
    let size = i32::from_be_bytes(size);
    let size = usize::try_from(size)
        .ok()
        .filter(|size| (4..=LOGIN_RESPONSE_BYTES_MAX).contains(size))
        .ok_or_else(|| {
            ClientSecurityError::Protocol(format!("a {api_key:?} answer of {size} bytes"))
        })?;
    let body = read_frame_body(stream, size)
        .await
        .map_err(|error| ClientSecurityError::Protocol(error.to_string()))?;
    decode_response(body, api_key, version, correlation_id)
        .map_err(|error| ClientSecurityError::Protocol(error.to_string()))
}

/// A rustls client configuration from a listener's TLS settings: its trust
/// store verifies the server, its key store (if given) is the client
/// certificate; `ssl.enabled.protocols` bound the versions.
///
/// # Errors
/// [`TlsError`] naming the listener and what is wrong.
pub fn build_client_config(
    settings: &skein_controller::SslSettings,
) -> Result<ClientConfig, TlsError> {
    let listener = settings.listener.clone();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = protocol_versions(settings)?;
    let rustls_error = |source| TlsError::Rustls {
        listener: listener.clone(),
        source,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(rustls_error)?
        .with_root_certificates(trust_store(settings)?);
    let has_key = !(settings.keystore_location.is_empty()
        && settings.keystore_certificate_chain.is_empty()
        && settings.keystore_key.is_empty());
    if !has_key {
        return Ok(builder.with_no_client_auth());
    }
    let (chain, key) = key_and_chain(settings)?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(rustls_error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn an_ip_host_is_checked_as_an_ip_address_and_a_name_as_dns() {
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("broker-1.example").unwrap(),
            ServerName::DnsName(_)
        ));
    }
}
