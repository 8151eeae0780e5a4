//! SASL login of a client connection, right after ApiVersions: a
//! SaslHandshake naming the mechanism, then SaslAuthenticate round trips
//! (KIP-152 framing) — one for PLAIN, two for SCRAM-SHA-256/512 (whose
//! messages and proofs are `skein_net::scram`'s, the broker's own code).
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use skein_controller::ScramMechanism;
use skein_net::scram::ScramClient;

use super::{ClientError, Connection};

/// Kafka's SASL_AUTHENTICATION_FAILED, reported for a server signature
/// that does not verify.
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// Who a client logs in as, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslLogin {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

fn refused(api: ApiKey, code: i16, message: Option<String>) -> ClientError {
    ClientError::Kafka {
        api,
        code,
        context: None,
        message,
    }
}

impl Connection {
    /// Logs in with `login` on a freshly negotiated connection.
    ///
    /// # Errors
    /// The broker's SaslHandshake or SaslAuthenticate error (e.g.
    /// SASL_AUTHENTICATION_FAILED with its message), or a mechanism this
    /// client does not speak (UNSUPPORTED_SASL_MECHANISM, 33).
    pub fn authenticate(&mut self, login: &SaslLogin) -> Result<(), ClientError> {
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_string(login.mechanism.clone()));
        let response = self.call(&handshake)?;
        if response.error_code != 0 {
            let enabled: Vec<String> = response.mechanisms.iter().map(|m| m.to_string()).collect();
            return Err(refused(
                ApiKey::SaslHandshake,
                response.error_code,
                Some(format!("the listener enables {}", enabled.join(", "))),
            ));
        }
        let mut exchange = |token: Vec<u8>| -> Result<Vec<u8>, ClientError> {
            let response =
                self.call(&SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)))?;
            if response.error_code != 0 {
                return Err(refused(
                    ApiKey::SaslAuthenticate,
                    response.error_code,
                    response.error_message.map(|m| m.to_string()),
                ));
            }
            Ok(response.auth_bytes.to_vec())
        };
        if login.mechanism == "PLAIN" {
            let token = format!("\0{}\0{}", login.username, login.password);
            exchange(token.into_bytes())?;
            return Ok(());
        }
        let mechanism = ScramMechanism::from_mechanism_name(&login.mechanism).ok_or_else(|| {
            refused(
                ApiKey::SaslHandshake,
                33,
                Some(format!(
                    "{} is not a mechanism this client speaks",
                    login.mechanism
                )),
            )
        })?;
        let nonce: String = (0..24)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let mut client = ScramClient::new(mechanism, &login.username, &login.password, nonce);
        let scram_failed = |error: skein_net::scram::ScramError| {
            refused(
                ApiKey::SaslAuthenticate,
                SASL_AUTHENTICATION_FAILED,
                Some(error.to_string()),
            )
        };
        let server_first = exchange(client.client_first())?;
        let client_final = client.client_final(&server_first).map_err(scram_failed)?;
        let server_final = exchange(client_final)?;
        client
            .verify_server_final(&server_final)
            .map_err(scram_failed)
    }
}
