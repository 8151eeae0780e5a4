//! The SASL login a peer node makes on a SASL controller listener before
//! its first request: the server side of [`crate::client_security`]'s
//! login, run with the connection's [`Authenticator`] as a client
//! listener runs it. Only SaslHandshake v1 and SaslAuthenticate are served
//! until the login succeeds (nodes never send raw v0 tokens or ApiVersions
//! here); anything else, a refused mechanism or refused credentials close
//! the connection (the latter after `connection.failed.authentication.delay.ms`,
//! as Kafka delays it). Frames are bounded by Kafka's pre-authentication
//! limit and decoded by the same never-panicking decoder as client
//! requests.
//!
//! Lives on: the control shard (the controller listener's connections).

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use kafka_protocol::messages::{ApiKey, SaslAuthenticateResponse};
use kafka_protocol::protocol::Encodable;
use skein_controller::{KafkaPrincipal, ListenerSasl, ScramCredential, ScramMechanism};

use crate::authenticator::{Admission, Authenticator, UNAUTHENTICATED_FRAME_BYTES_MAX};
use crate::error_code::auth_error;
use crate::frame::{read_frame, FrameError, RequestHeader};
use crate::handlers::{message, sasl_handshake};
use crate::request::{decode_frame, Request};
use crate::response::write_response_header;

/// Why a peer's login ended without a principal.
#[derive(Debug, thiserror::Error)]
pub enum PeerAuthenticationError {
    /// The connection broke or sent a broken frame.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Writing the answer failed.
    #[error("connection failed")]
    Io(#[from] std::io::Error),
    /// The peer sent something other than the login.
    #[error("{0}")]
    Refused(String),
}

/// Runs the login of one peer on `stream` against `sasl`, looking SCRAM
/// credentials up with `credential_of`; the authenticated principal.
///
/// # Errors
/// [`PeerAuthenticationError`]: close the connection.
///
/// # Cancel safety
/// Dropping the future leaves the stream mid-exchange: drop it too.
pub async fn authenticate_peer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    sasl: Arc<ListenerSasl>,
    credential_of: impl Fn(&str, ScramMechanism) -> Option<ScramCredential>,
    failed_delay: Duration,
) -> Result<KafkaPrincipal, PeerAuthenticationError> {
    let auth = RefCell::new(Authenticator::new(Some(sasl), KafkaPrincipal::anonymous()));
    loop {
        let frame = read_frame(stream, UNAUTHENTICATED_FRAME_BYTES_MAX).await?;
        let (header, request) = decode_frame(frame)?;
        if let Admission::Close(reason) = auth.borrow().admit(header.api_key, Instant::now()) {
            return Err(PeerAuthenticationError::Refused(reason));
        }
        match request {
            Ok(Request::SaslHandshake(request)) if header.api_version >= 1 => {
                let (response, refused) =
                    sasl_handshake::handle(&auth, &request, header.api_version);
                write(stream, &header, ApiKey::SaslHandshake, &response).await?;
                if let Some(error) = refused {
                    return Err(PeerAuthenticationError::Refused(error.to_string()));
                }
            }
            Ok(Request::SaslAuthenticate(request)) => {
                let result = auth.borrow_mut().authenticate(
                    &request.auth_bytes,
                    Instant::now(),
                    &credential_of,
                );
                match result {
                    Ok(reply) => {
                        let response = SaslAuthenticateResponse::default()
                            .with_error_message(None)
                            .with_auth_bytes(Bytes::from(reply.token))
                            .with_session_lifetime_ms(reply.session_lifetime_ms);
                        write(stream, &header, ApiKey::SaslAuthenticate, &response).await?;
                        let auth = auth.borrow();
                        if auth.admit(ApiKey::Metadata as i16, Instant::now()) == Admission::Serve {
                            return Ok(auth.principal().clone());
                        }
                    }
                    Err(error) => {
                        tracing::info!(%error, "a peer's SASL login failed");
                        let response = SaslAuthenticateResponse::default()
                            .with_error_code(auth_error(&error).code())
                            .with_error_message(message(&error));
                        write(stream, &header, ApiKey::SaslAuthenticate, &response).await?;
                        glommio::timer::sleep(failed_delay).await;
                        return Err(PeerAuthenticationError::Refused(error.to_string()));
                    }
                }
            }
            _ => {
                return Err(PeerAuthenticationError::Refused(format!(
                    "api key {} v{} before the SASL login",
                    header.api_key, header.api_version
                )))
            }
        }
    }
}

