//! start / stop of real PostgreSQL 15 instances through the agent.
mod common;
use common::*;

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
    let c = Cluster::new(1);
    c.kill9("node-b");
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    c.agent("node-b", "start").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-b"));
    c.wait_streaming("node-a", &["node-b"]);
    c.agent("node-b", "monitor").run().expect_code(ocf::SUCCESS);
}

/// After a successful stop, a probe must report the instance stopped (7); anything else
/// makes Pacemaker see the resource as failed/active on a node where it just stopped it.
#[test]
fn probe_after_stop_of_a_crashed_standby_reports_stopped() {
    let c = Cluster::new(1);
    c.kill9("node-b");
    c.agent("node-b", "stop").run().expect_code(ocf::SUCCESS);
    c.agent("node-b", "monitor")
        .interval(0)
        .run()
        .expect_code(ocf::NOT_RUNNING);
}
