//! promote (with the pre-promote notify round), demote, switchover and the election.
mod common;
use common::*;

const STANDBYS: [&str; 2] = ["node-b", "node-c"];
const ALL: [&str; 3] = ["node-a", "node-b", "node-c"];

fn insert_rows(c: &Cluster, node: &str, n: u32) {
    c.sql(node, "CREATE TABLE IF NOT EXISTS t(i int)");
    c.sql(
        node,
        &format!("INSERT INTO t SELECT generate_series(1, {n})"),
    );
}

fn count(c: &Cluster, node: &str) -> i64 {
    c.sql(node, "SELECT count(*) FROM t").parse().unwrap()
}

/// Primary node-a with the standbys node-b and node-c, `rows` rows written on node-a and
/// every standby caught up.
fn cluster_with_rows(rows: u32) -> Cluster {
    let c = Cluster::new(2);
    insert_rows(&c, "node-a", rows);
    c.wait_all_caught_up("node-a", &STANDBYS);
    c
}

/// `lagging` loses its upstream (its walreceiver cannot connect any more), then 100 more
/// rows are written on node-a and replayed by `ahead`.
fn leave_behind(c: &Cluster, lagging: &str, ahead: &str) {
    c.set_upstream(lagging, Upstream::Nowhere);
    c.wait_not_streaming("node-a", lagging);
    insert_rows(c, "node-a", 100);
    c.wait_replayed("node-a", ahead);
}

/// Failover where node-c lags: 100 rows everywhere, 100 more on node-b only, then node-a
/// is killed and leaves the partition.
fn failover_with_node_c_behind() -> Cluster {
    let c = cluster_with_rows(100);
    leave_behind(&c, "node-c", "node-b");
    c.kill9("node-a");
    c.set_partition(&STANDBYS);
    c
}

/// Switchover `old` -> `new` among `nodes` (the old primary and its standbys; the notify
/// rounds run on them in this order), as Pacemaker drives it: `old`'s primary_conninfo is
/// pointed at `new` (as with a VIP), `old` is demoted, the pre-promote round, `new` is
/// promoted, the post-promote round.
fn switch_over(c: &Cluster, nodes: &[&str], old: &str, new: &str) {
    let standbys: Vec<&str> = nodes.iter().copied().filter(|&n| n != old).collect();
    c.set_upstream(old, Upstream::Node(new));
    c.agent(old, "demote").run().expect_code(ocf::SUCCESS);
    assert!(c.in_recovery(old), "demote must turn {old} into a standby");
    let n = NotifyEnv::switchover(old, &standbys, new);
    c.pre_promote_round(nodes, &n);
    c.agent(new, "promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery(new), "{new} must be a primary after promote");
    c.post_promote_round(nodes, &n);
}

/// The notify lists of a transition that demotes and stops the crashed primary node-a,
/// starts the nodes of `start` and promotes `promotee`.
fn crashed_node_a_transition(start: &[&str], promotee: &str) -> NotifyEnv {
    NotifyEnv {
        active: v(&ALL),
        promoted: v(&["node-a"]),
        unpromoted: v(&STANDBYS),
        demote: v(&["node-a"]),
        stop: v(&["node-a"]),
        start: v(start),
        promote: v(&[promotee]),
        ..NotifyEnv::new("pre", "demote")
    }
}

/// `<timeline>#<lsn as decimal>` as published by pre-promote.
fn lsn_location(c: &Cluster, node: &str) -> (u32, u64) {
    let v = c
        .private_attr(node, "lsn_location")
        .unwrap_or_else(|| panic!("{node} published no lsn_location; calls: {:#?}", c.calls()));
    let (tl, l) = v
        .trim()
        .split_once('#')
        .unwrap_or_else(|| panic!("lsn_location of {node}: {v:?}"));
    (
        tl.parse().unwrap_or_else(|_| panic!("{v:?}")),
        l.parse().unwrap_or_else(|_| panic!("{v:?}")),
    )
}

/// Failover: the primary is gone, Pacemaker promotes node-b. master_/slave_ variables.
#[test]
fn promote_after_pre_promote_round() {
    let c = cluster_with_rows(1000);
    c.stop_pg("node-a", "fast");
    c.set_partition(&STANDBYS);

    let n = NotifyEnv::promotion(&STANDBYS, "node-b");
    c.pre_promote_round(&STANDBYS, &n);
    for s in STANDBYS {
        let (tl, l) = lsn_location(&c, s);
        assert_eq!(tl, 1, "{s} timeline");
        assert!(l > 0, "{s} lsn");
    }
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    assert!(
        !c.in_recovery("node-b"),
        "node-b must be a primary after promote"
    );
    assert!(c.private_attr("node-b", "nodes").is_some());
    c.set_private_attr("node-c", "cancel_switchover", "stale");
    c.post_promote_round(&STANDBYS, &n);
    for s in STANDBYS {
        for attr in ["lsn_location", "nodes", "cancel_switchover"] {
            assert_eq!(
                c.private_attr(s, attr),
                None,
                "post-promote must clear {attr} of {s}"
            );
        }
    }
    c.expect_running_promoted("node-b");
    c.assert_scores(&[("node-b", 1001)], "");
    c.agent("node-c", "monitor").run().expect_code(ocf::SUCCESS);

    // the remaining standby can follow the new primary, with every row
    c.set_upstream("node-c", Upstream::Node("node-b"));
    c.wait_streaming("node-b", &["node-c"]);
    insert_rows(&c, "node-b", 1);
    c.wait_replayed("node-b", "node-c");
    assert_eq!(count(&c, "node-c"), 1001);
}

/// Failover after kill -9 of the primary, with promoted_/unpromoted_ variables only.
#[test]
fn promote_after_crash_with_promoted_vocabulary() {
    let c = cluster_with_rows(10);
    c.kill9("node-a");
    c.set_partition(&STANDBYS);
    let n = NotifyEnv::promotion(&STANDBYS, "node-c").vocab(Vocab::Promoted);
    c.pre_promote_round(&STANDBYS, &n);
    // equal positions: the promotee keeps the promotion
    assert_eq!(lsn_location(&c, "node-b"), lsn_location(&c, "node-c"));
    c.agent("node-c", "promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-c"));
    assert!(c.in_recovery("node-b"));
    c.expect_running_promoted("node-c");
}

