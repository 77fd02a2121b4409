//! Runs PostgreSQL's programs as the instance's system user: groups, gid and uid are
//! dropped in the child before exec, arguments are passed as a vector (never through a
//! shell), and every run is bounded by a deadline. The system user is never root, and a
//! program runs only when nobody but root can change it.

use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::{remedy, OcfError};
use crate::system::{SystemError, Untrusted};
use nix::unistd::{Gid, Uid};
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The identity programs run as.
#[derive(Debug, Clone)]
pub struct SystemUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    home: String,
    groups: Vec<Gid>,
}

impl SystemUser {
    /// Looks the user up. Missing on this node only, so the node is banned, not the resource;
    /// root is refused everywhere.
    pub fn lookup(name: &str) -> Result<Self, SystemError> {
        let account = crate::system::accounts::lookup(name)
            .ok_or_else(|| SystemError::NoSuchUser(name.to_string()))?;
        if account.uid == 0 {
            return Err(SystemError::RootUser(name.to_string()));
        }
        Ok(SystemUser {
            name: name.to_string(),
            uid: Uid::from_raw(account.uid),
            gid: Gid::from_raw(account.gid),
            home: account.home,
            groups: account.groups.into_iter().map(Gid::from_raw).collect(),
        })
    }

    /// A command that will run as this user, in `/`, with LC_ALL=C so that the output it
    /// parses is English, and with the user's own HOME (not root's, which Pacemaker passes
    /// on): libpq finds `.pgpass` and the TLS files there.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir("/")
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env_remove("LANG")
            .env_remove("LANGUAGE");
        if Uid::effective().is_root() {
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

    /// Runs `f` with the effective uid, gid and groups of this user, then restores root's: what
    /// `f` opens, it opens with the system user's rights (local `peer` authentication, files
    /// the system user may read).
    pub fn as_effective<T>(&self, f: impl FnOnce() -> T) -> Result<T, SystemError> {
        let _identity = EffectiveIdentity::assume(self).map_err(|errno| SystemError::Identity {
            user: self.name.clone(),
            errno,
        })?;
        Ok(f())
    }
}

/// The effective identity of the system user, for as long as it lives; a non-root agent
/// (tests, manual runs as the user) keeps its own.
struct EffectiveIdentity {
    saved: Option<(Uid, Gid, Vec<Gid>)>,
}

impl EffectiveIdentity {
    fn assume(user: &SystemUser) -> nix::Result<Self> {
        if !Uid::effective().is_root() {
            return Ok(EffectiveIdentity { saved: None });
        }
        let saved = (
            Uid::effective(),
            Gid::effective(),
            nix::unistd::getgroups()?,
        );
        nix::unistd::setgroups(&user.groups)?;
        let identity = EffectiveIdentity {
            saved: Some(saved.clone()),
        };
        // From here on, dropping `identity` restores whatever was switched.
        nix::unistd::setegid(user.gid)?;
        nix::unistd::seteuid(user.uid)?;
        Ok(identity)
    }
}

impl Drop for EffectiveIdentity {
    fn drop(&mut self) {
        let Some((uid, gid, groups)) = self.saved.take() else {
            return;
        };
        let restored = nix::unistd::seteuid(uid)
            .and_then(|_| nix::unistd::setegid(gid))
            .and_then(|_| nix::unistd::setgroups(&groups));
        if let Err(e) = restored {
            // Going on with half an identity would fail later in confusing ways.
            OcfError::generic(format!("cannot restore the agent's own identity: {e}"))
                .with_remedy(remedy!("report this bug; see the log"))
                .report(crate::ocf::log::Level::Error);
            std::process::exit(crate::ocf::OcfCode::ErrGeneric.exit_code());
        }
    }
}

/// `bindir/name`, if it is an executable nobody but root can change: the agent runs it,
/// and whoever could change it would run code as the agent's user at every action.
pub fn trusted_program(bindir: &Path, name: &str) -> Result<PathBuf, SystemError> {
    let path = bindir.join(name);
    let executable = path
        .metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !executable {
        return Err(SystemError::MissingProgram(path));
    }
    match untrusted(&path) {
        Some((culprit, why)) => Err(SystemError::UntrustedProgram {
            program: path,
            culprit,
            why,
        }),
        None => Ok(path),
    }
}

/// What someone other than root could change of `path` (the file, a directory above it,
/// or a symbolic link on the way), and how.
fn untrusted(path: &Path) -> Option<(PathBuf, Untrusted)> {
    let owned_by_root_alone = |p: &Path, m: &std::fs::Metadata| {
        // A sticky directory (/tmp) lets nobody replace root's entries; a link's own mode
        // means nothing.
        let sticky = m.is_dir() && m.mode() & 0o1000 != 0;
        let writable = !m.is_symlink() && m.mode() & 0o022 != 0 && !sticky;
        let why = if m.uid() != 0 {
            Untrusted::Owner(m.uid())
        } else if writable {
            Untrusted::Writable
        } else {
            return None;
        };
        Some((p.to_path_buf(), why))
    };
    // The path as written (links included) and the path it resolves to.
    let real = std::fs::canonicalize(path).ok()?;
    path.ancestors()
        .filter_map(|p| Some((p, p.symlink_metadata().ok()?)))
        .chain(
            real.ancestors()
                .filter_map(|p| Some((p, p.metadata().ok()?))),
        )
        .find_map(|(p, m)| owned_by_root_alone(p, &m))
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
pub fn run(mut cmd: Command, deadline: Deadline) -> Result<Output, SystemError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    log::debug!(
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
    let child = cmd.spawn().map_err(|e| SystemError::Spawn {
        program: program.clone(),
        error: e.to_string(),
    })?;
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
        Ok(Err(e)) => Err(SystemError::Wait {
            program,
            error: e.to_string(),
        }),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            Err(SystemError::TimedOut(program))
        }
    }
}
