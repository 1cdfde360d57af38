//! The port list: ascending distinct ports with a 65536-entry reverse table, so both
//! directions of the pair index (index -> port for sending, port -> index for a reply) are
//! one array read.

use super::TargetError;

/// Marks a port that is not in the list. Free as an index: at most 65535 ports (1-65535)
/// means indices 0..=65534.
const ABSENT: u16 = u16::MAX;

/// An ordered list of distinct ports with a constant-time reverse lookup.
#[derive(Clone, Debug)]
pub struct PortList {
    ports: Vec<u16>,
    /// `index[port]` = position of `port` in `ports`, or `ABSENT`. Always 65536 long.
    index: Box<[u16]>,
}

impl PortList {
    /// Parse `22,80,8000-8100` (1-65535; duplicates merged; empty list is an error). As in
    /// nmap, a range may leave out its start (1) or its end (65535): `-1024`, `60000-`, `-`.
    /// Whitespace around items is ignored; an empty item (`80,,443`, `80,`) is refused: it is
    /// most often a port lost from a script's variable, not a wish for fewer ports.
    pub fn parse(spec: &str) -> Result<Self, TargetError> {
        if spec.trim().is_empty() {
            return Err(TargetError::Port(
                spec.to_string(),
                "empty port list".into(),
            ));
        }
        let mut wanted = vec![false; 65536];
        for item in spec.split(',').map(str::trim) {
            if item.is_empty() {
                return Err(TargetError::Port(
                    spec.to_string(),
                    "empty item in the port list (a comma too many?)".into(),
                ));
            }
            let err = |reason: &str| TargetError::Port(item.to_string(), reason.to_string());
            let (lo, hi) = match item.split_once('-') {
                Some((a, b)) => {
                    // nmap's open ends: `-1024` from 1, `60000-` to 65535, `-` every port.
                    let (a, b) = (a.trim(), b.trim());
                    let lo = if a.is_empty() {
                        1
                    } else {
                        parse_port(a).map_err(err)?
                    };
                    let hi = if b.is_empty() {
                        u16::MAX
                    } else {
                        parse_port(b).map_err(err)?
                    };
                    if lo > hi {
                        return Err(err("range start above end"));
                    }
                    (lo, hi)
                }
                None => {
                    let p = parse_port(item).map_err(err)?;
                    (p, p)
                }
            };
            for w in &mut wanted[usize::from(lo)..=usize::from(hi)] {
                *w = true;
            }
        }
        let ports: Vec<u16> = (1..=u16::MAX).filter(|&p| wanted[usize::from(p)]).collect();
        Ok(Self::from_sorted(ports))
    }

    /// From ascending distinct ports in 1-65535 (what `parse` produces).
    fn from_sorted(ports: Vec<u16>) -> Self {
        let mut index = vec![ABSENT; 65536].into_boxed_slice();
        for (i, &p) in ports.iter().enumerate() {
            // At most 65535 entries, so `i` fits below ABSENT.
            index[usize::from(p)] = i as u16;
        }
        PortList { ports, index }
    }

