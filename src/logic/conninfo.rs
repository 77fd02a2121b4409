//! Just enough of libpq's connection-string syntax to read `application_name` from
//! `primary_conninfo`, in both the keyword=value and the URI forms. Pure.

/// Returns the value of `key` in a conninfo string, or `None` if absent or malformed.
pub fn value_of(conninfo: &str, key: &str) -> Option<String> {
    let s = conninfo.trim();
    if s.starts_with("postgresql://") || s.starts_with("postgres://") {
        return uri_param(s, key);
    }
    keyword_pairs(s)?
        .into_iter()
        .rev() // libpq keeps the last occurrence
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The keyword=value pairs of a conninfo string in that form, in order; `None` when malformed.
pub fn keyword_pairs(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=')?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// `value` quoted for a keyword=value conninfo: inside single quotes, a backslash before
/// each backslash and quote.
pub fn quoted(value: &str) -> String {
    let mut q = String::from('\'');
    for ch in value.chars() {
        if ch == '\\' || ch == '\'' {
            q.push('\\');
        }
        q.push(ch);
    }
    q.push('\'');
    q
}

fn uri_param(uri: &str, key: &str) -> Option<String> {
    let (_, query) = uri.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .rfind(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_form_plain_and_quoted() {
        let c = "host=10.0.0.100 port=5432 user=replicator application_name=node1";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("node1"));
        let c = "host='10.0.0.100' application_name='node 1' sslmode=prefer";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("node 1"));
        let c = "application_name = 'it\\'s'";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("it's"));
        assert_eq!(value_of(c, "host"), None);
    }

    #[test]
    fn pg_basebackup_style_long_strings() {
        let c = "user=postgres passfile='/var/lib/postgresql/.pgpass' channel_binding=prefer host=10.99.0.100 port=5432 sslmode=prefer sslcompression=0 sslsni=1 ssl_min_protocol_version=TLSv1.2 gssencmode=prefer krbsrvname=postgres target_session_attrs=any application_name=node2";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("node2"));
    }

    #[test]
    fn last_occurrence_wins_like_libpq() {
        let c = "application_name=a application_name=b";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("b"));
    }

    #[test]
    fn substring_names_do_not_match() {
        let c = "host=x fallback_application_name=node1";
        assert_eq!(value_of(c, "application_name"), None);
    }

    #[test]
    fn quoted_values_read_back_whole() {
        for v in ["plain", "with space", "it's", "back\\slash", "", "a='b' c"] {
            let c = format!("host=h user={} port=5432", quoted(v));
            assert_eq!(value_of(&c, "user").as_deref(), Some(v), "{c}");
            assert_eq!(value_of(&c, "port").as_deref(), Some("5432"), "{c}");
        }
    }

    #[test]
    fn uri_form() {
        let c = "postgresql://rep@10.0.0.1:5432/postgres?application_name=node%2D3&sslmode=disable";
        assert_eq!(value_of(c, "application_name").as_deref(), Some("node-3"));
        assert_eq!(value_of("postgres://h/db", "application_name"), None);
    }

    #[test]
    fn malformed_strings_give_nothing() {
        assert_eq!(value_of("host", "host"), None);
        assert_eq!(
            value_of("application_name='unterminated", "application_name"),
            None
        );
        assert_eq!(value_of("", "application_name"), None);
    }
}
