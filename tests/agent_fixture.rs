//! The test fixture itself (no agent involved): a primary and two streaming standbys, checked
//! with SQL only, plus the recording stand-ins for the Pacemaker tools.
mod common;
use common::*;
use std::process::Command;

#[test]
fn fixture_primary_and_two_streaming_standbys() {
    let c = Cluster::new(2);
    assert!(!c.in_recovery("node-a"));
    assert!(c.in_recovery("node-b"));
    assert!(c.in_recovery("node-c"));
    c.sql(
        "node-a",
        "CREATE TABLE t(i int); INSERT INTO t SELECT generate_series(1, 100)",
    );
    c.wait_replayed("node-a", "node-b");
    c.wait_replayed("node-a", "node-c");
    assert_eq!(c.sql("node-b", "SELECT count(*) FROM t"), "100");
    assert_eq!(c.sql("node-c", "SELECT count(*) FROM t"), "100");
    let apps = c.sql(
        "node-a",
        "SELECT string_agg(application_name, ',' ORDER BY 1) FROM pg_stat_replication",
    );
    assert_eq!(apps, "node-b,node-c");
    // every node has the settings validate-all wants
    for n in ["node-a", "node-b", "node-c"] {
        assert_eq!(c.sql(n, "SHOW recovery_target_timeline"), "latest");
        let ci = c.sql(n, "SHOW primary_conninfo");
        assert!(ci.contains(&format!("application_name={n}")), "{n}: {ci}");
        assert_eq!(c.sql(n, "SHOW listen_addresses"), "");
    }
    // kill -9 and the fixture's view of it
    let pid = c.postmaster_pid("node-c").unwrap();
    c.kill9("node-c");
    assert!(!pid_alive(pid));
    assert_eq!(c.cluster_state("node-c"), "in archive recovery");
    c.stop_pg("node-b", "fast");
    assert_eq!(c.cluster_state("node-b"), "shut down in recovery");
    assert_eq!(c.cluster_state("node-a"), "in production");
}

#[test]
fn fixture_standins_record_and_store() {
    let c = Cluster::empty(2);
    let run = |tool: &str, args: &[&str]| {
        let o = Command::new(c.bin.join(tool))
            .args(args)
            .env("PGSQLMS_TEST_ATTRS", &c.attrs)
            .env("OCF_RESKEY_CRM_meta_on_node", "node-a")
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    };
    // node-b's promotion score and the local node's private lsn_location, with the
    // arguments the agent uses before the operation
    const SCORE: [&str; 5] = [
        "--promotion=pgsqld",
        "--lifetime",
        "reboot",
        "--node",
        "node-b",
    ];
    const LSN_LOCATION: [&str; 5] = [
        "--private",
        "--lifetime",
        "reboot",
        "--name",
        "lsn_location-pgsqld",
    ];
    let score = |op: &[&str]| run("crm_attribute", &[&SCORE[..], op].concat());
    let lsn_location = |op: &[&str]| run("attrd_updater", &[&LSN_LOCATION[..], op].concat());
    let q = ["--query", "--quiet"];
    assert_eq!(score(&q).0, 105);
    assert_eq!(score(&["--update", "1000"]).0, 0);
    assert_eq!(score(&q), (0, "1000".to_string()));
    assert_eq!(c.score("node-b").as_deref(), Some("1000"));
    assert_eq!(score(&["--delete"]).0, 0);
    assert_eq!(score(&q).0, 105);

    let aq = [
        "--name",
        "lsn_location-pgsqld",
        "--query",
        "--node",
        "node-a",
    ];
    // Pacemaker 2.1.5's answers: unknown to attrd -> 78; known, without a value -> value=""
    assert_eq!(run("attrd_updater", &aq).0, 78);
    assert_eq!(lsn_location(&["--update", "1#42"]).0, 0);
    assert_eq!(
        run("attrd_updater", &aq),
        (
            0,
            r#"name="lsn_location-pgsqld" host="node-a" value="1#42""#.to_string()
        )
    );
    assert_eq!(
        c.private_attr("node-a", "lsn_location").as_deref(),
        Some("1#42")
    );
    let no_value = |node: &str| {
        (
            0,
            format!(r#"name="lsn_location-pgsqld" host="{node}" value="""#),
        )
    };
    let node_b_query = aq.map(|a| if a == "node-a" { "node-b" } else { a });
    assert_eq!(run("attrd_updater", &node_b_query), no_value("node-b"));
    assert_eq!(lsn_location(&["--delete"]).0, 0);
    assert_eq!(run("attrd_updater", &aq), no_value("node-a"));

    assert_eq!(run("crm_node", &["-n"]), (0, "node-a".to_string()));
    assert_eq!(run("crm_node", &["-p"]), (0, "node-a node-b".to_string()));
    // forms outside the contract are refused and logged
    assert_eq!(run("crm_node", &["--partition"]).0, 64);
    assert_eq!(
        run(
            "crm_attribute",
            &[
                "--promotion=pgsqld",
                "--node",
                "node-a",
                "--query",
                "--quiet"
            ]
        )
        .0,
        64
    );
    assert_eq!(
        run("attrd_updater", &["--name", "x", "--update", "1"]).0,
        64
    );
    let calls = c.calls();
    assert_eq!(
        calls.iter().filter(|l| l.contains("UNEXPECTED")).count(),
        3,
        "{calls:#?}"
    );
    assert!(
        calls[0].starts_with("node-a\tcrm_attribute --promotion=pgsqld"),
        "{calls:#?}"
    );
}
