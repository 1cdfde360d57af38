//! How much memory the kernel says a new allocation can have (MemAvailable), so that a scan
//! whose per-pair bitmap cannot fit is refused up front instead of dying in the allocator.

/// MemAvailable in bytes, from /proc/meminfo; `None` if it cannot be read.
pub fn mem_available() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn parse_mem_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib.checked_mul(1024)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available_in_bytes() {
        let text = "MemTotal:       24598044 kB\nMemFree:        22000000 kB\nMemAvailable:   22290432 kB\n";
        assert_eq!(parse_mem_available(text), Some(22_290_432 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
        assert!(mem_available().is_some_and(|b| b > 0));
    }
}
