//! The merge itself: files read line by line into one map keyed by (address, port), the
//! conflict rule for a pair seen more than once, and the shard accounting of the headers.
//! Memory follows the result set (one entry per distinct pair, and each distinct host name
//! once), not the files' sizes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::BufRead;
use std::net::IpAddr;

use super::MergeError;
use super::header::Header;
use super::record::{self, Kind, Line, Record};
use crate::output::endpoint;
use crate::probe::{Reason, State};

/// Longest line read: a result is under 200 bytes, a header holds the command line's targets.
pub const MAX_LINE: u64 = 1 << 20;

/// Where a kept record came from: file index, 1-based line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Origin {
    file: usize,
    line: u64,
}

/// What was read from one file.
#[derive(Clone, Debug, PartialEq)]
pub struct FileInfo {
    pub name: String,
    /// `None` for an empty file.
    pub kind: Option<Kind>,
    pub headers: Vec<Header>,
    pub results: u64,
}

/// How strongly a record says something: the state first (a positive answer beats silence,
/// closed beats filtered), then whether a packet came back at all (an ICMP error over no
/// response).
fn strength(r: &Record) -> (u8, u8) {
    let state = match r.state() {
        State::Open => 2,
        State::Closed => 1,
        State::Filtered => 0,
    };
    let answered = match r.reason {
        Reason::NoResponse | Reason::NoRoute | Reason::NoNeighbour => 0,
        _ => 1,
    };
    (state, answered)
}

/// Whether `new` replaces `old` for the same pair: the stronger one wins; between equally
/// strong ones, the first in (reason, ttl, rtt) order, so that the result does not depend
/// on the order the files were given in.
pub fn replaces(new: &Record, old: &Record) -> bool {
    match strength(new).cmp(&strength(old)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            (new.reason.as_str(), new.ttl, new.rtt_us) < (old.reason.as_str(), old.ttl, old.rtt_us)
        }
    }
}

/// The output order: by address numerically, IPv4 before IPv6, then by port. `IpAddr`'s
/// own order is exactly that (V4 before V6, each compared as a number); spelled out here so
/// the key says what it sorts by.
type Key = (u8, u128, u16);

fn key(ip: IpAddr, port: u16) -> Key {
    match ip {
        IpAddr::V4(a) => (4, u128::from(u32::from(a)), port),
        IpAddr::V6(a) => (6, u128::from(a), port),
    }
}

fn place(files: &[FileInfo], at: Origin) -> String {
    format!("{}:{}", files[at.file].name, at.line)
}

/// How many examples of conflicting states stderr shows.
const EXAMPLES: usize = 5;

/// A host name, by its index in `Merger::hosts`.
type HostId = u32;

#[derive(Default)]
pub struct Merger {
    /// Each pair's kept record, where it came from, and the name typed for its address.
    pairs: BTreeMap<Key, (Record, Origin, Option<HostId>)>,
    /// Every distinct host name read, once (a fleet's name is on each of its ports' rows).
    hosts: Vec<Box<str>>,
    host_ids: HashMap<Box<str>, HostId>,
    pub files: Vec<FileInfo>,
    /// Rows seen again exactly as kept.
    pub identical: u64,
    /// Pairs seen with different states (the stronger kept).
    pub state_conflicts: u64,
    /// Pairs seen with the same state but another reason, ttl or rtt.
    pub detail_conflicts: u64,
    examples: Vec<String>,
}

