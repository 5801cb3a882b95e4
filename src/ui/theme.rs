//! Semantic styles: what a piece of text means (ok, warn, crit, stale, focus, ...) is
//! mapped to a style here, from the config's `[theme]`, or to modifiers alone when
//! colour is off (`NO_COLOR`).

use std::collections::BTreeMap;
use std::str::FromStr;

use color_eyre::eyre::{Result, eyre};
use ratatui::style::{Color, Modifier, Style};

use crate::view::table::Tone;

/// How many colours the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// `NO_COLOR` or `ui.colors = "none"`: modifiers only.
    None,
    /// The 16 ANSI colours.
    Ansi16,
    /// The xterm 256-colour palette.
    Ansi256,
    TrueColor,
}

impl Depth {
    /// `ui.colors` (auto, truecolor, 256, 16, none) read against the environment:
    /// `NO_COLOR` wins, then the setting, then (auto) COLORTERM and TERM.
    pub fn detect(setting: &str, env: impl Fn(&str) -> Option<String>) -> Result<Depth> {
        if env("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return Ok(Depth::None);
        }
        match setting {
            "none" => Ok(Depth::None),
            "16" => Ok(Depth::Ansi16),
            "256" => Ok(Depth::Ansi256),
            "truecolor" | "24bit" => Ok(Depth::TrueColor),
            "auto" => {
                let colorterm = env("COLORTERM").unwrap_or_default().to_lowercase();
                let term = env("TERM").unwrap_or_default().to_lowercase();
                Ok(if colorterm == "truecolor" || colorterm == "24bit" || term.contains("direct") {
                    Depth::TrueColor
                } else if term.contains("256") {
                    Depth::Ansi256
                } else if term == "dumb" {
                    Depth::None
                } else {
                    Depth::Ansi16
                })
            }
            other => Err(eyre!("ui.colors: {other:?} is not one of auto, truecolor, 256, 16, none")),
        }
    }

    /// A colour as this depth can show it: true colour to the nearest of the 256, and
    /// either to the nearest of the 16 ANSI colours.
    pub fn degrade(self, color: Color) -> Color {
        match (self, color) {
            (Depth::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(ansi_colours::ansi256_from_rgb((r, g, b))),
            (Depth::Ansi16, Color::Rgb(r, g, b)) => nearest_ansi16((r, g, b)),
            (Depth::Ansi16, Color::Indexed(i)) if i < 16 => ANSI16[i as usize].0,
            (Depth::Ansi16, Color::Indexed(i)) => nearest_ansi16(ansi_colours::rgb_from_ansi256(i)),
            // True colour shows everything; named colours are the 16 already; with no
            // colour at all the theme sets none.
            (_, c) => c,
        }
    }
}

/// The 16 ANSI colours and their usual (xterm) values.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn nearest_ansi16((r, g, b): (u8, u8, u8)) -> Color {
    let distance = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(r, x) * 3 + d(g, y) * 4 + d(b, z) * 2
    };
    ANSI16.iter().min_by_key(|(_, rgb)| distance(*rgb)).map_or(Color::Reset, |(c, _)| *c)
}

#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    /// Draw ASCII only (`--ascii`).
    pub ascii: bool,
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
    /// The theme of the config's `[theme]` colours at a colour depth (`Depth::None` uses
    /// modifiers only).
    pub fn new(colors: &BTreeMap<String, String>, depth: Depth) -> Result<Self> {
        let color = depth != Depth::None;
        let fg = |role: &str| -> Result<Style> {
            Ok(if color { Style::new().fg(depth.degrade(parse(colors, role)?)) } else { Style::new() })
        };
        Ok(Self {
            color,
            ascii: false,
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
        Self::new(&none, Depth::None).unwrap_or_else(|_| unreachable!("a colourless theme needs no colours"))
    }

    /// The same theme drawing ASCII only.
    pub fn with_ascii(self, ascii: bool) -> Self {
        Self { ascii, ..self }
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
        assert!(Theme::new(&colors, Depth::TrueColor).is_ok());
        colors.insert("warn".into(), "#ff8700".into());
        assert!(Theme::new(&colors, Depth::TrueColor).is_ok());
        colors.insert("ok".into(), "greenish".into());
        let err = Theme::new(&colors, Depth::TrueColor).unwrap_err().to_string();
        assert!(err.contains("theme.ok") && err.contains("greenish"), "{err}");
        assert_eq!(
            Theme::new(&colors, Depth::None).unwrap().tone(Tone::Ok),
            Style::new(),
            "colour off ignores colours"
        );
    }

    #[test]
    fn colours_degrade_from_true_colour_to_256_to_16() {
        let orange = Color::Rgb(0xff, 0x87, 0x00);
        assert_eq!(Depth::TrueColor.degrade(orange), orange);
        assert_eq!(Depth::Ansi256.degrade(orange), Color::Indexed(208));
        assert_eq!(Depth::Ansi16.degrade(orange), Color::Yellow);
        assert_eq!(Depth::Ansi16.degrade(Color::Indexed(196)), Color::LightRed);
        assert_eq!(Depth::Ansi16.degrade(Color::Indexed(1)), Color::Red);
        assert_eq!(Depth::Ansi256.degrade(Color::Indexed(208)), Color::Indexed(208));
        assert_eq!(Depth::Ansi16.degrade(Color::Green), Color::Green, "named colours are the 16 already");
    }

    #[test]
    fn depth_follows_no_color_the_setting_then_the_terminal() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(Depth::detect("auto", env(&[("COLORTERM", "truecolor")])).unwrap(), Depth::TrueColor);
        assert_eq!(Depth::detect("auto", env(&[("TERM", "xterm-256color")])).unwrap(), Depth::Ansi256);
        assert_eq!(Depth::detect("auto", env(&[("TERM", "xterm")])).unwrap(), Depth::Ansi16);
        assert_eq!(Depth::detect("auto", env(&[("TERM", "dumb")])).unwrap(), Depth::None);
        assert_eq!(Depth::detect("256", env(&[("COLORTERM", "truecolor")])).unwrap(), Depth::Ansi256);
        assert_eq!(Depth::detect("truecolor", env(&[("NO_COLOR", "1")])).unwrap(), Depth::None);
        assert_eq!(Depth::detect("auto", env(&[("NO_COLOR", ""), ("TERM", "xterm")])).unwrap(), Depth::Ansi16);
        assert!(Depth::detect("lots", env(&[])).is_err());
    }
}
