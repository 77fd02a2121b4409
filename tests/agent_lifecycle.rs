//! start / stop of real PostgreSQL 15 instances through the agent.
mod common;
use common::*;

/// A primary (node-a) and one standby (node-b); kill -9 the instance of `node`, then stop it
/// through the agent, which must succeed (the first step of Pacemaker's recovery).
fn crash_then_stop(node: &str) -> Cluster {
    let c = Cluster::new(1);
    c.kill9(node);
    c.agent(node, "stop").run().expect_code(ocf::SUCCESS);
    c
}

/// `crash_then_stop`, then a probe must answer 7, with pg_control in `state`.
fn probe_after_crash_and_stop(node: &str, state: &str) -> Cluster {
    let c = crash_then_stop(node);
    c.probe(node).run().expect_code(ocf::NOT_RUNNING);
    assert_eq!(
        c.cluster_state(node),
        state,
        "pg_control of {node} after stop"
    );
    c
}

/// node-a (primary, 10 rows in table t) crashes and node-b is promoted in its place, with
/// the pre- and post-promote rounds; node-a is left as it crashed, out of the partition.
fn fail_over_from_crashed_node_a() -> Cluster {
    let c = Cluster::new(1);
    c.sql(
        "node-a",
        "CREATE TABLE t AS SELECT generate_series(1, 10) AS i",
    );
    c.wait_all_caught_up("node-a", &["node-b"]);
    c.kill9("node-a");
    c.set_partition(&["node-b"]);
    let n = NotifyEnv::promotion(&["node-b"], "node-b");
    c.pre_promote_round(&["node-b"], &n);
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    c.post_promote_round(&["node-b"], &n);
    c
}

/// The repaired node-a rejoins the partition: the probe says 7 NOT_RUNNING and start brings
/// it up as a streaming standby of node-b.
fn rejoin_repaired_node_a(c: &Cluster) {
    c.set_partition(&["node-a", "node-b"]);
    c.probe("node-a").run().expect_code(ocf::NOT_RUNNING);
    c.agent("node-a", "start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-a"));
    c.wait_streaming("node-b", &["node-a"]);
}

#[test]
fn start_stopped_standby_then_double_start() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.agent("node-b", "monitor")
        .run()
        .expect_code(ocf::NOT_RUNNING);
    c.clear_calls();

    c.agent("node-b", "start").run().expect_code(ocf::SUCCESS);
    assert!(
        c.is_running("node-b"),
        "start returned 0 but no postmaster runs"
    );
    assert!(
        c.in_recovery("node-b"),
        "start must start the instance as a standby"
    );
    assert!(
        c.node("node-b").pgdata.join("standby.signal").exists(),
        "start must create standby.signal"
    );
    c.wait_streaming("node-a", &["node-b"]);
    c.agent("node-b", "monitor").run().expect_code(ocf::SUCCESS);

    let pid = c.postmaster_pid("node-b");
    c.agent("node-b", "start").run().expect_code(ocf::SUCCESS);
    assert_eq!(
        c.postmaster_pid("node-b"),
        pid,
        "a second start must leave the running instance alone"
    );
    assert!(c.in_recovery("node-b"));
}

#[test]
fn stop_then_double_stop() {
    let c = Cluster::new(1);
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    assert!(
        !c.is_running("node-b"),
        "stop returned 0 but the postmaster still runs"
    );
    assert_eq!(
        c.cluster_state("node-b"),
        "shut down in recovery",
        "stop must be a clean shutdown"
    );
    c.agent("node-b", "monitor")
        .run()
        .expect_code(ocf::NOT_RUNNING);
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    c.agent("node-b", "monitor")
        .run()
        .expect_code(ocf::NOT_RUNNING);

    // the primary stops cleanly too
    c.agent("node-a", "stop").run().expect_code(ocf::SUCCESS);
    assert!(!c.is_running("node-a"));
    assert_eq!(c.cluster_state("node-a"), "shut down");
    c.agent("node-a", "monitor")
        .run()
        .expect_code(ocf::NOT_RUNNING);
    c.agent("node-a", "stop").run().expect_code(ocf::SUCCESS);
}

#[test]
fn start_of_a_cleanly_stopped_primary_starts_a_standby() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    assert_eq!(c.cluster_state("node-a"), "shut down");
    c.agent("node-a", "start").run().expect_code(ocf::SUCCESS);
    assert!(
        c.in_recovery("node-a"),
        "the agent always starts an instance as a standby"
    );
    c.agent("node-a", "monitor").run().expect_code(ocf::SUCCESS);
    // PAF's first-start rule (behaviour doc 1.5 step 7): a cleanly shut down primary with no
    // promotion score >= 0 anywhere in the partition gets score 1, so that Pacemaker can
    // promote it on a cluster's first start.
    assert_eq!(
        c.score("node-a").as_deref().map(str::trim),
        Some("1"),
        "first-start score; scores: {:?}",
        c.scores()
    );
}

