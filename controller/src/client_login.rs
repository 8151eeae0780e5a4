//! How this node logs in to another node as a client: the security
//! protocol of the listener it connects to, its SASL mechanism and
//! credentials, and the TLS settings it verifies the peer with, resolved
//! from Kafka's properties as a Kafka broker resolves its own outgoing
//! connections:
//!
//! * to other brokers (replica fetchers, WriteTxnMarkers): the protocol of
//!   the inter-broker listener, `sasl.mechanism.inter.broker.protocol`;
//! * to the controllers (the quorum, registration, AlterPartition,
//!   forwarding, metadata fetches): the protocol of the first
//!   `controller.listener.names` listener, `sasl.mechanism.controller.protocol`;
//!
//! the credentials being the `username`/`password` options of the
//! mechanism's JAAS entry on that listener
//! (`listener.name.<listener>.<mechanism>.sasl.jaas.config`), and the TLS
//! settings that listener's (`ssl.truststore.*` to verify the peer,
//! `ssl.keystore.*` presented as the client certificate when given).
//!
//! Invariant: a [`ClientLogin`] that [`ClientLogin::resolve`] returned has
//! SASL credentials exactly when its protocol is `SASL_*`, with a mechanism
//! Skein speaks (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and a non-empty user;
//! and TLS settings with a trust store exactly when it is `SSL` or
//! `SASL_SSL`. Pure: reading the key files is the caller's business.

use std::collections::BTreeMap;

use crate::jaas_config::{JaasConfig, PLAIN_LOGIN_MODULE, SCRAM_LOGIN_MODULE};
use crate::listener_sasl::SaslMechanism;
use crate::listener_security::{SslSettings, TrustSource};

/// The SASL identity of a client login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSasl {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The JAAS `username`.
    pub username: String,
    /// The JAAS `password`.
    pub password: String,
}

/// How to open a connection to one kind of peer listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLogin {
    /// The listener connected to (upper-cased).
    pub listener: String,
    /// Its security protocol: `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or
    /// `SASL_SSL`.
    pub protocol: String,
    /// The SASL identity, on a `SASL_*` listener.
    pub sasl: Option<ClientSasl>,
    /// The TLS settings, on an `SSL` or `SASL_SSL` listener: their trust
    /// store verifies the peer, their key store (if any) is the client
    /// certificate.
    pub ssl: Option<SslSettings>,
}

/// What [`ClientLogin::resolve`] reads for one kind of peer.
#[derive(Debug, Clone)]
pub struct ClientLoginSettings<'a> {
    /// The listener connected to.
    pub listener: &'a str,
    /// Its security protocol, if known.
    pub protocol: Option<&'a str>,
    /// The property naming the mechanism (for messages).
    pub mechanism_property: &'static str,
    /// Its value.
    pub mechanism: &'a str,
    /// The listener's JAAS entries by mechanism name (upper-cased).
    pub jaas_configs: BTreeMap<String, String>,
    /// The listener's TLS settings.
    pub ssl: SslSettings,
}

impl ClientLogin {
    /// A plaintext login (no TLS, no SASL): a single node's, or a peer
    /// listener that is PLAINTEXT.
    pub fn plaintext(listener: &str) -> ClientLogin {
        ClientLogin {
            listener: listener.to_string(),
            protocol: "PLAINTEXT".into(),
            sasl: None,
            ssl: None,
        }
    }

    /// Whether the connection is TLS.
    pub fn uses_tls(&self) -> bool {
        self.ssl.is_some()
    }

    /// Resolves and checks `settings`.
    ///
    /// # Errors
    /// A reason naming the property: an unknown protocol, a mechanism Skein
    /// does not speak (Kafka's default GSSAPI included), a missing JAAS
    /// entry or one without `username`/`password` or of the wrong login
    /// module, or TLS without a trust store to verify the peer with.
    pub fn resolve(settings: ClientLoginSettings<'_>) -> Result<ClientLogin, String> {
        let listener = settings.listener;
        let protocol = settings.protocol.ok_or_else(|| {
            format!("listener.security.protocol.map: listener {listener} has no security protocol")
        })?;
        let (tls, sasl) = match protocol {
            "PLAINTEXT" => (false, false),
            "SSL" => (true, false),
            "SASL_PLAINTEXT" => (false, true),
            "SASL_SSL" => (true, true),
            other => {
                return Err(format!(
                    "listener.security.protocol.map: {other} (listener {listener}) is not a security protocol"
                ))
            }
        };
        let sasl = if sasl {
            Some(resolve_sasl(&settings)?)
        } else {
            None
        };
        let ssl = if tls {
            let ssl = settings.ssl;
            ssl.versions()?;
            if ssl.trust_source()? == TrustSource::None {
                return Err(format!(
                    "ssl.truststore.location (listener {listener}): this node connects to {listener} over TLS and needs the CA certificates to verify the peer with"
                ));
            }
            // A client certificate is optional: only checked when given.
            if !(ssl.keystore_location.is_empty()
                && ssl.keystore_certificate_chain.is_empty()
                && ssl.keystore_key.is_empty())
            {
                ssl.key_source()?;
            }
            Some(ssl)
        } else {
            None
        };
        Ok(ClientLogin {
            listener: listener.to_string(),
            protocol: protocol.to_string(),
            sasl,
            ssl,
        })
    }
}

