//! Following a file like `tail -F`: read from its start, then poll for new lines; when the
//! path is renamed away and recreated (rotation), finish the old file and go on in the
//! new one; when the file shrinks (copytruncate), start again from its top. A line is
//! handled once whole; lines that do not parse are counted, never fatal. Runs on a thread
//! of its own (file reads block), sending records in batches that wait when the model's
//! owner is behind, so a large file never floods it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::feed::{Feed, SourceStatus};
use super::parse::{Parsed, audit_line, journal_line};
use super::record::AuditRecord;

/// What the followed file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `audit.k8s.io/v1` Event lines.
    Audit,
    /// fleetdeck's journal.
    Journal,
}

#[derive(Debug, Clone)]
pub struct FollowSpec {
    pub cluster: Arc<str>,
    pub path: PathBuf,
    pub format: Format,
}

impl FollowSpec {
    /// How the pane names the source.
    pub fn name(&self) -> String {
        match self.format {
            Format::Audit => format!("{} {}", self.cluster, self.path.display()),
            Format::Journal => format!("journal {}", self.path.display()),
        }
    }
}

/// Records per batch sent to the model.
pub const BATCH: usize = 2048;

/// The identity of a file (device and inode), to tell a rotated path from the same file.
#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino())
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

struct Follower {
    spec: FollowSpec,
    tx: mpsc::Sender<Feed>,
    status: SourceStatus,
    /// The status as last sent.
    sent: Option<SourceStatus>,
    batch: Vec<AuditRecord>,
    last_status: Option<Instant>,
}

/// Starts following; the thread ends when `stop` is set or the receiver is gone.
pub fn spawn(
    spec: FollowSpec,
    poll: Duration,
    tx: mpsc::Sender<Feed>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let status = SourceStatus::new(spec.name());
    let mut follower = Follower { spec, tx, status, sent: None, batch: Vec::with_capacity(BATCH), last_status: None };
    std::thread::Builder::new().name("fleetdeck-follow".into()).spawn(move || follower.run(poll, &stop))
}

