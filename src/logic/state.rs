//! Classification of the local instance from what can be observed of it. Pure: the probing
//! lives in `instance.rs`.

use crate::logic::controldata::ClusterState;
use crate::ocf::{remedy, OcfCode, OcfError, Remedy};

/// What a connection attempt over the instance's socket told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The server answered a query; `in_recovery` is `pg_is_in_recovery()`.
    Accepting { in_recovery: bool },
    /// The server is up but refuses connections for now (starting up, shutting down, in crash
    /// recovery, or a warm standby): SQLSTATE 57P03.
    Rejecting(String),
    /// Nothing listens on the socket.
    NotListening,
    /// The server is there but the connection or the query failed.
    Unreachable(Unreachable),
}

/// Why a server that is there cannot be queried: each cause has its own fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableCause {
    /// pg_hba.conf, the role or its password turned the agent's role down.
    Authentication,
    /// max_connections (or the slots left to ordinary roles) is used up.
    TooManyConnections,
    /// The database `postgres`, which the agent connects to, does not exist.
    NoPostgresDatabase,
    /// The server ended the session: it is shutting down or was told to end it.
    Terminated,
    /// No answer in time, and the postmaster alive: the server is overloaded (or hangs in
    /// a way `hang.rs` cannot tell).
    Timeout,
    /// The kernel shows the instance cannot answer (see `hang.rs`): only fencing cures it.
    Hung,
    /// The system user may not reach the socket.
    SocketPermission,
    /// The postmaster listens elsewhere than pghost and pgport say.
    Misaddressed,
    Other,
}

impl UnreachableCause {
    /// What the administrator should do about it.
    pub fn remedy(self) -> Remedy {
        match self {
            UnreachableCause::Authentication => {
                remedy!("let system_user's role connect locally in pg_hba.conf")
            }
            UnreachableCause::TooManyConnections => {
                remedy!("raise max_connections or close idle sessions")
            }
            UnreachableCause::NoPostgresDatabase => {
                remedy!("create the database postgres: the agent connects to it")
            }
            UnreachableCause::Terminated => {
                remedy!("the server is stopping or ended the session: see its log")
            }
            UnreachableCause::Timeout => {
                remedy!("overloaded or hung: see the server log and load")
            }
            UnreachableCause::Hung => {
                remedy!("fencing recovers the node; then find what stopped it")
            }
            UnreachableCause::SocketPermission => {
                remedy!("let system_user enter the socket directory (pghost)")
            }
            UnreachableCause::Misaddressed => {
                remedy!("set pgport and pghost to match")
            }
            UnreachableCause::Other => remedy!("see the server log"),
        }
    }
}

/// A server that is there but cannot be queried, and the message that told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub cause: UnreachableCause,
    pub message: String,
}

/// The state of the local instance, as the agent acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    RunningStandby,
    RunningPrimary,
    /// Cleanly stopped, or a base backup never started: safe to start as a standby.
    Stopped,
    /// Not running, but pg_control says it was a primary: it crashed.
    CrashedPrimary(ClusterState),
    /// Not running, but pg_control says it was a standby: it crashed.
    CrashedStandby,
    /// Not running, and pg_control's state does not tell which role it had.
    Crashed(ClusterState),
    /// A postmaster is running but does not accept connections yet (or any more).
    Transitional(String),
    /// Something is running that the agent cannot talk to.
    Unreachable(Unreachable),
}

/// What a crashed primary needs before it may run again, unless Pacemaker recovers it in
/// place: it may hold WAL the current primary never got.
pub const REBUILD_CRASHED_PRIMARY: Remedy =
    remedy!("rebuild it from the new primary, then crm_resource --cleanup");

/// Facts about an instance that does not answer, gathered only when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownFacts {
    pub postmaster_alive: bool,
    pub backup_label: bool,
    pub cluster_state: ClusterState,
}

/// Where a running postmaster listens, as its postmaster.pid says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostmasterAddress {
    pub port: u16,
    /// The first Unix socket directory; empty until the server created its socket (or
    /// when it has none).
    pub socket_dir: String,
}

impl PostmasterAddress {
    /// postmaster.pid's fourth line is the port, its fifth the first socket directory.
    pub fn parse(pid_file: &str) -> Option<Self> {
        let mut lines = pid_file.lines().skip(3);
        let port = lines.next()?.trim().parse().ok()?;
        let socket_dir = lines.next().unwrap_or_default().trim().to_string();
        Some(PostmasterAddress { port, socket_dir })
    }
}

