//! `validate-all`: every check the agent can make on this node.

use crate::agent::validate;
use crate::agent::Agent;
use crate::ocf::{OcfCode, OcfResult};

pub fn validate_all(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    validate::installation(a)?;
    validate::local_configuration(a)?;
    Ok(OcfCode::Success)
}
