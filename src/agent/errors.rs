//! What each layer's errors mean for Pacemaker, in one place: the OCF code (this node only,
//! or every node), what the administrator should do, and the longer explanation for the
//! log. The layers below say what went wrong (`SystemError`, `PostgresError`,
//! `PacemakerError`); only here does it become an answer.

use crate::logic::state::UnreachableCause;
use crate::ocf::{remedy, OcfCode, OcfError, Remedy};
use crate::pacemaker::PacemakerError;
use crate::postgres::datadir::{DataDirError, UnsafeFile};
use crate::postgres::PostgresError;
use crate::system::SystemError;

/// What to do when Pacemaker's tools fail.
const PACEMAKER_RUNS: Remedy = remedy!("check that Pacemaker runs on this node");

impl From<SystemError> for OcfError {
    fn from(e: SystemError) -> Self {
        let (code, remedy, detail) = match &e {
            SystemError::NoSuchUser(_) => (
                OcfCode::ErrInstalled,
                remedy!("create it, or fix the system_user parameter"),
                None,
            ),
            SystemError::RootUser(_) => (
                OcfCode::ErrConfigured,
                remedy!("set it to the data directory's owner: PostgreSQL refuses root"),
                None,
            ),
            SystemError::Identity { .. } => (
                OcfCode::ErrGeneric,
                remedy!("check the system user's groups in /etc/group"),
                None,
            ),
            SystemError::MissingProgram(_) => (
                OcfCode::ErrInstalled,
                remedy!("install the PostgreSQL server package, or fix bindir"),
                None,
            ),
            // A setting (bindir) that points at programs others can change: wrong wherever
            // it is used.
            SystemError::UntrustedProgram { program, .. } => (
                OcfCode::ErrConfigured,
                remedy!("won't run it: chown root and chmod go-w, or fix bindir"),
                Some(format!(
                    "refusing to run {}: someone other than root could change it",
                    program.display()
                )),
            ),
            SystemError::Spawn { .. } => (
                OcfCode::ErrInstalled,
                remedy!("check bindir and the PostgreSQL installation"),
                None,
            ),
            SystemError::Wait { .. } => (
                OcfCode::ErrGeneric,
                remedy!("see the log; the agent could not wait for its program"),
                None,
            ),
            SystemError::TimedOut(_) => (
                OcfCode::ErrGeneric,
                remedy!("raise the operation timeout if the instance is just slow"),
                None,
            ),
        };
        answer(code, &e, remedy, detail)
    }
}

impl From<PostgresError> for OcfError {
    fn from(e: PostgresError) -> Self {
        let (code, remedy, detail) = match &e {
            PostgresError::System(s) => return s.clone().into(),
            PostgresError::DataDir(d) => {
                let (remedy, detail) = data_directory(d);
                (OcfCode::ErrInstalled, remedy, detail)
            }
            PostgresError::UnsafeFile(f) => (OcfCode::ErrGeneric, unsafe_file(f), None),
            PostgresError::UnsafeVersionFile(f) => (OcfCode::ErrInstalled, unsafe_file(f), None),
            PostgresError::ControlDataFailed(_) => (
                OcfCode::ErrGeneric,
                remedy!("check datadir and global/pg_control in it"),
                None,
            ),
            PostgresError::ControlDataUnreadable(_) => (
                OcfCode::ErrGeneric,
                remedy!("check that bindir's PostgreSQL matches PG_VERSION"),
                None,
            ),
            PostgresError::CannotStart {
                program, user, dir, ..
            } => (
                OcfCode::ErrGeneric,
                remedy!("standby.signal and pgsqlms-startup.log must be regular files"),
                Some(format!(
                    "{} was started as {user} in {}",
                    program.display(),
                    dir.display()
                )),
            ),
            PostgresError::ExitedAtStartup {
                last_words, log, ..
            } => (
                OcfCode::ErrGeneric,
                remedy!("see pgsqlms-startup.log and the server log"),
                Some(format!(
                    "its last words: {last_words}; {} has the start-up output",
                    log.display()
                )),
            ),
            PostgresError::StartedAsPrimary => (
                OcfCode::ErrGeneric,
                remedy!("stop it, check start_opts and the server log"),
                None,
            ),
            PostgresError::NotStandbyInTime { last_state } => (
                OcfCode::ErrGeneric,
                remedy!("check primary_conninfo, pg_hba.conf and the server log"),
                Some(format!(
                    "last state: {last_state}; a standby that cannot reach a consistent state needs WAL from the primary"
                )),
            ),
            PostgresError::Hung(_) => (
                OcfCode::ErrGeneric,
                UnreachableCause::Hung.remedy(),
                None,
            ),
            PostgresError::StillRunning(pids) => (
                OcfCode::ErrGeneric,
                remedy!("see the server log; raise the stop timeout if it is just slow"),
                Some(format!("still running: {pids:?}")),
            ),
            PostgresError::Runtime(_) => (
                OcfCode::ErrGeneric,
                remedy!("report this bug; see the log"),
                None,
            ),
        };
        answer(code, &e, remedy, detail)
    }
}

