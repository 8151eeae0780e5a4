//! `skein cluster`: the cluster id, the controller, each broker and the
//! metadata quorum (leader, epoch, high watermark, each voter's log end and
//! lag); `skein cluster info`: the same brokers and the API versions the
//! bootstrap broker speaks.
use kafka_protocol::messages::ApiKey;
use serde::Serialize;

use super::brokers::{Brokers, ConnectOptions};
use super::output::{format_table, print_json, print_table, OutputFormat};
use crate::client::{
    ClientError, ClusterBroker, ClusterDescription, Connection, QuorumDescription,
};

/// Options of `skein cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: Option<ClusterCommand>,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterCommand {
    /// Cluster id, controller, brokers, and the API versions the broker serves.
    Info,
    /// Cluster id, controller, brokers and the metadata quorum (the default).
    Status,
}

#[derive(Serialize)]
struct ClusterStatus {
    #[serde(flatten)]
    cluster: ClusterDescription,
    /// The metadata quorum; `None` when the broker does not serve
    /// DescribeQuorum (ZooKeeper-era Kafka).
    quorum: Option<QuorumDescription>,
    /// The partitions whose ISR is smaller than their replica set, by
    /// topic and partition.
    under_replicated: Vec<UnderReplicated>,
}

/// A partition with fewer in-sync replicas than replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct UnderReplicated {
    topic: String,
    partition: i32,
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