/// Why the agent finds nothing on the socket of a postmaster that runs: `pgport`, or
/// `pghost` when it is a socket directory, is not where the server listens. `same_dir`
/// compares two directories (the caller resolves symbolic links); the reason shows both as
/// written. `None` when they match, or cannot be compared yet.
pub fn misaddressed(
    pghost: &str,
    pgport: u16,
    actual: &PostmasterAddress,
    same_dir: impl Fn(&str, &str) -> bool,
) -> Option<Unreachable> {
    let dir_differs = pghost.starts_with('/')
        && !actual.socket_dir.is_empty()
        && !same_dir(pghost, &actual.socket_dir);
    (pgport != actual.port || dir_differs).then(|| Unreachable {
        cause: UnreachableCause::Misaddressed,
        message: format!(
            "port {} in {}, not pgport={pgport} pghost={}",
            actual.port,
            crate::ocf::log::brief(&actual.socket_dir),
            crate::ocf::log::brief(pghost)
        ),
    })
}

/// Classifies an instance that answered (or refused) on its socket. Returns `None` when
/// nothing listens, in which case `classify_down` decides from the files.
pub fn classify_liveness(liveness: &Liveness) -> Option<InstanceState> {
    match liveness {
        Liveness::Accepting { in_recovery: true } => Some(InstanceState::RunningStandby),
        Liveness::Accepting { in_recovery: false } => Some(InstanceState::RunningPrimary),
        Liveness::Rejecting(why) => Some(InstanceState::Transitional(why.clone())),
        Liveness::Unreachable(why) => Some(InstanceState::Unreachable(why.clone())),
        Liveness::NotListening => None,
    }
}

/// The role of a server that answered but took no session (every slot taken, even those
/// reserved for superusers such as the agent's role): it runs, so pg_control's state is its
/// live role. `None` for a state a running server only passes through.
pub fn role_of_full_server(cluster_state: ClusterState) -> Option<InstanceState> {
    match cluster_state {
        ClusterState::InProduction => Some(InstanceState::RunningPrimary),
        ClusterState::InArchiveRecovery => Some(InstanceState::RunningStandby),
        _ => None,
    }
}

/// Classifies an instance nothing listens for.
pub fn classify_down(facts: &DownFacts) -> InstanceState {
    if facts.postmaster_alive {
        return InstanceState::Transitional(
            "the postmaster is alive but does not listen on its socket".into(),
        );
    }
    // A fresh base backup says "in production" in pg_control but holds a backup_label:
    // it never ran, so it is stopped, not crashed.
    if facts.backup_label {
        return InstanceState::Stopped;
    }
    match facts.cluster_state {
        ClusterState::ShutDown | ClusterState::ShutDownInRecovery => InstanceState::Stopped,
        ClusterState::InArchiveRecovery => InstanceState::CrashedStandby,
        // Only a primary writes these: a standby shuts down straight into
        // "shut down in recovery" and recovers in "in archive recovery".
        s @ (ClusterState::InProduction
        | ClusterState::ShuttingDown
        | ClusterState::InCrashRecovery) => InstanceState::CrashedPrimary(s),
        s @ ClusterState::StartingUp => InstanceState::Crashed(s),
    }
}

impl InstanceState {
    /// The monitor's answer for this state: its OCF code, and for every non-running state
    /// the reason the administrator sees.
    pub fn monitor_result(&self) -> Result<OcfCode, OcfError> {
        match self {
            InstanceState::RunningStandby => Ok(OcfCode::Success),
            InstanceState::RunningPrimary => Ok(OcfCode::RunningPromoted),
            InstanceState::Stopped => Err(OcfError::new(
                OcfCode::NotRunning,
                "instance is cleanly stopped",
            )),
            InstanceState::CrashedPrimary(s) => Err(OcfError::new(
                OcfCode::FailedPromoted,
                format!("primary crashed (pg_control: \"{}\")", s.as_str()),
            )
            .with_remedy(remedy!(
                "Pacemaker recovers it in place or promotes a standby"
            ))),
            InstanceState::CrashedStandby => Err(OcfError::generic(
                "standby crashed (pg_control: \"in archive recovery\")",
            )
            .with_remedy(remedy!(
                "Pacemaker restarts it; see the server log for the cause"
            ))),
            InstanceState::Crashed(s) => Err(OcfError::generic(format!(
                "instance crashed (pg_control: \"{}\")",
                s.as_str()
            ))
            .with_remedy(remedy!("see the server log for the cause"))),
            InstanceState::Transitional(why) => Err(OcfError::generic(format!(
                "instance does not accept connections: {why}"
            ))
            .with_remedy(remedy!(
                "wait for it; a warm standby (hot_standby=off) is not supported"
            ))),
            // its message says all ("hung: ...", "slow: ...") and needs the room
            InstanceState::Unreachable(u)
                if matches!(u.cause, UnreachableCause::Hung | UnreachableCause::Timeout) =>
            {
                Err(OcfError::generic(u.message.clone()).with_remedy(u.cause.remedy()))
            }
            InstanceState::Unreachable(u) => Err(OcfError::generic(format!(
                "cannot query the instance: {}",
                u.message
            ))
            .with_remedy(u.cause.remedy())),
        }
    }

