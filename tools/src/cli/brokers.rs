//! The connections one CLI invocation needs: the bootstrap broker, plus one
//! per partition leader or group coordinator, opened on first use.
use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;

use crate::client::{ClusterMetadata, Connection, ConnectionConfig};

/// How to reach the cluster; shared by every subcommand that talks to it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOptions {
    /// Brokers to bootstrap from, `host:port[,host:port…]`.
    #[arg(
        short = 'b',
        long = "bootstrap-servers",
        env = "SKEIN_BROKERS",
        default_value = "localhost:9092",
        value_name = "HOST:PORT,…",
        global = true
    )]
    pub bootstrap_servers: String,
    /// How long to wait for a broker's answer, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS", global = true)]
    pub timeout_ms: u64,
}

impl ConnectOptions {
    /// The request timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Connections by `host:port`.
pub struct Brokers {
    config: ConnectionConfig,
    bootstrap: Connection,
    connections: HashMap<String, Connection>,
}

impl Brokers {
    /// Connects to the first reachable bootstrap broker.
    ///
    /// # Errors
    /// [`crate::client::ClientError::NoReachableBroker`] when none answers.
    pub fn connect(options: &ConnectOptions) -> anyhow::Result<Self> {
        let config = ConnectionConfig {
            client_id: "skein-cli".to_owned(),
            request_timeout: options.timeout(),
            connect_timeout: options.timeout().min(Duration::from_secs(10)),
        };
        let bootstrap = Connection::connect_bootstrap(&options.bootstrap_servers, &config)?;
        Ok(Self {
            config,
            bootstrap,
            connections: HashMap::new(),
        })
    }

    /// The bootstrap connection (any broker can answer metadata and admin requests).
    pub fn bootstrap(&mut self) -> &mut Connection {
        &mut self.bootstrap
    }

    /// A connection to `address`, opened if need be.
    ///
    /// # Errors
    /// If the broker cannot be reached.
    pub fn to(&mut self, address: &str) -> anyhow::Result<&mut Connection> {
        if !self.connections.contains_key(address) {
            let connection = Connection::connect(address, &self.config)?;
            self.connections.insert(address.to_owned(), connection);
        }
        self.connections
            .get_mut(address)
            .context("connection just opened")
    }

    /// A connection to the leader of `topic`-`partition`.
    ///
    /// # Errors
    /// If metadata names no leader or the leader cannot be reached.
    pub fn leader(
        &mut self,
        metadata: &ClusterMetadata,
        topic: &str,
        partition: i32,
    ) -> anyhow::Result<&mut Connection> {
        let address = metadata.leader_address(topic, partition)?;
        self.to(&address)
    }

    /// A connection to the coordinator of `group`.
    ///
    /// # Errors
    /// If no coordinator is known or it cannot be reached.
    pub fn coordinator(&mut self, group: &str) -> anyhow::Result<&mut Connection> {
        let address = self.bootstrap.find_group_coordinator(group)?.to_address();
        self.to(&address)
    }
}
