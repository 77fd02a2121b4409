//! What start, stop, demote and promote do in each state of the local instance: one table
//! per action, which the action files carry out. `in_place` says that the pre-demote
//! notification approved the in-place recovery of this crashed primary (see
//! `agent::statefile::in_place_recovery_approved`).

use crate::logic::state::{InstanceState, UnreachableCause, REBUILD_CRASHED_PRIMARY};
use crate::ocf::{OcfCode, OcfError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartStep {
    AlreadyRunning,
    /// Start as a standby.
    Start,
    /// Start as a standby, which replays the crashed standby's WAL.
    RecoverCrashedStandby,
    /// Kill what the crashed primary left behind, then start it as a standby, which
    /// replays its WAL: Pacemaker recovers it in place.
    RecoverInPlace,
    /// A crashed former primary may hold WAL the current primary never got.
    RefuseCrashedPrimary,
    Refuse(OcfError),
}

pub fn start_step(state: &InstanceState, in_place: bool) -> StartStep {
    match state {
        InstanceState::RunningStandby => StartStep::AlreadyRunning,
        InstanceState::Stopped => StartStep::Start,
        InstanceState::CrashedStandby => StartStep::RecoverCrashedStandby,
        InstanceState::RunningPrimary => StartStep::Refuse(
            OcfError::generic("the instance already runs as a primary outside Pacemaker's control")
                .with_remedy(crate::ocf::remedy!("stop it, then crm_resource --cleanup")),
        ),
        InstanceState::CrashedPrimary(_) if in_place => StartStep::RecoverInPlace,
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            StartStep::RefuseCrashedPrimary
        }
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            StartStep::Refuse(state.refusal())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopStep {
    AlreadyStopped,
    /// Replay the crashed standby's WAL, then stop it cleanly (immediately when the
    /// recovery fails).
    RecoverStandbyThenStop,
    /// Kill what the crashed instance left behind and record it as stopped by the cluster;
    /// it stays down (for its in-place recovery when `in_place`).
    LeaveCrashed {
        in_place: bool,
    },
    /// A fast shutdown, an immediate one when that does not finish in its share of time.
    StopStandby,
    /// A fast shutdown and no escalation: an immediate stop would make a crashed primary,
    /// so fencing is the escalation.
    FastStop,
    /// Fail at once: a hung instance acts on no signal (and a primary's postmaster is never
    /// killed), so fencing is the cure and waiting out the timeout only delays it.
    FailHung,
}

pub fn stop_step(state: &InstanceState, in_place: bool) -> StopStep {
    match state {
        InstanceState::Stopped => StopStep::AlreadyStopped,
        InstanceState::CrashedStandby => StopStep::RecoverStandbyThenStop,
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
            StopStep::LeaveCrashed { in_place }
        }
        InstanceState::RunningStandby => StopStep::StopStandby,
        InstanceState::Unreachable(u) if u.cause == UnreachableCause::Hung => StopStep::FailHung,
        InstanceState::RunningPrimary
        | InstanceState::Transitional(_)
        | InstanceState::Unreachable(_) => StopStep::FastStop,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoteStep {
    AlreadyStandby,
    /// A fast stop (whose shutdown checkpoint reaches the standbys), then a start as a
    /// standby.
    StopThenStartStandby,
    /// Not running: start it as a standby, so demote never loops through demote-fails,
    /// stop, start, promote.
    StartStandby,
    /// Leave the crashed primary down: start replays its WAL in its in-place recovery.
    LeaveForInPlaceRecovery,
    Refuse(OcfError),
}

pub fn demote_step(state: &InstanceState, in_place: bool) -> DemoteStep {
    match state {
        InstanceState::RunningStandby => DemoteStep::AlreadyStandby,
        InstanceState::RunningPrimary => DemoteStep::StopThenStartStandby,
        InstanceState::Stopped | InstanceState::CrashedStandby => DemoteStep::StartStandby,
        InstanceState::CrashedPrimary(_) if in_place => DemoteStep::LeaveForInPlaceRecovery,
        InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => DemoteStep::Refuse(
            OcfError::generic(state.refusal().problem)
                .with_remedy(REBUILD_CRASHED_PRIMARY)
                .with_detail("it is only restarted (as a standby) when Pacemaker recovers it in place (approved by the pre-demote notification)"),
        ),
        InstanceState::Transitional(_) | InstanceState::Unreachable(_) => {
            DemoteStep::Refuse(state.refusal())
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromoteStep {
    AlreadyPrimary,
    /// The election, then pg_promote.
    Promote,
    StartThenPromote,
    Refuse(OcfError),
}

pub fn promote_step(state: &InstanceState) -> PromoteStep {
    match state {
        InstanceState::RunningPrimary => PromoteStep::AlreadyPrimary,
        InstanceState::RunningStandby => PromoteStep::Promote,
        InstanceState::Stopped => PromoteStep::StartThenPromote,
        // A promote that fails for the instance's state is a plain failure: Pacemaker
        // recovers the instance, then may try again.
        _ => PromoteStep::Refuse(OcfError {
            code: OcfCode::ErrGeneric,
            ..state.refusal().within("cannot promote")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::state::test_support::every_instance_state;

    fn was_primary(s: &InstanceState) -> bool {
        matches!(
            s,
            InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_)
        )
    }

    #[test]
    fn start_never_runs_a_crashed_primary_unless_it_is_recovered_in_place() {
        for s in every_instance_state() {
            for in_place in [false, true] {
                let step = start_step(&s, in_place);
                let runs = matches!(
                    step,
                    StartStep::Start | StartStep::RecoverCrashedStandby | StartStep::RecoverInPlace
                );
                match &s {
                    InstanceState::CrashedPrimary(_) => assert_eq!(runs, in_place, "{s:?}"),
                    InstanceState::Crashed(_) => {
                        assert_eq!(step, StartStep::RefuseCrashedPrimary)
                    }
                    InstanceState::Stopped => assert_eq!(step, StartStep::Start),
                    InstanceState::CrashedStandby => {
                        assert_eq!(step, StartStep::RecoverCrashedStandby)
                    }
                    InstanceState::RunningStandby => assert_eq!(step, StartStep::AlreadyRunning),
                    // a running primary, or something the agent cannot talk to: never a
                    // second postmaster, never "already running" as a standby
                    _ => assert!(
                        matches!(&step, StartStep::Refuse(e) if e.code != OcfCode::Success),
                        "{s:?}: {step:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn stop_answers_stopped_only_for_an_instance_that_runs_nothing() {
        for s in every_instance_state() {
            for in_place in [false, true] {
                let step = stop_step(&s, in_place);
                let running = matches!(
                    s,
                    InstanceState::RunningStandby
                        | InstanceState::RunningPrimary
                        | InstanceState::Transitional(_)
                        | InstanceState::Unreachable(_)
                );
                let hung = matches!(&s, InstanceState::Unreachable(u) if u.cause == UnreachableCause::Hung);
                // a hung instance fails the stop at once (fencing), whatever its role
                assert_eq!(step == StopStep::FailHung, hung, "{s:?}");
                if running && !hung {
                    assert!(
                        matches!(step, StopStep::StopStandby | StopStep::FastStop),
                        "{s:?}"
                    );
                }
                // only a standby is ever stopped immediately: never make a crashed primary
                if step == StopStep::StopStandby {
                    assert_eq!(s, InstanceState::RunningStandby);
                }
                if was_primary(&s) {
                    assert_eq!(step, StopStep::LeaveCrashed { in_place });
                }
                assert_eq!(
                    step == StopStep::AlreadyStopped,
                    s == InstanceState::Stopped
                );
            }
        }
    }

    #[test]
    fn demote_leaves_a_crashed_primary_down_and_refuses_it_unless_recovered_in_place() {
        for s in every_instance_state() {
            for in_place in [false, true] {
                let step = demote_step(&s, in_place);
                match &s {
                    InstanceState::CrashedPrimary(_) if in_place => {
                        assert_eq!(step, DemoteStep::LeaveForInPlaceRecovery)
                    }
                    InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_) => {
                        let DemoteStep::Refuse(e) = step else {
                            panic!("{s:?}: {step:?}")
                        };
                        assert_eq!(e.remedy, Some(REBUILD_CRASHED_PRIMARY));
                    }
                    InstanceState::RunningPrimary => {
                        assert_eq!(step, DemoteStep::StopThenStartStandby)
                    }
                    InstanceState::RunningStandby => assert_eq!(step, DemoteStep::AlreadyStandby),
                    InstanceState::Stopped | InstanceState::CrashedStandby => {
                        assert_eq!(step, DemoteStep::StartStandby)
                    }
                    _ => assert!(matches!(step, DemoteStep::Refuse(_)), "{s:?}"),
                }
            }
        }
    }

    #[test]
    fn promote_runs_only_from_a_standby_or_a_clean_stop() {
        for s in every_instance_state() {
            let step = promote_step(&s);
            match &s {
                InstanceState::RunningPrimary => assert_eq!(step, PromoteStep::AlreadyPrimary),
                InstanceState::RunningStandby => assert_eq!(step, PromoteStep::Promote),
                InstanceState::Stopped => assert_eq!(step, PromoteStep::StartThenPromote),
                _ => {
                    let PromoteStep::Refuse(e) = step else {
                        panic!("{s:?}: {step:?}")
                    };
                    assert_eq!(e.code, OcfCode::ErrGeneric, "{s:?}");
                }
            }
        }
    }
}
