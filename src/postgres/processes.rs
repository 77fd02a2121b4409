//! The instance's processes, as root finds and signals them. A process belongs to the
//! instance when it runs as the data directory's owner (every uid of it) and works in that
//! very directory (device and inode, not a path the system user could re-point). A signal
//! goes through a pidfd opened before the check, so a pid recycled in between is never hit.

use crate::logic::hang::{self, Progress, Sample};
use crate::postgres::datadir::DataDir;
use nix::sys::signal::Signal;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The pid on postmaster.pid's first line, if that process is the instance's.
pub fn postmaster(dir: &DataDir, pid_file: &str) -> Option<i32> {
    let pid: i32 = pid_file.lines().next()?.trim().parse().ok()?;
    (pid > 0 && belongs_to(dir, pid)).then_some(pid)
}

/// Every live process of the instance: the postmaster and its children, including
/// backends a killed postmaster left behind (orphans are no longer its children, so they
/// are recognised by owner and working directory alone).
pub fn all(dir: &DataDir) -> Vec<i32> {
    members(dir).into_iter().map(|(pid, _)| pid).collect()
}

/// `all`, each with its parent's pid.
fn members(dir: &DataDir) -> Vec<(i32, Option<i32>)> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| Some((pid, facts_if_member(dir, pid)?.parent)))
        .collect()
}

/// The instance's processes whose parent is not one of them: the postmaster, found
/// without postmaster.pid (which the system user may have replaced), and orphans a killed
/// postmaster left.
pub fn roots(dir: &DataDir) -> Vec<i32> {
    let members = members(dir);
    members
        .iter()
        .filter(|(_, parent)| parent.is_some_and(|p| !members.iter().any(|(m, _)| *m == p)))
        .map(|(pid, _)| *pid)
        .collect()
}

/// Sends `signal` to `pid` if it is a process of the instance; false when it is not (or
/// is gone).
pub fn signal(dir: &DataDir, pid: i32, signal: Signal) -> bool {
    let Some(pidfd) = pidfd_open(pid) else {
        return false;
    };
    if !belongs_to(dir, pid) {
        return false;
    }
    // SAFETY: pidfd_send_signal with a valid pidfd and no siginfo.
    let rc = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as nix::libc::c_int,
            std::ptr::null::<nix::libc::siginfo_t>(),
            0,
        )
    };
    rc == 0
}

/// How `pid` runs now, as the kernel says (see `logic::hang`); `None` when it is gone. Only
/// `/proc`, never a file the system user could write.
pub fn sample(pid: i32) -> Option<Sample> {
    let read = |name: &str| fs::read_to_string(format!("/proc/{pid}/{name}")).ok();
    let state = hang::stat_state(&read("stat")?)?;
    let progress = (|| {
        Some(Progress {
            cpu_ns: hang::schedstat_cpu(&read("schedstat")?)?,
            io_bytes: hang::io_bytes(&read("io")?)?,
        })
    })();
    Some(Sample {
        pid,
        state,
        progress,
    })
}

/// `sample` of every live process of the instance.
pub fn sample_all(dir: &DataDir) -> Vec<Sample> {
    all(dir).into_iter().filter_map(sample).collect()
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn belongs_to(dir: &DataDir, pid: i32) -> bool {
    facts_if_member(dir, pid).is_some()
}

/// What `/proc/<pid>/status` says of `pid`, when it is a live process of the instance.
fn facts_if_member(dir: &DataDir, pid: i32) -> Option<StatusFacts> {
    let facts = status_facts(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?);
    let owner = dir.owner().as_raw();
    let member = !facts.zombie
        && facts.uids.len() == 4
        && facts.uids.iter().all(|u| *u == owner)
        && dir.is_cwd_of(pid);
    member.then_some(facts)
}

#[derive(Debug, PartialEq, Eq)]
struct StatusFacts {
    zombie: bool,
    /// real, effective, saved and file-system uids
    uids: Vec<u32>,
    parent: Option<i32>,
}

/// Reads `/proc/<pid>/status`. Pure.
fn status_facts(status: &str) -> StatusFacts {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("")
    };
    StatusFacts {
        zombie: field("State:").starts_with('Z'),
        uids: field("Uid:")
            .split_whitespace()
            .filter_map(|u| u.parse().ok())
            .collect(),
        parent: field("PPid:").parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_state_and_uids() {
        let live = "Name:\tpostgres\nState:\tS (sleeping)\nPPid:\t1\nUid:\t101\t101\t101\t101\nGid:\t104\t104\t104\t104\n";
        assert_eq!(
            status_facts(live),
            StatusFacts {
                zombie: false,
                uids: vec![101, 101, 101, 101],
                parent: Some(1),
            }
        );
        let zombie = "Name:\tpostgres\nState:\tZ (zombie)\nUid:\t0\t101\t101\t101\n";
        assert_eq!(
            status_facts(zombie),
            StatusFacts {
                zombie: true,
                uids: vec![0, 101, 101, 101],
                parent: None,
            }
        );
        assert_eq!(status_facts("").uids, Vec::<u32>::new());
    }

    #[test]
    fn samples_tell_a_stopped_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let running = sample(pid).unwrap();
        assert_eq!(running.pid, pid);
        assert_ne!(running.state, hang::ProcState::Stopped);
        assert!(running.progress.is_some());
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        let mut stopped = sample(pid).unwrap();
        for _ in 0..100 {
            if stopped.state == hang::ProcState::Stopped {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            stopped = sample(pid).unwrap();
        }
        assert_eq!(stopped.state, hang::ProcState::Stopped);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(sample(pid), None);
    }

    #[test]
    fn only_the_owners_processes_in_the_directory_are_found_and_signalled() {
        let t = tempfile::tempdir().unwrap();
        let dir = DataDir::open(t.path(), Some(nix::unistd::Uid::effective())).unwrap();
        let mut mine = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(t.path())
            .spawn()
            .unwrap();
        let mut elsewhere = std::process::Command::new("sleep")
            .arg("30")
            .current_dir("/")
            .spawn()
            .unwrap();
        let (m, e) = (mine.id() as i32, elsewhere.id() as i32);
        assert!(all(&dir).contains(&m));
        assert!(!all(&dir).contains(&e));
        // its parent (this test) works elsewhere: it is a root of the instance's tree
        assert!(roots(&dir).contains(&m));
        assert_eq!(postmaster(&dir, &format!("{m}\n/data\n")), Some(m));
        assert_eq!(postmaster(&dir, &format!("{e}\n/data\n")), None);
        assert!(!signal(&dir, e, Signal::SIGKILL), "not in the directory");
        assert!(elsewhere.try_wait().unwrap().is_none());
        assert!(signal(&dir, m, Signal::SIGKILL));
        assert!(!mine.wait().unwrap().success());
        // Another owner's directory: the same process is not its.
        std::os::unix::fs::chown(t.path(), Some(65534), None).unwrap();
        let theirs = DataDir::open(t.path(), None).unwrap();
        let mut again = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(t.path())
            .spawn()
            .unwrap();
        assert!(!signal(&theirs, again.id() as i32, Signal::SIGKILL));
        for c in [&mut elsewhere, &mut again] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}
