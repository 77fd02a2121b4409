//! The local PostgreSQL instance: observing it (socket, postmaster.pid, pg_control) and
//! starting or stopping it. Process control is direct: the agent starts `postgres` itself
//! as the system user, with its arguments as a vector (pg_ctl would pass them through a
//! shell), and stops it with the postmaster's documented signals. Root reaches the data
//! directory only through the descriptor `Agent::datadir` opened; what is written there is
//! written by the server's own child after it dropped to the system user.

use crate::agent::Agent;
use crate::logic::controldata::{self, ControlData};
use crate::logic::state::{
    self, DownFacts, InstanceState, Liveness, PostmasterAddress, Unreachable, UnreachableCause,
};
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::ocf::{remedy, OcfCode, OcfError, OcfResult};
use crate::postgres::datadir::{DataDir, DataDirError};
use crate::postgres::processes;
use crate::postgres::sql::{ConnectError, Db};
use crate::system::command;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The longest a single connection attempt may take, whatever the action's budget.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);
/// File in the data directory that receives the server's output until its own logging
/// takes over, so the server never inherits the agent's stdout and stderr.
pub const STARTUP_LOG: &str = "pgsqlms-startup.log";
/// What root reads of postmaster.pid at most: a few short lines.
const PID_FILE_LIMIT: u64 = 8192;
/// How much of the start-up log is read back for an exit reason.
const LOG_TAIL: u64 = 4096;

/// The instance's state, the open connection when it answered, and pg_control when it
/// did not (read to classify it).
pub struct Probe {
    pub state: InstanceState,
    pub db: Option<Db>,
    control: Option<ControlData>,
}

impl Probe {
    /// pg_control as the probe read it, or read now when the probe did not need it.
    pub fn control(&self, a: &Agent) -> OcfResult<ControlData> {
        self.control.clone().map_or_else(|| controldata(a), Ok)
    }
}

pub fn connect(a: &Agent, deadline: Deadline) -> Result<Db, ConnectError> {
    let user = a.user().map_err(ConnectError::Agent)?;
    let timeout = deadline
        .capped(CONNECT_LIMIT)
        .remaining()
        .max(Duration::from_millis(100));
    Db::connect(&a.params, user, timeout)
}

/// True when the settings are usable on this node and its data directory holds an
/// instance; false when there is no data directory (or no PG_VERSION in it).
pub fn usable(a: &Agent) -> OcfResult<bool> {
    a.check_identity_and_programs()?;
    Ok(a.existing_datadir()?
        .is_some_and(|d| d.has_regular_file("PG_VERSION")))
}

/// The data directory as root may look at it when the settings cannot be used (`why`):
/// owned by anyone but root. `None` when it does not exist or root owns it, so that no
/// postmaster can run in it.
fn unchecked_datadir(a: &Agent, why: &OcfError) -> OcfResult<Option<DataDir>> {
    match DataDir::open(&a.params.datadir, None) {
        Ok(dir) => Ok(Some(dir)),
        Err(DataDirError::Missing(_) | DataDirError::RootOwned(_)) => Ok(None),
        Err(e) => Err(OcfError {
            detail: Some(format!(
                "and no telling whether a postmaster runs in datadir: {e}"
            )),
            ..why.clone()
        }),
    }
}

/// The running postmaster of the data directory, found without what failed (`why`): no
/// program runs, no system user is needed and postmaster.pid is not read.
pub fn postmaster_despite(a: &Agent, why: &OcfError) -> OcfResult<Option<i32>> {
    let Some(dir) = unchecked_datadir(a, why)? else {
        return Ok(None);
    };
    Ok(processes::roots(&dir).first().copied())
}

/// Stops the instance when the agent cannot look at it as usual (`why`: settings it
/// cannot use, files it refuses to read): a fast-shutdown signal to its postmaster, which
/// runs nothing as root, then the wait until none of its processes is left. A stop that
/// failed for that alone would get the node fenced.
pub fn stop_despite(a: &Agent, why: &OcfError) -> OcfResult<()> {
    let Some(dir) = unchecked_datadir(a, why)? else {
        return Ok(());
    };
    for pid in processes::roots(&dir) {
        log::warning!(
            "{}; stopping postmaster {pid} with a fast shutdown signal only",
            why.message()
        );
        processes::signal(&dir, pid, Signal::SIGINT);
    }
    wait_gone_from(&dir, a.deadline)
}

