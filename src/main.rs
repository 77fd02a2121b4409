//! pgsqlms: Pacemaker OCF resource agent for PostgreSQL streaming replication.

mod accounts;
mod actions;
mod agent;
mod attributes;
mod command;
mod config;
mod conninfo;
mod controldata;
mod datadir;
mod deadline;
mod election;
mod headless;
mod instance;
mod log;
mod lsn;
mod notify;
mod ocf;
mod pg;
mod processes;
mod scores;
mod shutdown_checkpoint;
mod state;
mod statefile;
mod validate;

#[cfg(test)]
mod exit_reason_texts;

use clap::Parser;
use ocf::OcfCode;

/// Pacemaker OCF resource agent for PostgreSQL streaming-replication clusters.
///
/// Pacemaker runs it with the action as its only argument and the resource's settings in
/// OCF_RESKEY_* variables; the exit code is the OCF result.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// start, stop, monitor, promote, demote, notify, reload, meta-data, validate-all or
    /// methods
    action: String,
}

fn main() {
    let cli = Cli::parse();
    std::process::exit(run(&cli.action).exit_code());
}

fn run(action: &str) -> OcfCode {
    match action {
        "meta-data" => {
            actions::meta_data::meta_data();
            return OcfCode::Success;
        }
        "methods" => {
            actions::methods::methods();
            return OcfCode::Success;
        }
        _ => {}
    }
    let env: config::Env = std::env::vars().collect();
    let resource = config::Meta::from_env(&env).resource;
    // Pacemaker exports the facility as HA_logfacility (and PCMK_logfacility); the
    // shell agents' HA_LOGFACILITY takes precedence when set.
    let facility = ["HA_LOGFACILITY", "HA_logfacility", "PCMK_logfacility"]
        .iter()
        .find_map(|k| env.get(*k))
        .map(String::as_str);
    log::init(
        &resource,
        facility,
        env.get("HA_debug").is_some_and(|v| v == "1"),
    );
    if !actions::ACTIONS.contains(&action) {
        ocf::OcfError::new(
            OcfCode::ErrUnimplemented,
            format!("action {:?} is not implemented", log::brief(action)),
        )
        .with_remedy(ocf::remedy!("see 'pgsqlms methods'"))
        .report(log::Level::Error);
        return OcfCode::ErrUnimplemented;
    }
    // PostgreSQL's programs run as the system user, who may not enter the caller's cwd.
    let _ = std::env::set_current_dir("/");
    let result = agent::Agent::new(env).and_then(|agent| {
        if action != "monitor" {
            // Transitions change scores outside the monitor: its cache is stale now.
            statefile::forget(&agent.state_file());
        }
        actions::run(action, &agent)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // A stopped instance is a normal answer, not an error to shout about.
            let level = if e.code == OcfCode::NotRunning {
                log::Level::Info
            } else {
                log::Level::Error
            };
            e.report(level);
            e.code
        }
    }
}
