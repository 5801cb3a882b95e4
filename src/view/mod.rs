//! View models: the model, the time and the viewport size turned into what the widgets
//! draw, nothing more. Rows are trimmed to what is visible; the result is cached until
//! the model's version, the second or the size changes.

pub mod chrome;
pub mod detail;
pub mod format;
pub mod health;
pub mod latency;
pub mod table;

use jiff::Timestamp;

use crate::app::model::Model;
use crate::app::msg::Pane;
use chrome::{FooterVm, HeaderVm, HelpVm, KeyHints};
use detail::DetailVm;
use table::TableVm;

/// The smallest terminal the layout works in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Table(TableVm),
    Detail(DetailVm),
    Message(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenVm {
    pub header: HeaderVm,
    pub title: String,
    pub subtitle: Option<String>,
    pub body: Body,
    pub footer: FooterVm,
    pub help: Option<HelpVm>,
    /// Set when the terminal is below the minimum size: only this is drawn.
    pub too_small: Option<String>,
}

/// Rows of the layout around the body: header, title, footer (two lines).
const CHROME_ROWS: u16 = 4;

/// How many table rows fit (the table's own header row excluded).
pub fn table_rows(height: u16, subtitle: bool) -> usize {
    height.saturating_sub(CHROME_ROWS + u16::from(subtitle) + 1) as usize
}

pub fn screen(model: &Model, hints: &KeyHints, now: Timestamp, width: u16, height: u16) -> ScreenVm {
    let header = chrome::header(model, hints, now);
    let footer = chrome::footer(model, hints, now);
    let help = model.ui.help.then(|| chrome::help(hints));
    let too_small = (width < MIN_WIDTH || height < MIN_HEIGHT).then(|| {
        format!("fleetdeck needs a terminal of at least {MIN_WIDTH}×{MIN_HEIGHT}; this one is {width}×{height}")
    });
    let pane = model.ui.pane;
    if let Some(name) = &model.ui.detail
        && let Some(d) = detail::detail(model, name, now, width)
    {
        return ScreenVm {
            header,
            title: d.title.clone(),
            subtitle: None,
            body: Body::Detail(d),
            footer,
            help,
            too_small,
        };
    }
    let (title, subtitle, body) = match pane {
        Pane::Health => {
            let rows = table_rows(height, false);
            (
                format!("Health · {} clusters", model.clusters.len()),
                None,
                Body::Table(health::table(model, now, width, rows)),
            )
        }
        Pane::Latency => {
            let rows = table_rows(height, true);
            ("Latency".to_owned(), Some(latency::subtitle(model)), Body::Table(latency::table(model, now, width, rows)))
        }
        Pane::Propagation | Pane::Backups | Pane::Audit => (
            pane.title().to_owned(),
            None,
            Body::Message(format!("The {} pane is not part of this build yet.", pane.title().to_lowercase())),
        ),
    };
    ScreenVm { header, title, subtitle, body, footer, help, too_small }
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
