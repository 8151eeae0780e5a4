//! The `skein` binary: `serve` runs a broker; `bench` is the load generator;
//! `topic|group|cluster|produce|consume|config|completions` are the
//! operator's tools (`cli`). Every subcommand lives in its own module; this
//! file only dispatches.

mod bench;
mod cli;
mod client;
mod config_file;
mod node;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// What `skein --help` says beyond the one-line summaries.
const LONG_ABOUT: &str = "\
Skein: a Kafka-wire-compatible streaming broker.

`skein serve` runs a broker. The admin subcommands speak the Kafka protocol,
so they work against any Kafka-compatible broker; they find it through
-b/--bootstrap-servers or the SKEIN_BROKERS environment variable (default
localhost:9092). Admin output is a table for people, or JSON with
--format json for scripts.

Examples:
  skein serve --data-dir /var/lib/skein
  skein topic create events -p 6 -c retention.ms=86400000
  skein topic list --format json
  skein topic describe events
  echo 'user1:hello' | skein produce events -K :
  skein consume events -o -10 -K ' => '
  skein group describe billing
  skein group reset-offsets billing -t events --to-earliest --execute
  skein cluster info -b broker1:9092
  skein completions bash > /etc/bash_completion.d/skein";

/// Skein: a Kafka-wire-compatible streaming broker.
#[derive(Debug, Parser)]
#[command(
    name = "skein",
    version,
    about,
    long_about = LONG_ABOUT,
    after_help = cli::exit_status::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a broker (single node, controller included).
    Serve(serve::ServeArgs),
    /// Load-generate against any Kafka-compatible broker.
    Bench(bench::BenchArgs),
    /// Create, list, describe, alter, grow and delete topics.
    #[command(after_help = cli::exit_status::EXIT_CODES_HELP)]
    Topic(cli::topic::TopicArgs),
    /// List, describe and delete consumer groups; reset their offsets.
    #[command(after_help = cli::exit_status::EXIT_CODES_HELP)]
    Group(cli::group::GroupArgs),
    /// The cluster: id, controller, brokers, API versions.
    #[command(after_help = cli::exit_status::EXIT_CODES_HELP)]
    Cluster(cli::cluster::ClusterArgs),
    /// Add, remove and list SCRAM users (SASL/SCRAM logins).
    #[command(after_help = cli::exit_status::EXIT_CODES_HELP)]
    User(cli::user::UserArgs),
    /// Add, remove and list ACL bindings (needs authorizer.class.name on the broker).
    #[command(after_help = cli::exit_status::EXIT_CODES_HELP)]
    Acl(cli::acl::AclArgs),
    /// Write records from stdin to a topic (kcat -P style).
    Produce(cli::produce::ProduceArgs),
    /// Print a topic's records (kcat -C style).
    Consume(cli::consume::ConsumeArgs),
    /// The broker configuration reference.
    Config(cli::config_docs::ConfigArgs),
    /// Print a shell completion script, e.g. `skein completions bash > /etc/bash_completion.d/skein`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Topic(args) => return cli::finish(cli::topic::run(args)),
        Command::Group(args) => return cli::finish(cli::group::run(args)),
        Command::Cluster(args) => return cli::finish(cli::cluster::run(args)),
        Command::User(args) => return cli::finish(cli::user::run(args)),
        Command::Acl(args) => return cli::finish(cli::acl::run(args)),
        Command::Produce(args) => return cli::finish(cli::produce::run(args)),
        Command::Consume(args) => return cli::finish(cli::consume::run(args)),
        Command::Config(args) => {
            cli::config_docs::run(args);
            return ExitCode::SUCCESS;
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "skein", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("skein: {error:#}");
            ExitCode::FAILURE
        }
    }
}
