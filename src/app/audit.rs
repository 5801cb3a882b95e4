//! The audit timeline in the model: records from every source merged by time, each once
//! (by id), at most `cap` of them (older ones dropped and counted); the filter's query;
//! and the pane's cursor, which follows the newest record or stays on the one chosen.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::audit::feed::SourceStatus;
use crate::audit::parse::kube_event;
use crate::audit::{AuditRecord, Severity, Source};
use crate::fleet::summary::Summary;
use crate::glob::glob_match;

/// A record and its place in the timeline (`seq` is unique and never reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub seq: u64,
    pub record: AuditRecord,
}

#[derive(Debug, Clone)]
pub struct AuditLog {
    /// Oldest first, by time (then by arrival).
    lines: VecDeque<Line>,
    ids: HashSet<Box<str>>,
    next_seq: u64,
    /// Most records kept in memory.
    pub cap: usize,
    /// Records dropped past the cap.
    pub dropped: u64,
    /// Each source's latest status, by name.
    pub sources: BTreeMap<String, SourceStatus>,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl AuditLog {
    pub fn new(cap: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            ids: HashSet::new(),
            next_seq: 1,
            cap: cap.max(1),
            dropped: 0,
            sources: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().rev()
    }

    /// The journal's entries about a run's writes (their write ids start with its id),
    /// oldest first.
    pub fn journal_entries_of(&self, run: &str) -> Vec<&crate::audit::AuditRecord> {
        let needle = format!("\"write_id\":\"{run}-");
        self.lines
            .iter()
            .map(|l| &l.record)
            .filter(|r| r.source == crate::audit::Source::Journal && r.raw.contains(&needle))
            .collect()
    }

    pub fn by_seq(&self, seq: u64) -> Option<&Line> {
        self.lines.iter().rev().find(|l| l.seq == seq)
    }

    /// Adds records in time order; one already there (same id) is left out. Returns the
    /// records added when `fresh` is asked for (to keep them elsewhere).
    pub fn insert(&mut self, records: Vec<AuditRecord>, fresh: bool) -> Vec<AuditRecord> {
        let mut added = Vec::new();
        for record in records {
            if let Some(id) = &record.id
                && !self.ids.insert(id.clone())
            {
                continue;
            }
            if fresh {
                added.push(record.clone());
            }
            let line = Line { seq: self.next_seq, record };
            self.next_seq += 1;
            // Mostly newer than everything: an append. Late ones go to their place.
            let at = if self.lines.back().is_none_or(|l| l.record.time <= line.record.time) {
                self.lines.len()
            } else {
                self.lines.partition_point(|l| l.record.time <= line.record.time)
            };
            self.lines.insert(at, line);
        }
        while self.lines.len() > self.cap {
            if let Some(old) = self.lines.pop_front() {
                if let Some(id) = &old.record.id {
                    self.ids.remove(id);
                }
                self.dropped += 1;
            }
        }
        added
    }

    pub fn status(&mut self, status: SourceStatus) {
        self.sources.insert(status.name.clone(), status);
    }
}

/// Kubernetes Events from a watch, as records of `cluster`.
pub fn event_records<'a>(cluster: &str, summaries: impl Iterator<Item = &'a Summary>) -> Vec<AuditRecord> {
    let cluster: Arc<str> = Arc::from(cluster);
    summaries
        .filter_map(|s| match s {
            Summary::Event(Some(v)) => kube_event(&cluster, v),
            _ => None,
        })
        .collect()
}

/// The filter line read as a query: `cluster:GLOB`, `source:journal|event|audit`,
/// `user:`, `verb:`, `resource:` and free words, all of which must match
/// (case-insensitive; values are substrings, a cluster value with `*` a glob).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub cluster: Vec<String>,
    pub source: Vec<Source>,
    pub user: Vec<String>,
    pub verb: Vec<String>,
    pub resource: Vec<String>,
    pub words: Vec<String>,
    /// Terms that did not make sense ("source:foo"), shown to the user.
    pub unknown: Vec<String>,
}

