//! `synprobe merge` on hand-made files (no root, no network): exit codes, what stderr says,
//! and what is written; and `scan --header` refused with csv before anything is opened.
mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("synprobe-merge-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Dir(d)
    }
    fn write(&self, name: &str, lines: &[&str]) -> String {
        let p = self.0.join(name);
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn synprobe(args: &[&str]) -> Output {
    run_bounded(
        Command::new(synprobe_bin()).args(args),
        Duration::from_secs(30),
    )
}

fn header(id: &str, i: u32, n: u32) -> String {
    format!(
        r#"{{"synprobe":"header","version":"0.1.0","scan_id":"{id}","seed":7,"shard":[{i},{n}],"targets":"198.18.0.0/24","ports":"80","started":"2026-12-03T09:00:00Z"}}"#
    )
}

const OPEN_1: &str =
    r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.250}"#;
const FILT_1: &str = r#"{"ip":"198.18.0.1","port":80,"state":"filtered","reason":"no-response","ttl":null,"rtt_ms":null}"#;
const CLOSED_2: &str =
    r#"{"ip":"198.18.0.2","port":80,"state":"closed","reason":"rst","ttl":64,"rtt_ms":0.125}"#;

#[test]
fn merge_keeps_open_over_filtered_and_says_so() {
    let d = Dir::new("conflict");
    let a = d.write("a.jsonl", &[&header("s", 1, 2), FILT_1, CLOSED_2]);
    let b = d.write("b.jsonl", &[&header("s", 2, 2), OPEN_1]);
    let out = synprobe(&["merge", &a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout_of(&out), format!("{OPEN_1}\n{CLOSED_2}\n"));
    let err = stderr_of(&out);
    assert!(
        err.contains("shards present: 1,2 of 2; none missing"),
        "{err}"
    );
    assert!(
        err.contains(&format!("198.18.0.1:80 open ({b}:2) over filtered ({a}:2)")),
        "{err}"
    );
    // The same as csv, to a file.
    let o = d.path("out.csv");
    let out = synprobe(&["merge", &b, &a, "--format", "csv", "-o", &o]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(&o).unwrap(),
        "ip,port,state,reason,ttl,rtt_ms,host\n198.18.0.1,80,open,syn-ack,64,0.250,\n198.18.0.2,80,closed,rst,64,0.125,\n"
    );
    // And the csv merged back with nothing new gives the same rows, as csv by default.
    let out = synprobe(&["merge", &o]);
    assert_eq!(stdout_of(&out), std::fs::read_to_string(&o).unwrap());
    assert!(
        stderr_of(&out).contains("no header record"),
        "{}",
        describe(&out)
    );
}

#[test]
fn different_scans_are_refused_naming_the_files_unless_forced() {
    let d = Dir::new("mixed");
    let a = d.write("a.jsonl", &[&header("one", 1, 2), OPEN_1]);
    let b = d.write("b.jsonl", &[&header("two", 2, 2), CLOSED_2]);
    let o = d.path("out.jsonl");
    let out = synprobe(&["merge", &a, &b, "-o", &o]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr_of(&out);
    assert!(err.contains(&format!("scan one of 2 shards: {a}")), "{err}");
    assert!(err.contains(&format!("scan two of 2 shards: {b}")), "{err}");
    assert!(
        !std::path::Path::new(&o).exists(),
        "a refused merge wrote its output"
    );
    let out = synprobe(&["merge", &a, &b, "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout_of(&out).lines().count(), 2);
}

#[test]
fn a_garbage_line_is_named_by_file_and_line() {
    let d = Dir::new("garbage");
    let a = d.write("a.jsonl", &[OPEN_1, CLOSED_2, "198.18.0.3:80 open syn-ack"]);
    let out = synprobe(&["merge", &a]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr_of(&out).contains(&format!("{a}:3: not a JSON object")),
        "{}",
        describe(&out)
    );
    let t = d.write("t.txt", &["198.18.0.3:80 open syn-ack"]);
    let out = synprobe(&["merge", &t]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains(&format!("{t}:1: neither JSON Lines")),
        "{}",
        describe(&out)
    );
    let out = synprobe(&["merge", &d.path("absent.jsonl")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("cannot read"),
        "{}",
        describe(&out)
    );
}

#[test]
fn scan_header_needs_jsonl() {
    // Refused while checking flags, before any socket is opened.
    let out = synprobe(&[
        "scan",
        "198.18.0.1",
        "-p",
        "80",
        "--header",
        "--format",
        "csv",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        stderr_of(&out).contains("--header needs --format jsonl"),
        "{}",
        describe(&out)
    );
    let out = synprobe(&[
        "scan",
        "198.18.0.1",
        "-p",
        "80",
        "--include-reserved",
        "--exclude-reserved",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn host_names_survive_a_merge_in_both_formats() {
    let d = Dir::new("hosts");
    let named = r#"{"ip":"198.18.0.1","port":80,"state":"open","reason":"syn-ack","ttl":64,"rtt_ms":0.250,"host":"web-1.internal"}"#;
    let a = d.write("a.jsonl", &[named]);
    // A csv file from before the host column: read, its row without a name.
    let b = d.write(
        "b.csv",
        &[
            "ip,port,state,reason,ttl,rtt_ms",
            "198.18.0.2,80,closed,rst,64,0.125",
        ],
    );
    let out = synprobe(&["merge", &a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout_of(&out), format!("{named}\n{CLOSED_2}\n"));
    let o = d.path("out.csv");
    let out = synprobe(&["merge", &b, &a, "--format", "csv", "-o", &o]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let csv = std::fs::read_to_string(&o).unwrap();
    assert_eq!(
        csv,
        "ip,port,state,reason,ttl,rtt_ms,host\n198.18.0.1,80,open,syn-ack,64,0.250,web-1.internal\n198.18.0.2,80,closed,rst,64,0.125,\n"
    );
    // And back from csv to jsonl: the same records as the first merge.
    let out = synprobe(&["merge", &o, "--format", "jsonl"]);
    assert_eq!(stdout_of(&out), format!("{named}\n{CLOSED_2}\n"));
}
