//! A former primary rejoins: the divergence check at start and, with rejoin=rewind, the
//! rewind that saves and reports what it discards. Real PostgreSQL 15 instances.
mod common;
use common::*;
use std::fs;
use std::process::Command;

/// node-a (primary, table t) and its standby node-b; node-b is promoted while node-a keeps
/// running, then node-a commits `diverged` transactions node-b never gets. node-a's
/// walreceiver settings point at node-b, and Pacemaker shows node-b promoted.
fn promote_b_then_write_on_a(diverged: usize) -> Cluster {
    let c = Cluster::new(1);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY)");
    c.sql("node-a", "INSERT INTO t SELECT generate_series(1, 10)");
    c.wait_all_caught_up("node-a", &["node-b"]);
    run_ok(c.pg_ctl("node-b").args(["-w", "promote"]), "promote node-b");
    for i in 0..diverged {
        c.sql("node-a", &format!("INSERT INTO t VALUES ({})", 100 + i));
    }
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    c.set_locate(&[("node-a", false), ("node-b", true)]);
    c
}

/// node-a's rejoin_dir (the default one, beside its data directory).
fn rejoin_dir(c: &Cluster) -> std::path::PathBuf {
    rejoin_dir_of(c, "node-a")
}

fn rejoin_dir_of(c: &Cluster, node: &str) -> std::path::PathBuf {
    c.node(node).dir.join("data-rejoin")
}

fn reports(c: &Cluster) -> Vec<String> {
    reports_in(&rejoin_dir(c))
}

/// The rejoin reports kept in `dir`, sorted.
fn reports_in(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| fs::read_to_string(e.ok()?.path().join("report.txt")).ok())
        .collect();
    out.sort();
    out
}

