//! `skein topic create|list|describe|alter-config|add-partitions|delete|
//! reassign|reassignments`.
use anyhow::Context;
use kafka_protocol::messages::ApiKey;
use serde::Serialize;

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::output::{id_list, print_json, print_table, OutputFormat};
use super::reassign_throttle;
use crate::client::{
    ClientError, ConfigChange, ConfigResource, OffsetSpec, TopicCreation, TopicSpec,
};

/// Kafka's TOPIC_ALREADY_EXISTS error code.
const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION error code.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

/// Options every topic subcommand takes.
#[derive(Debug, clap::Args)]
pub struct TopicArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: TopicCommand,
}

#[derive(Debug, clap::Subcommand)]
enum TopicCommand {
    /// Create a topic. Fails with TOPIC_ALREADY_EXISTS (exit 1) if it exists,
    /// unless --if-not-exists.
    Create {
        /// Topic name.
        topic: String,
        /// Partition count (default: the broker's num.partitions).
        #[arg(short, long, default_value_t = -1, allow_negative_numbers = true)]
        partitions: i32,
        /// Replication factor (default: the broker's default.replication.factor).
        #[arg(short, long, default_value_t = -1, allow_negative_numbers = true)]
        replication_factor: i16,
        /// A topic config, e.g. `-c retention.ms=60000`. Repeatable.
        #[arg(short, long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Each partition's replicas instead of the controller's placement,
        /// as kafka-topics takes them: partitions separated by commas, each
        /// one's broker ids by colons, the first preferred (`1:2,2:3` is
        /// two partitions with two replicas each).
        #[arg(
            long,
            value_name = "B:B,B:B",
            value_parser = parse_replica_assignment,
            conflicts_with_all = ["partitions", "replication_factor"]
        )]
        replica_assignment: Option<ReplicaAssignment>,
        /// Succeed (exit 0) when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topics with their partition counts.
    List {
        /// Include internal topics (names starting with `__`).
        #[arg(long)]
        internal: bool,
    },
    /// Show a topic's partitions (leader, leader epoch, replicas, ISR,
    /// offsets) and the configs that differ from the defaults, laid out as
    /// Kafka's `kafka-topics --describe`.
    Describe {
        /// Topic name.
        topic: String,
        /// Show every config, defaults included.
        #[arg(long)]
        all_configs: bool,
    },
    /// Set or remove topic configs (IncrementalAlterConfigs).
    AlterConfig {
        /// Topic name.
        topic: String,
        /// Set a config, e.g. `--set retention.ms=60000`. Repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Remove an override, reverting to the broker default. Repeatable.
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
    },
    /// Grow a topic to a total partition count (partitions cannot be removed).
    AddPartitions {
        /// Topic name.
        topic: String,
        /// The new total number of partitions.
        #[arg(short, long)]
        partitions: i32,
        /// Every partition's replicas, existing ones first, as for `create`
        /// (kafka-topics --alter): the lists past the current partition
        /// count place the new partitions.
        #[arg(long, value_name = "B:B,B:B", value_parser = parse_replica_assignment)]
        replica_assignment: Option<ReplicaAssignment>,
    },
    /// Delete a topic and all its records.
    Delete {
        /// Topic name.
        topic: String,
    },
    /// Move a partition's replicas to other brokers
    /// (AlterPartitionReassignments), or cancel its move with --cancel.
    /// Returns once the move has started; `skein topic reassignments`
    /// lists it until the new replicas have caught up, and --verify tells
    /// whether it has finished.
    Reassign {
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Partition index.
        #[arg(long)]
        partition: i32,
        /// The target broker ids, the first preferred, e.g. `1,2,3`.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present_any = ["cancel", "verify"],
            conflicts_with_all = ["cancel", "verify"]
        )]
        replicas: Vec<i32>,
        /// Cancel the partition's reassignment in progress.
        #[arg(long, conflicts_with = "verify")]
        cancel: bool,
        /// Throttle the move as Kafka's kafka-reassign-partitions --throttle:
        /// the partition's current replicas are added to the topic's
        /// leader.replication.throttled.replicas and the added ones to its
        /// follower.replication.throttled.replicas. The rates are the
        /// brokers' leader/follower.replication.throttled.rate (static
        /// broker properties in Skein); brokers left at the default are
        /// named. --verify removes the entries once the move is done.
        #[arg(long, requires = "replicas")]
        throttle: bool,
        /// Tell whether the partition's move has finished and, once it has,
        /// remove its entries from the topic's throttled-replica lists
        /// (Kafka's --verify).
        #[arg(long)]
        verify: bool,
    },
    /// List the partition reassignments in progress
    /// (ListPartitionReassignments).
    Reassignments,
}