#[test]
fn demote_turns_the_primary_into_a_standby() {
    let c = Cluster::new(1);
    insert_rows(&c, "node-a", 10);
    // as with a VIP, the old primary's primary_conninfo points at the future primary
    c.set_upstream("node-a", Upstream::Node("node-b"));
    c.agent("node-a", "demote").run().expect_code(ocf::SUCCESS);
    assert!(
        c.is_running("node-a"),
        "demote must leave a running standby"
    );
    assert!(
        c.in_recovery("node-a"),
        "demote must turn the primary into a standby"
    );
    assert_eq!(count(&c, "node-a"), 10);
    c.agent("node-a", "monitor").run().expect_code(ocf::SUCCESS);
    // demoting a standby is a no-op
    let pid = c.postmaster_pid("node-a");
    c.agent("node-a", "demote").run().expect_code(ocf::SUCCESS);
    assert_eq!(c.postmaster_pid("node-a"), pid);
}

/// A standby that runs but takes no connection, as one that cannot reach a consistent
/// state (its WAL source gone) does; a warm standby (hot_standby=off) stands in for it
/// here. Demote answers at once that there is nothing to demote and leaves it running:
/// waiting out its timeout for connections that may never come held another node's
/// promotion in the same transition for 108 s (soak fault 42, tests/cluster/SOAK.md).
/// Its monitor reports it. With a promotion asked (promote.signal), demote waits as
/// before, since the instance may yet become a primary.
#[test]
fn demote_answers_at_once_for_a_standby_that_takes_no_connection() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.write_node_conf_with("node-b", Upstream::Node("node-a"), "hot_standby = off");
    c.start_standby("node-b");
    let pid = c.postmaster_pid("node-b");
    c.agent("node-b", "demote")
        .timeout(60_000)
        .run()
        .expect_code(ocf::SUCCESS);
    assert_eq!(
        c.postmaster_pid("node-b"),
        pid,
        "demote must leave it running"
    );
    assert_eq!(c.cluster_state("node-b"), "in archive recovery");
    c.agent("node-b", "monitor")
        .timeout(3_000)
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["connections"]);

    let signal = c.node("node-b").pgdata.join("promote.signal");
    std::fs::write(&signal, "").unwrap();
    c.agent("node-b", "demote")
        .timeout(3_000)
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["connections"]);
    std::fs::remove_file(&signal).unwrap();
}

