//! The system user's uid, gid and groups, read from /etc/passwd and /etc/group. A static
//! glibc binary cannot load NSS modules (getpwnam crashes in one), so the agent reads the
//! files database itself; PostgreSQL's service account is a local account everywhere.

use std::fs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    /// The home directory: libpq looks there for `.pgpass`, the TLS client certificate and
    /// the root certificates.
    pub home: String,
    /// Primary group first, then every group listing the user as a member.
    pub groups: Vec<u32>,
}

/// Finds `name` in passwd and group file contents. Pure.
pub fn find(name: &str, passwd: &str, group: &str) -> Option<Account> {
    let (uid, gid, home) = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?, f[5].to_string())))?
    })?;
    let mut groups = vec![gid];
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || !f[3].split(',').any(|m| m.trim() == name) {
            continue;
        }
        if let Ok(g) = f[2].parse::<u32>() {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Some(Account {
        uid,
        gid,
        home,
        groups,
    })
}

pub fn lookup(name: &str) -> Option<Account> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    find(name, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\n\
        pg:x:102:105::/home/pg:/bin/sh\n\
        broken:x:abc:1::/:/bin/false\n";
    const GROUP: &str = "root:x:0:\nssl-cert:x:103:postgres\npostgres:x:104:\nhaclient:x:110:hacluster,postgres,pg\nwheel:x:10:pgadmin\n";

    #[test]
    fn finds_uid_gid_and_supplementary_groups() {
        assert_eq!(
            find("postgres", PASSWD, GROUP),
            Some(Account {
                uid: 101,
                gid: 104,
                home: "/var/lib/postgresql".into(),
                groups: vec![104, 103, 110]
            })
        );
    }

    #[test]
    fn member_names_match_exactly() {
        // "pg" is a prefix of "pgadmin": it must not get the wheel group.
        assert_eq!(find("pg", PASSWD, GROUP).unwrap().groups, vec![105, 110]);
    }

    #[test]
    fn unknown_or_malformed_users_are_absent() {
        assert_eq!(find("nobody-here", PASSWD, GROUP), None);
        assert_eq!(find("broken", PASSWD, GROUP), None);
        assert_eq!(find("postgres", "", GROUP), None);
    }

    #[test]
    fn the_primary_group_is_not_repeated() {
        let group = "postgres:x:104:postgres\n";
        assert_eq!(find("postgres", PASSWD, group).unwrap().groups, vec![104]);
    }
}
