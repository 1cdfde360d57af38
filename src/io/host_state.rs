//! What synprobe changed on the host, written down before the change, so that a run killed
//! by SIGKILL (no handler, no Drop) is undone by the next run. One small text file per
//! network namespace (the sysctls of `lo` are per namespace), named by the namespace's
//! inode, in a root-only directory: /run is a tmpfs, so a reboot, which resets the sysctls,
//! forgets the file too.
//!
//! Every directory and file is a parameter, so the tests run without root in a temp dir.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

/// Where a real run keeps its records.
pub const STATE_DIR: &str = "/run/synprobe";

const HEADER: &str = "synprobe host state v1";

/// One setting to put back: `net.ipv4.conf.<dev>.<name>` and its value before the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub dev: String,
    pub name: String,
    pub value: String,
}

/// A run's record: who changed the settings, and what they were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub pid: u32,
    /// The writer's start time (field 22 of /proc/PID/stat), so a recycled pid is not
    /// taken for the writer.
    pub start: u64,
    pub saved: Vec<Saved>,
}

/// A device or setting name: only these characters, so a record can only ever name a
/// file directly under net/ipv4/conf/<dev>/.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A sysctl integer as the kernel prints it.
fn integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit())
}

impl Record {
    pub fn to_text(&self) -> String {
        let mut t = format!("{HEADER}\npid {} start {}\n", self.pid, self.start);
        for s in &self.saved {
            t.push_str(&format!("conf {} {} {}\n", s.dev, s.name, s.value));
        }
        t
    }

    /// `None` for anything that is not exactly what `to_text` writes.
    pub fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        if lines.next()? != HEADER {
            return None;
        }
        let owner: Vec<&str> = lines.next()?.split(' ').collect();
        let (pid, start) = match owner.as_slice() {
            ["pid", pid, "start", start] => (pid.parse().ok()?, start.parse().ok()?),
            _ => return None,
        };
        let saved = lines
            .map(|l| match l.split(' ').collect::<Vec<_>>().as_slice() {
                ["conf", dev, name, value] if plain(dev) && plain(name) && integer(value) => {
                    Some(Saved {
                        dev: dev.to_string(),
                        name: name.to_string(),
                        value: value.to_string(),
                    })
                }
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Record { pid, start, saved })
    }

