//! What `crm_mon --output-as=xml` says about the cluster, as `pgsqlms show` needs it. Pure:
//! the caller runs crm_mon and hands its output here.

use std::collections::BTreeMap;

/// A node as Pacemaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Online,
    /// Online, but put in standby mode by the administrator (no resources).
    Standby,
    Offline,
    /// Lost without being fenced yet.
    Unclean,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Standby => "standby",
            NodeState::Offline => "offline",
            NodeState::Unclean => "unclean",
        }
    }
}

/// The clone instance's role on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Standby,
    Stopped,
    Failed,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Standby => "standby",
            Role::Stopped => "stopped",
            Role::Failed => "failed",
        }
    }
}

/// A failed operation of the resource, with the agent's exit reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub task: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacemakerNode {
    pub name: String,
    pub state: NodeState,
    pub role: Role,
    pub promotion_score: Option<i64>,
    pub fail_count: u64,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacemakerView {
    /// The clone's primitive (the name the agent's attributes carry).
    pub resource: String,
    pub quorum: bool,
    /// Where the IPaddr2 resources run, by resource name.
    pub vips: BTreeMap<String, Option<String>>,
    pub nodes: Vec<PacemakerNode>,
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(tag))
}

fn is_pgsqlms(agent: &str) -> bool {
    agent.starts_with("ocf:") && agent.ends_with(":pgsqlms")
}

