//! Input edges that work (root, in a testbed): `-o -` is stdout, `@-` reads targets from
//! standard input, `check` of a dual-stack name probes both families and names it, and
//! `scan` puts the name typed in each result of its addresses.
//! The name resolves only inside the prober namespace: `ip netns exec` reads
//! /etc/netns/NS/hosts in place of /etc/hosts, so the host's own resolver is untouched.
mod common;

use common::*;
use std::io::Write as _;
use std::process::{Command, Output, Stdio};

/// Runs synprobe in the prober namespace, in `dir`, with `stdin` on its standard input.
fn run(tb: &Testbed, dir: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn synprobe");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let out_t = drain(child.stdout.take().expect("stdout"));
    let err_t = drain(child.stderr.take().expect("stderr"));
    let status = wait_bounded(&mut child, "synprobe", SYNPROBE_TIMEOUT)
        .unwrap_or_else(|| panic!("{args:?} did not finish"));
    Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

/// A directory, removed however the test ends.
#[test]
fn dash_output_is_stdout_and_at_dash_reads_stdin() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let dir = TempDir::new("edges");
    let out = run(
        &tb,
        &dir.0,
        &[
            "scan", "@-", "-p", "80,443", "--states", "all", "-o", "-", "--format", "csv",
        ],
        "# from a pipe\n198.18.0.1\n198.18.0.2 198.18.0.3\n",
    );
    assert_eq!(code(out.status), Some(0), "{}", describe(&out));
    let mut rows: Vec<String> = stdout_of(&out)
        .lines()
        .skip(1)
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "198.18.0.1,443,closed,rst",
            "198.18.0.1,80,open,syn-ack",
            "198.18.0.2,443,closed,rst",
            "198.18.0.2,80,open,syn-ack",
            "198.18.0.3,443,closed,rst",
            "198.18.0.3,80,open,syn-ack",
        ]
    );
    assert!(!dir.0.join("-").exists(), "no file named '-'");
}

/// The namespace's own /etc/netns/NS directory, removed however the test ends, with
/// /etc/netns itself when the test made it and nothing else is in it.
struct NetnsEtc {
    dir: std::path::PathBuf,
    made_parent: bool,
}

impl NetnsEtc {
    fn new(ns: &str) -> NetnsEtc {
        let parent = std::path::Path::new("/etc/netns");
        let made_parent = !parent.exists();
        let dir = parent.join(ns);
        // Built before the directory, so that Drop runs even if creating it fails halfway.
        let guard = NetnsEtc { dir, made_parent };
        std::fs::create_dir_all(&guard.dir).expect("/etc/netns/NS");
        guard
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.made_parent {
            // Fails, as it should, while another test's namespace still has its directory.
            let _ = std::fs::remove_dir("/etc/netns");
        }
    }
}

#[test]
fn check_probes_a_dual_stack_name_on_both_families_and_names_it() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let etc = NetnsEtc::new(&tb.scan_ns);
    std::fs::write(
        etc.dir.join("hosts"),
        "198.18.0.1 web-1.internal\n2001:db8:1::1 web-1.internal\n",
    )
    .expect("hosts");
    let dir = TempDir::new("dual");
    let out = run(
        &tb,
        &dir.0,
        &["check", "web-1.internal:80", "web-1.internal:443"],
        "",
    );
    assert_eq!(code(out.status), Some(1), "{}", describe(&out));
    let mut lines: Vec<String> = stdout_of(&out)
        .lines()
        .map(|l| l.split(" in ").next().unwrap_or(l).to_string())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "web-1.internal:443 (198.18.0.1) unhealthy: RST, nothing is listening on port 443",
            "web-1.internal:443 (2001:db8:1::1) unhealthy: RST, nothing is listening on port 443",
            "web-1.internal:80 (198.18.0.1) healthy: SYN-ACK",
            "web-1.internal:80 (2001:db8:1::1) healthy: SYN-ACK",
        ]
    );
    for (flag, ip) in [("-4", "198.18.0.1"), ("-6", "2001:db8:1::1")] {
        let out = run(
            &tb,
            &dir.0,
            &["check", flag, "--json", "web-1.internal:80"],
            "",
        );
        assert_eq!(code(out.status), Some(0), "{flag}: {}", describe(&out));
        let text = stdout_of(&out);
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(rows.len(), 1, "{flag}: {text}");
        assert_eq!(rows[0]["host"], "web-1.internal", "{text}");
        assert_eq!(rows[0]["ip"], ip, "{text}");
        assert_eq!(rows[0]["healthy"], true, "{text}");
    }
}

