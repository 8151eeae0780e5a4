//! The client listeners of a broker and their accept loops. Every data
//! shard binds every client listener's address with SO_REUSEPORT (glommio
//! sets it), so the kernel spreads new connections over the shards; a
//! connection lives on the shard that accepted it. A listener is PLAINTEXT,
//! SSL, SASL_PLAINTEXT or SASL_SSL (`listener.security.protocol.map`); an
//! SSL listener runs the TLS handshake before the first Kafka frame is
//! read, a SASL listener the SASL exchange before anything else is served.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use glommio::net::TcpListener;
use rustls_pki_types::CertificateDer;
use skein_controller::{BrokerConfig, KafkaPrincipal, ListenerSasl, SslPrincipalMapper};

use crate::certificate_subject;

use crate::connection;
use crate::connection_quota::{ConnectionQuotas, Refusal};
use crate::shard_state::{AdvertisedAddress, ShardState};
use crate::tls::ListenerTls;

/// How often a listener at `max.connections` looks for a free slot.
const FULL_RECHECK: Duration = Duration::from_millis(10);

/// Where one named client listener listens and what it advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerEndpoint {
    /// The listener name, upper-cased (`PLAINTEXT`, `SSL`, `EXTERNAL`).
    pub name: String,
    /// The address bound on every data shard.
    pub listen: SocketAddr,
    /// What Metadata tells this listener's clients to connect to.
    pub advertised: AdvertisedAddress,
}

/// A client listener ready to be opened: its endpoint and, for an SSL
/// listener, its TLS configuration, for a SASL one its SASL settings.
/// Shared by every data shard.
pub struct ClientListener {
    /// Where it listens and what it advertises.
    pub endpoint: ListenerEndpoint,
    /// `Some` for an SSL or SASL_SSL listener.
    pub tls: Option<Arc<ListenerTls>>,
    /// `Some` for a SASL_PLAINTEXT or SASL_SSL listener.
    pub sasl: Option<Arc<ListenerSasl>>,
    /// `ssl.principal.mapping.rules`: the principal of a client
    /// certificate.
    pub principal_mapper: SslPrincipalMapper,
}

impl ClientListener {
    /// Prepares `endpoint` with the security protocol `config` gives its
    /// name, reading an SSL listener's key and certificates.
    ///
    /// # Errors
    /// A reason naming the listener: a protocol Skein does not serve, or TLS
    /// settings or files that do not make a TLS configuration.
    pub fn prepare(
        config: &BrokerConfig,
        endpoint: ListenerEndpoint,
    ) -> Result<ClientListener, String> {
        let protocol = config.security_protocol(&endpoint.name);
        let (uses_tls, uses_sasl) = match protocol.as_deref() {
            Some("PLAINTEXT") => (false, false),
            Some("SSL") => (true, false),
            Some("SASL_PLAINTEXT") => (false, true),
            Some("SASL_SSL") => (true, true),
            other => {
                return Err(format!(
                    "listener {} is {}: not a security protocol",
                    endpoint.name,
                    other.unwrap_or("unmapped")
                ))
            }
        };
        let tls = if uses_tls {
            Some(Arc::new(
                ListenerTls::load(config.listener_ssl(&endpoint.name))
                    .map_err(|error| format!("listener {}: {error}", endpoint.name))?,
            ))
        } else {
            None
        };
        let sasl = if uses_sasl {
            Some(Arc::new(config.listener_sasl(&endpoint.name).resolve()?))
        } else {
            None
        };
        let principal_mapper =
            SslPrincipalMapper::parse(&config.ssl_principal_mapping_rules(&endpoint.name))
                .map_err(|error| format!("listener {}: {error}", endpoint.name))?;
        Ok(ClientListener {
            endpoint,
            tls,
            sasl,
            principal_mapper,
        })
    }

    /// `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub fn security_protocol(&self) -> &'static str {
        match (self.tls.is_some(), self.sasl.is_some()) {
            (false, false) => "PLAINTEXT",
            (true, false) => "SSL",
            (false, true) => "SASL_PLAINTEXT",
            (true, true) => "SASL_SSL",
        }
    }

    /// The principal of a TLS connection that presented `certificates`
    /// (leaf first): the leaf's subject mapped by
    /// `ssl.principal.mapping.rules`, or `User:ANONYMOUS` without a
    /// certificate. On a SASL_SSL listener SASL decides the principal.
    ///
    /// # Errors
    /// A certificate whose subject cannot be read, or to which no rule
    /// applies (Kafka fails the authentication).
    pub fn certificate_principal(
        &self,
        certificates: Option<&[CertificateDer<'_>]>,
    ) -> Result<KafkaPrincipal, String> {
        let leaf = match certificates.and_then(<[CertificateDer<'_>]>::first) {
            Some(leaf) if self.sasl.is_none() => leaf,
            _ => return Ok(KafkaPrincipal::anonymous()),
        };
        let subject = certificate_subject::subject(leaf.as_ref())
            .ok_or_else(|| "the certificate's subject cannot be read".to_string())?;
        self.principal_mapper
            .name(&subject)
            .map(KafkaPrincipal::user)
            .ok_or_else(|| format!("no ssl.principal.mapping.rules apply to {subject}"))
    }
}

/// Binds `addr` on this shard.
///
/// # Errors
/// If the address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).map_err(std::io::Error::from)
}

/// Accepts connections of `client_listener` until the shard stops, serving
/// each in its own task within the broker's connection `quotas`, as Kafka's
/// acceptor does: a connection accepted while the broker is at
/// `max.connections` is held, and no other accepted, until a slot frees
/// (new ones wait in the kernel's backlog); a connection past its address's
/// limit is closed at once.
pub async fn accept_loop(
    ctx: Rc<ShardState>,
    listener: TcpListener,
    client_listener: Arc<ClientListener>,
    quotas: Arc<ConnectionQuotas>,
) {
    while !ctx.is_stopping() {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        let slot = loop {
            match quotas.admit(peer.ip()) {
                Err(Refusal::BrokerFull) if !ctx.is_stopping() => {
                    glommio::timer::sleep(FULL_RECHECK).await;
                }
                other => break other,
            }
        };
        match slot {
            Ok(slot) => {
                let serving =
                    connection::serve(Rc::clone(&ctx), stream, Arc::clone(&client_listener));
                glommio::spawn_local(async move {
                    serving.await;
                    drop(slot);
                })
                .detach();
            }
            Err(Refusal::TooManyFromAddress { limit }) => {
                tracing::info!(%peer, limit, "connection closed: max.connections.per.ip reached");
            }
            // Stopping while the broker was full.
            Err(Refusal::BrokerFull) => {}
        }
    }
}