/// The under-replicated partitions of `metadata`, by topic and partition.
fn under_replicated(metadata: &crate::client::ClusterMetadata) -> Vec<UnderReplicated> {
    let mut found: Vec<UnderReplicated> = metadata
        .topics
        .iter()
        .flat_map(|(topic, described)| {
            described
                .partitions
                .iter()
                .filter(|p| p.isr.len() < p.replicas.len())
                .map(move |p| UnderReplicated {
                    topic: topic.clone(),
                    partition: p.partition,
                    leader: p.leader_id,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
        })
        .collect();
    found.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    found
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
    match args.command.unwrap_or(ClusterCommand::Status) {
        ClusterCommand::Info => info(brokers.bootstrap(), args.format),
        ClusterCommand::Status => {
            let cluster = describe_cluster(brokers.bootstrap())?;
            let lagging = under_replicated(&brokers.bootstrap().metadata(None)?);
            // The quorum's leader answers DescribeQuorum; Metadata names it.
            status(cluster, lagging, brokers.controller()?, args.format)
        }
    }
}

/// `skein cluster [status]`.
fn status(
    cluster: ClusterDescription,
    under_replicated: Vec<UnderReplicated>,
    connection: &mut Connection,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let quorum = match connection.describe_quorum() {
        Ok(quorum) => Some(quorum),
        Err(ClientError::UnsupportedApi { .. }) => None,
        Err(other) => return Err(other.into()),
    };
    let status = ClusterStatus {
        cluster,
        quorum,
        under_replicated,
    };
    match format {
        OutputFormat::Json => print_json(&status)?,
        OutputFormat::Table => print!("{}", status_text(&status)),
    }
    Ok(())
}

/// The table form of `skein cluster`.
fn status_text(status: &ClusterStatus) -> String {
    let mut out = format!(
        "Cluster id:  {}\nController:  {}\n\n",
        status.cluster.cluster_id, status.cluster.controller_id
    );
    out.push_str(&brokers_table(&status.cluster.brokers));
    out.push('\n');
    out.push_str(&under_replicated_text(&status.under_replicated));
    out.push('\n');
    let Some(quorum) = &status.quorum else {
        out.push_str("Quorum: not described (the broker does not serve DescribeQuorum)\n");
        return out;
    };
    out.push_str(&format!(
        "Quorum leader:   {}\nLeader epoch:    {}\nHigh watermark:  {}\n\n",
        quorum.leader_id, quorum.leader_epoch, quorum.high_watermark
    ));
    let known = |value: i64| {
        if value < 0 {
            "unknown".to_owned()
        } else {
            value.to_string()
        }
    };
    let rows: Vec<Vec<String>> = quorum
        .voters
        .iter()
        .map(|replica| (replica, "voter"))
        .chain(quorum.observers.iter().map(|replica| (replica, "observer")))
        .map(|(replica, role)| {
            let role = if replica.id == quorum.leader_id {
                "leader"
            } else {
                role
            };
            vec![
                replica.id.to_string(),
                role.to_owned(),
                known(replica.log_end_offset),
                quorum
                    .lag(replica)
                    .map_or_else(|| "unknown".to_owned(), |lag| lag.to_string()),
            ]
        })
        .collect();
    out.push_str(&format_table(
        &["NODE", "ROLE", "LOG-END-OFFSET", "LAG"],
        &rows,
    ));
    out
}

/// The under-replicated partitions as a table, or a line saying there is
/// none.
fn under_replicated_text(partitions: &[UnderReplicated]) -> String {
    if partitions.is_empty() {
        return "Under-replicated partitions: none\n".to_owned();
    }
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let rows: Vec<Vec<String>> = partitions
        .iter()
        .map(|p| {
            vec![
                p.topic.clone(),
                p.partition.to_string(),
                p.leader.to_string(),
                ids(&p.replicas),
                ids(&p.isr),
            ]
        })
        .collect();
    format!(
        "Under-replicated partitions: {}\n{}",
        partitions.len(),
        format_table(&["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"], &rows)
    )
}

/// The brokers as a table.
fn brokers_table(brokers: &[ClusterBroker]) -> String {
    format_table(
        &["BROKER", "HOST", "PORT", "RACK"],
        &brokers
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
    )
}

/// DescribeCluster, or Metadata from brokers without it.
fn describe_cluster(connection: &mut Connection) -> anyhow::Result<ClusterDescription> {
    Ok(match connection.describe_cluster() {
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
    })
}

/// `skein cluster info`.
fn info(connection: &mut Connection, format: OutputFormat) -> anyhow::Result<()> {
    let cluster = describe_cluster(connection)?;
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
    match format {
        OutputFormat::Json => print_json(&info)?,
        OutputFormat::Table => {
            println!("Cluster id:  {}", info.cluster.cluster_id);
            println!("Controller:  {}", info.cluster.controller_id);
            println!("Bootstrap:   {}", info.bootstrap);
            println!("CLI version: {}", info.cli_version);
            println!();
            print!("{}", brokers_table(&info.cluster.brokers));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::quorum::tests::replica;

    fn cluster() -> ClusterDescription {
        ClusterDescription {
            cluster_id: "q1Sh-9_ISia_zwGINzRvyQ".into(),
            controller_id: 1,
            brokers: vec![
                ClusterBroker {
                    id: 0,
                    host: "10.0.0.1".into(),
                    port: 9092,
                    rack: Some("rack-a".into()),
                },
                ClusterBroker {
                    id: 1,
                    host: "10.0.0.2".into(),
                    port: 9092,
                    rack: None,
                },
            ],
        }
    }

    #[test]
    fn status_shows_brokers_and_each_voters_lag_behind_the_leader() {
        let status = ClusterStatus {
            cluster: cluster(),
            quorum: Some(QuorumDescription {
                leader_id: 1,
                leader_epoch: 7,
                high_watermark: 120,
                voters: vec![replica(0, 118), replica(1, 121), replica(2, -1)],
                observers: vec![replica(5, 121)],
            }),
            under_replicated: vec![],
        };
        assert_eq!(
            status_text(&status),
            "Cluster id:  q1Sh-9_ISia_zwGINzRvyQ\n\
             Controller:  1\n\
             \n\
             BROKER  HOST      PORT  RACK\n\
             0       10.0.0.1  9092  rack-a\n\
             1       10.0.0.2  9092\n\
             \n\
             Under-replicated partitions: none\n\
             \n\
             Quorum leader:   1\n\
             Leader epoch:    7\n\
             High watermark:  120\n\
             \n\
             NODE  ROLE      LOG-END-OFFSET  LAG\n\
             0     voter     118             3\n\
             1     leader    121             0\n\
             2     voter     unknown         unknown\n\
             5     observer  121             0\n"
        );
    }

    #[test]
    fn status_without_describe_quorum_says_so() {
        let status = ClusterStatus {
            cluster: cluster(),
            quorum: None,
            under_replicated: vec![],
        };
        assert!(status_text(&status)
            .ends_with("Quorum: not described (the broker does not serve DescribeQuorum)\n"));
    }

    #[test]
    fn status_lists_partitions_whose_isr_is_smaller_than_their_replicas() {
        use crate::client::{ClusterMetadata, PartitionMetadata, TopicMetadata};
        let partition = |partition: i32, isr: Vec<i32>| PartitionMetadata {
            partition,
            error_code: 0,
            leader_id: 2,
            leader_epoch: 3,
            replicas: vec![2, 3, 4],
            isr,
        };
        let mut metadata = ClusterMetadata::default();
        metadata.topics.insert(
            "orders".into(),
            TopicMetadata {
                error_code: 0,
                partitions: vec![partition(0, vec![2, 3, 4]), partition(1, vec![2, 4])],
            },
        );
        let status = ClusterStatus {
            cluster: cluster(),
            quorum: None,
            under_replicated: under_replicated(&metadata),
        };
        assert!(
            status_text(&status).contains(
                "Under-replicated partitions: 1\n\
                 TOPIC   PARTITION  LEADER  REPLICAS  ISR\n\
                 orders  1          2       2,3,4     2,4\n"
            ),
            "{}",
            status_text(&status)
        );
    }
}
