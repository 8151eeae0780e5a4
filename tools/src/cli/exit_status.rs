//! Exit codes scripts can trust, and error reports an operator can act on.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the broker answered with a Kafka error (or an answer we cannot use) |
//! | 2 | usage: bad arguments or input |
//! | 3 | no broker reachable (connect refused, timeout, connection lost) |
use std::process::ExitCode;

use crate::client::{error_code_name, ClientError};

/// Exit code of a Kafka error or unusable answer.
pub const KAFKA_ERROR: u8 = 1;
/// Exit code of bad arguments or input (clap uses it too).
pub const USAGE: u8 = 2;
/// Exit code when no broker could be reached or the connection was lost.
pub const UNREACHABLE: u8 = 3;

/// The exit-code table of `--help`, as a literal so `concat!` can append it
/// to a subcommand's examples.
#[macro_export]
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
  0  success
  1  the broker answered with a Kafka error (the message names it, e.g. TOPIC_ALREADY_EXISTS)
  2  usage error: bad arguments or input
  3  broker unreachable: nothing listens at --bootstrap-servers, or the connection was lost"
    };
}

/// The text of `--help` that documents the exit codes.
pub const EXIT_CODES_HELP: &str = exit_codes_help!();

/// A mistake in the command line or its input, reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Prints `error` (with a hint where one helps) to stderr and returns the
/// exit code its kind calls for.
pub fn report(error: &anyhow::Error) -> ExitCode {
    eprintln!("skein: {error:#}");
    if error
        .chain()
        .any(|cause| cause.downcast_ref::<UsageError>().is_some())
    {
        return ExitCode::from(USAGE);
    }
    let client_error = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<ClientError>());
    match client_error {
        Some(
            ClientError::NoReachableBroker { .. }
            | ClientError::Connect { .. }
            | ClientError::Io { .. }
            | ClientError::Closed { .. }
            | ClientError::Timeout { .. },
        ) => {
            eprintln!(
                "hint: is a broker running there? Set -b/--bootstrap-servers or SKEIN_BROKERS (host:port[,host:port])."
            );
            ExitCode::from(UNREACHABLE)
        }
        Some(ClientError::Kafka { code, .. }) => {
            if let Some(hint) = hint(&error_code_name(*code)) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(KAFKA_ERROR)
        }
        _ => ExitCode::from(KAFKA_ERROR),
    }
}

/// What to do about the Kafka errors an operator meets most.
fn hint(code_name: &str) -> Option<&'static str> {
    Some(match code_name {
        "TOPIC_ALREADY_EXISTS" => {
            "the topic exists; inspect it with `skein topic describe`, or pass --if-not-exists"
        }
        "UNKNOWN_TOPIC_OR_PARTITION" => {
            "no such topic or partition; list topics with `skein topic list`"
        }
        "INVALID_PARTITIONS" => {
            "partitions can only be added: give a total larger than the current count"
        }
        "INVALID_REPLICATION_FACTOR" => {
            "the replication factor is above the unfenced brokers; see `skein cluster info`"
        }
        "INVALID_REPLICA_ASSIGNMENT" => {
            "each partition lists registered brokers, none twice, all lists as long; see `skein cluster info`"
        }
        "INVALID_CONFIG" => "see docs/configuration.md for valid names and ranges",
        "INVALID_TOPIC_EXCEPTION" => {
            "topic names use [a-zA-Z0-9._-], at most 249 characters, and are not . or .."
        }
        "TOPIC_DELETION_DISABLED" => "the broker runs with delete.topic.enable=false",
        "GROUP_ID_NOT_FOUND" => "no such group; list groups with `skein group list`",
        "NON_EMPTY_GROUP" | "UNKNOWN_MEMBER_ID" | "REBALANCE_IN_PROGRESS" => {
            "the group has active members; stop its consumers first"
        }
        "COORDINATOR_NOT_AVAILABLE" | "COORDINATOR_LOAD_IN_PROGRESS" | "NOT_COORDINATOR" => {
            "the group coordinator is not ready; retry in a few seconds"
        }
        "OFFSET_OUT_OF_RANGE" => {
            "the offset is outside [log start, log end); see `skein topic describe`"
        }
        "UNSUPPORTED_VERSION" => "the broker does not speak a version of this API the CLI does",
        _ => return None,
    })
}
