//! Managed synchronous replication (sync_mode on/strict) on real instances: the value the
//! primary's monitor gives synchronous_standby_names, the removal of a failed standby,
//! strict keeping k, and the order of the CIB record and the PostgreSQL change (shown by
//! refusing the record write: crm_node -q answering "no quorum").
mod common;
use common::*;
use std::fs;

const SSN: &str = "SHOW synchronous_standby_names";

fn three_nodes_caught_up() -> Cluster {
    let c = Cluster::new(2);
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c
}

/// The primary's monitor on node-a with `sync_mode`, `sync_count`.
#[track_caller]
fn monitor(c: &Cluster, mode: &str, count: &str) -> AgentResult {
    monitor_on(c, "node-a", mode, count)
}

#[track_caller]
fn monitor_on(c: &Cluster, node: &str, mode: &str, count: &str) -> AgentResult {
    let r = c
        .promoted_monitor(node)
        .param("sync_mode", mode)
        .param("sync_count", count)
        .run();
    r.expect_code(ocf::RUNNING_PROMOTED);
    r
}

/// The record in the CIB stand-in (cluster property pgsqlms-sync-<resource>).
fn record(c: &Cluster) -> Option<String> {
    fs::read_to_string(
        c.attrs
            .join("crm_config")
            .join(format!("pgsqlms-sync-{RSC}")),
    )
    .ok()
}

fn set_quorum(c: &Cluster, quorate: bool) {
    let f = c.attrs.join("no-quorum");
    if quorate {
        let _ = fs::remove_file(f);
    } else {
        fs::write(f, "").unwrap();
    }
}

fn stop_standby(c: &Cluster, name: &str) {
    c.stop_pg(name, "fast");
    c.wait_not_streaming("node-a", name);
}

fn start_standby(c: &Cluster, name: &str) {
    c.start_standby(name);
    c.wait_all_caught_up("node-a", &[name]);
}

#[test]
fn off_leaves_synchronous_standby_names_alone() {
    let c = three_nodes_caught_up();
    c.sql(
        "node-a",
        "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 (x)'",
    );
    c.sql("node-a", "SELECT pg_reload_conf()");
    c.wait_sql("node-a", SSN, "FIRST 1 (x)", "the administrator's value");
    c.clear_calls();
    c.expect_running_promoted("node-a");
    assert_eq!(c.sql("node-a", SSN), "FIRST 1 (x)");
    assert_eq!(record(&c), None);
    assert!(!c
        .calls()
        .iter()
        .any(|l| l.contains("crm_config") || l.contains("crm_node -q")));
}

