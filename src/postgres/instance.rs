//! The local PostgreSQL instance: observing it (socket, postmaster.pid, pg_control) and
//! starting or stopping it. Process control is direct: the agent starts `postgres` itself
//! as the system user, with its arguments as a vector (pg_ctl would pass them through a
//! shell), and stops it with the postmaster's documented signals. Root reaches the data
//! directory only through the descriptor `Instance::datadir` opened; what is written there
//! is written by the server's own child after it dropped to the system user.

use crate::logic::controldata::{self, ControlData};
use crate::logic::hang::{self, Hang, Sample};
use crate::logic::lsn::Lsn;
use crate::logic::state::{
    self, DownFacts, InstanceState, Liveness, PostmasterAddress, Unreachable, UnreachableCause,
};
use crate::ocf::config::Params;
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::postgres::datadir::{DataDir, DataDirError};
use crate::postgres::processes;
use crate::postgres::sql::{ConnectError, Db};
use crate::postgres::PostgresError;
use crate::system::command::{self, SystemUser};
use crate::system::SystemError;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use std::cell::OnceCell;
use std::ffi::CString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

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
    pub fn control(&self, instance: &Instance) -> Result<ControlData, PostgresError> {
        self.control
            .clone()
            .map_or_else(|| instance.controldata(), Ok)
    }
}

/// Programs the agent runs from bindir.
pub const PROGRAMS: [&str; 3] = ["postgres", "pg_controldata", "pg_waldump"];

/// The local instance as one action sees it: its settings, the action's deadline, and,
/// looked up once when first needed, the system user and the opened data directory.
pub struct Instance {
    params: Params,
    deadline: Deadline,
    user: OnceCell<SystemUser>,
    datadir: OnceCell<DataDir>,
}

impl Instance {
    pub fn new(params: Params, deadline: Deadline) -> Self {
        Instance {
            params,
            deadline,
            user: OnceCell::new(),
            datadir: OnceCell::new(),
        }
    }

    pub fn user(&self) -> Result<&SystemUser, SystemError> {
        if let Some(u) = self.user.get() {
            return Ok(u);
        }
        let u = SystemUser::lookup(&self.params.system_user)?;
        Ok(self.user.get_or_init(|| u))
    }

    /// `bindir/name`, when it is safe to run (see `command::trusted_program`).
    pub fn program(&self, name: &str) -> Result<PathBuf, SystemError> {
        command::trusted_program(&self.params.bindir, name)
    }

    /// `name` from bindir, run as the system user.
    pub fn command(&self, name: &str) -> Result<std::process::Command, SystemError> {
        Ok(self.user()?.command(&self.program(name)?))
    }

    /// pg_waldump over the local pg_wal, run as the system user: from `start` in the first
    /// of `segments` to `end`, or to the end of the last of them (see
    /// `divergence::waldump_segments`).
    pub fn waldump(
        &self,
        segments: [String; 2],
        start: Lsn,
        end: Option<Lsn>,
    ) -> Result<std::process::Command, SystemError> {
        let mut cmd = self.command("pg_waldump")?;
        cmd.arg("--path")
            .arg(self.params.datadir.join("pg_wal"))
            .arg("--start")
            .arg(start.to_string());
        if let Some(end) = end {
            cmd.arg("--end").arg(end.to_string());
        }
        cmd.args(segments);
        Ok(cmd)
    }

    /// What every action that runs the instance needs of its settings on this node: a
    /// system user that is not root, and programs only root can change.
    pub fn check_identity_and_programs(&self) -> Result<(), SystemError> {
        self.user()?;
        PROGRAMS.iter().try_for_each(|p| self.program(p).map(drop))
    }

