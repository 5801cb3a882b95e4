//! `fleetdeck journal export`: the journal's entries as a JSON array or as CSV (one row
//! per entry, the nested fields flattened), optionally only those since a time.

use std::io::Write;

use color_eyre::eyre::{Result, WrapErr};
use jiff::Timestamp;

use super::Entry;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 19] = [
    "seq",
    "time",
    "phase",
    "write_id",
    "action",
    "cluster",
    "spoke",
    "api_version",
    "kind",
    "namespace",
    "name",
    "kube_user",
    "local_user",
    "host",
    "confirmation",
    "ok",
    "message",
    "prev",
    "hash",
];

/// Writes the entries at or after `since` to `out`.
pub fn export(entries: &[Entry], format: Format, since: Option<Timestamp>, out: impl Write) -> Result<()> {
    let chosen = entries.iter().filter(|e| since.is_none_or(|s| e.time >= s));
    match format {
        Format::Json => {
            let list: Vec<&Entry> = chosen.collect();
            let mut out = out;
            serde_json::to_writer_pretty(&mut out, &list).wrap_err("writing JSON")?;
            writeln!(out).wrap_err("writing JSON")?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_COLUMNS).wrap_err("writing CSV")?;
            for e in chosen {
                let (ok, message) = match &e.result {
                    Some(r) => (r.ok.to_string(), r.message.clone()),
                    None => (String::new(), String::new()),
                };
                w.write_record([
                    e.seq.to_string(),
                    e.time.to_string(),
                    e.phase.label().to_owned(),
                    e.write_id.clone(),
                    e.action.clone(),
                    e.cluster.clone(),
                    e.spoke.clone(),
                    e.object.api_version.clone(),
                    e.object.kind.clone(),
                    e.object.namespace.clone(),
                    e.object.name.clone(),
                    e.operator.kube_user.clone(),
                    e.operator.local_user.clone(),
                    e.operator.host.clone(),
                    e.confirmation.clone(),
                    ok,
                    message,
                    e.prev.clone(),
                    e.hash.clone(),
                ])
                .wrap_err("writing CSV")?;
            }
            w.flush().wrap_err("writing CSV")?;
        }
    }
    Ok(())
}

/// `--since`: an RFC 3339 time, or a duration back from `now` ("24h", "7d").
pub fn parse_since(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let back = humantime::parse_duration(text).map_err(|_| {
        format!("--since {text:?}: give an RFC 3339 time (2026-11-24T08:00:00Z) or a duration (24h, 7d)")
    })?;
    let back = jiff::SignedDuration::try_from(back).map_err(|e| e.to_string())?;
    now.checked_sub(back).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::entry::tests::draft;
    use super::super::{Entry, GENESIS};
    use super::*;

    fn entries() -> Vec<Entry> {
        let a = Entry::chain(draft(0), 1, GENESIS);
        let mut d = draft(1);
        d.result = Some(crate::journal::entry::Result { ok: false, message: "403 Forbidden, \"no\"".into() });
        let b = Entry::chain(d, 2, &a.hash);
        vec![a, b]
    }

    #[test]
    fn json_is_an_array_of_entries() {
        let mut out = Vec::new();
        export(&entries(), Format::Json, None, &mut out).unwrap();
        let back: Vec<Entry> = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, entries());
    }

    #[test]
    fn csv_quotes_and_flattens() {
        let mut out = Vec::new();
        export(&entries(), Format::Csv, None, &mut out).unwrap();
        let mut r = csv::Reader::from_reader(out.as_slice());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), CSV_COLUMNS);
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[1][15], "false");
        assert_eq!(&rows[1][16], "403 Forbidden, \"no\"");
        assert_eq!(&rows[0][2], "intent");
    }

    #[test]
    fn since_takes_a_time_or_a_duration() {
        let now = Timestamp::from_second(1_800_000_100).unwrap();
        assert_eq!(parse_since("100s", now).unwrap(), Timestamp::from_second(1_800_000_000).unwrap());
        assert_eq!(parse_since("2027-01-15T08:00:00Z", now).unwrap().to_string(), "2027-01-15T08:00:00Z");
        assert!(parse_since("yesterday", now).is_err());
        let mut out = Vec::new();
        export(&entries(), Format::Json, Some(Timestamp::from_second(1_800_000_001).unwrap()), &mut out).unwrap();
        assert_eq!(serde_json::from_slice::<Vec<Entry>>(&out).unwrap().len(), 1);
    }
}
