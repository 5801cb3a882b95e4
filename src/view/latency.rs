//! The latency pane: API round trips per cluster against the target, measured from where
//! fleetdeck runs.

use super::format::{age, latency, sparkline};
use super::table::{Cell, ColumnSpec, TableVm, Tone};
use crate::action::Pane;
use crate::app::model::Model;
use crate::derive::Derived;
use crate::derive::cluster::ClusterView;

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
    let s = &model.fleet.settings;
    format!(
        "GET /readyz from {} · target {} · window {}",
        model.settings.vantage,
        latency(s.latency_target),
        age(s.latency_window)
    )
}

/// "Latency · 3 of 1001 clusters over the target": how many breach it, which with a
/// thousand rows is what one needs to know first.
pub fn title(derived: &Derived) -> String {
    let over = derived.clusters.iter().filter(|c| c.latency.breaches > 0).count();
    match over {
        0 => format!("Latency · no cluster over the target ({} clusters)", derived.clusters.len()),
        n => format!("Latency · {n} of {} clusters over the target", derived.clusters.len()),
    }
}

fn row(model: &Model, v: &ClusterView, spark_width: usize) -> Vec<Cell> {
    let c = &model.fleet.clusters()[v.id];
    let target = model.fleet.settings.latency_target;
    let stats = &v.latency;
    let value = |d: Option<std::time::Duration>| match d {
        Some(d) => Cell::new(latency(d), if d > target { Tone::Warn } else { Tone::Normal }),
        None => Cell::muted("—"),
    };
    let failed = Cell::new(stats.failures.to_string(), if stats.failures > 0 { Tone::Crit } else { Tone::Muted });
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
}

pub fn table(model: &Model, derived: &Derived, width: u16, height: usize) -> TableVm {
    let keys = derived.keys(&model.fleet, Pane::Latency, model.ui.filter.text());
    let selected = super::selection(model, Pane::Latency, &keys);
    let spark_width = super::table::fit(&COLUMNS, width).last().map_or(10, |(_, c)| c.width as usize);
    let mut t = TableVm::window(&COLUMNS, width, height, keys.len(), selected, |visible| {
        keys[visible]
            .iter()
            .filter_map(|k| k.cluster().and_then(|id| derived.cluster(id)))
            .map(|v| row(model, v, spark_width))
            .collect()
    });
    if t.total == 0 {
        t.empty = Some("no clusters".into());
    }
    t
}
