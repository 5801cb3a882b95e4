//! View models: the model, the time and the viewport size turned into what the widgets
//! draw, nothing more. Rows are trimmed to what is visible; the result is cached until
//! the model's version, the second or the size changes.

pub mod audit;
pub mod backups;
pub mod chrome;
pub mod detail;
pub mod format;
pub mod health;
pub mod latency;
pub mod operation;
pub mod propagation;
pub mod spoke;
pub mod table;
pub mod wall;

use jiff::Timestamp;

use crate::action::Pane;
use crate::app::model::Model;
use crate::app::propagation::fleet_sync;
use crate::app::rows::row_keys;
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

pub fn screen(model: &Model, hints: &KeyHints, now: Timestamp, width: u16, height: u16) -> ScreenVm {
    let too_small = (width < MIN_WIDTH || height < MIN_HEIGHT).then(|| {
        format!("fleetdeck needs a terminal of at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {width}×{height}")
    });
    if let Some(wall) = &model.ui.wall {
        return ScreenVm { too_small, ..wall::screen(model, wall, hints, now, width, height) };
    }
    let header = chrome::header(model, hints, now);
    let fleet = fleet_sync(model);
    let footer = chrome::footer(model, &fleet, hints, now, width);
    let help = model.ui.help.then(|| chrome::help(hints, model.ui.pane));
    let panel = operation::panel(model, now, width);
    let pane = model.ui.pane;
    let opened = model.ui.detail.as_ref().and_then(|key| match pane {
        Pane::Propagation => spoke::detail(model, key, now, width),
        Pane::Backups => backups::detail(model, key, now, width, height),
        Pane::Audit => audit::detail(model, key, width),
        _ => detail::detail(model, key, now, width),
    });
    if let Some(d) = opened {
        let title = d.title.clone();
        return ScreenVm {
            header,
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
                format!("Health · {} clusters", model.clusters.len()),
                Vec::new(),
                Body::Table(health::table(model, now, width, rows)),
            )
        }
        Pane::Latency => {
            let rows = table_rows(height, 1);
            let subtitle = vec![vec![Cell::muted(latency::subtitle(model))]];
            ("Latency".to_owned(), subtitle, Body::Table(latency::table(model, now, width, rows)))
        }
        Pane::Propagation => {
            let subtitle = propagation::subtitle(model, &fleet, now, width);
            let available = table_rows(height, subtitle.len());
            let header = propagation::extra_header_rows(model, width) as usize;
            let needed = row_keys(model, Pane::Propagation).len().max(1) + header;
            // The chart takes what the rows leave, past a blank line, when that is enough.
            let spare = available.saturating_sub(needed + 1) as u16;
            let charted = !crate::app::propagation::columns(model).is_empty();
            let rows = if charted && spare >= propagation::CHART_ROWS {
                let h = spare.min(propagation::CHART_ROWS + 2);
                chart = Some((propagation::chart(model, now, width), h));
                available - h as usize - 1
            } else {
                available
            };
            let title = format!("Propagation · {} spokes", fleet.spokes);
            (title, subtitle, Body::Table(propagation::table(model, now, width, rows)))
        }
        Pane::Backups => {
            // Every schedule is judged once for the figures and the rows.
            let all = crate::app::backups::all_rows(model, now);
            let fleet = crate::app::backups::fleet_backups(model, &all, now);
            let rows = crate::app::backups::listed(model, all);
            let subtitle = backups::subtitle(&fleet, width);
            let height = table_rows(height, subtitle.len());
            let title = format!("Backups · {} schedules", rows.iter().filter(|r| r.schedule().is_some()).count());
            (title, subtitle, Body::Table(backups::table(model, &rows, now, width, height)))
        }
        Pane::Audit => {
            let (title, subtitle, table) = audit::pane(model, width, height);
            (title, subtitle, Body::Table(table))
        }
    };
    ScreenVm { header, title, subtitle, body, chart, footer, operation: panel, help, too_small }
}

/// The last screen computed, reused while nothing it depends on changed.
#[derive(Debug, Default)]
pub struct ViewCache {
    key: Option<(u64, i64, u16, u16)>,
    screen: Option<ScreenVm>,
}

impl ViewCache {
    pub fn get(&mut self, model: &Model, hints: &KeyHints, now: Timestamp, width: u16, height: u16) -> &ScreenVm {
        let key = (model.version, now.as_second(), width, height);
        if self.key != Some(key) || self.screen.is_none() {
            self.screen = Some(screen(model, hints, now, width, height));
            self.key = Some(key);
        }
        self.screen.get_or_insert_with(|| screen(model, hints, now, width, height))
    }
}
