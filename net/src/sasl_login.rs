//! The client side of a SASL login, without IO: which SaslHandshake and
//! SaslAuthenticate requests to send and what each answer means, for PLAIN
//! (one round) and SCRAM (two rounds, the server's proof checked). The
//! broker's own connections (`client_security.rs`, async) and the CLI's
//! (`tool_client_security.rs`, blocking) drive the same exchange:
//!
//! ```text
//! send handshake_request(); token = on_handshake(answer)?
//! loop { send token; match on_authenticate(answer)? { Some(next) => token = next, None => done } }
//! ```

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::SaslMechanism;

use crate::scram::{ScramClient, ScramError};

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The peer answered with a Kafka error code (UNSUPPORTED_SASL_MECHANISM,
    /// SASL_AUTHENTICATION_FAILED, …).
    #[error("{api:?} refused with error code {error_code}: {message}")]
    Refused {
        /// SaslHandshake or SaslAuthenticate.
        api: ApiKey,
        /// Kafka's error code.
        error_code: i16,
        /// The peer's message (for a refused handshake, the mechanisms it
        /// enables), empty if it sent none.
        message: String,
    },
    /// A SCRAM message from the peer does not parse, or its proof does not
    /// show that it knows the credential.
    #[error(transparent)]
    Scram(#[from] ScramError),
    /// An answer came after the exchange ended.
    #[error("a SaslAuthenticate answer after the login completed")]
    AfterCompletion,
}

/// Where the exchange stands.
enum Stage {
    /// The handshake's answer is next.
    Handshake,
    /// PLAIN's one round.
    PlainToken,
    /// SCRAM's server-first message is next.
    ScramFirst(ScramClient),
    /// SCRAM's server-final message is next.
    ScramFinal(ScramClient),
    /// Logged in.
    Done,
}

/// One login's exchange.
pub struct LoginExchange {
    mechanism: SaslMechanism,
    username: String,
    password: String,
    nonce: String,
    stage: Stage,
}

impl LoginExchange {
    /// A login as `username` with `mechanism`; `nonce` is SCRAM's client
    /// nonce (a fresh random one per login: [`crate::scram::random_nonce`]).
    pub fn new(
        mechanism: SaslMechanism,
        username: &str,
        password: &str,
        nonce: String,
    ) -> LoginExchange {
        LoginExchange {
            mechanism,
            username: username.to_owned(),
            password: password.to_owned(),
            nonce,
            stage: Stage::Handshake,
        }
    }

    /// The SaslHandshake request that starts the login.
    pub fn handshake_request(&self) -> SaslHandshakeRequest {
        SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(self.mechanism.name()))
    }

    /// The handshake's answer; `Ok` carries the first SaslAuthenticate
    /// request.
    ///
    /// # Errors
    /// `Refused` when the peer does not enable the mechanism.
    pub fn on_handshake(
        &mut self,
        response: &SaslHandshakeResponse,
    ) -> Result<SaslAuthenticateRequest, LoginError> {
        if response.error_code != 0 {
            let enabled: Vec<&str> = response.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(LoginError::Refused {
                api: ApiKey::SaslHandshake,
                error_code: response.error_code,
                message: format!("the peer enables {}", enabled.join(", ")),
            });
        }
        let token = match self.mechanism {
            SaslMechanism::Plain => {
                self.stage = Stage::PlainToken;
                plain_token(&self.username, &self.password)
            }
            SaslMechanism::Scram(scram) => {
                let nonce = std::mem::take(&mut self.nonce);
                let client = ScramClient::new(scram, &self.username, &self.password, nonce);
                let first = client.client_first();
                self.stage = Stage::ScramFirst(client);
                first
            }
        };
        Ok(authenticate_request(token))
    }

    /// A SaslAuthenticate answer: `Some` next request, or `None` once
    /// logged in.
    ///
    /// # Errors
    /// `Refused` for an answer with an error code; `Scram` for a SCRAM
    /// message that does not parse or prove the server;
    /// `AfterCompletion` for an answer past the end.
    pub fn on_authenticate(
        &mut self,
        response: &SaslAuthenticateResponse,
    ) -> Result<Option<SaslAuthenticateRequest>, LoginError> {
        if response.error_code != 0 {
            return Err(LoginError::Refused {
                api: ApiKey::SaslAuthenticate,
                error_code: response.error_code,
                message: response
                    .error_message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            });
        }
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::PlainToken => Ok(None),
            Stage::ScramFirst(mut client) => {
                let client_final = client.client_final(&response.auth_bytes)?;
                self.stage = Stage::ScramFinal(client);
                Ok(Some(authenticate_request(client_final)))
            }
            Stage::ScramFinal(client) => {
                client.verify_server_final(&response.auth_bytes)?;
                Ok(None)
            }
            Stage::Handshake | Stage::Done => Err(LoginError::AfterCompletion),
        }
    }
}

fn authenticate_request(token: Vec<u8>) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token))
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_token_is_empty_authzid_user_password() {
        assert_eq!(plain_token("alice", "s3cret"), b"\0alice\0s3cret".to_vec());
    }

    #[test]
    fn plain_logs_in_after_one_round() {
        let mut login = LoginExchange::new(SaslMechanism::Plain, "alice", "pw", String::new());
        assert_eq!(login.handshake_request().mechanism.as_str(), "PLAIN");
        let request = login
            .on_handshake(&SaslHandshakeResponse::default())
            .unwrap();
        assert_eq!(&request.auth_bytes[..], b"\0alice\0pw");
        assert!(login
            .on_authenticate(&SaslAuthenticateResponse::default())
            .unwrap()
            .is_none());
        assert!(matches!(
            login.on_authenticate(&SaslAuthenticateResponse::default()),
            Err(LoginError::AfterCompletion)
        ));
    }

    #[test]
    fn a_refused_handshake_names_the_peers_mechanisms() {
        let mut login = LoginExchange::new(SaslMechanism::Plain, "alice", "pw", String::new());
        let response = SaslHandshakeResponse::default()
            .with_error_code(33)
            .with_mechanisms(vec![StrBytes::from_static_str("SCRAM-SHA-256")]);
        match login.on_handshake(&response) {
            Err(LoginError::Refused {
                api: ApiKey::SaslHandshake,
                error_code: 33,
                message,
            }) => assert_eq!(message, "the peer enables SCRAM-SHA-256"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_refused_authentication_carries_the_peers_code_and_message() {
        let mut login = LoginExchange::new(SaslMechanism::Plain, "alice", "pw", String::new());
        login
            .on_handshake(&SaslHandshakeResponse::default())
            .unwrap();
        let response = SaslAuthenticateResponse::default()
            .with_error_code(58)
            .with_error_message(Some(StrBytes::from_static_str("bad password")));
        match login.on_authenticate(&response) {
            Err(LoginError::Refused {
                api: ApiKey::SaslAuthenticate,
                error_code: 58,
                message,
            }) => assert_eq!(message, "bad password"),
            other => panic!("{other:?}"),
        }
    }
}
