//! The security of the admin tools' connections (`skein topic|acl|user|…`,
//! `skein bench`): Kafka's client security properties turned into a
//! [`ClientSecurity`], and [`connect`], which opens a blocking TCP
//! connection, runs the TLS handshake (rustls) and the SASL login, and hands
//! back a [`ClientStream`] ready for Kafka requests. (A broker's own
//! connections to its peers are async, on a shard, and configured from the
//! broker's properties: they are not made here.)
//!
//! Properties, with both the Java client's and librdkafka's names:
//!
//! | property | meaning |
//! |---|---|
//! | `security.protocol` | `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT`, `SASL_SSL` (any case) |
//! | `sasl.mechanism` / `sasl.mechanisms` | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` |
//! | `sasl.username`, `sasl.password` | the login (librdkafka) |
//! | `sasl.jaas.config` | the login in JAAS syntax, `username="…" password="…"` (Java) |
//! | `ssl.ca.location` / `ssl.truststore.location` | PEM CA certificates to trust (default: the system bundle) |
//! | `ssl.certificate.location`, `ssl.key.location` | PEM client certificate (chain) and key, for mutual TLS |
//! | `ssl.keystore.location` | PEM key and chain in one file (Java's `ssl.keystore.type=PEM`) |
//! | `ssl.endpoint.identification.algorithm` | `https` (default: the certificate must name the host) or empty / `none` |
//!
//! The login is SaslHandshake v1 then SaslAuthenticate v1 round trips
//! (KIP-152 framing): one for PLAIN, two for SCRAM, as
//! [`crate::sasl_login::LoginExchange`] (shared with the broker's own
//! connections) asks them; the connection is `tool_client_stream.rs`. It runs
//! before any other request (Kafka's brokers, and Skein's, allow that), so
//! the caller negotiates versions on an authenticated stream.
//!
//! A [`ClientStream`] can be cloned so one thread writes requests while
//! another reads responses; over TLS both halves share the rustls session
//! behind a lock that is never held while waiting for the peer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use skein_controller::SaslMechanism;

use crate::scram::ScramError;
pub use crate::tool_client_stream::{connect, ClientStream};

/// Where Linux distributions keep the system's CA bundle, tried in order
/// when no trust store is given (as Go's crypto/x509 does).
const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Kafka's `security.protocol`: whether the connection is TLS and whether
/// it logs in with SASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Neither.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Kafka's name, in any case.
    pub fn from_name(name: &str) -> Option<SecurityProtocol> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Whether the connection runs TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether the connection logs in with SASL.
    pub fn is_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// Who a client logs in as with SASL, and how.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslLogin {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.mechanism.name())
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How to secure a client connection: the protocol, the SASL login and the
/// TLS client configuration. Cheap to clone.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    protocol: SecurityProtocol,
    sasl: Option<SaslLogin>,
    tls: Option<Arc<ClientConfig>>,
    ignored: Vec<String>,
}

