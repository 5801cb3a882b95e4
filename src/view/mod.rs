//! View models: the model, its derived fleet and the viewport size turned into what the
//! widgets draw, nothing more. Every table makes cells for its visible rows only; times
//! are the model's (one clock for keys, filters and cells).

pub mod audit;
pub mod backups;
pub mod chrome;
pub mod detail;
pub mod format;
pub mod health;
pub mod latency;
pub mod operation;
pub mod propagation;
pub mod runs;
pub mod spoke;
pub mod table;
pub mod wall;

use crate::action::Pane;
use crate::app::model::Model;
use crate::derive::{Derived, RowKey};
use chrome::{FooterVm, HeaderVm, HelpVm, KeyHints};
use detail::DetailVm;
use propagation::RevisionChartVm;
use table::{Cell, TableVm};

/// The smallest terminal the layout works in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Table(TableVm),
    Detail(DetailVm),
    Message(String),
    Wall(wall::WallVm),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenVm {
    pub header: HeaderVm,
    /// The firing rollback triggers' red line, below the header.
    pub alert: Option<Vec<Cell>>,
    pub title: String,
    /// Lines between the title and the body.
    pub subtitle: Vec<Vec<Cell>>,
    pub body: Body,
    /// Drawn below a table body, `height` rows.
    pub chart: Option<(RevisionChartVm, u16)>,
    pub footer: FooterVm,
    /// The operator action's panel, over everything but help.
    pub operation: Option<operation::OperationVm>,
    pub help: Option<HelpVm>,
    /// Set when the terminal is below the minimum size: only this is drawn.
    pub too_small: Option<String>,
}

/// Rows of the layout around the body: header, title, footer (two lines).
const CHROME_ROWS: u16 = 4;

/// How many table rows fit under `subtitle` lines (the table's one-line header excluded).
pub fn table_rows(height: u16, subtitle: usize) -> usize {
    height.saturating_sub(CHROME_ROWS + subtitle as u16 + 1) as usize
}

/// The screen of the model at its time: `derived` is the model's fleet derived (now).
pub fn screen(model: &Model, derived: &Derived, hints: &KeyHints, width: u16, height: u16) -> ScreenVm {
    let now = model.now;
    let too_small = (width < MIN_WIDTH || height < MIN_HEIGHT).then(|| {
        format!("fleetdeck needs a terminal of at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {width}×{height}")
    });
    if let Some(wall) = &model.ui.wall {
        return ScreenVm { too_small, ..wall::screen(model, derived, wall, hints, width, height) };
    }
    let alert = chrome::trigger_line(model, derived, hints, width);
    let height = height.saturating_sub(u16::from(alert.is_some()));
    let header = chrome::header(model, hints, now);
    let footer = chrome::footer(model, derived, hints, width);
    let help = model.ui.help.then(|| chrome::help(hints, model.ui.pane));
    let panel = operation::panel(model, now, width);
    let pane = model.ui.pane;
    let opened = model.ui.detail.as_ref().and_then(|key| match pane {
        Pane::Propagation => spoke::detail(model, derived, key, width),
        Pane::Backups => backups::detail(model, derived, key, width, height),
        Pane::Audit => audit::detail(model, key, width),
        Pane::Runs => runs::detail(model, hints, key, width),
        _ => detail::detail(model, derived, key, width),
    });
    if let Some(d) = opened {
        let title = d.title.clone();
        return ScreenVm {
            header,
            alert,
            title,
            subtitle: Vec::new(),
            body: Body::Detail(d),
            chart: None,
            footer,
            operation: panel,
            help,
            too_small,
        };
    }
    let mut chart = None;
    let (title, subtitle, body) = match pane {
        Pane::Health => {
            let rows = table_rows(height, 0);
            (
                format!("Health · {} clusters", model.fleet.clusters().len()),
                Vec::new(),
                Body::Table(health::table(model, derived, width, rows)),
            )
        }
        Pane::Latency => {
            let rows = table_rows(height, 1);
            let subtitle = vec![vec![Cell::muted(latency::subtitle(model))]];
            (latency::title(derived), subtitle, Body::Table(latency::table(model, derived, width, rows)))
        }
        Pane::Propagation => {
            let subtitle = propagation::subtitle(model, derived, width);
            let available = table_rows(height, subtitle.len());
            let keys = derived.keys(&model.fleet, Pane::Propagation, model.ui.filter.text());
            let header = propagation::extra_header_rows(derived, width) as usize;
            let needed = keys.len().max(1) + header;
            // The chart takes what the rows leave, past a blank line, when that is enough.
            let spare = available.saturating_sub(needed + 1) as u16;
            let charted = !derived.shared.columns.is_empty();
            let rows = if charted && spare >= propagation::CHART_ROWS {
                let h = spare.min(propagation::CHART_ROWS + 2);
                chart = Some((propagation::chart(model, width), h));
                available - h as usize - 1
            } else {
                available
            };
            let title = format!("Propagation · {} spokes", derived.sync.spokes);
            (title, subtitle, Body::Table(propagation::table(model, derived, &keys, width, rows)))
        }
        Pane::Backups => {
            let keys = derived.keys(&model.fleet, Pane::Backups, model.ui.filter.text());
            let runs = model.fleet.hub().into_iter().flat_map(|h| h.runs.values().map(|r| &**r));
            let recovered = crate::workflow::rollback::recoveries(runs).into_iter().next();
            let subtitle =
                backups::subtitle(&derived.fleet_backups, recovered.map(|(r, d)| (r.cluster.as_str(), d)), now, width);
            let height = table_rows(height, subtitle.len());
            let schedules = keys.iter().filter(|k| matches!(k, RowKey::Backup { schedule: Some(_), .. })).count();
            let title = format!("Backups · {schedules} schedules");
            (title, subtitle, Body::Table(backups::table(model, derived, &keys, width, height)))
        }
        Pane::Audit => {
            let (title, subtitle, table) = audit::pane(model, hints, width, height);
            (title, subtitle, Body::Table(table))
        }
        Pane::Runs => {
            let keys = derived.keys(&model.fleet, Pane::Runs, model.ui.filter.text());
            let (title, table) = runs::pane(model, &keys, width, table_rows(height, 0));
            (title, Vec::new(), Body::Table(table))
        }
    };
    ScreenVm { header, alert, title, subtitle, body, chart, footer, operation: panel, help, too_small }
}

/// The position of the selected key among `keys`: the stored one while listed, else the
/// first row.
pub fn selection(model: &Model, pane: Pane, keys: &[RowKey]) -> Option<usize> {
    let stored = model.ui.selected.get(&pane).and_then(|k| keys.iter().position(|x| x == k));
    stored.or((!keys.is_empty()).then_some(0))
}
