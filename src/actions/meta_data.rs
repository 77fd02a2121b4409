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

    /// Pacemaker 2.1 calls `reload` only for agents that declare OCF 1.0 (an OCF 1.1 agent
    /// needs `reload-agent` and `reloadable` parameters, which ocf-tester's ra-api-1.dtd
    /// rejects): otherwise changing any parameter, sync_mode or maxlag say, restarts every
    /// instance, the primary included.
    #[test]
    fn declares_ocf_1_0_so_that_non_unique_parameters_reload() {
        assert!(XML.contains("<version>1.0</version>"));
        assert!(XML.contains("<action name=\"reload\""));
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
