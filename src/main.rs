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
    // `show` and `history` are commands for people, not OCF actions: they take options,
    // and stay out of the action list.
    let mut args = std::env::args().skip(1);
    if let Some(command) = args
        .next()
        .filter(|c| pgsqlms::show_command::COMMANDS.contains(&c.as_str()))
    {
        std::process::exit(pgsqlms::show_command::main(&command, args.collect()));
    }
    let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    let command = Cli::command().mut_arg("action", |arg| {
        arg.help(format!(
            "The OCF action: {}. For administrators: 'pgsqlms show --help', 'pgsqlms history --help'",
            names.join(", ")
        ))
    });
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    std::process::exit(pgsqlms::run(&cli.action).exit_code());
}
