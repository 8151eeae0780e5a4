//! `skein bench`: the load generator. Speaks the Kafka protocol itself, so it
//! works against any Kafka-compatible broker.
use std::process::ExitCode;

/// The `skein bench` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Produce at a target rate and report throughput and latency.
    Produce,
}

/// Runs one bench subcommand.
pub fn run(_command: BenchCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