impl Query {
    pub fn parse(text: &str) -> Query {
        let mut q = Query::default();
        for term in text.split_whitespace() {
            let lower = term.to_lowercase();
            match lower.split_once(':') {
                Some(("cluster", v)) if !v.is_empty() => q.cluster.push(v.to_owned()),
                Some(("user", v)) if !v.is_empty() => q.user.push(v.to_owned()),
                Some(("verb", v)) if !v.is_empty() => q.verb.push(v.to_owned()),
                Some(("resource", v)) if !v.is_empty() => q.resource.push(v.to_owned()),
                Some(("source", v)) => match Source::ALL.iter().find(|s| s.label() == v) {
                    Some(s) => q.source.push(*s),
                    None => q.unknown.push(term.to_owned()),
                },
                _ => q.words.push(lower),
            }
        }
        q
    }

    pub fn is_empty(&self) -> bool {
        self.cluster.is_empty()
            && self.source.is_empty()
            && self.user.is_empty()
            && self.verb.is_empty()
            && self.resource.is_empty()
            && self.words.is_empty()
    }

    pub fn matches(&self, r: &AuditRecord) -> bool {
        let has = |field: &str, needle: &str| contains_ci(field, needle);
        (self.source.is_empty() || self.source.contains(&r.source))
            && self
                .cluster
                .iter()
                .all(|c| if c.contains('*') { glob_match(c, &r.cluster.to_lowercase()) } else { has(&r.cluster, c) })
            && self.user.iter().all(|u| has(&r.user, u))
            && self.verb.iter().all(|v| has(&r.verb, v))
            && self.resource.iter().all(|v| has(&r.resource, v))
            && self.words.iter().all(|w| {
                [&*r.cluster, &r.user, &r.verb, &r.resource, &r.namespace, &r.name, &r.outcome, &r.message]
                    .iter()
                    .any(|f| has(f, w))
            })
    }
}

/// Whether `haystack` contains the lower-case `needle`, ignoring ASCII case.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// A successful read in an audit log (get, list, watch, and the access reviews a client
/// asks about itself: fleetdeck's own probes, lists and reviews among them): hidden
/// unless asked for, so changes, denials and warnings come first.
pub fn routine(r: &AuditRecord) -> bool {
    let review =
        r.verb == "create" && matches!(r.resource.as_str(), "selfsubjectaccessreviews" | "selfsubjectrulesreviews");
    r.source == Source::Audit
        && r.severity == Severity::Ok
        && (review || matches!(r.verb.as_str(), "get" | "list" | "watch"))
}

/// What the pane shows: the records the query admits, newest first, and how many
/// routine reads it admits but hides (none when `reads`, or when the query asks for a
/// verb: `verb:list` shows lists).
pub fn matched<'a>(log: &'a AuditLog, query: &Query, reads: bool) -> (Vec<&'a Line>, usize) {
    let reads = reads || !query.verb.is_empty();
    let mut hidden = 0;
    let rows = log
        .newest_first()
        .filter(|l| query.is_empty() || query.matches(&l.record))
        .filter(|l| {
            let shown = reads || !routine(&l.record);
            hidden += usize::from(!shown);
            shown
        })
        .collect();
    (rows, hidden)
}

/// The pane's cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCursor {
    /// Stay on the newest record as records arrive.
    pub follow: bool,
    /// The record chosen (by seq) when not following.
    pub selected: Option<u64>,
    /// Routine reads shown too (`a`).
    pub reads: bool,
}

impl Default for AuditCursor {
    fn default() -> Self {
        Self { follow: true, selected: None, reads: false }
    }
}

impl AuditCursor {
    /// The selected position among `rows` (newest first).
    pub fn position(&self, rows: &[&Line]) -> Option<usize> {
        if rows.is_empty() {
            return None;
        }
        if self.follow {
            return Some(0);
        }
        Some(self.selected.and_then(|s| rows.iter().position(|l| l.seq == s)).unwrap_or(0))
    }

