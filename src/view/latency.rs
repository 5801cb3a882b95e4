//! The latency pane: API round trips per cluster against the target, measured from where
//! fleetdeck runs.

use jiff::Timestamp;

use super::format::{age, latency, sparkline};
use super::table::{Cell, ColumnSpec, TableVm, Tone};
use crate::action::Pane;
use crate::app::model::Model;
use crate::app::rows::{row_keys, selected_key};

pub const COLUMNS: [ColumnSpec; 8] = [
    ColumnSpec::new("NAME", 20, 0),
    ColumnSpec::new("P50", 8, 0).right(),
    ColumnSpec::new("P95", 8, 0).right(),
    ColumnSpec::new("P99", 8, 1).right(),
    ColumnSpec::new("MAX", 8, 2).right(),
    ColumnSpec::new("FAILED", 6, 1).right(),
    ColumnSpec::new("OVER", 5, 2).right(),
    ColumnSpec::new("TREND", 10, 3).flex(),
];

/// The line above the table: what is measured, from where, against what.
pub fn subtitle(model: &Model) -> String {
    format!(
        "GET /readyz from {} · target {} · window {}",
        model.settings.vantage,
        latency(model.settings.latency_target),
        age(model.settings.latency_window)
    )
}

pub fn table(model: &Model, now: Timestamp, width: u16, height: usize) -> TableVm {
    let keys = row_keys(model, Pane::Latency);
    let selected = selected_key(model, Pane::Latency).and_then(|s| keys.iter().position(|k| *k == s));
    let target = model.settings.latency_target;
    let spark_width = super::table::fit(&COLUMNS, width).last().map_or(10, |(_, c)| c.width as usize);
    let rows: Vec<Vec<Cell>> = keys
        .iter()
        .filter_map(|key| model.cluster_by_name(key))
        .map(|(_, c)| {
            let stats = c.probes.latency(now, target);
            let value = |d: Option<std::time::Duration>| match d {
                Some(d) => Cell::new(latency(d), if d > target { Tone::Warn } else { Tone::Normal }),
                None => Cell::muted("—"),
            };
            let failed =
                Cell::new(stats.failures.to_string(), if stats.failures > 0 { Tone::Crit } else { Tone::Muted });
            let over = Cell::new(stats.breaches.to_string(), if stats.breaches > 0 { Tone::Warn } else { Tone::Muted });
            let recent = c.probes.recent(spark_width);
            let trend_tone = if recent.iter().any(Option::is_none) {
                Tone::Crit
            } else if recent.iter().flatten().any(|us| *us > target.as_micros() as u64) {
                Tone::Warn
            } else {
                Tone::Ok
            };
            vec![
                Cell::new(c.context.clone(), if c.is_hub { Tone::Accent } else { Tone::Normal }),
                value(stats.p50),
                value(stats.p95),
                value(stats.p99),
                value(stats.max),
                failed,
                over,
                Cell::new(sparkline(&recent, target.as_micros() as u64, spark_width), trend_tone),
            ]
        })
        .collect();
    let mut t = TableVm::build(&COLUMNS, width, height, rows, selected);
    if t.total == 0 {
        t.empty = Some("no clusters".into());
    }
    t
}
