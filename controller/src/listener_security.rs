//! The TLS settings of one SSL listener, resolved from Kafka's `ssl.*`
//! properties with the per-listener `listener.name.<name>.ssl.*` overrides
//! taking precedence, as Kafka resolves them. Invariant: a value of
//! [`SslSettings`] that passed [`SslSettings::check`] names exactly one PEM
//! key source, only TLS versions rustls speaks, and a trust store whenever
//! client certificates are requested or required.

use std::path::PathBuf;

/// The `ssl.*` properties a listener may override with Kafka's
/// `listener.name.<lowercase name>.` prefix.
pub const SSL_LISTENER_PROPERTIES: [&str; 11] = [
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
];

/// `ssl.client.auth`: whether a TLS client must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for (Kafka's default).
    None,
    /// A certificate is asked for; a client without one is still served.
    Requested,
    /// A client without a valid certificate fails the handshake.
    Required,
}

/// A TLS protocol version of `ssl.enabled.protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// `TLSv1.2`.
    Tls12,
    /// `TLSv1.3`.
    Tls13,
}

/// Where a listener's private key and certificate chain come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `ssl.keystore.location`: one PEM file holding the key and the chain.
    File(PathBuf),
    /// `ssl.keystore.certificate.chain` and `ssl.keystore.key`: PEM text
    /// given inline.
    Inline {
        /// The certificate chain, leaf first, PEM.
        certificate_chain: String,
        /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
        key: String,
    },
}

/// Where the CA certificates that verify client certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// No trust store: client certificates cannot be verified.
    None,
    /// `ssl.truststore.location`: a PEM file of CA certificates.
    File(PathBuf),
    /// `ssl.truststore.certificates`: PEM text given inline.
    Inline(String),
}

/// The TLS settings of one listener, as [`crate::BrokerConfig::listener_ssl`]
/// resolves them (raw: call [`SslSettings::check`] before use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// The listener's name, upper-cased.
    pub listener: String,
    /// `ssl.keystore.type` (only `PEM` is served).
    pub keystore_type: String,
    /// `ssl.keystore.location`, empty when unset.
    pub keystore_location: String,
    /// `ssl.keystore.certificate.chain`, empty when unset.
    pub keystore_certificate_chain: String,
    /// `ssl.keystore.key`, empty when unset.
    pub keystore_key: String,
    /// `ssl.key.password`, empty when unset (encrypted keys are refused).
    pub key_password: String,
    /// `ssl.truststore.type` (only `PEM` is read).
    pub truststore_type: String,
    /// `ssl.truststore.location`, empty when unset.
    pub truststore_location: String,
    /// `ssl.truststore.certificates`, empty when unset.
    pub truststore_certificates: String,
    /// `ssl.client.auth`: `none`, `requested` or `required`.
    pub client_auth: String,
    /// `ssl.enabled.protocols`, comma separated.
    pub enabled_protocols: String,
    /// `ssl.cipher.suites`, comma separated; empty for every suite the TLS
    /// stack offers.
    pub cipher_suites: String,
}

impl SslSettings {
    /// The property name as an operator wrote it for this listener, for
    /// error messages: `listener.name.ssl.ssl.keystore.location` style names
    /// are long, so the unprefixed name is given with the listener.
    fn refuse(&self, property: &str, reason: impl std::fmt::Display) -> String {
        format!("{property} (listener {}): {reason}", self.listener)
    }

    /// Checks that the settings describe a TLS listener Skein can serve.
    ///
    /// # Errors
    /// A reason naming the property: a keystore or truststore type other than
    /// PEM, no key or both key sources, an encrypted key, a protocol other
    /// than TLSv1.2/TLSv1.3, or client certificates asked for with no trust
    /// store.
    pub fn check(&self) -> Result<(), String> {
        self.key_source()?;
        self.trust_source()?;
        self.versions()?;
        if self.client_auth()? != ClientAuth::None && self.trust_source()? == TrustSource::None {
            return Err(self.refuse(
                "ssl.client.auth",
                format!(
                    "{} needs the CAs of the client certificates: set ssl.truststore.location",
                    self.client_auth
                ),
            ));
        }
        Ok(())
    }

    /// Where the key and certificate chain come from.
    ///
    /// # Errors
    /// See [`SslSettings::check`].
    pub fn key_source(&self) -> Result<KeySource, String> {
        if !self.keystore_type.eq_ignore_ascii_case("PEM") {
            return Err(self.refuse(
                "ssl.keystore.type",
                format!(
                    "{} is not served: Skein reads PEM keys and certificates only (set ssl.keystore.type=PEM)",
                    self.keystore_type
                ),
            ));
        }
        if !self.key_password.is_empty() {
            return Err(self.refuse(
                "ssl.key.password",
                "encrypted private keys are not supported: give the key unencrypted (PKCS#8, PKCS#1 or SEC1 PEM) in a file only the broker can read",
            ));
        }
        let inline = !self.keystore_certificate_chain.is_empty() || !self.keystore_key.is_empty();
        match (self.keystore_location.is_empty(), inline) {
            (false, false) => Ok(KeySource::File(PathBuf::from(&self.keystore_location))),
            (true, true) => {
                if self.keystore_certificate_chain.is_empty() || self.keystore_key.is_empty() {
                    return Err(self.refuse(
                        "ssl.keystore.key",
                        "ssl.keystore.certificate.chain and ssl.keystore.key go together",
                    ));
                }
                Ok(KeySource::Inline {
                    certificate_chain: self.keystore_certificate_chain.clone(),
                    key: self.keystore_key.clone(),
                })
            }
            (false, true) => Err(self.refuse(
                "ssl.keystore.location",
                "give either ssl.keystore.location or ssl.keystore.certificate.chain with ssl.keystore.key, not both",
            )),
            (true, false) => Err(self.refuse(
                "ssl.keystore.location",
                "an SSL listener needs a key and certificate: set ssl.keystore.location (PEM with the key and chain)",
            )),
        }
    }