/// Switchover node-a -> node-b: demote, pre-promote everywhere, promote.
#[test]
fn switchover_passes() {
    let c = cluster_with_rows(100);
    switch_over(&c, &ALL, "node-a", "node-b");

    // The old primary follows the new one without rewind: it lost nothing.
    c.set_upstream("node-c", Upstream::Node("node-b"));
    c.wait_streaming("node-b", &["node-a", "node-c"]);
    insert_rows(&c, "node-b", 1);
    c.wait_replayed("node-b", "node-a");
    c.wait_replayed("node-b", "node-c");
    assert_eq!(count(&c, "node-a"), 101);
    assert_eq!(count(&c, "node-c"), 101);

    c.wait_all_caught_up("node-b", &["node-a", "node-c"]);
    c.expect_running_promoted("node-b");
    c.assert_scores(
        &[("node-b", 1001), ("node-a", 1000), ("node-c", 990)],
        "node-a: old primary, now best standby (tie, by name)",
    );
}

/// The switchover check reads the promotee's pg_wal with pg_waldump, which PostgreSQL may
/// have filled ahead with pre-allocated segments (zeros): they must not cancel it.
#[test]
fn switchover_passes_beside_preallocated_wal_segments() {
    let c = cluster_with_rows(10);
    c.preallocate_wal_segments("node-b", 64);
    switch_over(&c, &ALL, "node-a", "node-b");
    c.expect_running_promoted("node-b");
}

/// Switchover to a standby whose walreceiver was stopped before the old primary's clean
/// shutdown: it did not receive the shutdown checkpoint, so the promotion must be cancelled.
#[test]
fn switchover_cancelled_without_shutdown_checkpoint() {
    let c = cluster_with_rows(100);
    leave_behind(&c, "node-b", "node-c");

    c.set_upstream("node-a", Upstream::Node("node-b"));
    c.agent("node-a", "demote").run().expect_code(ocf::SUCCESS);

    // promoted_/unpromoted_ variables only: the switchover must be recognised with them too
    let n = NotifyEnv::switchover("node-a", &STANDBYS, "node-b").vocab(Vocab::Promoted);
    c.pre_promote_round(&ALL, &n);
    let r = c.agent("node-b", "promote").run();
    assert_ne!(
        r.code,
        0,
        "promote of a standby that missed the shutdown checkpoint must fail\n{}",
        r.describe()
    );
    r.expect_one_of(&[ocf::ERR_GENERIC])
        .expect_reason(&["checkpoint"]);
    assert!(c.in_recovery("node-b"), "node-b must still be a standby");
    assert!(c.in_recovery("node-a"));
}

/// Failover where Pacemaker picked the lagging standby: its promote hands over to the
/// standby that is ahead, and the next transition promotes that one.
#[test]
fn election_redirected_to_the_standby_ahead() {
    let c = failover_with_node_c_behind();

    let n = NotifyEnv::promotion(&STANDBYS, "node-c").vocab(Vocab::Both);
    c.pre_promote_round(&STANDBYS, &n);
    assert!(
        lsn_location(&c, "node-b") > lsn_location(&c, "node-c"),
        "precondition: node-b is ahead"
    );
    let r = c.agent("node-c", "promote").run();
    r.expect_code(ocf::ERR_GENERIC).expect_reason(&["node-b"]);
    assert!(
        c.in_recovery("node-c"),
        "the lagging standby must not be promoted"
    );
    // PAF's values: the loser drops to 1, the winner gets 1000
    c.assert_scores(&[("node-b", 1000), ("node-c", 1)], "winner high, loser low");

    // next transition: Pacemaker promotes node-b
    let n = NotifyEnv::promotion(&STANDBYS, "node-b").vocab(Vocab::Both);
    c.post_promote_round(&STANDBYS, &n);
    c.pre_promote_round(&STANDBYS, &n);
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"));
    assert_eq!(count(&c, "node-b"), 200);

    // both promote actions left a record, on every candidate's copy
    for node in STANDBYS {
        let copy = c.private_attr(node, "promotions").unwrap_or_default();
        let records = pgsqlms::logic::history::parse_all(&copy);
        let summary: Vec<(&str, &str, Option<&str>)> = records
            .iter()
            .map(|r| (r.promotee.as_str(), r.outcome.as_str(), r.winner.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                ("node-b", "promoted", Some("node-b")),
                ("node-c", "handed-over", Some("node-b"))
            ],
            "records on {node}: {copy:?}"
        );
        let took_part: Vec<&str> = records[1]
            .candidates
            .iter()
            .filter(|c| c.took_part)
            .map(|c| c.node.as_str())
            .collect();
        assert_eq!(took_part, ["node-c", "node-b"], "{copy:?}");
    }
}