/// Replica lists by partition, from `--replica-assignment`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReplicaAssignment(Vec<Vec<i32>>);

/// Parses kafka-topics' `--replica-assignment` form, `1:2,2:3`: one
/// colon-separated list of broker ids per partition, partitions separated by
/// commas. The broker judges the lists (registered brokers, none twice,
/// equal lengths).
fn parse_replica_assignment(text: &str) -> Result<ReplicaAssignment, String> {
    text.split(',')
        .map(|partition| {
            partition
                .split(':')
                .map(|broker| {
                    broker.trim().parse::<i32>().map_err(|_| {
                        format!("{broker:?} in {partition:?} is not a broker id (expected e.g. 1:2,2:3)")
                    })
                })
                .collect::<Result<Vec<i32>, String>>()
        })
        .collect::<Result<_, _>>()
        .map(ReplicaAssignment)
}

/// Splits `KEY=VALUE`.
///
/// # Errors
/// [`UsageError`] without an `=`.
pub fn key_value(text: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| UsageError(format!("{text:?}: expected KEY=VALUE")))?;
    Ok((key.trim().to_owned(), value.to_owned()))
}

#[derive(Serialize)]
struct PartitionRow {
    partition: i32,
    leader: i32,
    leader_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    log_start_offset: i64,
    high_watermark: i64,
    /// Each follower's lag: the leader's log end offset minus the
    /// follower's, `None` when its broker did not answer.
    lag: Vec<(i32, Option<i64>)>,
}

#[derive(Serialize)]
struct TopicDescription {
    name: String,
    partitions: Vec<PartitionRow>,
    configs: std::collections::BTreeMap<String, Option<String>>,
}

