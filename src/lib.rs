//! pgsqlms: Pacemaker OCF resource agent for PostgreSQL streaming replication. The binary
//! (`main.rs`) only parses its command line and calls `run`.

// Layers, each using only those listed after it: actions (one file per OCF action), agent
// (what the actions share), postgres and pacemaker (the two sides the agent talks to),
// system (programs and accounts), logic (pure decisions), ocf (codes, errors, logs).
// show_command: `pgsqlms show` and `pgsqlms history`, commands for administrators above
// the actions.
pub mod actions;
pub mod agent;
pub mod logic;
pub mod ocf;
pub mod pacemaker;
pub mod postgres;
pub mod show_command;
pub mod system;

use actions::{Action, Dispatch};
use ocf::OcfCode;

/// Runs `action` (as Pacemaker names it) with the settings in the environment, and returns
/// the OCF result.
pub fn run(action: &str) -> OcfCode {
    let Some(action) = Action::parse(action) else {
        init_logging(&std::env::vars().collect());
        ocf::OcfError::new(
            OcfCode::ErrUnimplemented,
            format!("action {:?} is not implemented", ocf::log::brief(action)),
        )
        .with_remedy(ocf::remedy!("see 'pgsqlms methods'"))
        .report(ocf::log::Level::Error);
        return OcfCode::ErrUnimplemented;
    };
    let with_agent = match action.dispatch() {
        Dispatch::Plain(print) => {
            print();
            return OcfCode::Success;
        }
        Dispatch::WithAgent(f) => f,
    };
    let env: ocf::config::Env = std::env::vars().collect();
    init_logging(&env);
    // PostgreSQL's programs run as the system user, who may not enter the caller's cwd.
    let _ = std::env::set_current_dir("/");
    let meta = ocf::config::Meta::from_env(&env);
    let (_, datadir) = ocf::config::Params::data_directories(&env);
    let result = match agent::Agent::new(env) {
        Ok(agent) => {
            if action != Action::Monitor {
                // Transitions change scores outside the monitor: its cache is stale now.
                agent::statefile::forget(&agent.state_file());
            }
            with_agent(&agent)
        }
        Err(why) => agent::answer_unusable(
            action.caller(&meta),
            &datadir,
            ocf::deadline::Deadline::for_action(meta.timeout),
            why,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // A stopped instance is a normal answer, not an error to shout about.
            let level = if e.code == OcfCode::NotRunning {
                ocf::log::Level::Info
            } else {
                ocf::log::Level::Error
            };
            e.report(level);
            e.code
        }
    }
}

/// Logging as Pacemaker set it up for the resource (see `log.rs`).
fn init_logging(env: &ocf::config::Env) {
    let resource = ocf::config::Meta::from_env(env).resource;
    // Pacemaker exports the facility as HA_logfacility (and PCMK_logfacility); the
    // shell agents' HA_LOGFACILITY takes precedence when set.
    let facility = ["HA_LOGFACILITY", "HA_logfacility", "PCMK_logfacility"]
        .iter()
        .find_map(|k| env.get(*k))
        .map(String::as_str);
    ocf::log::init(
        &resource,
        facility,
        env.get("HA_debug").is_some_and(|v| v == "1"),
    );
}