/// Starts `node` with rejoin=rewind, which must succeed with one rewind: `node` streams
/// from `primary` and its one report counts `transactions` discarded.
fn start_rewound(c: &Cluster, node: &str, primary: &str, transactions: usize) {
    c.agent(node, "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming(primary, &[node]);
    let reports = reports_in(&rejoin_dir_of(c, node));
    assert_eq!(reports.len(), 1, "{reports:?}");
    let count = format!("transactions: {transactions}\n");
    assert!(reports[0].contains(&count), "{}", reports[0]);
}

/// What must not change when start refuses: pg_control and the WAL files.
fn datadir_fingerprint(c: &Cluster, node: &str) -> (String, Vec<(String, u64)>) {
    let control = run_ok(
        c.as_postgres("pg_controldata").arg(&c.node(node).pgdata),
        "pg_controldata",
    );
    let mut wal: Vec<(String, u64)> = fs::read_dir(c.node(node).pgdata.join("pg_wal"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    wal.sort();
    (control, wal)
}

#[test]
fn crashed_diverged_primary_is_rewound_reported_and_streams() {
    let c = promote_b_then_write_on_a(3);
    c.kill9("node-a");
    let node_conf = fs::read_to_string(c.node("node-a").node_conf()).unwrap();
    start_rewound(&c, "node-a", "node-b", 3);
    assert!(c.in_recovery("node-a"));
    assert_eq!(
        fs::read_to_string(c.node("node-a").node_conf()).unwrap(),
        node_conf,
        "pg_rewind copied node-b's settings over node-a's own"
    );
    assert!(reports(&c)[0].contains(".public.t\n"));
    c.sql("node-b", "INSERT INTO t VALUES (1000)");
    c.wait_replayed("node-b", "node-a");
    assert_eq!(c.sql("node-a", "SELECT count(*) FROM t"), "11");
}

/// A start of the crashed primary was cut short after it wrote standby.signal (the node
/// lost again, or the start stopped at its timeout): pg_control still says the instance
/// crashed as a primary. pg_rewind's single-user recovery refuses standby mode, so the
/// signal file must not reach it.
#[test]
fn a_crashed_primary_left_with_standby_signal_is_rewound() {
    let c = promote_b_then_write_on_a(3);
    c.kill9("node-a");
    let signal = c.node("node-a").pgdata.join("standby.signal");
    fs::write(&signal, "").unwrap();
    chown_postgres(&signal);
    start_rewound(&c, "node-a", "node-b", 3);
}

/// The divergence check reads the local WAL with pg_waldump, beside segments PostgreSQL
/// pre-allocated (zeros), as in fault 69 of the soak, where every start was refused with
/// "pg_waldump found no valid record".
#[test]
fn a_crashed_primary_with_preallocated_wal_segments_is_checked_and_rewound() {
    let c = promote_b_then_write_on_a(3);
    c.kill9("node-a");
    c.preallocate_wal_segments("node-a", 64);
    start_rewound(&c, "node-a", "node-b", 3);
}

#[test]
fn cleanly_stopped_diverged_primary_is_rewound_and_old_rejoins_pruned() {
    let c = promote_b_then_write_on_a(2);
    c.stop_pg("node-a", "fast");
    // Two rejoins saved before: rejoin_keep=2 keeps the newer and this one.
    let saved = rejoin_dir(&c);
    for old in ["rejoin-000000000001-tl1", "rejoin-000000000002-tl1"] {
        fs::create_dir_all(saved.join(old)).unwrap();
        fs::write(saved.join(old).join("report.txt"), "transactions: 9\n").unwrap();
        chown_postgres(&saved.join(old).join("report.txt"));
        chown_postgres(&saved.join(old));
    }
    chown_postgres(&saved);
    chmod(&saved, 0o700);
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .param("rejoin_keep", "2")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
    assert!(!saved.join("rejoin-000000000001-tl1").exists());
    assert!(saved.join("rejoin-000000000002-tl1").exists());
    fs::remove_dir_all(saved.join("rejoin-000000000002-tl1")).unwrap();
    let reports = reports(&c);
    assert_eq!(reports.len(), 1, "{reports:?}");
    // The two inserts, and the shutdown checkpoint, which is no transaction.
    assert!(reports[0].contains("transactions: 2\n"), "{}", reports[0]);
}

/// A standby cleanly stopped with WAL that the standby promoted after it never got (that
/// one was cut from the stream): started as it is, it would replay that WAL, then stop
/// streaming from the promoted one ("forked off ... before current recovery point"). With
/// rejoin=manual start refuses it and changes nothing; with rejoin=rewind it is rewound,
/// what it discards reported, and it streams.
#[test]
fn standby_ahead_of_the_promoted_one_is_refused_or_rewound() {
    let c = Cluster::new(2);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY)");
    c.sql("node-a", "INSERT INTO t SELECT generate_series(1, 10)");
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.set_upstream("node-c", Upstream::Nowhere);
    c.wait_not_streaming("node-a", "node-c");
    for i in 0..3 {
        c.sql("node-a", &format!("INSERT INTO t VALUES ({})", 100 + i));
    }
    c.wait_replayed("node-a", "node-b");
    c.stop_pg("node-b", "fast");
    c.kill9("node-a");
    run_ok(c.pg_ctl("node-c").args(["-w", "promote"]), "promote node-c");
    c.write_node_conf("node-b", Upstream::Node("node-c"));
    c.set_locate(&[("node-a", false), ("node-b", false), ("node-c", true)]);

    let before = datadir_fingerprint(&c, "node-b");
    c.agent("node-b", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["diverged"]);
    assert!(!c.is_running("node-b"));
    assert_eq!(datadir_fingerprint(&c, "node-b"), before);

    start_rewound(&c, "node-b", "node-c", 3);
    c.sql("node-c", "INSERT INTO t VALUES (1000)");
    c.wait_replayed("node-c", "node-b");
    assert_eq!(c.sql("node-b", "SELECT count(*) FROM t"), "11");
}

/// The shape of soak fault 69: a primary cleanly restarted as a standby (a cluster start-up),
/// promoted again, followed by its standby on that new timeline, powered off right after its
/// first writes; the standby promoted next. Powered on, it rejoins by a rewind.
#[test]
fn a_primary_promoted_at_a_start_up_and_lost_at_once_rejoins() {
    let c = Cluster::new(1);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY)");
    c.sql("node-a", "INSERT INTO t SELECT generate_series(1, 10)");
    c.wait_all_caught_up("node-a", &["node-b"]);
    c.stop_pg("node-b", "fast");
    c.stop_pg("node-a", "fast");
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    c.start_standby("node-a");
    c.stop_pg("node-a", "fast");
    c.start_standby("node-a");
    c.start_standby("node-b");
    run_ok(c.pg_ctl("node-a").args(["-w", "promote"]), "promote node-a");
    c.wait_streaming("node-a", &["node-b"]);
    c.sql("node-a", "INSERT INTO t VALUES (100)");
    c.wait_replayed("node-a", "node-b");
    c.kill9("node-a");
    run_ok(c.pg_ctl("node-b").args(["-w", "promote"]), "promote node-b");
    c.set_locate(&[("node-a", false), ("node-b", true)]);
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
}

/// A standby stopped on the promoted instance's timeline starts at once: nothing to check.
#[test]
fn standby_on_the_primarys_timeline_starts() {
    let c = Cluster::new(1);
    c.sql("node-a", "CREATE TABLE t (i int)");
    c.wait_all_caught_up("node-a", &["node-b"]);
    c.stop_pg("node-b", "fast");
    c.sql("node-a", "INSERT INTO t VALUES (1)");
    c.set_locate(&[("node-a", true), ("node-b", false)]);
    c.agent("node-b", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_replayed("node-a", "node-b");
    assert!(reports_in(&rejoin_dir_of(&c, "node-b")).is_empty());
}

#[test]
fn cleanly_demoted_primary_starts_without_rewind() {
    let c = Cluster::new(1);
    c.sql(
        "node-a",
        "CREATE TABLE t AS SELECT generate_series(1, 10) AS i",
    );
    c.stop_pg("node-a", "fast");
    // node-b received everything, the shutdown checkpoint included.
    run_ok(c.pg_ctl("node-b").args(["-w", "promote"]), "promote node-b");
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    c.set_locate(&[("node-a", false), ("node-b", true)]);
    let r = c.agent("node-a", "start").param("rejoin", "rewind").run();
    r.expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
    assert!(reports(&c).is_empty(), "no rewind, no report");
    assert!(!rejoin_dir(&c).exists());
}

#[test]
fn manual_refuses_a_diverged_primary_and_changes_nothing() {
    let c = promote_b_then_write_on_a(2);
    c.stop_pg("node-a", "fast");
    let before = datadir_fingerprint(&c, "node-a");
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["diverged from the primary", "rejoin=rewind"]);
    assert!(!c.is_running("node-a"));
    assert_eq!(datadir_fingerprint(&c, "node-a"), before);
}

#[test]
fn unreachable_primary_fails_start_and_leaves_the_datadir_untouched() {
    let c = promote_b_then_write_on_a(2);
    c.kill9("node-a");
    c.stop_pg("node-b", "fast");
    let before = datadir_fingerprint(&c, "node-a");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["cannot reach the primary"]);
    assert!(!c.is_running("node-a"));
    assert_eq!(datadir_fingerprint(&c, "node-a"), before);
    assert!(!rejoin_dir(&c).exists());
}

