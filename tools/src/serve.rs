//! `skein serve`: start a broker with embedded defaults — single node,
//! controller included, data under `./skein-data`, port 9092 — until
//! SIGTERM or SIGINT, then stop gracefully (finish in-flight requests, flush,
//! write clean-shutdown markers) and exit 0.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context};
use skein_controller::{BrokerConfig, ConfigError};
use skein_engine::CoreSet;
use skein_net::shard_state::AdvertisedAddress;
use skein_net::ListenerEndpoint;

use crate::node::{run_node, NodeOptions};

use crate::config_file::{env_property_name, read_config_file};

/// Options of `skein serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: a shorthand for `listeners=PLAINTEXT://HOST:PORT`
    /// (default `0.0.0.0:9092`).
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Address clients are told to use (Metadata): a shorthand for
    /// `advertised.listeners=PLAINTEXT://HOST:PORT`. Defaults to the listen
    /// address, or this machine's host name when listening on 0.0.0.0.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Data directory (the `log.dirs` property).
    #[arg(long, value_name = "PATH")]
    data_dir: Option<PathBuf>,
    /// Cores to run on, as `0-3,6`. Default: every core available.
    #[arg(long, value_name = "LIST")]
    cores: Option<String>,
    /// A file of broker properties by their Kafka names: TOML
    /// (`num.partitions = 3`, dotted keys and tables both work) or Kafka's
    /// `server.properties` (Java properties syntax), told apart by the
    /// extension (`.toml`, `.properties`) or else by the content. Then
    /// `SKEIN_<NAME>` environment variables (`SKEIN_NODE_ID=1`: `_` is `.`,
    /// `__` is `_`), then `--set`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a broker property by its Kafka name, e.g. `--set num.partitions=3`.
    /// Repeatable; applied after `--config`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Address of the admin HTTP listener serving `/metrics` (Prometheus
    /// text format) and `/health` (200 once ready, 503 before); `off` for none.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9644")]
    admin_listen: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Runs the broker until SIGTERM/SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    keep_freed_request_memory();
    let mut config = BrokerConfig::default();
    if let Some(path) = &args.config {
        for (key, value) in read_config_file(path)? {
            config
                .set(&key, &value)
                .with_context(|| format!("in {}", path.display()))?;
        }
    }
    apply_environment(&mut config, std::env::vars())?;
    for assignment in &args.set {
        let Some((key, value)) = assignment.split_once('=') else {
            bail!("--set {assignment:?}: expected KEY=VALUE");
        };
        config.set(key.trim(), value.trim())?;
    }
    if let Some(dir) = &args.data_dir {
        config.set("log.dirs", &dir.to_string_lossy())?;
    }
    if let Some(address) = &args.listen {
        config
            .set("listeners", &format!("PLAINTEXT://{address}"))
            .context("--listen")?;
    }
    if let Some(address) = &args.advertise {
        config
            .set("advertised.listeners", &format!("PLAINTEXT://{address}"))
            .context("--advertise")?;
    }
    for (name, why) in config.no_effect_settings() {
        tracing::warn!(
            property = name,
            "{name} is accepted but has no effect in Skein: {why}"
        );
    }
    let (listen, advertised) = client_listener(&config)?;
    let client_listeners = client_listeners(&config)?;
    let cores = match &args.cores {
        Some(list) => list
            .parse::<CoreSet>()
            .with_context(|| format!("--cores {list}"))?,
        None => CoreSet::all_available(),
    };
    let admin_listen = match args.admin_listen.as_str() {
        "off" | "none" => None,
        address => Some(resolve(address).with_context(|| format!("--admin-listen {address}"))?),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .context("cannot install the signal handler")?;
    }
    run_node(NodeOptions {
        config,
        cores,
        listen,
        advertised,
        client_listeners,
        shutdown,
        admin_listen,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Sets every property named by a `SKEIN_<NAME>` environment variable (see
/// [`env_property_name`]). A variable that names no property is ignored with
/// a warning: `SKEIN_` also prefixes the test and bench tools' own settings.
///
/// # Errors
/// A bad value for a known property.
fn apply_environment(
    config: &mut BrokerConfig,
    variables: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    for (variable, value) in variables {
        let Some(name) = env_property_name(&variable) else {
            continue;
        };
        match config.set(&name, &value) {
            Ok(()) => {}
            Err(ConfigError::UnknownProperty(_)) => {
                tracing::warn!(%variable, "{variable} names no broker property ({name}); ignored");
            }
            Err(error) => return Err(error).with_context(|| format!("environment {variable}")),
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn resolve(address: impl ToSocketAddrs) -> anyhow::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .context("the address resolves to nothing")
}

/// The client listener's address and what Metadata advertises for it: its
/// `advertised.listeners` entry, else the listen address, else (listening on
/// every interface) the host name, as Kafka does.
///
/// # Errors
/// The properties together describe a node Skein cannot run
/// ([`BrokerConfig::validate`]), or the listener's host does not resolve.
fn client_listener(config: &BrokerConfig) -> anyhow::Result<(SocketAddr, AdvertisedAddress)> {
    config.validate()?;
    if !config.roles().broker {
        // A controller-only node serves no clients; its one listener is the
        // controller's, which the node opens itself.
        let listener = config
            .controller_listener()
            .context("a controller needs its controller listener")?;
        let listen = resolve((listener.host.as_str(), listener.port))
            .with_context(|| format!("listeners: cannot resolve {listener}"))?;
        return Ok((listen, advertised_address(listen)));
    }
    let (listener, advertised) = config.client_listener();
    let endpoint = listener_endpoint(listener, advertised)?;
    let (listen, advertised) = (endpoint.listen, endpoint.advertised);
    if config.is_single_node() {
        for name in config.controller_listener_names() {
            tracing::info!(listener = %name, "controller listener not opened: this node is the quorum's only voter");
        }
    }
    Ok((listen, advertised))
}

/// Every client listener of a broker ([`BrokerConfig::client_listeners`]),
/// resolved as [`client_listener`] resolves the registered one; none for a
/// controller-only node.
///
/// # Errors
/// A listener's host does not resolve.
fn client_listeners(config: &BrokerConfig) -> anyhow::Result<Vec<ListenerEndpoint>> {
    if !config.roles().broker {
        return Ok(Vec::new());
    }
    config
        .client_listeners()
        .into_iter()
        .map(|(listener, advertised)| listener_endpoint(listener, advertised))
        .collect()
}

/// `listener`'s address and what Metadata advertises for it: its
/// `advertised.listeners` entry, else the listen address, else (listening
/// on every interface) the host name, as Kafka does.
fn listener_endpoint(
    listener: skein_controller::Listener,
    advertised: Option<skein_controller::Listener>,
) -> anyhow::Result<ListenerEndpoint> {
    let host = if listener.host.is_empty() {
        "0.0.0.0"
    } else {
        listener.host.as_str()
    };
    let listen = resolve((host, listener.port))
        .with_context(|| format!("listeners: cannot resolve {listener}"))?;
    let advertised = match advertised {
        Some(advertised) if !advertised.host.is_empty() => AdvertisedAddress {
            host: advertised.host,
            port: advertised.port,
        },
        _ => advertised_address(listen),
    };
    Ok(ListenerEndpoint {
        name: listener.name,
        listen,
        advertised,
    })
}

/// What Metadata advertises with no `advertised.listeners`: the listen
/// address, or (listening on every interface) the host name, as Kafka does.
fn advertised_address(listen: SocketAddr) -> AdvertisedAddress {
    let host = if listen.ip().is_unspecified() {
        host_name().unwrap_or_else(|| "localhost".to_string())
    } else {
        listen.ip().to_string()
    };
    AdvertisedAddress {
        host,
        port: listen.port(),
    }
}

fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let status = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if status != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Keeps glibc's allocator from handing request-sized memory back to the
/// kernel. A produce request's body (up to ~1 MiB) is allocated when it
/// arrives and freed once appended, often on another shard's thread; with
/// glibc's defaults such a block is often mmapped fresh (or trimmed off the
/// heap top when freed), so the next one takes a page fault per 4 KiB and
/// the kernel zeroes every page — measured as ~15% of the broker's CPU per
/// GB produced (benches/README.md, "CPU per GB"). Blocks up to 4 MiB come
/// from the heap, and up to 64 MiB of free heap top is kept per arena.
fn keep_freed_request_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD_BYTES: libc::c_int = 4 << 20;
        const TRIM_THRESHOLD_BYTES: libc::c_int = 64 << 20;
        // SAFETY: mallopt(3) only changes allocator parameters; it is
        // called before any shard thread starts.
        let set = unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
                && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
        };
        if !set {
            tracing::warn!(
                "mallopt refused the allocator thresholds; request buffers may page-fault"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_defaults_follow_the_listen_address() {
        let mut config = BrokerConfig::default();
        config
            .set("listeners", "PLAINTEXT://127.0.0.1:9999")
            .unwrap();
        let (listen, advertised) = client_listener(&config).unwrap();
        assert_eq!(listen, "127.0.0.1:9999".parse::<SocketAddr>().unwrap());
        assert_eq!(advertised.host, "127.0.0.1");
        assert_eq!(advertised.port, 9999);
        config
            .set("advertised.listeners", "PLAINTEXT://broker.example:19092")
            .unwrap();
        let (_, explicit) = client_listener(&config).unwrap();
        assert_eq!(explicit.host, "broker.example");
        assert_eq!(explicit.port, 19092);
    }

    #[test]
    fn environment_variables_set_properties_and_skip_other_skein_settings() {
        let mut config = BrokerConfig::default();
        let vars = [
            ("SKEIN_NUM_PARTITIONS", "7"),
            ("SKEIN_BIN", "/usr/bin/skein"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        apply_environment(&mut config, vars.into_iter()).unwrap();
        assert_eq!(config.num_partitions(), 7);
        let bad = [("SKEIN_NUM_PARTITIONS".to_string(), "many".to_string())];
        assert!(apply_environment(&mut config, bad.into_iter()).is_err());
    }

    #[test]
    fn an_empty_listener_host_listens_everywhere_and_two_listeners_are_refused() {
        let mut config = BrokerConfig::default();
        config.set("listeners", "PLAINTEXT://:9998").unwrap();
        let (listen, _) = client_listener(&config).unwrap();
        assert!(listen.ip().is_unspecified());
        config
            .set("listeners", "PLAINTEXT://:9998,EXTERNAL://:9999")
            .unwrap();
        assert!(client_listener(&config).is_err());
    }

    #[test]
    fn a_kraft_combined_node_serves_its_client_listener_and_advertises_it() {
        let mut config = BrokerConfig::default();
        for (name, value) in [
            ("node.id", "1"),
            ("process.roles", "broker,controller"),
            ("controller.quorum.voters", "1@localhost:9993"),
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9992,CONTROLLER://127.0.0.1:9993",
            ),
            ("advertised.listeners", "PLAINTEXT://kafka:9992"),
            ("controller.listener.names", "CONTROLLER"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ),
            ("inter.broker.listener.name", "PLAINTEXT"),
        ] {
            config.set(name, value).unwrap();
        }
        let (listen, advertised) = client_listener(&config).unwrap();
        assert_eq!(listen.port(), 9992);
        assert_eq!((advertised.host.as_str(), advertised.port), ("kafka", 9992));
    }
}
