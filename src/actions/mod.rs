//! One file per OCF action.

pub mod demote;
pub mod headless_recovery;
pub mod meta_data;
pub mod methods;
pub mod monitor;
pub mod notify;
pub mod promote;
pub mod reload;
pub mod start;
pub mod stop;
pub mod validate_all;

use crate::agent::Agent;
use crate::ocf::{OcfCode, OcfResult};

/// The actions the agent implements, in the order `methods` lists them.
pub const ACTIONS: [&str; 10] = [
    "start",
    "stop",
    "monitor",
    "promote",
    "demote",
    "notify",
    "reload",
    "meta-data",
    "validate-all",
    "methods",
];

/// Runs an action that needs the resource's settings.
pub fn run(action: &str, agent: &Agent) -> OcfResult<OcfCode> {
    match action {
        "start" => start::start(agent),
        "stop" => stop::stop(agent),
        "monitor" => monitor::monitor(agent),
        "promote" => promote::promote(agent),
        "demote" => demote::demote(agent),
        "notify" => notify::notify(agent),
        "reload" => reload::reload(agent),
        "validate-all" => validate_all::validate_all(agent),
        other => unreachable!("action {other} is dispatched by main"),
    }
}
