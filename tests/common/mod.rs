//! Shared fixture for the pgsqlms integration tests (`tests/agent_*.rs`).
//!
//! Every test builds its own little PostgreSQL 15 replication cluster on this host:
//! `node-a` (primary, initdb) and `node-b`, `node-c`, ... (standbys, pg_basebackup), each with
//! its own data directory, socket directory and port, listening on its Unix socket only
//! (`listen_addresses = ''`), so tests can run in parallel threads without port clashes.
//! Everything lives under a temporary directory in /tmp that is removed (after an immediate
//! shutdown of every instance) when the [`Cluster`] is dropped, also when the test panics.
//! Set `PGSQLMS_TEST_KEEP=1` to keep the directory of a failed test for inspection.
//!
//! Pacemaker is not running: the agent finds recording stand-ins for `crm_attribute`,
//! `attrd_updater`, `crm_node` and `crm_resource` (tests/standins/) first on its PATH. They
//! keep attributes in files under `<tmp>/attrs` (env `PGSQLMS_TEST_ATTRS`) and log every call
//! to `<tmp>/attrs/calls.log`. The partition (`crm_node -p`) is `<tmp>/attrs/partition`, where
//! the clone runs (`crm_resource --locate`) is `<tmp>/attrs/locate/<resource>`.
//!
//! The tests must run as root (the agent switches to `system_user` itself), like in CI:
//!
//! ```text
//! .ci/install-deps.sh                  # postgresql-15, resource-agents, libxml2-utils, strace
//! cargo test --test 'agent_*'          # ~3 min on 2 cores (tests of one file run in parallel)
//! cargo build --release && tests/ocf-tester.sh
//! ```
//!
//! Files: `cluster.rs` (nodes and instances, the fixture's own control of them), `sql.rs`,
//! `standins.rs` (what the Pacemaker stand-ins keep), `notify_env.rs`, `agent.rs` (running
//! the agent) and `assertions.rs` (what a test asserts of a run).
//!
//! Comparison runs against another agent (e.g. PAF's Perl pgsqlms): `PGSQLMS_TEST_AGENT`
//! (binary), `PGSQLMS_TEST_PATH_PREFIX` (directories put before the stand-ins on PATH) and
//! `PGSQLMS_TEST_EXTRA_ENV` ("K=V K=V" added to the agent's environment).
#![allow(dead_code)]

use assert_cmd::prelude::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const BINDIR: &str = "/usr/lib/postgresql/15/bin";
pub const RSC: &str = "pgsqld";
pub const SYSTEM_USER: &str = "postgres";
pub const NODE_NAMES: [&str; 4] = ["node-a", "node-b", "node-c", "node-d"];
/// Interval (ms) of the recurring monitor of the promoted role, as configured in Pacemaker.
pub const PROMOTED_MONITOR_MS: u64 = 15000;
/// Interval (ms) of the recurring monitor of the unpromoted role: the default for "monitor".
pub const UNPROMOTED_MONITOR_MS: u64 = 16000;

/// OCF exit codes.
pub mod ocf {
    pub const SUCCESS: i32 = 0;
    pub const ERR_GENERIC: i32 = 1;
    pub const ERR_ARGS: i32 = 2;
    pub const ERR_UNIMPLEMENTED: i32 = 3;
    pub const ERR_INSTALLED: i32 = 5;
    pub const ERR_CONFIGURED: i32 = 6;
    pub const NOT_RUNNING: i32 = 7;
    pub const RUNNING_PROMOTED: i32 = 8;
    pub const FAILED_PROMOTED: i32 = 9;
}

// ---------------------------------------------------------------------------------------------
// small helpers

fn port_base() -> &'static AtomicU16 {
    static NEXT: OnceLock<AtomicU16> = OnceLock::new();
    // Sockets only, each instance in its own socket directory, so ports cannot clash; distinct
    // ports per process/test still make logs and `ps` output easier to read.
    NEXT.get_or_init(|| AtomicU16::new(21000 + (std::process::id() % 300) as u16 * 100))
}

fn alloc_port() -> u16 {
    let p = port_base().fetch_add(1, Ordering::SeqCst);
    assert!(p < 60000, "port allocator exhausted");
    p
}

fn postgres_ids() -> (u32, u32) {
    let u = nix::unistd::User::from_name(SYSTEM_USER)
        .expect("getpwnam")
        .unwrap_or_else(|| panic!("system user {SYSTEM_USER} does not exist"));
    (u.uid.as_raw(), u.gid.as_raw())
}

pub fn chown_postgres(p: &Path) {
    let (u, g) = postgres_ids();
    std::os::unix::fs::chown(p, Some(u), Some(g))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

pub fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

fn out_text(o: &Output) -> String {
    format!(
        "exit={:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Run a command; panic with its output when it fails.
pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let o = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !o.status.success() {
        panic!("{what} failed: {cmd:?}\n{}", out_text(&o));
    }
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Poll `f` every 100 ms until it returns `Some`, for at most `secs`; panic with `what` after.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for: {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // Zombies count as dead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

fn children_of(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(child) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if let Ok(s) = fs::read_to_string(format!("/proc/{child}/stat")) {
                let rest = s.rsplit(')').next().unwrap_or("");
                let f: Vec<&str> = rest.split_whitespace().collect();
                if f.len() > 2 && f[1].parse::<i32>().ok() == Some(pid) {
                    v.push(child);
                }
            }
        }
    }
    v
}

/// Parse "X/Y" LSN text to a number.
pub fn lsn(s: &str) -> u64 {
    let s = s.trim();
    let (hi, lo) = s
        .split_once('/')
        .unwrap_or_else(|| panic!("not an LSN: {s:?}"));
    (u64::from_str_radix(hi, 16).unwrap() << 32) | u64::from_str_radix(lo, 16).unwrap()
}

mod agent;
mod assertions;
mod cluster;
mod notify_env;
mod sql;
mod standins;

pub use agent::*;
pub use cluster::*;
pub use notify_env::*;
