//! `synprobe merge`: shard or resume outputs into one deduplicated, sorted result set.
//! Thin: it opens the files and the output; reading, the conflict rule and the shard
//! accounting are `crate::merge`'s.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

use clap::Args;

use super::CliError;
use crate::merge::{Kind, MergeError, Merger, account};
use crate::output::{Format, Printer, Sink, plural};

#[derive(Debug, Args)]
#[command(after_help = "\
Each FILE is JSON Lines or CSV as `scan --format jsonl|csv` writes it (told apart by its
first line). Every (address, port) is written once, sorted by address (IPv4 first) then
port. A pair with different states in different files is kept as open over closed over
filtered, and stderr says how many. `scan --header` records say which scan and shard a
file holds: stderr lists the shards present and missing, and files of different scans are
refused (exit 2) unless --force.

Examples:
  synprobe merge shard-*.jsonl -o all.jsonl
  synprobe merge a.csv b.csv --format jsonl")]
pub struct MergeArgs {
    /// Results files to combine.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Write the merged results to FILE instead of stdout (`-`: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<String>,
    /// Output format, jsonl or csv (default: the inputs' format when they all agree, else jsonl).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Merge files whose headers name different scans (or shard counts).
    #[arg(long)]
    pub force: bool,
}

impl From<MergeError> for CliError {
    fn from(e: MergeError) -> Self {
        CliError::Input(e.to_string())
    }
}

pub fn run(mut a: MergeArgs) -> Result<i32, CliError> {
    a.output = super::values::output_path(a.output.take());
    let format = match a.format.as_deref() {
        None => None,
        Some(f) => match Format::parse(f).map_err(CliError::Input)? {
            Format::Text => {
                return Err(CliError::Input(
                    "invalid --format 'text' for merge: expected jsonl or csv".into(),
                ));
            }
            f => Some(f),
        },
    };
    if let Some(out) = &a.output
        && a.files.iter().any(|f| same_file(f, out))
    {
        return Err(CliError::Input(format!(
            "output file '{out}' is also an input: write elsewhere"
        )));
    }
    let mut merger = Merger::new();
    for name in &a.files {
        let f =
            File::open(name).map_err(|e| CliError::Input(format!("cannot read '{name}': {e}")))?;
        merger.read(name, BufReader::with_capacity(1 << 16, f))?;
    }
    // Before a byte is written: a refusal leaves no output file behind.
    let notes = account(&merger.files, a.force)?;
    let format = format.unwrap_or(match merger.common_kind() {
        Some(Kind::Csv) => Format::Csv,
        _ => Format::Jsonl,
    });
    let out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| CliError::Input(format!("cannot write output file '{path}': {e}")))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut printer = Printer::new(format, BufWriter::with_capacity(1 << 16, out));
    let write_err = |e: std::io::Error| CliError::Runtime(format!("writing results: {e}"));
    for (r, host) in merger.records() {
        match printer.result_named(&r.to_result(), host) {
            Ok(()) => {}
            // A reader that went away (`| head`) is not an error of the merge.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            Err(e) => return Err(write_err(e)),
        }
    }
    match printer.finish() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(write_err(e)),
        _ => {}
    }
    for line in notes.iter().chain(&merger.conflict_lines()) {
        say!("synprobe merge: {line}");
    }
    let read: u64 = merger.files.iter().map(|f| f.results).sum();
    say!(
        "synprobe merge: {} from {} in {}",
        plural(merger.len() as u64, "pair", "pairs"),
        plural(read, "row", "rows"),
        plural(merger.files.len() as u64, "file", "files")
    );
    Ok(0)
}

/// Whether two paths name one file (so `-o` would empty an input before it is read).
fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
