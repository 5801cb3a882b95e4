//! The action journal: every write fleetdeck makes, recorded before it is sent and again
//! with its outcome, as append-only JSON lines (`journal.jsonl` in the data directory).
//! Each entry carries the hash of the one before it, so `fleetdeck journal verify` finds
//! an edited, removed or reordered entry. Appends hold an exclusive lock on the file, so
//! two fleetdeck processes on one machine append to one chain; each append is synced to
//! disk before it returns, and only then is the action reported.
//!
//! A process killed mid-write leaves a torn last line. The next append ends that line
//! and chains to the last whole entry, so nothing before it is lost; `verify` reports a
//! torn last line as a problem, and a torn line a later append ended as what it is, a
//! write that did not finish, and goes on checking the chain after it.

pub mod entry;
pub mod event;
pub mod export;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};

pub use entry::{Draft, Entry, GENESIS, ObjectRef, Operator, Phase};

/// The journal file.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whole entries whose chain checked out, before the first problem.
    pub intact: u64,
    /// Lines read.
    pub lines: u64,
    /// Torn writes that a later append ended (line number, bytes): each a write that did
    /// not finish, recorded, with the chain going on past it.
    pub healed: Vec<(u64, usize)>,
    /// Intents with no outcome (line number, the entry): fleetdeck stopped between
    /// recording a write and recording what came of it; the next operator session reads
    /// the object and records what it found.
    pub unfinished: Vec<(u64, Entry)>,
    /// The first problem (line number, 1-based, and what is wrong with it).
    pub problem: Option<(u64, Problem)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The last line has no newline: a write that did not finish.
    Torn { bytes: usize },
    /// Not a journal entry (or an earlier torn line that later appends ended).
    Malformed(String),
    /// The entry's content does not give its hash: it was edited.
    Edited { seq: u64 },
    /// The entry does not follow the one before it: an entry was removed, inserted or
    /// moved.
    Broken { seq: u64, expected_prev: String },
    /// Sequence numbers skip or repeat.
    Sequence { seq: u64, expected: u64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Torn { bytes } => write!(
                f,
                "torn entry ({bytes} bytes without a newline): a write that did not finish, e.g. the process was killed; the entries before it are intact"
            ),
            Problem::Malformed(why) => write!(f, "not a journal entry: {why}"),
            Problem::Edited { seq } => {
                write!(f, "entry {seq} was changed after it was written (its hash does not match)")
            }
            Problem::Broken { seq, expected_prev } => write!(
                f,
                "entry {seq} does not follow the entry before it (expected prev {}…): an entry was removed, inserted or moved",
                &expected_prev[..expected_prev.len().min(12)]
            ),
            Problem::Sequence { seq, expected } => write!(f, "entry {seq} where entry {expected} was expected"),
        }
    }
}

