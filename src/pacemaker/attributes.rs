//! Pacemaker's node attribute tools: promotion scores through `crm_attribute --promotion`,
//! the election's private attributes through `attrd_updater --private`, membership through
//! `crm_node`. Thin wrappers; every call is bounded.

use crate::logic::headless::{self, Located};
use crate::ocf::deadline::Deadline;
use crate::ocf::log;
use crate::ocf::log::brief;
use crate::pacemaker::{Pacemaker, PacemakerError, PacemakerResult};
use crate::system::command::Output;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

/// No single tool call may take more than this, whatever the action's budget.
const CALL_LIMIT: Duration = Duration::from_secs(10);

// How Pacemaker 2.1 says "no value" (checked against 2.1.5): `crm_attribute --query` exits
// CRM_EX_NOSUCH when the node has no value; `attrd_updater --query` exits CRM_EX_CONFIG with
// "attribute does not exist" when attrd holds the attribute for no node, and prints
// `value=""` when only other nodes hold it or it was deleted. Every other failure (attrd or
// the CIB unreachable, a timeout) is an error: read as "absent", it would let promote skip
// the election or start apply the first-start rule.
const CRM_EX_NOSUCH: i32 = 105;
const CRM_EX_CONFIG: i32 = 78;
const ATTRD_NO_SUCH_ATTRIBUTE: &str = "attribute does not exist";

pub struct Attributes {
    resource: String,
    deadline: Deadline,
}

fn tool(name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(name);
    c.args(args);
    c
}

impl Attributes {
    pub fn new(resource: &str, deadline: Deadline) -> Self {
        Attributes {
            resource: resource.to_string(),
            deadline,
        }
    }

    fn run(&self, cmd: Command) -> PacemakerResult<Output> {
        Ok(crate::system::command::run(
            cmd,
            self.deadline.capped(CALL_LIMIT),
        )?)
    }

    fn run_ok(&self, cmd: Command, what: &str) -> PacemakerResult<()> {
        let out = self.run(cmd)?;
        if out.success {
            Ok(())
        } else {
            Err(PacemakerError::Failed {
                what: what.to_string(),
                message: out.last_error_line().to_string(),
            })
        }
    }

    fn promotion_cmd(&self, node: &str) -> Command {
        let mut c = Command::new("crm_attribute");
        c.arg(format!("--promotion={}", self.resource)).args([
            "--lifetime",
            "reboot",
            "--node",
            node,
        ]);
        c
    }

    fn sync_record_cmd(&self) -> Command {
        tool(
            "crm_attribute",
            &[
                "--type",
                "crm_config",
                "--name",
                &format!("pgsqlms-sync-{}", self.resource),
            ],
        )
    }

    fn private_name(&self, attr: &str) -> String {
        format!("{attr}-{}", self.resource)
    }

    /// Changes one of the election's attributes for the local node. Private attributes
    /// stay in attrd's memory: they never reach the CIB, so they do not abort transitions.
    fn change_private(&self, attr: &str, change: &[&str], what: &str) -> PacemakerResult<()> {
        let name = self.private_name(attr);
        let mut c = tool(
            "attrd_updater",
            &["--private", "--lifetime", "reboot", "--name", &name],
        );
        c.args(change);
        self.run_ok(c, &format!("{what} attribute {name}"))
    }

    fn delete_private(&self, attr: &str) -> PacemakerResult<()> {
        self.change_private(attr, &["--delete"], "delete")
    }
}

impl Pacemaker for Attributes {
    fn local_node(&self) -> PacemakerResult<String> {
        let out = self.run(tool("crm_node", &["-n"]))?;
        let name = out.stdout.trim().to_string();
        if out.success && !name.is_empty() {
            Ok(name)
        } else {
            Err(PacemakerError::Failed {
                what: "get this node's name from crm_node -n".into(),
                message: out.last_error_line().to_string(),
            })
        }
    }

