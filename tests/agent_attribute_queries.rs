//! Attribute queries: only Pacemaker 2.1's "no value" answers mean absent. A query that fails
//! otherwise (attrd or the CIB unreachable) is an error, so promote never skips the election
//! and start never applies the first-start rule on a guess. The stand-ins fail on request
//! (PGSQLMS_TEST_ATTRD_QUERY_EXIT, PGSQLMS_TEST_CRM_ATTRIBUTE_QUERY_EXIT) with the exit code
//! real Pacemaker 2.1.5 gives when its daemon cannot be reached.
mod common;
use common::*;

const STANDBYS: [&str; 2] = ["node-b", "node-c"];
/// CRM_EX_DISCONNECT: what attrd_updater and crm_attribute exit with when their daemon is down.
const PACEMAKER_UNREACHABLE: &str = "102";

/// attrd unreachable during promote: the candidate list cannot be read, so promote fails with
/// a reason and the standby stays a standby. Once attrd answers again, the same promote reads
/// cancel_switchover as absent (attrd never knew it: exit 78) and wins the election.
#[test]
fn promote_fails_when_attrd_cannot_be_queried() {
    let c = Cluster::new(2);
    c.stop_pg("node-a", "fast");
    c.set_partition(&STANDBYS);
    let n = NotifyEnv::promotion(&STANDBYS, "node-b");
    c.pre_promote_round(&STANDBYS, &n);

    let r = c
        .agent("node-b", "promote")
        .env("PGSQLMS_TEST_ATTRD_QUERY_EXIT", PACEMAKER_UNREACHABLE)
        .run();
    r.expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["attrd_updater exit 102"]);
    assert!(
        r.stderr.contains("Could not connect to attrd"),
        "the log must carry attrd_updater's own message\n{}",
        r.describe()
    );
    assert!(
        c.in_recovery("node-b"),
        "promote must not promote without reading the election's attributes\n{}",
        r.describe()
    );

    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    assert!(!c.in_recovery("node-b"), "node-b must be a primary now");
}

/// The CIB unreachable during the start of a cleanly stopped primary: the partition's
/// promotion scores cannot be read, so the first-start score is not set (the instance still
/// starts, as a standby) and the log says why.
#[test]
fn start_sets_no_first_start_score_when_scores_cannot_be_read() {
    let c = Cluster::new(1);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    let r = c
        .agent("node-a", "start")
        .env(
            "PGSQLMS_TEST_CRM_ATTRIBUTE_QUERY_EXIT",
            PACEMAKER_UNREACHABLE,
        )
        .run();
    r.expect_code(ocf::SUCCESS);
    assert!(c.in_recovery("node-a"));
    assert_eq!(
        c.score("node-a"),
        None,
        "no first-start score on unread scores; scores: {:?}\n{}",
        c.scores(),
        r.describe()
    );
    assert!(
        r.stderr.contains("first-start promotion score not set")
            && r.stderr.contains("crm_attribute exit 102"),
        "the log must say why no first-start score was set\n{}",
        r.describe()
    );
}
