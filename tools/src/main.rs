//! The `skein` binary: `serve` runs a broker; `bench` is the load generator.
//! Every subcommand lives in its own module; this file only dispatches.

mod bench;
mod client;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Skein: a Kafka-wire-compatible streaming broker.
#[derive(Debug, Parser)]
#[command(name = "skein", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (single node, controller included).
    Serve(serve::ServeArgs),
    /// Load-generate against any Kafka-compatible broker.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(command) => bench::run(command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("skein: {error:#}");
            ExitCode::FAILURE
        }
    }
}
