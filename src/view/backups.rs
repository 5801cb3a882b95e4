//! The backups pane: a row per cluster and Velero schedule, worst first, with the RPO
//! against the schedule's own interval, the last attempt, the storage location and the
//! next run; the fleet's figures above. Enter opens a schedule: its backups (one selected,
//! to restore from) and the cluster's restores, in flight ones with their progress.

use jiff::Timestamp;

use super::detail::{DetailVm, field, heading};
use super::format::{age, ago_text, truncate, wrap};
use super::table::{Cell, ColumnSpec, Line, TableVm, Tone, fit_pieces};
use crate::action::Pane;
use crate::app::model::Model;
use crate::derive::backups::{BackupRow, FleetBackups, RowKind, backups_of, restores_of};
use crate::derive::{Derived, RowKey};
use crate::fleet::ago;
use crate::fleet::backup::{BackupSummary, RestoreSummary, Rpo, ScheduleHealth, StorageSummary};
use crate::fleet::cluster::{ClusterModel, State};
use crate::fleet::phase::VeleroPhase;

fn specs() -> [ColumnSpec; 9] {
    [
        ColumnSpec::new("CLUSTER", 16, 0),
        ColumnSpec::new("SCHEDULE", 16, 0),
        ColumnSpec::new("STATE", 15, 0),
        ColumnSpec::new("AGE/RPO", 9, 1),
        ColumnSpec::new("LAST ATTEMPT", 15, 1),
        ColumnSpec::new("STORAGE", 12, 2),
        ColumnSpec::new("NEXT", 7, 3).right(),
        ColumnSpec::new("CRON", 12, 4),
        ColumnSpec::new("PROBLEM", 14, 2).flex(),
    ]
}

fn tone_of(severity: i8) -> Tone {
    match severity {
        3.. => Tone::Crit,
        1 | 2 => Tone::Warn,
        0 => Tone::Ok,
        _ => Tone::Muted,
    }
}

/// The STATE cell: the verdict, with how late for a late schedule.
fn state_cell(row: &BackupRow, now: Timestamp) -> Cell {
    let tone = tone_of(row.severity());
    let text = match row.health().map(|h| &h.rpo) {
        Some(Rpo::Late { since }) => format!("late {}", age(ago(now, *since))),
        _ => row.state_word().to_owned(),
    };
    Cell::new(text, tone)
}

/// "23m/90m": the newest good backup's age against the oldest it may be (the schedule's
/// interval and the grace).
fn age_cell(h: &ScheduleHealth, now: Timestamp) -> Cell {
    let interval = h.interval.map(|i| age(i + h.grace)).unwrap_or_else(|| "?".to_owned());
    match h.age(now) {
        Some(a) => {
            Cell::new(format!("{}/{interval}", age(a)), if h.rpo.breached() { Tone::Crit } else { Tone::Normal })
        }
        None => Cell::new(format!("—/{interval}"), if h.rpo.breached() { Tone::Crit } else { Tone::Muted }),
    }
}

/// A backup's phase with its progress or its errors and warnings, short.
fn phase_text(b: &BackupSummary) -> String {
    match &b.phase {
        VeleroPhase::Unset => "New".to_owned(),
        p if !p.finished() && b.total_items > 0 => {
            format!("{p} {}%", b.items_backed_up * 100 / b.total_items.max(1))
        }
        VeleroPhase::Completed if b.warnings > 0 => format!("Completed {}w", b.warnings),
        VeleroPhase::PartiallyFailed => format!("Partial {}e {}w", b.errors, b.warnings),
        p => p.to_string(),
    }
}

fn phase_tone(phase: &VeleroPhase, warnings: i64) -> Tone {
    match phase {
        VeleroPhase::Completed if warnings > 0 => Tone::Warn,
        VeleroPhase::Completed => Tone::Ok,
        VeleroPhase::PartiallyFailed => Tone::Warn,
        VeleroPhase::Failed | VeleroPhase::FailedValidation => Tone::Crit,
        _ => Tone::Accent,
    }
}

/// The storage location a row's backups go to (or the default one).
fn storage_of<'a>(c: &'a ClusterModel, row: &BackupRow) -> Option<&'a StorageSummary> {
    match row.schedule().and_then(|k| c.schedules.get(k)) {
        Some(schedule) => c.storage.values().find(|s| schedule.stores_in(s)),
        None => c.storage.values().find(|s| s.default),
    }
}

fn storage_cell(s: Option<&StorageSummary>, now: Timestamp) -> Cell {
    match s {
        None => Cell::muted("none"),
        Some(s) if s.available() => {
            let checked = s.last_validation.map(|t| format!(" {}", age(ago(now, t)))).unwrap_or_default();
            Cell::new(format!("ok{checked}"), Tone::Ok)
        }
        Some(s) if s.phase.is_empty() => Cell::muted("unvalidated"),
        Some(s) => Cell::new(s.phase.clone(), Tone::Crit),
    }
}

