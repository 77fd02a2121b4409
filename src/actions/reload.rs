//! `reload-agent` (OCF 1.1) and `reload` (its name for Pacemaker before 2.1): the agent
//! reads its settings at every action, so a change of a parameter of its decisions (each
//! marked `reloadable` in the meta-data) needs no restart of PostgreSQL.

use crate::agent::Agent;
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfResult};

pub fn reload(_a: &Agent) -> OcfResult<OcfCode> {
    log::info!("settings reloaded; they apply from the next action on");
    Ok(OcfCode::Success)
}