#[test]
fn rewind_without_wal_log_hints_is_refused_by_validate_all() {
    let c = Cluster::new(1);
    c.write_node_conf_with("node-a", Upstream::Node("node-a"), "wal_log_hints = off");
    c.agent("node-a", "validate-all")
        .run()
        .expect_code(ocf::SUCCESS);
    c.agent("node-a", "validate-all")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::ERR_ARGS)
        .expect_reason(&["wal_log_hints"]);
}

#[test]
fn a_failed_rewind_is_recorded_and_start_refuses_until_the_node_is_rebuilt() {
    let c = promote_b_then_write_on_a(1);
    c.kill9("node-a");
    // pg_rewind (as postgres) cannot write this file: it fails part-way.
    let hba = c.node("node-a").pgdata.join("pg_hba.conf");
    std::os::unix::fs::chown(&hba, Some(0), Some(0)).unwrap();
    chmod(&hba, 0o644);
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["pg_rewind failed"]);
    assert!(rejoin_dir(&c).join("needs-rebuild").exists());
    assert_eq!(reports(&c).len(), 1, "the report stays");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["needs a rebuild"]);
    assert!(!c.is_running("node-a"));
    // The administrator rebuilds it.
    fs::remove_dir_all(&c.node("node-a").pgdata).unwrap();
    c.basebackup("node-a", "node-b");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
    assert!(!rejoin_dir(&c).join("needs-rebuild").exists());
}

