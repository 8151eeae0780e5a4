//! The authentication state of one connection: who it is (its
//! [`KafkaPrincipal`]) and, on a SASL listener, the SASL exchange that
//! establishes it, as Kafka's `SaslServerAuthenticator` runs it.
//!
//! ```text
//!  AwaitingHandshake ──SaslHandshake(mechanism)──▶ Authenticating ──last token ok──▶ Authenticated
//!        │  ApiVersions served                         │  SaslAuthenticate tokens         │ SaslHandshake
//!        │  anything else: close                       │  failure: error, then close      ▼ (re-authentication,
//!        ▼                                             ▼                                     KIP-368)
//!      Failed ◀────────────────────────────────────────┘                              Authenticating
//! ```
//!
//! Before the first authentication succeeds only ApiVersions, SaslHandshake
//! and SaslAuthenticate are served; any other request closes the
//! connection. A SaslHandshake v0 is followed by raw SASL tokens, each a
//! size-prefixed frame with no Kafka header (Kafka's pre-KIP-152 framing).
//! With `connections.max.reauth.ms` a session expires: after that, the
//! connection may only start a re-authentication (a SaslHandshake), and any
//! other request closes it. Re-authentication must keep the mechanism and
//! the principal. Sans-IO: the caller reads, writes and sleeps.
//!
//! Lives on: the connection's shard, one per connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use skein_controller::{KafkaPrincipal, ListenerSasl, SaslMechanism, ScramCredential};

use crate::sasl_plain;
use crate::scram::{ScramServer, ScramStep};

/// Kafka's `sasl.server.max.receive.size` default: the largest frame a
/// connection may send before it is authenticated, so that an
/// unauthenticated peer cannot make the broker buffer 100 MiB.
pub const UNAUTHENTICATED_FRAME_BYTES_MAX: usize = 524_288;

/// Where a connection stands.
#[derive(Debug)]
enum State {
    /// Authenticated (or a listener without SASL): everything is served.
    Authenticated,
    /// SASL, before the handshake.
    AwaitingHandshake,
    /// SASL, after the handshake: tokens of `mechanism` are expected.
    Authenticating {
        mechanism: SaslMechanism,
        /// After a v0 handshake: tokens come as raw frames.
        raw: bool,
        /// Boxed: the SCRAM state is large and lives only for the exchange.
        scram: Option<Box<ScramServer>>,
    },
    /// An authentication failed: the connection is closing.
    Failed,
}

/// Whether a request may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Serve it.
    Serve,
    /// Close the connection, for this reason (nothing is answered).
    Close(String),
}

/// Why a SaslHandshake or SaslAuthenticate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The mechanism is not enabled on this listener.
    #[error("Unsupported SASL mechanism {0}")]
    UnsupportedMechanism(String),
    /// A SASL request out of order (or on a listener without SASL).
    #[error("{0}")]
    IllegalState(&'static str),
    /// The credentials were refused; the message is what the client is
    /// told.
    #[error("{0}")]
    Failed(String),
}

impl AuthError {
    /// Whether the connection closes after the answer (Kafka closes after
    /// every authentication failure; a SASL request on a listener without
    /// SASL is only answered).
    pub fn closes(&self) -> bool {
        !matches!(self, AuthError::IllegalState(LISTENER_WITHOUT_SASL))
    }
}

const LISTENER_WITHOUT_SASL: &str = "SASL is not enabled on this listener";

/// The answer to one SASL token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReply {
    /// The server's token (empty when there is none).
    pub token: Vec<u8>,
    /// The session's lifetime once authenticated, in ms (0: no limit, or
    /// not yet authenticated), for SaslAuthenticate v1 and later.
    pub session_lifetime_ms: i64,
}

/// One connection's authentication.
#[derive(Debug)]
pub struct Authenticator {
    sasl: Option<Arc<ListenerSasl>>,
    state: State,
    principal: KafkaPrincipal,
    /// Whether a SASL authentication has succeeded before (so a handshake
    /// now is a re-authentication).
    authenticated_once: bool,
    /// The mechanism of the last successful authentication.
    mechanism: Option<SaslMechanism>,
    session_expires_at: Option<Instant>,
}

