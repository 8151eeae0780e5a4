//! `skein group list|describe|delete|reset-offsets`: consumer groups over
//! the Kafka group APIs, each sent to the group's coordinator.
use std::collections::BTreeMap;

use serde::Serialize;

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::output::{print_json, print_table, OutputFormat};
use crate::client::{CommittedOffsets, ListedGroup, OffsetSpec};

/// Options every group subcommand takes.
#[derive(Debug, clap::Args)]
pub struct GroupArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: GroupCommand,
}

#[derive(Debug, clap::Subcommand)]
enum GroupCommand {
    /// List every group the cluster's brokers coordinate.
    List,
    /// Show a group's state, members, committed offsets and lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Delete a group with no members, and its committed offsets.
    Delete {
        /// Group id.
        group: String,
    },
    /// Move a group's committed offsets. Prints the plan only (a dry run)
    /// unless --execute; the group must have no active members.
    #[command(group(clap::ArgGroup::new("target").required(true)))]
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions to reset. Repeatable; default: every topic the group committed.
        #[arg(short, long = "topic")]
        topics: Vec<String>,
        /// To each partition's log start offset.
        #[arg(long, group = "target")]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long, group = "target")]
        to_latest: bool,
        /// To the first offset at or after this time (ms since the UNIX epoch).
        #[arg(long, group = "target", value_name = "MS")]
        to_timestamp: Option<i64>,
        /// To this offset in every partition (clamped to the log's range).
        #[arg(long, group = "target", value_name = "OFFSET")]
        to_offset: Option<i64>,
        /// Commit the new offsets (without it, only print them).
        #[arg(long)]
        execute: bool,
    },
}

#[derive(Serialize)]
struct OffsetRow {
    topic: String,
    partition: i32,
    committed_offset: i64,
    log_end_offset: i64,
    lag: i64,
}

#[derive(Serialize)]
struct ResetRow {
    topic: String,
    partition: i32,
    current_offset: Option<i64>,
    new_offset: i64,
}

