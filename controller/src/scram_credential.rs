//! SCRAM credentials (RFC 5802, with SHA-256 and SHA-512 as RFC 7677 and
//! Kafka's KIP-84): what the metadata log stores for a user — the salt, the
//! iteration count, `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
//! `ServerKey = HMAC(SaltedPassword, "Server Key")` — never the password
//! nor the salted password. The formulas are here, once, for the broker
//! (which checks a client's proof against a stored credential), the
//! controller (which derives a credential from the salted password an
//! AlterUserScramCredentials carries) and the admin CLI (which salts).
//!
//! Crypto is `ring`'s (already the TLS provider): HMAC, SHA-2, PBKDF2.

use std::num::NonZeroU32;

use ring::{digest, hmac, pbkdf2};

/// Kafka's fewest iterations of a SCRAM credential.
pub const SCRAM_ITERATIONS_MIN: i32 = 4096;

/// Kafka's most iterations of a SCRAM credential.
pub const SCRAM_ITERATIONS_MAX: i32 = 16384;

/// The most bytes of a stored salt or key: far above a real one (a salt is
/// typically 16-64 bytes, a SHA-512 key 64), it bounds what a record may
/// claim.
pub const SCRAM_BYTES_MAX: usize = 1024;

/// A SCRAM mechanism, with Kafka's wire type of AlterUserScramCredentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256` (type 1).
    Sha256,
    /// `SCRAM-SHA-512` (type 2).
    Sha512,
}

impl ScramMechanism {
    /// Both mechanisms.
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    /// The SASL mechanism name.
    pub fn mechanism_name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of a SASL mechanism name (exact, as Kafka compares).
    pub fn from_mechanism_name(name: &str) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.mechanism_name() == name)
    }

    /// Kafka's `ScramMechanism` type byte (1 or 2).
    pub fn type_code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a type byte; `None` for 0 (Kafka's UNKNOWN) or any
    /// other.
    pub fn from_type_code(code: i8) -> Option<ScramMechanism> {
        ScramMechanism::ALL
            .into_iter()
            .find(|m| m.type_code() == code)
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    /// The hash's output length in bytes (32 or 64).
    pub fn key_len(self) -> usize {
        self.digest_algorithm().output_len()
    }

    /// `HMAC(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_algorithm(), key);
        hmac::sign(&key, data).as_ref().to_vec()
    }

    /// `H(data)`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_algorithm(), data)
            .as_ref()
            .to_vec()
    }

    /// `SaltedPassword = Hi(Normalize(password), salt, i)`: PBKDF2 with this
    /// HMAC. The password is used as given (Kafka does not SASLprep
    /// either). `iterations` below 1 count as 1.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: i32) -> Vec<u8> {
        let algorithm = match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        };
        let iterations = u32::try_from(iterations)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        let mut out = vec![0u8; self.key_len()];
        pbkdf2::derive(algorithm, iterations, salt, password, &mut out);
        out
    }
}

/// A user's stored credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The salt (random, chosen by whoever created the credential).
    pub salt: Vec<u8>,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential of `salted_password` (what AlterUserScramCredentials
    /// carries).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }

    /// The credential of a password, salted here.
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: i32,
    ) -> ScramCredential {
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        ScramCredential::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_sha256_test_vector_gives_its_keys() {
        // RFC 7677 §3: user "user", password "pencil", salt
        // W22ZaJ0SNY7soEsUEjb6gQ== (base64), 4096 iterations. The server
        // signature of its exchange is checked in net's SCRAM tests; here
        // the salted password reproduces that exchange's ClientProof.
        let salt = [
            0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36,
            0xfa, 0x81,
        ];
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt.to_vec(), 4096);
        assert_eq!(credential.stored_key.len(), 32);
        assert_eq!(credential.server_key.len(), 32);
        assert_eq!(credential.iterations, 4096);
    }

    #[test]
    fn mechanisms_round_trip_their_names_and_type_codes() {
        for m in ScramMechanism::ALL {
            assert_eq!(
                ScramMechanism::from_mechanism_name(m.mechanism_name()),
                Some(m)
            );
            assert_eq!(ScramMechanism::from_type_code(m.type_code()), Some(m));
        }
        assert_eq!(ScramMechanism::from_type_code(0), None);
        assert_eq!(ScramMechanism::from_mechanism_name("scram-sha-256"), None);
        assert_eq!(ScramMechanism::Sha512.key_len(), 64);
    }
}
