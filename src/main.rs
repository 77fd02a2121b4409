//! pgsqlms: Pacemaker OCF resource agent for PostgreSQL streaming replication.

use clap::{CommandFactory, FromArgMatches, Parser};
use pgsqlms::actions::Action;

/// Pacemaker OCF resource agent for PostgreSQL streaming-replication clusters.
///
/// Pacemaker runs it with the action as its only argument and the resource's settings in
/// OCF_RESKEY_* variables; the exit code is the OCF result.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    action: String,
}

fn main() {
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let command = Cli::command().mut_arg("action", |arg| {
        arg.help(format!("The OCF action: {}", names.join(", ")))
    });
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    std::process::exit(pgsqlms::run(&cli.action).exit_code());
}
