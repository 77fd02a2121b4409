//! `validate-all`: every check the agent can make on this node.

use crate::agent::rejoin;
use crate::agent::validate;
use crate::agent::Agent;
use crate::ocf::config::Rejoin;
use crate::ocf::{OcfCode, OcfResult};

pub fn validate_all(a: &Agent) -> OcfResult<OcfCode> {
    a.meta.check_clone_settings()?;
    validate::installation(a)?;
    validate::local_configuration(a)?;
    if a.params.rejoin == Rejoin::Rewind {
        rejoin::check_rewind_possible(a)?;
    }
    Ok(OcfCode::Success)
}
