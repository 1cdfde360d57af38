//! The integration tests' one testbed helper: namespaces from scripts/testbed.sh,
//! listeners, firewall rules and the binary, all bounded in time and all torn
//! down on Drop, so a failing (panicking) test leaves no namespace behind.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How long one synprobe run may take before the harness kills it.
pub const SYNPROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one helper command (ip, iptables, ss, ...) may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn testbed_script() -> PathBuf {
    repo_root().join("scripts").join("testbed.sh")
}

/// The binary under test: the one cargo built, unless SYNPROBE_BIN names
/// another (an installed copy, or a stand-in to check the harness itself).
pub fn synprobe_bin() -> String {
    std::env::var("SYNPROBE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_synprobe").to_string())
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .any(|dir| dir.join(tool).is_file())
}

/// The name of the running test: libtest runs each test on a thread named after it.
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "?".to_string(),
    }
}

/// A test that cannot run says so where people and scripts/test.sh both see it, so it is
/// never mistaken for a pass: libtest still prints `ok` for it (a test cannot mark itself
/// ignored at run time), hence the line goes straight to the process's stderr, past
/// libtest's capture, and to the file `SYNPROBE_SKIP_LOG` names, which test.sh counts and
/// takes off its passed count. In CI a missing requirement is a failure, not a skip: a
/// green run that tested nothing would hide a broken install step.
#[track_caller]
pub fn skip(why: &str) -> bool {
    use std::io::Write;
    let at = std::panic::Location::caller();
    if std::env::var_os("CI").is_some_and(|v| v == "true") {
        panic!("cannot run in CI: {why} (scripts/test.sh should have provided it)");
    }
    let line = format!(
        "SKIPPED: {} ({}:{}): {why}\n",
        test_name(),
        at.file(),
        at.line()
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(log) = std::env::var_os("SYNPROBE_SKIP_LOG") {
        // One short append per line: whole lines even with tests on parallel threads.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
    false
}

/// True when this process runs as root. Tests that can check something without root
/// (bad input, the missing-privilege message) use it to choose how, not whether, to run.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True when this test can run: root, and the tools the testbed needs. Otherwise
/// reports it as skipped (see `skip`) and returns false so the test returns early.
#[track_caller]
pub fn require_root() -> bool {
    if !is_root() {
        return skip("needs root");
    }
    for tool in ["ip", "iptables", "ip6tables", "ncat", "ss", "setpriv"] {
        if !on_path(tool) {
            return skip(&format!(
                "needs {tool} (apt-get install iproute2 iptables ncat util-linux)"
            ));
        }
    }
    true
}

/// `require_root`, plus tools only some tests need (arptables, ...).
#[track_caller]
pub fn require_root_and(tools: &[&str]) -> bool {
    if !require_root() {
        return false;
    }
    match tools.iter().find(|t| !on_path(t)) {
        Some(tool) => skip(&format!("needs {tool}")),
        None => true,
    }
}

/// Starts `cmd` with stdin from /dev/null and stdout and stderr piped; returns the command
/// as shown in messages, and the child.
pub fn spawn_piped(cmd: &mut Command) -> (String, Child) {
    let shown = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {shown}: {e}"));
    (shown, child)
}

/// Reads `from` to its end on a thread of its own, so a chatty child never blocks on a
/// full pipe.
pub fn drain(mut from: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut v = Vec::new();
        let _ = from.read_to_end(&mut v);
        v
    })
}

/// Waits for `child` to exit; after `timeout` kills it and returns None.
pub fn wait_bounded(child: &mut Child, shown: &str, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for {shown}: {e}"),
        }
    }
}

