//! SaslAuthenticate: one SASL token of the client's mechanism, answered with
//! the server's token, and with the session lifetime once authenticated
//! (v1 and later, KIP-368). Also the raw tokens that follow a v0
//! SaslHandshake. See [`crate::authenticator`].

use std::cell::RefCell;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use kafka_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;

use super::message;
use crate::authenticator::{AuthError, Authenticator, TokenReply};
use crate::error_code::auth_error;
use crate::shard_state::ShardState;

/// Checks `token` with the connection's authenticator, looking SCRAM
/// credentials up in the shard's metadata image; refused credentials count
/// in `listener`'s failed authentications.
///
/// # Errors
/// See [`Authenticator::authenticate`].
pub fn token(
    ctx: &ShardState,
    auth: &RefCell<Authenticator>,
    listener: &str,
    token: &[u8],
) -> Result<TokenReply, AuthError> {
    let image = ctx.image();
    let result = auth
        .borrow_mut()
        .authenticate(token, Instant::now(), |user, mechanism| {
            image.scram_credential(user, mechanism).cloned()
        });
    match &result {
        Ok(_) => {}
        Err(error) => {
            tracing::info!(%error, listener, "SASL authentication failed");
            if matches!(error, AuthError::Failed(_)) {
                ctx.metrics.failed_authentication(listener);
            }
        }
    }
    result
}

/// Answers a SaslAuthenticate; the refusal, if any, closes the connection.
pub fn handle(
    ctx: &ShardState,
    auth: &RefCell<Authenticator>,
    listener: &str,
    request: &SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, Option<AuthError>) {
    match token(ctx, auth, listener, &request.auth_bytes) {
        Ok(reply) => (
            SaslAuthenticateResponse::default()
                .with_error_message(None)
                .with_auth_bytes(Bytes::from(reply.token))
                .with_session_lifetime_ms(reply.session_lifetime_ms),
            None,
        ),
        Err(error) => (
            SaslAuthenticateResponse::default()
                .with_error_code(auth_error(&error).code())
                .with_error_message(message(&error)),
            Some(error),
        ),
    }
}