    /// Where the CAs of client certificates come from.
    ///
    /// # Errors
    /// See [`SslSettings::check`].
    pub fn trust_source(&self) -> Result<TrustSource, String> {
        let location = !self.truststore_location.is_empty();
        let inline = !self.truststore_certificates.is_empty();
        if (location || inline) && !self.truststore_type.eq_ignore_ascii_case("PEM") {
            return Err(self.refuse(
                "ssl.truststore.type",
                format!(
                    "{} is not served: Skein reads PEM trust stores only (set ssl.truststore.type=PEM)",
                    self.truststore_type
                ),
            ));
        }
        match (location, inline) {
            (false, false) => Ok(TrustSource::None),
            (true, false) => Ok(TrustSource::File(PathBuf::from(&self.truststore_location))),
            (false, true) => Ok(TrustSource::Inline(self.truststore_certificates.clone())),
            (true, true) => Err(self.refuse(
                "ssl.truststore.location",
                "give either ssl.truststore.location or ssl.truststore.certificates, not both",
            )),
        }
    }

    /// `ssl.client.auth`.
    ///
    /// # Errors
    /// A value other than `none`, `requested` or `required`.
    pub fn client_auth(&self) -> Result<ClientAuth, String> {
        match self.client_auth.to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(self.refuse(
                "ssl.client.auth",
                format!("{other:?} is not one of none, requested, required"),
            )),
        }
    }

    /// `ssl.enabled.protocols`, in the order given.
    ///
    /// # Errors
    /// A version rustls does not speak (TLSv1, TLSv1.1, SSLv3), or none.
    pub fn versions(&self) -> Result<Vec<TlsVersion>, String> {
        let mut versions = Vec::new();
        for name in self.enabled_protocols.split(',').map(str::trim) {
            let version = match name {
                "" => continue,
                "TLSv1.2" => TlsVersion::Tls12,
                "TLSv1.3" => TlsVersion::Tls13,
                other => {
                    return Err(self.refuse(
                        "ssl.enabled.protocols",
                        format!("{other} is not served: Skein speaks TLSv1.2 and TLSv1.3"),
                    ))
                }
            };
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        if versions.is_empty() {
            return Err(self.refuse(
                "ssl.enabled.protocols",
                "no protocol enabled (TLSv1.2, TLSv1.3)",
            ));
        }
        Ok(versions)
    }

    /// `ssl.cipher.suites` as names; empty for the TLS stack's defaults.
    pub fn cipher_suites(&self) -> Vec<String> {
        self.cipher_suites
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SslSettings {
        SslSettings {
            listener: "SSL".into(),
            keystore_type: "PEM".into(),
            keystore_location: "/etc/skein/server.pem".into(),
            keystore_certificate_chain: String::new(),
            keystore_key: String::new(),
            key_password: String::new(),
            truststore_type: "JKS".into(),
            truststore_location: String::new(),
            truststore_certificates: String::new(),
            client_auth: "none".into(),
            enabled_protocols: "TLSv1.2,TLSv1.3".into(),
            cipher_suites: String::new(),
        }
    }

    #[test]
    fn a_pem_keystore_file_is_a_servable_listener() {
        let ok = settings();
        assert_eq!(ok.check(), Ok(()));
        assert_eq!(
            ok.key_source(),
            Ok(KeySource::File("/etc/skein/server.pem".into()))
        );
        assert_eq!(ok.trust_source(), Ok(TrustSource::None));
        assert_eq!(
            ok.versions(),
            Ok(vec![TlsVersion::Tls12, TlsVersion::Tls13])
        );
    }

    #[test]
    fn unservable_settings_are_refused_naming_the_property() {
        let refused = |change: fn(&mut SslSettings), property: &str| {
            let mut s = settings();
            change(&mut s);
            let error = s.check().unwrap_err();
            assert!(error.starts_with(property), "{error}");
            assert!(error.contains("listener SSL"), "{error}");
        };
        refused(|s| s.keystore_type = "JKS".into(), "ssl.keystore.type");
        refused(|s| s.key_password = "secret".into(), "ssl.key.password");
        refused(|s| s.keystore_location.clear(), "ssl.keystore.location");
        refused(|s| s.keystore_key = "k".into(), "ssl.keystore.location");
        refused(
            |s| s.enabled_protocols = "TLSv1.1".into(),
            "ssl.enabled.protocols",
        );
        refused(
            |s| s.enabled_protocols = " ".into(),
            "ssl.enabled.protocols",
        );
        refused(|s| s.client_auth = "required".into(), "ssl.client.auth");
        refused(|s| s.client_auth = "sometimes".into(), "ssl.client.auth");
        refused(
            |s| s.truststore_location = "/ca.pem".into(),
            "ssl.truststore.type",
        );
    }

    #[test]
    fn inline_pem_and_a_pem_truststore_are_accepted() {
        let mut s = settings();
        s.keystore_location.clear();
        s.keystore_certificate_chain = "-----BEGIN CERTIFICATE-----".into();
        s.keystore_key = "-----BEGIN PRIVATE KEY-----".into();
        s.truststore_type = "pem".into();
        s.truststore_location = "/ca.pem".into();
        s.client_auth = "required".into();
        assert_eq!(s.check(), Ok(()));
        assert!(matches!(s.key_source(), Ok(KeySource::Inline { .. })));
        assert_eq!(s.client_auth(), Ok(ClientAuth::Required));
        s.cipher_suites = "TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256".into();
        assert_eq!(s.cipher_suites().len(), 2);
    }
}
