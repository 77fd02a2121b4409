//! The local PostgreSQL instance: observing it (socket, postmaster.pid, pg_control) and
//! starting or stopping it. Process control is direct: the agent starts `postgres` itself
//! as the system user, with its arguments as a vector (pg_ctl would pass them through a
//! shell), and stops it with the postmaster's documented signals.

use crate::agent::Agent;
use crate::command::{self, SystemUser};
use crate::controldata::{self, ControlData};
use crate::deadline::Deadline;
use crate::ocf::{OcfError, OcfResult};
use crate::pg::{ConnectError, Db};
use crate::state::{self, DownFacts, InstanceState, Liveness, PostmasterAddress};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    let user = a.user().map_err(|e| ConnectError::Failed(e.reason))?;
    let timeout = deadline
        .capped(CONNECT_LIMIT)
        .remaining()
        .max(Duration::from_millis(100));
    Db::connect(&a.params, user, timeout)
}

/// Looks at the instance once.
pub fn probe(a: &Agent) -> OcfResult<Probe> {
    let (liveness, db) = match connect(a, a.deadline) {
        Ok(db) => match db.is_in_recovery() {
            Ok(in_recovery) => (Liveness::Accepting { in_recovery }, Some(db)),
            Err(e) => (Liveness::Unreachable(e), None),
        },
        Err(ConnectError::NotListening) => (Liveness::NotListening, None),
        Err(ConnectError::Rejecting(m)) => (Liveness::Rejecting(m), None),
        Err(ConnectError::Failed(m)) => (Liveness::Unreachable(m), None),
    };
    if let Some(state) = state::classify_liveness(&liveness) {
        return Ok(Probe {
            state,
            db,
            control: None,
        });
    }
    let postmaster_alive = postmaster_pid(&a.params.datadir).is_some();
    if let Some(why) = postmaster_alive.then(|| misaddressed(a)).flatten() {
        return Ok(Probe {
            state: InstanceState::Unreachable(why),
            db: None,
            control: None,
        });
    }
    let control = controldata(a)?;
    let facts = DownFacts {
        postmaster_alive,
        backup_label: a.params.datadir.join("backup_label").exists(),
        cluster_state: control.state,
    };
    Ok(Probe {
        state: state::classify_down(&facts),
        db: None,
        control: Some(control),
    })
}

/// A running postmaster the agent finds nothing for on its socket: does it listen
/// elsewhere than pghost/pgport say?
fn misaddressed(a: &Agent) -> Option<String> {
    let text = fs::read_to_string(a.params.datadir.join("postmaster.pid")).ok()?;
    let actual = PostmasterAddress::parse(&text)?;
    // /var/run is often a link to /run
    let same_dir = |x: &str, y: &str| canonical(Path::new(x)) == canonical(Path::new(y));
    state::misaddressed(&a.params.pghost, a.params.pgport, &actual, same_dir)
}

/// Looks at the instance until it is no longer starting or stopping, or the deadline.
pub fn settled(a: &Agent, deadline: Deadline) -> OcfResult<Probe> {
    loop {
        let p = probe(a)?;
        if !p.state.is_transitional() || !deadline.sleep(POLL * 10) {
            return Ok(p);
        }
        crate::debug!("instance is in transition: {:?}", p.state);
    }
}

