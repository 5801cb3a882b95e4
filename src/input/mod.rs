//! Keys to messages: the keymap (from the config's `[keys]`), and the filter line's own
//! editing keys while it is open.

use std::collections::BTreeMap;

use color_eyre::eyre::{Result, eyre};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::app::msg::{Action, Msg};
use crate::view::chrome::KeyHints;

/// One key with its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    /// A key event as the keymap sees it: shift is part of a character's case.
    fn of(event: &KeyEvent) -> Self {
        let mut modifiers = event.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        if matches!(event.code, KeyCode::Char(_) | KeyCode::BackTab) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        Self { code: event.code, modifiers }
    }
}

/// Parses "q", "G", "ctrl-c", "shift-tab", "enter", "f5", "space".
pub fn parse_key(spec: &str) -> Result<Key> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = spec;
    loop {
        let lower = rest.to_lowercase();
        if let Some(r) = lower.strip_prefix("ctrl-").map(|_| &rest[5..]) {
            modifiers |= KeyModifiers::CONTROL;
            rest = r;
        } else if let Some(r) = lower.strip_prefix("alt-").map(|_| &rest[4..]) {
            modifiers |= KeyModifiers::ALT;
            rest = r;
        } else if let Some(r) = lower.strip_prefix("shift-").map(|_| &rest[6..]) {
            modifiers |= KeyModifiers::SHIFT;
            rest = r;
        } else {
            break;
        }
    }
    let named = |name: &str| -> Option<KeyCode> {
        Some(match name {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "space" => KeyCode::Char(' '),
            _ => {
                let n: u8 = name.strip_prefix('f')?.parse().ok()?;
                (1..=12).contains(&n).then_some(KeyCode::F(n))?
            }
        })
    };
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => {
            KeyCode::Char(if modifiers.contains(KeyModifiers::CONTROL) { c.to_ascii_lowercase() } else { c })
        }
        _ => named(&rest.to_lowercase()).ok_or_else(|| eyre!("{spec:?} is not a key"))?,
    };
    if code == KeyCode::Tab && modifiers.contains(KeyModifiers::SHIFT) {
        return Ok(Key { code: KeyCode::BackTab, modifiers: modifiers - KeyModifiers::SHIFT });
    }
    if matches!(code, KeyCode::Char(_)) {
        modifiers.remove(KeyModifiers::SHIFT);
    }
    Ok(Key { code, modifiers })
}

/// Keys to actions.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<(Key, Action)>,
    hints: KeyHints,
}

impl Keymap {
    /// The keymap of the config's `[keys]` table. A key bound to two actions is an error.
    pub fn new(keys: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        let mut bindings: Vec<(Key, Action)> = Vec::new();
        let mut hints = BTreeMap::new();
        for (name, specs) in keys {
            let action = Action::from_name(name).ok_or_else(|| eyre!("keys.{name}: no such action"))?;
            for spec in specs {
                let key = parse_key(spec).map_err(|e| eyre!("keys.{name}: {e}"))?;
                if let Some((_, other)) = bindings.iter().find(|(k, a)| *k == key && *a != action) {
                    return Err(eyre!("keys.{name}: {spec:?} is already bound to {}", other.name()));
                }
                bindings.push((key, action));
            }
            hints.insert(action, specs.clone());
        }
        Ok(Self { bindings, hints: KeyHints(hints) })
    }

    pub fn action(&self, event: &KeyEvent) -> Option<Action> {
        let key = Key::of(event);
        self.bindings.iter().find(|(k, _)| *k == key).map(|(_, a)| *a)
    }

    pub fn hints(&self) -> &KeyHints {
        &self.hints
    }
}

/// The messages a terminal event makes, given whether the filter line is being edited.
pub fn messages(event: &Event, keymap: &Keymap, editing_filter: bool) -> Vec<Msg> {
    let Event::Key(key) = event else { return Vec::new() };
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    if editing_filter && !ctrl_c {
        return match key.code {
            KeyCode::Enter => vec![Msg::FilterDone],
            KeyCode::Esc => vec![Msg::FilterEdit(tui_input::InputRequest::DeleteLine), Msg::FilterDone],
            _ => tui_input::backend::crossterm::to_input_request(event).map(Msg::FilterEdit).into_iter().collect(),
        };
    }
    if ctrl_c {
        return vec![Msg::Action(Action::Quit)];
    }
    keymap.action(key).map(Msg::Action).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::msg::Pane;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn default_keymap() -> Keymap {
        let config = crate::config::Config::load_from(None, None).unwrap();
        Keymap::new(&config.keys).unwrap()
    }

    #[test]
    fn key_specs_parse() {
        assert_eq!(parse_key("ctrl-c").unwrap(), Key { code: KeyCode::Char('c'), modifiers: KeyModifiers::CONTROL });
        assert_eq!(parse_key("shift-tab").unwrap().code, KeyCode::BackTab);
        assert_eq!(parse_key("G").unwrap(), Key { code: KeyCode::Char('G'), modifiers: KeyModifiers::NONE });
        assert_eq!(parse_key("f5").unwrap().code, KeyCode::F(5));
        assert!(parse_key("hyper-x").is_err());
        assert!(parse_key("f13").is_err());
    }

    #[test]
    fn the_default_keymap_maps_k9s_style_keys() {
        let km = default_keymap();
        assert_eq!(km.action(&key(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Action::Down));
        assert_eq!(km.action(&key(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
        assert_eq!(km.action(&key(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::PrevPane));
        assert_eq!(km.action(&key(KeyCode::Char('3'), KeyModifiers::NONE)), Some(Action::Pane(Pane::Propagation)));
        assert_eq!(km.hints().keys(Action::Quit), "q/ctrl-c");
    }

    #[test]
    fn conflicts_are_errors_and_the_filter_takes_keys_while_open() {
        let keys =
            BTreeMap::from([("quit".to_owned(), vec!["q".to_owned()]), ("help".to_owned(), vec!["q".to_owned()])]);
        assert!(Keymap::new(&keys).unwrap_err().to_string().contains("already bound"));
        let km = default_keymap();
        let q = Event::Key(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert!(matches!(messages(&q, &km, true)[..], [Msg::FilterEdit(tui_input::InputRequest::InsertChar('q'))]));
        assert!(matches!(messages(&q, &km, false)[..], [Msg::Action(Action::Quit)]));
        let ctrl_c = Event::Key(key(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(matches!(messages(&ctrl_c, &km, true)[..], [Msg::Action(Action::Quit)]));
    }
}
