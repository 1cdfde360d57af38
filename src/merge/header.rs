//! The header record `scan --header` writes first in its JSON Lines output, and `merge`
//! reads back: which scan (an id derived from what it probes and its seed), which shard
//! of how many, when it started.

use std::hash::Hasher;

use serde_json::{Map, Value};
use siphasher::sip::SipHasher13;

use crate::target::PairSpace;

/// The `synprobe` key's value that marks a header record.
pub const MARK: &str = "header";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: String,
    /// 16 hex digits: the same for every shard of one scan, different for other scans.
    pub scan_id: String,
    pub seed: u64,
    /// 1-based shard index and shard count, as `--shard I/N` said (1/1 when unsharded).
    pub shard: (u64, u64),
    /// The targets and ports as the command line gave them (for people; not compared).
    pub targets: String,
    pub ports: String,
    /// UTC start time, `2026-12-03T09:41:07Z`.
    pub started: String,
}

/// The scan id: SipHash of the scanned address ranges (after excludes and reserved blocks),
/// the ports in order and the seed. How the targets were spelled does not matter; what is
/// probed, and in which order, does. The key is fixed so that every machine agrees.
pub fn scan_id(space: &PairSpace, seed: u64) -> String {
    let mut h = SipHasher13::new_with_keys(0x7379_6e70_726f_6265, 0x7363_616e_2d69_6431);
    h.write(b"synprobe scan id v1");
    for r in space.targets.ranges() {
        for ip in [r.first(), r.last()] {
            match ip {
                std::net::IpAddr::V4(a) => {
                    h.write_u8(4);
                    h.write(&a.octets());
                }
                std::net::IpAddr::V6(a) => {
                    h.write_u8(6);
                    h.write(&a.octets());
                }
            }
        }
    }
    h.write_u8(0xff);
    for i in 0..space.ports.len() {
        h.write_u16(space.ports.at(i));
    }
    h.write_u8(0xff);
    h.write_u64(seed);
    format!("{:016x}", h.finish())
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), without a date crate:
/// Howard Hinnant's days-to-civil.
pub fn utc(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A JSON string literal (quotes and escapes) for user text such as target specs.
fn json_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

impl Header {
    /// One JSON object, keys in a fixed order, `synprobe` first so a reader can tell it
    /// from a result at a glance.
    pub fn render(&self) -> String {
        format!(
            "{{\"synprobe\":\"{MARK}\",\"version\":{},\"scan_id\":{},\"seed\":{},\"shard\":[{},{}],\"targets\":{},\"ports\":{},\"started\":{}}}",
            json_str(&self.version),
            json_str(&self.scan_id),
            self.seed,
            self.shard.0,
            self.shard.1,
            json_str(&self.targets),
            json_str(&self.ports),
            json_str(&self.started),
        )
    }

    /// The header in a parsed object whose `synprobe` key is `header`; the error says which
    /// field is missing or wrong.
    pub fn from_object(obj: &Map<String, Value>) -> Result<Header, String> {
        let text = |k: &str| -> Result<String, String> {
            match obj.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                None => Ok(String::new()),
                Some(_) => Err(format!("header field '{k}' is not a string")),
            }
        };
        let scan_id = text("scan_id")?;
        if scan_id.is_empty() {
            return Err("header without a scan_id".into());
        }
        let seed = obj
            .get("seed")
            .and_then(Value::as_u64)
            .ok_or("header field 'seed' is not a number")?;
        let shard = match obj
            .get("shard")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([i, n]) => match (i.as_u64(), n.as_u64()) {
                (Some(i), Some(n)) if 1 <= i && i <= n => (i, n),
                _ => return Err("header field 'shard' is not [I,N] with 1 <= I <= N".into()),
            },
            _ => return Err("header field 'shard' is not [I,N]".into()),
        };
        Ok(Header {
            version: text("version")?,
            scan_id,
            seed,
            shard,
            targets: text("targets")?,
            ports: text("ports")?,
            started: text("started")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{PortList, TargetSet};

    fn space(targets: &[&str], excludes: &[&str], ports: &str) -> PairSpace {
        let t: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        let x: Vec<String> = excludes.iter().map(|s| s.to_string()).collect();
        PairSpace::new(
            TargetSet::parse(&t, &x).unwrap(),
            PortList::parse(ports).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn scan_id_follows_what_is_probed_not_how_it_is_spelled() {
        let a = scan_id(&space(&["198.18.0.0/24"], &[], "80,81"), 7);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        // Same pairs, other spelling: same id.
        assert_eq!(
            a,
            scan_id(&space(&["198.18.0.0-198.18.0.255"], &[], "80-81"), 7)
        );
        // Another seed, port, target or exclude: another id.
        let others = [
            scan_id(&space(&["198.18.0.0/24"], &[], "80,81"), 8),
            scan_id(&space(&["198.18.0.0/24"], &[], "80,82"), 7),
            scan_id(&space(&["198.18.0.0/24"], &[], "80"), 7),
            scan_id(&space(&["198.18.0.0/23"], &[], "80,81"), 7),
            scan_id(&space(&["198.18.0.0/24"], &["198.18.0.9"], "80,81"), 7),
        ];
        for o in others {
            assert_ne!(a, o);
        }
    }

    #[test]
    fn scan_id_is_the_same_on_every_build() {
        // Shards scanned by different builds must still match; README quotes this one.
        assert_eq!(
            scan_id(&space(&["198.18.0.0/16"], &[], "80"), 7),
            "a0b9d244a989f5b2"
        );
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_290_867), "2026-12-03T09:41:07Z");
        assert_eq!(utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn header_round_trips_and_escapes_user_text() {
        let h = Header {
            version: "0.1.0".into(),
            scan_id: "00112233aabbccdd".into(),
            seed: u64::MAX,
            shard: (2, 4),
            targets: "@\"odd\" file.txt 198.18.0.0/16".into(),
            ports: "80,443".into(),
            started: utc(0),
        };
        let line = h.render();
        assert!(line.starts_with(r#"{"synprobe":"header","version":"0.1.0","scan_id":"00112233aabbccdd","seed":18446744073709551615,"shard":[2,4],"targets":"@\"odd\" file.txt"#), "{line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(Header::from_object(v.as_object().unwrap()), Ok(h));
    }

    #[test]
    fn bad_headers_say_which_field() {
        let parse = |s: &str| {
            let v: Value = serde_json::from_str(s).unwrap();
            Header::from_object(v.as_object().unwrap())
        };
        assert!(
            parse(r#"{"synprobe":"header","seed":1,"shard":[1,2]}"#)
                .unwrap_err()
                .contains("scan_id")
        );
        assert!(
            parse(r#"{"synprobe":"header","scan_id":"a","seed":-1,"shard":[1,2]}"#)
                .unwrap_err()
                .contains("seed")
        );
        assert!(
            parse(r#"{"synprobe":"header","scan_id":"a","seed":1,"shard":[3,2]}"#)
                .unwrap_err()
                .contains("shard")
        );
        assert!(
            parse(r#"{"synprobe":"header","scan_id":"a","seed":1,"shard":[0,2]}"#)
                .unwrap_err()
                .contains("shard")
        );
        assert!(
            parse(r#"{"synprobe":"header","scan_id":"a","seed":1}"#)
                .unwrap_err()
                .contains("shard")
        );
        assert!(
            parse(r#"{"synprobe":"header","scan_id":7,"seed":1,"shard":[1,1]}"#)
                .unwrap_err()
                .contains("scan_id")
        );
    }
}
