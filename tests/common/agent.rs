//! Running the agent as Pacemaker would, one invocation at a time.

use super::*;

impl Cluster {
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