fn problem_text(row: &BackupRow) -> String {
    match &row.kind {
        RowKind::Schedule { health, .. } => match (&health.rpo, health.findings.first()) {
            (Rpo::Invalid(why), _) => why.clone(),
            (_, Some(f)) => f.text(),
            (Rpo::Never { .. }, None) => "no Completed backup of this schedule exists".to_owned(),
            (Rpo::Late { .. }, None) => "no backup since the run due".to_owned(),
            _ => String::new(),
        },
        RowKind::NoSchedule => "Velero runs but nothing schedules backups".to_owned(),
        RowKind::NotInstalled => String::new(),
        RowKind::Unknown => "reading Velero's objects…".to_owned(),
    }
}

fn row_cells(model: &Model, derived: &Derived, row: &BackupRow) -> Vec<Cell> {
    let now = model.now;
    let c = &model.fleet.clusters()[row.cluster];
    let live = derived.cluster(row.cluster).is_some_and(|v| matches!(v.state, State::Live | State::Syncing));
    let mut cells = vec![Cell::new(c.context.clone(), if live { Tone::Normal } else { Tone::Stale })];
    let dash = || Cell::muted("—");
    match &row.kind {
        RowKind::Schedule { key, health } => {
            let schedule = c.schedules.get(key);
            cells.push(Cell::plain(key.1.clone()));
            cells.push(state_cell(row, now));
            cells.push(age_cell(health, now));
            cells.push(match health.last_attempt.as_ref().and_then(|k| c.backups.get(k)) {
                Some(b) => Cell::new(phase_text(b), phase_tone(&b.phase, b.warnings)),
                None => dash(),
            });
            cells.push(storage_cell(storage_of(c, row), now));
            cells.push(match health.next_run {
                Some(at) => Cell::plain(age(ago(at, now))),
                None if schedule.is_some_and(|s| s.paused) => Cell::new("paused", Tone::Warn),
                None => dash(),
            });
            cells.push(Cell::muted(schedule.map(|s| s.cron.clone()).unwrap_or_default()));
        }
        _ => {
            cells.push(dash());
            cells.push(state_cell(row, now));
            cells.extend([dash(), dash()]);
            cells.push(if row.kind == RowKind::NoSchedule { storage_cell(storage_of(c, row), now) } else { dash() });
            cells.extend([dash(), dash()]);
        }
    }
    let problem = problem_text(row);
    let tone = if row.severity() >= 3 { Tone::Crit } else { Tone::Warn };
    cells.push(if live || problem.is_empty() {
        Cell::new(problem, tone)
    } else {
        Cell::new(format!("{problem} (last known: cluster not answering)"), tone)
    });
    cells
}

/// The table of `keys` (the pane's rows after the filter).
pub fn table(model: &Model, derived: &Derived, keys: &[RowKey], width: u16, height: usize) -> TableVm {
    let selected = super::selection(model, Pane::Backups, keys);
    let mut t = TableVm::window(&specs(), width, height, keys.len(), selected, |visible| {
        keys[visible].iter().filter_map(|k| derived.backup_row(k)).map(|r| row_cells(model, derived, r)).collect()
    });
    if t.total == 0 {
        t.empty = Some(if !model.ui.filter.text().is_empty() {
            format!("no schedule matches \"{}\"", model.ui.filter.text())
        } else {
            "Velero is not installed on any cluster of the kubeconfig".to_owned()
        });
    }
    t
}