#[test]
fn start_refused_on_a_crashed_former_primary() {
    let c = Cluster::new(1);
    c.kill9("node-a");
    let r = c.agent("node-a", "start").run();
    assert_ne!(
        r.code,
        0,
        "start of a crashed primary must be refused\n{}",
        r.describe()
    );
    r.expect_code(r.code);
    // The reason must tell the administrator what happened and what to do.
    r.expect_reason(&["crash"]);
    r.expect_reason(&["pg_rewind", "rebuild", "pg_basebackup", "recover", "resync"]);
    assert!(
        !c.is_running("node-a"),
        "the crashed primary must not have been started"
    );
    assert!(
        !c.node("node-a").pgdata.join("standby.signal").exists(),
        "a refused start must not leave standby.signal behind"
    );
    assert_eq!(
        c.cluster_state("node-a"),
        "in production",
        "pgdata must be untouched"
    );
}

/// Pacemaker's recovery of a crashed standby: stop, then start. PAF's stop failed here
/// (then Pacemaker fenced the node).
#[test]
fn crashed_standby_recovered_by_stop_then_start() {
    let c = crash_then_stop("node-b");
    c.agent("node-b", "start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-b"));
    c.wait_streaming("node-a", &["node-b"]);
    c.agent("node-b", "monitor").run().expect_code(ocf::SUCCESS);
}

/// After a successful stop, a probe must report the instance stopped (7); anything else
/// makes Pacemaker see the resource as failed/active on a node where it just stopped it.
#[test]
fn probe_after_stop_of_a_crashed_standby_reports_stopped() {
    // stop recovers a crashed standby and shuts it down cleanly
    probe_after_crash_and_stop("node-b", "shut down in recovery");
}

/// start_opts reach the server (pg_ctl start -o).
#[test]
fn start_passes_start_opts() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.agent("node-b", "start")
        .param(
            "start_opts",
            "-c work_mem=7MB -c application_name=from_start_opts",
        )
        .run()
        .expect_code(ocf::SUCCESS);
    assert_eq!(c.sql("node-b", "SHOW work_mem"), "7MB");
}

/// Notifications the agent does not act on, and reload, succeed whatever the state.
#[test]
fn other_notifications_and_reload_succeed() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    for (typ, op) in [
        ("pre", "start"),
        ("post", "start"),
        ("pre", "stop"),
        ("post", "stop"),
        ("post", "demote"),
        ("pre", "demote"),
        ("post", "promote"),
    ] {
        let mut n = NotifyEnv::new(typ, op);
        n.active = v(&["node-a"]);
        n.promoted = v(&["node-a"]);
        n.inactive = v(&["node-b"]);
        n.start = v(&["node-b"]);
        for node in ["node-a", "node-b"] {
            c.notify(node, &n).run().expect_code(ocf::SUCCESS);
        }
    }
    // Pacemaker ignores notify results: even without any notify variable (ocf-tester,
    // `crm_resource --force-...`), notify must answer 0 (PAF did)
    for node in ["node-a", "node-b"] {
        c.agent(node, "notify").run().expect_code(ocf::SUCCESS);
    }
    c.agent("node-a", "reload").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-a"));
    assert!(!c.is_running("node-b"));
}

/// Debian's layout: configuration in one directory (pgdata), data in another (datadir).
#[test]
fn separate_config_and_data_directories() {
    use std::fs;
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    let b = c.node("node-b").clone();
    let conf = b.dir.join("conf");
    fs::create_dir(&conf).unwrap();
    for f in [
        "postgresql.conf",
        "pg_hba.conf",
        "pg_ident.conf",
        "pgsqlms_node.conf",
    ] {
        fs::rename(b.pgdata.join(f), conf.join(f)).unwrap();
    }
    let pc = conf.join("postgresql.conf");
    let mut text = fs::read_to_string(&pc).unwrap();
    text.push_str(&format!("data_directory = '{}'\n", b.pgdata.display()));
    fs::write(&pc, text).unwrap();
    chown_postgres(&conf);
    for f in fs::read_dir(&conf).unwrap() {
        chown_postgres(&f.unwrap().path());
    }
    let agent = |action: &str| {
        c.agent("node-b", action)
            .param("pgdata", conf.to_str().unwrap())
            .param("datadir", b.pgdata.to_str().unwrap())
    };
    agent("validate-all").run().expect_code(ocf::SUCCESS);
    agent("monitor").run().expect_code(ocf::NOT_RUNNING);
    agent("start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-b"));
    c.wait_streaming("node-a", &["node-b"]);
    agent("monitor").run().expect_code(ocf::SUCCESS);

    // failover to it
    c.stop_pg("node-a", "fast");
    c.set_partition(&["node-b"]);
    let n = NotifyEnv::promotion(&["node-b"], "node-b");
    agent("notify")
        .notify_env(&n)
        .run()
        .expect_code(ocf::SUCCESS);
    agent("promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"));
    agent("monitor")
        .interval(PROMOTED_MONITOR_MS)
        .run()
        .expect_code(ocf::RUNNING_PROMOTED);
    agent("demote").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-b"));
    agent("stop").run().expect_code(ocf::SUCCESS);
    assert!(!c.is_running("node-b"));
    agent("monitor").run().expect_code(ocf::NOT_RUNNING);
}

