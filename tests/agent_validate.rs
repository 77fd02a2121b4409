//! validate-all with good and bad settings, meta-data, methods, unknown actions.
//!
//! Exit codes follow docs/agent-contract.md: a setting that is wrong on every node (the
//! clone's meta attributes, a malformed parameter) is 6 ERR_CONFIGURED; something wrong on
//! this node only is 5 ERR_INSTALLED or 2 ERR_ARGS, so Pacemaker bans the node instead of the
//! whole resource (both are hard errors on that node only). Between those two the choice is
//! a judgement call; these tests pin the agent's choice:
//! * 5 ERR_INSTALLED: something to install or create on this node (PostgreSQL binaries,
//!   the system user, the pgdata directory); PAF said 2 for these;
//! * 2 ERR_ARGS: this node's PostgreSQL configuration is wrong (recovery_template present,
//!   primary_conninfo without this node's application_name, recovery_target_timeline not
//!   latest, wal_level minimal), as PAF did.
mod common;
use common::*;
use std::fs;
use std::process::Command;

const PARAMETERS: [&str; 11] = [
    "system_user",
    "bindir",
    "pgdata",
    "datadir",
    "pghost",
    "pgport",
    "recovery_template",
    "maxlag",
    "start_opts",
    "sync_mode",
    "sync_count",
];
/// Missing on this node: binaries, user, pgdata.
const MISSING: [i32; 1] = [ocf::ERR_INSTALLED];
/// This node's PostgreSQL configuration is wrong.
const LOCAL_CONF: [i32; 1] = [ocf::ERR_ARGS];
/// The actions `methods` must list; meta-data lists them too, along with a few more.
const METHODS: [&str; 8] = [
    "start",
    "stop",
    "monitor",
    "promote",
    "demote",
    "notify",
    "meta-data",
    "validate-all",
];

#[test]
fn validate_all_accepts_a_good_setup() {
    let c = Cluster::new(1);
    c.agent("node-a", "validate-all")
        .run()
        .expect_code(ocf::SUCCESS);
    c.agent("node-b", "validate-all")
        .run()
        .expect_code(ocf::SUCCESS);
    c.stop_pg("node-b", "fast");
    c.agent("node-b", "validate-all")
        .run()
        .expect_code(ocf::SUCCESS);
    // pcs runs validate-all without the clone's meta attributes: not an error
    c.agent("node-b", "validate-all")
        .unset("OCF_RESKEY_CRM_meta_notify")
        .unset("OCF_RESKEY_CRM_meta_promoted_max")
        .unset("OCF_RESKEY_CRM_meta_clone_node_max")
        .run()
        .expect_code(ocf::SUCCESS);
}

#[test]
fn validate_all_refuses_bad_cluster_wide_settings() {
    let c = Cluster::new(1);
    let cases: [(&str, &str, &[&str]); 9] = [
        ("OCF_RESKEY_sync_count", "0", &["sync_count"]),
        ("OCF_RESKEY_sync_count", "-2", &["sync_count"]),
        ("OCF_RESKEY_sync_count", "many", &["sync_count"]),
        ("OCF_RESKEY_sync_mode", "always", &["sync_mode"]),
        ("OCF_RESKEY_CRM_meta_notify", "false", &["notify"]),
        (
            "OCF_RESKEY_CRM_meta_promoted_max",
            "2",
            &["promoted-max", "promoted_max"],
        ),
        (
            "OCF_RESKEY_CRM_meta_clone_node_max",
            "2",
            &["clone-node-max", "clone_node_max"],
        ),
        ("OCF_RESKEY_maxlag", "abc", &["maxlag"]),
        ("OCF_RESKEY_pgport", "notaport", &["pgport"]),
    ];
    for (k, val, words) in cases {
        eprintln!("--- {k}={val}");
        c.agent("node-b", "validate-all")
            .env(k, val)
            .run()
            .expect_code(ocf::ERR_CONFIGURED)
            .expect_reason(words);
    }
    // the legacy name of promoted-max, alone
    c.agent("node-b", "validate-all")
        .unset("OCF_RESKEY_CRM_meta_promoted_max")
        .env("OCF_RESKEY_CRM_meta_master_max", "2")
        .run()
        .expect_code(ocf::ERR_CONFIGURED)
        .expect_reason(&["promoted-max", "promoted_max", "master-max", "master_max"]);
}