/// The fleet's figures: clusters within RPO, the oldest good backup, failures in the
/// last day, the recent restores' durations, what is running; and where Velero is not
/// installed, said once.
/// `recovered`: the newest confirmed rollback's cluster and time to recovery.
pub fn subtitle(
    fleet: &FleetBackups,
    recovered: Option<(&str, std::time::Duration)>,
    now: Timestamp,
    width: u16,
) -> Vec<Vec<Cell>> {
    let mut pieces: Vec<(u8, Vec<Cell>)> = Vec::new();
    let all = fleet.clusters > 0 && fleet.within == fleet.clusters;
    pieces.push((
        0,
        vec![Cell::new(
            format!("{}/{} clusters within RPO", fleet.within, fleet.clusters),
            if all { Tone::Ok } else { Tone::Crit },
        )],
    ));
    if let Some((at, cluster, schedule)) = &fleet.oldest {
        let a = ago(now, *at);
        pieces.push((1, vec![Cell::plain(format!("oldest good backup {} ({cluster}/{schedule})", age(a)))]));
    }
    pieces.push((
        0,
        vec![Cell::new(
            format!("{} failed in 24h", fleet.failures_24h),
            if fleet.failures_24h > 0 { Tone::Warn } else { Tone::Ok },
        )],
    ));
    let rto = if fleet.rto.is_empty() {
        "RTO: no restore yet".to_owned()
    } else {
        let worst = fleet.rto.iter().max().copied().unwrap_or_default();
        let list: Vec<String> = fleet.rto.iter().map(|d| age(*d)).collect();
        format!("RTO: last restores {} (max {})", list.join(" "), age(worst))
    };
    pieces.push((2, vec![Cell::muted(rto)]));
    // The time to recovery of the last rollback: from its trigger to confirmed.
    if let Some((cluster, ttr)) = recovered {
        pieces.push((1, vec![Cell::plain(format!("last rollback: {cluster} recovered in {}", age(ttr)))]));
    }
    if fleet.running_backups + fleet.running_restores > 0 {
        pieces.push((
            1,
            vec![Cell::new(
                format!("running: {} backups, {} restores", fleet.running_backups, fleet.running_restores),
                Tone::Accent,
            )],
        ));
    }
    if fleet.not_installed > 0 {
        let text = format!(
            "Velero not installed on {} cluster{}",
            fleet.not_installed,
            if fleet.not_installed == 1 { "" } else { "s" }
        );
        pieces.push((3, vec![Cell::muted(text)]));
    }
    vec![fit_pieces(pieces, width)]
}

/// A fixed-width table line of the detail.
fn columns_line(cells: Vec<(String, usize, Tone)>) -> Line {
    cells.into_iter().map(|(text, w, tone)| Cell::new(format!("{:<w$} ", truncate(&text, w)), tone)).collect()
}

fn backup_line(b: &BackupSummary, now: Timestamp, selected: bool) -> Line {
    let duration = b.duration(now).map(age).unwrap_or_else(|| "—".to_owned());
    let items = if b.total_items > 0 { format!("{}/{}", b.items_backed_up, b.total_items) } else { "—".to_owned() };
    let expires = b.expiration.map_or("—".to_owned(), |e| age(ago(e, now)));
    let marker = if selected { "›" } else { " " };
    let name_tone = if selected { Tone::Accent } else { Tone::Normal };
    let mut line = columns_line(vec![
        (format!("{marker} {}", b.name), 34, name_tone),
        (phase_text(b), 16, phase_tone(&b.phase, b.warnings)),
        (ago_text(now, b.data_at()), 9, Tone::Normal),
        (duration, 6, Tone::Normal),
        (items, 9, Tone::Normal),
        (b.errors.to_string(), 4, if b.errors > 0 { Tone::Crit } else { Tone::Muted }),
        (b.warnings.to_string(), 4, if b.warnings > 0 { Tone::Warn } else { Tone::Muted }),
        (expires, 6, Tone::Muted),
    ]);
    let problem = b.problem();
    if !problem.is_empty() && b.phase != VeleroPhase::Completed {
        line.push(Cell::new(problem, Tone::Crit));
    }
    line
}

fn restore_line(r: &RestoreSummary, now: Timestamp) -> Line {
    let progress = if r.phase.finished() {
        r.took().map(|d| format!("took {}", age(d))).unwrap_or_else(|| "—".to_owned())
    } else if r.total_items > 0 {
        format!("{}/{} items", r.items_restored, r.total_items)
    } else {
        "—".to_owned()
    };
    let phase = r.phase.to_string();
    let mut line = columns_line(vec![
        (format!("  {}", r.name), 34, Tone::Normal),
        (phase, 16, phase_tone(&r.phase, r.warnings)),
        (ago_text(now, r.started.or(r.created)), 9, Tone::Normal),
        (progress, 16, Tone::Normal),
        (format!("{}e {}w", r.errors, r.warnings), 8, if r.errors > 0 { Tone::Crit } else { Tone::Muted }),
        (r.backup.clone(), 34, Tone::Muted),
    ]);
    let problem = r.problem();
    if !problem.is_empty() {
        line.push(Cell::new(problem, Tone::Crit));
    }
    line
}

