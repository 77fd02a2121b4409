//! `demote`: a fast stop, then a start as a standby. The shutdown checkpoint the fast stop
//! writes reaches the standbys, which is what lets the next promote prove a switchover
//! lost nothing. A crashed primary Pacemaker recovers in place, or that rejoins with
//! rejoin=rewind, is left down: start replays its WAL (rewinding it first if need be).
//! A standby still recovering is answered for at once, not waited for.

use crate::agent::statefile::in_place_recovery_approved;
use crate::agent::Agent;
use crate::logic::election::DEMOTED_CRASHED;
use crate::logic::state::InstanceState;
use crate::logic::transitions::{demote_finds_recovering_standby, demote_step, DemoteStep};
use crate::ocf::log;
use crate::ocf::{OcfCode, OcfError, OcfResult};
use crate::postgres::instance::{Probe, StopMode};

pub fn demote(a: &Agent) -> OcfResult<OcfCode> {
    let first = a.instance.probe()?;
    let probe = match &first.state {
        InstanceState::Transitional(why) if recovering_standby(a, &first)? => {
            log::warning!("instance still recovering as a standby ({why}): nothing to demote; its monitor fails until it takes connections");
            mark_crashed_demote(a, false);
            return Ok(OcfCode::Success);
        }
        InstanceState::Transitional(_) => a.instance.settled(a.deadline)?,
        _ => first,
    };
    mark_crashed_demote(a, probe.state.is_crashed_primary());
    match demote_step(
        &probe.state,
        in_place_recovery_approved(a, &probe),
        a.params.rejoin,
    ) {
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
        DemoteStep::LeaveForRejoin => {
            log::warning!("crashed primary left down: its stop and start rejoin it to the promoted instance, rewound if it diverged (rejoin=rewind)");
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

/// A postmaster that takes no connection but whose pg_control says it recovers as a
/// standby, with no promotion asked (`demote_finds_recovering_standby`).
fn recovering_standby(a: &Agent, probe: &Probe) -> OcfResult<bool> {
    let control = probe.control(&a.instance)?;
    let promotion_asked = a.instance.datadir()?.has_entry("promote.signal");
    Ok(demote_finds_recovering_standby(
        control.state,
        promotion_asked,
    ))
}

/// Tells the pre-promote round whether this demote found a crashed primary (left down or
/// refused: either way it writes no shutdown checkpoint, and a promotion that follows is a
/// failover). A failure only loses that hint: the promotee
/// then makes the switchover check, the conservative way.
fn mark_crashed_demote(a: &Agent, crashed: bool) {
    let pm = a.pacemaker();
    let written = if crashed {
        pm.set_private(DEMOTED_CRASHED, "1")
    } else {
        pm.delete_private_all(&[DEMOTED_CRASHED])
    };
    if let Err(e) = written {
        log::warning!("cannot record whether the demoted primary had crashed: {e}");
    }
}
