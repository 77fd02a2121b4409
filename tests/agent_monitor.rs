//! monitor and probe in every state, and the promotion scores kept by the primary's monitor.
mod common;
use common::*;

fn attribute_calls(c: &Cluster) -> Vec<String> {
    c.calls()
        .into_iter()
        .filter(|l| l.contains("crm_attribute") || l.contains("attrd_updater"))
        .collect()
}

/// The recurring monitor (every `interval_ms`) and the probe (interval 0) of `node` both
/// answer `code`.
#[track_caller]
fn expect_monitor_and_probe(c: &Cluster, node: &str, interval_ms: u64, code: i32) {
    c.agent(node, "monitor")
        .interval(interval_ms)
        .run()
        .expect_code(code);
    c.probe(node).run().expect_code(code);
}

/// Sends SIGCONT to a process stopped with SIGSTOP when dropped (also when the test fails).
struct Cont(nix::unistd::Pid);
impl Drop for Cont {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

/// SIGSTOP the process `pid` until the returned guard is dropped.
fn sigstop(pid: i32) -> Cont {
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    Cont(pid)
}

/// Freeze `standby`'s walreceiver (still connected, receives nothing), then write a table
/// t of `rows` rows on node-a: `standby` stays behind until the returned guard is dropped.
fn write_while_frozen(c: &Cluster, standby: &str, rows: u32) -> Cont {
    let wr = c.sql(standby, "SELECT pid FROM pg_stat_wal_receiver");
    let cont = sigstop(
        wr.parse()
            .unwrap_or_else(|_| panic!("walreceiver pid of {standby}: {wr:?}")),
    );
    c.sql(
        "node-a",
        &format!("CREATE TABLE t AS SELECT generate_series(1, {rows}) AS i"),
    );
    cont
}

/// Primary node-a with the standbys node-b and node-c, all three in the partition, the
/// standbys caught up.
fn three_nodes_caught_up() -> Cluster {
    let c = Cluster::new(2);
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c
}

#[test]
fn monitor_stopped_instance_is_not_running() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    for n in ["node-a", "node-b"] {
        expect_monitor_and_probe(&c, n, UNPROMOTED_MONITOR_MS, ocf::NOT_RUNNING);
    }
}

#[test]
fn monitor_standby_is_success_and_quiet() {
    let c = Cluster::new(1);
    c.clear_calls();
    expect_monitor_and_probe(&c, "node-b", UNPROMOTED_MONITOR_MS, ocf::SUCCESS);
    // docs/agent-contract.md "Steady-state monitor": no child process, so no Pacemaker tool.
    assert!(
        c.calls().is_empty(),
        "a standby monitor must not call Pacemaker tools: {:#?}",
        c.calls()
    );
}

#[test]
fn monitor_primary_is_running_promoted() {
    let c = Cluster::new(1);
    expect_monitor_and_probe(&c, "node-a", PROMOTED_MONITOR_MS, ocf::RUNNING_PROMOTED);
}

#[test]
fn monitor_primary_killed_is_failed_promoted() {
    let c = Cluster::new(1);
    c.kill9("node-a");
    expect_monitor_and_probe(&c, "node-a", PROMOTED_MONITOR_MS, ocf::FAILED_PROMOTED);
}

#[test]
fn monitor_standby_killed_is_generic_error() {
    let c = Cluster::new(1);
    c.kill9("node-b");
    c.agent("node-b", "monitor")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["crash"]);
}

#[test]
fn probe_without_pgdata_is_not_running() {
    // A node where the instance was never created (no pgdata at all): the probe must say
    // "not running" (PAF returned ERR_ARGS, a hard error; see behaviour doc 10.9).
    let c = Cluster::empty(1);
    assert!(!c.node("node-a").pgdata.exists());
    c.probe("node-a").run().expect_code(ocf::NOT_RUNNING);
    // Same when PostgreSQL is not even installed (ocf-tester accepts 7 or 5 here).
    c.probe("node-a")
        .param("bindir", "/nonexistent/bin")
        .run()
        .expect_one_of(&[ocf::NOT_RUNNING, ocf::ERR_INSTALLED]);
}