fn health_lines(h: &ScheduleHealth, now: Timestamp, width: u16) -> Vec<Line> {
    let mut lines = Vec::new();
    let target = match h.interval {
        Some(i) => format!("every {} (+{} grace)", age(i), age(h.grace)),
        None => "unknown".to_owned(),
    };
    let verdict = match &h.rpo {
        Rpo::Within => Cell::new(
            format!("within: the newest good backup is {} old", h.age(now).map(age).unwrap_or_else(|| "—".to_owned())),
            Tone::Ok,
        ),
        Rpo::NotDue => Cell::muted("no run due yet"),
        Rpo::Late { since } => {
            Cell::new(format!("late by {} (the run due was not backed up)", age(ago(now, *since))), Tone::Crit)
        }
        Rpo::Never { since } => {
            Cell::new(format!("never backed up (runs due for {})", age(ago(now, *since))), Tone::Crit)
        }
        Rpo::Invalid(why) => Cell::new(why.clone(), Tone::Crit),
    };
    lines.push(field("RPO", vec![verdict, Cell::muted(format!("  target {target}"))]));
    if let Some(next) = h.next_run {
        lines.push(field("Next run", vec![Cell::plain(format!("in {} ({next})", age(ago(next, now))))]));
    }
    for f in &h.findings {
        let tone = if f.critical() { Tone::Crit } else { Tone::Warn };
        for (i, l) in wrap(&f.text(), width.saturating_sub(14) as usize).into_iter().enumerate() {
            lines.push(field(if i == 0 { "Finding" } else { "" }, vec![Cell::new(l, tone)]));
        }
    }
    lines
}

/// The detail of a row: the schedule and its RPO, the storage location, the backups (one
/// selected: the restore action's source) and the cluster's restores.
pub fn detail(model: &Model, derived: &Derived, key: &RowKey, width: u16, height: u16) -> Option<DetailVm> {
    let now = model.now;
    let row = derived.backup_row(key)?;
    let c = &model.fleet.clusters()[row.cluster];
    let mut lines: Vec<Line> = Vec::new();
    let schedule = row.schedule().and_then(|k| c.schedules.get(k));
    if let Some(s) = schedule {
        let mut spec = vec![Cell::plain(format!("\"{}\"", s.cron))];
        if s.paused {
            spec.push(Cell::new("  paused", Tone::Warn));
        }
        spec.push(Cell::muted(format!("  phase {}", if s.phase.is_empty() { "New" } else { &s.phase })));
        lines.push(field("Schedule", spec));
        lines.push(field("Last backup", vec![Cell::plain(ago_text(now, s.last_backup))]));
    } else {
        lines.push(field("Schedule", vec![Cell::new(problem_text(row), tone_of(row.severity()))]));
    }
    if let Some(h) = row.health() {
        lines.extend(health_lines(h, now, width));
    }
    let storage = match storage_of(c, row) {
        Some(s) => {
            let mut cells = vec![storage_cell(Some(s), now)];
            cells.push(Cell::muted(format!(
                "  {} ({} bucket {}), validated {}",
                s.name,
                s.provider,
                s.bucket,
                ago_text(now, s.last_validation)
            )));
            if !s.message.is_empty() && !s.available() {
                cells.push(Cell::new(format!("  {}", s.message), Tone::Crit));
            }
            cells
        }
        None => vec![Cell::new("no storage location", Tone::Warn)],
    };
    lines.push(field("Storage", storage));
    lines.push(Vec::new());

    let backups = backups_of(c, row);
    let cursor = model.ui.detail_scroll.min(backups.len().saturating_sub(1));
    lines.push(heading(format!("Backups ({}, newest first; the selected one is restored from)", backups.len())));
    lines.push(columns_line(
        [
            ("  NAME", 34),
            ("PHASE", 16),
            ("STARTED", 9),
            ("TOOK", 6),
            ("ITEMS", 9),
            ("ERR", 4),
            ("WARN", 4),
            ("EXPIRES", 6),
        ]
        .into_iter()
        .map(|(t, w)| (t.to_owned(), w, Tone::Muted))
        .collect(),
    ));
    let first_backup_line = lines.len();
    if backups.is_empty() {
        lines.push(vec![Cell::muted("  none")]);
    }
    for (i, (_, b)) in backups.iter().enumerate() {
        lines.push(backup_line(b, now, i == cursor));
    }
    lines.push(Vec::new());
    let restores = restores_of(c);
    lines.push(heading(format!("Restores on {} ({}, newest first)", c.context, restores.len())));
    if restores.is_empty() {
        lines.push(vec![Cell::muted("  none")]);
    } else {
        lines.push(columns_line(
            [("  NAME", 34), ("PHASE", 16), ("STARTED", 9), ("PROGRESS", 16), ("ERR/WARN", 8), ("FROM BACKUP", 34)]
                .into_iter()
                .map(|(t, w)| (t.to_owned(), w, Tone::Muted))
                .collect(),
        ));
        for (_, r) in restores {
            lines.push(restore_line(r, now));
        }
    }
    // Keep the selected backup in view: the body is the screen less the chrome.
    let visible = height.saturating_sub(5) as usize;
    let cursor_line = first_backup_line + cursor;
    let scroll = (cursor_line + 3).saturating_sub(visible);
    let title = match row.schedule() {
        Some((ns, name)) => format!("Backups · {} · {ns}/{name}", c.context),
        None => format!("Backups · {}", c.context),
    };
    Some(DetailVm { title, lines, scroll, chart: None })
}
