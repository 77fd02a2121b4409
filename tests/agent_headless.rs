//! Never headless (issue 9): a new primary leaves the scores of standbys it has not seen
//! yet alone for a grace period, and running standbys that find the cluster without a
//! primary and without a promotable node elect the most advanced of them.
mod common;
use common::*;

/// The monitor of a running standby (interval of the Unpromoted monitor), with `maxlag`.
fn standby_monitor(c: &Cluster, node: &str, maxlag: &str) {
    c.agent(node, "monitor")
        .interval(UNPROMOTED_MONITOR_MS)
        .param("maxlag", maxlag)
        .run()
        .expect_code(ocf::SUCCESS);
}

/// Public attribute `headless-pgsqld` of `node`: what it reports about a headless cluster.
fn status(c: &Cluster, node: &str) -> Option<String> {
    c.private_attr(node, "headless")
}

/// node-a (primary) stopped, node-b ahead of node-c: both standbys run, nothing is
/// promoted, and no node has a promotion score.
fn headless_with_node_b_ahead() -> Cluster {
    let c = Cluster::new(2);
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.set_upstream("node-c", Upstream::Nowhere);
    c.wait_not_streaming("node-a", "node-c");
    c.sql(
        "node-a",
        "CREATE TABLE t AS SELECT generate_series(1, 5000) AS i",
    );
    c.wait_replayed("node-a", "node-b");
    c.stop_pg("node-a", "fast");
    c.wait_no_walreceiver("node-b");
    c.set_locate(&[("node-b", false), ("node-c", false)]);
    c
}

#[test]
fn headless_standbys_elect_the_most_advanced_one() {
    let c = headless_with_node_b_ahead();
    c.clear_calls();
    // node-c comes first: it publishes its position and waits for node-b's
    standby_monitor(&c, "node-c", "0");
    assert!(c.private_attr("node-c", "headless_position").is_some());
    let s = status(&c, "node-c").expect("node-c reports the headless cluster");
    assert!(s.contains("waiting for node-b"), "{s}");
    assert_eq!(c.score("node-c"), None, "node-c must not take a score yet");
    // node-b is ahead: it takes the promotion
    standby_monitor(&c, "node-b", "0");
    c.assert_scores(&[("node-b", 1000)], "the most advanced standby");
    assert!(status(&c, "node-b")
        .unwrap()
        .contains("this node is the most advanced"));
    // node-c now sees a candidate and says so; it never takes a score
    standby_monitor(&c, "node-c", "0");
    assert_eq!(c.score("node-c"), None);
    let s = status(&c, "node-c").unwrap();
    assert!(s.contains("Pacemaker can promote node-b"), "{s}");
    assert!(
        !c.calls().iter().any(|l| l.contains("UNEXPECTED")),
        "{:#?}",
        c.calls()
    );
}

#[test]
fn no_recovery_while_a_primary_runs_or_a_node_is_promotable() {
    let c = headless_with_node_b_ahead();
    // Pacemaker still shows a promoted instance (node-b cannot stream: its primary
    // is down, but the cluster has not noticed yet)
    c.set_locate(&[("node-a", true), ("node-b", false), ("node-c", false)]);
    standby_monitor(&c, "node-b", "0");
    // a failover in progress: node-c has a score Pacemaker can act on
    c.set_locate(&[("node-b", false), ("node-c", false)]);
    c.set_score("node-c", "990");
    standby_monitor(&c, "node-b", "0");
    c.assert_scores(&[("node-c", 990)], "left to Pacemaker");
    assert_eq!(c.score("node-b"), None);
    assert_eq!(c.private_attr("node-b", "headless_position"), None);
    assert_eq!(status(&c, "node-b"), None, "nothing to report");
}

#[test]
fn maxlag_declines_a_standby_behind_the_last_primary_position_and_says_why() {
    let c = headless_with_node_b_ahead();
    let b = c.sql("node-b", "SELECT pg_last_wal_receive_lsn() - '0/0'");
    // the last primary recorded node-c beyond maxlag when it was 1 MB ahead of node-b
    let primary = b.parse::<u64>().unwrap() + 1_000_000;
    c.set_private_attr("node-c", "beyond_maxlag", &primary.to_string());
    // node-b is within maxlag of it (2 MB): promoted
    standby_monitor(&c, "node-c", "2000000");
    standby_monitor(&c, "node-b", "2000000");
    c.assert_scores(&[("node-b", 1000)], "node-b is within maxlag");
    assert_eq!(c.score("node-c"), None);

    // only node-c left, and more than maxlag behind: declined, with the reason shown,
    // and its monitor still succeeds
    std::fs::remove_file(c.attrs.join("promotion/pgsqld/node-b")).unwrap();
    c.set_locate(&[("node-c", false)]);
    standby_monitor(&c, "node-c", "100000");
    assert_eq!(
        c.score("node-c"),
        None,
        "a standby beyond maxlag is never promoted"
    );
    let s = status(&c, "node-c").expect("the reason is shown");
    assert!(
        s.contains("none promoted") && s.contains("maxlag=100000"),
        "{s}"
    );
}

#[test]
fn a_standby_streaming_again_withdraws_its_report() {
    let c = headless_with_node_b_ahead();
    standby_monitor(&c, "node-b", "0");
    assert!(status(&c, "node-b").is_some());
    c.start_pg("node-a");
    c.wait_streaming("node-a", &["node-b"]);
    c.clear_calls();
    standby_monitor(&c, "node-b", "0");
    assert_eq!(status(&c, "node-b"), None);
    assert_eq!(c.private_attr("node-b", "headless_position"), None);
    // and from then on the steady state asks nothing
    c.clear_calls();
    standby_monitor(&c, "node-b", "0");
    assert!(c.calls().is_empty(), "{:#?}", c.calls());
}

/// A new primary's first monitors run before the standbys reconnect: it must not mark
/// them "not connected" during the grace period, so that its loss leaves a candidate.
#[test]
fn a_new_primary_leaves_unseen_standbys_alone_during_the_connect_grace() {
    let c = Cluster::new(2);
    c.set_partition(&["node-a", "node-b", "node-c"]);
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.set_score("node-c", "990");
    c.stop_pg("node-a", "fast");
    c.set_partition(&["node-b", "node-c"]);
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    // node-c still follows node-a, which is gone
    c.expect_running_promoted("node-b");
    c.assert_scores(
        &[("node-b", 1001), ("node-c", 990)],
        "node-c keeps its score while it has a chance to connect",
    );
}