/// Runs a topic subcommand.
///
/// # Errors
/// Connection and Kafka errors; usage errors.
pub fn run(args: TopicArgs) -> anyhow::Result<()> {
    let format = args.format;
    let mut brokers = Brokers::connect(&args.connect)?;
    let timeout = args.connect.timeout();
    match args.command {
        TopicCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
            replica_assignment,
            if_not_exists,
        } => {
            let spec = TopicSpec {
                name: topic.clone(),
                partitions,
                replication_factor,
                configs: configs
                    .iter()
                    .map(|text| key_value(text))
                    .collect::<anyhow::Result<_>>()?,
                assignments: replica_assignment.map_or_else(Vec::new, |lists| lists.0),
            };
            let created = match brokers.controller()?.create_topic(&spec, timeout)? {
                TopicCreation::Created => true,
                TopicCreation::AlreadyExisted if if_not_exists => false,
                TopicCreation::AlreadyExisted => {
                    return Err(ClientError::Kafka {
                        api: ApiKey::CreateTopics,
                        code: TOPIC_ALREADY_EXISTS,
                        context: Some(topic),
                        message: None,
                    }
                    .into())
                }
            };
            match format {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"topic": topic, "created": created}))?
                }
                OutputFormat::Table if created => println!("created topic {topic}"),
                OutputFormat::Table => println!("topic {topic} already exists; left as it is"),
            }
        }
        TopicCommand::List { internal } => {
            let metadata = brokers.bootstrap().metadata(None)?;
            let topics: Vec<(String, usize)> = metadata
                .topics
                .iter()
                .filter(|(name, _)| internal || !name.starts_with("__"))
                .map(|(name, topic)| (name.clone(), topic.partitions.len()))
                .collect();
            match format {
                OutputFormat::Json => print_json(
                    &topics
                        .iter()
                        .map(|(name, partitions)| {
                            serde_json::json!({"name": name, "partitions": partitions})
                        })
                        .collect::<Vec<_>>(),
                )?,
                OutputFormat::Table => print_table(
                    &["TOPIC", "PARTITIONS"],
                    &topics
                        .iter()
                        .map(|(name, partitions)| vec![name.clone(), partitions.to_string()])
                        .collect::<Vec<_>>(),
                ),
            }
        }
        TopicCommand::Describe { topic, all_configs } => {
            let description = describe(&mut brokers, &topic, all_configs)?;
            match format {
                OutputFormat::Json => print_json(&description)?,
                OutputFormat::Table => print!("{}", describe_text(&description)),
            }
        }
        TopicCommand::AlterConfig { topic, set, delete } => {
            let mut changes = Vec::new();
            for text in &set {
                let (key, value) = key_value(text)?;
                changes.push(ConfigChange::Set(key, value));
            }
            changes.extend(delete.iter().cloned().map(ConfigChange::Delete));
            if changes.is_empty() {
                return Err(UsageError("nothing to change: give --set or --delete".into()).into());
            }
            brokers
                .bootstrap()
                .alter_configs(ConfigResource::Topic, &topic, &changes)?;
            match format {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"topic": topic, "set": set, "deleted": delete}))?
                }
                OutputFormat::Table => println!("altered {} config(s) of {topic}", changes.len()),
            }
        }
        TopicCommand::AddPartitions {
            topic,
            partitions,
            replica_assignment,
        } => {
            let added = match replica_assignment {
                None => None,
                Some(ReplicaAssignment(lists)) => {
                    // kafka-topics --alter lists every partition: send
                    // the lists past the current count.
                    let metadata = brokers.bootstrap().metadata(Some(&[topic.as_str()]))?;
                    let described = metadata.topics.get(&topic);
                    let code = described.map_or(UNKNOWN_TOPIC_OR_PARTITION, |d| d.error_code);
                    if code != 0 {
                        return Err(ClientError::Kafka {
                            api: ApiKey::Metadata,
                            code,
                            context: Some(topic),
                            message: None,
                        }
                        .into());
                    }
                    let existing = described.map_or(0, |d| d.partitions.len());
                    Some(lists.into_iter().skip(existing).collect())
                }
            };
            brokers
                .bootstrap()
                .create_partitions(&topic, partitions, added, timeout)?;
            match format {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"topic": topic, "partitions": partitions}))?
                }
                OutputFormat::Table => println!("{topic} now has {partitions} partitions"),
            }
        }
        TopicCommand::Reassign {
            topic,
            partition,
            verify: true,
            ..
        } => {
            let ongoing = brokers.bootstrap().list_partition_reassignments(timeout)?;
            let moving = ongoing
                .iter()
                .any(|r| r.topic == topic && r.partition == partition);
            if !moving {
                reassign_throttle::clear_throttle(&mut brokers, &topic, partition)?;
            }
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "topic": topic,
                    "partition": partition,
                    "complete": !moving,
                    "throttle_removed": !moving,
                }))?,
                OutputFormat::Table if moving => {
                    println!("reassignment of {topic}-{partition} is still in progress")
                }
                OutputFormat::Table => println!(
                    "reassignment of {topic}-{partition} is complete; its throttled replicas are removed"
                ),
            }
        }
        TopicCommand::Reassign {
            topic,
            partition,
            replicas,
            cancel,
            throttle,
            verify: false,
        } => {
            let target = (!cancel).then_some(replicas.as_slice());
            let throttled = if throttle {
                Some(reassign_throttle::throttle_move(
                    &mut brokers,
                    &topic,
                    partition,
                    &replicas,
                )?)
            } else {
                None
            };
            if let Some(unbounded) = throttled
                .as_ref()
                .map(|t| &t.unbounded_brokers)
                .filter(|b| !b.is_empty())
            {
                eprintln!(
                    "warning: brokers {} leave their replication throttled rate at the default: the move is not throttled there",
                    id_list(unbounded)
                );
            }
            brokers
                .bootstrap()
                .alter_partition_reassignment(&topic, partition, target, timeout)?;
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "topic": topic,
                    "partition": partition,
                    "replicas": target,
                    "cancelled": cancel,
                    "throttle": throttled,
                }))?,
                OutputFormat::Table if cancel => {
                    println!("cancelled the reassignment of {topic}-{partition}")
                }
                OutputFormat::Table => println!(
                    "reassigning {topic}-{partition} to replicas {}",
                    id_list(&replicas)
                ),
            }
        }
        TopicCommand::Reassignments => {
            let ongoing = brokers.bootstrap().list_partition_reassignments(timeout)?;
            match format {
                OutputFormat::Json => print_json(&ongoing)?,
                OutputFormat::Table => print_table(
                    &["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"],
                    &ongoing
                        .iter()
                        .map(|r| {
                            vec![
                                r.topic.clone(),
                                r.partition.to_string(),
                                id_list(&r.replicas),
                                id_list(&r.adding_replicas),
                                id_list(&r.removing_replicas),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            }
        }
        TopicCommand::Delete { topic } => {
            brokers.controller()?.delete_topic(&topic, timeout)?;
            match format {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"topic": topic, "deleted": true}))?
                }
                OutputFormat::Table => println!("deleted topic {topic}"),
            }
        }
    }
    Ok(())
}

