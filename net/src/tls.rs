//! The TLS configuration of one SSL listener: a rustls [`ServerConfig`] built
//! from the listener's [`SslSettings`] (PEM key, chain and trust store,
//! `ssl.client.auth`, `ssl.enabled.protocols`, `ssl.cipher.suites`), and
//! its reload when the files it was read from change.
//!
//! Invariant: [`ListenerTls::server_config`] always returns a complete,
//! valid configuration — a reload that fails (a half-written file) keeps the
//! previous one and is retried at the next check. New connections take the
//! current configuration; established ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use skein_controller::{ClientAuth, KeySource, SslSettings, TlsVersion, TrustSource};

/// How often the key and trust store files are checked for changes.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Why a listener's TLS configuration cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The settings themselves are not servable (see [`SslSettings::check`]).
    #[error("{0}")]
    Settings(String),
    /// A key or trust store file cannot be read.
    #[error("cannot read {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM text holds no item of the kind needed, or a broken one.
    #[error("listener {listener}: {what}: {reason}")]
    Pem {
        /// The listener.
        listener: String,
        /// Which store (`ssl.keystore.location /path`, `ssl.truststore.certificates`).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A name of `ssl.cipher.suites` that rustls' ring provider does not
    /// offer.
    #[error("ssl.cipher.suites (listener {listener}): {name} is not offered; known: {known}")]
    UnknownCipherSuite {
        /// The listener.
        listener: String,
        /// The name given.
        name: String,
        /// The names rustls offers.
        known: String,
    },
    /// rustls refused the combination (key not matching the certificate, no
    /// cipher suite for the versions).
    #[error("listener {listener}: {source}")]
    Rustls {
        /// The listener.
        listener: String,
        /// Why.
        #[source]
        source: rustls::Error,
    },
    /// The client certificate verifier cannot be built (an empty or bad
    /// trust store).
    #[error("listener {listener}: client certificate verifier: {reason}")]
    Verifier {
        /// The listener.
        listener: String,
        /// Why.
        reason: String,
    },
}

/// The TLS side of one SSL listener, shared by every data shard (they
/// take the current [`ServerConfig`] for each new connection).
pub struct ListenerTls {
    settings: SslSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// The files read, with what they looked like when read.
    files: Mutex<Vec<(PathBuf, Option<FileStamp>)>>,
}

/// What tells a changed file: its modification time and length.
type FileStamp = (SystemTime, u64);

impl ListenerTls {
    /// Builds the listener's configuration from `settings`.
    ///
    /// # Errors
    /// [`TlsError`]: the listener cannot start.
    pub fn load(settings: SslSettings) -> Result<ListenerTls, TlsError> {
        let files = watched_files(&settings);
        let stamps = files.iter().map(|p| (p.clone(), stamp(p))).collect();
        let config = build_server_config(&settings)?;
        Ok(ListenerTls {
            settings,
            current: RwLock::new(Arc::new(config)),
            files: Mutex::new(stamps),
        })
    }

    /// The configuration for a new connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            // A writer panicked mid-swap; the Arc it held is still whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The listener's name.
    pub fn listener(&self) -> &str {
        &self.settings.listener
    }

    /// Rebuilds the configuration if a file it came from changed since it
    /// was read. Blocking file IO: call it off the data shards.
    ///
    /// # Errors
    /// The changed files do not make a valid configuration (the previous one
    /// stays; the next call tries again).
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let Ok(mut files) = self.files.lock() else {
            return Ok(false);
        };
        let now: Vec<Option<FileStamp>> = files.iter().map(|(p, _)| stamp(p)).collect();
        if files.iter().zip(&now).all(|((_, then), now)| then == now) {
            return Ok(false);
        }
        let config = build_server_config(&self.settings)?;
        for ((_, then), now) in files.iter_mut().zip(now) {
            *then = now;
        }
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(config),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(config),
        }
        Ok(true)
    }
}