/// Runs a command to completion, killing it after `timeout`. Output is drained
/// by threads so a chatty child (a /16 scan prints ~20 MB) never blocks.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    let (shown, mut child) = spawn_piped(cmd);
    let out_t = drain(child.stdout.take().expect("piped stdout"));
    let err_t = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_bounded(&mut child, &shown, timeout);
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "{shown} did not finish within {timeout:?}; killed.\nstderr:\n{}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Like `run_bounded`, but a non-zero exit is a harness failure.
pub fn run_ok(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let out = run_bounded(cmd, TOOL_TIMEOUT);
    if !out.status.success() {
        panic!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique testbed name: pid plus a per-process counter, short enough for
/// veth names (NAME-s must fit in 15 characters).
fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("sp{}_{}", std::process::id() % 100_000, n)
}

struct Listener {
    port: u16,
    child: Child,
}

/// A prober namespace and a target namespace joined by a veth (see
/// scripts/testbed.sh). The target answers for all of 198.18.0.0/16 and
/// 2001:db8:1::/64; the prober has no route anywhere else.
pub struct Testbed {
    pub name: String,
    pub scan_ns: String,
    pub tgt_ns: String,
    listeners: Mutex<Vec<Listener>>,
}

impl Testbed {
    /// The answering testbed (the usual one).
    pub fn up() -> Testbed {
        Self::up_mode("answer")
    }

    /// `answer`, `sink` (frames to a MAC nobody has), `discard` (one namespace whose
    /// device frees every frame) or `lo` (one namespace, only lo).
    pub fn up_mode(mode: &str) -> Testbed {
        let name = unique_name();
        let (scan_ns, tgt_ns) = if mode == "lo" || mode == "discard" {
            (format!("{name}-scan"), format!("{name}-scan"))
        } else {
            (format!("{name}-scan"), format!("{name}-tgt"))
        };
        // Built before `up` so that Drop runs `down` even if `up` fails halfway.
        let tb = Testbed {
            name,
            scan_ns,
            tgt_ns,
            listeners: Mutex::new(Vec::new()),
        };
        run_ok(Command::new(testbed_script()).args(["up", &tb.name, "--mode", mode]));
        tb
    }

    /// A fresh namespace with only lo up; prober and target are both in it.
    pub fn up_loopback() -> Testbed {
        Self::up_mode("lo")
    }

    fn ns_cmd(ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        cmd
    }

    /// Runs a command in the prober namespace (bounded; exit status not checked).
    pub fn in_scan(&self, args: &[&str]) -> Output {
        run_bounded(&mut Self::ns_cmd(&self.scan_ns, args), TOOL_TIMEOUT)
    }

    /// Runs a command in the target namespace (bounded; exit status not checked).
    pub fn in_tgt(&self, args: &[&str]) -> Output {
        run_bounded(&mut Self::ns_cmd(&self.tgt_ns, args), TOOL_TIMEOUT)
    }

    /// Bash in the prober namespace: `exec 3<>/dev/tcp/ADDR/PORT`, a kernel
    /// connect() used by the self-tests to prove the ground truth.
    pub fn kernel_connect(&self, addr: &str, port: u16, timeout_s: u32) -> Output {
        let script = format!("exec 3<>/dev/tcp/{addr}/{port}");
        self.in_scan(&["timeout", &timeout_s.to_string(), "bash", "-c", &script])
    }

    /// Starts a listener on `port` (all IPv4 and IPv6 addresses, so the whole
    /// /16 and /64) in the target namespace and waits until it is in LISTEN.
    pub fn listen(&self, port: u16) {
        self.listen_in(&self.tgt_ns, port);
    }

    /// The second target namespace of the `routes` mode (link B; see scripts/testbed.sh).
    pub fn tgt2_ns(&self) -> String {
        format!("{}-tgt2", self.name)
    }

    /// Runs a command in namespace `ns` (bounded; exit status not checked).
    pub fn in_ns(&self, ns: &str, args: &[&str]) -> Output {
        run_bounded(&mut Self::ns_cmd(ns, args), TOOL_TIMEOUT)
    }

    /// `listen`, in namespace `ns` (the `routes` mode's second target).
    pub fn listen_in(&self, ns: &str, port: u16) {
        let child = Self::ns_cmd(ns, &["ncat", "-lk", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ncat on {port}: {e}"));
        self.listeners
            .lock()
            .unwrap()
            .push(Listener { port, child });
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (v4, v6) = self.listening_in(ns, port);
            if v4 && v6 {
                return;
            }
            // ncat binds IPv4 then IPv6; take IPv4 alone if IPv6 never comes.
            if Instant::now() >= deadline {
                assert!(v4, "ncat did not reach LISTEN on port {port} within 10 s");
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// (IPv4 listener present, IPv6 listener present) on `port` in the target.
    pub fn listening(&self, port: u16) -> (bool, bool) {
        self.listening_in(&self.tgt_ns, port)
    }

    fn listening_in(&self, ns: &str, port: u16) -> (bool, bool) {
        let out = self.in_ns(ns, &["ss", "-Hltn"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let v4 = format!("0.0.0.0:{port} ");
        let v6 = format!("[::]:{port} ");
        let local_addrs: Vec<String> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(|s| format!("{s} ")))
            .collect();
        (local_addrs.contains(&v4), local_addrs.contains(&v6))
    }

    /// Stops the listener on `port` (the "web server stopped" case) and waits
    /// until nothing is in LISTEN there any more.
    pub fn stop_listener(&self, port: u16) {
        let mut ls = self.listeners.lock().unwrap();
        let mut kept = Vec::new();
        for mut l in ls.drain(..) {
            if l.port == port {
                let _ = l.child.kill();
                let _ = l.child.wait();
            } else {
                kept.push(l);
            }
        }
        *ls = kept;
        drop(ls);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.listening(port) != (false, false) {
            assert!(
                Instant::now() < deadline,
                "port {port} still in LISTEN after stop"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn iptables(ns: &str, tool: &str, args: &[&str]) {
        let mut all = vec![tool, "-w"];
        all.extend_from_slice(args);
        run_ok(&mut Self::ns_cmd(ns, &all));
    }

    pub fn iptables_tgt(&self, args: &[&str]) {
        Self::iptables(&self.tgt_ns, "iptables", args);
    }

    pub fn ip6tables_tgt(&self, args: &[&str]) {
        Self::iptables(&self.tgt_ns, "ip6tables", args);
    }

    pub fn iptables_scan(&self, args: &[&str]) {
        Self::iptables(&self.scan_ns, "iptables", args);
    }

    pub fn ip6tables_scan(&self, args: &[&str]) {
        Self::iptables(&self.scan_ns, "ip6tables", args);
    }

    /// Puts a target-less rule first in the target's INPUT chains (IPv4 and
    /// IPv6): it only counts TCP packets, and `tgt_tcp_seen` reads the count.
    pub fn count_tcp_at_tgt(&self) {
        self.count_at_tgt("synprobe-count", &["-p", "tcp"]);
    }

    /// TCP packets the target received since `count_tcp_at_tgt`.
    pub fn tgt_tcp_seen(&self) -> u64 {
        self.counted_at_tgt("synprobe-count")
    }

    /// Puts a target-less rule first in the target's INPUT chains (IPv4 and IPv6): it
    /// only counts the packets `matching` selects, and `counted_at_tgt(comment)` reads
    /// the count.
    pub fn count_at_tgt(&self, comment: &str, matching: &[&str]) {
        let mut rule = vec!["-I", "INPUT", "1"];
        rule.extend_from_slice(matching);
        rule.extend_from_slice(&["-m", "comment", "--comment", comment]);
        self.iptables_tgt(&rule);
        self.ip6tables_tgt(&rule);
    }

    /// Packets (IPv4 and IPv6) the target's rule `comment` counted since `count_at_tgt`.
    pub fn counted_at_tgt(&self, comment: &str) -> u64 {
        let mut total = 0;
        for tool in ["iptables", "ip6tables"] {
            let out = run_ok(&mut Self::ns_cmd(
                &self.tgt_ns,
                &[tool, "-w", "-S", "INPUT", "-v"],
            ));
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find(|l| l.contains(comment))
                .unwrap_or_else(|| panic!("{tool}: no rule {comment}; call count_at_tgt first"));
            // `-A INPUT -p tcp -m comment --comment NAME -c PKTS BYTES`
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words
                .iter()
                .position(|w| *w == "-c")
                .expect("counter in -S -v output");
            total += words
                .get(at + 1)
                .and_then(|w| w.parse::<u64>().ok())
                .expect("packet count");
        }
        total
    }

    /// The prober's kernel would answer each SYN-ACK (or bare SYN) with an RST of its own,
    /// having no socket for it, and do synprobe's job for it: drop those (IPv4 and IPv6).
    /// The RSTs synprobe writes to its packet socket bypass iptables.
    pub fn silence_prober_kernel_rsts(&self) {
        let rule = [
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--tcp-flags",
            "RST",
            "RST",
            "-j",
            "DROP",
        ];
        self.iptables_scan(&rule);
        self.ip6tables_scan(&rule);
    }

    /// Frames the prober's interface (NAME-s) has received so far.
    pub fn scan_rx_packets(&self) -> u64 {
        let path = format!("/sys/class/net/{}-s/statistics/rx_packets", self.name);
        let out = self.in_scan(&["cat", &path]);
        stdout_of(&out)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("read {path}: {}", describe(&out)))
    }

    /// Runs the binary in the prober namespace, killed after SYNPROBE_TIMEOUT.
    pub fn synprobe(&self, args: &[&str]) -> Output {
        self.synprobe_within(args, SYNPROBE_TIMEOUT)
    }

    pub fn synprobe_within(&self, args: &[&str], timeout: Duration) -> Output {
        let bin = synprobe_bin();
        let mut cmd = Self::ns_cmd(&self.scan_ns, &[&bin]);
        cmd.args(args);
        run_bounded(&mut cmd, timeout)
    }

    /// `scan TARGET -p PORTS --states all --format jsonl` (exit 0 asserted); returns the run
    /// and its rows as "ip port state reason", by port.
    pub fn scan_every_state(&self, target: &str, ports: &str) -> (Output, Vec<String>) {
        let out = self.synprobe(&[
            "scan",
            target,
            "-p",
            ports,
            "--states",
            "all",
            "--format",
            "jsonl",
            "--wait",
            "1s",
            "--no-progress",
        ]);
        let rows = rows_by_port(&out)
            .into_iter()
            .map(|(ip, port, state, reason)| format!("{ip} {port} {state} {reason}"))
            .collect();
        (out, rows)
    }

    /// Half-open connections the target holds right now.
    pub fn syn_recv_count(&self) -> usize {
        let out = run_ok(&mut Self::ns_cmd(
            &self.tgt_ns,
            &["ss", "-Htan", "state", "syn-recv"],
        ));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let listeners = match self.listeners.get_mut() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        for l in listeners.iter_mut() {
            let _ = l.child.kill();
            let _ = l.child.wait();
        }
        // Never panic in Drop (it may run during a panic); say what went wrong.
        match Command::new(testbed_script())
            .args(["down", &self.name])
            .stdin(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("testbed.sh down {} failed: {s}", self.name),
            Err(e) => eprintln!("testbed.sh down {}: {e}", self.name),
        }
    }
}

/// True when a namespace of this name exists.
pub fn netns_exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// A copy of the binary that uid 65534 can reach and run (the build tree under
/// /work may not be traversable by nobody). Removed on Drop.
pub struct PublicCopy {
    pub dir: PathBuf,
    pub bin: PathBuf,
}

impl PublicCopy {
    pub fn of(src: impl AsRef<Path>) -> PublicCopy {
        use std::os::unix::fs::PermissionsExt;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("synprobe-pub-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let bin = dir.join("synprobe");
        std::fs::copy(src, &bin).expect("copy binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod bin");
        PublicCopy { dir, bin }
    }
}

impl Drop for PublicCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// setpriv arguments that make the rest of the command line run as nobody
/// with no capabilities at all (the contract's "missing privilege" setup).
pub const UNPRIVILEGED: [&str; 6] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
];

/// Asserts the exit code and the number of stdout lines; returns those lines.
pub fn result_lines(out: &Output, code: i32, count: usize) -> Vec<String> {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let lines: Vec<String> = stdout_of(out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), count, "{}", describe(out));
    lines
}

pub fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn code(status: ExitStatus) -> Option<i32> {
    status.code()
}

/// Everything about a run, for assertion messages.
pub fn describe(out: &Output) -> String {
    let so = stdout_of(out);
    let shown: String = so.chars().take(4000).collect();
    format!(
        "exit {:?}\n--- stdout ({} bytes) ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        so.len(),
        shown,
        stderr_of(out)
    )
}

/// One scan result, as the jsonl and csv formats both carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub ip: String,
    pub port: u16,
    pub state: String,
    pub reason: String,
    pub ttl: Option<u64>,
    pub rtt_ms: Option<f64>,
}

/// The jsonl key order the contract fixes.
pub const JSONL_KEYS: [&str; 6] = ["ip", "port", "state", "reason", "ttl", "rtt_ms"];

/// Asserts `line` holds `"key":` for each key, in this order (serde_json's
/// Value forgets the order, so it is checked on the raw text).
pub fn assert_key_order(line: &str, keys: &[&str]) {
    let mut from = 0;
    for k in keys {
        let pat = format!("\"{k}\":");
        match line[from..].find(&pat) {
            Some(i) => from += i + pat.len(),
            None => panic!("key {k:?} missing or out of order in {line}"),
        }
    }
}

/// A successful jsonl scan's rows as (ip, port, state, reason), sorted by port.
pub fn rows_by_port(out: &Output) -> Vec<(String, u16, String, String)> {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    let mut rows = parse_jsonl(&stdout_of(out));
    rows.sort_by_key(|r| r.port);
    rows.into_iter()
        .map(|r| (r.ip, r.port, r.state, r.reason))
        .collect()
}

/// Parses the jsonl output of `scan` (every line one object, keys in order).
pub fn parse_jsonl(stdout: &str) -> Vec<Row> {
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad jsonl line {line:?}: {e}"));
            let obj = v
                .as_object()
                .unwrap_or_else(|| panic!("not an object: {line}"));
            // Plus "host", last, on a record whose address came from a name.
            let named = usize::from(obj.contains_key("host"));
            assert_eq!(
                obj.len(),
                JSONL_KEYS.len() + named,
                "unexpected keys in {line}"
            );
            Row {
                ip: obj["ip"].as_str().expect("ip string").to_string(),
                port: obj["port"].as_u64().expect("port number") as u16,
                state: obj["state"].as_str().expect("state string").to_string(),
                reason: obj["reason"].as_str().expect("reason string").to_string(),
                ttl: if obj["ttl"].is_null() {
                    None
                } else {
                    Some(obj["ttl"].as_u64().expect("ttl"))
                },
                rtt_ms: if obj["rtt_ms"].is_null() {
                    None
                } else {
                    Some(obj["rtt_ms"].as_f64().expect("rtt_ms number"))
                },
            }
        })
        .collect()
}

/// Parses the csv output of `scan`: the contract's header, then rows (the `host` column,
/// last, is not kept; a six-column file from before it is read too).
pub fn parse_csv(stdout: &str) -> Vec<Row> {
    let mut lines = stdout.lines();
    let header = lines.next();
    let columns = match header {
        Some("ip,port,state,reason,ttl,rtt_ms,host") => 7,
        Some("ip,port,state,reason,ttl,rtt_ms") => 6,
        other => panic!("csv header {other:?}"),
    };
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.splitn(columns, ',').collect();
            assert_eq!(f.len(), columns, "csv row {line:?}");
            Row {
                ip: f[0].to_string(),
                port: f[1].parse().unwrap_or_else(|_| panic!("port in {line:?}")),
                state: f[2].to_string(),
                reason: f[3].to_string(),
                ttl: if f[4].is_empty() {
                    None
                } else {
                    Some(f[4].parse().expect("ttl"))
                },
                rtt_ms: if f[5].is_empty() {
                    None
                } else {
                    Some(f[5].parse().expect("rtt_ms"))
                },
            }
        })
        .collect()
}

/// The number after `word ` in the stderr summary (`sent 7`, `open 1`, ...);
/// the last one wins, since the summary closes stderr. Digit group separators
/// (`131,072`, `131_072`) are read through.
pub fn summary_count(stderr: &str, word: &str) -> Option<u64> {
    let pat = format!("{word} ");
    let mut found = None;
    let mut from = 0;
    while let Some(i) = stderr[from..].find(&pat) {
        let at = from + i;
        let before_ok = at == 0 || !stderr.as_bytes()[at - 1].is_ascii_alphanumeric();
        let tail: Vec<char> = stderr[at + pat.len()..].chars().collect();
        let mut digits = String::new();
        for (k, c) in tail.iter().enumerate() {
            if c.is_ascii_digit() {
                digits.push(*c);
            } else if (*c == ',' || *c == '_')
                && !digits.is_empty()
                && tail.get(k + 1).is_some_and(|n| n.is_ascii_digit())
            {
                continue;
            } else {
                break;
            }
        }
        if before_ok && !digits.is_empty() {
            found = digits.parse().ok();
        }
        from = at + pat.len();
    }
    found
}

/// Held by tests whose correctness depends on the machine keeping up (big
/// scans at high rate), so two of them never compete for the two cores.
pub fn heavy_lock() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A listener on `port` of the target with a backlog of 65,535 that never accepts (our RST
/// ends each half-open entry), for scans whose every SYN-ACK must come (a /16 at speed:
/// ncat's backlog of 10 drops some); killed on drop, and bounded by its own sleep.
pub struct BacklogListener(Child);

impl BacklogListener {
    pub fn start(tb: &Testbed, port: u16) -> BacklogListener {
        let code = format!(
            "import socket, time\n\
             s = socket.socket()\n\
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', {port}))\n\
             s.listen(65535)\n\
             print('ready', flush=True)\n\
             time.sleep(300)\n"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &tb.tgt_ns, "python3", "-c", &code])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 listener");
        let mut line = String::new();
        let out = child.stdout.take().expect("piped stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .expect("the listener's first line");
        assert_eq!(line.trim(), "ready", "the listener did not start");
        BacklogListener(child)
    }
}

impl Drop for BacklogListener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory for one test's files, `synprobe-TAG-PID` under the temp dir, emptied when made
/// and removed on drop (also when the test fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synprobe-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` inside, as a string for a command line.
    pub fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
