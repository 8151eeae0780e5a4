//! The operator's subcommands: `topic`, `group`, `cluster`, `produce`,
//! `consume`, `user`, `acl` over the Kafka protocol (so they work against any
//! Kafka-compatible broker), `config docs`, and shell completions.
//!
//! Each subcommand returns `anyhow::Result`; [`exit_status::report`] turns
//! an error into a message that names the Kafka error code and an exit code
//! scripts can trust (0 ok, 1 Kafka error, 2 usage, 3 unreachable).

pub mod acl;
mod brokers;
pub mod client_properties;
pub mod cluster;
pub mod config_docs;
pub mod consume;
pub mod exit_status;
pub mod group;
mod output;
pub mod produce;
mod reassign_throttle;
mod record_template;
pub mod topic;
pub mod user;

use std::process::ExitCode;

/// Runs one CLI subcommand and maps its outcome to an exit code.
pub fn finish(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => exit_status::report(&error),
    }
}
