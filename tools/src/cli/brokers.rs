//! The connections one CLI invocation needs: the bootstrap broker, plus one
//! per partition leader or group coordinator, opened on first use.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;

use skein_net::tool_client_security::ClientSecurity;

use super::client_properties::ClientProperties;
use crate::client::{BrokerAddress, ClientError, ClusterMetadata, Connection, ConnectionConfig};

/// How to reach the cluster; shared by every subcommand that talks to it.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectOptions {
    /// Brokers to bootstrap from, `host:port[,host:port…]`.
    #[arg(
        short = 'b',
        long = "bootstrap-servers",
        visible_alias = "bootstrap-server",
        alias = "bootstrap",
        env = "SKEIN_BROKERS",
        default_value = "localhost:9092",
        value_name = "HOST:PORT,…",
        global = true
    )]
    pub bootstrap_servers: String,
    /// How long to wait for a broker's answer, in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS", global = true)]
    pub timeout_ms: u64,
    /// Log in with SASL: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (Kafka's
    /// client property `sasl.mechanism`; security.protocol defaults to
    /// SASL_PLAINTEXT with it, -X security.protocol=SASL_SSL for TLS).
    #[arg(
        long,
        value_name = "MECHANISM",
        global = true,
        requires = "sasl_username"
    )]
    pub sasl_mechanism: Option<String>,
    /// The SASL user name.
    #[arg(long, value_name = "USER", global = true, requires = "sasl_mechanism")]
    pub sasl_username: Option<String>,
    /// The SASL password (better given in the environment).
    #[arg(
        long,
        env = "SKEIN_SASL_PASSWORD",
        value_name = "PASSWORD",
        global = true,
        hide_env_values = true
    )]
    pub sasl_password: Option<String>,
    /// Kafka client properties (-X, --command-config).
    #[command(flatten)]
    pub client: ClientProperties,
}

impl ConnectOptions {
    /// The connection security the options ask for: the client
    /// properties, with the --sasl-* options as `sasl.*` properties.
    ///
    /// # Errors
    /// Unusable properties (see [`ClientProperties::security`]).
    pub fn security(&self) -> anyhow::Result<ClientSecurity> {
        let property = |key: &str, value: &str| (key.to_owned(), value.to_owned());
        let (mut fallback, mut options) = (Vec::new(), Vec::new());
        if let (Some(mechanism), Some(username)) = (&self.sasl_mechanism, &self.sasl_username) {
            fallback.push(property("security.protocol", "SASL_PLAINTEXT"));
            options.push(property("sasl.mechanism", mechanism));
            options.push(property("sasl.username", username));
        }
        if let Some(password) = &self.sasl_password {
            options.push(property("sasl.password", password));
        }
        self.client.security(&fallback, &options)
    }

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
            security: options.security()?,
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

    /// A connection to the broker Metadata names as controller: the one
    /// that takes metadata changes (CreateTopics, DeleteTopics) and answers
    /// DescribeQuorum. The bootstrap broker when it is that broker or the
    /// controller is not among the listed brokers.
    ///
    /// # Errors
    /// If Metadata fails or the controller cannot be reached.
    pub fn controller(&mut self) -> anyhow::Result<&mut Connection> {
        let metadata = self.bootstrap.metadata(Some(&[]))?;
        let address = metadata
            .brokers
            .get(&metadata.controller_id)
            .map(BrokerAddress::to_address);
        match address {
            Some(address) if address != self.bootstrap.address() => self.to(&address),
            _ => Ok(&mut self.bootstrap),
        }
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

    /// A connection to the coordinator of `group` (callers go through
    /// [`Brokers::with_coordinator`], which retries while it moves).
    fn coordinator(&mut self, group: &str) -> anyhow::Result<&mut Connection> {
        let address = self.bootstrap.find_group_coordinator(group)?.to_address();
        self.to(&address)
    }

    /// Runs `call` on the coordinator of `group`. While the answer is that
    /// the coordinator is loading, not available or moved — retriable, as
    /// Kafka's admin client treats them — finds it again and retries, every
    /// [`COORDINATOR_RETRY_BACKOFF`], until the request timeout has passed.
    ///
    /// # Errors
    /// The last error when it is not retriable or time is up.
    pub fn with_coordinator<T>(
        &mut self,
        group: &str,
        mut call: impl FnMut(&mut Connection) -> Result<T, ClientError>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + self.config.request_timeout;
        loop {
            let outcome = self
                .coordinator(group)
                .and_then(|coordinator| Ok(call(coordinator)?));
            match outcome {
                Err(error) if is_coordinator_moving(&error) && Instant::now() < deadline => {
                    std::thread::sleep(COORDINATOR_RETRY_BACKOFF);
                }
                outcome => return outcome,
            }
        }
    }
}

/// Pause between attempts while a group coordinator is not ready.
pub const COORDINATOR_RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// COORDINATOR_LOAD_IN_PROGRESS (14), COORDINATOR_NOT_AVAILABLE (15),
/// NOT_COORDINATOR (16): the group's coordinator is starting or moving.
fn is_coordinator_moving(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<ClientError>(),
        Some(ClientError::Kafka { code: 14..=16, .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;

    fn kafka(code: i16) -> anyhow::Error {
        ClientError::Kafka {
            api: ApiKey::DescribeGroups,
            code,
            context: None,
            message: None,
        }
        .into()
    }

    #[test]
    fn only_a_loading_missing_or_moved_coordinator_is_retried() {
        for code in [14, 15, 16] {
            assert!(is_coordinator_moving(&kafka(code)), "{code}");
        }
        for code in [13, 17, 69] {
            assert!(!is_coordinator_moving(&kafka(code)), "{code}");
        }
        assert!(!is_coordinator_moving(&anyhow::anyhow!(
            "not a Kafka error"
        )));
    }
}