impl Follower {
    fn run(&mut self, poll: Duration, stop: &AtomicBool) {
        let mut open: Option<(BufReader<File>, (u64, u64))> = None;
        let mut line = Vec::with_capacity(4096);
        while !stop.load(Ordering::Relaxed) && !self.tx.is_closed() {
            let Some((reader, _)) = open.as_mut() else {
                match File::open(&self.spec.path).and_then(|f| f.metadata().map(|m| (f, identity(&m)))) {
                    Ok((f, id)) => {
                        self.status.set("following", true);
                        open = Some((BufReader::with_capacity(1 << 16, f), id));
                    }
                    Err(e) => {
                        let missing = e.kind() == std::io::ErrorKind::NotFound;
                        let (text, ok) = match (missing, self.spec.format) {
                            // No journal yet: nothing has been written from this machine.
                            (true, Format::Journal) => ("no writes recorded yet".to_owned(), true),
                            (true, Format::Audit) => ("waiting for the file to appear".to_owned(), false),
                            (false, _) => (format!("cannot open: {e}"), false),
                        };
                        self.status.set(&text, ok);
                        self.report(true);
                        std::thread::sleep(poll);
                    }
                }
                continue;
            };
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {}
                Ok(_) if line.last() == Some(&b'\n') => {
                    self.handle(&line);
                    line.clear();
                    if self.batch.len() >= BATCH {
                        if !self.flush() {
                            return;
                        }
                        self.report(false);
                    }
                    continue;
                }
                // A line still being written: wait for the rest.
                Ok(_) => {}
                Err(e) => {
                    self.status.set(&format!("read failed: {e}"), false);
                    open = None;
                    line.clear();
                }
            }
            // At the end of what is there: send, then look for rotation or truncation.
            if !self.flush() {
                return;
            }
            if let Some((reader, id)) = open.as_mut() {
                let position = reader.stream_position().unwrap_or(0);
                match std::fs::metadata(&self.spec.path) {
                    Ok(m) if identity(&m) != *id => {
                        // Rotated: the old file has been read to its end; go on in the new.
                        self.status.rotations += 1;
                        self.torn(&mut line);
                        open = None;
                        continue;
                    }
                    Ok(m) if m.len() < position => {
                        self.status.truncations += 1;
                        self.torn(&mut line);
                        if reader.seek(SeekFrom::Start(0)).is_err() {
                            open = None;
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            self.report(false);
            std::thread::sleep(poll);
        }
        self.flush();
        self.report(true);
    }

    /// A partial line left when the file was rotated or truncated under it.
    fn torn(&mut self, line: &mut Vec<u8>) {
        if !line.is_empty() {
            self.status.malformed += 1;
            self.status.last_error = Some("a line was cut off by rotation or truncation".to_owned());
            line.clear();
        }
    }

    fn handle(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return;
        }
        self.status.lines += 1;
        let parsed = match self.spec.format {
            Format::Audit => audit_line(&self.spec.cluster, text),
            Format::Journal => journal_line(text).map(|r| Parsed::Record(Box::new(r))),
        };
        match parsed {
            Ok(Parsed::Record(r)) => self.batch.push(*r),
            Ok(Parsed::Skipped) => {}
            Err(e) => {
                self.status.malformed += 1;
                self.status.last_error = Some(format!("line {}: {e}", self.status.lines));
            }
        }
    }

    /// Sends the batch (waiting while the receiver is full); false when it is gone.
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.tx.blocking_send(Feed::Records(batch)).is_ok()
    }

    /// Sends the status when it changed, at most once a second unless `now`.
    fn report(&mut self, now: bool) {
        let due = now || self.last_status.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due && self.sent.as_ref() != Some(&self.status) {
            self.last_status = Some(Instant::now());
            self.sent = Some(self.status.clone());
            let _ = self.tx.blocking_send(Feed::Status(self.status.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn line(n: usize) -> String {
        format!(
            "{{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"stage\":\"ResponseComplete\",\"verb\":\"get\",\"user\":{{\"username\":\"u{n}\"}},\"responseStatus\":{{\"code\":200}},\"stageTimestamp\":\"2026-11-24T10:00:00Z\"}}\n"
        )
    }

    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Receives until `users` have all been seen (or 10 s pass); returns the users seen
    /// in order and the last status.
    fn collect(rx: &mut mpsc::Receiver<Feed>, until: usize) -> (Vec<String>, Option<SourceStatus>) {
        let mut users = Vec::new();
        let mut status = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while users.len() < until && Instant::now() < deadline {
            match rx.try_recv() {
                Ok(Feed::Records(r)) => users.extend(r.into_iter().map(|r| r.user)),
                Ok(Feed::Status(s)) => status = Some(s),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        // A status sent after the last lines.
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(f) = rx.try_recv() {
            if let Feed::Status(s) = f {
                status = Some(s);
            }
        }
        (users, status)
    }

    #[test]
    fn follows_across_rotation_truncation_partial_lines_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (tx, mut rx) = mpsc::channel(16);
        let stop = Arc::new(AtomicBool::new(false));
        let spec = FollowSpec { cluster: Arc::from("hub"), path: path.clone(), format: Format::Audit };
        let thread = spawn(spec, Duration::from_millis(20), tx, stop.clone()).unwrap();

        // The file appears later, with lines, a garbage line and a line written in halves.
        std::thread::sleep(Duration::from_millis(60));
        append(&path, &(line(0) + &line(1) + "garbage\n"));
        let half = line(2);
        append(&path, &half[..20]);
        let (users, _) = collect(&mut rx, 2);
        assert_eq!(users, ["u0", "u1"]);
        append(&path, &half[20..]);
        assert_eq!(collect(&mut rx, 1).0, ["u2"]);

        // Rotation by rename: what was appended to the old file before the rename is read,
        // then the new file from its start.
        append(&path, &line(3));
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        append(&path, &(line(4) + &line(5)));
        assert_eq!(collect(&mut rx, 3).0, ["u3", "u4", "u5"]);

        // Truncation in place (copytruncate): start again from the top.
        std::fs::write(&path, "").unwrap();
        std::thread::sleep(Duration::from_millis(80));
        append(&path, &line(6));
        let (users, mut status) = collect(&mut rx, 1);
        assert_eq!(users, ["u6"]);
        // Statuses are sent at most once a second.
        let deadline = Instant::now() + Duration::from_secs(3);
        while status.as_ref().is_none_or(|s| s.truncations == 0) && Instant::now() < deadline {
            if let Ok(Feed::Status(s)) = rx.try_recv() {
                status = Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status.expect("a status");
        assert_eq!((status.malformed, status.rotations, status.truncations), (1, 1, 1), "{status:?}");
        assert!(status.last_error.unwrap().contains("line 3"));
        assert!(status.ok);

        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }
}