/// Pacemaker approved the in-place recovery of crashed node-a at pre-demote, then abandoned
/// it and promoted node-b, which node-a's WAL has diverged from. With rejoin=manual, start
/// must refuse it (before, it started as a standby that could never follow node-b).
#[test]
fn an_abandoned_in_place_recovery_does_not_start_a_diverged_primary() {
    let c = promote_b_then_write_on_a(2);
    c.kill9("node-a");
    let approval = NotifyEnv {
        active: v(&["node-a", "node-b"]),
        promoted: v(&["node-a"]),
        unpromoted: v(&["node-b"]),
        demote: v(&["node-a"]),
        stop: v(&["node-a"]),
        start: v(&["node-a"]),
        promote: v(&["node-a"]),
        ..NotifyEnv::new("pre", "demote")
    };
    c.notify("node-a", &approval)
        .run()
        .expect_code(ocf::SUCCESS);
    let before = datadir_fingerprint(&c, "node-a");
    c.agent("node-a", "start")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["diverged from the primary"]);
    assert!(!c.is_running("node-a"));
    assert_eq!(datadir_fingerprint(&c, "node-a"), before);
}

/// The grants the README gives a non-superuser rewind_user.
const README_GRANTS: &str = "
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO rewind;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO rewind;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO rewind;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO rewind;
GRANT pg_checkpoint TO rewind;
";

#[test]
fn a_rewind_user_without_rights_is_refused_and_nothing_changes() {
    let c = promote_b_then_write_on_a(1);
    c.sql("node-b", "CREATE ROLE rewind LOGIN");
    c.kill9("node-a");
    let before = datadir_fingerprint(&c, "node-a");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .param("rewind_user", "rewind")
        .run()
        .expect_code(ocf::ERR_GENERIC)
        .expect_reason(&["grant rewind_user the rights"]);
    assert!(!c.is_running("node-a"));
    assert_eq!(datadir_fingerprint(&c, "node-a"), before);
    assert!(!rejoin_dir(&c).exists());
}

#[test]
fn the_readme_grants_are_enough_for_a_non_superuser() {
    let c = promote_b_then_write_on_a(2);
    c.sql("node-b", "CREATE ROLE rewind LOGIN");
    c.sql("node-b", README_GRANTS);
    c.kill9("node-a");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .param("rewind_user", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
    let reports = reports(&c);
    assert!(reports[0].contains("transactions: 2\n"), "{}", reports[0]);
}

/// Where the former primary's connection to the new one gets its password.
enum Password {
    InConninfo,
    Passfile,
}

/// node-b, promoted, accepts node-a only over TLS on 127.0.0.1 with a password (the
/// walreceiver and the rewind alike); node-a's primary_conninfo says sslmode=require.
fn rewind_over_tls(password: Password) {
    const SECRET: &str = "Tls-rewind-secret-7f3a";
    let c = promote_b_then_write_on_a(2);
    let b = c.node("node-b").clone();
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(b.pgdata.join("server.key"))
            .arg("-out")
            .arg(b.pgdata.join("server.crt")),
        "openssl req",
    );
    for f in ["server.key", "server.crt"] {
        chown_postgres(&b.pgdata.join(f));
        chmod(&b.pgdata.join(f), 0o600);
    }
    let hba = b.pgdata.join("pg_hba.conf");
    let rules = "hostssl all postgres 127.0.0.1/32 scram-sha-256\n\
                 hostssl replication postgres 127.0.0.1/32 scram-sha-256\n\
                 hostnossl all all 127.0.0.1/32 reject\n\
                 hostnossl replication all 127.0.0.1/32 reject\n";
    fs::write(
        &hba,
        format!("{rules}{}", fs::read_to_string(&hba).unwrap()),
    )
    .unwrap();
    c.sql(
        "node-b",
        &format!("ALTER ROLE postgres PASSWORD '{SECRET}'"),
    );
    c.sql("node-b", "ALTER SYSTEM SET ssl = on");
    c.sql("node-b", "ALTER SYSTEM SET listen_addresses = '127.0.0.1'");
    c.stop_pg("node-b", "fast");
    c.start_pg("node-b");
    let a = c.node("node-a").clone();
    let credential = match password {
        Password::InConninfo => format!("password={SECRET}"),
        Password::Passfile => {
            let passfile = a.dir.join("pgpass");
            fs::write(
                &passfile,
                format!("127.0.0.1:{}:*:postgres:{SECRET}\n", b.port),
            )
            .unwrap();
            chown_postgres(&passfile);
            chmod(&passfile, 0o600);
            format!("passfile={}", passfile.display())
        }
    };
    let conf = format!(
        "port = {}\nunix_socket_directories = '{}'\nprimary_conninfo = 'host=127.0.0.1 port={} sslmode=require {credential} application_name=node-a'\n",
        a.port,
        a.sockdir.display(),
        b.port
    );
    fs::write(a.node_conf(), conf).unwrap();
    c.kill9("node-a");
    let r = c
        .agent("node-a", "start")
        .param("rejoin", "rewind")
        .env("HA_debug", "1")
        .run();
    r.expect_code(ocf::SUCCESS);
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "the password reached the agent's output:\n{}",
        r.describe()
    );
    assert!(c.in_recovery("node-a"));
    c.wait_streaming("node-b", &["node-a"]);
    assert_eq!(
        c.sql(
            "node-b",
            "SELECT ssl FROM pg_stat_replication JOIN pg_stat_ssl USING (pid) WHERE application_name = 'node-a'"
        ),
        "t"
    );
    let reports = reports(&c);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("transactions: 2\n"), "{}", reports[0]);
}

