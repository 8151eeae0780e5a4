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
use std::sync::Arc;

use bytes::Bytes;
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use skein_controller::{BrokerConfig, ClientLogin, ClientSasl, SaslMechanism};

use crate::controller_rpc::{decode_response, encode_request};
use crate::frame::read_frame_body;
use crate::scram::ScramClient;
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
) -> Result<Box<dyn PeerStream>, ClientSecurityError> {
    let socket = glommio::net::TcpStream::connect(address)
        .await
        .map_err(|error| ClientSecurityError::Io(std::io::Error::from(error)))?;
    // Small request/response exchanges: do not wait for more bytes.
    if let Err(error) = socket.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY on a peer connection");
    }
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
    Ok(stream)
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
    let mechanism = sasl.mechanism.name();
    let refused = |error_code: i16, message: String| ClientSecurityError::Refused {
        mechanism,
        user: sasl.username.clone(),
        error_code,
        message,
    };
    let handshake: SaslHandshakeResponse = call(
        stream,
        ApiKey::SaslHandshake,
        SASL_HANDSHAKE_VERSION,
        0,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
    )
    .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(refused(
            handshake.error_code,
            format!("the peer enables {}", enabled.join(", ")),
        ));
    }
    match sasl.mechanism {
        SaslMechanism::Plain => {
            let token = plain_token(&sasl.username, &sasl.password);
            authenticate(stream, 1, token).await.map_err(|e| match e {
                AuthenticateError::Refused(code, message) => refused(code, message),
                AuthenticateError::Other(other) => other,
            })?;
        }
        SaslMechanism::Scram(scram) => {
            let mut client =
                ScramClient::new(scram, &sasl.username, &sasl.password, client_nonce());
            let server_first = authenticate(stream, 1, client.client_first())
                .await
                .map_err(|e| e.into_error(&refused))?;
            let client_final = client
                .client_final(&server_first)
                .map_err(|error| refused(0, error.to_string()))?;
            let server_final = authenticate(stream, 2, client_final)
                .await
                .map_err(|e| e.into_error(&refused))?;
            client
                .verify_server_final(&server_final)
                .map_err(|error| refused(0, error.to_string()))?;
        }
    }
    Ok(())
}

/// A PLAIN token: no authorization id, the user, the password.
fn plain_token(user: &str, password: &str) -> Vec<u8> {
    let mut token = Vec::with_capacity(user.len() + password.len() + 2);
    token.push(0);
    token.extend_from_slice(user.as_bytes());
    token.push(0);
    token.extend_from_slice(password.as_bytes());
    token
}

enum AuthenticateError {
    Refused(i16, String),
    Other(ClientSecurityError),
}

impl AuthenticateError {
    fn into_error(
        self,
        refused: &impl Fn(i16, String) -> ClientSecurityError,
    ) -> ClientSecurityError {
        match self {
            AuthenticateError::Refused(code, message) => refused(code, message),
            AuthenticateError::Other(other) => other,
        }
    }
}

/// One SaslAuthenticate round: `token` out, the server's token back.
async fn authenticate(
    stream: &mut Box<dyn PeerStream>,
    correlation_id: i32,
    token: Vec<u8>,
) -> Result<Vec<u8>, AuthenticateError> {
    let response: SaslAuthenticateResponse = call(
        stream,
        ApiKey::SaslAuthenticate,
        SASL_AUTHENTICATE_VERSION,
        correlation_id,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
    )
    .await
    .map_err(AuthenticateError::Other)?;
    if response.error_code != 0 {
        return Err(AuthenticateError::Refused(
            response.error_code,
            response
                .error_message
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ));
    }
    Ok(response.auth_bytes.to_vec())
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

/// A random SCRAM client nonce: 24 random bytes as 48 hex digits
/// (printable, no `,`).
fn client_nonce() -> String {
    use ring::rand::SecureRandom;
    use std::fmt::Write as _;
    let mut bytes = [0u8; 24];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // The nonce must differ per exchange; it need not be secret.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (byte, nano) in bytes.iter_mut().zip(nanos.to_be_bytes()) {
            *byte = nano;
        }
    }
    let mut nonce = String::with_capacity(48);
    for byte in bytes {
        // Writing to a String cannot fail.
        write!(nonce, "{byte:02x}").ok();
    }
    nonce
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
    fn a_plain_token_is_empty_authzid_user_password() {
        assert_eq!(plain_token("broker", "s3cret"), b"\0broker\0s3cret");
    }

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

    #[test]
    fn client_nonces_differ_and_are_printable() {
        let (a, b) = (client_nonce(), client_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