#[test]
fn primary_monitor_sets_promotion_scores_then_stays_quiet() {
    let c = Cluster::new(2);
    // node-d is a member of the partition with no instance connected to the primary.
    c.set_partition(&["node-a", "node-b", "node-c", "node-d"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    // the clone instance suffix must be stripped from the attribute names
    c.promoted_monitor("node-a")
        .env("OCF_RESOURCE_INSTANCE", "pgsqld:0")
        .run()
        .expect_code(ocf::RUNNING_PROMOTED);
    // equal LSNs: ties ranked by name
    c.assert_scores(
        &[
            ("node-a", 1001),
            ("node-b", 1000),
            ("node-c", 990),
            ("node-d", -1000),
        ],
        "primary; best standby; second standby; partition member not connected",
    );
    // the replication view for `pgsqlms show`, published by the same monitor
    let published = c.private_attr("node-a", "replication").unwrap_or_default();
    let view = pgsqlms::logic::replication_view::PublishedView::parse(&published)
        .unwrap_or_else(|| panic!("no replication view published: {published:?}"));
    assert_eq!(view.primary, "node-a");
    let mut streaming: Vec<&str> = view
        .replication
        .senders
        .iter()
        .filter(|s| s.row.state == "streaming" && s.replay_lsn.is_some())
        .map(|s| s.row.application_name.as_str())
        .collect();
    streaming.sort_unstable();
    assert_eq!(streaming, ["node-b", "node-c"], "{published}");
    assert!(view.replication.timeline >= 1, "{published}");

    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.clear_calls();
    c.expect_running_promoted("node-a");
    let calls = attribute_calls(&c);
    assert!(
        calls.is_empty(),
        "no score changed, yet the monitor called attribute tools: {calls:#?}"
    );
    eprintln!("calls of the steady-state primary monitor: {:?}", c.calls());
    c.assert_scores(&[("node-a", 1001), ("node-b", 1000)], "");
}

#[test]
fn primary_monitor_ranks_standbys_by_lsn() {
    let c = three_nodes_caught_up();
    // Freeze node-b's walreceiver (still connected, receives nothing), then write WAL.
    let cont = write_while_frozen(&c, "node-b", 10000);
    wait_for(30, "node-c ahead of node-b in pg_stat_replication", || {
        let r = c
            .sql(
                "node-a",
                "SELECT (SELECT write_lsn FROM pg_stat_replication WHERE application_name = 'node-c') > \
                        (SELECT write_lsn FROM pg_stat_replication WHERE application_name = 'node-b')",
            );
        (r == "t").then_some(())
    });
    c.expect_running_promoted("node-a");
    c.assert_scores(
        &[("node-a", 1001), ("node-c", 1000), ("node-b", 990)],
        "the most advanced standby ranks first, the lagging standby second",
    );

    drop(cont);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.clear_calls();
    c.expect_running_promoted("node-a");
    c.assert_scores(
        &[("node-b", 1000), ("node-c", 990)],
        "after catching up, ties ranked by name",
    );
    let updates: Vec<String> = c
        .calls()
        .into_iter()
        .filter(|l| l.contains("--update"))
        .collect();
    assert_eq!(
        updates.len(),
        2,
        "exactly the two changed scores are written: {updates:#?}"
    );
}

/// The processes the agent ran during one action, from `strace -f -e trace=execve`
/// (the agent's own execve excluded).
fn spawned_programs(c: &Cluster, node: &str, interval: u64) -> Vec<String> {
    let trace = c.root.join(format!("strace-{node}.txt"));
    let t = trace.to_str().unwrap().to_string();
    let r = c
        .agent(node, "monitor")
        .interval(interval)
        .wrapper(&["strace", "-f", "-qq", "-e", "trace=execve", "-o", &t])
        .run();
    assert!(r.code == 0 || r.code == 8, "{}", r.describe());
    let text = std::fs::read_to_string(&trace).expect("strace output");
    let execs: Vec<String> = text
        .lines()
        .filter(|l| l.contains("execve(") && !l.contains("= -1 "))
        .map(str::to_string)
        .collect();
    assert!(!execs.is_empty(), "strace saw no execve at all:\n{text}");
    execs[1..].to_vec()
}

/// docs/agent-contract.md, "Steady-state monitor": a monitor of a healthy running instance
/// spawns no child process (no psql, pg_isready, pg_controldata, postgres -C, Pacemaker tool).
#[test]
fn steady_state_monitor_spawns_no_process() {
    let probe = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=execve", "-o", "/dev/null", "true"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!("SKIPPED: strace cannot trace here (needs ptrace): {probe:?}");
        return;
    }
    let c = Cluster::new(1);
    c.set_partition(&["node-a", "node-b"]);
    c.wait_all_caught_up("node-a", &["node-b"]);
    // first primary monitor writes the scores; the next ones must not spawn anything
    c.expect_running_promoted("node-a");
    c.wait_all_caught_up("node-a", &["node-b"]);
    let p = spawned_programs(&c, "node-a", PROMOTED_MONITOR_MS);
    assert!(p.is_empty(), "steady-state primary monitor spawned: {p:#?}");
    let s = spawned_programs(&c, "node-b", UNPROMOTED_MONITOR_MS);
    assert!(s.is_empty(), "standby monitor spawned: {s:#?}");
}

/// maxlag: a connected standby lagging more than maxlag bytes gets a negative score.
#[test]
fn maxlag_gives_a_lagging_standby_a_negative_score() {
    let c = three_nodes_caught_up();
    let _cont = write_while_frozen(&c, "node-b", 50000);
    c.wait_replayed("node-a", "node-c");
    c.promoted_monitor("node-a")
        .param("maxlag", "100000")
        .run()
        .expect_code(ocf::RUNNING_PROMOTED);
    c.assert_scores(&[("node-a", 1001), ("node-c", 1000)], "");
    let b = c.score_i("node-b").expect("node-b score");
    assert!(
        b < 0,
        "node-b lags more than maxlag, its score must be negative: {:?}",
        c.scores()
    );
}

/// Without OCF_RESKEY_CRM_meta_on_node the agent asks `crm_node -n` for its name.
#[test]
fn node_name_from_crm_node_when_pacemaker_does_not_give_it() {
    let c = Cluster::new(1);
    c.set_partition(&["node-a", "node-b"]);
    c.wait_all_caught_up("node-a", &["node-b"]);
    c.promoted_monitor("node-a")
        .unset("OCF_RESKEY_CRM_meta_on_node")
        .run()
        .expect_code(ocf::RUNNING_PROMOTED);
    assert!(
        c.calls().iter().any(|l| l.ends_with("crm_node -n")),
        "{:#?}",
        c.calls()
    );
    c.assert_scores(&[("node-a", 1001), ("node-b", 1000)], "");
}

/// A hung instance (postmaster stopped with SIGSTOP: connections are accepted by the kernel
/// but never answered) is told hung from /proc without waiting for an answer: monitor,
/// demote and stop fail at once with a `hung:` reason (PAF's stop waited out its whole
/// timeout, doc 10.4 and issue 11), and stop sends no signal: once the postmaster runs again,
/// so does the instance.
#[test]
fn every_action_fails_at_once_on_a_hung_instance() {
    let c = Cluster::new(1);
    let pid = c.postmaster_pid("node-b").unwrap();
    let cont = sigstop(pid);
    for action in ["monitor", "demote", "stop"] {
        let r = c
            .agent("node-b", action)
            .timeout(20_000)
            .wait_secs(30)
            .run();
        assert!(
            r.elapsed.as_secs_f64() < 3.0, // far below the 20 s timeout it used to wait out
            "{action} took {:?} on a hung instance\n{}",
            r.elapsed,
            r.describe()
        );
        r.expect_code(ocf::ERR_GENERIC)
            .check_reason_lines()
            .expect_reason(&[&format!("hung: postmaster {pid} is stopped"), "fencing"]);
    }
    drop(cont);
    c.agent("node-b", "monitor")
        .interval(UNPROMOTED_MONITOR_MS)
        .run()
        .expect_code(ocf::SUCCESS);
}

/// Runs `sql` on `node` connected to template1, so it may change the database postgres.
fn sql_in_template1(c: &Cluster, node: &str, sql: &str) {
    run_ok(
        c.as_postgres("psql")
            .args(c.conn_args(node))
            .args(["-d", "template1", "-XAtqc", sql]),
        sql,
    );
}

/// Each connection failure gets the hint that fits it: pg_hba.conf rejecting the agent's
/// role points at pg_hba.conf, not at max_connections; a missing database postgres (the
/// one the agent connects to) at that database.
#[test]
fn an_unreachable_instance_gets_the_hint_of_its_cause() {
    let c = Cluster::new(1);
    let hba = c.node("node-b").pgdata.join("pg_hba.conf");
    let original = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("local all {SYSTEM_USER} reject\n{original}")).unwrap();
    run_ok(c.pg_ctl("node-b").arg("reload"), "reload");
    wait_for(10, "pg_hba.conf reloaded", || {
        c.try_sql("node-b", "SELECT 1").err()
    });
    let r = c
        .agent("node-b", "monitor")
        .interval(UNPROMOTED_MONITOR_MS)
        .run();
    r.expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["pg_hba.conf"])
        .expect_reason(&["cannot query the instance"]);
    let reason = r.reason().unwrap();
    assert!(!reason.contains("max_connections"), "{reason}");
    std::fs::write(&hba, original).unwrap();
    run_ok(c.pg_ctl("node-b").arg("reload"), "reload");
    wait_for(10, "pg_hba.conf restored", || {
        c.try_sql("node-b", "SELECT 1").ok()
    });
    c.agent("node-b", "monitor")
        .interval(UNPROMOTED_MONITOR_MS)
        .run()
        .expect_code(ocf::SUCCESS);

    sql_in_template1(&c, "node-a", "ALTER DATABASE postgres RENAME TO renamed");
    let r = c.promoted_monitor("node-a").run();
    r.expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["create the database postgres"]);
    let reason = r.reason().unwrap();
    assert!(!reason.contains("pg_hba.conf"), "{reason}");
    sql_in_template1(&c, "node-a", "ALTER DATABASE renamed RENAME TO postgres");
    c.expect_running_promoted("node-a");
}