    /// The error an action that cannot go on from this state returns: the monitor's.
    pub fn refusal(&self) -> OcfError {
        match self.monitor_result() {
            Err(e) => e,
            Ok(_) => OcfError::generic(format!("unexpected state {self:?}")),
        }
    }

    /// Not running, and pg_control says it did not shut down cleanly.
    pub fn is_crashed(&self) -> bool {
        matches!(
            self,
            InstanceState::CrashedPrimary(_)
                | InstanceState::CrashedStandby
                | InstanceState::Crashed(_)
        )
    }

    /// Crashed, and not known to have been a standby: its demote writes no shutdown
    /// checkpoint (see `election::DEMOTED_CRASHED`).
    pub fn is_crashed_primary(&self) -> bool {
        matches!(
            self,
            InstanceState::CrashedPrimary(_) | InstanceState::Crashed(_)
        )
    }

    /// Still changing on its own: worth waiting for within an action's time.
    pub fn is_transitional(&self) -> bool {
        matches!(self, InstanceState::Transitional(_))
    }
}

/// Every cause and state, for exhaustive tests here and of the actions' tables.
#[cfg(test)]
pub mod test_support {
    use super::*;

    pub const ALL_CAUSES: [UnreachableCause; 9] = [
        UnreachableCause::Authentication,
        UnreachableCause::TooManyConnections,
        UnreachableCause::NoPostgresDatabase,
        UnreachableCause::Terminated,
        UnreachableCause::Timeout,
        UnreachableCause::Hung,
        UnreachableCause::SocketPermission,
        UnreachableCause::Misaddressed,
        UnreachableCause::Other,
    ];

    pub const ALL_STATES: [ClusterState; 7] = [
        ClusterState::StartingUp,
        ClusterState::ShutDown,
        ClusterState::ShutDownInRecovery,
        ClusterState::ShuttingDown,
        ClusterState::InCrashRecovery,
        ClusterState::InArchiveRecovery,
        ClusterState::InProduction,
    ];