    fn partition(&self) -> PacemakerResult<BTreeSet<String>> {
        let out = self.run(tool("crm_node", &["-p"]))?;
        if !out.success {
            return Err(PacemakerError::Failed {
                what: "list the partition with crm_node -p".into(),
                message: out.last_error_line().to_string(),
            });
        }
        Ok(out.stdout.split_whitespace().map(str::to_string).collect())
    }

    fn score(&self, node: &str) -> PacemakerResult<Option<i64>> {
        let mut c = self.promotion_cmd(node);
        c.args(["--query", "--quiet"]);
        let out = self.run(c)?;
        let what = format!("the promotion score of {}", brief(node));
        match out.code {
            Some(0) => {
                let value = out.stdout.trim();
                value
                    .parse()
                    .map(Some)
                    .map_err(|_| PacemakerError::BadScore {
                        node: node.to_string(),
                        value: value.to_string(),
                    })
            }
            Some(CRM_EX_NOSUCH) => Ok(None),
            _ => Err(query_failed("crm_attribute", &what, &out)),
        }
    }

    fn set_score(&self, node: &str, score: i64) -> PacemakerResult<()> {
        let mut c = self.promotion_cmd(node);
        c.args(["--update", &score.to_string()]);
        self.run_ok(
            c,
            &format!("set the promotion score of {} to {score}", brief(node)),
        )
    }

    fn set_private(&self, attr: &str, value: &str) -> PacemakerResult<()> {
        self.change_private(attr, &["--update", value], "set")
    }

    fn delete_private_all(&self, attrs: &[&str]) -> PacemakerResult<()> {
        std::thread::scope(|scope| {
            let calls: Vec<_> = attrs
                .iter()
                .map(|attr| scope.spawn(move || self.delete_private(attr)))
                .collect();
            // the scope waits for every call, also after a failed one
            calls
                .into_iter()
                .try_for_each(|call| call.join().unwrap_or(Err(PacemakerError::Panicked)))
        })
    }

    fn private(&self, attr: &str, node: &str) -> PacemakerResult<Option<String>> {
        let name = self.private_name(attr);
        let out = self.run(tool(
            "attrd_updater",
            &["--name", &name, "--query", "--node", node],
        ))?;
        let what = format!("{name} of {}", brief(node));
        if out.code == Some(CRM_EX_CONFIG) && out.stderr.contains(ATTRD_NO_SUCH_ATTRIBUTE) {
            return Ok(None);
        }
        if !out.success {
            return Err(query_failed("attrd_updater", &what, &out));
        }
        match parse_query(&out.stdout) {
            Some(value) => Ok(Some(value).filter(|v| !v.is_empty())),
            None => Err(PacemakerError::NoValue(what)),
        }
    }
    fn locate(&self) -> PacemakerResult<Vec<Located>> {
        let out = self.run(tool(
            "crm_resource",
            &["--resource", &self.resource, "--locate"],
        ))?;
        // "is NOT running" may come with a failure status: it lists nothing either way
        Ok(headless::parse_locate(&out.stdout))
    }

    fn has_quorum(&self) -> PacemakerResult<bool> {
        let out = self.run(tool("crm_node", &["-q"]))?;
        match (out.success, out.stdout.trim()) {
            (true, "1") => Ok(true),
            (true, "0") => Ok(false),
            _ => Err(PacemakerError::Failed {
                what: "tell whether this partition has quorum (crm_node -q)".into(),
                message: out.last_error_line().to_string(),
            }),
        }
    }

    fn sync_record(&self) -> PacemakerResult<Option<String>> {
        let mut c = self.sync_record_cmd();
        c.args(["--query", "--quiet"]);
        let out = self.run(c)?;
        match out.code {
            Some(0) => Ok(Some(out.stdout.trim().to_string()).filter(|v| !v.is_empty())),
            Some(CRM_EX_NOSUCH) => Ok(None),
            _ => Err(query_failed(
                "crm_attribute",
                "the synchronous replication record",
                &out,
            )),
        }
    }

