//! The local PostgreSQL instance: its data directory as root may look at it (`datadir`),
//! its processes (`processes`), the agent's SQL connection (`sql`), and starting, stopping
//! and observing it (`instance`); and SQL on another node's instance (`remote`).

pub mod datadir;
pub mod instance;
pub mod processes;
pub mod remote;
pub mod sql;

use crate::logic::hang::Hang;
use crate::ocf::log::brief;
use crate::system::SystemError;
use datadir::{DataDirError, UnsafeFile};
use std::path::PathBuf;

/// What went wrong with the local instance. `agent::errors` says what each means for
/// Pacemaker.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PostgresError {
    #[error(transparent)]
    System(#[from] SystemError),
    /// The data directory is missing or not one root may look into.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// A file in the data directory that PostgreSQL would not have written.
    #[error(transparent)]
    UnsafeFile(#[from] UnsafeFile),
    /// The same, for PG_VERSION, read to check this node's installation.
    #[error(transparent)]
    UnsafeVersionFile(UnsafeFile),
    #[error("pg_controldata failed: {}", brief(.0))]
    ControlDataFailed(String),
    #[error("cannot read pg_control: {}", brief(.0))]
    ControlDataUnreadable(String),
    /// (`program`, `user` and `dir` are in the log line that reports it)
    #[error("cannot start the server: {}", brief(error))]
    CannotStart {
        error: String,
        program: PathBuf,
        user: String,
        dir: PathBuf,
    },
    /// (the whole last line and where the start-up log is are in the log line)
    #[error("the server exited at start-up ({status}): {}", brief(last_words))]
    ExitedAtStartup {
        status: String,
        last_words: String,
        log: PathBuf,
    },
    #[error("the instance started as a primary despite standby.signal")]
    StartedAsPrimary,
    #[error("the instance did not accept connections as a standby in time")]
    NotStandbyInTime { last_state: String },
    #[error("{} processes of the instance still run after the stop timeout", .0.len())]
    StillRunning(Vec<i32>),
    /// A process the shutdown waits for is stopped (see `logic::hang`): it never exits.
    #[error("{}", .0.reason())]
    Hung(Hang),
    #[error("cannot start the SQL client's runtime: {}", brief(.0))]
    Runtime(String),
}