fn unsafe_file(e: &UnsafeFile) -> Remedy {
    match e {
        UnsafeFile::Os { .. } => remedy!("let root read the data directory's files"),
        _ => remedy!("PostgreSQL did not write it: find who did, remove it"),
    }
}

impl From<DataDirError> for OcfError {
    fn from(e: DataDirError) -> Self {
        PostgresError::DataDir(e).into()
    }
}

/// A data directory that is missing or that root may not look into exists on this node
/// only: Pacemaker bans the node.
fn data_directory(e: &DataDirError) -> (Remedy, Option<String>) {
    match e {
        DataDirError::Missing(_) => (
            remedy!("create it (initdb or pg_basebackup), or fix datadir"),
            None,
        ),
        DataDirError::UntrustedLink { path, link } => (
            remedy!("others can replace it: set datadir to the real path"),
            Some(format!(
                "{} is reached through the symbolic link {}, which a user other than root can replace",
                path.display(),
                link.display()
            )),
        ),
        DataDirError::WrongOwner { path, expected, .. } => (
            remedy!("point datadir at the instance, or fix system_user"),
            Some(format!(
                "{} is not owned by the system user (uid {expected}): it is not this instance's data directory",
                path.display()
            )),
        ),
        DataDirError::Relative(_)
        | DataDirError::NotDirectory(_)
        | DataDirError::RootOwned(_)
        | DataDirError::LinkLoop(_) => (
            remedy!("point datadir at the instance, or fix system_user"),
            None,
        ),
        DataDirError::Os { .. } => (remedy!("check the directories' permissions"), None),
    }
}

impl From<PacemakerError> for OcfError {
    fn from(e: PacemakerError) -> Self {
        let (remedy, detail) = match &e {
            PacemakerError::BadScore { node, value } => (
                remedy!("set it with crm_attribute --promotion, or delete it"),
                Some(format!("the promotion score of {node} is {value:?}")),
            ),
            PacemakerError::NoValue(_) => {
                (remedy!("check the Pacemaker version (2.1 expected)"), None)
            }
            PacemakerError::Tool(_)
            | PacemakerError::Failed { .. }
            | PacemakerError::QueryFailed { .. }
            | PacemakerError::Panicked => (PACEMAKER_RUNS, None),
        };
        // Pacemaker's tools failing is this node's trouble for now, not a setting.
        answer(OcfCode::ErrGeneric, &e, remedy, detail)
    }
}