    /// "lo route_localnet=0, lo accept_local=0"
    pub fn settings(&self) -> String {
        self.saved
            .iter()
            .map(|s| format!("{} {}={}", s.dev, s.name, s.value))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// (state, start time) from the text of /proc/PID/stat. The command name in field 2 may
/// hold spaces and parentheses, so the fields are counted from its last ')'.
pub fn stat_fields(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is the state, so field 22 (starttime) is the 20th after the name.
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the writer of a record still runs, from its /proc/PID/stat (`None`: no such
/// process). A zombie has ended; a different start time is another process on a reused
/// pid; a stat that cannot be read is taken as alive, so nothing is undone on a guess.
pub fn writer_alive(start: u64, stat: Option<&str>) -> bool {
    match stat.map(stat_fields) {
        None => false,
        Some(None) => true,
        Some(Some((state, s))) => s == start && !matches!(state, 'Z' | 'X'),
    }
}

/// What was found in a namespace's record slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Nothing,
    /// Another synprobe that still runs wrote it: its changes are its own to put back.
    Live(u32),
    /// Its writer is gone: the saved values were written back and the file removed.
    Restored(Record),
    /// Not a record (it cannot have been acted on): removed.
    Unreadable,
}

/// The directories a run reads and writes. Real runs use `Host::real()`.
#[derive(Clone, Debug)]
pub struct Host {
    /// Records, one per namespace.
    pub state_dir: PathBuf,
    /// net/ipv4/conf of this namespace.
    pub conf: PathBuf,
    /// For /proc/PID/stat of the writers.
    pub proc: PathBuf,
    /// This namespace's key (the inode of /proc/self/ns/net).
    pub netns: u64,
}

/// An exclusive lock on the state directory: one synprobe at a time looks at, restores or
/// writes records, so two runs never both restore a stale one, nor read a half-written one.
pub struct DirLock {
    _held: File,
}

impl Host {
    /// The real directories; the namespace key is `None` when /proc cannot tell it.
    pub fn real() -> io::Result<Host> {
        Ok(Host {
            state_dir: PathBuf::from(STATE_DIR),
            conf: PathBuf::from("/proc/sys/net/ipv4/conf"),
            proc: PathBuf::from("/proc"),
            netns: fs::metadata("/proc/self/ns/net")?.ino(),
        })
    }

    pub fn record_path(&self) -> PathBuf {
        self.state_dir.join(format!("netns-{}.state", self.netns))
    }

    pub fn setting_path(&self, dev: &str, name: &str) -> PathBuf {
        self.conf.join(dev).join(name)
    }

    /// Creates the directory (0700) when missing and locks it. A directory that others can
    /// write to, or a symlink, is refused: its records could not be trusted.
    pub fn lock(&self) -> io::Result<DirLock> {
        match fs::DirBuilder::new().mode(0o700).create(&self.state_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let m = fs::symlink_metadata(&self.state_dir)?;
        if !m.is_dir() || m.permissions().mode() & 0o022 != 0 {
            return Err(io::Error::other(format!(
                "{} is not a directory only its owner can write to",
                self.state_dir.display()
            )));
        }
        let f = File::open(&self.state_dir)?;
        f.lock()?;
        Ok(DirLock { _held: f })
    }

    /// This namespace's record, read under the lock.
    pub fn read(&self, _lock: &DirLock) -> io::Result<Option<String>> {
        match fs::read_to_string(self.record_path()) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Write the record whole (to a temporary name, synced, then renamed over), so it is
    /// either there complete or not at all, before any setting changes.
    pub fn write(&self, _lock: &DirLock, rec: &Record) -> io::Result<PathBuf> {
        let path = self.record_path();
        let tmp = self.state_dir.join(format!("netns-{}.tmp", self.netns));
        let mut f = File::create(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(rec.to_text().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        Ok(path)
    }

    /// The /proc/PID/stat text of `pid`, `None` when there is no such process.
    fn stat_of(&self, pid: u32) -> Option<String> {
        fs::read_to_string(self.proc.join(pid.to_string()).join("stat")).ok()
    }

    /// Put a record's values back.
    pub fn restore(&self, rec: &Record) -> io::Result<()> {
        for s in &rec.saved {
            fs::write(self.setting_path(&s.dev, &s.name), &s.value)?;
        }
        Ok(())
    }

    /// Under the lock: a record whose writer is gone is restored and removed.
    pub fn reclaim(&self, lock: &DirLock) -> io::Result<Found> {
        let Some(text) = self.read(lock)? else {
            return Ok(Found::Nothing);
        };
        let Some(rec) = Record::parse(&text) else {
            fs::remove_file(self.record_path())?;
            return Ok(Found::Unreadable);
        };
        if writer_alive(rec.start, self.stat_of(rec.pid).as_deref()) {
            return Ok(Found::Live(rec.pid));
        }
        self.restore(&rec)?;
        fs::remove_file(self.record_path())?;
        Ok(Found::Restored(rec))
    }

    /// Whether a record may exist; false also when the directory cannot be looked into
    /// (an unprivileged user), so a run that changes nothing does not need it.
    pub fn record_exists(&self) -> bool {
        self.record_path().exists()
    }
}

/// This process's start time, for its own record.
pub fn own_start() -> io::Result<u64> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    stat_fields(&stat)
        .map(|(_, s)| s)
        .ok_or_else(|| io::Error::other("unreadable /proc/self/stat"))
}

/// The one line a run says when it restored what an earlier one left.
pub fn restored_notice(rec: &Record) -> String {
    format!(
        "restored {} in this network namespace, left changed by synprobe pid {}, which ended without restoring them",
        rec.settings(),
        rec.pid
    )
}

/// A temp dir that removes itself (unit tests here and in loopback.rs).
#[cfg(test)]
pub(crate) struct TempDir(pub PathBuf);

#[cfg(test)]
impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("synprobe-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// A Host whose conf has lo/route_localnet and lo/accept_local, and whose proc holds
    /// no process.
    pub fn host(&self) -> Host {
        let h = Host {
            state_dir: self.0.join("run"),
            conf: self.0.join("conf"),
            proc: self.0.join("proc"),
            netns: 4026531840,
        };
        for dev in ["lo", "all"] {
            fs::create_dir_all(h.conf.join(dev)).unwrap();
            for name in ["route_localnet", "accept_local"] {
                fs::write(h.setting_path(dev, name), "0\n").unwrap();
            }
        }
        fs::create_dir_all(&h.proc).unwrap();
        h
    }
}

#[cfg(test)]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            pid: 4242,
            start: 987654,
            saved: vec![
                Saved {
                    dev: "lo".into(),
                    name: "route_localnet".into(),
                    value: "0".into(),
                },
                Saved {
                    dev: "lo".into(),
                    name: "accept_local".into(),
                    value: "-1".into(),
                },
            ],
        }
    }

    /// A /proc/PID/stat line with a command name that holds spaces and parentheses.
    fn stat(state: char, start: u64) -> String {
        format!(
            "4242 (syn (probe) x) {state} 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 {start} 1000 200 18446744073709551615"
        )
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let r = record();
        let text = r.to_text();
        assert_eq!(
            text,
            "synprobe host state v1\npid 4242 start 987654\nconf lo route_localnet 0\nconf lo accept_local -1\n"
        );
        assert_eq!(Record::parse(&text), Some(r));
        let empty = Record {
            saved: Vec::new(),
            ..record()
        };
        assert_eq!(Record::parse(&empty.to_text()), Some(empty));
    }

    #[test]
    fn anything_but_a_record_is_refused() {
        let good = record().to_text();
        for bad in [
            String::new(),
            "synprobe host state v2\npid 1 start 2\n".to_string(),
            "synprobe host state v1\n".to_string(),
            "synprobe host state v1\npid x start 2\n".to_string(),
            good.replace("route_localnet", "../../../etc/passwd"),
            good.replace("conf lo", "conf l/o"),
            good.replace(" 0\n", " 0 1\n"),
            good.replace(" 0\n", " zero\n"),
            good.replace(" 0\n", " 12345678901\n"),
            good.replace("conf lo route_localnet", "set lo route_localnet"),
            format!("{good}\n"),
        ] {
            assert_eq!(Record::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(stat_fields(&stat('S', 987654)), Some(('S', 987654)));
        assert_eq!(stat_fields("4242 (x) S 1 2"), None);
        assert_eq!(stat_fields("no parenthesis"), None);
        assert_eq!(stat_fields(""), None);
    }

    #[test]
    fn only_the_same_living_process_is_the_writer() {
        assert!(writer_alive(987654, Some(&stat('S', 987654))));
        assert!(writer_alive(987654, Some(&stat('R', 987654))));
        // Gone, reaped or not.
        assert!(!writer_alive(987654, None));
        assert!(!writer_alive(987654, Some(&stat('Z', 987654))));
        // The pid now belongs to another process.
        assert!(!writer_alive(987654, Some(&stat('S', 987655))));
        // Unreadable: leave it alone.
        assert!(writer_alive(987654, Some("garbage")));
    }

    #[test]
    fn a_record_left_by_a_process_that_is_gone_is_restored_and_removed() {
        let t = TempDir::new("reclaim");
        let h = t.host();
        let lock = h.lock().unwrap();
        assert_eq!(h.reclaim(&lock).unwrap(), Found::Nothing);
        let rec = record();
        let path = h.write(&lock, &rec).unwrap();
        assert_eq!(path, h.record_path());
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&h.state_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        for name in ["route_localnet", "accept_local"] {
            fs::write(h.setting_path("lo", name), "1").unwrap();
        }
        assert_eq!(h.reclaim(&lock).unwrap(), Found::Restored(rec.clone()));
        let read = |n| fs::read_to_string(h.setting_path("lo", n)).unwrap();
        assert_eq!(read("route_localnet"), "0");
        assert_eq!(read("accept_local"), "-1");
        assert!(!h.record_exists());
        assert_eq!(
            restored_notice(&rec),
            "restored lo route_localnet=0, lo accept_local=-1 in this network namespace, left changed by synprobe pid 4242, which ended without restoring them"
        );
    }

    #[test]
    fn a_record_of_a_living_writer_is_left_alone() {
        let t = TempDir::new("live");
        let h = t.host();
        let lock = h.lock().unwrap();
        h.write(&lock, &record()).unwrap();
        fs::create_dir_all(h.proc.join("4242")).unwrap();
        fs::write(h.proc.join("4242/stat"), stat('S', 987654)).unwrap();
        fs::write(h.setting_path("lo", "route_localnet"), "1").unwrap();
        assert_eq!(h.reclaim(&lock).unwrap(), Found::Live(4242));
        assert!(h.record_exists());
        assert_eq!(
            fs::read_to_string(h.setting_path("lo", "route_localnet")).unwrap(),
            "1"
        );
        // The same pid, now another process: the writer is gone.
        fs::write(h.proc.join("4242/stat"), stat('S', 1)).unwrap();
        assert!(matches!(h.reclaim(&lock).unwrap(), Found::Restored(_)));
    }

    #[test]
    fn an_unreadable_record_is_removed_without_touching_a_setting() {
        let t = TempDir::new("garbage");
        let h = t.host();
        let lock = h.lock().unwrap();
        fs::write(h.record_path(), "conf lo route_localnet 5\n").unwrap();
        assert_eq!(h.reclaim(&lock).unwrap(), Found::Unreadable);
        assert!(!h.record_exists());
        assert_eq!(
            fs::read_to_string(h.setting_path("lo", "route_localnet")).unwrap(),
            "0\n"
        );
    }

    #[test]
    fn a_state_directory_others_can_write_to_is_refused() {
        let t = TempDir::new("perm");
        let h = t.host();
        fs::create_dir_all(&h.state_dir).unwrap();
        fs::set_permissions(&h.state_dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(h.lock().is_err());
    }

    #[test]
    fn own_start_matches_this_process() {
        let s = own_start().unwrap();
        let stat = fs::read_to_string(format!("/proc/{}/stat", std::process::id())).unwrap();
        assert!(writer_alive(s, Some(&stat)));
    }
}