    fn set_sync_record(&self, value: &str) -> PacemakerResult<()> {
        let mut c = self.sync_record_cmd();
        c.args(["--update", value]);
        self.run_ok(c, "write the synchronous replication record")
    }

    fn private_all(&self, attr: &str) -> PacemakerResult<BTreeMap<String, String>> {
        let name = self.private_name(attr);
        let mut c = tool("attrd_updater", &["--name", &name, "--query", "--all"]);
        // attrd_updater takes the node Pacemaker runs the action for as its default node,
        // and then lists that node only, even with --all
        c.env_remove("OCF_RESKEY_CRM_meta_on_node");
        let out = self.run(c)?;
        if out.code == Some(CRM_EX_CONFIG) && out.stderr.contains(ATTRD_NO_SUCH_ATTRIBUTE) {
            return Ok(BTreeMap::new());
        }
        if !out.success {
            return Err(query_failed(
                "attrd_updater",
                &format!("{name} of all nodes"),
                &out,
            ));
        }
        Ok(parse_query_all(&out.stdout))
    }

    fn change_for(
        &self,
        node: &str,
        attr: &str,
        private: bool,
        value: Option<&str>,
    ) -> PacemakerResult<()> {
        let name = self.private_name(attr);
        let mut c = tool(
            "attrd_updater",
            &["--lifetime", "reboot", "--name", &name, "--node", node],
        );
        if private {
            c.arg("--private");
        }
        match value {
            Some(v) => c.args(["--update", v]),
            None => c.arg("--delete"),
        };
        let what = if value.is_some() { "set" } else { "delete" };
        self.run_ok(c, &format!("{what} attribute {name} of {node}"))
    }
}

/// The error for a query that failed otherwise than by saying "no value". The tool's own
/// message goes to the log: with it the exit reason would pass Pacemaker's 128 characters.
fn query_failed(tool: &str, what: &str, out: &Output) -> PacemakerError {
    let e = PacemakerError::QueryFailed {
        tool: tool.to_string(),
        what: what.to_string(),
        exit: out.code,
    };
    log::warning!("{e}: {}", out.last_error_line());
    e
}

/// Reads every `name="x" host="y" value="z"` line of `attrd_updater --query --all`.
fn parse_query_all(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            let start = line.find("host=\"")? + "host=\"".len();
            let host = &line[start..];
            let host = &host[..host.find('"')?];
            let value = parse_query(line).filter(|v| !v.is_empty())?;
            Some((host.to_string(), value))
        })
        .collect()
}

/// Reads `name="x" host="y" value="z"` as printed by `attrd_updater --query`.
fn parse_query(stdout: &str) -> Option<String> {
    let line = stdout.lines().find(|l| l.contains("value=\""))?;
    let start = line.find("value=\"")? + "value=\"".len();
    let rest = &line[start..];
    Some(rest[..rest.rfind('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::{parse_query, parse_query_all};

    #[test]
    fn reads_attrd_updater_query_output() {
        assert_eq!(
            parse_query("name=\"lsn_location-pgsqld\" host=\"node1\" value=\"2#50332208\"\n")
                .as_deref(),
            Some("2#50332208")
        );
        assert_eq!(
            parse_query("name=\"nodes-pgsqld\" host=\"node1\" value=\"node1 node2\"").as_deref(),
            Some("node1 node2")
        );
        assert_eq!(
            parse_query("name=\"x\" host=\"n\" value=\"\"").as_deref(),
            Some("")
        );
        assert_eq!(parse_query(""), None);
    }

    #[test]
    fn reads_every_node_of_attrd_updater_query_all() {
        let out = "name=\"headless_position-pgsqld\" host=\"node2\" value=\"1#100\"\nname=\"headless_position-pgsqld\" host=\"node3\" value=\"\"\nname=\"headless_position-pgsqld\" host=\"node1\" value=\"2#5\"\n";
        let all = parse_query_all(out);
        assert_eq!(all.len(), 2);
        assert_eq!(all["node1"], "2#5");
        assert_eq!(all["node2"], "1#100");
        assert!(parse_query_all("").is_empty());
    }
}