impl Authenticator {
    /// A connection of a listener with `sasl` (`None`: PLAINTEXT or SSL,
    /// authenticated from the start as `principal`).
    pub fn new(sasl: Option<Arc<ListenerSasl>>, principal: KafkaPrincipal) -> Authenticator {
        let state = if sasl.is_some() {
            State::AwaitingHandshake
        } else {
            State::Authenticated
        };
        Authenticator {
            sasl,
            state,
            principal,
            authenticated_once: false,
            mechanism: None,
            session_expires_at: None,
        }
    }

    /// The connection's principal (`User:ANONYMOUS` until authenticated).
    pub fn principal(&self) -> &KafkaPrincipal {
        &self.principal
    }

    /// Whether the next frame is a raw SASL token (after a v0 handshake).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.state, State::Authenticating { raw: true, .. })
    }

    /// The largest frame to accept next: `configured`
    /// (`socket.request.max.bytes`) once authenticated, Kafka's
    /// [`UNAUTHENTICATED_FRAME_BYTES_MAX`] before.
    pub fn frame_bytes_max(&self, configured: usize) -> usize {
        if self.authenticated_once || matches!(self.state, State::Authenticated) {
            configured
        } else {
            configured.min(UNAUTHENTICATED_FRAME_BYTES_MAX)
        }
    }

    /// Whether a request of `api_key` (a raw key: it may be unknown) may be
    /// served at `now`.
    pub fn admit(&self, api_key: i16, now: Instant) -> Admission {
        let sasl_request =
            api_key == ApiKey::SaslHandshake as i16 || api_key == ApiKey::SaslAuthenticate as i16;
        match &self.state {
            State::Failed => Admission::Close("authentication failed".into()),
            State::Authenticated => match self.session_expires_at {
                Some(expiry) if now >= expiry && api_key != ApiKey::SaslHandshake as i16 => {
                    Admission::Close(format!(
                        "SASL session of {} expired without re-authentication",
                        self.principal
                    ))
                }
                _ => Admission::Serve,
            },
            // A re-authenticating connection is still its principal.
            _ if self.authenticated_once => Admission::Serve,
            _ if sasl_request || api_key == ApiKey::ApiVersions as i16 => Admission::Serve,
            _ => Admission::Close(format!(
                "unexpected request (api key {api_key}) before SASL authentication"
            )),
        }
    }

    /// The mechanisms this listener enables, by name (for the handshake
    /// response).
    pub fn enabled_mechanisms(&self) -> Vec<&'static str> {
        self.sasl
            .iter()
            .flat_map(|sasl| sasl.mechanisms.iter().map(|m| m.name()))
            .collect()
    }

    /// SaslHandshake v`version` asking for `mechanism`.
    ///
    /// # Errors
    /// [`AuthError::UnsupportedMechanism`] for a mechanism not enabled here
    /// (or another than the one re-authenticated); `IllegalState` out of
    /// order. Either way the connection then closes (see
    /// [`AuthError::closes`]).
    pub fn handshake(&mut self, mechanism: &str, version: i16) -> Result<(), AuthError> {
        let Some(sasl) = &self.sasl else {
            return Err(AuthError::IllegalState(LISTENER_WITHOUT_SASL));
        };
        match self.state {
            State::AwaitingHandshake | State::Authenticated => {}
            _ => {
                self.state = State::Failed;
                return Err(AuthError::IllegalState(
                    "SaslHandshake received while a SASL exchange is in progress",
                ));
            }
        }
        let enabled = SaslMechanism::from_name(mechanism)
            .filter(|m| sasl.mechanisms.contains(m))
            .filter(|m| self.mechanism.is_none_or(|previous| previous == *m));
        let Some(chosen) = enabled else {
            self.state = State::Failed;
            return Err(AuthError::UnsupportedMechanism(mechanism.to_string()));
        };
        let scram = match chosen {
            SaslMechanism::Plain => None,
            SaslMechanism::Scram(scram) => Some(Box::new(ScramServer::new(
                scram,
                crate::scram::random_nonce(),
            ))),
        };
        self.state = State::Authenticating {
            mechanism: chosen,
            raw: version == 0,
            scram,
        };
        Ok(())
    }

    /// One SASL token (of a SaslAuthenticate, or a raw frame after a v0
    /// handshake) at `now`; `credential_of` finds a user's SCRAM
    /// credential for a mechanism.
    ///
    /// # Errors
    /// [`AuthError::Failed`] for refused credentials (the connection then
    /// closes after `connection.failed.authentication.delay.ms`);
    /// `IllegalState` for a token before the handshake.
    pub fn authenticate(
        &mut self,
        token: &[u8],
        now: Instant,
        credential_of: impl FnOnce(&str, skein_controller::ScramMechanism) -> Option<ScramCredential>,
    ) -> Result<TokenReply, AuthError> {
        let Some(sasl) = self.sasl.clone() else {
            return Err(AuthError::IllegalState(LISTENER_WITHOUT_SASL));
        };
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::Authenticating {
            mechanism,
            raw,
            scram,
        } = state
        else {
            return Err(AuthError::IllegalState(
                "SaslAuthenticate received before a SaslHandshake",
            ));
        };
        let (token, user) = match (mechanism, scram) {
            (SaslMechanism::Plain, _) => {
                let user = sasl_plain::authenticate(token, &sasl.plain_users)
                    .map_err(|error| AuthError::Failed(error.to_string()))?;
                (Vec::new(), user)
            }
            (SaslMechanism::Scram(scram_mechanism), Some(mut server)) => {
                match server.step(token, |user| credential_of(user, scram_mechanism)) {
                    Err(error) => {
                        tracing::debug!(%error, "SCRAM authentication failed");
                        return Err(AuthError::Failed(error.client_message(scram_mechanism)));
                    }
                    Ok(ScramStep::Challenge(challenge)) => {
                        self.state = State::Authenticating {
                            mechanism,
                            raw,
                            scram: Some(server),
                        };
                        return Ok(TokenReply {
                            token: challenge,
                            session_lifetime_ms: 0,
                        });
                    }
                    Ok(ScramStep::Complete { response, user }) => (response, user),
                }
            }
            (SaslMechanism::Scram(_), None) => {
                return Err(AuthError::IllegalState("SCRAM exchange without its state"));
            }
        };
        let principal = KafkaPrincipal::user(user);
        if self.authenticated_once && principal != self.principal {
            return Err(AuthError::Failed(format!(
                "Cannot change principals during re-authentication from {}: {principal}",
                self.principal
            )));
        }
        self.principal = principal;
        self.authenticated_once = true;
        self.mechanism = Some(mechanism);
        self.state = State::Authenticated;
        self.session_expires_at =
            (sasl.reauth_ms > 0).then(|| now + Duration::from_millis(sasl.reauth_ms));
        Ok(TokenReply {
            token,
            session_lifetime_ms: i64::try_from(sasl.reauth_ms).unwrap_or(i64::MAX),
        })
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use std::collections::BTreeMap;

    use skein_controller::ScramMechanism;

    use super::*;
    use crate::scram::ScramClient;

    fn sasl(reauth_ms: u64) -> Arc<ListenerSasl> {
        Arc::new(ListenerSasl {
            mechanisms: vec![
                SaslMechanism::Plain,
                SaslMechanism::Scram(ScramMechanism::Sha256),
            ],
            plain_users: BTreeMap::from([("alice".into(), "pw".into())]),
            reauth_ms,
        })
    }

    fn no_credentials(_: &str, _: ScramMechanism) -> Option<ScramCredential> {
        None
    }

    #[test]
    fn nothing_but_api_versions_and_sasl_is_served_before_authentication() {
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        let now = Instant::now();
        assert_eq!(
            auth.admit(ApiKey::ApiVersions as i16, now),
            Admission::Serve
        );
        assert_eq!(
            auth.admit(ApiKey::SaslHandshake as i16, now),
            Admission::Serve
        );
        for api in [ApiKey::Metadata, ApiKey::Produce, ApiKey::Fetch] {
            assert!(matches!(auth.admit(api as i16, now), Admission::Close(_)));
        }
        assert!(matches!(auth.admit(-7, now), Admission::Close(_)));
        assert_eq!(
            auth.frame_bytes_max(100 << 20),
            UNAUTHENTICATED_FRAME_BYTES_MAX
        );
        auth.handshake("PLAIN", 1).unwrap();
        assert!(matches!(
            auth.admit(ApiKey::Metadata as i16, now),
            Admission::Close(_)
        ));
        let reply = auth
            .authenticate(b"\0alice\0pw", now, no_credentials)
            .unwrap();
        assert_eq!(reply.token, b"");
        assert_eq!(auth.principal(), &KafkaPrincipal::user("alice"));
        assert_eq!(auth.admit(ApiKey::Metadata as i16, now), Admission::Serve);
        assert_eq!(auth.frame_bytes_max(100 << 20), 100 << 20);
    }

    #[test]
    fn a_wrong_password_fails_and_everything_after_closes() {
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        auth.handshake("PLAIN", 1).unwrap();
        let error = auth
            .authenticate(b"\0alice\0nope", Instant::now(), no_credentials)
            .unwrap_err();
        assert_eq!(
            error,
            AuthError::Failed("Authentication failed: Invalid username or password".into())
        );
        assert!(error.closes());
        assert!(matches!(
            auth.admit(ApiKey::ApiVersions as i16, Instant::now()),
            Admission::Close(_)
        ));
        assert!(auth.principal().is_anonymous());
    }

    #[test]
    fn out_of_order_and_unknown_mechanisms_are_refused() {
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        assert!(matches!(
            auth.authenticate(b"x", Instant::now(), no_credentials),
            Err(AuthError::IllegalState(_))
        ));
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        assert_eq!(
            auth.handshake("GSSAPI", 1),
            Err(AuthError::UnsupportedMechanism("GSSAPI".into()))
        );
        assert!(matches!(
            auth.handshake("SCRAM-SHA-512", 1),
            Err(AuthError::IllegalState(_))
        ));
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        auth.handshake("PLAIN", 1).unwrap();
        assert!(matches!(
            auth.handshake("PLAIN", 1),
            Err(AuthError::IllegalState(_))
        ));
        let mut plaintext = Authenticator::new(None, KafkaPrincipal::anonymous());
        let error = plaintext.handshake("PLAIN", 1).unwrap_err();
        assert!(!error.closes());
        assert_eq!(
            plaintext.admit(ApiKey::Metadata as i16, Instant::now()),
            Admission::Serve
        );
    }

    #[test]
    fn scram_over_raw_v0_tokens_authenticates() {
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "pw", vec![1; 16], 4096);
        let lookup = |user: &str, m: ScramMechanism| {
            (user == "bob" && m == ScramMechanism::Sha256).then(|| credential.clone())
        };
        let mut auth = Authenticator::new(Some(sasl(0)), KafkaPrincipal::anonymous());
        auth.handshake("SCRAM-SHA-256", 0).unwrap();
        assert!(auth.expects_raw_token());
        let mut client = ScramClient::new(ScramMechanism::Sha256, "bob", "pw", "nonce".into());
        let first = auth
            .authenticate(&client.client_first(), Instant::now(), lookup)
            .unwrap();
        let last = client.client_final(&first.token).unwrap();
        let done = auth.authenticate(&last, Instant::now(), lookup).unwrap();
        client.verify_server_final(&done.token).unwrap();
        assert!(!auth.expects_raw_token());
        assert_eq!(auth.principal(), &KafkaPrincipal::user("bob"));
    }

    #[test]
    fn an_expired_session_serves_only_a_reauthentication_of_the_same_principal() {
        let mut auth = Authenticator::new(Some(sasl(1000)), KafkaPrincipal::anonymous());
        let start = Instant::now();
        auth.handshake("PLAIN", 1).unwrap();
        let reply = auth
            .authenticate(b"\0alice\0pw", start, no_credentials)
            .unwrap();
        assert_eq!(reply.session_lifetime_ms, 1000);
        let later = start + Duration::from_millis(1500);
        assert!(matches!(
            auth.admit(ApiKey::Fetch as i16, later),
            Admission::Close(_)
        ));
        assert_eq!(
            auth.admit(ApiKey::SaslHandshake as i16, later),
            Admission::Serve
        );
        auth.handshake("PLAIN", 1).unwrap();
        // Requests keep being served while re-authenticating.
        assert_eq!(auth.admit(ApiKey::Fetch as i16, later), Admission::Serve);
        auth.authenticate(b"\0alice\0pw", later, no_credentials)
            .unwrap();
        assert_eq!(auth.admit(ApiKey::Fetch as i16, later), Admission::Serve);
        // Another mechanism, or another user, is refused.
        let mut other = Authenticator::new(Some(sasl(1000)), KafkaPrincipal::anonymous());
        other.handshake("PLAIN", 1).unwrap();
        other
            .authenticate(b"\0alice\0pw", start, no_credentials)
            .unwrap();
        assert!(matches!(
            other.handshake("SCRAM-SHA-256", 1),
            Err(AuthError::UnsupportedMechanism(_))
        ));
    }
}
