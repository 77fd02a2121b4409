//! Hung or slow: what the kernel says of the instance's processes (`/proc/<pid>/stat`,
//! `schedstat`, `io`) and whether the server answered. A hung primary is an outage that only
//! fencing cures, so every action fails fast on it; a slow one must keep its role. Pure: the
//! sampling lives in `postgres/processes.rs`, its use in `postgres/instance.rs`.
//!
//! The rules (README.md "Hung or slow instance"):
//! - a postmaster stopped (state `T`, or `t` under a tracer), and still stopped `CONFIRM`
//!   later, accepts no connection: hung, without asking it;
//! - any answer of the server (even "too many clients" or "starting up") means alive;
//! - no answer, and the postmaster in uninterruptible sleep (`D`) since before the attempt
//!   with no CPU time and no I/O in between, for at least `STALL`: hung;
//! - no answer otherwise: slow, and the reason says what the processes were doing.

use std::time::Duration;

/// How long a postmaster that does not answer may sit in uninterruptible sleep without any
/// progress before it counts as hung (storage gone, an NFS server away). The agent's own
/// connection attempt (at most 5 s) is the window it is measured over.
pub const STALL: Duration = Duration::from_secs(4);

/// How long after a first look a process must still be stopped to count as stopped: a
/// tracer (strace) stops its tracee for an instant at every system call.
pub const CONFIRM: Duration = Duration::from_millis(200);

/// A process's scheduling state, from the third field of `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    Running,
    Sleeping,
    /// Uninterruptible sleep: waits for the kernel (I/O, mostly); signals wait too.
    DiskSleep,
    /// Stopped by a signal (SIGSTOP, SIGTSTP) or a tracer: runs nothing until SIGCONT.
    Stopped,
    Zombie,
    /// Idle kernel thread, dead, or a letter this agent does not know.
    Other(char),
}

impl ProcState {
    pub fn from_letter(c: char) -> Self {
        match c {
            'R' => ProcState::Running,
            'S' => ProcState::Sleeping,
            'D' => ProcState::DiskSleep,
            'T' | 't' => ProcState::Stopped,
            'Z' => ProcState::Zombie,
            other => ProcState::Other(other),
        }
    }

    fn letter(self) -> char {
        match self {
            ProcState::Running => 'R',
            ProcState::Sleeping => 'S',
            ProcState::DiskSleep => 'D',
            ProcState::Stopped => 'T',
            ProcState::Zombie => 'Z',
            ProcState::Other(c) => c,
        }
    }
}

/// What a process did so far: CPU time (ns, `schedstat`) and bytes read and written
/// through system calls (`io`'s rchar + wchar). Unchanged between two samples: no
/// progress at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub cpu_ns: u64,
    pub io_bytes: u64,
}

/// One look at one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub pid: i32,
    pub state: ProcState,
    /// `None` when the kernel did not give the counters (no schedstat, gone meanwhile).
    pub progress: Option<Progress>,
}

/// Why an instance is hung: the reason every action gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hang {
    /// The postmaster is stopped: it accepts no connection and reacts to no signal.
    PostmasterStopped(i32),
    /// The postmaster sat in uninterruptible sleep without progress this long, and the
    /// server did not answer meanwhile.
    PostmasterStalled(i32, Duration),
    /// A process of the instance is stopped: a shutdown waits for it forever.
    ProcessStopped(i32),
}

impl Hang {
    /// The process the verdict is about.
    pub fn pid(&self) -> i32 {
        match *self {
            Hang::PostmasterStopped(pid)
            | Hang::PostmasterStalled(pid, _)
            | Hang::ProcessStopped(pid) => pid,
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Hang::PostmasterStopped(pid) => {
                format!("hung: postmaster {pid} is stopped (state T)")
            }
            Hang::PostmasterStalled(pid, d) => format!(
                "hung: postmaster {pid} in state D, no CPU or I/O for {} s",
                d.as_secs()
            ),
            Hang::ProcessStopped(pid) => {
                format!("hung: process {pid} of the instance is stopped (state T)")
            }
        }
    }
}

/// `/proc/<pid>/stat`'s state letter. The command name in parentheses may hold spaces and
/// parentheses: the state follows the last `)`.
pub fn stat_state(stat: &str) -> Option<ProcState> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let letter = rest.split_whitespace().next()?;
    let mut chars = letter.chars();
    let c = chars.next()?;
    chars.next().is_none().then(|| ProcState::from_letter(c))
}