/// pg_control, read with pg_controldata as the system user.
pub fn controldata(a: &Agent) -> OcfResult<ControlData> {
    let mut cmd = a.user()?.command(&a.params.bin("pg_controldata"));
    cmd.arg("-D").arg(&a.params.datadir);
    let out = command::run(cmd, a.deadline)?;
    if !out.success {
        return Err(OcfError::generic(format!(
            "pg_controldata failed on {}: {}",
            a.params.datadir.display(),
            out.last_error_line()
        )));
    }
    controldata::parse(&out.stdout)
        .map_err(|e| OcfError::generic(format!("cannot read pg_control: {e}")))
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// True when `pid` is a live (not zombie) process working in `datadir`: PostgreSQL's
/// processes all run with the data directory as their working directory, which also
/// guards against a recycled pid.
fn is_instance_process(pid: i32, datadir: &Path) -> bool {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let zombie = fs::read_to_string(proc_dir.join("stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true);
    !zombie && fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| cwd == datadir)
}

/// The pid of the running postmaster of `datadir`, if any.
pub fn postmaster_pid(datadir: &Path) -> Option<i32> {
    let text = fs::read_to_string(datadir.join("postmaster.pid")).ok()?;
    let pid: i32 = text.lines().next()?.trim().parse().ok()?;
    (pid > 0 && is_instance_process(pid, &canonical(datadir))).then_some(pid)
}

/// Every live process working in `datadir`: the postmaster and its children, including
/// backends orphaned by a killed postmaster.
fn instance_processes(datadir: &Path) -> Vec<i32> {
    let dir = canonical(datadir);
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != std::process::id() as i32 && is_instance_process(*pid, &dir))
        .collect()
}

/// Writes `name` in the data directory: a temporary file, then a rename, owned by the
/// system user, mode 0600.
fn write_datadir_file(a: &Agent, name: &str, content: &[u8]) -> OcfResult<()> {
    let user = a.user()?;
    let fail = |e: std::io::Error| {
        OcfError::installed(format!(
            "cannot write {name} in {}: {e}; check the data directory's ownership and free space",
            a.params.datadir.display()
        ))
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".pgsqlms-")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(&a.params.datadir)
        .map_err(fail)?;
    tmp.write_all(content).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    nix::unistd::fchown(
        std::os::fd::AsRawFd::as_raw_fd(tmp.as_file()),
        Some(user.uid),
        Some(user.gid),
    )
    .map_err(|e| fail(e.into()))?;
    tmp.persist(a.params.datadir.join(name))
        .map_err(|e| fail(e.error))?;
    Ok(())
}

fn startup_log(a: &Agent, user: &SystemUser) -> OcfResult<fs::File> {
    let path = a.params.datadir.join(STARTUP_LOG);
    let file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| OcfError::installed(format!("cannot open {}: {e}", path.display())))?;
    let _ = nix::unistd::fchown(
        std::os::fd::AsRawFd::as_raw_fd(&file),
        Some(user.uid),
        Some(user.gid),
    );
    Ok(file)
}

fn log_tail(a: &Agent) -> String {
    fs::read_to_string(a.params.datadir.join(STARTUP_LOG))
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Starts the instance as a standby (standby.signal) and waits until it accepts
/// connections in recovery, at most until `deadline`.
pub fn start_standby(a: &Agent, deadline: Deadline) -> OcfResult<()> {
    write_datadir_file(a, "standby.signal", b"")?;
    let user = a.user()?;
    let log = startup_log(a, user)?;
    let err_log = log
        .try_clone()
        .map_err(|e| OcfError::installed(format!("cannot duplicate the startup log: {e}")))?;
    let mut cmd = user.command(&a.params.bin("postgres"));
    cmd.arg("-D")
        .arg(&a.params.pgdata)
        .args(&a.params.start_opts)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    // Its own session: the server must outlive the agent and never get its signals.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(Into::into));
    }
    crate::info!("starting the instance as a standby");
    let mut child = cmd.spawn().map_err(|e| {
        OcfError::installed(format!(
            "cannot run {}: {e}",
            a.params.bin("postgres").display()
        ))
    })?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(OcfError::generic(format!(
                "the server exited during start-up ({status}): {}; see {} and the server log",
                log_tail(a),
                a.params.datadir.join(STARTUP_LOG).display()
            )));
        }
        let p = probe(a)?;
        match p.state {
            InstanceState::RunningStandby => return Ok(()),
            InstanceState::RunningPrimary => {
                return Err(OcfError::generic(
                    "the instance started as a primary although standby.signal was written",
                ))
            }
            _ => {}
        }
        if !deadline.sleep(POLL) {
            return Err(OcfError::generic(format!(
                "the instance did not accept connections as a standby in time (last state: {:?}); a standby that cannot reach a consistent state needs WAL from the primary: check primary_conninfo and the server log",
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
    if let Some(pid) = postmaster_pid(&a.params.datadir) {
        crate::info!("stopping the instance ({mode:?} shutdown of postmaster {pid})");
        let _ = kill(Pid::from_raw(pid), signal);
    }
    wait_gone(a, deadline)
}

/// Waits until no process works in the data directory any more.
pub fn wait_gone(a: &Agent, deadline: Deadline) -> OcfResult<()> {
    loop {
        let left = instance_processes(&a.params.datadir);
        if left.is_empty() {
            return Ok(());
        }
        if !deadline.sleep(POLL) {
            return Err(OcfError::generic(format!(
                "processes {left:?} of the instance are still running after the stop timeout"
            )));
        }
    }
}

/// Kills the processes a dead postmaster left behind (its backends exit on their own once
/// they notice; this only bounds the wait).
pub fn reap_orphans(a: &Agent) -> OcfResult<()> {
    if wait_gone(a, a.deadline.capped(Duration::from_secs(3))).is_ok() {
        return Ok(());
    }
    for pid in instance_processes(&a.params.datadir) {
        crate::warn!("killing process {pid} left by the crashed instance");
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    wait_gone(a, a.deadline)
}
