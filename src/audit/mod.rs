//! The audit timeline's sources: fleetdeck's journal, Kubernetes Events (kept on disk
//! beyond the API server's TTL), and Kubernetes audit logs, followed in files or received
//! on a webhook. Engine side: no terminal crate here.

pub mod parse;
pub mod record;

pub use record::{AuditRecord, Severity, Source};
pub mod feed;
pub mod follow;
pub mod store;
pub mod webhook;

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes records (one JSON object per line) to `audit-<time>.jsonl` in `dir`; returns
/// the file written.
pub fn export(dir: &Path, records: &[AuditRecord], now: jiff::Timestamp) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stamp = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let path = dir.join(format!("audit-{stamp}.jsonl"));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(path)
}