/// Followers' lag as `BROKER:RECORDS,…` (`?` for a broker that did not
/// answer).
fn lag_list(lag: &[(i32, Option<i64>)]) -> String {
    lag.iter()
        .map(|(broker, records)| match records {
            Some(records) => format!("{broker}:{records}"),
            None => format!("{broker}:?"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `description` as Kafka's `kafka-topics --describe` lays it out: a line
/// for the topic, then a tab-indented line per partition, fields separated
/// by tabs (with the leader epoch and offsets besides Kafka's fields).
fn describe_text(description: &TopicDescription) -> String {
    let replication_factor = description
        .partitions
        .first()
        .map_or(0, |partition| partition.replicas.len());
    let configs: Vec<String> = description
        .configs
        .iter()
        .map(|(name, value)| format!("{name}={}", value.as_deref().unwrap_or("")))
        .collect();
    let mut out = format!(
        "Topic: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
        description.name,
        description.partitions.len(),
        replication_factor,
        configs.join(",")
    );
    for row in &description.partitions {
        let leader = if row.leader < 0 {
            "none".to_owned()
        } else {
            row.leader.to_string()
        };
        out.push_str(&format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tLeaderEpoch: {}\tReplicas: {}\tIsr: {}\tLogStartOffset: {}\tHighWatermark: {}\tLag: {}\n",
            description.name,
            row.partition,
            leader,
            row.leader_epoch,
            id_list(&row.replicas),
            id_list(&row.isr),
            row.log_start_offset,
            row.high_watermark,
            lag_list(&row.lag),
        ));
    }
    out
}

fn describe(
    brokers: &mut Brokers,
    topic: &str,
    all_configs: bool,
) -> anyhow::Result<TopicDescription> {
    let metadata = brokers.bootstrap().metadata(Some(&[topic]))?;
    let topic_metadata = metadata
        .topics
        .get(topic)
        .with_context(|| format!("metadata does not mention {topic}"))?;
    if topic_metadata.error_code != 0 {
        return Err(ClientError::Kafka {
            api: ApiKey::Metadata,
            code: topic_metadata.error_code,
            context: Some(topic.to_owned()),
            message: None,
        }
        .into());
    }
    let mut partitions = Vec::new();
    for placement in &topic_metadata.partitions {
        let index = placement.partition;
        let leader = brokers.leader(&metadata, topic, index)?;
        let first = |pairs: Vec<(i32, i64)>| pairs.first().map_or(-1, |pair| pair.1);
        let log_start_offset = first(leader.list_offsets(topic, &[index], OffsetSpec::Earliest)?);
        let high_watermark = first(leader.list_offsets(topic, &[index], OffsetSpec::Latest)?);
        let leader_log_end_offset = first(leader.replica_log_end_offsets(topic, &[index])?);
        let mut lag = Vec::new();
        for follower in placement
            .replicas
            .iter()
            .filter(|b| **b != placement.leader_id)
        {
            // A broker that is down or does not answer leaves its lag unknown.
            let log_end_offset = metadata
                .brokers
                .get(follower)
                .and_then(|address| brokers.to(&address.to_address()).ok())
                .and_then(|connection| connection.replica_log_end_offsets(topic, &[index]).ok())
                .map(first);
            lag.push((
                *follower,
                log_end_offset.map(|end| (leader_log_end_offset - end).max(0)),
            ));
        }
        partitions.push(PartitionRow {
            partition: index,
            leader: placement.leader_id,
            leader_epoch: placement.leader_epoch,
            replicas: placement.replicas.clone(),
            isr: placement.isr.clone(),
            log_start_offset,
            high_watermark,
            lag,
        });
    }
    let configs = brokers
        .bootstrap()
        .describe_configs(ConfigResource::Topic, topic)?
        .into_iter()
        .filter(|entry| all_configs || entry.source != "DEFAULT_CONFIG")
        .map(|entry| (entry.name, entry.value))
        .collect();
    Ok(TopicDescription {
        name: topic.to_owned(),
        partitions,
        configs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_assignments_read_as_kafka_topics_writes_them() {
        assert_eq!(
            parse_replica_assignment("1:2:3, 2:3:1,3"),
            Ok(ReplicaAssignment(vec![
                vec![1, 2, 3],
                vec![2, 3, 1],
                vec![3]
            ]))
        );
        assert!(parse_replica_assignment("1:x").is_err());
        assert!(parse_replica_assignment("1,,2").is_err());
        assert!(parse_replica_assignment("").is_err());
    }

    #[test]
    fn describe_lays_partitions_out_as_kafka_topics_does() {
        let description = TopicDescription {
            name: "orders".into(),
            partitions: vec![
                PartitionRow {
                    partition: 0,
                    leader: 2,
                    leader_epoch: 5,
                    replicas: vec![2, 0, 1],
                    isr: vec![2, 0],
                    log_start_offset: 0,
                    high_watermark: 42,
                    lag: vec![(0, Some(0)), (1, Some(17))],
                },
                PartitionRow {
                    partition: 1,
                    leader: -1,
                    leader_epoch: 3,
                    replicas: vec![0, 1, 2],
                    isr: vec![],
                    log_start_offset: 7,
                    high_watermark: 7,
                    lag: vec![(1, None), (2, None)],
                },
            ],
            configs: [
                ("retention.ms".to_owned(), Some("60000".to_owned())),
                ("cleanup.policy".to_owned(), Some("compact".to_owned())),
            ]
            .into_iter()
            .collect(),
        };
        assert_eq!(
            describe_text(&description),
            "Topic: orders\tPartitionCount: 2\tReplicationFactor: 3\t\
             Configs: cleanup.policy=compact,retention.ms=60000\n\
             \tTopic: orders\tPartition: 0\tLeader: 2\tLeaderEpoch: 5\t\
             Replicas: 2,0,1\tIsr: 2,0\tLogStartOffset: 0\tHighWatermark: 42\tLag: 0:0,1:17\n\
             \tTopic: orders\tPartition: 1\tLeader: none\tLeaderEpoch: 3\t\
             Replicas: 0,1,2\tIsr: \tLogStartOffset: 7\tHighWatermark: 7\tLag: 1:?,2:?\n"
        );
    }
}
