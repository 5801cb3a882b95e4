//! The local store of Kubernetes Events: the API server forgets Events after an hour
//! (`--event-ttl`), fleetdeck keeps the newest `kept` of them in `events.jsonl` (one
//! record per line) so the timeline outlives both the TTL and restarts. Appends happen on
//! a thread of their own and never hold up the screen; the file is compacted to the
//! newest `kept` when it grows past twice that. A lock file serialises processes.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use super::feed::SourceStatus;
use super::record::AuditRecord;

/// Where newly seen Events go to be kept.
#[derive(Debug, Clone)]
pub struct EventStore {
    tx: SyncSender<Vec<AuditRecord>>,
}

impl EventStore {
    /// Opens the store: its kept records (oldest first, one per id) and how reading went.
    /// A store that cannot be read or written is reported in the status; the session
    /// goes on without it.
    pub fn open(path: PathBuf, kept: usize) -> (EventStore, Vec<AuditRecord>, SourceStatus) {
        let mut status = SourceStatus::new(format!("event store {}", path.display()));
        let (records, lines) = match load(&path, kept, &mut status) {
            Ok(r) => r,
            Err(e) => {
                status.set(&format!("cannot read: {e}"), false);
                (Vec::new(), 0)
            }
        };
        if status.ok {
            status.set(&format!("{} Events kept", records.len()), true);
        }
        if lines > records.len()
            && let Err(e) = with_lock(&path, || rewrite(&path, &records))
        {
            status.set(&format!("cannot compact: {e}"), false);
        }
        let (tx, rx) = sync_channel(64);
        let writer_path = path.clone();
        let count = records.len();
        let _ = std::thread::Builder::new()
            .name("fleetdeck-events".into())
            .spawn(move || writer(writer_path, kept, count, rx));
        (EventStore { tx }, records, status)
    }

    /// Keeps Events (dropped, and logged, if the writer is far behind).
    pub fn keep(&self, records: Vec<AuditRecord>) {
        if records.is_empty() {
            return;
        }
        if let Err(TrySendError::Full(r)) = self.tx.try_send(records) {
            tracing::warn!(events = r.len(), "the Event store is behind; these Events are not kept on disk");
        }
    }
}

/// Reads the store: the newest `kept` records, one per id, oldest first; and how many
/// lines the file had.
fn load(path: &Path, kept: usize, status: &mut SourceStatus) -> std::io::Result<(Vec<AuditRecord>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut records = Vec::new();
    let mut lines = 0;
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        lines += 1;
        match serde_json::from_slice::<AuditRecord>(&line) {
            Ok(r) => records.push(r),
            Err(e) => {
                status.malformed += 1;
                status.last_error = Some(format!("line {lines}: {e}"));
            }
        }
    }
    status.lines = lines as u64;
    // The newest copy of each id wins.
    let mut seen = HashSet::new();
    records.reverse();
    records.retain(|r| r.id.as_ref().is_none_or(|id| seen.insert(id.clone())));
    records.sort_by_key(|r| std::cmp::Reverse(r.time));
    records.truncate(kept);
    records.reverse();
    Ok((records, lines))
}

/// Runs `f` holding the store's lock file.
fn with_lock<T>(path: &Path, f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = OpenOptions::new().create(true).truncate(false).write(true).open(path.with_extension("lock"))?;
    lock.lock()?;
    let result = f();
    let _ = lock.unlock();
    result
}

/// Replaces the file with `records`, atomically (a temporary file renamed over it).
fn rewrite(path: &Path, records: &[AuditRecord]) -> std::io::Result<()> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(File::create(&tmp)?);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.write_all(b"\n")?;
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_data()?;
    std::fs::rename(tmp, path)
}

fn writer(path: PathBuf, kept: usize, mut lines: usize, rx: Receiver<Vec<AuditRecord>>) {
    while let Ok(mut batch) = rx.recv() {
        // Take what else is waiting, so a burst is one append.
        while let Ok(more) = rx.try_recv() {
            batch.extend(more);
        }
        let appended = with_lock(&path, || {
            let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
            let mut bytes = Vec::with_capacity(batch.len() * 512);
            for r in &batch {
                serde_json::to_writer(&mut bytes, r)?;
                bytes.push(b'\n');
            }
            file.write_all(&bytes)
        });
        match appended {
            Ok(()) => lines += batch.len(),
            Err(e) => tracing::warn!(error = %e, path = %path.display(), "keeping Events failed"),
        }
        if lines > kept.saturating_mul(2).max(1) {
            let mut status = SourceStatus::new(String::new());
            let compacted = with_lock(&path, || {
                let (records, _) = load(&path, kept, &mut status)?;
                rewrite(&path, &records)?;
                Ok(records.len())
            });
            match compacted {
                Ok(n) => lines = n,
                Err(e) => tracing::warn!(error = %e, path = %path.display(), "compacting the Event store failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::audit::record::{Severity, Source};

    fn event(n: i64, count: i64) -> AuditRecord {
        AuditRecord {
            time: jiff::Timestamp::from_second(1_800_000_000 + n).unwrap(),
            cluster: Arc::from("hub"),
            source: Source::Event,
            user: "kubelet".into(),
            verb: "BackOff".into(),
            resource: "pods".into(),
            namespace: "shop".into(),
            name: format!("web-{n}"),
            outcome: "Warning".into(),
            severity: Severity::Warn,
            message: "m".into(),
            id: Some(format!("hub/e{n}/{count}").into_boxed_str()),
            raw: "{}".into(),
        }
    }

    fn reopened(path: &Path, kept: usize) -> Vec<AuditRecord> {
        EventStore::open(path.to_owned(), kept).1
    }

    #[test]
    fn events_outlive_the_session_bounded_to_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let (store, kept, status) = EventStore::open(path.clone(), 5);
        assert!(kept.is_empty() && status.ok);
        store.keep((0..4).map(|n| event(n, 1)).collect());
        store.keep((4..12).map(|n| event(n, 1)).collect());
        store.keep(vec![event(3, 1)]);
        drop(store);
        // The writer thread finishes what it was given.
        let mut again = Vec::new();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            again = reopened(&path, 5);
            if again.last().is_some_and(|r| r.name == "web-11") {
                break;
            }
        }
        let names: Vec<&str> = again.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["web-7", "web-8", "web-9", "web-10", "web-11"]);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 10, "compacted: {lines} lines");
    }

    #[test]
    fn a_corrupt_store_is_reported_and_its_good_lines_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let good = serde_json::to_string(&event(1, 1)).unwrap();
        std::fs::write(&path, format!("{good}\n{{torn\n{good}\n")).unwrap();
        let (_, kept, status) = EventStore::open(path.clone(), 10);
        assert_eq!(kept.len(), 1, "one per id");
        assert_eq!(status.malformed, 1);
        assert!(status.last_error.unwrap().starts_with("line 2"));
    }
}