/// Runs a group subcommand.
///
/// # Errors
/// Connection, usage and Kafka errors.
pub fn run(args: GroupArgs) -> anyhow::Result<()> {
    let mut brokers = Brokers::connect(&args.connect)?;
    let format = args.format;
    match args.command {
        GroupCommand::List => {
            let metadata = brokers.bootstrap().metadata(Some(&[]))?;
            let mut groups: BTreeMap<String, ListedGroup> = BTreeMap::new();
            for address in metadata.brokers.values() {
                for group in brokers.to(&address.to_address())?.list_groups()? {
                    groups.insert(group.group_id.clone(), group);
                }
            }
            let groups: Vec<ListedGroup> = groups.into_values().collect();
            match format {
                OutputFormat::Json => print_json(&groups)?,
                OutputFormat::Table => print_table(
                    &["GROUP", "STATE", "PROTOCOL-TYPE"],
                    &groups
                        .iter()
                        .map(|g| vec![g.group_id.clone(), g.state.clone(), g.protocol_type.clone()])
                        .collect::<Vec<_>>(),
                ),
            }
        }
        GroupCommand::Describe { group } => {
            let (description, committed) = brokers.with_coordinator(&group, |coordinator| {
                Ok((
                    coordinator.describe_group(&group)?,
                    coordinator.committed_offsets(&group)?,
                ))
            })?;
            if description.state == "Dead" && committed.is_empty() {
                return Err(crate::client::ClientError::Kafka {
                    api: kafka_protocol::messages::ApiKey::DescribeGroups,
                    code: 69, // GROUP_ID_NOT_FOUND
                    context: Some(group),
                    message: None,
                }
                .into());
            }
            let offsets = lag_rows(&mut brokers, &committed)?;
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "group": description.group_id,
                    "state": description.state,
                    "protocol_type": description.protocol_type,
                    "protocol": description.protocol,
                    "members": description.members,
                    "offsets": offsets,
                }))?,
                OutputFormat::Table => {
                    println!(
                        "Group: {}  State: {}  Protocol: {}  Members: {}",
                        description.group_id,
                        description.state,
                        description.protocol,
                        description.members.len()
                    );
                    if !description.members.is_empty() {
                        println!();
                        print_table(
                            &["MEMBER", "CLIENT-ID", "HOST"],
                            &description
                                .members
                                .iter()
                                .map(|m| {
                                    vec![
                                        m.member_id.clone(),
                                        m.client_id.clone(),
                                        m.client_host.clone(),
                                    ]
                                })
                                .collect::<Vec<_>>(),
                        );
                    }
                    println!();
                    print_table(
                        &["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG"],
                        &offsets
                            .iter()
                            .map(|row| {
                                vec![
                                    row.topic.clone(),
                                    row.partition.to_string(),
                                    row.committed_offset.to_string(),
                                    row.log_end_offset.to_string(),
                                    row.lag.to_string(),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                }
            }
        }
        GroupCommand::Delete { group } => {
            brokers.with_coordinator(&group, |coordinator| coordinator.delete_group(&group))?;
            match format {
                OutputFormat::Json => {
                    print_json(&serde_json::json!({"group": group, "deleted": true}))?
                }
                OutputFormat::Table => println!("deleted group {group}"),
            }
        }
        GroupCommand::ResetOffsets {
            group,
            topics,
            to_earliest,
            to_latest,
            to_timestamp,
            to_offset,
            execute,
        } => {
            let target = if to_earliest {
                Target::Earliest
            } else if to_latest {
                Target::Latest
            } else if let Some(timestamp) = to_timestamp {
                Target::Timestamp(timestamp)
            } else if let Some(offset) = to_offset {
                Target::Offset(offset)
            } else {
                return Err(UsageError(
                    "give one of --to-earliest, --to-latest, --to-timestamp, --to-offset".into(),
                )
                .into());
            };
            let committed = brokers
                .with_coordinator(&group, |coordinator| coordinator.committed_offsets(&group))?;
            let topics: Vec<String> = if topics.is_empty() {
                let mut names: Vec<String> =
                    committed.keys().map(|(topic, _)| topic.clone()).collect();
                names.dedup();
                names
            } else {
                topics
            };
            if topics.is_empty() {
                return Err(UsageError(format!(
                    "group {group} has committed no offsets: name the topics with --topic"
                ))
                .into());
            }
            let plan = reset_plan(&mut brokers, &committed, &topics, target)?;
            if execute {
                let offsets: CommittedOffsets = plan
                    .iter()
                    .map(|row| ((row.topic.clone(), row.partition), row.new_offset))
                    .collect();
                brokers.with_coordinator(&group, |coordinator| {
                    coordinator.commit_offsets(&group, &offsets)
                })?;
            }
            match format {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "group": group,
                    "executed": execute,
                    "partitions": plan,
                }))?,
                OutputFormat::Table => {
                    print_table(
                        &["TOPIC", "PARTITION", "CURRENT", "NEW"],
                        &plan
                            .iter()
                            .map(|row| {
                                vec![
                                    row.topic.clone(),
                                    row.partition.to_string(),
                                    row.current_offset.map_or("-".to_owned(), |o| o.to_string()),
                                    row.new_offset.to_string(),
                                ]
                            })
                            .collect::<Vec<_>>(),
                    );
                    if execute {
                        println!("committed new offsets for group {group}");
                    } else {
                        println!("dry run: nothing changed; add --execute to commit these offsets");
                    }
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Earliest,
    Latest,
    Timestamp(i64),
    Offset(i64),
}

fn lag_rows(brokers: &mut Brokers, committed: &CommittedOffsets) -> anyhow::Result<Vec<OffsetRow>> {
    let topics: Vec<&str> = {
        let mut names: Vec<&str> = committed.keys().map(|(topic, _)| topic.as_str()).collect();
        names.dedup();
        names
    };
    let metadata = brokers.bootstrap().metadata(Some(&topics))?;
    let mut rows = Vec::new();
    for ((topic, partition), offset) in committed {
        let log_end_offset = brokers
            .leader(&metadata, topic, *partition)?
            .list_offsets(topic, &[*partition], OffsetSpec::Latest)?
            .first()
            .map_or(-1, |pair| pair.1);
        rows.push(OffsetRow {
            topic: topic.clone(),
            partition: *partition,
            committed_offset: *offset,
            log_end_offset,
            lag: (log_end_offset - offset).max(0),
        });
    }
    Ok(rows)
}

fn reset_plan(
    brokers: &mut Brokers,
    committed: &CommittedOffsets,
    topics: &[String],
    target: Target,
) -> anyhow::Result<Vec<ResetRow>> {
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let metadata = brokers.bootstrap().metadata(Some(&names))?;
    let mut plan = Vec::new();
    for topic in topics {
        let Some(topic_metadata) = metadata.topics.get(topic).filter(|t| t.error_code == 0) else {
            return Err(crate::client::ClientError::Kafka {
                api: kafka_protocol::messages::ApiKey::Metadata,
                code: 3, // UNKNOWN_TOPIC_OR_PARTITION
                context: Some(topic.clone()),
                message: None,
            }
            .into());
        };
        for placement in &topic_metadata.partitions {
            let partition = placement.partition;
            let leader = brokers.leader(&metadata, topic, partition)?;
            let only = |pairs: Vec<(i32, i64)>| pairs.first().map_or(0, |pair| pair.1);
            let earliest = only(leader.list_offsets(topic, &[partition], OffsetSpec::Earliest)?);
            let latest = only(leader.list_offsets(topic, &[partition], OffsetSpec::Latest)?);
            let new_offset = match target {
                Target::Earliest => earliest,
                Target::Latest => latest,
                Target::Offset(offset) => offset.clamp(earliest, latest),
                Target::Timestamp(timestamp) => leader
                    .offsets_for_time(topic, &[partition], timestamp)?
                    .first()
                    .and_then(|pair| pair.1)
                    .unwrap_or(latest),
            };
            plan.push(ResetRow {
                topic: topic.clone(),
                partition,
                current_offset: committed.get(&(topic.clone(), partition)).copied(),
                new_offset,
            });
        }
    }
    Ok(plan)
}