/// Same for a crashed primary: once stop said it is stopped, a probe must not report a
/// (failed) promoted instance on this node, or Pacemaker counts a second primary. start
/// still refuses it until it is rebuilt.
#[test]
fn probe_after_stop_of_a_crashed_primary_reports_stopped() {
    // stop must leave the crashed primary's pg_control (and WAL) as they are
    let c = probe_after_crash_and_stop("node-a", "in production");
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["refusing to start", "Rebuild"]);
    assert!(!c.is_running("node-a"));
}

/// First-start rule, negative side: when some node of the partition already has a
/// promotion score >= 0, starting a cleanly stopped primary sets no score.
#[test]
fn first_start_rule_not_applied_when_a_score_exists() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    c.set_score("node-b", "1000");
    c.agent("node-a", "start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-a"));
    assert_eq!(c.score("node-a"), None, "{:?}", c.scores());
    assert_eq!(c.score_i("node-b"), Some(1000));
}

/// start_opts must never reach a shell (contract: "Nothing through a shell"; pg_ctl -o
/// would hand them to /bin/sh).
#[test]
fn start_opts_are_not_interpreted_by_a_shell() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    let marker = c.root.join("pwned");
    let opts = format!(
        "-c work_mem=7MB $(touch {}) `touch {}`",
        marker.display(),
        marker.display()
    );
    let r = c.agent("node-b", "start").param("start_opts", &opts).run();
    eprintln!("{}", r.describe());
    assert!(
        !marker.exists(),
        "start_opts went through a shell: {} was created",
        marker.display()
    );
    r.check_reason_lines();
}

/// A wrong pghost/pgport on a running instance: the monitor cannot reach it, and must say
/// so (not "stopped", not "healthy") within its timeout, pointing at the setting
/// (postmaster.pid tells the port and socket directory the instance really uses).
#[test]
fn monitor_with_a_wrong_pgport_points_at_the_setting() {
    let c = Cluster::new(1);
    let r = c
        .agent("node-b", "monitor")
        .param("pgport", "1")
        .timeout(10_000)
        .wait_secs(40)
        .run();
    assert!(
        ![ocf::SUCCESS, ocf::NOT_RUNNING, ocf::RUNNING_PROMOTED].contains(&r.code),
        "a running instance the agent cannot reach is neither healthy nor stopped\n{}",
        r.describe()
    );
    assert!(
        r.elapsed.as_secs_f64() < 10.0,
        "monitor used its whole 10 s timeout ({:?})",
        r.elapsed
    );
    r.check_reason_lines().expect_reason(&["pgport", "pghost"]);
}

/// After a full outage the standbys are started before any primary exists: start must
/// succeed once the standby accepts connections, without an upstream.
#[test]
fn start_standby_while_no_primary_runs() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    c.agent("node-b", "start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-b"));
    c.agent("node-b", "monitor").run().expect_code(ocf::SUCCESS);
}

/// The agent's advice for a crashed former primary is to rebuild it from the new primary
/// (pg_basebackup) and clean up. A fresh base backup has a backup_label and a pg_control
/// copied from a running primary ("in production"): the probe must say "not running"
/// (not "crashed primary") and start must bring it up as a standby of the new primary.
#[test]
fn rebuilt_former_primary_starts_as_a_standby() {
    let c = fail_over_from_crashed_node_a();
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC);

    // rebuild node-a from node-b
    std::fs::remove_dir_all(&c.node("node-a").pgdata).unwrap();
    c.basebackup("node-a", "node-b");
    std::fs::remove_file(c.node("node-a").pgdata.join("standby.signal")).unwrap();
    assert!(c.node("node-a").pgdata.join("backup_label").exists());
    rejoin_repaired_node_a(&c);
    assert_eq!(c.sql("node-a", "SELECT count(*) FROM t"), "10");
}

/// Same with pg_rewind, the other repair the agent suggests: pg_rewind leaves a
/// backup_label and a pg_control saying "in archive recovery" on a stopped instance.
#[test]
fn rewound_former_primary_starts_as_a_standby() {
    let c = fail_over_from_crashed_node_a();
    c.sql("node-b", "INSERT INTO t SELECT generate_series(11, 20)");

    // pg_rewind reads the source's timeline from its pg_control, updated by the first
    // checkpoint after the promotion
    c.sql("node-b", "CHECKPOINT");
    let a = c.node("node-a").clone();
    let b = c.node("node-b").clone();
    run_ok(
        c.as_postgres("pg_rewind")
            .arg("-D")
            .arg(&a.pgdata)
            .arg(format!(
                "--source-server=host={} port={} user=postgres dbname=postgres",
                b.sockdir.display(),
                b.port
            )),
        "pg_rewind",
    );
    // pg_rewind copied node-b's configuration files: give node-a its own back
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    rejoin_repaired_node_a(&c);
    c.wait_replayed("node-b", "node-a");
    assert_eq!(c.sql("node-a", "SELECT count(*) FROM t"), "20");
}
