//! `merge`'s pure core: results files (JSON Lines or CSV, as `scan` writes them) read back
//! line by line, one record per (address, port) kept by a fixed conflict rule, in address
//! then port order, and the `--header` records accounted for (which scan, which shards).
//! Readers come in as `BufRead`; no file is opened here.
//!
//! `header` is the header record and the scan id, `record` one line of either format,
//! `combine` the merge and the shard accounting.

pub mod combine;
pub mod header;
pub mod record;

use thiserror::Error;

pub use combine::{FileInfo, Merger, account};
pub use header::{Header, scan_id, utc};
pub use record::{CSV_HEADER, Kind, Record};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    /// A line that is not a result or header of its file's format.
    #[error("{file}:{line}: {why}")]
    Garbage {
        file: String,
        line: u64,
        why: String,
    },
    /// Files of different scans without `--force`.
    #[error("{0}")]
    Mixed(String),
}