    /// Every instance state, each pg_control state and unreachable cause included.
    pub fn every_instance_state() -> Vec<InstanceState> {
        let mut v = vec![
            InstanceState::RunningStandby,
            InstanceState::RunningPrimary,
            InstanceState::Stopped,
            InstanceState::CrashedStandby,
            InstanceState::Transitional("the database system is starting up".into()),
        ];
        for s in ALL_STATES {
            v.push(InstanceState::CrashedPrimary(s));
            v.push(InstanceState::Crashed(s));
        }
        for cause in ALL_CAUSES {
            v.push(InstanceState::Unreachable(Unreachable {
                cause,
                message: "server message".into(),
            }));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    fn down(alive: bool, label: bool, state: ClusterState) -> InstanceState {
        classify_down(&DownFacts {
            postmaster_alive: alive,
            backup_label: label,
            cluster_state: state,
        })
    }

    fn unreachable(cause: UnreachableCause) -> Unreachable {
        Unreachable {
            cause,
            message: "server message".into(),
        }
    }

    #[test]
    fn answering_instances_classify_by_recovery() {
        assert_eq!(
            classify_liveness(&Liveness::Accepting { in_recovery: true }),
            Some(InstanceState::RunningStandby)
        );
        assert_eq!(
            classify_liveness(&Liveness::Accepting { in_recovery: false }),
            Some(InstanceState::RunningPrimary)
        );
        assert!(classify_liveness(&Liveness::Rejecting("starting".into()))
            .unwrap()
            .is_transitional());
        assert_eq!(
            classify_liveness(&Liveness::Unreachable(unreachable(
                UnreachableCause::TooManyConnections
            ))),
            Some(InstanceState::Unreachable(unreachable(
                UnreachableCause::TooManyConnections
            )))
        );
        assert_eq!(classify_liveness(&Liveness::NotListening), None);
    }

    #[test]
    fn a_live_postmaster_is_transitional_whatever_pg_control_says() {
        for s in ALL_STATES {
            for label in [false, true] {
                assert!(down(true, label, s).is_transitional(), "{s:?}");
            }
        }
    }

    #[test]
    fn backup_label_means_never_started() {
        for s in ALL_STATES {
            assert_eq!(down(false, true, s), InstanceState::Stopped, "{s:?}");
        }
    }

    #[test]
    fn dead_instance_by_pg_control_state() {
        let expect = |s| match s {
            ClusterState::ShutDown | ClusterState::ShutDownInRecovery => InstanceState::Stopped,
            ClusterState::InArchiveRecovery => InstanceState::CrashedStandby,
            ClusterState::StartingUp => InstanceState::Crashed(s),
            _ => InstanceState::CrashedPrimary(s),
        };
        for s in ALL_STATES {
            let state = down(false, false, s);
            assert_eq!(state, expect(s), "{s:?}");
            assert_eq!(state.is_crashed(), state != InstanceState::Stopped, "{s:?}");
        }
    }

    #[test]
    fn a_slow_servers_reason_shows_what_was_slow_whole() {
        let message =
            "slow: no answer within 4999 ms; postmaster R, 1400 processes 300R 100D 999S 1T";
        let e = InstanceState::Unreachable(Unreachable {
            cause: UnreachableCause::Timeout,
            message: message.into(),
        })
        .monitor_result()
        .unwrap_err();
        assert_eq!(
            e.reason(),
            format!("{message}; {}", UnreachableCause::Timeout.remedy().as_str())
        );
    }

    #[test]
    fn a_full_server_keeps_the_role_pg_control_gives() {
        for s in ALL_STATES {
            let expected = match s {
                ClusterState::InProduction => Some(InstanceState::RunningPrimary),
                ClusterState::InArchiveRecovery => Some(InstanceState::RunningStandby),
                _ => None,
            };
            assert_eq!(role_of_full_server(s), expected, "{s:?}");
        }
    }

    #[test]
    fn postmaster_pid_gives_port_and_socket_directory() {
        let pid = "4242\n/var/lib/postgresql/15/main\n1700000000\n5433\n/var/run/postgresql\n*\n  1234  5678\nready   \n";
        let addr = PostmasterAddress::parse(pid).unwrap();
        assert_eq!(addr.port, 5433);
        assert_eq!(addr.socket_dir, "/var/run/postgresql");
        let starting = PostmasterAddress::parse("1\n/d\n2\n5432\n").unwrap();
        assert_eq!(starting.socket_dir, "");
        assert_eq!(PostmasterAddress::parse("1\n/d\n2\n"), None);
        assert_eq!(PostmasterAddress::parse("1\n/d\n2\nx\n/s\n"), None);
    }

    #[test]
    fn misaddressed_names_both_settings_only_when_they_differ() {
        let same = |a: &str, b: &str| a == b;
        let actual = PostmasterAddress {
            port: 5433,
            socket_dir: "/run/postgresql".into(),
        };
        assert_eq!(misaddressed("/run/postgresql", 5433, &actual, same), None);
        // a host name: TCP, only the port can be checked
        assert_eq!(misaddressed("localhost", 5433, &actual, same), None);
        for (host, port) in [("/run/postgresql", 5432), ("/tmp", 5433), ("localhost", 1)] {
            let why = misaddressed(host, port, &actual, same).expect(host);
            assert_eq!(why.cause, UnreachableCause::Misaddressed);
            let why = why.message;
            assert!(why.contains("pgport") && why.contains("pghost"), "{why}");
            assert!(
                why.contains("5433") && why.contains("/run/postgresql"),
                "{why}"
            );
        }
        // the caller's comparison resolves links; the reason shows pghost as written
        let linked =
            |a: &str, b: &str| a.trim_start_matches("/var") == b.trim_start_matches("/var");
        assert_eq!(
            misaddressed("/var/run/postgresql", 5433, &actual, linked),
            None
        );
        let why = misaddressed("/var/run/postgresql", 5432, &actual, linked)
            .unwrap()
            .message;
        assert!(why.contains("pghost=/var/run/postgresql"), "{why}");
        // socket not created yet: only the port tells
        let starting = PostmasterAddress {
            port: 5433,
            socket_dir: String::new(),
        };
        assert_eq!(misaddressed("/tmp", 5433, &starting, same), None);
        assert!(misaddressed("/tmp", 5432, &starting, same).is_some());
    }

    #[test]
    fn running_or_transitional_instances_are_not_crashed() {
        for state in [
            InstanceState::RunningStandby,
            InstanceState::RunningPrimary,
            InstanceState::Transitional("x".into()),
            InstanceState::Unreachable(unreachable(UnreachableCause::Other)),
        ] {
            assert!(!state.is_crashed(), "{state:?}");
        }
    }

    #[test]
    fn monitor_codes_for_every_state() {
        use ClusterState as C;
        let cases = [
            (InstanceState::RunningStandby, OcfCode::Success),
            (InstanceState::RunningPrimary, OcfCode::RunningPromoted),
            (InstanceState::Stopped, OcfCode::NotRunning),
            (
                InstanceState::CrashedPrimary(C::InProduction),
                OcfCode::FailedPromoted,
            ),
            (InstanceState::CrashedStandby, OcfCode::ErrGeneric),
            (InstanceState::Crashed(C::StartingUp), OcfCode::ErrGeneric),
            (InstanceState::Transitional("x".into()), OcfCode::ErrGeneric),
            (
                InstanceState::Unreachable(unreachable(UnreachableCause::Other)),
                OcfCode::ErrGeneric,
            ),
        ];
        for (state, code) in cases {
            let got = match state.monitor_result() {
                Ok(c) => c,
                Err(e) => {
                    assert!(!e.problem.is_empty());
                    e.code
                }
            };
            assert_eq!(got, code, "{state:?}");
        }
    }

    #[test]
    fn crashed_primary_reason_names_the_pg_control_state() {
        let e = InstanceState::CrashedPrimary(ClusterState::InProduction)
            .monitor_result()
            .unwrap_err();
        assert!(e.problem.contains("in production"), "{}", e.problem);
    }

    #[test]
    fn each_unreachable_cause_gets_its_own_remedy() {
        let remedies: Vec<&str> = ALL_CAUSES.iter().map(|c| c.remedy().as_str()).collect();
        for (i, r) in remedies.iter().enumerate() {
            assert!(!remedies[..i].contains(r), "{r} given twice");
        }
        let reason = |cause| {
            InstanceState::Unreachable(unreachable(cause))
                .monitor_result()
                .unwrap_err()
                .message()
        };
        // A server message longer than the exit reason leaves room: the reason keeps the
        // remedy whole and the message's start (the log has all of it).
        for cause in ALL_CAUSES {
            let message = "password authentication failed for user \"postgres\" ".repeat(4);
            let e = InstanceState::Unreachable(Unreachable { cause, message })
                .monitor_result()
                .unwrap_err();
            let reason = e.reason();
            assert!(reason.len() <= crate::ocf::log::MAX_REASON, "{reason}");
            assert!(reason.ends_with(cause.remedy().as_str()), "{reason}");
            let head = if matches!(cause, UnreachableCause::Hung | UnreachableCause::Timeout) {
                "password authentication"
            } else {
                "cannot query the instance: password authentication"
            };
            assert!(reason.starts_with(head), "{reason}");
        }
        for (cause, word) in [
            (UnreachableCause::Authentication, "pg_hba.conf"),
            (UnreachableCause::TooManyConnections, "max_connections"),
            (UnreachableCause::NoPostgresDatabase, "database postgres"),
            (UnreachableCause::Timeout, "overloaded"),
            (UnreachableCause::Hung, "fencing"),
            (UnreachableCause::SocketPermission, "socket directory"),
            (UnreachableCause::Misaddressed, "pgport"),
        ] {
            let reason = reason(cause);
            assert!(reason.contains("server message"), "{reason}");
            assert!(reason.contains(word), "{cause:?}: {reason}");
        }
        assert!(!reason(UnreachableCause::Authentication).contains("max_connections"));
    }
}
