//! Runs PostgreSQL's programs as the instance's system user: groups, gid and uid are
//! dropped in the child before exec, arguments are passed as a vector (never through a
//! shell), and every run is bounded by a deadline.

use crate::deadline::Deadline;
use crate::ocf::{OcfError, OcfResult};
use nix::unistd::{Gid, Uid};
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The identity programs run as.
#[derive(Debug, Clone)]
pub struct SystemUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    groups: Vec<Gid>,
}

impl SystemUser {
    /// Looks the user up. Missing on this node only, so the node is banned, not the resource.
    pub fn lookup(name: &str) -> OcfResult<Self> {
        let account = crate::accounts::lookup(name).ok_or_else(|| {
            OcfError::installed(format!(
                "system user {name:?} does not exist on this node (in /etc/passwd): create it or fix the system_user parameter"
            ))
        })?;
        Ok(SystemUser {
            name: name.to_string(),
            uid: Uid::from_raw(account.uid),
            gid: Gid::from_raw(account.gid),
            groups: account.groups.into_iter().map(Gid::from_raw).collect(),
        })
    }

    /// A command that will run as this user, in `/`, with LC_ALL=C so that the output it
    /// parses is English.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir("/")
            .env("LC_ALL", "C")
            .env_remove("LANG")
            .env_remove("LANGUAGE");
        if Uid::effective().is_root() && !self.uid.is_root() {
            let (uid, gid, groups) = (self.uid, self.gid, self.groups.clone());
            // Only async-signal-safe system calls here: the group list was read before fork.
            unsafe {
                cmd.pre_exec(move || {
                    nix::unistd::setgroups(&groups)?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(uid)?;
                    Ok(())
                });
            }
        }
        cmd
    }
}

/// What a finished program left.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    /// The exit code; `None` when a signal ended the program.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The last line the program wrote on stderr, for exit reasons.
    pub fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
    }
}

/// Runs `cmd` to completion, capturing its output, and kills it if `deadline` passes.
pub fn run(mut cmd: Command, deadline: Deadline) -> OcfResult<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    crate::debug!(
        "running {} {}",
        program,
        cmd.get_args()
            .map(OsStr::to_string_lossy)
            .collect::<Vec<_>>()
            .join(" ")
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| OcfError::installed(format!("cannot run {program}: {e}")))?;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline.remaining().max(Duration::from_millis(1))) {
        Ok(Ok(out)) => Ok(Output {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Err(OcfError::generic(format!("{program} failed: {e}"))),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            Err(OcfError::generic(format!(
                "{program} did not finish within the action's timeout; raise the operation timeout if the instance is just slow"
            )))
        }
    }
}
