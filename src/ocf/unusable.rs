//! One policy for an action that cannot use its settings or this node (`ocf-rarun`'s
//! convention, made safe). A probe may answer "not running" and a stop "stopped" only when
//! no postmaster works in the data directory: Pacemaker must never believe that a running
//! primary stopped. Pure: the caller finds the postmaster and carries out the answer.

use crate::ocf::{remedy, OcfCode, OcfError};

/// Who meets the unusable environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A monitor with interval 0: Pacemaker asks whether the resource runs here.
    Probe,
    Stop,
    /// A recurring monitor, or any other action.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The resource does not run on this node.
    NotRunning(OcfError),
    /// Stop whatever postmaster works in the data directory without the settings, then
    /// answer success once none of its processes is left.
    StopDespite,
    Fail(OcfError),
}

/// The answer to `why` for `caller`, given the postmaster found in the data directory (for
/// a probe; a stop looks for it as it stops it).
pub fn answer(caller: Caller, why: OcfError, postmaster: Option<i32>) -> Answer {
    match caller {
        Caller::Stop => Answer::StopDespite,
        // Settings wrong on every node are Pacemaker's to know: it stops the resource
        // everywhere (which the stop rule allows) and shows the reason.
        Caller::Probe if why.code == OcfCode::ErrConfigured => Answer::Fail(match postmaster {
            None => why,
            Some(pid) => why.with_detail(format!("postmaster {pid} runs in datadir")),
        }),
        Caller::Probe => match postmaster {
            None => Answer::NotRunning(OcfError::new(
                OcfCode::NotRunning,
                format!("not running: {}", why.problem),
            )),
            Some(pid) => Answer::Fail(
                OcfError::generic(format!(
                    "postmaster {pid} runs in datadir, yet {}",
                    why.problem
                ))
                .with_remedy(remedy!(
                    "fix this node (see the log), then stop the instance"
                ))
                .with_detail(why.message()),
            ),
        },
        Caller::Other => Answer::Fail(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems() -> [OcfError; 4] {
        [
            OcfError::configured("parameter pgport=\"x\" is not a TCP port number"),
            OcfError::installed("no PostgreSQL data directory at /d"),
            OcfError::args("hot_standby is off"),
            OcfError::generic("postmaster.pid is a link"),
        ]
    }

    #[test]
    fn stop_always_stops_what_runs_then_answers() {
        for why in problems() {
            for pm in [None, Some(42)] {
                assert_eq!(answer(Caller::Stop, why.clone(), pm), Answer::StopDespite);
            }
        }
    }

    #[test]
    fn a_probe_says_not_running_only_without_a_postmaster() {
        for why in problems() {
            let configured = why.code == OcfCode::ErrConfigured;
            match answer(Caller::Probe, why.clone(), None) {
                Answer::NotRunning(e) => {
                    assert!(!configured);
                    assert_eq!(e.code, OcfCode::NotRunning);
                }
                Answer::Fail(e) => assert!(configured && e == why),
                Answer::StopDespite => panic!("a probe stops nothing"),
            }
            match answer(Caller::Probe, why.clone(), Some(42)) {
                Answer::Fail(e) => {
                    assert_ne!(e.code, OcfCode::NotRunning);
                    assert!(
                        format!("{}{:?}", e.problem, e.detail).contains("42"),
                        "{e:?}"
                    );
                }
                other => panic!("{why:?} with a postmaster: {other:?}"),
            }
        }
    }

    #[test]
    fn other_actions_fail_with_the_problem() {
        for why in problems() {
            for pm in [None, Some(42)] {
                assert_eq!(
                    answer(Caller::Other, why.clone(), pm),
                    Answer::Fail(why.clone())
                );
            }
        }
    }
}