/// Looks at the instance once.
pub fn probe(a: &Agent) -> OcfResult<Probe> {
    let (liveness, db) = match connect(a, a.deadline) {
        Ok(db) => match db.is_in_recovery() {
            Ok(in_recovery) => (Liveness::Accepting { in_recovery }, Some(db)),
            Err(message) => (
                Liveness::Unreachable(Unreachable {
                    cause: UnreachableCause::Other,
                    message,
                }),
                None,
            ),
        },
        Err(ConnectError::NotListening) => (Liveness::NotListening, None),
        Err(ConnectError::Rejecting(m)) => (Liveness::Rejecting(m), None),
        Err(ConnectError::Failed(u)) => (Liveness::Unreachable(u), None),
        Err(ConnectError::Agent(e)) => return Err(e),
    };
    if let Some(state) = state::classify_liveness(&liveness) {
        return Ok(Probe {
            state,
            db,
            control: None,
        });
    }
    let dir = a.datadir()?;
    let pid_file = pid_file(dir)?;
    let postmaster_alive = pid_file
        .as_deref()
        .and_then(|text| processes::postmaster(dir, text))
        .is_some();
    if let Some(why) = postmaster_alive
        .then(|| misaddressed(a, pid_file.as_deref()?))
        .flatten()
    {
        return Ok(Probe {
            state: InstanceState::Unreachable(why),
            db: None,
            control: None,
        });
    }
    let control = controldata(a)?;
    let facts = DownFacts {
        postmaster_alive,
        backup_label: dir.has_entry("backup_label"),
        cluster_state: control.state,
    };
    Ok(Probe {
        state: state::classify_down(&facts),
        db: None,
        control: Some(control),
    })
}

/// postmaster.pid, if there is one; a file PostgreSQL would not have written there fails
/// the action.
fn pid_file(dir: &DataDir) -> OcfResult<Option<String>> {
    dir.read("postmaster.pid", PID_FILE_LIMIT)
        .map_err(|e| e.to_ocf_error(OcfCode::ErrGeneric))
}

/// A running postmaster the agent finds nothing for on its socket: does it listen
/// elsewhere than pghost/pgport say?
fn misaddressed(a: &Agent, pid_file: &str) -> Option<Unreachable> {
    let actual = PostmasterAddress::parse(pid_file)?;
    // /var/run is often a link to /run
    let same_dir = |x: &str, y: &str| canonical(Path::new(x)) == canonical(Path::new(y));
    // postmaster.pid names the socket directory: resolve it with the system user's rights.
    a.user()
        .ok()?
        .as_effective(|| state::misaddressed(&a.params.pghost, a.params.pgport, &actual, same_dir))
        .ok()
        .flatten()
}

/// Looks at the instance until it is no longer starting or stopping, or the deadline.
pub fn settled(a: &Agent, deadline: Deadline) -> OcfResult<Probe> {
    loop {
        let p = probe(a)?;
        if !p.state.is_transitional() || !deadline.sleep(POLL * 10) {
            return Ok(p);
        }
        log::debug!("instance is in transition: {:?}", p.state);
    }
}