/// Checks `listeners`' files every [`RELOAD_CHECK_INTERVAL`] on a thread of
/// its own (file IO stays off the data shards) until `shutdown` is set.
///
/// # Errors
/// The thread cannot be spawned.
pub fn spawn_reloader(
    listeners: Vec<Arc<ListenerTls>>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    if listeners.is_empty() {
        return Ok(None);
    }
    let thread = std::thread::Builder::new()
        .name("skein-tls-reload".into())
        .spawn(move || {
            let step = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            while !shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(step);
                waited += step;
                if waited < RELOAD_CHECK_INTERVAL {
                    continue;
                }
                waited = Duration::ZERO;
                for listener in &listeners {
                    match listener.reload_if_changed() {
                        Ok(true) => {
                            tracing::info!(listener = listener.listener(), "TLS certificates reloaded");
                        }
                        Ok(false) => {}
                        Err(error) => tracing::warn!(
                            listener = listener.listener(),
                            %error,
                            "TLS certificates changed but cannot be loaded; serving the previous ones"
                        ),
                    }
                }
            }
        })?;
    Ok(Some(thread))
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The files a listener's configuration is read from.
fn watched_files(settings: &SslSettings) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Ok(KeySource::File(path)) = settings.key_source() {
        files.push(path);
    }
    if let Ok(TrustSource::File(path)) = settings.trust_source() {
        files.push(path);
    }
    files
}

/// The TLS versions `ssl.enabled.protocols` allows, as rustls names them
/// (the broker's listeners and its own outgoing connections alike).
///
/// # Errors
/// `Settings` for a version rustls does not have.
pub(crate) fn protocol_versions(
    settings: &SslSettings,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    Ok(settings
        .versions()
        .map_err(TlsError::Settings)?
        .into_iter()
        .map(|version| match version {
            TlsVersion::Tls12 => &rustls::version::TLS12,
            TlsVersion::Tls13 => &rustls::version::TLS13,
        })
        .collect())
}

