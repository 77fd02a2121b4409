//! `reload`: the agent reads its settings at every action, so a change of a non-unique
//! parameter needs no restart of PostgreSQL.

use crate::agent::Agent;
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfResult};

pub fn reload(_a: &Agent) -> OcfResult<OcfCode> {
    log::info!("settings reloaded; they apply from the next action on");
    Ok(OcfCode::Success)
}
