//! The cluster: nodes, their instances built with initdb and pg_basebackup, and the
//! fixture's own control of them (not the agent's).

use super::*;

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

    /// Lays `count` WAL segments of zeros past the newest one in `name`'s pg_wal, as
    /// PostgreSQL pre-allocates them (sparse files, 16 MB each). Whatever program learns
    /// the segment size from the first segment file it lists then most likely meets one.
    pub fn preallocate_wal_segments(&self, name: &str, count: u64) {
        let pg_wal = self.node(name).pgdata.join("pg_wal");
        let newest = fs::read_dir(&pg_wal)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .max()
            .unwrap_or_else(|| panic!("{name}: no WAL segment in pg_wal"));
        let timeline = &newest[..8];
        let segno = u64::from_str_radix(&newest[8..], 16).unwrap();
        for next in segno + 1..=segno + count {
            let path = pg_wal.join(format!("{timeline}{:016X}", next));
            let file = fs::File::create(&path).unwrap();
            file.set_len(16 << 20).unwrap();
            chown_postgres(&path);
            chmod(&path, 0o600);
        }
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