impl Journal {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an entry after the last whole one and syncs it to disk. Blocking: call it
    /// off the async runtime's workers.
    pub fn append(&self, draft: Draft) -> Result<Entry> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .wrap_err_with(|| format!("opening the journal {}", self.path.display()))?;
        file.lock().wrap_err_with(|| format!("locking the journal {}", self.path.display()))?;
        let result = append_locked(&mut file, draft);
        let _ = file.unlock();
        result.wrap_err_with(|| format!("appending to the journal {}", self.path.display()))
    }

    /// Every whole entry, in order (lines that are not entries are skipped). An absent
    /// journal has none.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let Some(file) = self.open_existing()? else { return Ok(Vec::new()) };
        let mut entries = Vec::new();
        for line in BufReader::new(file).split(b'\n') {
            let line = line.wrap_err("reading the journal")?;
            if let Ok(e) = serde_json::from_slice::<Entry>(&line) {
                entries.push(e);
            }
        }
        Ok(entries)
    }

    fn open_existing(&self) -> Result<Option<File>> {
        match File::open(&self.path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).wrap_err_with(|| format!("opening the journal {}", self.path.display())),
        }
    }

    /// Checks the chain from the first line; stops at the first problem. An absent or
    /// empty journal is intact.
    pub fn verify(&self) -> Result<Verdict> {
        let mut verdict = Verdict { intact: 0, lines: 0, healed: Vec::new(), unfinished: Vec::new(), problem: None };
        let Some(file) = self.open_existing()? else { return Ok(verdict) };
        let mut reader = BufReader::new(file);
        let mut prev = GENESIS.to_owned();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).wrap_err("reading the journal")?;
            if n == 0 {
                return Ok(verdict);
            }
            verdict.lines += 1;
            let number = verdict.lines;
            if line.last() != Some(&b'\n') {
                verdict.problem = Some((number, Problem::Torn { bytes: line.len() }));
                return Ok(verdict);
            }
            let text = &line[..line.len() - 1];
            let entry = match serde_json::from_slice::<Entry>(text) {
                Ok(e) => e,
                // JSON cut short: a torn write the next append ended with its newline.
                // The chain goes on from the entry before it (checked at the next line).
                Err(_) if is_cut_short(text) => {
                    verdict.healed.push((number, text.len()));
                    continue;
                }
                Err(e) => {
                    verdict.problem = Some((number, Problem::Malformed(e.to_string())));
                    return Ok(verdict);
                }
            };
            let expected = verdict.intact + 1;
            let problem = if entry.computed_hash() != entry.hash {
                Some(Problem::Edited { seq: entry.seq })
            } else if entry.prev != prev {
                Some(Problem::Broken { seq: entry.seq, expected_prev: prev.clone() })
            } else if entry.seq != expected {
                Some(Problem::Sequence { seq: entry.seq, expected })
            } else {
                None
            };
            if let Some(problem) = problem {
                verdict.problem = Some((number, problem));
                return Ok(verdict);
            }
            match entry.phase {
                Phase::Intent => verdict.unfinished.push((number, entry.clone())),
                Phase::Outcome => verdict.unfinished.retain(|(_, e)| e.write_id != entry.write_id),
            }
            prev = entry.hash;
            verdict.intact += 1;
        }
    }

    /// Intents with no outcome: writes whose result was never recorded (the process was
    /// killed between the two), oldest first.
    pub fn interrupted(&self) -> Result<Vec<Entry>> {
        let entries = self.entries()?;
        let finished: std::collections::HashSet<&str> =
            entries.iter().filter(|e| e.phase == Phase::Outcome).map(|e| e.write_id.as_str()).collect();
        Ok(entries
            .iter()
            .filter(|e| e.phase == Phase::Intent && !finished.contains(e.write_id.as_str()))
            .cloned()
            .collect())
    }
}

/// Whether a line is the beginning of a JSON object whose end is missing (what a write
/// that did not finish leaves), rather than something else.
fn is_cut_short(line: &[u8]) -> bool {
    line.first() == Some(&b'{') && serde_json::from_slice::<serde_json::Value>(line).is_err_and(|e| e.is_eof())
}

/// The local journal beside the copy the hub holds (each entry is posted there as an
/// Event): entries of this journal's hosts that one side has and the other has not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HubComparison {
    /// On the hub, not in the local file: removed locally (the file's tail cut, say),
    /// which the chain alone cannot see when the last entries go.
    pub missing_locally: Vec<Entry>,
    /// In the file, not on the hub: never posted (the hub was unreachable) or expired
    /// there (Events live for the hub's event TTL, an hour by default).
    pub missing_on_hub: Vec<Entry>,
    /// Hub entries that are this journal's (by host).
    pub compared: usize,
}

/// Compares by hash the entries of the hosts that wrote `local` (other operators' entries
/// on the hub are theirs); the hub's copies must be intact entries themselves.
pub fn compare_with_hub(local: &[Entry], hub: &[Entry]) -> HubComparison {
    use std::collections::HashSet;
    let hosts: HashSet<&str> = local.iter().map(|e| e.operator.host.as_str()).collect();
    let ours: Vec<&Entry> =
        hub.iter().filter(|e| hosts.contains(e.operator.host.as_str()) && e.computed_hash() == e.hash).collect();
    let local_hashes: HashSet<&str> = local.iter().map(|e| e.hash.as_str()).collect();
    let hub_hashes: HashSet<&str> = ours.iter().map(|e| e.hash.as_str()).collect();
    let mut missing_locally: Vec<Entry> =
        ours.iter().filter(|e| !local_hashes.contains(e.hash.as_str())).map(|e| (*e).clone()).collect();
    missing_locally.sort_by_key(|e| e.seq);
    missing_locally.dedup_by(|a, b| a.hash == b.hash);
    HubComparison {
        missing_on_hub: local.iter().filter(|e| !hub_hashes.contains(e.hash.as_str())).cloned().collect(),
        missing_locally,
        compared: hub_hashes.len(),
    }
}