#[test]
fn scan_results_carry_the_host_name_typed() {
    if !require_root() {
        return;
    }
    let tb = Testbed::up();
    tb.listen(80);
    let etc = NetnsEtc::new(&tb.scan_ns);
    // 198.18.0.2 answers to two names: the first typed is the one shown.
    std::fs::write(
        etc.dir.join("hosts"),
        "198.18.0.1 web-1.internal\n2001:db8:1::1 web-1.internal\n\
         198.18.0.2 web-2.internal\n198.18.0.2 alias.internal\n",
    )
    .expect("hosts");
    let dir = TempDir::new("host");
    let scan = |format: &str| {
        let out = run(
            &tb,
            &dir.0,
            &[
                "scan",
                "web-1.internal",
                "198.18.0.3",
                "web-2.internal",
                "alias.internal",
                "-p",
                "80,443",
                "--states",
                "all",
                "--format",
                format,
            ],
            "",
        );
        assert_eq!(code(out.status), Some(0), "{format}: {}", describe(&out));
        stdout_of(&out)
    };

    let text = scan("jsonl");
    let mut rows: Vec<String> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            format!(
                "{} {} {} {}",
                v["ip"].as_str().expect("ip"),
                v["port"],
                v["state"].as_str().expect("state"),
                // Absent, not null, for an address typed as one.
                v.get("host").map_or("-".to_string(), |h| h.to_string())
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "198.18.0.1 443 closed \"web-1.internal\"",
            "198.18.0.1 80 open \"web-1.internal\"",
            "198.18.0.2 443 closed \"web-2.internal\"",
            "198.18.0.2 80 open \"web-2.internal\"",
            "198.18.0.3 443 closed -",
            "198.18.0.3 80 open -",
            "2001:db8:1::1 443 closed \"web-1.internal\"",
            "2001:db8:1::1 80 open \"web-1.internal\"",
        ],
        "{text}"
    );

    let text = scan("csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("ip,port,state,reason,ttl,rtt_ms,host"));
    let mut rows: Vec<String> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 7, "{l}");
            format!("{} {} {}", f[0], f[1], f[6])
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "198.18.0.1 443 web-1.internal",
            "198.18.0.1 80 web-1.internal",
            "198.18.0.2 443 web-2.internal",
            "198.18.0.2 80 web-2.internal",
            "198.18.0.3 443 ",
            "198.18.0.3 80 ",
            "2001:db8:1::1 443 web-1.internal",
            "2001:db8:1::1 80 web-1.internal",
        ],
        "{text}"
    );

    let text = scan("text");
    let mut rows: Vec<String> = text
        .lines()
        .map(|l| l.split(" ttl=").next().unwrap_or(l).to_string())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            "198.18.0.3:443 closed rst",
            "198.18.0.3:80 open syn-ack",
            "web-1.internal:443 (198.18.0.1) closed rst",
            "web-1.internal:443 (2001:db8:1::1) closed rst",
            "web-1.internal:80 (198.18.0.1) open syn-ack",
            "web-1.internal:80 (2001:db8:1::1) open syn-ack",
            "web-2.internal:443 (198.18.0.2) closed rst",
            "web-2.internal:80 (198.18.0.2) open syn-ack",
        ],
        "{text}"
    );
}