/// Writes the response `message` to `header` and flushes it.
async fn write<S: AsyncWrite + Unpin, M: Encodable>(
    stream: &mut S,
    header: &RequestHeader,
    api_key: ApiKey,
    message: &M,
) -> Result<(), PeerAuthenticationError> {
    let mut buf = BytesMut::with_capacity(128);
    buf.put_i32(0);
    write_response_header(&mut buf, header, api_key)
        .and_then(|()| message.encode(&mut buf, header.api_version))
        .map_err(|error| PeerAuthenticationError::Refused(format!("cannot encode: {error}")))?;
    let size = i32::try_from(buf.len().saturating_sub(4))
        .map_err(|_| PeerAuthenticationError::Refused("response too large".into()))?;
    if let Some(prefix) = buf.get_mut(0..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
    stream.write_all(&buf).await?;
    stream.flush().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::collections::BTreeMap;

    use skein_controller::{ClientLogin, ClientSasl, SaslMechanism};

    use super::*;
    use crate::client_security::ClientSecurity;
    use crate::controller_client::{ControllerCallError, ControllerConnection};

    fn listener_sasl() -> Arc<ListenerSasl> {
        Arc::new(ListenerSasl {
            mechanisms: vec![
                SaslMechanism::Plain,
                SaslMechanism::Scram(ScramMechanism::Sha512),
            ],
            plain_users: BTreeMap::from([("broker".to_string(), "pw".to_string())]),
            reauth_ms: 0,
        })
    }

    fn security(mechanism: SaslMechanism, user: &str, password: &str) -> ClientSecurity {
        ClientSecurity::load(ClientLogin {
            listener: "CONTROLLER".into(),
            protocol: "SASL_PLAINTEXT".into(),
            sasl: Some(ClientSasl {
                mechanism,
                username: user.into(),
                password: password.into(),
            }),
            ssl: None,
        })
        .unwrap()
    }

    /// Logs in with `client` to a peer-authenticating server; what each
    /// side ends with.
    fn login(
        client: ClientSecurity,
    ) -> (
        Result<KafkaPrincipal, String>,
        Result<(), ControllerCallError>,
    ) {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .unwrap()
            .run(async move {
                let listener = glommio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let address = listener.local_addr().unwrap().to_string();
                let server = glommio::spawn_local(async move {
                    let mut stream = listener.accept().await.unwrap();
                    let scram = skein_controller::ScramCredential::from_password(
                        ScramMechanism::Sha512,
                        "scram-pw",
                        b"salt-of-sixteen!".to_vec(),
                        4096,
                    );
                    authenticate_peer(
                        &mut stream,
                        listener_sasl(),
                        |user, mechanism| {
                            (user == "replicator" && mechanism == ScramMechanism::Sha512)
                                .then(|| scram.clone())
                        },
                        Duration::ZERO,
                    )
                    .await
                    .map_err(|error| error.to_string())
                });
                let client = ControllerConnection::connect_to(&address, &client)
                    .await
                    .map(drop);
                (server.await, client)
            })
    }

    #[test]
    fn a_plain_login_with_the_jaas_password_authenticates_the_peer() {
        let (server, client) = login(security(SaslMechanism::Plain, "broker", "pw"));
        client.unwrap();
        assert_eq!(server.unwrap(), KafkaPrincipal::user("broker"));
    }

    #[test]
    fn a_scram_login_authenticates_the_peer_and_verifies_the_server() {
        let mechanism = SaslMechanism::Scram(ScramMechanism::Sha512);
        let (server, client) = login(security(mechanism, "replicator", "scram-pw"));
        client.unwrap();
        assert_eq!(server.unwrap(), KafkaPrincipal::user("replicator"));
    }

    #[test]
    fn a_wrong_password_or_a_disabled_mechanism_is_refused_on_both_sides() {
        let (server, client) = login(security(SaslMechanism::Plain, "broker", "wrong"));
        assert!(server.is_err());
        let error = client.unwrap_err().to_string();
        assert!(error.contains("PLAIN login as broker refused"), "{error}");
        let mechanism = SaslMechanism::Scram(ScramMechanism::Sha256);
        let (server, client) = login(security(mechanism, "replicator", "scram-pw"));
        assert!(server.is_err());
        let error = client.unwrap_err().to_string();
        assert!(
            error.contains("the peer enables PLAIN, SCRAM-SHA-512"),
            "{error}"
        );
    }
}
