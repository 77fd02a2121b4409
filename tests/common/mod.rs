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

// ---------------------------------------------------------------------------------------------
// the cluster

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub dir: PathBuf,
    pub pgdata: PathBuf,
    pub sockdir: PathBuf,
    pub port: u16,
    pub rsctmp: PathBuf,
    pub logfile: PathBuf,
}

impl Node {
    pub fn node_conf(&self) -> PathBuf {
        self.pgdata.join("pgsqlms_node.conf")
    }
}

/// Where a node's walreceiver points (primary_conninfo).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Upstream<'a> {
    /// The named node's socket and port.
    Node(&'a str),
    /// A socket/port where nothing listens: the walreceiver cannot connect (application_name
    /// is still set correctly, so validate-all stays happy).
    Nowhere,
}

pub struct Cluster {
    pub root: PathBuf,
    pub attrs: PathBuf,
    pub bin: PathBuf,
    pub nodes: Vec<Node>,
    tmp: Option<tempfile::TempDir>,
}

pub const COMMON_CONF: &str = "
# --- pgsqlms test fixture ---
listen_addresses = ''
wal_level = replica
hot_standby = on
max_wal_senders = 10
wal_keep_size = 128MB
recovery_target_timeline = 'latest'
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 1s
shared_buffers = 16MB
max_connections = 20
fsync = off
# no background WAL from autovacuum: scores and LSN ties stay stable while a test looks
autovacuum = off
# so that a crashed former primary can be pg_rewind-ed
wal_log_hints = on
log_line_prefix = '%m [%p] %b '
include 'pgsqlms_node.conf'
";

impl Cluster {
    /// Primary `node-a` plus `standbys` streaming standbys (`node-b`, `node-c`, ...), all
    /// running; returns once every standby streams from the primary.
    pub fn new(standbys: usize) -> Cluster {
        let c = Cluster::empty(1 + standbys);
        c.init_primary();
        c.start_pg("node-a");
        for i in 1..=standbys {
            let n = c.nodes[i].name.clone();
            c.basebackup(&n, "node-a");
            c.start_pg(&n);
        }
        let names: Vec<&str> = c.nodes[1..].iter().map(|n| n.name.as_str()).collect();
        c.wait_streaming("node-a", &names);
        c
    }