#[test]
fn validate_all_refuses_missing_things_on_this_node() {
    let c = Cluster::new(1);
    let missing = c.root.join("no-such-pgdata");
    // the exit reason names the parameter or its value
    for (param, val) in [
        ("bindir", "/nonexistent/bin"),
        ("system_user", "no_such_user_pgsqlms"),
        ("pgdata", missing.to_str().unwrap()),
    ] {
        eprintln!("--- {param}={val}");
        c.agent("node-b", "validate-all")
            .param(param, val)
            .run()
            .expect_one_of(&MISSING)
            .expect_reason(&[param, val]);
    }
}

#[test]
fn validate_all_refuses_an_existing_recovery_template() {
    let c = Cluster::new(1);
    let tpl = c.node("node-b").pgdata.join("recovery.conf.pcmk");
    fs::write(&tpl, "standby_mode = on\n").unwrap();
    c.agent("node-b", "validate-all")
        .run()
        .expect_one_of(&LOCAL_CONF)
        .expect_reason(&["recovery_template", "recovery.conf.pcmk"]);
    // an explicit template path too
    let other = c.root.join("template.conf");
    fs::write(&other, "").unwrap();
    fs::remove_file(&tpl).unwrap();
    c.agent("node-b", "validate-all")
        .param("recovery_template", other.to_str().unwrap())
        .run()
        .expect_one_of(&LOCAL_CONF)
        .expect_reason(&["recovery_template", "template.conf"]);
    c.agent("node-b", "validate-all")
        .run()
        .expect_code(ocf::SUCCESS);
}

#[test]
fn validate_all_checks_primary_conninfo_application_name() {
    let c = Cluster::new(1);
    let a = c.node("node-a");
    // (case, what follows host and port in node-b's primary_conninfo, accepted?)
    let cases = [
        ("no application_name at all", "", false),
        ("another node's name", " application_name=node-c", false),
        (
            "a name that merely starts with the node name (PAF's unanchored regex accepted it)",
            " application_name=node-b2",
            false,
        ),
        (
            "quoted value is fine (PAF PR #182)",
            " application_name=''node-b''",
            true,
        ),
    ];
    for (case, options, accepted) in cases {
        let extra = format!(
            "primary_conninfo = 'host={} port={}{options}'",
            a.sockdir.display(),
            a.port
        );
        eprintln!("--- {case}: {extra}");
        c.write_node_conf_with("node-b", Upstream::Node("node-a"), &extra);
        let r = c.agent("node-b", "validate-all").run();
        if accepted {
            r.expect_code(ocf::SUCCESS);
        } else {
            r.expect_one_of(&LOCAL_CONF)
                .expect_reason(&["application_name"]);
        }
    }
}

#[test]
fn validate_all_checks_recovery_target_timeline() {
    let c = Cluster::new(1);
    c.write_node_conf_with(
        "node-b",
        Upstream::Node("node-a"),
        "recovery_target_timeline = 'current'",
    );
    c.agent("node-b", "validate-all")
        .run()
        .expect_one_of(&LOCAL_CONF)
        .expect_reason(&["recovery_target_timeline"]);
}

#[test]
fn validate_all_refuses_sync_mode_with_commits_that_never_wait() {
    let c = Cluster::new(1);
    for mode in ["on", "strict"] {
        for commit in ["off", "local"] {
            eprintln!("--- sync_mode={mode} synchronous_commit={commit}");
            c.write_node_conf_with(
                "node-b",
                Upstream::Node("node-a"),
                &format!("synchronous_commit = {commit}"),
            );
            c.agent("node-b", "validate-all")
                .param("sync_mode", mode)
                .run()
                .expect_one_of(&LOCAL_CONF)
                .expect_reason(&["synchronous_commit", commit]);
            // the administrator's own business while the agent does not manage it
            c.agent("node-b", "validate-all")
                .run()
                .expect_code(ocf::SUCCESS);
        }
    }
    c.write_node_conf_with(
        "node-b",
        Upstream::Node("node-a"),
        "synchronous_commit = remote_write",
    );
    c.agent("node-b", "validate-all")
        .param("sync_mode", "on")
        .run()
        .expect_code(ocf::SUCCESS);
}

