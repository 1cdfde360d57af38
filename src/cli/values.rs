//! Parsers for the small values on the command line (durations, rates, MACs, shards).
//! Each error is one line that names the bad value.

use std::time::Duration;

/// Longest duration taken: a year. Anything above is a typo (a unit lost, digits doubled).
const MAX_DURATION_SECS: f64 = 86_400.0 * 365.0;

/// `500ms`, `2s`, `1.5s`, `1m`, `250us`; a bare number means seconds.
pub fn duration(flag: &str, s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "invalid {flag} '{s}': a duration cannot be negative"
        ));
    }
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let bad = || format!("invalid {flag} '{s}': expected a duration like 500ms, 2s or 1m");
    let v: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "us" => v / 1e6,
        "ms" => v / 1e3,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() {
        return Err(bad());
    }
    if secs > MAX_DURATION_SECS {
        return Err(format!(
            "invalid {flag} '{s}': above the longest duration taken, a year (365 days)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A duration as a person would write it back: `2s`, `500ms`, `1.5s`.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

/// `--rate`: `max`, or a positive number of probes/s with an optional k / M suffix.
pub fn rate(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(None);
    }
    let (num, mult) = match t.chars().last() {
        Some('k') | Some('K') => (&t[..t.len() - 1], 1e3),
        Some('m') | Some('M') => (&t[..t.len() - 1], 1e6),
        _ => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v * mult >= 1.0 && v * mult <= 1e9 => Ok(Some(v * mult)),
        Ok(_) => Err(format!(
            "invalid rate '{s}': must be between 1 and 1000000000 probes/s, or max"
        )),
        Err(_) => Err(format!(
            "invalid rate '{s}': expected probes per second (e.g. 10000, 100k) or max"
        )),
    }
}

/// `02:00:00:00:00:01` (or with dashes).
pub fn mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let bad =
        || format!("invalid MAC address '{s}': expected six hex bytes like 02:00:00:00:00:01");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(parts) {
        // from_str_radix would also take a sign: only hex digits are a MAC byte.
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        *o = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// `--shard I/N`, 1-based as masscan's `--shards`: returns the 0-based (index, count).
pub fn shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid shard '{s}': expected I/N with 1 <= I <= N, e.g. 1/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if i == 0 || n == 0 || i > n || n > 1 << 20 {
        return Err(bad());
    }
    Ok((i - 1, n))
}

/// `-o FILE`: `-` means standard output, as in every Unix tool (`None`, as without `-o`).
pub fn output_path(o: Option<String>) -> Option<String> {
    o.filter(|p| p != "-")
}

/// Most retry rounds: each re-probes what has not answered, and past a few the silent pairs
/// stay silent (a filter drops them); 20 is far past any use, and below the counts that
/// would overflow (4000000000 rounds) or never end.
pub const MAX_RETRIES: i64 = 20;

/// Most send threads: each opens a socket with its own transmit ring, and past a few per
/// core they only contend. 64 leaves room for large machines.
pub const MAX_SEND_THREADS: usize = 64;

/// `--send-threads N`: 1 to MAX_SEND_THREADS.
pub fn send_threads(n: Option<usize>) -> Result<Option<usize>, String> {
    match n {
        Some(0) => Err("invalid --send-threads '0': at least 1".into()),
        Some(n) if n > MAX_SEND_THREADS => Err(format!(
            "invalid --send-threads '{n}': at most {MAX_SEND_THREADS}"
        )),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_output_is_stdout() {
        assert_eq!(output_path(Some("-".into())), None);
        assert_eq!(output_path(None), None);
        assert_eq!(
            output_path(Some("out.jsonl".into())),
            Some("out.jsonl".into())
        );
        // A file really named "-" is still reachable as ./-.
        assert_eq!(output_path(Some("./-".into())), Some("./-".into()));
    }

    #[test]
    fn send_threads_between_1_and_the_cap() {
        assert_eq!(send_threads(None), Ok(None));
        assert_eq!(send_threads(Some(1)), Ok(Some(1)));
        assert_eq!(send_threads(Some(64)), Ok(Some(64)));
        assert!(send_threads(Some(0)).unwrap_err().contains("at least 1"));
        assert!(send_threads(Some(65)).unwrap_err().contains("at most 64"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("--wait", "500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("--wait", "2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("--wait", "1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("--wait", "1m"), Ok(Duration::from_secs(60)));
        for bad in ["", "abc", "-1s", "5 parsecs", "1e999", "9999999h", "-0"] {
            let e = duration("--wait", bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        assert_eq!(
            duration("--wait", "-1s").unwrap_err(),
            "invalid --wait '-1s': a duration cannot be negative"
        );
        assert!(
            duration("--max-runtime", "9000h")
                .unwrap_err()
                .contains("a year")
        );
        assert_eq!(
            duration("--max-runtime", "8760h"),
            Ok(Duration::from_secs(8760 * 3600))
        );
        assert_eq!(show_duration(Duration::from_secs(2)), "2s");
        assert_eq!(show_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn rates() {
        assert_eq!(rate("max"), Ok(None));
        assert_eq!(rate("10000"), Ok(Some(10000.0)));
        assert_eq!(rate("100k"), Ok(Some(100_000.0)));
        assert_eq!(rate("1.5M"), Ok(Some(1_500_000.0)));
        for bad in ["0", "-5", "abc", "", "0.5", "inf", "NaN"] {
            let e = rate(bad).unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn macs_and_shards() {
        assert_eq!(mac("02:00:00:00:00:01"), Ok([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            mac("aa-bb-cc-dd-ee-ff"),
            Ok([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
        );
        assert!(mac("02:00:00:00:00").is_err());
        assert!(mac("02:00:00:00:00:zz").is_err());
        assert!(mac("002:00:00:00:00:01").is_err());
        assert!(mac("+f:00:00:00:00:01").is_err());
        assert_eq!(shard("1/4"), Ok((0, 4)));
        assert_eq!(shard("4/4"), Ok((3, 4)));
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(shard(bad).unwrap_err().contains(bad));
        }
    }
}