    pub fn len(&self) -> u64 {
        self.ports.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The port at `idx`; `idx` must be below `len()` (panics otherwise).
    pub fn at(&self, idx: u64) -> u16 {
        self.ports[idx as usize]
    }

    pub fn index_of(&self, port: u16) -> Option<u64> {
        match self.index.get(usize::from(port)) {
            Some(&i) if i != ABSENT => Some(u64::from(i)),
            _ => None,
        }
    }

    /// The ports, ascending.
    pub fn as_slice(&self) -> &[u16] {
        &self.ports
    }
}

/// One port number; the error is the reason, the caller names the item.
fn parse_port(s: &str) -> Result<u16, &'static str> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number");
    }
    // Digits only: a parse failure is an overflow, so out of range like 70000.
    match s.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err("ports are 1-65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(spec: &str) -> Vec<u16> {
        PortList::parse(spec).unwrap().as_slice().to_vec()
    }

    fn port_err(spec: &str) -> (String, String) {
        match PortList::parse(spec) {
            Err(TargetError::Port(v, r)) => (v, r),
            other => panic!("{spec:?}: expected a port error, got {other:?}"),
        }
    }

    #[test]
    fn lists_and_ranges_ascending() {
        assert_eq!(ports("22,80,8000-8003"), [22, 80, 8000, 8001, 8002, 8003]);
        assert_eq!(ports("443, 80 ,22"), [22, 80, 443]);
        assert_eq!(ports(" 10 - 12 "), [10, 11, 12]);
    }

    #[test]
    fn duplicates_and_overlaps_merged() {
        assert_eq!(ports("80,80,79-81,81"), [79, 80, 81]);
        assert_eq!(ports("1-10,5-15"), (1..=15).collect::<Vec<_>>());
    }

    #[test]
    fn edges_of_the_port_space() {
        assert_eq!(ports("1"), [1]);
        assert_eq!(ports("65535"), [65535]);
        let all = PortList::parse("1-65535").unwrap();
        assert_eq!(all.len(), 65535);
        assert_eq!(all.at(0), 1);
        assert_eq!(all.at(65534), 65535);
        assert_eq!(all.index_of(65535), Some(65534));
        assert_eq!(all.index_of(0), None);
    }

    #[test]
    fn open_ended_ranges_as_in_nmap() {
        assert_eq!(ports("-3"), vec![1, 2, 3]);
        assert_eq!(ports("65533-"), vec![65533, 65534, 65535]);
        assert_eq!(ports("-").len(), 65535);
        assert_eq!(ports("22,65534-"), vec![22, 65534, 65535]);
    }

    #[test]
    fn bad_ports_name_the_value() {
        let cases = [
            ("0", "0", "ports are 1-65535"),
            ("65536", "65536", "ports are 1-65535"),
            ("70000", "70000", "ports are 1-65535"),
            (
                "99999999999999999999",
                "99999999999999999999",
                "ports are 1-65535",
            ),
            ("", "", "empty port list"),
            (",", ",", "empty item in the port list (a comma too many?)"),
            (
                ",,80,,",
                ",,80,,",
                "empty item in the port list (a comma too many?)",
            ),
            (
                "80,",
                "80,",
                "empty item in the port list (a comma too many?)",
            ),
            (
                "80, ,443",
                "80, ,443",
                "empty item in the port list (a comma too many?)",
            ),
            ("  ", "  ", "empty port list"),
            ("0-", "0-", "ports are 1-65535"),
            ("-x", "-x", "not a number"),
            ("90-80", "90-80", "range start above end"),
            ("a", "a", "not a number"),
            ("22,x,80", "x", "not a number"),
            ("+80", "+80", "not a number"),
            ("0-10", "0-10", "ports are 1-65535"),
            ("1-65536", "1-65536", "ports are 1-65535"),
            ("1-2-3", "1-2-3", "not a number"),
            ("22,0", "0", "ports are 1-65535"),
        ];
        for (spec, value, reason) in cases {
            assert_eq!(
                port_err(spec),
                (value.to_string(), reason.to_string()),
                "{spec:?}"
            );
        }
        let msg = PortList::parse("0").unwrap_err().to_string();
        assert_eq!(msg, "invalid port '0': ports are 1-65535");
        let msg = PortList::parse("").unwrap_err().to_string();
        assert_eq!(msg, "invalid port '': empty port list");
    }

    #[test]
    fn at_and_index_of_round_trip() {
        let pl = PortList::parse("22,80,443,8000-8100").unwrap();
        assert_eq!(pl.len(), 104);
        assert!(!pl.is_empty());
        for i in 0..pl.len() {
            assert_eq!(pl.index_of(pl.at(i)), Some(i));
        }
        assert_eq!(pl.index_of(23), None);
        assert_eq!(pl.index_of(8101), None);
        let listed = pl
            .as_slice()
            .iter()
            .filter(|&&p| pl.index_of(p).is_some())
            .count();
        let found = (0..=u16::MAX).filter(|&p| pl.index_of(p).is_some()).count();
        assert_eq!(listed, found);
    }
}