#[test]
fn on_follows_the_streaming_standbys_recording_in_order() {
    let c = three_nodes_caught_up();
    let pgconf = fs::read_to_string(c.node("node-a").pgdata.join("postgresql.conf")).unwrap();
    monitor(&c, "on", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b", "node-c")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));
    // through ALTER SYSTEM: the administrator's file is untouched
    let auto = fs::read_to_string(c.node("node-a").pgdata.join("postgresql.auto.conf")).unwrap();
    assert!(auto.contains("synchronous_standby_names"), "{auto}");
    assert_eq!(
        fs::read_to_string(c.node("node-a").pgdata.join("postgresql.conf")).unwrap(),
        pgconf
    );
    // the steady state asks Pacemaker nothing about it
    c.clear_calls();
    monitor(&c, "on", "1");
    assert!(
        !c.calls().iter().any(|l| l.contains("crm_config")),
        "{:#?}",
        c.calls()
    );

    // a failed standby is removed by the next monitor; the record follows once the
    // remaining member flushed
    stop_standby(&c, "node-c");
    monitor(&c, "on", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b:node-a"));
    c.sql("node-a", "CREATE TABLE after_removal()");

    // adding: the record first. Without quorum it cannot be written, so PostgreSQL is
    // left as it is.
    start_standby(&c, "node-c");
    set_quorum(&c, false);
    monitor(&c, "on", "1");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b:node-a"));
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
    set_quorum(&c, true);
    monitor(&c, "on", "1");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b", "node-c")"#);

    // removing: PostgreSQL first; the smaller record only afterwards
    stop_standby(&c, "node-b");
    set_quorum(&c, false);
    monitor(&c, "on", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-c")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));
    set_quorum(&c, true);
    monitor(&c, "on", "1");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-c:node-a"));

    // none left: empty (PostgreSQL rejects ANY 0), said in the log, and a record that
    // proves nothing; writes go on
    stop_standby(&c, "node-c");
    let r = monitor(&c, "on", "1");
    assert_eq!(c.sql("node-a", SSN), "");
    assert_eq!(record(&c).as_deref(), Some("1:0::node-a"));
    assert!(r.stderr.contains("no standby streams"), "{}", r.stderr);
    c.sql("node-a", "CREATE TABLE unprotected()");
    // logged once per change
    let r = monitor(&c, "on", "1");
    assert!(!r.stderr.contains("no standby streams"), "{}", r.stderr);
}

#[test]
fn on_lowers_k_to_the_members_there_are() {
    let c = three_nodes_caught_up();
    monitor(&c, "on", "2");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 2 ("node-b", "node-c")"#);
    assert_eq!(record(&c).as_deref(), Some("1:2:node-b,node-c:node-a"));
    stop_standby(&c, "node-c");
    monitor(&c, "on", "2");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b:node-a"));
}

#[test]
fn a_standby_beyond_maxlag_is_not_a_member() {
    let c = three_nodes_caught_up();
    // node-c's WAL receiver stops, so its lag grows past maxlag=1 byte as soon as the
    // primary writes; node-b keeps up
    c.sql("node-c", "SELECT pg_wal_replay_pause()");
    let wr = c.sql("node-c", "SELECT pid FROM pg_stat_wal_receiver");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(wr.parse().unwrap()),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    c.sql("node-a", "CREATE TABLE moves_the_primary()");
    c.wait_all_caught_up("node-a", &["node-b"]);
    let r = c
        .promoted_monitor("node-a")
        .param("sync_mode", "on")
        .param("maxlag", "1")
        .run();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(wr.parse().unwrap()),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    r.expect_code(ocf::RUNNING_PROMOTED);
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
}

#[test]
fn strict_keeps_k_and_writes_wait_for_a_standby() {
    let c = three_nodes_caught_up();
    monitor(&c, "strict", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b", "node-c")"#);
    stop_standby(&c, "node-c");
    monitor(&c, "strict", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b:node-a"));
    // the last one gone: the value keeps it, k stays, writes wait
    stop_standby(&c, "node-b");
    let r = monitor(&c, "strict", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b:node-a"));
    assert!(r.stderr.contains("writes wait"), "{}", r.stderr);
    let r = monitor(&c, "strict", "1");
    assert!(
        !r.stderr.contains("writes wait"),
        "logged once: {}",
        r.stderr
    );
    let writer = c
        .as_postgres("psql")
        .args(c.conn_args("node-a"))
        .args(["-d", "postgres", "-XAtq", "-c", "CREATE TABLE waits()"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut writer = Kill(writer);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        writer.0.try_wait().unwrap().is_none(),
        "the commit did not wait"
    );
    // the standby back: the commit completes
    c.start_standby("node-b");
    let status = wait_for(60, "the waiting commit", || writer.0.try_wait().unwrap());
    assert!(status.success());
    monitor(&c, "strict", "1");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 1 ("node-b")"#);

    // sync_count above the members there are: k stays 2
    start_standby(&c, "node-c");
    monitor(&c, "strict", "2");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 2 ("node-b", "node-c")"#);
    stop_standby(&c, "node-c");
    monitor(&c, "strict", "2");
    assert_eq!(c.sql("node-a", SSN), r#"ANY 2 ("node-b", "node-c")"#);
}

/// Kills the child when dropped (also when the test fails).
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn on_with_commits_that_never_wait_is_refused_by_the_monitor() {
    let c = three_nodes_caught_up();
    c.sql("node-a", "ALTER SYSTEM SET synchronous_commit = local");
    c.sql("node-a", "SELECT pg_reload_conf()");
    c.wait_sql("node-a", "SHOW synchronous_commit", "local", "the reload");
    let r = monitor(&c, "on", "1");
    assert!(
        r.stderr.contains("synchronous_commit is local"),
        "{}",
        r.stderr
    );
    assert_eq!(c.sql("node-a", SSN), "");
    assert_eq!(record(&c), None);
}

#[test]
fn a_promotion_needs_its_proof_and_records_the_new_timeline() {
    let c = three_nodes_caught_up();
    monitor(&c, "on", "1");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));
    c.sql("node-a", "CREATE TABLE acknowledged()");
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    // the primary lost, and member node-c's PostgreSQL down (its node stays)
    c.stop_pg("node-a", "immediate");
    c.stop_pg("node-c", "fast");
    let standbys = ["node-b", "node-c"];
    c.set_partition(&standbys);
    let n = NotifyEnv::promotion(&standbys, "node-b");
    c.pre_promote_round(&standbys, &n);
    let promote = || {
        c.agent("node-b", "promote")
            .param("sync_mode", "on")
            .timeout(20_000)
            .run()
    };
    // ANY 1 of 2: both must be heard from; node-c could hold a commit node-b lacks
    let r = promote();
    r.expect_code(ocf::ERR_GENERIC).expect_reason(&["node-c"]);
    assert!(c.in_recovery("node-b"), "promoted without proof");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));

    // node-c back (behind or level): the proof holds for the most advanced, node-b
    c.start_standby("node-c");
    c.pre_promote_round(&standbys, &n);
    promote().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"));
    // the new timeline's record, before the promotion was reported: node-c had flushed
    // as far as node-b at the election, so it holds whatever node-b acknowledged
    assert_eq!(record(&c).as_deref(), Some("2:1:node-c:node-b"));
    assert_eq!(c.sql("node-b", SSN), r#"ANY 1 ("node-c")"#);
    // just promoted: node-c, not streaming from node-b yet, is still waited for (it is
    // reconnecting), rather than dropped and writes acknowledged by node-b alone
    c.set_partition(&["node-a", "node-b", "node-c"]);
    monitor_on(&c, "node-b", "on", "1");
    assert_eq!(c.sql("node-b", SSN), r#"ANY 1 ("node-c")"#);
    assert_eq!(record(&c).as_deref(), Some("2:1:node-c:node-b"));

    // node-c follows node-b: the next monitor makes it a member, recorded once flushed
    c.set_upstream("node-c", Upstream::Node("node-b"));
    c.wait_all_caught_up("node-b", &["node-c"]);
    monitor_on(&c, "node-b", "on", "1");
    assert_eq!(c.sql("node-b", SSN), r#"ANY 1 ("node-c")"#);
    assert_eq!(record(&c).as_deref(), Some("2:1:node-c:node-b"));
}

#[test]
fn a_strict_promotion_starts_with_the_former_members() {
    let c = three_nodes_caught_up();
    monitor(&c, "strict", "1");
    // node-c falls behind node-b (commits acknowledged by node-b alone)
    c.set_upstream("node-c", Upstream::Nowhere);
    c.wait_not_streaming("node-a", "node-c");
    c.sql("node-a", "CREATE TABLE only_on_b()");
    c.wait_replayed("node-a", "node-b");
    c.stop_pg("node-a", "immediate");
    let standbys = ["node-b", "node-c"];
    c.set_partition(&standbys);
    let n = NotifyEnv::promotion(&standbys, "node-b");
    c.pre_promote_round(&standbys, &n);
    c.agent("node-b", "promote")
        .param("sync_mode", "strict")
        .timeout(20_000)
        .run()
        .expect_code(ocf::SUCCESS);
    // writes wait for node-c from the start; the record holds for node-c only once it is
    // past node-b's promotion (it lacks what node-b alone acknowledged before)
    assert_eq!(c.sql("node-b", SSN), r#"ANY 1 ("node-c")"#);
    let r = record(&c).unwrap();
    assert!(r.starts_with("2:1:node-c:node-b:2#"), "{r}");
    c.set_upstream("node-c", Upstream::Node("node-b"));
    c.wait_all_caught_up("node-b", &["node-c"]);
    monitor_on(&c, "node-b", "strict", "1");
    assert_eq!(record(&c), Some(r), "settled: the monitor changes nothing");
}

/// No primary, quorum present: the headless recovery promotes only what the record proves.
#[test]
fn headless_recovery_promotes_only_a_proven_standby() {
    let c = three_nodes_caught_up();
    monitor(&c, "on", "1");
    assert_eq!(record(&c).as_deref(), Some("1:1:node-b,node-c:node-a"));
    // the primary and member node-c lost; node-b runs alone, nothing promoted
    c.stop_pg("node-a", "fast");
    c.stop_pg("node-c", "fast");
    c.wait_no_walreceiver("node-b");
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.set_locate(&[("node-b", false)]);
    // and no promotion score left (as after the loss of a second primary)
    fs::remove_dir_all(c.attrs.join("promotion")).unwrap();
    let standby_monitor = |mode: &str| {
        c.agent("node-b", "monitor")
            .interval(UNPROMOTED_MONITOR_MS)
            .param("sync_mode", mode)
            .run()
            .expect_code(ocf::SUCCESS);
    };
    standby_monitor("on");
    assert_eq!(c.score("node-b"), None, "promoted without proof");
    let s = c.private_attr("node-b", "headless").unwrap();
    assert!(s.contains("missing: node-c"), "{s}");
    // node-c back (and running): node-b, the most advanced of both members, takes it
    c.start_standby("node-c");
    c.set_locate(&[("node-b", false), ("node-c", false)]);
    let monitor_c = || {
        c.agent("node-c", "monitor")
            .interval(UNPROMOTED_MONITOR_MS)
            .param("sync_mode", "on")
            .run()
            .expect_code(ocf::SUCCESS);
    };
    monitor_c();
    standby_monitor("on");
    c.assert_scores(&[("node-b", 1000)], "the proven standby");
}