impl std::fmt::Debug for ClientSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecurity")
            .field("protocol", &self.protocol)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Why a client's security settings or its secured connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientSecurityError {
    /// A property is missing, unknown in value, or contradicts another.
    #[error("{property}: {reason}")]
    Property {
        /// The property.
        property: String,
        /// What is wrong.
        reason: String,
    },
    /// A file a property names cannot be read.
    #[error("{property}: cannot read {path:?}")]
    Read {
        /// The property.
        property: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused the TLS configuration (a key that does not match
    /// its certificate).
    #[error("TLS client configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// No address of the broker accepted the TCP connection.
    #[error("connect to {address}")]
    Connect {
        /// `host:port` that was dialled.
        address: String,
        /// The last socket error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (an untrusted certificate, a certificate
    /// for another host, a plaintext listener).
    #[error("TLS handshake with {address}")]
    Handshake {
        /// `host:port` of the broker.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A read or write failed during the SASL login.
    #[error("I/O with {address} during the SASL login")]
    Io {
        /// `host:port` of the broker.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker answered the login with a Kafka error code
    /// (SASL_AUTHENTICATION_FAILED, UNSUPPORTED_SASL_MECHANISM, …).
    #[error("{api:?} failed: {} ({code}){}", crate::error_code::error_code_name(*code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Refused {
        /// SaslHandshake or SaslAuthenticate.
        api: ApiKey,
        /// The Kafka error code.
        code: i16,
        /// The broker's message, if any.
        message: Option<String>,
    },
    /// A SCRAM message from the broker does not parse, or its signature
    /// does not prove it knows the credential.
    #[error("SCRAM login with {address}")]
    Scram {
        /// `host:port` of the broker.
        address: String,
        /// Why.
        #[source]
        source: ScramError,
    },
    /// A response to the login does not decode.
    #[error("SASL login with {address}: {reason}")]
    Protocol {
        /// `host:port` of the broker.
        address: String,
        /// What is wrong.
        reason: String,
    },
}

fn property_error(property: &str, reason: impl Into<String>) -> ClientSecurityError {
    ClientSecurityError::Property {
        property: property.to_owned(),
        reason: reason.into(),
    }
}

impl ClientSecurity {
    /// PLAINTEXT: no TLS, no login.
    pub fn plaintext() -> ClientSecurity {
        ClientSecurity::default()
    }

    /// Builds the settings from Kafka client properties (see the module
    /// doc), reading the certificate files they name. A property given
    /// twice takes its last value. Properties that do not concern security
    /// are kept in [`ignored_properties`](Self::ignored_properties).
    ///
    /// # Errors
    /// [`ClientSecurityError::Property`] for a missing or contradictory
    /// setting, [`ClientSecurityError::Read`] for an unreadable file,
    /// [`ClientSecurityError::Tls`] for a key rustls refuses.
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ClientSecurity, ClientSecurityError> {
        let mut known: BTreeMap<&'static str, String> = BTreeMap::new();
        let mut ignored = Vec::new();
        for (name, value) in properties {
            let name = name.trim();
            let value = value.trim().to_owned();
            let canonical = match name {
                "security.protocol" => "security.protocol",
                "sasl.mechanism" | "sasl.mechanisms" => "sasl.mechanism",
                "sasl.username" => "sasl.username",
                "sasl.password" => "sasl.password",
                "sasl.jaas.config" => "sasl.jaas.config",
                "ssl.ca.location" | "ssl.truststore.location" => "ssl.ca.location",
                "ssl.truststore.type" => "ssl.truststore.type",
                "ssl.certificate.location" => "ssl.certificate.location",
                "ssl.key.location" => "ssl.key.location",
                "ssl.keystore.location" => "ssl.keystore.location",
                "ssl.keystore.type" => "ssl.keystore.type",
                "ssl.key.password" => "ssl.key.password",
                "ssl.endpoint.identification.algorithm" => "ssl.endpoint.identification.algorithm",
                // Passwords of JKS/PKCS12 stores: meaningless for PEM files.
                "ssl.truststore.password" | "ssl.keystore.password" => continue,
                other => {
                    ignored.push(other.to_owned());
                    continue;
                }
            };
            known.insert(canonical, value);
        }
        let protocol = match known.get("security.protocol") {
            None => SecurityProtocol::Plaintext,
            Some(name) => SecurityProtocol::from_name(name).ok_or_else(|| {
                property_error(
                    "security.protocol",
                    format!("{name} is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
                )
            })?,
        };
        let sasl = if protocol.is_sasl() {
            Some(sasl_login(&known)?)
        } else {
            None
        };
        let tls = if protocol.is_tls() {
            Some(Arc::new(tls_config(&known)?))
        } else {
            None
        };
        Ok(ClientSecurity {
            protocol,
            sasl,
            tls,
            ignored,
        })
    }

    /// The security protocol.
    pub fn protocol(&self) -> SecurityProtocol {
        self.protocol
    }

    /// The SASL login (SASL_PLAINTEXT and SASL_SSL only).
    pub fn sasl(&self) -> Option<&SaslLogin> {
        self.sasl.as_ref()
    }

    /// The TLS client configuration (SSL and SASL_SSL only).
    pub(crate) fn tls(&self) -> Option<&Arc<ClientConfig>> {
        self.tls.as_ref()
    }

    /// The names of the properties given that do not concern security.
    pub fn ignored_properties(&self) -> &[String] {
        &self.ignored
    }
}

/// The SASL login of the properties.
fn sasl_login(known: &BTreeMap<&'static str, String>) -> Result<SaslLogin, ClientSecurityError> {
    let name = known.get("sasl.mechanism").ok_or_else(|| {
        property_error(
            "sasl.mechanism",
            "must be set for a SASL protocol (Kafka's default GSSAPI is not spoken): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
        )
    })?;
    let mechanism = SaslMechanism::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
        property_error(
            "sasl.mechanism",
            format!("{name} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        )
    })?;
    let jaas = known.get("sasl.jaas.config");
    let jaas_option = |option: &str| jaas.and_then(|text| jaas_value(text, option));
    let username = known
        .get("sasl.username")
        .cloned()
        .or_else(|| jaas_option("username"))
        .ok_or_else(|| {
            property_error(
                "sasl.username",
                "must be set for a SASL protocol (or sasl.jaas.config with username=\"…\")",
            )
        })?;
    let password = known
        .get("sasl.password")
        .cloned()
        .or_else(|| jaas_option("password"))
        .ok_or_else(|| {
            property_error(
                "sasl.password",
                "must be set for a SASL protocol (or sasl.jaas.config with password=\"…\")",
            )
        })?;
    Ok(SaslLogin {
        mechanism,
        username,
        password,
    })
}

/// The value of `option="…"` in a JAAS configuration line
/// (`org.apache.kafka.common.security.scram.ScramLoginModule required
/// username="alice" password="secret";`), with `\"` and `\\` unescaped.
fn jaas_value(text: &str, option: &str) -> Option<String> {
    let mut rest = text;
    loop {
        let at = rest.find(option)?;
        let before_ok = rest
            .get(..at)
            .and_then(|before| before.chars().last())
            .is_none_or(char::is_whitespace);
        let after = rest.get(at + option.len()..)?.trim_start();
        rest = rest.get(at + option.len()..)?;
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        if !before_ok {
            continue;
        }
        let value = value.trim_start().strip_prefix('"')?;
        let mut unescaped = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(unescaped),
                '\\' => unescaped.push(chars.next()?),
                c => unescaped.push(c),
            }
        }
        return None;
    }
}

/// The rustls client configuration of the properties.
fn tls_config(known: &BTreeMap<&'static str, String>) -> Result<ClientConfig, ClientSecurityError> {
    for property in ["ssl.truststore.type", "ssl.keystore.type"] {
        if let Some(kind) = known.get(property) {
            if !kind.eq_ignore_ascii_case("PEM") {
                return Err(property_error(
                    property,
                    format!("{kind} stores are not read; use PEM files"),
                ));
            }
        }
    }
    if known.get("ssl.key.password").is_some_and(|p| !p.is_empty()) {
        return Err(property_error(
            "ssl.key.password",
            "encrypted private keys are not read; give an unencrypted PEM key",
        ));
    }
    let verify_hostname = match known
        .get("ssl.endpoint.identification.algorithm")
        .map(|value| value.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("https") => true,
        Some("" | "none") => false,
        Some(other) => {
            return Err(property_error(
                "ssl.endpoint.identification.algorithm",
                format!("{other} is not https, none or empty"),
            ))
        }
    };
    let roots = trust_store(known.get("ssl.ca.location").map(Path::new))?;
    // The ring provider, as the broker's listeners use (see tls.rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(ClientSecurityError::Tls)?;
    let builder = if verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|error| property_error("ssl.ca.location", error.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostVerifier(verifier)))
    };
    let client_certificate = match (
        known.get("ssl.certificate.location"),
        known.get("ssl.key.location"),
        known.get("ssl.keystore.location"),
    ) {
        (Some(certificate), Some(key), _) => Some((
            certificates("ssl.certificate.location", Path::new(certificate))?,
            private_key("ssl.key.location", Path::new(key))?,
        )),
        (Some(_), None, _) => {
            return Err(property_error(
                "ssl.key.location",
                "must be set with ssl.certificate.location",
            ))
        }
        (None, Some(_), _) => {
            return Err(property_error(
                "ssl.certificate.location",
                "must be set with ssl.key.location",
            ))
        }
        (None, None, Some(keystore)) => Some((
            certificates("ssl.keystore.location", Path::new(keystore))?,
            private_key("ssl.keystore.location", Path::new(keystore))?,
        )),
        (None, None, None) => None,
    };
    match client_certificate {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(ClientSecurityError::Tls),
        None => Ok(builder.with_no_client_auth()),
    }
}