    /// Directories, stand-ins and node definitions for `n` nodes; no instance created yet.
    pub fn empty(n: usize) -> Cluster {
        assert!(n >= 1 && n <= NODE_NAMES.len());
        assert!(
            nix::unistd::geteuid().is_root(),
            "the pgsqlms integration tests must run as root (the agent runs PostgreSQL tools as {SYSTEM_USER})"
        );
        let tmp = tempfile::Builder::new()
            .prefix("pgsqlms-test-")
            .tempdir_in("/tmp")
            .expect("create temp dir");
        let root = tmp.path().to_path_buf();
        chmod(&root, 0o755);

        let bin = root.join("bin");
        fs::create_dir(&bin).unwrap();
        let standins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
        for tool in ["crm_attribute", "attrd_updater", "crm_node", "crm_resource"] {
            let dst = bin.join(tool);
            fs::copy(standins.join(tool), &dst)
                .unwrap_or_else(|e| panic!("copy stand-in {tool}: {e}"));
            chmod(&dst, 0o755);
        }
        let attrs = root.join("attrs");
        fs::create_dir(&attrs).unwrap();
        chmod(&attrs, 0o777);
        fs::write(attrs.join("calls.log"), "").unwrap();
        chmod(&attrs.join("calls.log"), 0o666);

        let mut nodes = Vec::new();
        for name in NODE_NAMES.iter().take(n) {
            let dir = root.join(name);
            fs::create_dir(&dir).unwrap();
            chown_postgres(&dir);
            chmod(&dir, 0o755);
            let sockdir = dir.join("sock");
            fs::create_dir(&sockdir).unwrap();
            chown_postgres(&sockdir);
            let rsctmp = dir.join("rsctmp");
            fs::create_dir(&rsctmp).unwrap();
            chmod(&rsctmp, 0o755);
            nodes.push(Node {
                name: name.to_string(),
                pgdata: dir.join("data"),
                logfile: dir.join("postgresql.log"),
                sockdir,
                port: alloc_port(),
                rsctmp,
                dir,
            });
        }
        let c = Cluster {
            root,
            attrs,
            bin,
            nodes,
            tmp: Some(tmp),
        };
        let all: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        c.set_partition(&all);
        c
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name} in this cluster"))
    }

    pub fn names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    // ----- running things as the postgres user

    /// A command running `prog` (from BINDIR unless it contains '/') as the system user.
    pub fn as_postgres(&self, prog: &str) -> Command {
        let mut cmd = Command::new("runuser");
        let path = if prog.contains('/') {
            prog.to_string()
        } else {
            format!("{BINDIR}/{prog}")
        };
        cmd.args(["-u", SYSTEM_USER, "--", &path]);
        cmd.current_dir(&self.root);
        cmd.env("LC_ALL", "C");
        cmd.env_remove("PGHOST")
            .env_remove("PGPORT")
            .env_remove("PGDATA");
        cmd
    }

    /// `pg_ctl -D <pgdata of name>` as the system user; the caller adds the rest.
    pub fn pg_ctl(&self, name: &str) -> Command {
        let mut cmd = self.as_postgres("pg_ctl");
        cmd.arg("-D").arg(&self.node(name).pgdata);
        cmd
    }

    /// `-h <socket dir> -p <port> -U <system user>`: how the fixture's client tools reach
    /// the instance of `name`.
    pub fn conn_args(&self, name: &str) -> [String; 6] {
        let n = self.node(name);
        [
            "-h".into(),
            n.sockdir.display().to_string(),
            "-p".into(),
            n.port.to_string(),
            "-U".into(),
            SYSTEM_USER.into(),
        ]
    }

    pub fn init_primary(&self) {
        let n = &self.nodes[0];
        run_ok(
            self.as_postgres("initdb")
                .args(["-D"])
                .arg(&n.pgdata)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    SYSTEM_USER,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ]),
            "initdb",
        );
        let conf = n.pgdata.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).unwrap();
        text.push_str(COMMON_CONF);
        fs::write(&conf, text).unwrap();
        self.write_node_conf(&n.name, Upstream::Node(&n.name));
    }

    /// Write the node-specific settings (port, socket dir, primary_conninfo) of `name`.
    pub fn write_node_conf(&self, name: &str, upstream: Upstream) {
        self.write_node_conf_with(name, upstream, "");
    }

    /// Same, with extra settings appended (e.g. to break one on purpose).
    pub fn write_node_conf_with(&self, name: &str, upstream: Upstream, extra: &str) {
        let n = self.node(name);
        let conninfo = self.conninfo_for(name, upstream);
        let text = format!(
            "port = {}\nunix_socket_directories = '{}'\nprimary_conninfo = '{}'\n{}\n",
            n.port,
            n.sockdir.display(),
            conninfo,
            extra
        );
        let f = n.node_conf();
        fs::write(&f, text).unwrap();
        chown_postgres(&f);
        chmod(&f, 0o600);
    }

    pub fn conninfo_for(&self, name: &str, upstream: Upstream) -> String {
        match upstream {
            Upstream::Node(up) => {
                let u = self.node(up);
                format!(
                    "host={} port={} application_name={}",
                    u.sockdir.display(),
                    u.port,
                    name
                )
            }
            Upstream::Nowhere => format!(
                "host={} port=1 application_name={} connect_timeout=2",
                self.root.join("nowhere").display(),
                name
            ),
        }
    }

    /// Point `name`'s walreceiver at `upstream`, reloading it when running.
    pub fn set_upstream(&self, name: &str, upstream: Upstream) {
        self.write_node_conf(name, upstream);
        if self.is_running(name) {
            run_ok(self.pg_ctl(name).arg("reload"), "reload");
        }
    }

    /// pg_basebackup `name` from `from`, configure it as a standby of `from` (standby.signal).
    pub fn basebackup(&self, name: &str, from: &str) {
        let n = self.node(name);
        run_ok(
            self.as_postgres("pg_basebackup")
                .arg("-D")
                .arg(&n.pgdata)
                .args(self.conn_args(from))
                .args(["-X", "stream", "-c", "fast", "--no-sync"]),
            "pg_basebackup",
        );
        self.write_node_conf(name, Upstream::Node(from));
        let sig = n.pgdata.join("standby.signal");
        fs::write(&sig, "").unwrap();
        chown_postgres(&sig);
    }

    // ----- instance control (the fixture's own, not the agent's)

    pub fn start_pg(&self, name: &str) {
        let n = self.node(name);
        run_ok(
            self.pg_ctl(name)
                .arg("-l")
                .arg(&n.logfile)
                .args(["-w", "-t", "60", "start"]),
            &format!("pg_ctl start {name}"),
        );
    }

    /// Start `name` as a standby (creates standby.signal first).
    pub fn start_standby(&self, name: &str) {
        let sig = self.node(name).pgdata.join("standby.signal");
        fs::write(&sig, "").unwrap();
        chown_postgres(&sig);
        self.start_pg(name);
    }

    pub fn stop_pg(&self, name: &str, mode: &str) {
        run_ok(
            self.pg_ctl(name)
                .args(["-w", "-t", "60", "-m", mode, "stop"]),
            &format!("pg_ctl stop -m {mode} {name}"),
        );
    }

    pub fn is_running(&self, name: &str) -> bool {
        self.live_postmaster(name).is_some()
    }

    /// The pid in postmaster.pid, if that process is alive and really is this instance's
    /// postmaster (its working directory is the data directory), so that a recycled pid of
    /// some unrelated process is never signalled.
    pub fn live_postmaster(&self, name: &str) -> Option<i32> {
        let pid = self.postmaster_pid(name)?;
        if !pid_alive(pid) {
            return None;
        }
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        let data = fs::canonicalize(&self.node(name).pgdata).ok()?;
        (cwd == data).then_some(pid)
    }

    pub fn postmaster_pid(&self, name: &str) -> Option<i32> {
        let s = fs::read_to_string(self.node(name).pgdata.join("postmaster.pid")).ok()?;
        s.lines().next()?.trim().parse().ok()
    }

    /// kill -9 the postmaster of `name`, then wait (bounded) until it and all its children are
    /// gone (children notice the postmaster's death by themselves; stragglers get SIGKILL).
    pub fn kill9(&self, name: &str) {
        let pid = self
            .live_postmaster(name)
            .unwrap_or_else(|| panic!("{name}: no running postmaster"));
        let kids = children_of(pid);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill -9 postmaster");
        let deadline = Instant::now() + Duration::from_secs(10);
        while (pid_alive(pid) || kids.iter().any(|&k| pid_alive(k))) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for &k in &kids {
            if pid_alive(k) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(k),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        wait_for(
            10,
            &format!("{name}: postmaster {pid} and its children to exit"),
            || (!pid_alive(pid) && kids.iter().all(|&k| !pid_alive(k))).then_some(()),
        );
        // Wait until the dead postmaster has been reaped: as a zombie it still "exists" for
        // kill(pid, 0), which is how `pg_ctl status` decides the instance is running.
        wait_for(
            30,
            &format!("{name}: zombie postmaster {pid} to be reaped by init"),
            || (!Path::new(&format!("/proc/{pid}")).exists()).then_some(()),
        );
    }

    /// `pg_controldata` "Database cluster state".
    pub fn cluster_state(&self, name: &str) -> String {
        self.controldata_field(name, "Database cluster state")
    }

    pub fn controldata_field(&self, name: &str, field: &str) -> String {
        let out = run_ok(
            self.as_postgres("pg_controldata")
                .arg(&self.node(name).pgdata),
            "pg_controldata",
        );
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| panic!("no {field:?} in pg_controldata output of {name}"))
    }

    // ----- SQL

    pub fn try_sql(&self, name: &str, sql: &str) -> Result<String, String> {
        let o = self
            .as_postgres("psql")
            .args(self.conn_args(name))
            .args([
                "-d",
                "postgres",
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        if o.status.success() {
            Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
        } else {
            Err(out_text(&o))
        }
    }

    pub fn sql(&self, name: &str, sql: &str) -> String {
        self.try_sql(name, sql)
            .unwrap_or_else(|e| panic!("SQL on {name} failed: {sql}\n{e}"))
    }

    pub fn in_recovery(&self, name: &str) -> bool {
        match self.sql(name, "SELECT pg_is_in_recovery()").as_str() {
            "t" => true,
            "f" => false,
            o => panic!("pg_is_in_recovery() on {name}: {o:?}"),
        }
    }

    /// Wait until every standby in `standbys` streams from `primary` (pg_stat_replication).
    pub fn wait_streaming(&self, primary: &str, standbys: &[&str]) {
        wait_for(
            60,
            &format!("{standbys:?} streaming from {primary}"),
            || {
                let rows = self
                .try_sql(primary, "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'")
                .ok()?;
                let got: Vec<&str> = rows.lines().collect();
                standbys.iter().all(|s| got.contains(s)).then_some(())
            },
        );
    }

    /// Poll `sql` on `name` (for at most 60 s) until it answers `want`; panic with `what` after.
    pub fn wait_sql(&self, name: &str, sql: &str, want: &str, what: &str) {
        wait_for(60, what, || {
            (self.try_sql(name, sql).ok()? == want).then_some(())
        });
    }

    /// Wait until `standby` has replayed everything `primary` has written so far.
    pub fn wait_replayed(&self, primary: &str, standby: &str) {
        let target = self.sql(primary, "SELECT pg_current_wal_lsn()");
        self.wait_sql(
            standby,
            &format!("SELECT pg_last_wal_replay_lsn() >= '{target}'"),
            "t",
            &format!("{standby} to replay up to {target} of {primary}"),
        );
    }

    /// Wait until the primary sees every connected standby's write/flush/replay at its current LSN.
    pub fn wait_all_caught_up(&self, primary: &str, standbys: &[&str]) {
        wait_for(
            60,
            &format!("{standbys:?} caught up with {primary}"),
            || {
                let q = "SELECT string_agg(application_name, ' ') FROM pg_stat_replication \
                     WHERE state = 'streaming' AND write_lsn = pg_current_wal_lsn() \
                     AND flush_lsn = pg_current_wal_lsn() AND replay_lsn = pg_current_wal_lsn()";
                let r = self.try_sql(primary, q).ok()?;
                let got: Vec<&str> = r.split_whitespace().collect();
                standbys.iter().all(|s| got.contains(s)).then_some(())
            },
        );
    }

    /// Wait until the primary no longer lists `standby` in pg_stat_replication.
    pub fn wait_not_streaming(&self, primary: &str, standby: &str) {
        self.wait_sql(
            primary,
            &format!(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = '{standby}'"
            ),
            "0",
            &format!("{standby} to disconnect from {primary}"),
        );
    }

    /// The walreceiver of `standby` is gone (pg_stat_wal_receiver is empty).
    pub fn wait_no_walreceiver(&self, standby: &str) {
        self.wait_sql(
            standby,
            "SELECT count(*) FROM pg_stat_wal_receiver",
            "0",
            &format!("walreceiver of {standby} to stop"),
        );
    }

    // ----- attributes kept by the stand-ins

    pub fn set_partition(&self, nodes: &[&str]) {
        fs::write(
            self.attrs.join("partition"),
            format!("{}\n", nodes.join(" ")),
        )
        .unwrap();
    }

    /// Where the clone runs, for `crm_resource --locate`: (node, promoted).
    pub fn set_locate(&self, instances: &[(&str, bool)]) {
        let d = self.attrs.join("locate");
        fs::create_dir_all(&d).unwrap();
        let text: String = instances
            .iter()
            .map(|(n, p)| {
                format!(
                    "resource {RSC} is running on: {n}{}\n",
                    if *p { " Promoted" } else { "" }
                )
            })
            .collect();
        fs::write(d.join(RSC), text).unwrap();
    }

    /// Promotion score of `node` (crm_attribute --promotion) as stored by the stand-in.
    pub fn score(&self, node: &str) -> Option<String> {
        fs::read_to_string(self.attrs.join("promotion").join(RSC).join(node)).ok()
    }

    pub fn score_i(&self, node: &str) -> Option<i64> {
        self.score(node).map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("promotion score of {node} is not an integer: {s:?}"))
        })
    }

    pub fn scores(&self) -> BTreeMap<String, String> {
        self.names()
            .into_iter()
            .filter_map(|n| self.score(n).map(|s| (n.to_string(), s)))
            .collect()
    }

    /// Assert the promotion scores of the nodes named in `expected`, all at once. On a
    /// mismatch the message shows each of these nodes' expected and actual score, `why`, and
    /// every stored score.
    #[track_caller]
    pub fn assert_scores(&self, expected: &[(&str, i64)], why: &str) {
        let want: Vec<(&str, Option<i64>)> = expected.iter().map(|&(n, s)| (n, Some(s))).collect();
        let got: Vec<(&str, Option<i64>)> = expected
            .iter()
            .map(|&(n, _)| (n, self.score_i(n)))
            .collect();
        assert_eq!(
            got,
            want,
            "promotion scores (left: actual, right: expected){}{why}; all scores: {:?}",
            if why.is_empty() { "" } else { ": " },
            self.scores()
        );
    }

    pub fn set_score(&self, node: &str, v: &str) {
        let d = self.attrs.join("promotion").join(RSC);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(node), v).unwrap();
    }

    /// Private attribute `attr` (without the `-pgsqld` suffix) of `node`.
    pub fn private_attr(&self, node: &str, attr: &str) -> Option<String> {
        fs::read_to_string(
            self.attrs
                .join("private")
                .join(node)
                .join(format!("{attr}-{RSC}")),
        )
        .ok()
    }

    pub fn set_private_attr(&self, node: &str, attr: &str, v: &str) {
        let d = self.attrs.join("private").join(node);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("{attr}-{RSC}")), v).unwrap();
    }

    /// Lines of the stand-ins' call log: "<local node>\t<tool> <args>".
    pub fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.attrs.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn clear_calls(&self) {
        fs::write(self.attrs.join("calls.log"), "").unwrap();
    }

    // ----- running the agent

    /// The agent run for `node` with the environment Pacemaker would give it.
    pub fn agent<'a>(&'a self, node: &str, action: &str) -> Agent<'a> {
        Agent::new(self, node, action)
    }

    /// A probe: the monitor action with interval 0.
    pub fn probe<'a>(&'a self, node: &str) -> Agent<'a> {
        self.agent(node, "monitor").interval(0)
    }

    /// The recurring monitor of the promoted role (interval [`PROMOTED_MONITOR_MS`]).
    pub fn promoted_monitor<'a>(&'a self, node: &str) -> Agent<'a> {
        self.agent(node, "monitor").interval(PROMOTED_MONITOR_MS)
    }

    /// Run the recurring monitor of the promoted role on `node`: it must answer 8
    /// RUNNING_PROMOTED (the primary's monitor is also the one that writes the scores).
    #[track_caller]
    pub fn expect_running_promoted(&self, node: &str) -> AgentResult {
        let r = self.promoted_monitor(node).run();
        r.expect_code(ocf::RUNNING_PROMOTED);
        r
    }

    /// Shorthand for a notify action.
    pub fn notify<'a>(&'a self, node: &str, n: &NotifyEnv) -> Agent<'a> {
        self.agent(node, "notify").notify_env(n)
    }

    /// A notify round: the notify action on every node of `on`, in that order (each must
    /// return 0); the lists come from `n`, type and operation are forced to `typ`/`op`.
    #[track_caller]
    pub fn notify_round(&self, typ: &str, op: &str, on: &[&str], n: &NotifyEnv) {
        let e = NotifyEnv {
            typ: typ.into(),
            op: op.into(),
            ..n.clone()
        };
        for node in on {
            self.notify(node, &e).run().expect_code(ocf::SUCCESS);
        }
    }

    /// The pre-promote notify round on every node of `on` (each must return 0).
    #[track_caller]
    pub fn pre_promote_round(&self, on: &[&str], n: &NotifyEnv) {
        self.notify_round("pre", "promote", on, n);
    }

    /// The post-promote notify round on every node of `on` (each must return 0).
    #[track_caller]
    pub fn post_promote_round(&self, on: &[&str], n: &NotifyEnv) {
        self.notify_round("post", "promote", on, n);
    }

    /// Tail of the PostgreSQL logs and of the stand-in call log, for failure reports.
    pub fn diagnostics(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            // the server log of an instance the agent started (if it logs there)
            let agent_log = n.pgdata.join("pgsqlms-startup.log");
            if let Ok(log) = fs::read_to_string(&agent_log) {
                let lines: Vec<&str> = log.lines().collect();
                let from = lines.len().saturating_sub(15);
                let _ = writeln!(
                    s,
                    "===== {} {} (last 15 lines) =====\n{}",
                    n.name,
                    agent_log.display(),
                    lines[from..].join("\n")
                );
            }
            let log = fs::read_to_string(&n.logfile).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let from = lines.len().saturating_sub(25);
            let _ = writeln!(
                s,
                "===== {} postgresql.log (last 25 lines) =====\n{}",
                n.name,
                lines[from..].join("\n")
            );
        }
        let calls = self.calls();
        let from = calls.len().saturating_sub(40);
        let _ = writeln!(
            s,
            "===== stand-in calls (last 40) =====\n{}",
            calls[from..].join("\n")
        );
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking {
            eprintln!("{}", self.diagnostics());
        }
        for n in &self.nodes {
            if let Some(pid) = self.live_postmaster(&n.name) {
                // A stopped (SIGSTOP) process would delay the shutdown: wake everything first.
                for k in std::iter::once(pid).chain(children_of(pid)) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(k),
                        nix::sys::signal::Signal::SIGCONT,
                    );
                }
                let _ = self
                    .pg_ctl(&n.name)
                    .args(["-w", "-t", "20", "-m", "immediate", "stop"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                if pid_alive(pid) {
                    let kids = children_of(pid);
                    for k in std::iter::once(pid).chain(kids) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(k),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        if let Some(tmp) = self.tmp.take() {
            if panicking && std::env::var_os("PGSQLMS_TEST_KEEP").is_some() {
                let p = tmp.keep();
                eprintln!("PGSQLMS_TEST_KEEP: kept {}", p.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// notify environment

/// The node lists Pacemaker passes to a notify action.
#[derive(Debug, Clone, Default)]
pub struct NotifyEnv {
    pub typ: String,
    pub op: String,
    pub active: Vec<String>,
    pub inactive: Vec<String>,
    pub start: Vec<String>,
    pub stop: Vec<String>,
    pub promote: Vec<String>,
    pub demote: Vec<String>,
    /// Current primaries (master_uname / promoted_uname).
    pub promoted: Vec<String>,
    /// Current standbys (slave_uname / unpromoted_uname).
    pub unpromoted: Vec<String>,
    pub vocab: Vocab,
}

/// Which family of variable names to set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Vocab {
    /// master_* / slave_* only (Pacemaker before 2.1, and PAF's vocabulary).
    #[default]
    Legacy,
    /// promoted_* / unpromoted_* only.
    Promoted,
    /// both families, as Pacemaker 2.1+ sets them.
    Both,
}

pub fn v(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl NotifyEnv {
    pub fn new(typ: &str, op: &str) -> NotifyEnv {
        NotifyEnv {
            typ: typ.into(),
            op: op.into(),
            ..Default::default()
        }
    }

    /// A failover/first promotion: `standbys` are running standbys, `promotee` is promoted.
    pub fn promotion(standbys: &[&str], promotee: &str) -> NotifyEnv {
        NotifyEnv {
            typ: "pre".into(),
            op: "promote".into(),
            active: v(standbys),
            unpromoted: v(standbys),
            promote: v(&[promotee]),
            ..Default::default()
        }
    }

    /// A switchover: `old` (primary) is demoted and `new` (one of `standbys`) promoted.
    pub fn switchover(old: &str, standbys: &[&str], new: &str) -> NotifyEnv {
        let mut active = v(&[old]);
        active.extend(v(standbys));
        NotifyEnv {
            typ: "pre".into(),
            op: "promote".into(),
            active,
            promoted: v(&[old]),
            unpromoted: v(standbys),
            demote: v(&[old]),
            promote: v(&[new]),
            ..Default::default()
        }
    }

    pub fn vocab(mut self, v: Vocab) -> NotifyEnv {
        self.vocab = v;
        self
    }

    fn vars(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "OCF_RESKEY_CRM_meta_notify_type".to_string(),
                self.typ.clone(),
            ),
            (
                "OCF_RESKEY_CRM_meta_notify_operation".to_string(),
                self.op.clone(),
            ),
        ];
        let mut lists: Vec<(&str, &Vec<String>)> = vec![
            ("active", &self.active),
            ("inactive", &self.inactive),
            ("start", &self.start),
            ("stop", &self.stop),
            ("promote", &self.promote),
            ("demote", &self.demote),
        ];
        if matches!(self.vocab, Vocab::Legacy | Vocab::Both) {
            lists.push(("master", &self.promoted));
            lists.push(("slave", &self.unpromoted));
        }
        if matches!(self.vocab, Vocab::Promoted | Vocab::Both) {
            lists.push(("promoted", &self.promoted));
            lists.push(("unpromoted", &self.unpromoted));
        }
        for (k, l) in lists {
            out.push((format!("OCF_RESKEY_CRM_meta_notify_{k}_uname"), l.join(" ")));
            let rsc: Vec<String> = l
                .iter()
                .map(|n| {
                    let i = NODE_NAMES.iter().position(|x| x == n).unwrap_or(9);
                    format!("{RSC}:{i}")
                })
                .collect();
            out.push((
                format!("OCF_RESKEY_CRM_meta_notify_{k}_resource"),
                rsc.join(" "),
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// one agent invocation

pub struct Agent<'a> {
    c: &'a Cluster,
    node: String,
    action: String,
    env: BTreeMap<String, Option<String>>,
    wait_secs: u64,
    wrapper: Vec<String>,
}

#[derive(Debug)]
pub struct AgentResult {
    pub node: String,
    pub action: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl<'a> Agent<'a> {
    fn new(c: &'a Cluster, node: &str, action: &str) -> Agent<'a> {
        let n = c.node(node);
        let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), Some(v));
        };
        // PGSQLMS_TEST_PATH_PREFIX: extra directories before the stand-ins (comparison runs).
        let prefix = std::env::var("PGSQLMS_TEST_PATH_PREFIX")
            .map(|p| format!("{p}:"))
            .unwrap_or_default();
        set(
            "PATH",
            format!("{prefix}{}:/usr/sbin:/usr/bin:/sbin:/bin", c.bin.display()),
        );
        set("OCF_ROOT", "/usr/lib/ocf".into());
        set("OCF_RA_VERSION_MAJOR", "1".into());
        set("OCF_RA_VERSION_MINOR", "1".into());
        set("OCF_RESOURCE_INSTANCE", RSC.into());
        set("OCF_RESOURCE_TYPE", "pgsqlms".into());
        set("OCF_RESKEY_system_user", SYSTEM_USER.into());
        set("OCF_RESKEY_bindir", BINDIR.into());
        set("OCF_RESKEY_pgdata", n.pgdata.display().to_string());
        set("OCF_RESKEY_pghost", n.sockdir.display().to_string());
        set("OCF_RESKEY_pgport", n.port.to_string());
        set("OCF_RESKEY_CRM_meta_on_node", node.into());
        set("OCF_RESKEY_CRM_meta_on_node_uuid", node.into());
        set("OCF_RESKEY_CRM_meta_timeout", "60000".into());
        let interval = if action == "monitor" {
            UNPROMOTED_MONITOR_MS
        } else {
            0
        };
        set("OCF_RESKEY_CRM_meta_interval", interval.to_string());
        set("OCF_RESKEY_CRM_meta_notify", "true".into());
        set("OCF_RESKEY_CRM_meta_promoted_max", "1".into());
        set("OCF_RESKEY_CRM_meta_promoted_node_max", "1".into());
        set("OCF_RESKEY_CRM_meta_clone_max", c.nodes.len().to_string());
        set("OCF_RESKEY_CRM_meta_clone_node_max", "1".into());
        set("OCF_RESKEY_CRM_meta_globally_unique", "false".into());
        set("OCF_RESKEY_CRM_meta_promotable", "true".into());
        set("OCF_RESKEY_crm_feature_set", "3.16.2".into());
        set("HA_LOGFACILITY", "none".into());
        set("HA_RSCTMP", n.rsctmp.display().to_string());
        set("PGSQLMS_TEST_ATTRS", c.attrs.display().to_string());
        set("PGSQLMS_TEST_LOCAL_NODE", node.into());
        // PGSQLMS_TEST_EXTRA_ENV="K=V K=V": extra variables (comparison runs).
        if let Ok(extra) = std::env::var("PGSQLMS_TEST_EXTRA_ENV") {
            for kv in extra.split_whitespace() {
                if let Some((k, v)) = kv.split_once('=') {
                    env.insert(k.to_string(), Some(v.to_string()));
                }
            }
        }
        Agent {
            c,
            node: node.to_string(),
            action: action.to_string(),
            env,
            wait_secs: 120,
            wrapper: Vec::new(),
        }
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.to_string(), Some(v.to_string()));
        self
    }

    /// Set OCF_RESKEY_<param>.
    pub fn param(self, p: &str, v: &str) -> Self {
        self.env(&format!("OCF_RESKEY_{p}"), v)
    }

    pub fn unset(mut self, k: &str) -> Self {
        self.env.insert(k.to_string(), None);
        self
    }

    pub fn interval(self, ms: u64) -> Self {
        self.env("OCF_RESKEY_CRM_meta_interval", &ms.to_string())
    }

    pub fn timeout(self, ms: u64) -> Self {
        self.env("OCF_RESKEY_CRM_meta_timeout", &ms.to_string())
    }

    /// How long the test waits for the agent before killing it and failing.
    pub fn wait_secs(mut self, s: u64) -> Self {
        self.wait_secs = s;
        self
    }

    /// Run the agent through a wrapper command, e.g. `["strace", "-f", ...]`.
    pub fn wrapper(mut self, argv: &[&str]) -> Self {
        self.wrapper = argv.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn notify_env(mut self, n: &NotifyEnv) -> Self {
        for (k, val) in n.vars() {
            self.env.insert(k, Some(val));
        }
        self
    }

    pub fn run(self) -> AgentResult {
        // PGSQLMS_TEST_AGENT: run another agent binary instead (e.g. PAF's Perl pgsqlms, to
        // compare behaviour); by default the pgsqlms binary of this crate.
        let mut cmd = match std::env::var_os("PGSQLMS_TEST_AGENT") {
            Some(p) => Command::new(p),
            None => Command::cargo_bin("pgsqlms").expect("pgsqlms binary (cargo build)"),
        };
        if !self.wrapper.is_empty() {
            let agent = cmd.get_program().to_os_string();
            cmd = Command::new(&self.wrapper[0]);
            cmd.args(&self.wrapper[1..]).arg(agent);
        }
        cmd.arg(&self.action);
        cmd.env_clear();
        for (k, val) in &self.env {
            if let Some(val) = val {
                cmd.env(k, val);
            }
        }
        cmd.current_dir(&self.c.root);
        // Files rather than pipes: a postmaster started by the agent must not be able to keep
        // the test waiting on an inherited pipe.
        let stamp =
            format!("{:?}", Instant::now()).replace(|ch: char| !ch.is_ascii_alphanumeric(), "");
        let outp = self
            .c
            .root
            .join(format!("agent-{}-{}-{stamp}.out", self.node, self.action));
        let errp = self
            .c
            .root
            .join(format!("agent-{}-{}-{stamp}.err", self.node, self.action));
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&outp).unwrap())
            .stderr(fs::File::create(&errp).unwrap());
        let calls_before = self.c.calls().len();
        let t0 = Instant::now();
        let mut child = cmd.spawn().expect("spawn pgsqlms");
        let deadline = t0 + Duration::from_secs(self.wait_secs);
        let status = loop {
            if let Some(st) = child.try_wait().expect("wait pgsqlms") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "pgsqlms {} on {} did not finish within {}s (killed)\nstdout:\n{}\nstderr:\n{}",
                    self.action,
                    self.node,
                    self.wait_secs,
                    fs::read_to_string(&outp).unwrap_or_default(),
                    fs::read_to_string(&errp).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = t0.elapsed();
        let r = AgentResult {
            node: self.node.clone(),
            action: self.action.clone(),
            code: status.code().unwrap_or_else(|| {
                panic!("pgsqlms {} killed by a signal: {status:?}", self.action)
            }),
            stdout: fs::read_to_string(&outp).unwrap_or_default(),
            stderr: fs::read_to_string(&errp).unwrap_or_default(),
            elapsed,
        };
        let _ = fs::remove_file(&outp);
        let _ = fs::remove_file(&errp);
        eprintln!(
            "[{}] pgsqlms {} -> {} ({} ms){}",
            r.node,
            r.action,
            r.code,
            elapsed.as_millis(),
            r.reason()
                .map(|s| format!(" reason: {s}"))
                .unwrap_or_default()
        );
        let unexpected: Vec<String> = self
            .c
            .calls()
            .into_iter()
            .skip(calls_before)
            .filter(|l| l.contains("UNEXPECTED"))
            .collect();
        if !unexpected.is_empty() {
            panic!(
                "pgsqlms {} on {} called a Pacemaker tool in a form outside docs/agent-contract.md:\n{}\n{}",
                r.action,
                r.node,
                unexpected.join("\n"),
                r.describe()
            );
        }
        r
    }
}

impl AgentResult {
    /// The exit reasons printed (`ocf-exit-reason:` lines), joined; each of this agent's
    /// must fit the 128 bytes Pacemaker keeps (another agent run for comparison, through
    /// PGSQLMS_TEST_AGENT, is not held to that).
    #[track_caller]
    pub fn reason(&self) -> Option<String> {
        let v: Vec<&str> = self
            .stderr
            .lines()
            .filter_map(|l| l.split_once("ocf-exit-reason:").map(|x| x.1))
            .collect();
        let ours = std::env::var_os("PGSQLMS_TEST_AGENT").is_none();
        for reason in v.iter().filter(|_| ours) {
            assert!(
                reason.len() <= 128,
                "Pacemaker keeps 128 bytes of an exit reason, this one has {}: {reason}\n{}",
                reason.len(),
                self.describe()
            );
        }
        (!v.is_empty()).then(|| v.join(" | "))
    }

    pub fn reason_lines(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.contains("ocf-exit-reason:"))
            .count()
    }

    pub fn describe(&self) -> String {
        format!(
            "pgsqlms {} on {} exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.action, self.node, self.code, self.stdout, self.stderr
        )
    }

    /// Assert the exit code (and the exit reason rule, see `check_reason_lines`).
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code (wanted {code})\n{}",
            self.describe()
        );
        self.check_reason_lines()
    }

    #[track_caller]
    pub fn expect_one_of(&self, codes: &[i32]) -> &Self {
        assert!(
            codes.contains(&self.code),
            "exit code {} not in {codes:?}\n{}",
            self.code,
            self.describe()
        );
        self.check_reason_lines()
    }

    /// docs/agent-contract.md: "Every non-zero result prints one ocf-exit-reason line". An
    /// error (1, 2, 3, 5, 6, 9) must print exactly one; the normal monitor answers 7 and 8
    /// may print at most one.
    #[track_caller]
    pub fn check_reason_lines(&self) -> &Self {
        self.reason();
        let n = self.reason_lines();
        match self.code {
            0 => {}
            7 | 8 => assert!(
                n <= 1,
                "at most one ocf-exit-reason line\n{}",
                self.describe()
            ),
            _ => assert_eq!(
                n,
                1,
                "an error must print exactly one ocf-exit-reason line\n{}",
                self.describe()
            ),
        }
        self
    }

    /// Assert the exit reason contains one of `needles` (case-insensitive).
    #[track_caller]
    pub fn expect_reason(&self, needles: &[&str]) -> &Self {
        let r = self.reason().unwrap_or_default().to_lowercase();
        assert!(
            needles.iter().any(|n| r.contains(&n.to_lowercase())),
            "exit reason should mention one of {needles:?}\n{}",
            self.describe()
        );
        self
    }
}
