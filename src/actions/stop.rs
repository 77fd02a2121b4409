//! `stop`: a fast shutdown. A standby that does not stop in time is stopped immediately
//! (it recovers safely); a primary is not, since an immediate stop would make it a crashed
//! primary: Pacemaker's fencing is the better escalation there. An instance that already
//! crashed is stopped once no process of it is left: failing would only get the node
//! fenced for nothing.

use crate::agent::Agent;
use crate::deadline::Deadline;
use crate::instance::{self, StopMode};
use crate::ocf::{OcfCode, OcfResult};
use crate::state::InstanceState;

/// Share of the stop timeout a standby gets for its fast shutdown before the immediate one.
const FAST_SHARE: u32 = 2;

pub fn stop(a: &Agent) -> OcfResult<OcfCode> {
    if !a.params.datadir.join("PG_VERSION").is_file() {
        crate::info!(
            "no data directory at {}: nothing to stop",
            a.params.datadir.display()
        );
        return Ok(OcfCode::Success);
    }
    let state = instance::probe(a)?.state;
    match state {
        InstanceState::Stopped => {
            crate::info!("instance already stopped");
            Ok(OcfCode::Success)
        }
        InstanceState::CrashedPrimary(_)
        | InstanceState::CrashedStandby
        | InstanceState::Crashed(_) => {
            crate::warn!(
                "instance had crashed ({state:?}); nothing left to stop. A crashed primary will be refused at start until rebuilt"
            );
            instance::reap_orphans(a)?;
            Ok(OcfCode::Success)
        }
        InstanceState::RunningStandby => {
            let fast = Deadline::after(a.deadline.remaining() / FAST_SHARE);
            if instance::stop(a, StopMode::Fast, fast).is_err() {
                crate::warn!(
                    "fast shutdown of the standby did not finish in time: immediate shutdown"
                );
                instance::stop(a, StopMode::Immediate, a.deadline)?;
            }
            Ok(OcfCode::Success)
        }
        InstanceState::RunningPrimary
        | InstanceState::Transitional(_)
        | InstanceState::Unreachable(_) => {
            instance::stop(a, StopMode::Fast, a.deadline)?;
            Ok(OcfCode::Success)
        }
    }
}