fn resolve_sasl(settings: &ClientLoginSettings<'_>) -> Result<ClientSasl, String> {
    let listener = settings.listener;
    let name = settings.mechanism;
    let property = settings.mechanism_property;
    let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
        let why = match name {
            "GSSAPI" => "GSSAPI (Kerberos, Kafka's default) is not spoken by Skein",
            "OAUTHBEARER" => "OAUTHBEARER is not spoken by Skein",
            _ => "unknown mechanism",
        };
        format!(
            "{property}: {name}: {why}; listener {listener} is SASL, so set {property} to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
        )
    })?;
    let jaas_property = format!(
        "listener.name.{}.{}.sasl.jaas.config",
        listener.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    );
    let text = settings.jaas_configs.get(name).ok_or_else(|| {
        format!(
            "{jaas_property}: not set; this node logs in to listener {listener} with {name} ({property}) using the username and password of that JAAS entry"
        )
    })?;
    let jaas = JaasConfig::parse(text).map_err(|error| format!("{jaas_property}: {error}"))?;
    let module = match mechanism {
        SaslMechanism::Plain => PLAIN_LOGIN_MODULE,
        SaslMechanism::Scram(_) => SCRAM_LOGIN_MODULE,
    };
    if jaas.login_module != module {
        return Err(format!(
            "{jaas_property}: the login module of {name} is {module}, not {}",
            jaas.login_module
        ));
    }
    let (username, password) = jaas
        .client_credentials()
        .filter(|(user, _)| !user.is_empty())
        .ok_or_else(|| {
            format!(
                "{jaas_property}: username=\"…\" password=\"…\" are needed: they are what this node logs in to listener {listener} with"
            )
        })?;
    Ok(ClientSasl {
        mechanism,
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssl(listener: &str) -> SslSettings {
        SslSettings {
            listener: listener.into(),
            keystore_type: "PEM".into(),
            keystore_location: String::new(),
            keystore_certificate_chain: String::new(),
            keystore_key: String::new(),
            key_password: String::new(),
            truststore_type: "PEM".into(),
            truststore_location: String::new(),
            truststore_certificates: String::new(),
            client_auth: "none".into(),
            enabled_protocols: "TLSv1.2,TLSv1.3".into(),
            cipher_suites: String::new(),
        }
    }

    fn settings<'a>(protocol: &'a str, mechanism: &'a str) -> ClientLoginSettings<'a> {
        ClientLoginSettings {
            listener: "INTERNAL",
            protocol: Some(protocol),
            mechanism_property: "sasl.mechanism.inter.broker.protocol",
            mechanism,
            jaas_configs: BTreeMap::new(),
            ssl: ssl("INTERNAL"),
        }
    }

    const PLAIN_JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret";"#;

    #[test]
    fn plaintext_needs_neither_tls_nor_sasl() {
        let login = ClientLogin::resolve(settings("PLAINTEXT", "GSSAPI")).unwrap();
        assert_eq!(login, ClientLogin::plaintext("INTERNAL"));
    }

    #[test]
    fn the_gssapi_default_is_refused_naming_the_property() {
        let error = ClientLogin::resolve(settings("SASL_PLAINTEXT", "GSSAPI")).unwrap_err();
        assert!(
            error.starts_with("sasl.mechanism.inter.broker.protocol: GSSAPI"),
            "{error}"
        );
    }

    #[test]
    fn plain_takes_the_username_and_password_of_the_listener_jaas_entry() {
        let mut s = settings("SASL_PLAINTEXT", "PLAIN");
        s.jaas_configs.insert("PLAIN".into(), PLAIN_JAAS.into());
        let login = ClientLogin::resolve(s).unwrap();
        assert_eq!(
            login.sasl,
            Some(ClientSasl {
                mechanism: SaslMechanism::Plain,
                username: "broker".into(),
                password: "broker-secret".into(),
            })
        );
        assert!(!login.uses_tls());
    }

    #[test]
    fn a_jaas_entry_without_username_or_of_another_module_is_refused() {
        let mut s = settings("SASL_PLAINTEXT", "PLAIN");
        s.jaas_configs.insert(
            "PLAIN".into(),
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";"#
                .into(),
        );
        let error = ClientLogin::resolve(s).unwrap_err();
        assert!(error.contains("username"), "{error}");
        let mut s = settings("SASL_PLAINTEXT", "SCRAM-SHA-256");
        s.jaas_configs
            .insert("SCRAM-SHA-256".into(), PLAIN_JAAS.into());
        let error = ClientLogin::resolve(s).unwrap_err();
        assert!(error.contains("ScramLoginModule"), "{error}");
        let error = ClientLogin::resolve(settings("SASL_SSL", "SCRAM-SHA-512")).unwrap_err();
        assert!(
            error.starts_with("listener.name.internal.scram-sha-512.sasl.jaas.config: not set"),
            "{error}"
        );
    }

    #[test]
    fn tls_needs_a_trust_store_and_takes_the_keystore_as_client_certificate() {
        let error = ClientLogin::resolve(settings("SSL", "GSSAPI")).unwrap_err();
        assert!(error.starts_with("ssl.truststore.location"), "{error}");
        let mut s = settings("SSL", "GSSAPI");
        s.ssl.truststore_location = "/ca.pem".into();
        let login = ClientLogin::resolve(s).unwrap();
        assert!(login.uses_tls());
        assert!(login.sasl.is_none());
    }
}