/// PAF #225/#228 (behaviour doc 3.4): after a restart, before its walreceiver streams
/// anything, a standby's pg_last_wal_receive_lsn() is the start of the current WAL segment,
/// behind what it has replayed. It must not lose the election to a stale standby.
#[test]
fn election_uses_max_of_receive_and_replay_after_restart() {
    let c = Cluster::new(2);
    insert_rows(&c, "node-a", 10);
    c.sql("node-a", "SELECT pg_switch_wal()");
    insert_rows(&c, "node-a", 10);
    c.wait_all_caught_up("node-a", &STANDBYS);
    // node-c stops receiving; node-b gets more WAL in the same segment
    leave_behind(&c, "node-c", "node-b");
    c.kill9("node-a");
    c.set_partition(&STANDBYS);

    // restart node-b while the primary is gone
    c.stop_pg("node-b", "fast");
    c.start_pg("node-b");
    let b_recv = wait_for(30, "node-b to request streaming", || {
        let r = c.sql("node-b", "SELECT pg_last_wal_receive_lsn()");
        (!r.is_empty()).then_some(r)
    });
    let b_replay = c.sql("node-b", "SELECT pg_last_wal_replay_lsn()");
    let c_recv = c.sql("node-c", "SELECT pg_last_wal_receive_lsn()");
    let c_replay = c.sql("node-c", "SELECT pg_last_wal_replay_lsn()");
    eprintln!(
        "node-b receive {b_recv} replay {b_replay}; node-c receive {c_recv} replay {c_replay}"
    );
    assert!(
        lsn(&b_recv) < lsn(&c_recv) && lsn(&b_replay) > lsn(&c_recv) && lsn(&b_recv) % (16 << 20) == 0,
        "precondition of the scenario not met: node-b receive {b_recv} replay {b_replay}, node-c receive {c_recv}"
    );

    let n = NotifyEnv::promotion(&STANDBYS, "node-b");
    c.pre_promote_round(&STANDBYS, &n);
    let (_, b_pub) = lsn_location(&c, "node-b");
    assert!(
        b_pub >= lsn(&b_replay),
        "node-b published {b_pub}, less than its replay LSN {b_replay}"
    );
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"));
    assert_eq!(
        count(&c, "node-b"),
        120,
        "the promoted node has every committed row"
    );
}

/// Pacemaker recovers a crashed primary in place: demote, stop, start, promote on the same
/// node, with the notify rounds around each (behaviour doc 4.4). The crashed primary stays
/// down, untouched, until start replays its WAL as a standby (once); the node ends up
/// primary again with every committed row.
#[test]
fn crashed_primary_recovered_in_place() {
    let c = cluster_with_rows(500);
    c.kill9("node-a");
    c.promoted_monitor("node-a")
        .run()
        .expect_code(ocf::FAILED_PROMOTED);

    let n = crashed_node_a_transition(&["node-a"], "node-a");
    for op in ["demote", "stop", "start", "promote"] {
        c.notify_round("pre", op, &ALL, &n);
        if op == "start" {
            assert!(
                !c.is_running("node-a"),
                "nothing may run node-a before start"
            );
            assert_eq!(
                c.cluster_state("node-a"),
                "in production",
                "demote and stop must leave the crashed primary's WAL to start"
            );
        }
        c.agent("node-a", op).run().expect_code(ocf::SUCCESS);
        if op == "start" {
            assert!(
                c.in_recovery("node-a"),
                "start recovers node-a as a standby"
            );
        }
        c.notify_round("post", op, &ALL, &n);
    }
    assert!(!c.in_recovery("node-a"), "node-a must be primary again");
    assert_eq!(count(&c, "node-a"), 500);
    c.expect_running_promoted("node-a");
}

