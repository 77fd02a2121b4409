//! `demote`: a fast stop, then a start as a standby. The shutdown checkpoint the fast stop
//! writes reaches the standbys, which is what lets the next promote prove a switchover
//! lost nothing. A crashed primary Pacemaker recovers in place is left down: start
//! replays its WAL.

use crate::agent::statefile::in_place_recovery_approved;
use crate::agent::Agent;
use crate::logic::transitions::{demote_step, DemoteStep};
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::postgres::instance::StopMode;

pub fn demote(a: &Agent) -> OcfResult<OcfCode> {
    let probe = a.instance.settled(a.deadline)?;
    match demote_step(&probe.state, in_place_recovery_approved(a, &probe)) {
        DemoteStep::AlreadyStandby => {
            log::info!("instance already running as a standby");
            return Ok(OcfCode::Success);
        }
        DemoteStep::StopThenStartStandby => {
            a.instance
                .stop(StopMode::Fast, a.deadline)
                .map_err(|e| OcfError {
                    code: OcfCode::ErrGeneric,
                    ..OcfError::from(e).within("demote could not stop the primary")
                })?;
        }
        DemoteStep::StartStandby => {}
        DemoteStep::LeaveForInPlaceRecovery => {
            log::info!("crashed primary left down: Pacemaker recovers it in place, and start replays its WAL as a standby");
            return Ok(OcfCode::Success);
        }
        DemoteStep::Refuse(e) => return Err(e),
    }
    a.instance.start_standby(a.deadline).map_err(|e| OcfError {
        code: OcfCode::ErrGeneric,
        ..OcfError::from(e).within("demote: the restart as a standby failed")
    })?;
    log::info!("instance demoted: running as a standby");
    Ok(OcfCode::Success)
}
