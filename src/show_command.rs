//! `pgsqlms show` and `pgsqlms history`: commands for administrators and monitoring, not
//! OCF actions. They read what Pacemaker knows (crm_mon) and the attributes the agent
//! publishes through attrd (the primary's replication view, the promotion records), as
//! root or as a member of `haclient`; they connect to no PostgreSQL and write nothing.

use crate::agent::statefile::unix_now;
use crate::logic::crm_mon::{self, PacemakerView, Role};
use crate::logic::history::{self, PROMOTIONS};
use crate::logic::replication_view::{PublishedView, REPLICATION_VIEW};
use crate::logic::show::{self, Inputs, Status, REPLAY_PAUSED, STALE_AFTER_SECS};
use crate::ocf::deadline::Deadline;
use crate::pacemaker::attributes::Attributes;
use crate::pacemaker::Pacemaker;
use crate::system::command::{run, Output};
use clap::{Parser, ValueEnum};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// Whole budget of one command: Pacemaker's tools answer in milliseconds when it runs.
const BUDGET: Duration = Duration::from_secs(10);

/// The commands, as the first argument names them.
pub const COMMANDS: [&str; 2] = ["show", "history"];

#[derive(Clone, Copy, ValueEnum)]
enum RequiredRole {
    Primary,
    Standby,
}

/// The cluster at a glance: one row per node. Exit code: 0 healthy, 1 degraded, 2 no
/// writable primary, 3 unknown (monitoring-plugin convention).
#[derive(Parser)]
#[command(name = "pgsqlms show")]
struct ShowArgs {
    /// Print the documented JSON (schema pgsqlms-show/1) instead of the table.
    #[arg(long)]
    json: bool,
    /// Answer for this node only: 0 when it serves in its role, 1 when it is a standby in
    /// trouble, 2 when it serves nothing, 3 when this node cannot tell.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// With --node: exit 2 unless the node holds this role (a load balancer's check).
    #[arg(long, requires = "node")]
    role: Option<RequiredRole>,
    /// The pgsqlms primitive, when the cluster has several.
    #[arg(long, value_name = "NAME")]
    resource: Option<String>,
    /// Seconds after which the primary's replication view counts as stale.
    #[arg(long, value_name = "SECONDS", default_value_t = STALE_AFTER_SECS)]
    max_age: u64,
}

/// The promotion records, newest first: who won, by which rule, who was left out and why.
#[derive(Parser)]
#[command(name = "pgsqlms history")]
struct HistoryArgs {
    /// Print the documented JSON (schema pgsqlms-history/1).
    #[arg(long)]
    json: bool,
    /// The pgsqlms primitive, when the cluster has several.
    #[arg(long, value_name = "NAME")]
    resource: Option<String>,
}

/// Runs `pgsqlms <command> <args...>` and returns the exit code.
pub fn main(command: &str, args: Vec<String>) -> i32 {
    let argv = std::iter::once(format!("pgsqlms {command}")).chain(args);
    let result = match command {
        "show" => ShowArgs::try_parse_from(argv).map(|a| show(&a)),
        _ => HistoryArgs::try_parse_from(argv).map(|a| history_cmd(&a)),
    };
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("pgsqlms {command}: {e}");
            Status::Unknown as i32
        }
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() {
                Status::Unknown as i32
            } else {
                0
            }
        }
    }
}

fn output(cmd: Command, deadline: Deadline) -> Result<Output, String> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let out = run(cmd, deadline).map_err(|e| e.to_string())?;
    if out.success {
        Ok(out)
    } else {
        let exit = out
            .code
            .map_or("a signal".to_string(), |c| format!("exit {c}"));
        let said = match out.last_error_line() {
            "" => "is Pacemaker running on this node?",
            line => line,
        };
        Err(format!("{name} failed ({exit}): {said}"))
    }
}

fn pacemaker(resource: Option<&str>, deadline: Deadline) -> Result<PacemakerView, String> {
    let mut c = Command::new("crm_mon");
    c.args([
        "--one-shot",
        "--output-as=xml",
        "--include=summary,nodes,resources,attributes,failcounts,failures",
    ]);
    crm_mon::parse(&output(c, deadline)?.stdout, resource)
}

fn local_node(deadline: Deadline) -> Result<String, String> {
    let mut c = Command::new("crm_node");
    c.arg("-n");
    Ok(output(c, deadline)?.stdout.trim().to_string())
}

/// Every node's copy of one of the agent's private attributes.
fn published(
    resource: &str,
    attr: &str,
    deadline: Deadline,
) -> Result<BTreeMap<String, String>, String> {
    Attributes::new(resource, deadline)
        .private_all(attr)
        .map_err(|e| e.to_string())
}

fn records(resource: &str, deadline: Deadline) -> Result<Vec<history::PromotionRecord>, String> {
    let copies = published(resource, PROMOTIONS, deadline)?;
    Ok(history::merge(copies.values().map(String::as_str)))
}

fn show(args: &ShowArgs) -> Result<i32, String> {
    let deadline = Deadline::after(BUDGET);
    // crm_mon names the resource the attributes carry: the rest waits for it, and runs
    // in parallel.
    let (pm, local) = std::thread::scope(|s| {
        let local = s.spawn(|| local_node(deadline));
        (pacemaker(args.resource.as_deref(), deadline), local.join())
    });
    let pm = pm?;
    let local = local.map_err(|_| "crm_node panicked")??;
    let (views, records, paused) = std::thread::scope(|s| {
        let records = s.spawn(|| records(&pm.resource, deadline));
        let paused = s.spawn(|| published(&pm.resource, REPLAY_PAUSED, deadline));
        (
            published(&pm.resource, REPLICATION_VIEW, deadline),
            records.join(),
            paused.join(),
        )
    });
    let replay_paused: BTreeSet<String> = paused
        .map_err(|_| "attrd_updater panicked")??
        .into_keys()
        .collect();
    let view = views?
        .values()
        .filter_map(|v| PublishedView::parse(v))
        .max_by_key(|v| v.published_at);
    let records = records.map_err(|_| "attrd_updater panicked")??;
    let built = show::build(&Inputs {
        pacemaker: &pm,
        view: view.as_ref(),
        latest_promotion: records.first(),
        local_node: &local,
        now: unix_now(),
        stale_after: args.max_age,
        replay_paused: &replay_paused,
    });
    let built = match &args.node {
        Some(node) => {
            let role = args.role.map(|r| match r {
                RequiredRole::Primary => Role::Primary,
                RequiredRole::Standby => Role::Standby,
            });
            built.only(node, role)
        }
        None => built,
    };
    if args.json {
        println!("{}", built.json().pretty());
    } else {
        print!("{}", built.table());
    }
    Ok(built.status as i32)
}

fn history_cmd(args: &HistoryArgs) -> Result<i32, String> {
    let deadline = Deadline::after(BUDGET);
    let resource = match &args.resource {
        Some(r) => r.clone(),
        None => pacemaker(None, deadline)?.resource,
    };
    let records = records(&resource, deadline)?;
    if args.json {
        println!("{}", show::history_json(&records).pretty());
    } else {
        print!("{}", show::history_text(&records));
    }
    Ok(0)
}
