//! The host: running programs (as root or as the system user, never through a shell) and
//! the system user's account.

pub mod accounts;
pub mod command;

use crate::ocf::log::brief;
use std::path::PathBuf;

/// What went wrong on the host. `agent::errors` says what each means for Pacemaker.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SystemError {
    #[error("system user {:?} does not exist on this node", brief(.0))]
    NoSuchUser(String),
    #[error("system_user={} has uid 0", brief(.0))]
    RootUser(String),
    #[error("cannot take the identity of {}: {errno:?}", brief(user))]
    Identity { user: String, errno: nix::Error },
    #[error("{} is missing or not executable", brief(.0.display()))]
    MissingProgram(PathBuf),
    /// (`program` is in the log line that reports it)
    #[error("{} {why}", brief(culprit.display()))]
    UntrustedProgram {
        program: PathBuf,
        culprit: PathBuf,
        why: Untrusted,
    },
    #[error("cannot run {}: {}", brief(program), brief(error))]
    Spawn { program: String, error: String },
    #[error("{} failed: {}", brief(program), brief(error))]
    Wait { program: String, error: String },
    #[error("{} did not finish in time", brief(.0))]
    TimedOut(String),
}

/// Why someone other than root could change a program (or a directory or link on its way).
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum Untrusted {
    #[error("belongs to uid {0}")]
    Owner(u32),
    #[error("is writable by group or others")]
    Writable,
}