/// A candidate that never publishes its position (its pre-promote notify never ran) must
/// not make promote hang past the action's timeout (PAF waited forever, doc 10.3).
#[test]
fn promote_is_bounded_when_a_candidate_never_publishes() {
    let c = Cluster::new(2);
    c.wait_all_caught_up("node-a", &STANDBYS);
    c.stop_pg("node-a", "fast");
    c.set_partition(&STANDBYS);
    let n = NotifyEnv::promotion(&STANDBYS, "node-b");
    // only node-b gets its notification
    c.pre_promote_round(&["node-b"], &n);
    let r = c
        .agent("node-b", "promote")
        .timeout(10_000)
        .wait_secs(40)
        .run();
    eprintln!("promote without node-c's position: {}", r.describe());
    assert!(
        r.elapsed.as_secs_f64() < 11.5, // 10 s timeout, plus process start-up on a loaded CI machine
        "promote took {:?}, more than its 10 s timeout",
        r.elapsed
    );
    let copy = c.private_attr("node-b", "promotions").unwrap_or_default();
    let records = pgsqlms::logic::history::parse_all(&copy);
    assert_eq!(records.len(), 1, "{copy:?}");
    let missing = records[0].candidates.iter().find(|c| c.node == "node-c");
    if r.code != 0 {
        r.expect_code(ocf::ERR_GENERIC).expect_reason(&["node-c"]);
        assert!(c.in_recovery("node-b"));
        // the record says why nobody won, and who did not answer
        assert_eq!(records[0].outcome.as_str(), "cancelled", "{copy:?}");
        assert_eq!(records[0].winner, None, "{copy:?}");
        assert!(records[0].rule.contains("node-c"), "{copy:?}");
        assert_eq!(
            missing.and_then(|m| m.excluded.as_deref()),
            Some("no WAL position before the deadline"),
            "{copy:?}"
        );
    } else {
        assert!(!c.in_recovery("node-b"));
    }
}

/// Switchover a -> b, then back b -> a: the primary's monitor must give itself 1001 again,
/// even though its own earlier 1001 was overwritten by b's monitor in between (a cache of
/// "last written scores" must not hide that).
#[test]
fn switchback_primary_monitor_restores_its_own_score() {
    let c = Cluster::new(1);
    let ab = ["node-a", "node-b"];
    c.set_partition(&ab);
    c.wait_all_caught_up("node-a", &["node-b"]);
    c.expect_running_promoted("node-a");
    c.assert_scores(&[("node-a", 1001)], "");

    // a -> b, then b -> a: each time the new primary's monitor scores itself 1001 (the
    // second time, over the 1000 node-b's monitor gave node-a in between)
    for (old, new) in [("node-a", "node-b"), ("node-b", "node-a")] {
        switch_over(&c, &ab, old, new);
        c.wait_streaming(new, &[old]);
        c.wait_all_caught_up(new, &[old]);
        c.expect_running_promoted(new);
        c.assert_scores(
            &[(new, 1001), (old, 1000)],
            &format!("switchover {old} -> {new}: the primary's own score; the standby's"),
        );
    }
}

/// A candidate whose instance is down at pre-promote cannot be promoted and must not block
/// the promotion of the running one.
#[test]
fn promote_when_another_candidate_is_down() {
    let c = cluster_with_rows(10);
    c.stop_pg("node-c", "fast");
    c.stop_pg("node-a", "fast");
    c.set_partition(&STANDBYS);
    let n = NotifyEnv::promotion(&STANDBYS, "node-b");
    c.pre_promote_round(&STANDBYS, &n);
    c.set_score("node-c", "1000");
    c.agent("node-b", "promote")
        .timeout(20_000)
        .run()
        .expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"));
    // the primary's score at once, above the best standby's the former primary left
    assert_eq!(c.score_i("node-b"), Some(1001));
}

/// Pacemaker moves the primary away from a node where it crashed: pre-demote notify,
/// demote and stop of the crashed primary, then the promotion of a standby. The crashed
/// primary must stay down and untouched (it is to be rebuilt), and the failover must work.
#[test]
fn failover_away_from_a_crashed_primary() {
    let c = cluster_with_rows(50);
    c.kill9("node-a");
    let n = crashed_node_a_transition(&[], "node-b");
    let round = |typ: &str, op: &str, on: &[&str]| c.notify_round(typ, op, on, &n);
    round("pre", "demote", &ALL);
    let d = c.agent("node-a", "demote").run();
    d.expect_one_of(&[ocf::SUCCESS, ocf::ERR_GENERIC]);
    assert!(
        !c.is_running("node-a"),
        "demote must not start the crashed primary (it is not being recovered in place)"
    );
    round("post", "demote", &ALL);
    round("pre", "stop", &ALL);
    c.agent("node-a", "stop").run().expect_code(ocf::SUCCESS);
    round("post", "stop", &STANDBYS);
    assert!(!c.is_running("node-a"));
    assert_eq!(
        c.cluster_state("node-a"),
        "in production",
        "the crashed primary's data must be left as it was"
    );
    c.set_partition(&STANDBYS);
    round("pre", "promote", &STANDBYS);
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    round("post", "promote", &STANDBYS);
    assert!(!c.in_recovery("node-b"));
    assert_eq!(count(&c, "node-b"), 50);
    // and it still refuses to come back without a rebuild
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["crash"]);
}

