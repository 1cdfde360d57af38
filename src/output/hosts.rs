//! The host names a user typed, found again by address when a result is printed, and the
//! escaping a name needs in JSON and CSV (the name is the user's text, unlike every other
//! field of a result).
//!
//! A scan of addresses and CIDRs (the common case) has no names: the lookup is then one
//! test of an empty table per printed line. With names, a binary search over the named
//! addresses: O(log n), no allocation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Address -> the name typed for it.
#[derive(Clone, Debug, Default)]
pub struct HostNames {
    /// Sorted by address, each address once; the `u32` indexes `names`.
    by_ip: Vec<(IpAddr, u32)>,
    names: Vec<Box<str>>,
}

impl HostNames {
    /// From `TargetSet::names()`: each name as typed, with the addresses it resolved to, in
    /// the order typed. An address two names resolved to keeps the first name typed: that
    /// is the one the user put first, and the choice must not depend on anything else
    /// (hash order, resolver order) so that two runs of one command print the same.
    pub fn new(typed: &[(String, Vec<IpAddr>)]) -> Self {
        let mut first: BTreeMap<IpAddr, u32> = BTreeMap::new();
        let mut names = Vec::with_capacity(typed.len());
        for (name, ips) in typed {
            let Ok(id) = u32::try_from(names.len()) else {
                break;
            };
            names.push(name.as_str().into());
            for &ip in ips {
                first.entry(ip).or_insert(id);
            }
        }
        HostNames {
            by_ip: first.into_iter().collect(),
            names,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// The name typed for `ip`, if it came from one.
    #[inline]
    pub fn get(&self, ip: IpAddr) -> Option<&str> {
        if self.by_ip.is_empty() {
            return None;
        }
        let i = self.by_ip.binary_search_by_key(&ip, |e| e.0).ok()?;
        Some(&self.names[self.by_ip[i].1 as usize])
    }
}

/// `s` as the inside of a JSON string: quotes, backslashes and control characters escaped.
pub fn json_escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '"' || c == '\\' || c < ' ') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` as one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a
/// quote or a line break; as is otherwise.
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if !s.contains([',', '"', '\r', '\n']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_address_finds_its_name_and_the_first_typed_wins() {
        let h = HostNames::new(&[
            ("web-1".into(), vec![ip("198.18.0.1"), ip("2001:db8::1")]),
            ("alias".into(), vec![ip("198.18.0.1"), ip("198.18.0.2")]),
        ]);
        assert_eq!(h.get(ip("198.18.0.1")), Some("web-1"));
        assert_eq!(h.get(ip("2001:db8::1")), Some("web-1"));
        assert_eq!(h.get(ip("198.18.0.2")), Some("alias"));
        assert_eq!(h.get(ip("198.18.0.3")), None);
        let none = HostNames::new(&[]);
        assert!(none.is_empty());
        assert_eq!(none.get(ip("198.18.0.1")), None);
    }

    #[test]
    fn names_are_escaped_for_json_and_csv() {
        assert!(matches!(json_escaped("web-1"), Cow::Borrowed("web-1")));
        assert_eq!(json_escaped("we\"i\\rd\n"), "we\\\"i\\\\rd\\u000a");
        assert!(matches!(csv_field("web-1"), Cow::Borrowed("web-1")));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
    }
}
