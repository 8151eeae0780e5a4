//! `skein serve`: start a broker with embedded defaults.
use std::process::ExitCode;

/// Options of `skein serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

/// Runs the broker until SIGTERM/SIGINT.
pub fn run(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
