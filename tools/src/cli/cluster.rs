//! `skein cluster info`: the cluster id, controller, brokers and the API
//! versions the bootstrap broker speaks.
use kafka_protocol::messages::ApiKey;
use serde::Serialize;

use super::brokers::{Brokers, ConnectOptions};
use super::output::{print_json, print_table, OutputFormat};
use crate::client::{ClientError, ClusterBroker, ClusterDescription};

/// Options of `skein cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Cluster id, controller, brokers, and the API versions the broker serves.
    Info,
}

#[derive(Serialize)]
struct ApiRange {
    api: String,
    key: i16,
    min_version: i16,
    max_version: i16,
}

#[derive(Serialize)]
struct ClusterInfo {
    #[serde(flatten)]
    cluster: ClusterDescription,
    /// The broker that answered.
    bootstrap: String,
    /// This CLI's version.
    cli_version: &'static str,
    /// APIs the bootstrap broker advertises (Kafka has no broker version on
    /// the wire; this is what a client can rely on).
    api_versions: Vec<ApiRange>,
}

/// Runs a cluster subcommand.
///
/// # Errors
/// Connection and Kafka errors.
pub fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let mut brokers = Brokers::connect(&args.connect)?;
    let ClusterCommand::Info = args.command;
    let connection = brokers.bootstrap();
    let cluster = match connection.describe_cluster() {
        Ok(cluster) => cluster,
        // Brokers before Kafka 2.8 lack DescribeCluster: Metadata has the same.
        Err(ClientError::UnsupportedApi { .. }) => {
            let metadata = connection.metadata(Some(&[]))?;
            ClusterDescription {
                cluster_id: String::new(),
                controller_id: metadata.controller_id,
                brokers: metadata
                    .brokers
                    .iter()
                    .map(|(id, address)| ClusterBroker {
                        id: *id,
                        host: address.host.clone(),
                        port: i32::from(address.port),
                        rack: None,
                    })
                    .collect(),
            }
        }
        Err(other) => return Err(other.into()),
    };
    let api_versions = (0..=i16::MAX)
        .take(200)
        .filter_map(|key| {
            let api = ApiKey::try_from(key).ok()?;
            let (min_version, max_version) = connection.versions().broker_range(api)?;
            Some(ApiRange {
                api: format!("{api:?}"),
                key,
                min_version,
                max_version,
            })
        })
        .collect();
    let info = ClusterInfo {
        cluster,
        bootstrap: connection.address().to_owned(),
        cli_version: env!("CARGO_PKG_VERSION"),
        api_versions,
    };
    match args.format {
        OutputFormat::Json => print_json(&info)?,
        OutputFormat::Table => {
            println!("Cluster id:  {}", info.cluster.cluster_id);
            println!("Controller:  {}", info.cluster.controller_id);
            println!("Bootstrap:   {}", info.bootstrap);
            println!("CLI version: {}", info.cli_version);
            println!();
            print_table(
                &["BROKER", "HOST", "PORT", "RACK"],
                &info
                    .cluster
                    .brokers
                    .iter()
                    .map(|broker| {
                        vec![
                            broker.id.to_string(),
                            broker.host.clone(),
                            broker.port.to_string(),
                            broker.rack.clone().unwrap_or_default(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
            println!();
            print_table(
                &["API", "KEY", "VERSIONS"],
                &info
                    .api_versions
                    .iter()
                    .map(|range| {
                        vec![
                            range.api.clone(),
                            range.key.to_string(),
                            format!("{}-{}", range.min_version, range.max_version),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    Ok(())
}