/// `/proc/<pid>/schedstat`'s first field: time spent on the CPU, in ns.
pub fn schedstat_cpu(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// `/proc/<pid>/io`'s rchar + wchar.
pub fn io_bytes(io: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        io.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some(field("rchar:")?.saturating_add(field("wchar:")?))
}

/// Hung before any connection attempt: a stopped postmaster never accepts one.
pub fn before_asking(postmaster: &Sample) -> Option<Hang> {
    (postmaster.state == ProcState::Stopped).then_some(Hang::PostmasterStopped(postmaster.pid))
}

/// `hang` (found stopped) confirmed by a second look at the same process at least
/// `CONFIRM` later: still stopped.
pub fn still_stopped(hang: Hang, again: Option<&Sample>) -> Option<Hang> {
    if let Hang::PostmasterStalled(..) = hang {
        return Some(hang);
    }
    again
        .is_some_and(|s| s.pid == hang.pid() && s.state == ProcState::Stopped)
        .then_some(hang)
}

/// Hung after the server gave no answer: the postmaster, sampled `elapsed` apart before and
/// after the attempt, is stopped now, or was in uninterruptible sleep both times without
/// any progress for at least `STALL`. Counters missing on either side prove nothing.
pub fn after_silence(before: &Sample, after: &Sample, elapsed: Duration) -> Option<Hang> {
    if before.pid != after.pid {
        return None;
    }
    if let Some(h) = before_asking(after) {
        return Some(h);
    }
    let stalled = before.state == ProcState::DiskSleep
        && after.state == ProcState::DiskSleep
        && before.progress.is_some()
        && before.progress == after.progress
        && elapsed >= STALL;
    stalled.then_some(Hang::PostmasterStalled(after.pid, elapsed))
}

/// A process left during a shutdown that can never exit on its own: a stopped one.
pub fn blocking_shutdown(left: &[Sample]) -> Option<Hang> {
    left.iter()
        .find(|s| s.state == ProcState::Stopped)
        .map(|s| Hang::ProcessStopped(s.pid))
}

/// What the instance's processes were doing while the server did not answer, short enough
/// for an exit reason: the postmaster's state and how many processes are in each state,
/// e.g. `postmaster R, 12 processes 3R 1D 8S`.
pub fn describe(postmaster: Option<&Sample>, all: &[Sample]) -> String {
    let head = postmaster.map_or_else(
        || "postmaster not found".to_string(),
        |p| format!("postmaster {}", p.state.letter()),
    );
    let mut counts: Vec<(char, usize)> = Vec::new();
    for s in all {
        let l = s.state.letter();
        match counts.iter_mut().find(|(c, _)| *c == l) {
            Some((_, n)) => *n += 1,
            None => counts.push((l, 1)),
        }
    }
    counts.sort_by_key(|(c, _)| "RDTSZ".find(*c).unwrap_or(usize::MAX));
    let by_state: Vec<String> = counts.iter().map(|(c, n)| format!("{n}{c}")).collect();
    format!("{head}, {} processes {}", all.len(), by_state.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LETTERS: [(char, ProcState); 9] = [
        ('R', ProcState::Running),
        ('S', ProcState::Sleeping),
        ('D', ProcState::DiskSleep),
        ('T', ProcState::Stopped),
        ('t', ProcState::Stopped),
        ('Z', ProcState::Zombie),
        ('I', ProcState::Other('I')),
        ('X', ProcState::Other('X')),
        ('P', ProcState::Other('P')),
    ];

    fn sample(state: ProcState, cpu_ns: u64, io_bytes: u64) -> Sample {
        Sample {
            pid: 42,
            state,
            progress: Some(Progress { cpu_ns, io_bytes }),
        }
    }

    #[test]
    fn reads_the_state_after_the_last_parenthesis() {
        for (c, state) in LETTERS {
            let stat = format!("42 (postgres: a (b) c) {c} 1 42 42 0 -1 4194560 100");
            assert_eq!(stat_state(&stat), Some(state), "{stat}");
        }
        assert_eq!(stat_state("42 (postgres) "), None);
        assert_eq!(stat_state("42 postgres S 1"), None);
        assert_eq!(stat_state("42 (x) SS 1"), None);
        assert_eq!(stat_state(""), None);
    }

    #[test]
    fn reads_the_progress_counters() {
        assert_eq!(schedstat_cpu("123456 789 10\n"), Some(123456));
        assert_eq!(schedstat_cpu(""), None);
        assert_eq!(schedstat_cpu("x 1 2"), None);
        let io = "rchar: 100\nwchar: 23\nsyscr: 4\nsyscw: 5\nread_bytes: 0\nwrite_bytes: 0\n";
        assert_eq!(io_bytes(io), Some(123));
        assert_eq!(io_bytes("rchar: 100\n"), None);
        assert_eq!(io_bytes(""), None);
    }

    #[test]
    fn only_a_stopped_postmaster_is_hung_before_asking() {
        for (_, state) in LETTERS {
            let verdict = before_asking(&sample(state, 1, 1));
            assert_eq!(
                verdict.is_some(),
                state == ProcState::Stopped,
                "{state:?}: {verdict:?}"
            );
        }
        assert_eq!(
            before_asking(&sample(ProcState::Stopped, 1, 1)),
            Some(Hang::PostmasterStopped(42))
        );
    }

    #[test]
    fn silence_is_a_hang_only_for_a_stopped_or_stalled_postmaster() {
        let long = STALL;
        let short = STALL - Duration::from_millis(1);
        let d = ProcState::DiskSleep;
        // every pair of states, with and without progress, for long and short windows
        for (_, s1) in LETTERS {
            for (_, s2) in LETTERS {
                for moved in [false, true] {
                    for elapsed in [short, long] {
                        let before = sample(s1, 10, 10);
                        let after = sample(s2, 10 + u64::from(moved), 10);
                        let verdict = after_silence(&before, &after, elapsed);
                        let expected = if s2 == ProcState::Stopped {
                            Some(Hang::PostmasterStopped(42))
                        } else if s1 == d && s2 == d && !moved && elapsed >= STALL {
                            Some(Hang::PostmasterStalled(42, elapsed))
                        } else {
                            None
                        };
                        assert_eq!(verdict, expected, "{s1:?} {s2:?} moved={moved} {elapsed:?}");
                    }
                }
            }
        }
        // I/O alone is progress too
        let io_moved = after_silence(&sample(d, 1, 1), &sample(d, 1, 2), long);
        assert_eq!(io_moved, None);
        // without counters nothing proves a stall
        let blind = Sample {
            progress: None,
            ..sample(d, 0, 0)
        };
        assert_eq!(after_silence(&blind, &blind, long), None);
        // another postmaster (restarted meanwhile) proves nothing
        let other = Sample {
            pid: 43,
            ..sample(d, 1, 1)
        };
        assert_eq!(after_silence(&sample(d, 1, 1), &other, long), None);
    }

    #[test]
    fn a_stop_counts_only_when_a_second_look_confirms_it() {
        let stopped = sample(ProcState::Stopped, 1, 1);
        for hang in [Hang::PostmasterStopped(42), Hang::ProcessStopped(42)] {
            assert_eq!(
                still_stopped(hang.clone(), Some(&stopped)),
                Some(hang.clone())
            );
            assert_eq!(still_stopped(hang.clone(), None), None, "gone meanwhile");
            let other = Sample { pid: 43, ..stopped };
            assert_eq!(still_stopped(hang.clone(), Some(&other)), None);
            for (_, state) in LETTERS.iter().filter(|(_, s)| *s != ProcState::Stopped) {
                let resumed = sample(*state, 1, 1);
                assert_eq!(
                    still_stopped(hang.clone(), Some(&resumed)),
                    None,
                    "{state:?}"
                );
            }
        }
        let stalled = Hang::PostmasterStalled(42, STALL);
        assert_eq!(still_stopped(stalled.clone(), None), Some(stalled));
    }

    #[test]
    fn a_stopped_process_blocks_a_shutdown() {
        let left = [
            sample(ProcState::Sleeping, 1, 1),
            Sample {
                pid: 7,
                ..sample(ProcState::Stopped, 1, 1)
            },
        ];
        assert_eq!(blocking_shutdown(&left), Some(Hang::ProcessStopped(7)));
        for (_, state) in LETTERS.iter().filter(|(_, s)| *s != ProcState::Stopped) {
            assert_eq!(
                blocking_shutdown(&[sample(*state, 1, 1)]),
                None,
                "{state:?}"
            );
        }
        assert_eq!(blocking_shutdown(&[]), None);
    }

    #[test]
    fn describes_what_the_processes_were_doing() {
        let pm = sample(ProcState::Running, 1, 1);
        let all = [
            sample(ProcState::Sleeping, 1, 1),
            pm,
            sample(ProcState::DiskSleep, 1, 1),
            sample(ProcState::Sleeping, 1, 1),
        ];
        assert_eq!(
            describe(Some(&pm), &all),
            "postmaster R, 4 processes 1R 1D 2S"
        );
        assert_eq!(describe(None, &[]), "postmaster not found, 0 processes ");
    }

    #[test]
    fn reasons_fit_an_exit_reason() {
        let longest = [
            Hang::PostmasterStopped(4_194_304),
            Hang::PostmasterStalled(4_194_304, Duration::from_secs(100_000)),
            Hang::ProcessStopped(4_194_304),
        ];
        for h in longest {
            let r = h.reason();
            assert!(r.starts_with("hung: "), "{r}");
            // room is left for the remedy
            assert!(r.len() <= 64, "{} bytes: {r}", r.len());
        }
    }
}