#[test]
fn a_primary_reached_over_tls_with_a_password_in_primary_conninfo_is_rewound_from() {
    rewind_over_tls(Password::InConninfo);
}

#[test]
fn a_primary_reached_over_tls_with_a_passfile_is_rewound_from() {
    rewind_over_tls(Password::Passfile);
}

/// The WAL pg_rewind needs from the former primary is only in its archive (archived, then
/// removed by checkpoints): it is fetched with the node's own restore_command, and the
/// report says which WAL it could not read.
#[test]
fn wal_only_in_the_archive_is_fetched_with_restore_command() {
    let c = Cluster::new(1);
    let a = c.node("node-a").clone();
    let archive = a.dir.join("archive");
    fs::create_dir(&archive).unwrap();
    chown_postgres(&archive);
    let wal_files = |n: &Node| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(n.pgdata.join("pg_wal"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.len() == 24)
            .collect();
        v.sort();
        v
    };
    for setting in [
        "archive_mode = on".to_string(),
        format!("archive_command = 'cp %p {}/%f'", archive.display()),
        format!("restore_command = 'cp {}/%f %p'", archive.display()),
        "wal_keep_size = 0".into(),
        "max_wal_size = '32MB'".into(),
        "min_wal_size = '32MB'".into(),
    ] {
        c.sql("node-a", &format!("ALTER SYSTEM SET {setting}"));
    }
    c.stop_pg("node-a", "fast");
    c.start_pg("node-a");
    c.wait_streaming("node-a", &["node-b"]);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY)");
    c.wait_all_caught_up("node-a", &["node-b"]);
    run_ok(c.pg_ctl("node-b").args(["-w", "promote"]), "promote node-b");
    c.sql("node-a", "INSERT INTO t VALUES (1), (2)");
    let forked_segment = c.sql("node-a", "SELECT pg_walfile_name(pg_current_wal_lsn())");
    // Archive and remove every segment up to the one holding the fork.
    for _ in 0..3 {
        c.sql("node-a", "INSERT INTO t SELECT max(i) + 1 FROM t");
        c.sql("node-a", "SELECT pg_switch_wal()");
        wait_for(30, "node-a's WAL archived", || {
            let ready = fs::read_dir(a.pgdata.join("pg_wal/archive_status"))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .any(|f| f.ends_with(".ready"));
            (!ready).then_some(())
        });
        c.sql("node-a", "CHECKPOINT");
    }
    assert!(
        !wal_files(&a).contains(&forked_segment),
        "{forked_segment} still in pg_wal: {:?}",
        wal_files(&a)
    );
    assert!(archive.join(&forked_segment).exists());
    c.write_node_conf("node-a", Upstream::Node("node-b"));
    c.set_locate(&[("node-a", false), ("node-b", true)]);
    c.kill9("node-a");
    c.agent("node-a", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-b", &["node-a"]);
    let reports = reports(&c);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("\nincomplete: the WAL from "),
        "{}",
        reports[0]
    );
}

/// node-b and node-c, standbys of the same stopped primary, both promote themselves (to the
/// same timeline, from the same point); node-b commits, then crashes before the checkpoint
/// that ends its promotion. Its history on paper is node-c's: only its WAL differs. Started
/// against node-c it must be refused (pg_rewind cannot undo it), never started as a standby
/// that cannot follow; with rejoin=rewind what it committed is reported first.
#[test]
fn a_twin_promotion_to_the_primarys_timeline_is_refused_and_reported() {
    twin_promotion(false);
}