/// Builds a rustls server configuration from `settings`, reading its files.
///
/// # Errors
/// [`TlsError`] naming the listener and what is wrong.
pub fn build_server_config(settings: &SslSettings) -> Result<ServerConfig, TlsError> {
    let listener = settings.listener.clone();
    settings.check().map_err(TlsError::Settings)?;
    let provider = Arc::new(provider(settings)?);
    let versions = protocol_versions(settings)?;
    let rustls_error = |source| TlsError::Rustls {
        listener: listener.clone(),
        source,
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(rustls_error)?;
    let client_auth = settings.client_auth().map_err(TlsError::Settings)?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let roots = trust_store(settings)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let verifier = if client_auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|error| TlsError::Verifier {
                listener: listener.clone(),
                reason: error.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let (chain, key) = key_and_chain(settings)?;
    builder.with_single_cert(chain, key).map_err(rustls_error)
}

/// rustls' ring provider with the cipher suites of `ssl.cipher.suites`
/// (every one when empty), matched by IANA name.
fn provider(settings: &SslSettings) -> Result<CryptoProvider, TlsError> {
    // rustls 0.23.48 deprecates the ring provider for lacking post-quantum
    // key exchange (aws-lc-rs has it, at the price of a C/cmake build); ring
    // is the pure, small provider chosen for the broker until then.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let wanted = settings.cipher_suites();
    if wanted.is_empty() {
        return Ok(provider);
    }
    let name = |suite: &rustls::SupportedCipherSuite| iana_name(suite.suite());
    let mut suites = Vec::new();
    for want in &wanted {
        let found = provider
            .cipher_suites
            .iter()
            .find(|suite| name(suite).eq_ignore_ascii_case(want))
            .ok_or_else(|| TlsError::UnknownCipherSuite {
                listener: settings.listener.clone(),
                name: want.clone(),
                known: provider
                    .cipher_suites
                    .iter()
                    .map(name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        suites.push(*found);
    }
    provider.cipher_suites = suites;
    Ok(provider)
}

/// The IANA (and Java) name of a cipher suite: rustls spells the TLS 1.3
/// ones `TLS13_…`, the registry `TLS_…`.
fn iana_name(suite: rustls::CipherSuite) -> String {
    let debug = format!("{suite:?}");
    match debug.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => debug,
    }
}

/// The listener's certificate chain (leaf first) and private key.
pub(crate) fn key_and_chain(
    settings: &SslSettings,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let (what, pem) = match settings.key_source().map_err(TlsError::Settings)? {
        KeySource::File(path) => (
            format!("ssl.keystore.location {}", path.display()),
            read(&path)?,
        ),
        KeySource::Inline {
            certificate_chain,
            key,
        } => (
            "ssl.keystore.certificate.chain/ssl.keystore.key".to_string(),
            format!("{key}\n{certificate_chain}\n").into_bytes(),
        ),
    };
    let pem_error = |reason: String| TlsError::Pem {
        listener: settings.listener.clone(),
        what: what.clone(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error("no CERTIFICATE".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        pem_error(format!(
            "no unencrypted private key (PKCS#8, PKCS#1 or SEC1): {error}"
        ))
    })?;
    Ok((chain, key))
}

/// The CAs of `ssl.truststore.location` or `ssl.truststore.certificates`.
pub(crate) fn trust_store(settings: &SslSettings) -> Result<RootCertStore, TlsError> {
    let (what, pem) = match settings.trust_source().map_err(TlsError::Settings)? {
        TrustSource::File(path) => (
            format!("ssl.truststore.location {}", path.display()),
            read(&path)?,
        ),
        TrustSource::Inline(text) => ("ssl.truststore.certificates".to_string(), text.into_bytes()),
        TrustSource::None => ("no trust store".to_string(), Vec::new()),
    };
    let pem_error = |reason: String| TlsError::Pem {
        listener: settings.listener.clone(),
        what: what.clone(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| pem_error(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| pem_error(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(pem_error("no CERTIFICATE".into()));
    }
    Ok(roots)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn testdata(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/tls")
            .join(name)
    }

    /// Kafka's defaults with the test key store, PEM trust stores.
    pub(crate) fn settings() -> SslSettings {
        let mut settings = skein_controller::BrokerConfig::default().listener_ssl("SSL");
        settings.keystore_type = "PEM".into();
        settings.keystore_location = testdata("server.pem").display().to_string();
        settings.truststore_type = "PEM".into();
        settings
    }

    #[test]
    fn a_pem_keystore_file_builds_a_server_config() {
        build_server_config(&settings()).unwrap();
        let mut required = settings();
        required.client_auth = "required".into();
        required.truststore_location = testdata("ca.pem").display().to_string();
        build_server_config(&required).unwrap();
    }

    #[test]
    fn inline_pem_builds_the_same_config() {
        let pem = std::fs::read_to_string(testdata("server.pem")).unwrap();
        let key_end = pem.find("-----END PRIVATE KEY-----").unwrap() + 25;
        let mut inline = settings();
        inline.keystore_location.clear();
        inline.keystore_key = pem[..key_end].to_string();
        inline.keystore_certificate_chain = pem[key_end..].to_string();
        inline.truststore_certificates = std::fs::read_to_string(testdata("ca.pem")).unwrap();
        inline.client_auth = "requested".into();
        build_server_config(&inline).unwrap();
    }

    #[test]
    fn cipher_suites_are_chosen_by_iana_name() {
        let mut chosen = settings();
        chosen.cipher_suites =
            "TLS_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into();
        build_server_config(&chosen).unwrap();
        chosen.cipher_suites = "TLS_RSA_WITH_RC4_128_MD5".into();
        let error = build_server_config(&chosen).unwrap_err().to_string();
        assert!(error.contains("TLS_AES_128_GCM_SHA256"), "{error}");
    }

    #[test]
    fn a_missing_or_keyless_file_is_refused_naming_it() {
        let mut missing = settings();
        missing.keystore_location = "/nonexistent/server.pem".into();
        assert!(matches!(
            build_server_config(&missing),
            Err(TlsError::Read { .. })
        ));
        let mut keyless = settings();
        keyless.keystore_location = testdata("ca.pem").display().to_string();
        let error = build_server_config(&keyless).unwrap_err().to_string();
        assert!(error.contains("private key"), "{error}");
        let mut no_ca = settings();
        no_ca.client_auth = "required".into();
        no_ca.truststore_location = testdata("server.pem").display().to_string();
        // A server certificate is a certificate: accepted as a CA by
        // rustls. An empty trust store is not.
        no_ca.truststore_location = testdata("README.md").display().to_string();
        let error = build_server_config(&no_ca).unwrap_err().to_string();
        assert!(error.contains("no CERTIFICATE"), "{error}");
    }

    #[test]
    fn a_changed_keystore_file_is_reloaded_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.pem");
        std::fs::copy(testdata("server.pem"), &path).unwrap();
        let mut settings = settings();
        settings.keystore_location = path.display().to_string();
        let tls = ListenerTls::load(settings).unwrap();
        let first = tls.server_config();
        assert!(!tls.reload_if_changed().unwrap());
        std::fs::write(&path, b"not pem at all, and longer than before").unwrap();
        assert!(tls.reload_if_changed().is_err());
        assert!(Arc::ptr_eq(&first, &tls.server_config()));
        std::fs::copy(testdata("server.pem"), &path).unwrap();
        assert!(tls.reload_if_changed().unwrap());
        assert!(!Arc::ptr_eq(&first, &tls.server_config()));
    }
}