fn read_file(property: &str, path: &Path) -> Result<Vec<u8>, ClientSecurityError> {
    std::fs::read(path).map_err(|source| ClientSecurityError::Read {
        property: property.to_owned(),
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(
    property: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ClientSecurityError> {
    let pem = read_file(property, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| property_error(property, format!("{}: {error}", path.display())))?;
    if chain.is_empty() {
        return Err(property_error(
            property,
            format!("{}: no CERTIFICATE", path.display()),
        ));
    }
    Ok(chain)
}

fn private_key(property: &str, path: &Path) -> Result<PrivateKeyDer<'static>, ClientSecurityError> {
    let pem = read_file(property, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        property_error(
            property,
            format!(
                "{}: no unencrypted private key (PKCS#8, PKCS#1 or SEC1): {error}",
                path.display()
            ),
        )
    })
}

/// The CAs of `ca_location`, or of the system's bundle without one.
fn trust_store(ca_location: Option<&Path>) -> Result<RootCertStore, ClientSecurityError> {
    let mut roots = RootCertStore::empty();
    match ca_location {
        Some(path) => {
            for certificate in certificates("ssl.ca.location", path)? {
                roots
                    .add(certificate)
                    .map_err(|error| property_error("ssl.ca.location", error.to_string()))?;
            }
        }
        None => {
            let bundle = SYSTEM_CA_BUNDLES
                .iter()
                .find_map(|path| std::fs::read(path).ok())
                .ok_or_else(|| {
                    property_error(
                        "ssl.ca.location",
                        "not set, and no system CA bundle was found",
                    )
                })?;
            let (added, _) = roots.add_parsable_certificates(
                CertificateDer::pem_slice_iter(&bundle).filter_map(Result::ok),
            );
            if added == 0 {
                return Err(property_error(
                    "ssl.ca.location",
                    "not set, and the system CA bundle holds no certificate",
                ));
            }
        }
    }
    Ok(roots)
}

/// Checks the certificate chain and signatures as WebPKI does, but accepts
/// a certificate that does not name the host
/// (`ssl.endpoint.identification.algorithm=`, as Kafka allows).
#[derive(Debug)]
struct AnyHostVerifier(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn properties(
        pairs: &[(&'static str, &'static str)],
    ) -> Result<ClientSecurity, ClientSecurityError> {
        ClientSecurity::from_properties(pairs.iter().copied())
    }

    fn testdata(name: &str) -> &'static str {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name);
        Box::leak(path.to_string_lossy().into_owned().into_boxed_str())
    }

    #[test]
    fn no_properties_is_plaintext_without_login() {
        let security = properties(&[]).unwrap();
        assert_eq!(security.protocol(), SecurityProtocol::Plaintext);
        assert!(security.sasl().is_none());
        assert!(security.tls.is_none());
    }

    #[test]
    fn librdkafka_names_give_a_sasl_login_in_any_case() {
        let security = properties(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", "scram-sha-256"),
            ("sasl.username", "alice"),
            ("sasl.password", "secret"),
            ("client.id", "tool"),
        ])
        .unwrap();
        assert_eq!(security.protocol(), SecurityProtocol::SaslPlaintext);
        let login = security.sasl().unwrap();
        assert_eq!(login.mechanism.name(), "SCRAM-SHA-256");
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("alice", "secret")
        );
        assert_eq!(security.ignored_properties(), ["client.id"]);
        assert!(!format!("{security:?}").contains("secret"));
    }

    #[test]
    fn a_java_jaas_config_gives_the_login() {
        let security = properties(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="bob" password="p\"w";"#,
            ),
        ])
        .unwrap();
        let login = security.sasl().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("bob", "p\"w")
        );
    }

    #[test]
    fn sasl_without_a_mechanism_or_with_gssapi_is_refused_naming_the_property() {
        let missing = properties(&[("security.protocol", "SASL_SSL")]).unwrap_err();
        assert!(
            missing.to_string().starts_with("sasl.mechanism:"),
            "{missing}"
        );
        let gssapi = properties(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "GSSAPI"),
        ])
        .unwrap_err();
        assert!(gssapi.to_string().contains("GSSAPI is not"), "{gssapi}");
        let protocol = properties(&[("security.protocol", "TLS")]).unwrap_err();
        assert!(
            protocol.to_string().starts_with("security.protocol:"),
            "{protocol}"
        );
    }

    #[test]
    fn ssl_reads_the_ca_and_refuses_jks_stores_and_encrypted_keys() {
        let ca = testdata("ca.pem");
        let security =
            properties(&[("security.protocol", "SSL"), ("ssl.ca.location", ca)]).unwrap();
        assert!(security.tls.is_some());
        let jks = properties(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", ca),
            ("ssl.truststore.type", "JKS"),
        ])
        .unwrap_err();
        assert!(jks.to_string().starts_with("ssl.truststore.type:"), "{jks}");
        let missing = properties(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", "/nonexistent/ca.pem"),
        ])
        .unwrap_err();
        assert!(
            matches!(missing, ClientSecurityError::Read { .. }),
            "{missing}"
        );
        let encrypted = properties(&[
            ("security.protocol", "SSL"),
            ("ssl.ca.location", ca),
            ("ssl.key.password", "x"),
        ])
        .unwrap_err();
        assert!(
            encrypted.to_string().starts_with("ssl.key.password:"),
            "{encrypted}"
        );
    }

    #[test]
    fn jaas_values_are_found_only_as_whole_option_names() {
        let text = r#"M required xusername="no" username = "yes";"#;
        assert_eq!(jaas_value(text, "username").as_deref(), Some("yes"));
        assert_eq!(jaas_value(text, "password"), None);
    }
}