/// Under the lock: finds the last whole entry, ends a torn last line, writes the entry
/// and syncs.
fn append_locked(file: &mut File, draft: Draft) -> Result<Entry> {
    let len = file.seek(SeekFrom::End(0))?;
    let (torn, last) = tail(file, len)?;
    let (seq, prev) = match last {
        None => (1, GENESIS.to_owned()),
        Some(line) => match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => (e.seq + 1, e.hash),
            // Not an entry: link past it by its bytes (verify reports it).
            Err(_) => (1, entry::line_hash(&line)),
        },
    };
    let entry = Entry::chain(draft, seq, &prev);
    let mut bytes = Vec::with_capacity(512);
    if torn {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(entry.to_line().as_bytes());
    bytes.push(b'\n');
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(entry)
}

/// Whether the file ends in a torn line, and the last whole line (without its newline).
fn tail(file: &mut File, len: u64) -> Result<(bool, Option<Vec<u8>>)> {
    if len == 0 {
        return Ok((false, None));
    }
    let mut chunk = 4096u64;
    loop {
        let start = len.saturating_sub(chunk);
        let mut buf = vec![0; (len - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf)?;
        let torn = buf.last() != Some(&b'\n');
        // The whole lines end at the last newline.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            if start == 0 {
                return Ok((torn, None));
            }
            chunk *= 4;
            continue;
        };
        let begin = buf[..end].iter().rposition(|b| *b == b'\n').map(|i| i + 1);
        match begin {
            Some(b) => return Ok((torn, Some(buf[b..end].to_vec()))),
            None if start == 0 => return Ok((torn, Some(buf[..end].to_vec()))),
            None => chunk *= 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::entry::tests::draft;
    use super::*;

    fn journal() -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("sub").join("journal.jsonl"));
        (dir, j)
    }

    #[test]
    fn an_absent_or_empty_journal_is_intact() {
        let (_dir, j) = journal();
        assert_eq!(
            j.verify().unwrap(),
            Verdict { intact: 0, lines: 0, healed: vec![], unfinished: vec![], problem: None }
        );
        assert!(j.entries().unwrap().is_empty());
        std::fs::create_dir_all(j.path().parent().unwrap()).unwrap();
        std::fs::write(j.path(), "").unwrap();
        assert_eq!(j.verify().unwrap().problem, None);
    }

    #[test]
    fn appends_chain_and_verify() {
        let (_dir, j) = journal();
        let a = j.append(draft(0)).unwrap();
        let b = j.append(draft(1)).unwrap();
        let c = j.append(draft(2)).unwrap();
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        assert_eq!(a.prev, GENESIS);
        assert_eq!(b.prev, a.hash);
        assert_eq!(c.prev, b.hash);
        let v = j.verify().unwrap();
        assert_eq!((v.intact, v.lines, v.problem), (3, 3, None));
        assert_eq!(v.unfinished, vec![(3, c.clone())], "the third is an intent with no outcome yet");
        assert_eq!(j.interrupted().unwrap(), vec![c.clone()]);
        assert_eq!(j.entries().unwrap(), vec![a, b, c.clone()]);
        let done = j.append(Draft::outcome_of(&c, true, "recovered".into(), c.time)).unwrap();
        assert_eq!((done.write_id.as_str(), done.phase), (c.write_id.as_str(), Phase::Outcome));
        assert!(j.interrupted().unwrap().is_empty() && j.verify().unwrap().unfinished.is_empty());
    }

    fn lines(j: &Journal) -> Vec<String> {
        std::fs::read_to_string(j.path()).unwrap().lines().map(str::to_owned).collect()
    }

    fn rewrite(j: &Journal, lines: &[String]) {
        std::fs::write(j.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }

    #[test]
    fn an_edited_entry_is_found() {
        let (_dir, j) = journal();
        for n in 0..4 {
            j.append(draft(n)).unwrap();
        }
        let mut l = lines(&j);
        l[1] = l[1].replace("pressed Enter", "typed production-eu-1");
        rewrite(&j, &l);
        let v = j.verify().unwrap();
        assert_eq!(v.intact, 1);
        assert_eq!(v.problem, Some((2, Problem::Edited { seq: 2 })));
    }

    #[test]
    fn a_removed_or_moved_entry_breaks_the_chain() {
        let (_dir, j) = journal();
        for n in 0..4 {
            j.append(draft(n)).unwrap();
        }
        let l = lines(&j);
        rewrite(&j, &[l[0].clone(), l[2].clone(), l[3].clone()]);
        assert!(matches!(j.verify().unwrap().problem, Some((2, Problem::Broken { seq: 3, .. }))));
        rewrite(&j, &[l[1].clone(), l[0].clone()]);
        assert!(matches!(j.verify().unwrap().problem, Some((1, Problem::Broken { seq: 2, .. }))));
    }

    #[test]
    fn a_torn_last_line_is_reported_and_the_next_append_keeps_everything_before_it() {
        let (_dir, j) = journal();
        for n in 0..3 {
            j.append(draft(n)).unwrap();
        }
        let whole = std::fs::read(j.path()).unwrap();
        let fourth = j.append(draft(3)).unwrap().to_line();
        // The process died half-way through writing the fourth entry.
        let mut torn = whole.clone();
        torn.extend_from_slice(&fourth.as_bytes()[..fourth.len() / 2]);
        std::fs::write(j.path(), &torn).unwrap();
        let v = j.verify().unwrap();
        assert_eq!(v.intact, 3);
        assert!(matches!(v.problem, Some((4, Problem::Torn { .. }))));
        assert_eq!(j.entries().unwrap().len(), 3, "the earlier entries are all readable");
        let next = j.append(draft(4)).unwrap();
        assert_eq!(next.seq, 4, "chained to the last whole entry");
        assert_eq!(next.prev, j.entries().unwrap()[2].hash);
        let l = lines(&j);
        assert_eq!(l.len(), 5, "the torn line was ended, not overwritten");
        // Healed: a recorded event, and the chain is checked past it.
        let v = j.verify().unwrap();
        assert_eq!(v.problem, None);
        assert_eq!((v.intact, v.healed.clone()), (4, vec![(4, fourth.len() / 2)]));
        // Torn twice in a row (the healing append torn too), then healed.
        let mut twice = std::fs::read(j.path()).unwrap();
        let sixth = Entry::chain(draft(5), 6, &next.hash).to_line();
        twice.extend_from_slice(&sixth.as_bytes()[..10]);
        std::fs::write(j.path(), &twice).unwrap();
        j.append(draft(6)).unwrap();
        let mut again = std::fs::read(j.path()).unwrap();
        again.extend_from_slice(b"{\"seq\":7,\"at\"");
        std::fs::write(j.path(), &again).unwrap();
        let last = j.append(draft(7)).unwrap();
        let v = j.verify().unwrap();
        assert_eq!(v.problem, None, "{v:?}");
        assert_eq!(v.healed.iter().map(|h| h.0).collect::<Vec<_>>(), vec![4, 6, 8]);
        assert_eq!((v.intact, last.seq), (6, 6));
        // The chain after a healed line is still checked: an edit there is found.
        let mut l = lines(&j);
        let edited = l.len() - 1;
        l[edited] = l[edited].replace("pressed Enter", "typed production-eu-1");
        rewrite(&j, &l);
        assert!(matches!(j.verify().unwrap().problem, Some((9, Problem::Edited { seq: 6 }))));
    }

    #[test]
    fn a_line_that_is_not_an_entry_is_still_corruption() {
        let (_dir, j) = journal();
        j.append(draft(0)).unwrap();
        let mut l = lines(&j);
        l.push("hello".into());
        rewrite(&j, &l);
        j.append(draft(1)).unwrap();
        assert!(matches!(j.verify().unwrap().problem, Some((2, Problem::Malformed(_)))));
    }

    #[test]
    fn the_hub_copy_finds_a_deleted_last_entry() {
        let (_dir, j) = journal();
        for n in 0..4 {
            j.append(draft(n)).unwrap();
        }
        let all = j.entries().unwrap();
        // The last whole entry deleted: the chain of what is left is intact.
        let mut l = lines(&j);
        l.pop();
        rewrite(&j, &l);
        assert_eq!(j.verify().unwrap().problem, None, "the chain alone cannot tell");
        let local = j.entries().unwrap();
        let mut other = all[0].clone();
        other.operator.host = "someone-else".into();
        other.hash = other.computed_hash();
        let hub = vec![all[0].clone(), all[1].clone(), all[3].clone(), other];
        let c = compare_with_hub(&local, &hub);
        assert_eq!(c.missing_locally, vec![all[3].clone()], "on the hub, gone from the file");
        assert_eq!(c.missing_on_hub, vec![all[2].clone()], "never posted or expired");
        assert_eq!(c.compared, 3, "other hosts' entries are theirs");
    }

    #[test]
    fn the_tail_is_found_past_long_lines() {
        let (_dir, j) = journal();
        let mut long = draft(0);
        long.confirmation = "x".repeat(20_000);
        j.append(long).unwrap();
        let e = j.append(draft(1)).unwrap();
        assert_eq!(e.seq, 2);
        j.append(draft(2)).unwrap();
        assert_eq!(j.verify().unwrap().problem, None);
    }
}