/// Reads crm_mon's XML. `resource` picks the primitive when several pgsqlms clones exist;
/// without it the first one is taken.
pub fn parse(xml: &str, resource: Option<&str>) -> Result<PacemakerView, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("crm_mon XML: {e}"))?;
    let root = doc.root_element();
    let quorum = child(root, "summary")
        .and_then(|s| child(s, "current_dc"))
        .is_some_and(|dc| dc.attribute("with_quorum") == Some("true"));
    let resources = child(root, "resources").ok_or("crm_mon printed no <resources>")?;
    let primitives: Vec<_> = resources
        .descendants()
        .filter(|n| n.has_tag_name("resource"))
        .collect();
    let name = match resource {
        Some(r) => r.to_string(),
        None => primitives
            .iter()
            .find(|p| p.attribute("resource_agent").is_some_and(is_pgsqlms))
            .and_then(|p| p.attribute("id"))
            .ok_or("no pgsqlms resource in the cluster (use --resource)")?
            .to_string(),
    };
    let on_node = |p: &roxmltree::Node<'_, '_>| {
        p.children()
            .find(|c| c.has_tag_name("node"))
            .and_then(|n| n.attribute("name"))
            .map(str::to_string)
    };
    let mut roles: BTreeMap<String, Role> = BTreeMap::new();
    for p in primitives
        .iter()
        .filter(|p| p.attribute("id") == Some(&name))
    {
        let Some(node) = on_node(p) else { continue };
        let role = match (p.attribute("failed"), p.attribute("role")) {
            (Some("true"), _) => Role::Failed,
            (_, Some("Promoted" | "Master")) => Role::Primary,
            (_, Some("Unpromoted" | "Slave" | "Started")) => Role::Standby,
            _ => Role::Stopped,
        };
        roles.insert(node, role);
    }
    let vips = primitives
        .iter()
        .filter(|p| p.attribute("resource_agent") == Some("ocf:heartbeat:IPaddr2"))
        .filter_map(|p| Some((p.attribute("id")?.to_string(), on_node(p))))
        .collect();
    let score_attr = format!("master-{name}");
    let mut scores: BTreeMap<&str, i64> = BTreeMap::new();
    for n in child(root, "node_attributes")
        .into_iter()
        .flat_map(|a| a.children())
    {
        let Some(node) = n.attribute("name") else {
            continue;
        };
        for a in n
            .children()
            .filter(|a| a.attribute("name") == Some(&score_attr))
        {
            if let Some(v) = a.attribute("value").and_then(|v| v.parse().ok()) {
                scores.insert(node, v);
            }
        }
    }
    let mut fail_counts: BTreeMap<&str, u64> = BTreeMap::new();
    for n in child(root, "node_history")
        .into_iter()
        .flat_map(|h| h.children())
    {
        let Some(node) = n.attribute("name") else {
            continue;
        };
        for h in n.children().filter(|h| h.attribute("id") == Some(&name)) {
            if let Some(c) = h.attribute("fail-count").and_then(|c| c.parse().ok()) {
                fail_counts.insert(node, c);
            }
        }
    }
    let op_prefix = format!("{name}_");
    let mut failures: BTreeMap<&str, Vec<Failure>> = BTreeMap::new();
    for f in child(root, "failures")
        .into_iter()
        .flat_map(|f| f.children())
    {
        let (Some(node), Some(key)) = (f.attribute("node"), f.attribute("op_key")) else {
            continue;
        };
        if key.starts_with(&op_prefix) {
            failures.entry(node).or_default().push(Failure {
                task: f.attribute("task").unwrap_or("?").to_string(),
                reason: f.attribute("exitreason").unwrap_or("").to_string(),
            });
        }
    }
    let nodes = child(root, "nodes")
        .ok_or("crm_mon printed no <nodes>")?
        .children()
        .filter(|n| n.has_tag_name("node"))
        .filter_map(|n| {
            let node = n.attribute("name")?;
            let yes = |a: &str| n.attribute(a) == Some("true");
            let state = if yes("unclean") {
                NodeState::Unclean
            } else if !yes("online") {
                NodeState::Offline
            } else if yes("standby") {
                NodeState::Standby
            } else {
                NodeState::Online
            };
            Some(PacemakerNode {
                name: node.to_string(),
                state,
                role: roles.get(node).copied().unwrap_or(Role::Stopped),
                promotion_score: scores.get(node).copied(),
                fail_count: fail_counts.get(node).copied().unwrap_or(0),
                failures: failures.remove(node).unwrap_or_default(),
            })
        })
        .collect();
    Ok(PacemakerView {
        resource: name,
        quorum,
        vips,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = include_str!("../../tests/fixtures/crm_mon-healthy.xml");
    const FAILED_START: &str = include_str!("../../tests/fixtures/crm_mon-failed-start.xml");

    #[test]
    fn reads_roles_scores_and_the_vip() {
        let v = parse(HEALTHY, None).unwrap();
        assert_eq!(v.resource, "pgsqld");
        assert!(v.quorum);
        assert_eq!(v.vips["pgsql-vip"].as_deref(), Some("node1"));
        let roles: Vec<_> = v.nodes.iter().map(|n| (n.name.as_str(), n.role)).collect();
        assert_eq!(
            roles,
            [
                ("node1", Role::Primary),
                ("node2", Role::Standby),
                ("node3", Role::Stopped)
            ]
        );
        assert_eq!(v.nodes[0].promotion_score, Some(1001));
        assert_eq!(v.nodes[2].promotion_score, None);
        assert!(v.nodes.iter().all(|n| n.state == NodeState::Online));
    }

    #[test]
    fn reads_failures_fail_counts_and_offline_nodes() {
        let v = parse(FAILED_START, None).unwrap();
        assert_eq!(v.vips["pgsql-vip"], None);
        let node2 = &v.nodes[1];
        assert_eq!(node2.fail_count, 1_000_000);
        assert_eq!(node2.failures.len(), 1);
        assert_eq!(node2.failures[0].task, "start");
        assert!(node2.failures[0]
            .reason
            .starts_with("refusing to start: primary crashed"));
        assert_eq!(v.nodes[2].state, NodeState::Offline);
        assert_eq!(v.nodes[0].role, Role::Standby);
    }

    #[test]
    fn a_named_resource_that_does_not_exist_has_no_instances() {
        let v = parse(HEALTHY, Some("other")).unwrap();
        assert!(v.nodes.iter().all(|n| n.role == Role::Stopped));
        assert!(parse("<x/>", None).is_err());
        assert!(parse("not xml", None).is_err());
    }
}
