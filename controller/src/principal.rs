//! The authenticated identity of a connection: Kafka's `KafkaPrincipal`,
//! a type (`User`) and a name. Every connection has one from its first
//! request on: `User:ANONYMOUS` on a PLAINTEXT listener or an SSL listener
//! without a client certificate, the SASL user once SASL authentication
//! succeeded, the mapped certificate subject with mutual TLS. ACLs match it.

use std::fmt;

/// Kafka's principal type of users (`KafkaPrincipal.USER_TYPE`).
pub const USER_TYPE: &str = "User";

/// Kafka's name of the unauthenticated principal.
pub const ANONYMOUS_NAME: &str = "ANONYMOUS";

/// A principal: `principal_type:name`, e.g. `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KafkaPrincipal {
    /// The principal type: `User` for every principal Skein authenticates.
    pub principal_type: String,
    /// The name within the type (a SASL user name, a mapped certificate
    /// subject, or `ANONYMOUS`).
    pub name: String,
}

impl KafkaPrincipal {
    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> KafkaPrincipal {
        KafkaPrincipal {
            principal_type: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// `User:ANONYMOUS`, the principal of an unauthenticated connection.
    pub fn anonymous() -> KafkaPrincipal {
        KafkaPrincipal::user(ANONYMOUS_NAME)
    }

    /// Whether this is `User:ANONYMOUS`.
    pub fn is_anonymous(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == ANONYMOUS_NAME
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_as_kafka_does() {
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
        assert_eq!(KafkaPrincipal::user("alice").to_string(), "User:alice");
        assert!(KafkaPrincipal::anonymous().is_anonymous());
        assert!(!KafkaPrincipal::user("alice").is_anonymous());
    }
}