/// pg_control, read with pg_controldata as the system user.
pub fn controldata(a: &Agent) -> OcfResult<ControlData> {
    let mut cmd = a.user()?.command(&a.program("pg_controldata")?);
    cmd.arg("-D").arg(&a.params.datadir);
    let out = command::run(cmd, a.deadline)?;
    if !out.success {
        return Err(OcfError::generic(format!(
            "pg_controldata failed: {}",
            brief(out.last_error_line())
        ))
        .with_remedy(remedy!("check datadir and global/pg_control in it")));
    }
    controldata::parse(&out.stdout).map_err(|e| {
        OcfError::generic(format!("cannot read pg_control: {}", brief(e)))
            .with_remedy(remedy!("check that bindir's PostgreSQL matches PG_VERSION"))
    })
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The last line of the start-up log, for an exit reason.
fn log_tail(dir: &DataDir) -> String {
    dir.tail(STARTUP_LOG, LOG_TAIL)
        .ok()
        .flatten()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Names the server's child creates in the data directory, as the system user, before it
/// runs `postgres`.
struct StartFiles {
    dir: std::os::fd::RawFd,
    standby_signal: CString,
    log: CString,
}

impl StartFiles {
    /// Creates standby.signal and opens the start-up log as stdout and stderr, relative to
    /// the directory descriptor and never through a link or into a FIFO. Runs in the
    /// forked child after it dropped to the system user: system calls only, no allocation.
    fn create(&self) -> std::io::Result<()> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
        let mode = Mode::from_bits_truncate(0o600);
        let signal =
            nix::fcntl::openat(Some(self.dir), self.standby_signal.as_c_str(), flags, mode)?;
        nix::unistd::close(signal)?;
        let log = nix::fcntl::openat(
            Some(self.dir),
            self.log.as_c_str(),
            flags | OFlag::O_APPEND,
            mode,
        )?;
        let st = nix::sys::stat::fstat(log)?;
        if !crate::postgres::datadir::is_kind(&st, nix::sys::stat::SFlag::S_IFREG) {
            return Err(std::io::Error::from_raw_os_error(nix::libc::EINVAL));
        }
        nix::unistd::dup2(log, 1)?;
        nix::unistd::dup2(log, 2)?;
        nix::unistd::close(log)?;
        Ok(())
    }
}

/// Starts the instance as a standby (standby.signal) and waits until it accepts
/// connections in recovery, at most until `deadline`.
pub fn start_standby(a: &Agent, deadline: Deadline) -> OcfResult<()> {
    let dir = a.datadir()?;
    let program = a.program("postgres")?;
    let files = StartFiles {
        dir: dir.raw_fd(),
        standby_signal: CString::new("standby.signal").expect("no NUL"),
        log: CString::new(STARTUP_LOG).expect("no NUL"),
    };
    // The user's pre_exec step (dropping root) runs before the ones added here.
    let mut cmd = a.user()?.command(&program);
    cmd.arg("-D")
        .arg(&a.params.pgdata)
        .args(&a.params.start_opts)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    unsafe {
        cmd.pre_exec(move || files.create());
        // Its own session: the server must outlive the agent and never get its signals.
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(Into::into));
    }
    log::info!("starting the instance as a standby");
    let mut child = cmd.spawn().map_err(|e| {
        OcfError::generic(format!("cannot start the server: {e}"))
            .with_remedy(remedy!(
                "standby.signal and pgsqlms-startup.log must be regular files"
            ))
            .with_detail(format!(
                "{} was started as {} in {}",
                program.display(),
                a.params.system_user,
                dir.path().display()
            ))
    })?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(OcfError::generic(format!(
                "the server exited at start-up ({status}): {}",
                brief(log_tail(dir))
            ))
            .with_remedy(remedy!(
                "see pgsqlms-startup.log in datadir and the server log"
            ))
            .with_detail(format!(
                "its last words: {}; {} has the start-up output",
                log_tail(dir),
                dir.path().join(STARTUP_LOG).display()
            )));
        }
        let p = probe(a)?;
        match p.state {
            InstanceState::RunningStandby => return Ok(()),
            InstanceState::RunningPrimary => {
                return Err(OcfError::generic(
                    "the instance started as a primary despite standby.signal",
                )
                .with_remedy(remedy!("stop it, check start_opts and the server log")))
            }
            _ => {}
        }
        if !deadline.sleep(POLL) {
            return Err(OcfError::generic(
                "the instance did not accept connections as a standby in time",
            )
            .with_remedy(remedy!("check primary_conninfo, pg_hba.conf and the server log"))
            .with_detail(format!(
                "last state: {:?}; a standby that cannot reach a consistent state needs WAL from the primary",
                p.state
            )));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGINT: disconnects clients, writes a shutdown checkpoint.
    Fast,
    /// SIGQUIT: no checkpoint; a standby recovers from it safely.
    Immediate,
}

/// Stops the instance and waits until none of its processes is left.
pub fn stop(a: &Agent, mode: StopMode, deadline: Deadline) -> OcfResult<()> {
    let signal = match mode {
        StopMode::Fast => Signal::SIGINT,
        StopMode::Immediate => Signal::SIGQUIT,
    };
    let dir = a.datadir()?;
    for pid in processes::roots(dir) {
        log::info!("stopping the instance ({mode:?} shutdown of postmaster {pid})");
        processes::signal(dir, pid, signal);
    }
    wait_gone_from(dir, deadline)
}

/// Waits until no process works in the data directory any more.
fn wait_gone(a: &Agent, deadline: Deadline) -> OcfResult<()> {
    wait_gone_from(a.datadir()?, deadline)
}

fn wait_gone_from(dir: &DataDir, deadline: Deadline) -> OcfResult<()> {
    loop {
        let left = processes::all(dir);
        if left.is_empty() {
            return Ok(());
        }
        if !deadline.sleep(POLL) {
            let count = left.len();
            return Err(OcfError::generic(format!(
                "{count} processes of the instance still run after the stop timeout"
            ))
            .with_remedy(remedy!(
                "see the server log; raise the stop timeout if it is just slow"
            ))
            .with_detail(format!("still running: {left:?}")));
        }
    }
}

/// Kills the processes a dead postmaster left behind (its backends exit on their own once
/// they notice; this only bounds the wait).
pub fn reap_orphans(a: &Agent) -> OcfResult<()> {
    if wait_gone(a, a.deadline.capped(Duration::from_secs(3))).is_ok() {
        return Ok(());
    }
    let dir = a.datadir()?;
    for pid in processes::all(dir) {
        log::warning!("killing process {pid} left by the crashed instance");
        processes::signal(dir, pid, Signal::SIGKILL);
    }
    wait_gone(a, a.deadline)
}

/// True when this crashed primary is the one the pre-demote notification approved for
/// recovery in place, and nothing ran it since.
pub fn in_place_recovery_approved(a: &Agent, probe: &Probe) -> bool {
    probe.control(a).is_ok_and(|control| {
        crate::agent::statefile::CrashRecord::of(&control).is_recorded(&a.in_place_recovery_file())
    })
}
