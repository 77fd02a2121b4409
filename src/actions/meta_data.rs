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
    fn lists_every_implemented_action() {
        for action in super::super::ACTIONS {
            assert!(
                XML.contains(&format!("<action name=\"{action}\"")),
                "{action}"
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
