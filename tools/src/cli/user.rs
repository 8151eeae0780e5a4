//! `skein user add|remove|list`: SCRAM users (AlterUserScramCredentials and
//! DescribeUserScramCredentials), as Kafka's
//! `kafka-configs --alter --entity-type users --add-config 'SCRAM-SHA-256=[…]'`.
//! The password is salted here; the broker stores only the salted keys.
use skein_controller::{ScramMechanism, SCRAM_ITERATIONS_MIN};

use super::brokers::{Brokers, ConnectOptions};
use super::exit_status::UsageError;
use super::output::{print_json, print_table, OutputFormat};

/// Options of every user subcommand.
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    connect: ConnectOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "table", global = true)]
    format: OutputFormat,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Create a SCRAM user, or replace its credential for the mechanism.
    Add {
        /// User name.
        name: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-256")]
        mechanism: String,
        /// The password (better given in the environment).
        #[arg(long, env = "SKEIN_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// PBKDF2 iterations, 4096 to 16384.
        #[arg(long, default_value_t = SCRAM_ITERATIONS_MIN)]
        iterations: i32,
    },
    /// Remove a SCRAM user's credential for one mechanism, or all of them.
    Remove {
        /// User name.
        name: String,
        /// Only this mechanism (default: every one the user has).
        #[arg(long)]
        mechanism: Option<String>,
    },
    /// List SCRAM users with their mechanisms and iterations.
    List {
        /// Only these users (default: every user).
        names: Vec<String>,
    },
}

fn mechanism(name: &str) -> anyhow::Result<ScramMechanism> {
    ScramMechanism::from_mechanism_name(&name.to_ascii_uppercase()).ok_or_else(|| {
        UsageError(format!(
            "unknown mechanism {name}: use SCRAM-SHA-256 or SCRAM-SHA-512"
        ))
        .into()
    })
}

/// Runs `skein user …`.
///
/// # Errors
/// A usage error, an unreachable broker, or the broker's error code.
pub fn run(args: UserArgs) -> anyhow::Result<()> {
    let mut brokers = Brokers::connect(&args.connect)?;
    let connection = brokers.bootstrap();
    match args.command {
        UserCommand::Add {
            name,
            mechanism: m,
            password,
            iterations,
        } => {
            connection.upsert_scram_user(&name, mechanism(&m)?, &password, iterations)?;
            eprintln!("user {name}: {} credential set", m.to_ascii_uppercase());
        }
        UserCommand::Remove { name, mechanism: m } => {
            let mechanisms = match m {
                Some(m) => vec![mechanism(&m)?],
                None => connection
                    .describe_scram_users(std::slice::from_ref(&name))?
                    .into_iter()
                    .flat_map(|user| user.credentials)
                    .filter_map(|(m, _)| ScramMechanism::from_mechanism_name(&m))
                    .collect(),
            };
            for m in mechanisms {
                connection.delete_scram_user(&name, m)?;
                eprintln!("user {name}: {} credential removed", m.mechanism_name());
            }
        }
        UserCommand::List { names } => {
            let users = connection.describe_scram_users(&names)?;
            match args.format {
                OutputFormat::Json => print_json(&users)?,
                OutputFormat::Table => {
                    let rows: Vec<Vec<String>> = users
                        .iter()
                        .flat_map(|user| {
                            user.credentials.iter().map(|(m, iterations)| {
                                vec![user.name.clone(), m.clone(), iterations.to_string()]
                            })
                        })
                        .collect();
                    print_table(&["USER", "MECHANISM", "ITERATIONS"], &rows);
                }
            }
        }
    }
    Ok(())
}
