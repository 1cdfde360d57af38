//! Every `synprobe` command README shows runs on the demo testbed (scripts/testbed.sh with
//! demo.sh's ground truth: 198.18.0.0/16 answering with 22 and 80 open, 443 closed, 8080
//! dropped, 8443 rejected) and ends with the exit code README implies. A README example that
//! does not run on a fresh set-up fails here, not in a new user's hands.
mod common;

use common::*;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

/// One command of README, with how it is run and the exit code it must end with.
#[derive(Debug, PartialEq)]
struct Example {
    line: usize,
    args: Vec<String>,
    how: How,
    code: i32,
}

#[derive(Debug, PartialEq)]
enum How {
    /// Runs to its end.
    ToEnd,
    /// Runs until a signal after a moment: README's "Ctrl-C part-way" (SIGINT) and `watch`,
    /// which runs for good (SIGTERM).
    Signal(nix::sys::signal::Signal),
}

/// The commands of README's code blocks (indented lines, `$ ` prompt allowed) that start
/// with `synprobe `, without synopses (`[...]`, `FILE...`), in order; a trailing `# ...`
/// comment is dropped.
fn examples(readme: &str) -> Vec<Example> {
    use nix::sys::signal::Signal;
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        if !raw.starts_with("    ") {
            continue;
        }
        let text = raw.trim_start();
        let text = text.strip_prefix("$ ").unwrap_or(text);
        if !text.starts_with("synprobe ") || text.contains('[') || text.contains("...") {
            continue;
        }
        let (cmd, comment) = match text.split_once(" #") {
            Some((c, note)) => (c, note),
            None => (text, ""),
        };
        let args: Vec<String> = cmd.split_whitespace().skip(1).map(String::from).collect();
        let (how, code) = if comment.contains("Ctrl-C") {
            (How::Signal(Signal::SIGINT), 130)
        } else if args[0] == "watch" {
            (How::Signal(Signal::SIGTERM), 0)
        } else if args[0] == "check" {
            // The verdict lines README shows under the command say whether all are healthy.
            let shown: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with("    ") && !l.trim_start().starts_with("$ "))
                .copied()
                .collect();
            let unhealthy = shown.iter().any(|l| l.contains(" unhealthy"));
            (How::ToEnd, if unhealthy { 1 } else { 0 })
        } else {
            (How::ToEnd, 0)
        };
        out.push(Example {
            line: i + 1,
            args,
            how,
            code,
        });
    }
    out
}

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// Needs no root: the extraction finds the examples, and each subcommand has one.
#[test]
fn readme_examples_are_found() {
    let ex = examples(&readme());
    for sub in ["scan", "check", "watch", "merge", "bench"] {
        assert!(
            ex.iter().any(|e| e.args[0] == sub),
            "no `synprobe {sub}` example found in README"
        );
    }
    assert!(ex.iter().any(|e| e.code == 130), "the Ctrl-C example");
    assert!(ex.iter().all(|e| !e.args.iter().any(|a| a == "FILE...")));
}

#[test]
fn every_readme_example_runs_on_the_demo_testbed() {
    if !require_root() {
        return;
    }
    let _heavy = heavy_lock();
    let tb = Testbed::up();
    tb.listen(22);
    tb.listen(80);
    tb.iptables_tgt(&["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"]);
    tb.iptables_tgt(&[
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        "8443",
        "-j",
        "REJECT",
        "--reject-with",
        "icmp-port-unreachable",
    ]);
    // The files README's examples name, in a directory of their own.
    let dir = std::env::temp_dir().join(format!("synprobe-readme-{}", tb.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let _cleanup = RemoveDir(dir.clone());
    std::fs::write(
        dir.join("fleet.txt"),
        "# two web servers\n198.18.0.1\n198.18.0.2\n",
    )
    .expect("fleet.txt");
    let mut failed = Vec::new();
    for ex in examples(&readme()) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &tb.scan_ns, &synprobe_bin()])
            .args(&ex.args)
            .current_dir(&dir);
        let out = match ex.how {
            How::ToEnd => run_bounded(&mut cmd, SYNPROBE_TIMEOUT),
            How::Signal(sig) => {
                let (shown, mut child) = spawn_piped(&mut cmd);
                let out_t = drain(child.stdout.take().expect("stdout"));
                let err_t = drain(child.stderr.take().expect("stderr"));
                sleep(Duration::from_millis(1500));
                // `ip netns exec` execs the command: the child's pid is synprobe's.
                let pid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::kill(pid, sig);
                let status = wait_bounded(&mut child, &shown, SYNPROBE_TIMEOUT)
                    .unwrap_or_else(|| panic!("{shown} did not end after {sig}"));
                std::process::Output {
                    status,
                    stdout: out_t.join().unwrap_or_default(),
                    stderr: err_t.join().unwrap_or_default(),
                }
            }
        };
        let got = code(out.status);
        eprintln!(
            "README line {}: synprobe {} -> exit {got:?}",
            ex.line,
            ex.args.join(" ")
        );
        if got != Some(ex.code) {
            failed.push(format!(
                "README line {}: synprobe {}: expected exit {}, {}",
                ex.line,
                ex.args.join(" "),
                ex.code,
                describe(&out)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Removes the examples' directory however the test ends.
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