#[test]
fn unknown_action_is_unimplemented() {
    // on a node without pgdata, and on a running instance
    for c in [Cluster::empty(1), Cluster::new(0)] {
        for action in ["frobnicate", "status", "migrate_to"] {
            c.agent("node-a", action)
                .run()
                .expect_code(ocf::ERR_UNIMPLEMENTED);
        }
    }
}

#[test]
fn meta_data_is_valid_xml_with_every_parameter() {
    // meta-data needs no environment at all (no pgdata on this node)
    let c = Cluster::empty(1);
    let r = c
        .agent("node-a", "meta-data")
        .unset("OCF_RESKEY_pgdata")
        .run();
    r.expect_code(ocf::SUCCESS);
    let doc = roxmltree::Document::parse_with_options(
        &r.stdout,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("meta-data is not XML: {e}\n{}", r.stdout));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "resource-agent");
    assert_eq!(root.attribute("name"), Some("pgsqlms"));
    let params: Vec<&str> = root
        .descendants()
        .filter(|n| n.has_tag_name("parameter"))
        .map(|n| n.attribute("name").unwrap_or(""))
        .collect();
    for p in PARAMETERS {
        assert!(
            params.contains(&p),
            "parameter {p} missing from meta-data: {params:?}"
        );
    }
    for p in root.descendants().filter(|n| n.has_tag_name("parameter")) {
        let name = p.attribute("name").unwrap();
        assert!(
            p.children().any(|n| n.has_tag_name("shortdesc")),
            "{name}: no shortdesc"
        );
        assert!(
            p.children().any(|n| n.has_tag_name("longdesc")),
            "{name}: no longdesc"
        );
        assert!(
            p.children().any(|n| n.has_tag_name("content")),
            "{name}: no content"
        );
    }
    let actions: Vec<&str> = root
        .descendants()
        .filter(|n| n.has_tag_name("action"))
        .map(|n| n.attribute("name").unwrap_or(""))
        .collect();
    for a in METHODS.into_iter().chain(["reload", "methods"]) {
        assert!(
            actions.contains(&a),
            "action {a} missing from meta-data: {actions:?}"
        );
    }
    // the DTD check ocf-tester does
    let dtd = std::path::Path::new("/usr/share/resource-agents/ra-api-1.dtd");
    if dtd.exists() {
        let mut child = Command::new("xmllint")
            .args(["--noout", "--valid", "-"])
            .current_dir("/usr/share/resource-agents")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("xmllint (libxml2-utils)");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(r.stdout.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "meta-data does not validate against ra-api-1.dtd:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn methods_lists_the_actions() {
    let c = Cluster::empty(1);
    let r = c.agent("node-a", "methods").run();
    r.expect_code(ocf::SUCCESS);
    for a in METHODS {
        assert!(
            r.stdout.lines().any(|l| l.trim() == a),
            "methods does not list {a}:\n{}",
            r.stdout
        );
    }
}

/// An instance that ran with wal_level=minimal cannot feed standbys: validate-all says so.
#[test]
fn validate_all_checks_wal_level() {
    let c = Cluster::new(0);
    c.stop_pg("node-a", "fast");
    c.write_node_conf_with(
        "node-a",
        Upstream::Node("node-a"),
        "wal_level = minimal\nmax_wal_senders = 0",
    );
    c.start_pg("node-a");
    c.stop_pg("node-a", "fast");
    assert_eq!(
        c.controldata_field("node-a", "wal_level setting"),
        "minimal"
    );
    c.agent("node-a", "validate-all")
        .run()
        .expect_one_of(&LOCAL_CONF)
        .expect_reason(&["wal_level"]);
}

#[test]
fn help_and_version() {
    use assert_cmd::prelude::*;
    for arg in ["--help", "--version"] {
        let o = Command::cargo_bin("pgsqlms")
            .unwrap()
            .arg(arg)
            .env_clear()
            .output()
            .unwrap();
        assert!(o.status.success(), "pgsqlms {arg}: {o:?}");
        assert!(!o.stdout.is_empty(), "pgsqlms {arg} printed nothing");
    }
    let o = Command::cargo_bin("pgsqlms")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}