/// The same failover with rejoin=rewind, in the transition Pacemaker runs when a node comes
/// back with a crashed primary whose demote it retries: the old primary is demoted, not
/// stopped, and a standby promoted, which reads like a switchover. Its demote leaves it
/// down and succeeds (a refusal would halt the transition), the promotion is a failover
/// (the crashed primary wrote no shutdown checkpoint to check for), and its stop and start
/// rejoin the new primary.
#[test]
fn with_rejoin_rewind_a_crashed_primary_is_demoted_down_and_a_standby_promoted() {
    let c = cluster_with_rows(50);
    c.kill9("node-a");
    let n = NotifyEnv::switchover("node-a", &STANDBYS, "node-b");
    let round = |typ: &str, op: &str, on: &[&str]| c.notify_round(typ, op, on, &n);
    round("pre", "demote", &ALL);
    c.agent("node-a", "demote")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    assert!(!c.is_running("node-a"));
    assert_eq!(c.cluster_state("node-a"), "in production");
    round("post", "demote", &ALL);
    round("pre", "promote", &ALL);
    c.agent("node-b", "promote")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    round("post", "promote", &ALL);
    assert!(!c.in_recovery("node-b"));
    assert_eq!(count(&c, "node-b"), 50);
    assert_eq!(c.private_attr("node-a", "demoted_crashed"), None);
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    c.set_locate(&[("node-a", false), ("node-b", true), ("node-c", false)]);
    for op in ["stop", "start"] {
        c.agent("node-a", op)
            .param("rejoin", "rewind")
            .run()
            .expect_code(ocf::SUCCESS);
    }
    c.wait_streaming("node-b", &["node-a"]);
}

/// A demote that finds a running primary is a switchover's: it clears the hint an earlier
/// crashed demote left, so the promotee checks for the shutdown checkpoint again.
#[test]
fn a_clean_demote_withdraws_the_crashed_demote_hint() {
    let c = cluster_with_rows(5);
    c.set_private_attr("node-a", "demoted_crashed", "1");
    c.agent("node-a", "demote").run().expect_code(ocf::SUCCESS);
    assert_eq!(c.private_attr("node-a", "demoted_crashed"), None);
}

/// An in-place recovery approved at pre-demote, then abandoned (the transition is aborted
/// and the next one moves the primary away): the later pre-demote withdraws the approval,
/// so start refuses the crashed primary again.
#[test]
fn abandoned_in_place_recovery_is_withdrawn() {
    let c = cluster_with_rows(20);
    c.kill9("node-a");
    c.notify_round(
        "pre",
        "demote",
        &ALL,
        &crashed_node_a_transition(&["node-a"], "node-a"),
    );
    c.notify_round(
        "pre",
        "demote",
        &ALL,
        &crashed_node_a_transition(&[], "node-b"),
    );
    c.agent("node-a", "demote")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["crash"]);
    c.agent("node-a", "stop").run().expect_code(ocf::SUCCESS);
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["crash"]);
    assert!(!c.is_running("node-a"));
    assert_eq!(c.cluster_state("node-a"), "in production");
}

/// The promote of the lagging node-c was handed over to node-b, then node-b dies before
/// its own promotion (no post-promote round ran). Pacemaker's next transition promotes
/// node-c, the only candidate left: the election must use this round's candidates and
/// positions, not the stale ones of the aborted round.
#[test]
fn election_retry_after_the_better_candidate_died() {
    let c = failover_with_node_c_behind();

    let n = NotifyEnv::promotion(&STANDBYS, "node-c");
    c.pre_promote_round(&STANDBYS, &n);
    c.agent("node-c", "promote")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["node-b"]);

    // node-b dies with its node; the new transition only has node-c
    c.kill9("node-b");
    c.set_partition(&["node-c"]);
    let n = NotifyEnv::promotion(&["node-c"], "node-c");
    c.pre_promote_round(&["node-c"], &n);
    c.agent("node-c", "promote")
        .timeout(20_000)
        .run()
        .expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-c"));
    assert_eq!(count(&c, "node-c"), 100);
}
