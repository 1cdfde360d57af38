//! Where `--summary-json FILE|-` goes: a file (replaced whole, through a temporary file and
//! a rename, so a reader never sees half a record) or standard output after the results.

use super::CliError;

/// Writes `line` (one JSON record) and a newline to `path`, or to stdout for `-` (a reader
/// gone is no error: the run's exit code stands).
pub fn write(path: &str, line: &str) -> Result<(), CliError> {
    if path == "-" {
        super::print_result(line)?;
        return Ok(());
    }
    let tmp = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&tmp, format!("{line}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::Runtime(format!("cannot write summary file '{path}': {e}"))
        })
}

/// Checked before anything is sent: a directory that does not exist is bad input, not a
/// run lost at its end.
pub fn check_path(path: &str) -> Result<(), CliError> {
    if path == "-" {
        return Ok(());
    }
    let p = std::path::Path::new(path);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if p.is_dir() || !dir.is_dir() {
        return Err(CliError::Input(format!(
            "cannot write summary file '{path}': {}",
            if p.is_dir() {
                "it is a directory"
            } else {
                "no such directory"
            }
        )));
    }
    Ok(())
}
