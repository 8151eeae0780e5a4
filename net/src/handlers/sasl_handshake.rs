//! SaslHandshake: the client names its SASL mechanism; the answer lists the
//! listener's enabled mechanisms either way. See [`crate::authenticator`]
//! for the state it moves.

use std::cell::RefCell;

use kafka_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use kafka_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;

use super::str_bytes;
use crate::authenticator::{AuthError, Authenticator};
use crate::error_code::auth_error;

/// Answers a SaslHandshake of `version`; the refusal, if any, tells the
/// caller whether to close the connection.
pub fn handle(
    auth: &RefCell<Authenticator>,
    request: &SaslHandshakeRequest,
    version: i16,
) -> (SaslHandshakeResponse, Option<AuthError>) {
    let mut auth = auth.borrow_mut();
    let outcome = auth.handshake(request.mechanism.as_str(), version);
    let mechanisms = auth
        .enabled_mechanisms()
        .into_iter()
        .map(str_bytes)
        .collect();
    let response = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
    match outcome {
        Ok(()) => (response, None),
        Err(error) => (
            response.with_error_code(auth_error(&error).code()),
            Some(error),
        ),
    }
}
