//! `meta-data`: the OCF description, embedded from the single source under ocf-metadata/.

pub const XML: &str = include_str!("../../ocf-metadata/pgsqlms.xml");

pub fn meta_data() {
    print!("{XML}");
}

#[cfg(test)]
mod tests {
    use super::XML;

    #[test]
    fn version_matches_the_crate() {
        let tag = format!(
            "<resource-agent name=\"pgsqlms\" version=\"{}\">",
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            XML.contains(&tag),
            "meta-data version must be {}",
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn lists_exactly_the_implemented_actions() {
        use super::super::Action;
        let mut listed: Vec<&str> = XML
            .split("<action name=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        listed.sort();
        listed.dedup();
        let mut implemented: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        implemented.sort();
        assert_eq!(listed, implemented);
    }

    /// With OCF 1.1 Pacemaker ignores `reload` and restarts every instance for a changed
    /// parameter unless it is marked `reloadable` and `reload-agent` exists: a change of
    /// sync_mode or maxlag must not restart the primary. Those that change how PostgreSQL
    /// runs or is reached (and the unique ones) do restart it.
    #[test]
    fn parameters_of_decisions_are_reloadable() {
        const RESTART: [&str; 5] = ["system_user", "bindir", "pghost", "pgport", "start_opts"];
        assert!(XML.contains("<action name=\"reload-agent\""));
        for p in XML.split("<parameter name=\"").skip(1) {
            let name = p.split('"').next().unwrap_or_default();
            let head = p.split('>').next().unwrap_or_default();
            let expected = head.contains("unique=\"0\"") && !RESTART.contains(&name);
            assert_eq!(
                head.contains("reloadable=\"1\""),
                expected,
                "{name}: reloadable must be {expected}"
            );
        }
    }

    #[test]
    fn promoted_and_unpromoted_monitors_have_distinct_intervals() {
        let interval = |role: &str| {
            XML.lines()
                .find(|l| l.contains("name=\"monitor\"") && l.contains(&format!("role=\"{role}\"")))
                .and_then(|l| l.split("interval=\"").nth(1))
                .and_then(|r| r.split('"').next())
                .map(str::to_string)
        };
        let (p, u) = (interval("Promoted"), interval("Unpromoted"));
        assert!(p.is_some() && u.is_some());
        assert_ne!(p, u);
    }
}