    /// Moves by `delta` rows (towards older records when positive). Moving off the
    /// newest stops following; moving back to it does not start again (`f` does).
    pub fn step(&mut self, rows: &[&Line], delta: isize) {
        let Some(at) = self.position(rows) else { return };
        let next = (at as isize).saturating_add(delta).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[next].seq);
        if next != 0 {
            self.follow = false;
        }
    }

    pub fn toggle_follow(&mut self) {
        self.follow = !self.follow;
        if self.follow {
            self.selected = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Severity;
    use jiff::Timestamp;

    pub fn record(s: i64, source: Source, cluster: &str, user: &str, verb: &str, id: Option<&str>) -> AuditRecord {
        AuditRecord {
            time: Timestamp::from_second(1_800_000_000 + s).unwrap(),
            cluster: Arc::from(cluster),
            source,
            user: user.into(),
            verb: verb.into(),
            resource: "kustomizations".into(),
            namespace: "production-eu-1".into(),
            name: "policies".into(),
            outcome: "200".into(),
            severity: Severity::Ok,
            message: format!("m{s}"),
            id: id.map(Into::into),
            raw: "{}".into(),
        }
    }

    #[test]
    fn merged_by_time_once_per_id_and_capped() {
        let mut log = AuditLog::new(4);
        log.insert(vec![record(10, Source::Audit, "hub", "a", "get", None)], false);
        log.insert(vec![record(5, Source::Event, "hub", "k", "BackOff", Some("e1"))], false);
        let fresh = log.insert(
            vec![
                record(5, Source::Event, "hub", "k", "BackOff", Some("e1")),
                record(20, Source::Journal, "hub", "alice", "suspend", Some("h1")),
            ],
            true,
        );
        assert_eq!(fresh.len(), 1, "the relisted Event is not new");
        let times: Vec<i64> = log.newest_first().map(|l| l.record.time.as_second() - 1_800_000_000).collect();
        assert_eq!(times, [20, 10, 5]);
        log.insert((30..33).map(|s| record(s, Source::Audit, "hub", "a", "get", None)).collect(), false);
        assert_eq!(log.len(), 4);
        assert_eq!(log.dropped, 2);
        // An id dropped with its record may come back.
        assert_eq!(log.insert(vec![record(5, Source::Event, "hub", "k", "BackOff", Some("e1"))], true).len(), 1);
    }

    #[test]
    fn the_query_reads_fields_and_words() {
        let r = record(1, Source::Audit, "production-eu-1", "alice as bob", "delete", None);
        let q = |t: &str| Query::parse(t).matches(&r);
        assert!(q(""));
        assert!(q("cluster:production-*"));
        assert!(q("cluster:EU user:bob verb:del resource:kustom"));
        assert!(q("source:audit policies"));
        assert!(!q("source:journal"));
        assert!(!q("cluster:staging-*"));
        assert!(!q("policies nothere"));
        assert_eq!(Query::parse("source:nope").unknown, ["source:nope"]);
    }

    #[test]
    fn the_cursor_follows_until_moved() {
        let mut log = AuditLog::default();
        log.insert((0..5).map(|s| record(s, Source::Audit, "hub", "a", "get", None)).collect(), false);
        let mut c = AuditCursor::default();
        let rows = matched(&log, &Query::default(), true).0;
        assert_eq!(c.position(&rows), Some(0));
        c.step(&rows, 2);
        assert!(!c.follow);
        let chosen = c.selected.unwrap();
        log.insert(vec![record(9, Source::Audit, "hub", "a", "get", None)], false);
        let rows = matched(&log, &Query::default(), true).0;
        assert_eq!(rows[c.position(&rows).unwrap()].seq, chosen, "stays on the record chosen");
        c.toggle_follow();
        assert_eq!(c.position(&rows), Some(0));
    }
}
