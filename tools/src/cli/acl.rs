//! `skein acl add|list|remove`: ACL bindings (CreateAcls, DescribeAcls,
//! DeleteAcls), as Kafka's `kafka-acls --add|--list|--remove`. The broker
//! must run with an authorizer (`authorizer.class.name`).
use skein_controller::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::output::{print_json, print_table, OutputFormat};

/// Options of every acl subcommand.
#[derive(Debug, clap::Args)]
pub struct AclArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: AclCommand,
}

/// The resource a binding names (one of them) and how.
#[derive(Debug, clap::Args)]
struct ResourceOptions {
    /// A topic (or prefix, with --resource-pattern-type prefixed; `*`: every topic).
    #[arg(long)]
    topic: Option<String>,
    /// A consumer group.
    #[arg(long)]
    group: Option<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// A transactional id.
    #[arg(long)]
    transactional_id: Option<String>,
    /// A user (the USER resource).
    #[arg(long)]
    user: Option<String>,
    /// literal or prefixed (add); any, match, literal or prefixed (list, remove).
    #[arg(long)]
    resource_pattern_type: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum AclCommand {
    /// Create bindings: the principal is allowed (or denied) each operation.
    Add {
        #[command(flatten)]
        resource: ResourceOptions,
        /// The principal, `User:name` (`User:*`: everyone).
        #[arg(long)]
        principal: String,
        /// The client host (`*`: any).
        #[arg(long, default_value = "*")]
        host: String,
        /// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, CLUSTER_ACTION,
        /// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALL (repeatable).
        #[arg(long = "operation", required = true)]
        operations: Vec<String>,
        /// Deny instead of allow.
        #[arg(long)]
        deny: bool,
    },
    /// List the bindings that match (every binding without options).
    List {
        #[command(flatten)]
        resource: ResourceOptions,
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Remove the bindings that match; prints them.
    Remove {
        #[command(flatten)]
        resource: ResourceOptions,
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
        /// Only this host's.
        #[arg(long)]
        host: Option<String>,
        /// Only this operation's.
        #[arg(long)]
        operation: Option<String>,
        /// Remove every binding when no resource or principal is given.
        #[arg(long)]
        all: bool,
    },
}

/// One binding as printed.
#[derive(Debug, serde::Serialize)]
struct AclRow {
    resource_type: String,
    resource_name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

impl From<&AclBinding> for AclRow {
    fn from(b: &AclBinding) -> AclRow {
        AclRow {
            resource_type: b.resource_type.to_string(),
            resource_name: b.resource_name.clone(),
            pattern_type: b.pattern_type.to_string(),
            principal: b.principal.clone(),
            host: b.host.clone(),
            operation: b.operation.to_string(),
            permission: b.permission.to_string(),
        }
    }
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

impl ResourceOptions {
    /// The resource named, if any (at most one may be).
    fn resource(&self) -> anyhow::Result<Option<(ResourceType, String)>> {
        let mut named = Vec::new();
        if let Some(t) = &self.topic {
            named.push((ResourceType::Topic, t.clone()));
        }
        if let Some(g) = &self.group {
            named.push((ResourceType::Group, g.clone()));
        }
        if self.cluster {
            named.push((ResourceType::Cluster, "kafka-cluster".to_string()));
        }
        if let Some(t) = &self.transactional_id {
            named.push((ResourceType::TransactionalId, t.clone()));
        }
        if let Some(u) = &self.user {
            named.push((ResourceType::User, u.clone()));
        }
        if named.len() > 1 {
            return Err(usage(
                "name one resource: --topic, --group, --cluster, --transactional-id or --user"
                    .into(),
            ));
        }
        Ok(named.pop())
    }

    fn pattern_type(&self, default: PatternType) -> anyhow::Result<PatternType> {
        match &self.resource_pattern_type {
            None => Ok(default),
            Some(p) => PatternType::from_name(p).ok_or_else(|| {
                usage(format!(
                    "unknown pattern type {p}: use literal, prefixed, any or match"
                ))
            }),
        }
    }
}

fn operation(name: &str) -> anyhow::Result<AclOperation> {
    AclOperation::from_name(name)
        .filter(|op| *op != AclOperation::Any)
        .ok_or_else(|| usage(format!("unknown operation {name}")))
}

fn print(format: OutputFormat, bindings: &[AclBinding]) -> anyhow::Result<()> {
    let rows: Vec<AclRow> = bindings.iter().map(AclRow::from).collect();
    match format {
        OutputFormat::Json => print_json(&rows)?,
        OutputFormat::Table => {
            let table: Vec<Vec<String>> = rows
                .into_iter()
                .map(|r| {
                    vec![
                        r.resource_type,
                        r.resource_name,
                        r.pattern_type,
                        r.principal,
                        r.host,
                        r.operation,
                        r.permission,
                    ]
                })
                .collect();
            print_table(
                &[
                    "RESOURCE_TYPE",
                    "NAME",
                    "PATTERN",
                    "PRINCIPAL",
                    "HOST",
                    "OPERATION",
                    "PERMISSION",
                ],
                &table,
            );
        }
    }
    Ok(())
}

/// Runs `skein acl …`.
///
/// # Errors
/// A usage error, an unreachable broker, or the broker's error code.
pub fn run(args: AclArgs) -> anyhow::Result<()> {
    let mut brokers = Brokers::connect(&args.connect)?;
    let connection = brokers.bootstrap();
    match args.command {
        AclCommand::Add {
            resource,
            principal,
            host,
            operations,
            deny,
        } => {
            let (resource_type, resource_name) = resource.resource()?.ok_or_else(|| {
                usage(
                    "name a resource: --topic, --group, --cluster, --transactional-id or --user"
                        .into(),
                )
            })?;
            let pattern_type = resource.pattern_type(PatternType::Literal)?;
            let permission = if deny {
                AclPermission::Deny
            } else {
                AclPermission::Allow
            };
            let bindings = operations
                .iter()
                .map(|op| {
                    Ok(AclBinding {
                        resource_type,
                        resource_name: resource_name.clone(),
                        pattern_type,
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: operation(op)?,
                        permission,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            connection.create_acls(&bindings)?;
            eprintln!("{} ACL binding(s) added", bindings.len());
        }
        AclCommand::List {
            resource,
            principal,
        } => {
            let filter = filter(&resource, principal, None, None)?;
            let bindings = connection.describe_acls(&filter)?;
            print(args.format, &bindings)?;
        }
        AclCommand::Remove {
            resource,
            principal,
            host,
            operation: op,
            all,
        } => {
            if !all && resource.resource()?.is_none() && principal.is_none() {
                return Err(usage(
                    "name a resource or a principal, or give --all to remove every binding".into(),
                ));
            }
            let op = op.as_deref().map(operation).transpose()?;
            let filter = filter(&resource, principal, host, op)?;
            let removed = connection.delete_acls(&filter)?;
            print(args.format, &removed)?;
            eprintln!("{} ACL binding(s) removed", removed.len());
        }
    }
    Ok(())
}

fn filter(
    resource: &ResourceOptions,
    principal: Option<String>,
    host: Option<String>,
    operation: Option<AclOperation>,
) -> anyhow::Result<AclBindingFilter> {
    let named = resource.resource()?;
    let pattern_type = resource.pattern_type(PatternType::Any)?;
    Ok(AclBindingFilter {
        resource_type: named.as_ref().map_or(ResourceType::Any, |(t, _)| *t),
        resource_name: named.map(|(_, n)| n),
        pattern_type,
        principal,
        host,
        operation: operation.unwrap_or(AclOperation::Any),
        permission: AclPermission::Any,
    })
}
