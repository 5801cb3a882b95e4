//! The runs pane's rows: every run the hub holds, newest first, each with its state as
//! seen now (a running run whose session is gone is interrupted).

use std::time::Duration;

use jiff::Timestamp;

use crate::fleet::run::{Run, RunState};
use crate::fleet::state::FleetState;

/// A run as the runs pane and `fleetdeck runs` show it.
#[derive(Debug, Clone)]
pub struct RunRow<'a> {
    pub run: &'a Run,
    pub state: RunState,
    /// 1-based; the last step once the run is past them.
    pub step: usize,
    pub steps: usize,
    pub step_name: &'a str,
    /// How long it ran (until now while it is not finished).
    pub duration: Duration,
}

impl<'a> RunRow<'a> {
    pub fn of(run: &'a Run, now: Timestamp, ttl: Duration, host: &str) -> Self {
        let state = run.state_at(now, ttl, host);
        let steps = run.steps.len();
        let step = (run.current + 1).min(steps);
        let end = run.finished_at.unwrap_or(now);
        Self {
            run,
            state,
            step,
            steps,
            step_name: run.step().map_or("", |s| s.name.as_str()),
            duration: crate::fleet::ago(end, run.started_at),
        }
    }

    /// The lower-case text the filter matches.
    pub fn search(&self) -> String {
        let r = self.run;
        format!("{} {} {} {} {}", r.workflow.name(), r.cluster, self.state.name(), r.by.label(), r.id).to_lowercase()
    }
}

/// The hub's runs, newest first (their records' names sort by start time).
pub fn rows(fleet: &FleetState, now: Timestamp) -> impl Iterator<Item = RunRow<'_>> {
    let settings = &fleet.settings;
    let runs = fleet.hub().map(|h| &h.runs);
    runs.into_iter()
        .flat_map(|r| r.values().rev())
        .map(move |run| RunRow::of(run, now, settings.lock_ttl, &settings.host))
}

/// The runs still going (running or waiting), for the wall's banner.
pub fn going(fleet: &FleetState, now: Timestamp) -> Vec<RunRow<'_>> {
    rows(fleet, now).filter(|r| matches!(r.state, RunState::Running | RunState::Waiting)).collect()
}

/// `fleetdeck runs --json`: `{"runs": [...]}`, each with the fields the README documents
/// (fields are only ever added).
pub fn json(rows: &[RunRow]) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.run.id,
                "workflow": r.run.workflow.name(),
                "cluster": r.run.cluster,
                "state": r.state.name(),
                "step": r.step,
                "steps": r.steps,
                "step_name": r.step_name,
                "by": r.run.by.label(),
                "started_at": r.run.started_at.to_string(),
                "finished_at": r.run.finished_at.map(|t| t.to_string()),
                "outcome": r.run.outcome,
                "overrides": r.run.overrides.iter().map(|o| serde_json::json!({
                    "step": o.step + 1, "reason": o.reason, "by": o.by, "at": o.at.to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({"runs": runs})
}

/// `fleetdeck runs`: the pane's columns as text.
pub fn write_text(rows: &[RunRow], out: &mut impl std::io::Write) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no runs on the hub");
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.run.workflow.name().to_owned(),
                r.run.cluster.clone(),
                format!("{}/{} {}", r.step, r.steps, r.step_name),
                r.state.name().to_owned(),
                r.run.by.label(),
                r.run.started_at.strftime("%Y-%m-%d %H:%M:%S").to_string(),
                humantime::format_duration(Duration::from_secs(r.duration.as_secs())).to_string(),
            ]
        })
        .collect();
    let head = ["WORKFLOW", "CLUSTER", "STEP", "STATE", "BY", "STARTED (UTC)", "DURATION"];
    let mut widths = head.map(str::len);
    for row in &table {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect::<Vec<_>>().join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&head))?;
    for row in &table {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}