    /// The data directory, opened once for the action (see `datadir.rs`); `None` when it
    /// does not exist on this node.
    pub fn existing_datadir(&self) -> Result<Option<&DataDir>, PostgresError> {
        if let Some(d) = self.datadir.get() {
            return Ok(Some(d));
        }
        let owner = self.user()?.uid;
        match DataDir::open(&self.params.datadir, Some(owner)) {
            Ok(d) => Ok(Some(self.datadir.get_or_init(|| d))),
            Err(DataDirError::Missing(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The data directory, which must exist.
    pub fn datadir(&self) -> Result<&DataDir, PostgresError> {
        self.existing_datadir()?
            .ok_or_else(|| DataDirError::Missing(self.params.datadir.clone()).into())
    }

    pub fn connect(&self, deadline: Deadline) -> Result<Db, ConnectError> {
        let user = self.user().map_err(|e| ConnectError::Local(e.into()))?;
        let timeout = deadline
            .capped(CONNECT_LIMIT)
            .remaining()
            .max(Duration::from_millis(100));
        Db::connect(&self.params, user, timeout)
    }

    /// True when the settings are usable on this node and its data directory holds an
    /// instance; false when there is no data directory (or no PG_VERSION in it).
    pub fn usable(&self) -> Result<bool, PostgresError> {
        self.check_identity_and_programs()?;
        Ok(self
            .existing_datadir()?
            .is_some_and(|d| d.has_regular_file("PG_VERSION")))
    }

    /// Looks at the instance once.
    /// Looks at the instance once. A stopped postmaster is not asked (it would never
    /// answer); a server that does not answer is told hung or slow from its processes (see
    /// `logic::hang`).
    pub fn probe(&self) -> Result<Probe, PostgresError> {
        let before = self.postmaster_sample();
        if let Some(h) = before.as_ref().and_then(hang::before_asking) {
            if let Some(h) = confirmed(h) {
                return Ok(hung(&h));
            }
        }
        let asked = Instant::now();
        let (liveness, db) = match self.connect(self.deadline) {
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
            Err(ConnectError::Failed(u)) if u.cause == UnreachableCause::Timeout => {
                match self.silent(before.as_ref(), asked, u) {
                    Ok(slow) => (Liveness::Unreachable(slow), None),
                    Err(h) => return Ok(hung(&h)),
                }
            }
            Err(ConnectError::Failed(u)) if u.cause == UnreachableCause::TooManyConnections => {
                // An answer: the server is alive, only full. Its role is in pg_control.
                let control = self.controldata()?;
                if let Some(state) = state::role_of_full_server(control.state) {
                    log::warning!(
                        "{}: role taken from pg_control; keep superuser_reserved_connections free for the agent",
                        u.message
                    );
                    return Ok(Probe {
                        state,
                        db: None,
                        control: Some(control),
                    });
                }
                (Liveness::Unreachable(u), None)
            }
            Err(ConnectError::Failed(u)) => (Liveness::Unreachable(u), None),
            Err(ConnectError::Local(e)) => return Err(e),
        };
        if let Some(state) = state::classify_liveness(&liveness) {
            return Ok(Probe {
                state,
                db,
                control: None,
            });
        }
        let dir = self.datadir()?;
        let pid_file = pid_file(dir)?;
        let postmaster_alive = pid_file
            .as_deref()
            .and_then(|text| processes::postmaster(dir, text))
            .is_some();
        if let Some(why) = postmaster_alive
            .then(|| self.misaddressed(pid_file.as_deref()?))
            .flatten()
        {
            return Ok(Probe {
                state: InstanceState::Unreachable(why),
                db: None,
                control: None,
            });
        }
        let control = self.controldata()?;
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

    /// The postmaster postmaster.pid names, as the kernel shows it now; `None` when there is
    /// none (what keeps the agent from reading postmaster.pid is reported by the rest of the
    /// probe).
    fn postmaster_sample(&self) -> Option<Sample> {
        let dir = self.existing_datadir().ok()??;
        let text = pid_file(dir).ok()??;
        processes::sample(processes::postmaster(dir, &text)?)
    }

    /// A server that gave no answer since `asked`: hung when its postmaster (sampled
    /// `before` the attempt) is stopped or stalled; otherwise slow, and the message says
    /// what its processes were doing.
    fn silent(
        &self,
        before: Option<&Sample>,
        asked: Instant,
        timeout: Unreachable,
    ) -> Result<Unreachable, Hang> {
        let after = self.postmaster_sample();
        if let (Some(b), Some(now)) = (before, after.as_ref()) {
            if let Some(h) = hang::after_silence(b, now, asked.elapsed()) {
                return Err(h);
            }
        }
        let all = self
            .existing_datadir()
            .ok()
            .flatten()
            .map(processes::sample_all)
            .unwrap_or_default();
        Ok(Unreachable {
            message: format!(
                "slow: {}; {}",
                timeout.message,
                hang::describe(after.as_ref(), &all)
            ),
            ..timeout
        })
    }

    /// A running postmaster the agent finds nothing for on its socket: does it listen
    /// elsewhere than pghost/pgport say?
    fn misaddressed(&self, pid_file: &str) -> Option<Unreachable> {
        let actual = PostmasterAddress::parse(pid_file)?;
        // /var/run is often a link to /run
        let same_dir = |x: &str, y: &str| canonical(Path::new(x)) == canonical(Path::new(y));
        // postmaster.pid names the socket directory: resolve it with the system user's rights.
        self.user()
            .ok()?
            .as_effective(|| {
                state::misaddressed(&self.params.pghost, self.params.pgport, &actual, same_dir)
            })
            .ok()
            .flatten()
    }

    /// Looks at the instance until it is no longer starting or stopping, or the deadline.
    pub fn settled(&self, deadline: Deadline) -> Result<Probe, PostgresError> {
        loop {
            let p = self.probe()?;
            if !p.state.is_transitional() || !deadline.sleep(POLL * 10) {
                return Ok(p);
            }
            log::debug!("instance is in transition: {:?}", p.state);
        }
    }

    /// pg_control, read with pg_controldata as the system user.
    pub fn controldata(&self) -> Result<ControlData, PostgresError> {
        let mut cmd = self.user()?.command(&self.program("pg_controldata")?);
        cmd.arg("-D").arg(&self.params.datadir);
        let out = command::run(cmd, self.deadline)?;
        if !out.success {
            return Err(PostgresError::ControlDataFailed(
                out.last_error_line().to_string(),
            ));
        }
        controldata::parse(&out.stdout)
            .map_err(|e| PostgresError::ControlDataUnreadable(e.to_string()))
    }

    /// Starts the instance as a standby (standby.signal) and waits until it accepts
    /// connections in recovery, at most until `deadline`.
    pub fn start_standby(&self, deadline: Deadline) -> Result<(), PostgresError> {
        let dir = self.datadir()?;
        let program = self.program("postgres")?;
        let files = StartFiles {
            dir: dir.raw_fd(),
            standby_signal: CString::new("standby.signal").expect("no NUL"),
            log: CString::new(STARTUP_LOG).expect("no NUL"),
        };
        // The user's pre_exec step (dropping root) runs before the ones added here.
        let mut cmd = self.user()?.command(&program);
        cmd.arg("-D")
            .arg(&self.params.pgdata)
            .args(&self.params.start_opts)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unsafe {
            cmd.pre_exec(move || files.create());
            // Its own session: the server must outlive the agent and never get its signals.
            cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(Into::into));
        }
        log::info!("starting the instance as a standby");
        let mut child = cmd.spawn().map_err(|e| PostgresError::CannotStart {
            error: e.to_string(),
            program: program.clone(),
            user: self.params.system_user.clone(),
            dir: dir.path().to_path_buf(),
        })?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(PostgresError::ExitedAtStartup {
                    status: status.to_string(),
                    last_words: log_tail(dir),
                    log: dir.path().join(STARTUP_LOG),
                });
            }
            let p = self.probe()?;
            match p.state {
                InstanceState::RunningStandby => return Ok(()),
                InstanceState::RunningPrimary => return Err(PostgresError::StartedAsPrimary),
                _ => {}
            }
            if !deadline.sleep(POLL) {
                return Err(PostgresError::NotStandbyInTime {
                    last_state: format!("{:?}", p.state),
                });
            }
        }
    }

    /// Stops the instance and waits until none of its processes is left.
    pub fn stop(&self, mode: StopMode, deadline: Deadline) -> Result<(), PostgresError> {
        let signal = match mode {
            StopMode::Fast => Signal::SIGINT,
            StopMode::Immediate => Signal::SIGQUIT,
        };
        let dir = self.datadir()?;
        for pid in processes::roots(dir) {
            log::info!("stopping the instance ({mode:?} shutdown of postmaster {pid})");
            processes::signal(dir, pid, signal);
        }
        wait_gone_from(dir, deadline)
    }

    /// Waits until no process works in the data directory any more.
    fn wait_gone(&self, deadline: Deadline) -> Result<(), PostgresError> {
        wait_gone_from(self.datadir()?, deadline)
    }

    /// Kills the processes a dead postmaster left behind (its backends exit on their own once
    /// they notice; this only bounds the wait).
    pub fn reap_orphans(&self) -> Result<(), PostgresError> {
        if self
            .wait_gone(self.deadline.capped(Duration::from_secs(3)))
            .is_ok()
        {
            return Ok(());
        }
        let dir = self.datadir()?;
        for pid in processes::all(dir) {
            log::warning!("killing process {pid} left by the crashed instance");
            processes::signal(dir, pid, Signal::SIGKILL);
        }
        self.wait_gone(self.deadline)
    }
}

/// The data directory as root may look at it when the settings cannot be used: owned by
/// anyone but root. `None` when it does not exist or root owns it, so that no postmaster
/// can run in it.
fn unchecked_datadir(datadir: &Path) -> Result<Option<DataDir>, DataDirError> {
    match DataDir::open(datadir, None) {
        Ok(dir) => Ok(Some(dir)),
        Err(DataDirError::Missing(_) | DataDirError::RootOwned(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The running postmaster of the data directory, found when the settings cannot be used:
/// no program runs, no system user is needed and postmaster.pid is not read.
pub fn postmaster_despite(datadir: &Path) -> Result<Option<i32>, DataDirError> {
    Ok(unchecked_datadir(datadir)?.and_then(|dir| processes::roots(&dir).first().copied()))
}

/// Stops the instance when the agent cannot look at it as usual (`why`: settings it
/// cannot use, files it refuses to read): a fast-shutdown signal to its postmaster, which
/// runs nothing as root, then the wait until none of its processes is left. A stop that
/// failed for that alone would get the node fenced.
pub fn stop_despite(datadir: &Path, deadline: Deadline, why: &str) -> Result<(), PostgresError> {
    let Some(dir) = unchecked_datadir(datadir)? else {
        return Ok(());
    };
    for pid in processes::roots(&dir) {
        log::warning!("{why}; stopping postmaster {pid} with a fast shutdown signal only");
        processes::signal(&dir, pid, Signal::SIGINT);
    }
    wait_gone_from(&dir, deadline)
}

/// postmaster.pid, if there is one; a file PostgreSQL would not have written there fails
/// the action.
/// `h`, a process found stopped, if it still is after `hang::CONFIRM`.
fn confirmed(h: Hang) -> Option<Hang> {
    std::thread::sleep(hang::CONFIRM);
    let again = processes::sample(h.pid());
    hang::still_stopped(h, again.as_ref())
}

fn hung(h: &Hang) -> Probe {
    Probe {
        state: InstanceState::Unreachable(Unreachable {
            cause: UnreachableCause::Hung,
            message: h.reason(),
        }),
        db: None,
        control: None,
    }
}

fn pid_file(dir: &DataDir) -> Result<Option<String>, PostgresError> {
    Ok(dir.read("postmaster.pid", PID_FILE_LIMIT)?)
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGINT: disconnects clients, writes a shutdown checkpoint.
    Fast,
    /// SIGQUIT: no checkpoint; a standby recovers from it safely.
    Immediate,
}

fn wait_gone_from(dir: &DataDir, deadline: Deadline) -> Result<(), PostgresError> {
    loop {
        let left = processes::all(dir);
        if left.is_empty() {
            return Ok(());
        }
        // A stopped process never exits: fail now, so that Pacemaker fences at once.
        let samples: Vec<Sample> = left.iter().filter_map(|p| processes::sample(*p)).collect();
        if let Some(h) = hang::blocking_shutdown(&samples).and_then(confirmed) {
            return Err(PostgresError::Hung(h));
        }
        if !deadline.sleep(POLL) {
            return Err(PostgresError::StillRunning(left));
        }
    }
}
