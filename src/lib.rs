//! pgsqlms: Pacemaker OCF resource agent for PostgreSQL streaming replication. The binary
//! (`main.rs`) only parses its command line and calls `run`.

pub mod accounts;
pub mod actions;
pub mod agent;
pub mod attributes;
pub mod command;
pub mod config;
pub mod conninfo;
pub mod controldata;
pub mod datadir;
pub mod deadline;
pub mod divergence;
pub mod election;
pub mod headless;
pub mod headless_recovery;
pub mod instance;
pub mod log;
pub mod lsn;
pub mod notify;
pub mod ocf;
pub mod pg;
pub mod processes;
pub mod rejoin;
pub mod scores;
pub mod shutdown_checkpoint;
pub mod state;
pub mod statefile;
pub mod validate;

#[cfg(test)]
mod exit_reason_texts;

use actions::{Action, Dispatch};
use ocf::OcfCode;

/// Runs `action` (as Pacemaker names it) with the settings in the environment, and returns
/// the OCF result.
pub fn run(action: &str) -> OcfCode {
    let Some(action) = Action::parse(action) else {
        init_logging(&std::env::vars().collect());
        ocf::OcfError::new(
            OcfCode::ErrUnimplemented,
            format!("action {:?} is not implemented", log::brief(action)),
        )
        .with_remedy(ocf::remedy!("see 'pgsqlms methods'"))
        .report(log::Level::Error);
        return OcfCode::ErrUnimplemented;
    };
    let with_agent = match action.dispatch() {
        Dispatch::Plain(print) => {
            print();
            return OcfCode::Success;
        }
        Dispatch::WithAgent(f) => f,
    };
    let env: config::Env = std::env::vars().collect();
    init_logging(&env);
    // PostgreSQL's programs run as the system user, who may not enter the caller's cwd.
    let _ = std::env::set_current_dir("/");
    let result = agent::Agent::new(env).and_then(|agent| {
        if action != Action::Monitor {
            // Transitions change scores outside the monitor: its cache is stale now.
            statefile::forget(&agent.state_file());
        }
        with_agent(&agent)
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

/// Logging as Pacemaker set it up for the resource (see `log.rs`).
fn init_logging(env: &config::Env) {
    let resource = config::Meta::from_env(env).resource;
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
}