/// A replication client that is not a cluster node, with an application_name that is a
/// substring of the node names ("node"), gets no score (PAF matched names with an unanchored
/// regex, doc 10.5).
#[test]
fn primary_monitor_ignores_replication_clients_that_are_not_nodes() {
    use std::os::unix::process::CommandExt;
    let c = Cluster::new(1);
    c.set_partition(&["node-a", "node-b"]);
    let a = c.node("node-a").clone();
    let wal = c.root.join("receivewal");
    std::fs::create_dir(&wal).unwrap();
    chown_postgres(&wal);
    let u = nix::unistd::User::from_name("postgres").unwrap().unwrap();
    let child = std::process::Command::new(format!("{BINDIR}/pg_receivewal"))
        .arg("-D")
        .arg(&wal)
        .arg("-d")
        .arg(format!(
            "host={} port={} user=postgres application_name=node",
            a.sockdir.display(),
            a.port
        ))
        .arg("--no-loop")
        .current_dir(&c.root)
        .uid(u.uid.as_raw())
        .gid(u.gid.as_raw())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pg_receivewal");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _k = Kill(child);
    c.wait_streaming("node-a", &["node", "node-b"]);
    c.expect_running_promoted("node-a");
    c.assert_scores(&[("node-a", 1001), ("node-b", 1000)], "");
    let stray: Vec<String> = c
        .calls()
        .into_iter()
        .filter(|l| l.contains("--node node ") || l.ends_with("--node node"))
        .collect();
    assert!(stray.is_empty(), "scored a non-node client: {stray:#?}");
    assert!(!c.attrs.join("promotion/pgsqld/node").exists());
}