impl Merger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one file to its end; a line that is neither a result nor a header of the
    /// file's format is an error naming `name:line`.
    pub fn read(&mut self, name: &str, mut input: impl BufRead) -> Result<(), MergeError> {
        let file = self.files.len();
        self.files.push(FileInfo {
            name: name.to_string(),
            kind: None,
            headers: Vec::new(),
            results: 0,
        });
        let mut buf = String::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            line_no += 1;
            let bad = |why: String| MergeError::Garbage {
                file: name.to_string(),
                line: line_no,
                why,
            };
            let n = std::io::Read::take(&mut input as &mut dyn BufRead, MAX_LINE)
                .read_line(&mut buf)
                .map_err(|e| bad(format!("unreadable: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            if n as u64 == MAX_LINE && !buf.ends_with('\n') {
                return Err(bad(format!("line longer than {MAX_LINE} bytes")));
            }
            let kind = match self.files[file].kind {
                Some(k) => k,
                None if buf.trim().is_empty() => continue,
                None => {
                    let k = record::detect(&buf).ok_or_else(|| {
                        bad(format!(
                            "neither JSON Lines (an object per line) nor synprobe's CSV (first line {})",
                            record::CSV_HEADER
                        ))
                    })?;
                    self.files[file].kind = Some(k);
                    if k == Kind::Csv {
                        continue;
                    }
                    k
                }
            };
            let parsed = match kind {
                Kind::Jsonl => record::parse_jsonl(&buf),
                Kind::Csv => record::parse_csv(&buf),
            }
            .map_err(bad)?;
            match parsed {
                Line::Blank | Line::Trailer => {}
                Line::Header(h) => self.files[file].headers.push(h),
                Line::Result(r, host) => {
                    self.files[file].results += 1;
                    let host = host.map(|h| self.host_id(h));
                    self.add(
                        r,
                        host,
                        Origin {
                            file,
                            line: line_no,
                        },
                    );
                }
            }
        }
    }

    fn host_id(&mut self, name: String) -> HostId {
        if let Some(&id) = self.host_ids.get(name.as_str()) {
            return id;
        }
        // More distinct names than u32 holds would be 4 billion lines: the line reader's
        // bound on memory comes long before.
        let id = HostId::try_from(self.hosts.len()).unwrap_or(HostId::MAX);
        let name: Box<str> = name.into();
        self.hosts.push(name.clone());
        self.host_ids.insert(name, id);
        id
    }

    /// The name kept for a pair two records name: the one given, when only one is; the
    /// first in byte order, when two differ (scans that typed other names for one address),
    /// so that the output does not depend on the order the files were given in. The name
    /// goes with the address, not with the verdict: a record scanned by address does not
    /// lose the name another file gives the pair.
    fn pick_host(&self, a: Option<HostId>, b: Option<HostId>) -> Option<HostId> {
        match (a, b) {
            (Some(x), Some(y)) => {
                let name = |i: HostId| self.hosts.get(i as usize).map(|n| &**n);
                Some(if name(y) < name(x) { y } else { x })
            }
            (x, y) => x.or(y),
        }
    }

    fn add(&mut self, r: Record, host: Option<HostId>, at: Origin) {
        use std::collections::btree_map::Entry;
        let old_host = self.pairs.get(&key(r.ip, r.port)).and_then(|e| e.2);
        let host = self.pick_host(old_host, host);
        match self.pairs.entry(key(r.ip, r.port)) {
            Entry::Vacant(v) => {
                v.insert((r, at, host));
            }
            Entry::Occupied(mut o) => {
                let (old, old_at, _) = *o.get();
                o.get_mut().2 = host;
                if old == r {
                    self.identical += 1;
                    return;
                }
                let keep_new = replaces(&r, &old);
                if old.state() == r.state() {
                    self.detail_conflicts += 1;
                } else {
                    self.state_conflicts += 1;
                    if self.examples.len() < EXAMPLES {
                        let (win, win_at, lose, lose_at) = if keep_new {
                            (r, at, old, old_at)
                        } else {
                            (old, old_at, r, at)
                        };
                        self.examples.push(format!(
                            "{} {} ({}) over {} ({})",
                            endpoint(r.ip, r.port),
                            win.state(),
                            place(&self.files, win_at),
                            lose.state(),
                            place(&self.files, lose_at)
                        ));
                    }
                }
                if keep_new {
                    o.insert((r, at, host));
                }
            }
        }
    }

    /// Distinct pairs kept.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The kept records in output order, each with the name typed for its address.
    pub fn records(&self) -> impl Iterator<Item = (&Record, Option<&str>)> {
        self.pairs.values().map(|(r, _, host)| {
            let name = host.and_then(|i| self.hosts.get(i as usize)).map(|n| &**n);
            (r, name)
        })
    }

    /// The format every file was in, if they agree (empty files agree with anything).
    pub fn common_kind(&self) -> Option<Kind> {
        let kinds: BTreeSet<u8> = self
            .files
            .iter()
            .filter_map(|f| f.kind)
            .map(|k| k as u8)
            .collect();
        match kinds.iter().copied().collect::<Vec<_>>().as_slice() {
            [k] if *k == Kind::Csv as u8 => Some(Kind::Csv),
            [_] => Some(Kind::Jsonl),
            _ => None,
        }
    }

    /// The stderr lines about duplicates and conflicts (none when every pair was seen once).
    pub fn conflict_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.state_conflicts > 0 {
            out.push(format!(
                "{} pairs have different states in different files: kept open over closed over filtered, e.g. {}",
                self.state_conflicts,
                self.examples.join("; ")
            ));
        }
        if self.detail_conflicts > 0 {
            out.push(format!(
                "{} pairs have the same state but another reason, ttl or rtt in different files: \
                 kept an answer over no response, then the first by (reason, ttl, rtt)",
                self.detail_conflicts
            ));
        }
        if self.identical > 0 {
            out.push(format!(
                "{} rows repeated a row of another file (or the same one) exactly: kept once",
                self.identical
            ));
        }
        out
    }
}