fn answer(
    code: OcfCode,
    problem: &impl std::fmt::Display,
    remedy: Remedy,
    detail: Option<String>,
) -> OcfError {
    OcfError {
        detail,
        ..OcfError::new(code, problem.to_string()).with_remedy(remedy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logic::hang::Hang;
    use crate::ocf::exit_reason_texts::TRAILING_VALUE;
    use crate::ocf::log::{MAX_VALUE, REASON_SEPARATOR};
    use crate::system::Untrusted;
    use nix::errno::Errno;
    use std::path::PathBuf;

    /// A value longer than any exit reason, for every text field.
    fn long() -> String {
        "x".repeat(300)
    }

    fn every_error() -> Vec<OcfError> {
        let path = || PathBuf::from(format!("/{}", long()));
        let system = vec![
            SystemError::NoSuchUser(long()),
            SystemError::RootUser(long()),
            SystemError::Identity {
                user: long(),
                errno: Errno::ENAMETOOLONG,
            },
            SystemError::MissingProgram(path()),
            SystemError::UntrustedProgram {
                program: path(),
                culprit: path(),
                why: Untrusted::Owner(u32::MAX),
            },
            SystemError::UntrustedProgram {
                program: path(),
                culprit: path(),
                why: Untrusted::Writable,
            },
            SystemError::Spawn {
                program: long(),
                error: long(),
            },
            SystemError::Wait {
                program: long(),
                error: long(),
            },
            SystemError::TimedOut(long()),
        ];
        let data_dir = vec![
            DataDirError::Missing(path()),
            DataDirError::Relative(path()),
            DataDirError::UntrustedLink {
                path: path(),
                link: path(),
            },
            DataDirError::NotDirectory(path()),
            DataDirError::WrongOwner {
                path: path(),
                uid: u32::MAX,
                expected: u32::MAX,
            },
            DataDirError::RootOwned(path()),
            DataDirError::LinkLoop(path()),
            DataDirError::Os {
                path: path(),
                errno: Errno::ENAMETOOLONG,
            },
        ];
        let files = [
            UnsafeFile::Link(long()),
            UnsafeFile::NotRegular(long()),
            UnsafeFile::WrongOwner {
                name: long(),
                uid: u32::MAX,
            },
            UnsafeFile::TooLarge {
                name: long(),
                limit: u64::MAX,
            },
            UnsafeFile::Os {
                name: long(),
                errno: Errno::ENAMETOOLONG,
            },
        ];
        let postgres = vec![
            PostgresError::ControlDataFailed(long()),
            PostgresError::ControlDataUnreadable(long()),
            PostgresError::CannotStart {
                error: long(),
                program: path(),
                user: long(),
                dir: path(),
            },
            PostgresError::ExitedAtStartup {
                status: "signal: 11 (SIGSEGV) (core dumped)".into(),
                last_words: long(),
                log: path(),
            },
            PostgresError::StartedAsPrimary,
            PostgresError::NotStandbyInTime { last_state: long() },
            PostgresError::StillRunning(vec![4194304; 100]),
            PostgresError::Hung(Hang::PostmasterStalled(
                4194304,
                std::time::Duration::from_secs(100_000),
            )),
            PostgresError::Runtime(long()),
        ];
        let pacemaker = vec![
            PacemakerError::Tool(SystemError::TimedOut(long())),
            PacemakerError::Failed {
                what: long(),
                message: long(),
            },
            PacemakerError::BadScore {
                node: long(),
                value: long(),
            },
            PacemakerError::QueryFailed {
                tool: "attrd_updater".into(),
                what: long(),
                exit: Some(i32::MIN),
            },
            PacemakerError::QueryFailed {
                tool: "crm_attribute".into(),
                what: long(),
                exit: None,
            },
            PacemakerError::NoValue(long()),
            PacemakerError::Panicked,
        ];
        system
            .into_iter()
            .map(OcfError::from)
            .chain(data_dir.into_iter().map(OcfError::from))
            .chain(files.iter().flat_map(|f| {
                [
                    OcfError::from(PostgresError::UnsafeFile(f.clone())),
                    OcfError::from(PostgresError::UnsafeVersionFile(f.clone())),
                ]
            }))
            .chain(postgres.into_iter().map(OcfError::from))
            .chain(pacemaker.into_iter().map(OcfError::from))
            .collect()
    }

    /// With the longest values, the exit reason keeps the remedy whole and cuts at most the
    /// problem's last value (a tool's or the system's message, whose start says enough)
    /// to its first `TRAILING_VALUE` bytes, as `exit_reason_texts` allows the texts it scans.
    #[test]
    fn every_error_becomes_an_exit_reason_with_its_remedy_whole() {
        let all = every_error();
        assert!(all.len() > 35, "{}", all.len());
        for e in all {
            let remedy = e.remedy.expect("a remedy").as_str();
            let reason = e.reason();
            let shown = reason
                .strip_suffix(remedy)
                .and_then(|r| r.strip_suffix(REASON_SEPARATOR))
                .unwrap_or_else(|| panic!("remedy cut: {reason}"));
            let shown = shown.strip_suffix("...").unwrap_or(shown);
            assert!(e.problem.starts_with(shown), "{reason}");
            assert!(
                e.problem.len() - shown.len() <= MAX_VALUE - TRAILING_VALUE,
                "more than the last value cut: {reason}"
            );
        }
    }

    #[test]
    fn only_settings_wrong_everywhere_are_configuration_errors() {
        for e in every_error() {
            let setting = e.problem.contains("uid 0")
                || e.detail
                    .as_deref()
                    .is_some_and(|d| d.contains("someone other than root could change it"));
            assert_eq!(e.code == OcfCode::ErrConfigured, setting, "{e:?}");
        }
    }

    #[test]
    fn what_is_missing_on_this_node_bans_the_node() {
        let missing = [
            OcfError::from(SystemError::NoSuchUser("postgres".into())),
            OcfError::from(SystemError::MissingProgram("/usr/bin/postgres".into())),
            OcfError::from(DataDirError::Missing("/d".into())),
            OcfError::from(PostgresError::System(SystemError::Spawn {
                program: "pg_controldata".into(),
                error: "ENOENT".into(),
            })),
        ];
        for e in missing {
            assert_eq!(e.code, OcfCode::ErrInstalled, "{e:?}");
        }
    }
}