/// A standby node drops out of the cluster membership for a while (network blip) and comes
/// back, its instance running all along: no resource action runs (so no notification
/// reaches the primary), but Pacemaker purges the transient (lifetime=reboot) attributes
/// of a node that leaves, its promotion score included. When it is back and streaming, the
/// primary's monitor must give it a score again, even though the score it computes equals
/// the one it wrote before the node left.
#[test]
fn primary_monitor_rescores_a_standby_that_left_and_came_back() {
    let c = three_nodes_caught_up();
    c.expect_running_promoted("node-a");
    c.assert_scores(&[("node-b", 1000)], "");

    // node-b is cut off: replication breaks, it leaves the partition, Pacemaker purges
    // its transient attributes
    c.set_upstream("node-b", Upstream::Nowhere);
    c.wait_not_streaming("node-a", "node-b");
    c.set_partition(&["node-a", "node-c"]);
    std::fs::remove_file(c.attrs.join("promotion/pgsqld/node-b")).unwrap();
    c.expect_running_promoted("node-a");
    c.assert_scores(&[("node-c", 1000)], "");

    // node-b is back
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.set_upstream("node-b", Upstream::Node("node-a"));
    c.wait_streaming("node-a", &["node-b"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.expect_running_promoted("node-a");
    c.assert_scores(
        &[("node-b", 1000), ("node-c", 990)],
        "node-b is back and as advanced as node-c (tie, by name): it needs its score again",
    );
}

/// A setting wrong on every node (here a port that is no port): Pacemaker learns it from
/// the probe and then stops the resource. That stop must succeed once no process of the
/// instance is left, or a typo gets every node fenced; and while a postmaster works in the
/// data directory, no answer may claim the instance is not running.
#[test]
fn a_setting_wrong_everywhere_still_lets_stop_stop_the_instance() {
    let c = Cluster::new(1);
    let bad = |action: &str| c.agent("node-a", action).param("pgport", "notaport");
    c.probe("node-a")
        .param("pgport", "notaport")
        .run()
        .expect_code(ocf::ERR_CONFIGURED)
        .expect_reason(&["pgport"]);
    bad("monitor")
        .interval(PROMOTED_MONITOR_MS)
        .run()
        .expect_code(ocf::ERR_CONFIGURED);
    assert!(c.is_running("node-a"));
    bad("stop").run().expect_code(ocf::SUCCESS);
    assert!(
        !c.is_running("node-a"),
        "stop answered success with the instance running"
    );
    // nothing left: stop again is a success, and the probe says "not configured" still
    bad("stop").run().expect_code(ocf::SUCCESS);
    c.probe("node-a")
        .param("pgport", "notaport")
        .run()
        .expect_code(ocf::ERR_CONFIGURED);
}

/// Kills the sessions holding every connection slot when dropped.
struct Sessions(Vec<std::process::Child>);
impl Drop for Sessions {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A primary whose every connection slot is taken, even those reserved for superusers, still
/// answers ("too many clients"): it is alive and keeps its role, which pg_control gives
/// (issue 11: a slow but alive primary is never failed over).
#[test]
fn a_primary_with_every_slot_taken_keeps_its_role() {
    let c = Cluster::new(1);
    c.sql("node-a", "ALTER SYSTEM SET max_connections = 3");
    c.sql(
        "node-a",
        "ALTER SYSTEM SET superuser_reserved_connections = 0",
    );
    c.stop_pg("node-a", "fast");
    c.start_pg("node-a");
    let hold = |()| {
        c.as_postgres("psql")
            .args(c.conn_args("node-a"))
            .args(["-XAtqc", "SELECT pg_sleep(60)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut sessions = Sessions((0..3).map(|_| hold(())).collect());
    let full = || {
        let o = c
            .as_postgres("psql")
            .args(c.conn_args("node-a"))
            .args(["-XAtqc", "SELECT 1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stderr).contains("too many clients")
    };
    let t0 = std::time::Instant::now();
    while !full() {
        assert!(
            t0.elapsed().as_secs() < 30,
            "the sessions never filled the slots"
        );
        // one that could not connect (a slot briefly taken by the check itself) is replaced
        sessions.0.push(hold(()));
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let r = c
        .agent("node-a", "monitor")
        .interval(PROMOTED_MONITOR_MS)
        .run();
    r.expect_code(ocf::RUNNING_PROMOTED);
    assert!(
        r.stderr.contains("too many clients") && r.stderr.contains("pg_control"),
        "{}",
        r.describe()
    );
}

/// A standby whose replay an administrator paused is shown by `pgsqlms show`: its own
/// monitor publishes that (one attrd call when it changes, none in between), and withdraws
/// it once replay resumes. Attribute tools: the recording stand-ins.
#[test]
fn a_standby_publishes_that_its_replay_is_paused() {
    let c = Cluster::new(1);
    let monitor = || {
        c.agent("node-b", "monitor")
            .interval(UNPROMOTED_MONITOR_MS)
            .run()
            .expect_code(ocf::SUCCESS);
    };
    monitor();
    assert_eq!(c.private_attr("node-b", "replay_paused"), None);
    c.sql("node-b", "SELECT pg_wal_replay_pause()");
    c.wait_sql(
        "node-b",
        "SELECT pg_is_wal_replay_paused()",
        "t",
        "replay paused",
    );
    monitor();
    assert_eq!(
        c.private_attr("node-b", "replay_paused").as_deref(),
        Some("1")
    );
    c.sql("node-b", "SELECT pg_wal_replay_resume()");
    monitor();
    assert_eq!(c.private_attr("node-b", "replay_paused"), None);
}