/// One scan's shards among the files.
#[derive(Debug, Default)]
struct Scan {
    header: Option<Header>,
    counts: BTreeSet<u64>,
    /// shard index -> the files that hold it.
    shards: BTreeMap<u64, BTreeSet<String>>,
    files: BTreeSet<String>,
}

fn list(v: impl IntoIterator<Item = u64>) -> String {
    v.into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// What the headers say: one line per scan with the shards present and missing, a note per
/// file without a header, a note per shard found in more than one file. Files of different
/// scans (or of one scan cut into different numbers of shards) are refused unless `force`.
pub fn account(files: &[FileInfo], force: bool) -> Result<Vec<String>, MergeError> {
    let mut scans: BTreeMap<String, Scan> = BTreeMap::new();
    let mut notes = Vec::new();
    for f in files {
        if f.headers.is_empty() {
            notes.push(format!(
                "{}: no header record: merged, counted in no shard",
                f.name
            ));
        }
        for h in &f.headers {
            let s = scans.entry(h.scan_id.clone()).or_default();
            s.header.get_or_insert_with(|| h.clone());
            s.counts.insert(h.shard.1);
            s.shards
                .entry(h.shard.0)
                .or_default()
                .insert(f.name.clone());
            s.files.insert(f.name.clone());
        }
    }
    let mixed_counts = scans.values().any(|s| s.counts.len() > 1);
    if (scans.len() > 1 || mixed_counts) && !force {
        let groups: Vec<String> = scans
            .iter()
            .map(|(id, s)| {
                format!(
                    "scan {id} of {} shards: {}",
                    list(s.counts.iter().copied()),
                    s.files.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect();
        let what = if scans.len() > 1 {
            "files of different scans"
        } else {
            "files of one scan cut into different numbers of shards"
        };
        return Err(MergeError::Mixed(format!(
            "{what} ({}); --force merges them anyway",
            groups.join("; ")
        )));
    }
    for (id, s) in &scans {
        let h = s.header.as_ref().expect("a scan is made from a header");
        for n in &s.counts {
            let present: Vec<u64> = s.shards.keys().copied().filter(|i| i <= n).collect();
            let missing: Vec<u64> = (1..=*n).filter(|i| !s.shards.contains_key(i)).collect();
            let missing = if missing.is_empty() {
                "none missing".to_string()
            } else {
                format!("missing: {}", list(missing))
            };
            notes.push(format!(
                "scan {id} (seed {}, targets {}, ports {}): shards present: {} of {n}; {missing}",
                h.seed,
                h.targets,
                h.ports,
                list(present)
            ));
        }
        for (i, names) in &s.shards {
            if names.len() > 1 {
                notes.push(format!(
                    "shard {i} of scan {id} is in {} files ({}): merged",
                    names.len(),
                    names.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Unreachable;

    fn header(id: &str, i: u64, n: u64) -> String {
        Header {
            version: "0.1.0".into(),
            scan_id: id.into(),
            seed: 7,
            shard: (i, n),
            targets: "198.18.0.0/24".into(),
            ports: "80".into(),
            started: "2026-12-03T09:41:07Z".into(),
        }
        .render()
    }

    fn row(ip: &str, port: u16, state: &str, reason: &str) -> String {
        format!(
            r#"{{"ip":"{ip}","port":{port},"state":"{state}","reason":"{reason}","ttl":null,"rtt_ms":null}}"#
        )
    }

    fn merge(files: &[(&str, String)]) -> Merger {
        let mut m = Merger::new();
        for (name, text) in files {
            m.read(name, text.as_bytes()).unwrap();
        }
        m
    }

    fn kept(m: &Merger) -> Vec<String> {
        m.records()
            .map(|(r, host)| match host {
                Some(h) => format!("{} {} {h}", endpoint(r.ip, r.port), r.reason),
                None => format!("{} {}", endpoint(r.ip, r.port), r.reason),
            })
            .collect()
    }

    #[test]
    fn order_is_numeric_ipv4_first_then_port() {
        let text = [
            row("2001:db8::10", 80, "open", "syn-ack"),
            row("2001:db8::9", 80, "open", "syn-ack"),
            row("198.18.0.10", 80, "open", "syn-ack"),
            row("198.18.0.9", 443, "open", "syn-ack"),
            row("198.18.0.9", 80, "closed", "rst"),
            row("10.0.0.1", 22, "open", "syn-ack"),
        ]
        .join("\n");
        let m = merge(&[("a", text)]);
        assert_eq!(
            kept(&m),
            [
                "10.0.0.1:22 syn-ack",
                "198.18.0.9:80 rst",
                "198.18.0.9:443 syn-ack",
                "198.18.0.10:80 syn-ack",
                "[2001:db8::9]:80 syn-ack",
                "[2001:db8::10]:80 syn-ack",
            ]
        );
    }

    #[test]
    fn conflicts_open_beats_closed_beats_filtered_whatever_the_file_order() {
        let a = [
            row("198.18.0.1", 80, "filtered", "no-response"),
            row("198.18.0.2", 80, "closed", "rst"),
            row("198.18.0.3", 80, "filtered", "no-response"),
            row("198.18.0.4", 80, "open", "syn-ack"),
        ]
        .join("\n");
        let b = [
            row("198.18.0.1", 80, "open", "syn-ack"),
            row("198.18.0.2", 80, "filtered", "no-response"),
            row("198.18.0.3", 80, "filtered", "icmp-port-unreachable"),
            row("198.18.0.4", 80, "open", "syn-ack"),
        ]
        .join("\n");
        let want = [
            "198.18.0.1:80 syn-ack",
            "198.18.0.2:80 rst",
            "198.18.0.3:80 icmp-port-unreachable",
            "198.18.0.4:80 syn-ack",
        ];
        let ab = merge(&[("a", a.clone()), ("b", b.clone())]);
        let ba = merge(&[("b", b), ("a", a)]);
        assert_eq!(kept(&ab), want);
        assert_eq!(kept(&ba), want);
        assert_eq!(
            (ab.state_conflicts, ab.detail_conflicts, ab.identical),
            (2, 1, 1)
        );
        let lines = ab.conflict_lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(
            lines[0],
            "2 pairs have different states in different files: kept open over closed over filtered, \
             e.g. 198.18.0.1:80 open (b:1) over filtered (a:1); 198.18.0.2:80 closed (a:2) over filtered (b:2)"
        );
    }

    fn named(ip: &str, port: u16, state: &str, reason: &str, host: &str) -> String {
        let r = row(ip, port, state, reason);
        format!("{},\"host\":\"{host}\"}}", &r[..r.len() - 1])
    }

    #[test]
    fn host_names_are_kept_whichever_record_wins_and_whatever_the_order() {
        let a = [
            named("198.18.0.1", 80, "open", "syn-ack", "web-1"),
            named("198.18.0.1", 443, "closed", "rst", "web-1"),
            named("198.18.0.2", 80, "open", "syn-ack", "zeta"),
            row("198.18.0.3", 80, "open", "syn-ack"),
        ]
        .join("\n");
        let b = [
            // Same verdict, no name: identical, and the name stays.
            row("198.18.0.1", 80, "open", "syn-ack"),
            // A stronger record without a name: it wins, the name stays.
            row("198.18.0.1", 443, "open", "syn-ack"),
            // Another name for the address: the first in byte order is kept.
            named("198.18.0.2", 80, "open", "syn-ack", "alpha"),
            // A name where the other file had none.
            named("198.18.0.3", 80, "filtered", "no-response", "db-1"),
        ]
        .join("\n");
        let want = [
            "198.18.0.1:80 syn-ack web-1",
            "198.18.0.1:443 syn-ack web-1",
            "198.18.0.2:80 syn-ack alpha",
            "198.18.0.3:80 syn-ack db-1",
        ];
        let ab = merge(&[("a", a.clone()), ("b", b.clone())]);
        let ba = merge(&[("b", b), ("a", a)]);
        assert_eq!(kept(&ab), want);
        assert_eq!(kept(&ba), want);
        // Names are not verdicts: only the 443 and .3 pairs conflict.
        assert_eq!(
            (ab.state_conflicts, ab.detail_conflicts, ab.identical),
            (2, 0, 2)
        );
        assert_eq!(ab.hosts.len(), 4, "each distinct name stored once");
    }

    #[test]
    fn equal_strength_ties_go_the_same_way_both_orders() {
        let x = Record {
            ip: "198.18.0.1".parse().unwrap(),
            port: 80,
            reason: Reason::SynAck,
            ttl: Some(64),
            rtt_us: Some(500),
        };
        let y = Record {
            rtt_us: Some(400),
            ..x
        };
        let z = Record {
            reason: Reason::Syn,
            ..x
        };
        for (a, b) in [(x, y), (x, z), (y, z)] {
            assert_ne!(replaces(&a, &b), replaces(&b, &a), "{a:?} {b:?}");
        }
        let icmp = Record {
            reason: Reason::Icmp(Unreachable::Host),
            ..x
        };
        let silent = Record {
            reason: Reason::NoResponse,
            ttl: None,
            rtt_us: None,
            ..x
        };
        assert!(replaces(&icmp, &silent) && !replaces(&silent, &icmp));
    }

    #[test]
    fn csv_and_jsonl_mix_and_each_file_is_detected() {
        let csv = format!(
            "{}\n198.18.0.2,80,closed,rst,64,0.100\n",
            record::CSV_HEADER
        );
        let jsonl = format!(
            "{}\n{}\n",
            header("abc", 1, 2),
            row("198.18.0.1", 80, "open", "syn-ack")
        );
        let m = merge(&[("x.csv", csv), ("y.jsonl", jsonl), ("empty", String::new())]);
        assert_eq!(kept(&m), ["198.18.0.1:80 syn-ack", "198.18.0.2:80 rst"]);
        assert_eq!(m.files[0].kind, Some(Kind::Csv));
        assert_eq!(m.files[1].kind, Some(Kind::Jsonl));
        assert_eq!(m.files[2].kind, None);
        assert_eq!(m.common_kind(), None);
        assert_eq!(m.files[1].headers.len(), 1);
    }

    #[test]
    fn garbage_names_file_and_line() {
        let text = format!(
            "{}\n{}\n\n{{\"ip\":\"198.18.0.1\",\"port\":80,\"state\":\"open\"\n",
            header("abc", 1, 2),
            row("198.18.0.1", 80, "open", "syn-ack")
        );
        let mut m = Merger::new();
        let e = m.read("s1.jsonl", text.as_bytes()).unwrap_err();
        assert!(e.to_string().starts_with("s1.jsonl:4: "), "{e}");
        let e = Merger::new()
            .read("t.txt", "\n198.18.0.1:80 open syn-ack\n".as_bytes())
            .unwrap_err();
        assert!(
            e.to_string().starts_with("t.txt:2: neither JSON Lines"),
            "{e}"
        );
        let e = Merger::new()
            .read("bin", &[b'{', 0xff, 0xfe, b'\n'][..])
            .unwrap_err();
        assert!(e.to_string().starts_with("bin:1: unreadable"), "{e}");
        let long = format!("{{\"x\":\"{}\"}}\n", "a".repeat(MAX_LINE as usize));
        let e = Merger::new().read("long", long.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    fn info(name: &str, headers: &[(&str, u64, u64)]) -> FileInfo {
        FileInfo {
            name: name.into(),
            kind: Some(Kind::Jsonl),
            headers: headers
                .iter()
                .map(|(id, i, n)| {
                    let v: serde_json::Value = serde_json::from_str(&header(id, *i, *n)).unwrap();
                    Header::from_object(v.as_object().unwrap()).unwrap()
                })
                .collect(),
            results: 0,
        }
    }

    #[test]
    fn shards_present_and_missing() {
        let files = [
            info("s1", &[("abc", 1, 4)]),
            info("s2", &[("abc", 2, 4)]),
            info("s4", &[("abc", 4, 4)]),
        ];
        assert_eq!(
            account(&files, false).unwrap(),
            [
                "scan abc (seed 7, targets 198.18.0.0/24, ports 80): shards present: 1,2,4 of 4; missing: 3"
            ]
        );
        let all = [
            info("s1", &[("abc", 1, 2)]),
            info("s2", &[("abc", 2, 2)]),
            info("s2-resumed", &[("abc", 2, 2)]),
            info("plain.csv", &[]),
        ];
        assert_eq!(
            account(&all, false).unwrap(),
            [
                "plain.csv: no header record: merged, counted in no shard",
                "scan abc (seed 7, targets 198.18.0.0/24, ports 80): shards present: 1,2 of 2; none missing",
                "shard 2 of scan abc is in 2 files (s2, s2-resumed): merged",
            ]
        );
    }

    #[test]
    fn different_scans_are_refused_unless_forced() {
        let files = [
            info("a", &[("abc", 1, 2)]),
            info("b", &[("abc", 2, 2)]),
            info("c", &[("def", 1, 2)]),
        ];
        let e = account(&files, false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "files of different scans (scan abc of 2 shards: a, b; scan def of 2 shards: c); --force merges them anyway"
        );
        let notes = account(&files, true).unwrap();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[1].ends_with("shards present: 1 of 2; missing: 2"),
            "{notes:?}"
        );
        let counts = [info("a", &[("abc", 1, 2)]), info("b", &[("abc", 2, 4)])];
        let e = account(&counts, false).unwrap_err().to_string();
        assert!(e.starts_with("files of one scan cut into different numbers of shards (scan abc of 2,4 shards: a, b)"), "{e}");
    }
}