/// The same with node-b's promotion checkpoint done: its pg_control is on the primary's
/// timeline, with the same history (the switchover's target lost at once, the old primary
/// promoted back from where it shut down).
#[test]
fn a_checkpointed_twin_promotion_is_refused_too() {
    twin_promotion(true);
}

fn twin_promotion(checkpointed: bool) {
    let c = Cluster::new(2);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY, pad text)");
    // many dirty pages on the standbys: the checkpoint after node-b's promotion is slow
    c.sql(
        "node-a",
        "INSERT INTO t SELECT i, repeat('x', 500) FROM generate_series(1, 30000) i",
    );
    c.stop_pg("node-a", "fast");
    for n in ["node-b", "node-c"] {
        run_ok(c.pg_ctl(n).args(["-w", "promote"]), "promote");
    }
    c.sql("node-b", "INSERT INTO t VALUES (0, 'only on node-b')");
    if checkpointed {
        c.sql("node-b", "CHECKPOINT");
    }
    c.kill9("node-b");
    assert_eq!(
        c.controldata_field("node-b", "Latest checkpoint's TimeLineID"),
        if checkpointed { "2" } else { "1" },
        "node-b's checkpoint timeline: the case is not made"
    );
    assert_eq!(
        c.sql(
            "node-c",
            "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"
        ),
        "00000002"
    );
    c.write_node_conf("node-b", Upstream::Node("node-c"));
    c.set_locate(&[("node-b", false), ("node-c", true)]);
    let rejoin_dir = rejoin_dir_of(&c, "node-b");
    for rejoin in ["manual", "rewind"] {
        c.agent("node-b", "start")
            .param("rejoin", rejoin)
            .run()
            .expect_code(ocf::ERR_GENERIC)
            .expect_reason(&["promoted itself to the primary's timeline", "rebuild"]);
        assert!(!c.is_running("node-b"), "{rejoin}");
    }
    let report = reports_in(&rejoin_dir)
        .pop()
        .expect("a report with rejoin=rewind");
    assert!(report.contains("transactions: 1\n"), "{report}");
    assert!(report.contains("timeline: 2\n"), "{report}");
}

/// The twin promotion above, made through the agent: node-b's promote claims timeline 2 on
/// every node, so node-c's promote, which never received node-b's history file, reserves
/// that number and takes timeline 3. node-b, lost right after its promotion, then rejoins
/// node-c by a rewind that reports what it committed, instead of being refused.
#[test]
fn a_promotion_skips_the_timeline_a_lost_promotee_claimed_so_it_can_rejoin() {
    let c = Cluster::new(2);
    c.sql("node-a", "CREATE TABLE t (i int PRIMARY KEY)");
    c.sql("node-a", "INSERT INTO t SELECT generate_series(1, 10)");
    c.wait_all_caught_up("node-a", &["node-b", "node-c"]);
    c.stop_pg("node-a", "fast");
    c.agent("node-b", "promote").run().expect_code(ocf::SUCCESS);
    c.sql("node-b", "INSERT INTO t VALUES (100)");
    c.kill9("node-b");
    c.agent("node-c", "promote").run().expect_code(ocf::SUCCESS);
    let timeline = "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)";
    assert_eq!(c.sql("node-c", timeline), "00000003");
    let placeholder =
        fs::read_to_string(c.node("node-c").pgdata.join("pg_wal/00000002.history")).unwrap();
    assert!(
        placeholder.contains("timeline 2 was claimed by another node's promotion"),
        "{placeholder}"
    );
    c.sql("node-c", "INSERT INTO t VALUES (200)");
    c.write_node_conf("node-b", Upstream::Node("node-c"));
    c.set_locate(&[("node-a", false), ("node-b", false), ("node-c", true)]);
    c.agent("node-b", "start")
        .param("rejoin", "rewind")
        .run()
        .expect_code(ocf::SUCCESS);
    c.wait_streaming("node-c", &["node-b"]);
    c.wait_replayed("node-c", "node-b");
    assert_eq!(
        c.sql(
            "node-b",
            "SELECT string_agg(i::text, ',' ORDER BY i) FROM t WHERE i > 10"
        ),
        "200"
    );
    let reports = reports_in(&rejoin_dir_of(&c, "node-b"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("transactions: 1\n"), "{}", reports[0]);
}
