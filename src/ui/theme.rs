//! Semantic styles: what a piece of text means (ok, warn, crit, stale, focus, ...) is
//! mapped to a style here, from the config's `[theme]`, or to modifiers alone when
//! colour is off (`NO_COLOR`).

use std::collections::BTreeMap;
use std::str::FromStr;

use color_eyre::eyre::{Result, eyre};
use ratatui::style::{Color, Modifier, Style};

use crate::view::table::Tone;

#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    ok: Style,
    warn: Style,
    crit: Style,
    stale: Style,
    focus: Style,
    danger: Style,
    muted: Style,
    accent: Style,
}

fn parse(map: &BTreeMap<String, String>, role: &str) -> Result<Color> {
    let value = map.get(role).ok_or_else(|| eyre!("theme: no colour for {role}"))?;
    Color::from_str(value).map_err(|_| {
        eyre!("theme.{role}: {value:?} is not a colour (a name such as red or darkgray, #rrggbb, or 0-255)")
    })
}

impl Theme {
    /// The theme of the config's `[theme]` colours; `color: false` uses modifiers only.
    pub fn new(colors: &BTreeMap<String, String>, color: bool) -> Result<Self> {
        let fg = |role: &str| -> Result<Style> {
            Ok(if color { Style::new().fg(parse(colors, role)?) } else { Style::new() })
        };
        Ok(Self {
            color,
            ok: fg("ok")?,
            warn: fg("warn")?.add_modifier(if color { Modifier::empty() } else { Modifier::BOLD }),
            crit: fg("crit")?.add_modifier(Modifier::BOLD),
            stale: fg("stale")?.add_modifier(if color { Modifier::empty() } else { Modifier::DIM }),
            focus: fg("focus")?.add_modifier(Modifier::BOLD),
            danger: fg("danger")?.add_modifier(Modifier::BOLD),
            muted: fg("muted")?.add_modifier(if color { Modifier::empty() } else { Modifier::DIM }),
            accent: fg("accent")?,
        })
    }

    /// Colourless, for tests and `NO_COLOR`.
    pub fn plain() -> Self {
        let none = BTreeMap::new();
        Self::new(&none, false).unwrap_or_else(|_| unreachable!("a colourless theme needs no colours"))
    }

    pub fn tone(&self, tone: Tone) -> Style {
        match tone {
            Tone::Normal => Style::new(),
            Tone::Ok => self.ok,
            Tone::Warn => self.warn,
            Tone::Crit => self.crit,
            Tone::Stale => self.stale,
            Tone::Muted => self.muted,
            Tone::Accent => self.accent,
        }
    }

    pub fn focus(&self) -> Style {
        self.focus
    }

    pub fn danger(&self) -> Style {
        self.danger
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn heading(&self) -> Style {
        self.muted.add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_and_bad_ones_are_named() {
        let mut colors: BTreeMap<String, String> =
            crate::config::THEME_ROLES.iter().map(|r| ((*r).to_owned(), "red".to_owned())).collect();
        assert!(Theme::new(&colors, true).is_ok());
        colors.insert("warn".into(), "#ff8700".into());
        assert!(Theme::new(&colors, true).is_ok());
        colors.insert("ok".into(), "greenish".into());
        let err = Theme::new(&colors, true).unwrap_err().to_string();
        assert!(err.contains("theme.ok") && err.contains("greenish"), "{err}");
        assert_eq!(Theme::new(&colors, false).unwrap().tone(Tone::Ok), Style::new(), "colour off ignores colours");
    }
}
