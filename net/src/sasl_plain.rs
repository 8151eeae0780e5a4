//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer` checks it: one token
//! `authzid NUL authcid NUL passwd`, the user and password checked against
//! the listener's JAAS users (`user_<name>="<password>"`), the password
//! compared in constant time. The messages of failures are Kafka's.

use std::collections::BTreeMap;

/// Why a PLAIN token was refused; the `Display` is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainError {
    /// Not three NUL-separated fields.
    #[error("Invalid SASL/PLAIN response: expected 3 tokens, got {0}")]
    Tokens(usize),
    /// Not UTF-8.
    #[error("Invalid SASL/PLAIN response: not UTF-8")]
    NotUtf8,
    /// An empty user name.
    #[error("Authentication failed: username not specified")]
    NoUser,
    /// An empty password.
    #[error("Authentication failed: password not specified")]
    NoPassword,
    /// An authorization id other than the user.
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthorizationId,
    /// Unknown user or wrong password (indistinguishable to the client).
    #[error("Authentication failed: Invalid username or password")]
    InvalidCredentials,
}

/// Checks one PLAIN token against `users` (name → password); the
/// authenticated user's name.
///
/// # Errors
/// [`PlainError`], with Kafka's message.
pub fn authenticate(token: &[u8], users: &BTreeMap<String, String>) -> Result<String, PlainError> {
    let text = std::str::from_utf8(token).map_err(|_| PlainError::NotUtf8)?;
    let fields: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = fields.as_slice() else {
        return Err(PlainError::Tokens(fields.len()));
    };
    if user.is_empty() {
        return Err(PlainError::NoUser);
    }
    if password.is_empty() {
        return Err(PlainError::NoPassword);
    }
    if !authzid.is_empty() && authzid != user {
        return Err(PlainError::AuthorizationId);
    }
    let expected = users.get(*user).ok_or(PlainError::InvalidCredentials)?;
    let equal = expected.len() == password.len()
        && expected
            .bytes()
            .zip(password.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !equal {
        return Err(PlainError::InvalidCredentials);
    }
    Ok((*user).to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn users() -> BTreeMap<String, String> {
        BTreeMap::from([("alice".to_string(), "alice-secret".to_string())])
    }

    #[test]
    fn the_right_password_authenticates_the_user() {
        assert_eq!(
            authenticate(b"\0alice\0alice-secret", &users()).unwrap(),
            "alice"
        );
        assert_eq!(
            authenticate(b"alice\0alice\0alice-secret", &users()).unwrap(),
            "alice"
        );
    }

    #[test]
    fn bad_tokens_get_kafkas_errors() {
        for (token, error) in [
            (&b"\0alice\0wrong"[..], PlainError::InvalidCredentials),
            (b"\0bob\0alice-secret", PlainError::InvalidCredentials),
            (b"\0alice\0alice-secret\0", PlainError::Tokens(4)),
            (b"garbage", PlainError::Tokens(1)),
            (b"", PlainError::Tokens(1)),
            (b"\0\0pw", PlainError::NoUser),
            (b"\0alice\0", PlainError::NoPassword),
            (b"bob\0alice\0alice-secret", PlainError::AuthorizationId),
            (b"\0\xff\0x", PlainError::NotUtf8),
        ] {
            assert_eq!(authenticate(token, &users()), Err(error), "{token:?}");
        }
        assert_eq!(
            PlainError::InvalidCredentials.to_string(),
            "Authentication failed: Invalid username or password"
        );
    }
}
