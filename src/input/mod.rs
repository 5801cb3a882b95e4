//! Keys to messages: the keymap (from the config's `[keys]`), and the filter line's own
//! editing keys while it is open.

use std::collections::BTreeMap;

use color_eyre::eyre::{Result, eyre};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::action::Action;
use crate::app::msg::Msg;
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
    /// Without `writes` (a read-only session) the mutating actions are left out: no key
    /// reaches them and neither help nor footer names them.
    pub fn new(keys: &BTreeMap<String, Vec<String>>, writes: bool) -> Result<Self> {
        Self::of(keys, |a| a != Action::Pause && (writes || !a.mutates()))
    }

    /// The keymap of a wall session: pause, next and previous page, quit; nothing else.
    pub fn wall(keys: &BTreeMap<String, Vec<String>>) -> Result<Self> {
        Self::of(keys, Action::wall)
    }

    fn of(keys: &BTreeMap<String, Vec<String>>, keep: impl Fn(Action) -> bool) -> Result<Self> {
        let mut bindings: Vec<(Key, Action)> = Vec::new();
        let mut hints = BTreeMap::new();
        for (name, specs) in keys {
            let action = Action::from_name(name).ok_or_else(|| eyre!("keys.{name}: no such action"))?;
            if !keep(action) {
                continue;
            }
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

/// Where keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Through the keymap.
    Normal,
    /// Into the filter line.
    Filter,
    /// Into the confirmation prompt of an operator action or a run.
    Prompt,
    /// Into the command line (`:`).
    Command,
}

impl Mode {
    pub fn of(model: &crate::app::model::Model) -> Mode {
        if model.ui.filter.editing {
            Mode::Filter
        } else if model.ui.command.is_some() {
            Mode::Command
        } else if crate::app::operate::prompting(model) || crate::app::runs::prompting(model) {
            Mode::Prompt
        } else {
            Mode::Normal
        }
    }
}

/// The messages a terminal event makes in a mode. Ctrl-C quits in every mode.
pub fn messages(event: &Event, keymap: &Keymap, mode: Mode) -> Vec<Msg> {
    let Event::Key(key) = event else { return Vec::new() };
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    let edit = || tui_input::backend::crossterm::to_input_request(event);
    match mode {
        _ if ctrl_c => {}
        Mode::Filter => {
            return match key.code {
                KeyCode::Enter => vec![Msg::FilterDone],
                KeyCode::Esc => vec![Msg::FilterEdit(tui_input::InputRequest::DeleteLine), Msg::FilterDone],
                _ => edit().map(Msg::FilterEdit).into_iter().collect(),
            };
        }
        Mode::Prompt => {
            return match key.code {
                KeyCode::Enter => vec![Msg::PromptSubmit],
                KeyCode::Esc => vec![Msg::PromptCancel],
                _ => edit().map(Msg::PromptEdit).into_iter().collect(),
            };
        }
        Mode::Command => {
            return match key.code {
                KeyCode::Enter => vec![Msg::CommandSubmit],
                KeyCode::Esc => vec![Msg::CommandCancel],
                KeyCode::Tab => vec![Msg::CommandComplete],
                _ => edit().map(Msg::CommandEdit).into_iter().collect(),
            };
        }
        Mode::Normal => {}
    }
    if ctrl_c {
        return vec![Msg::Action(Action::Quit)];
    }
    keymap.action(key).map(Msg::Action).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Pane;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn default_keymap() -> Keymap {
        let config = crate::config::Config::load_from(None, None).unwrap();
        Keymap::new(&config.keys, true).unwrap()
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
        assert!(Keymap::new(&keys, true).unwrap_err().to_string().contains("already bound"));
        let km = default_keymap();
        let q = Event::Key(key(KeyCode::Char('q'), KeyModifiers::NONE));
        assert!(matches!(
            messages(&q, &km, Mode::Filter)[..],
            [Msg::FilterEdit(tui_input::InputRequest::InsertChar('q'))]
        ));
        assert!(matches!(messages(&q, &km, Mode::Normal)[..], [Msg::Action(Action::Quit)]));
        assert!(matches!(
            messages(&q, &km, Mode::Prompt)[..],
            [Msg::PromptEdit(tui_input::InputRequest::InsertChar('q'))]
        ));
        let enter = Event::Key(key(KeyCode::Enter, KeyModifiers::NONE));
        assert!(matches!(messages(&enter, &km, Mode::Prompt)[..], [Msg::PromptSubmit]));
        let ctrl_c = Event::Key(key(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(matches!(messages(&ctrl_c, &km, Mode::Filter)[..], [Msg::Action(Action::Quit)]));
        assert!(matches!(messages(&ctrl_c, &km, Mode::Prompt)[..], [Msg::Action(Action::Quit)]));
    }

    #[test]
    fn a_read_only_keymap_has_no_mutating_action() {
        let config = crate::config::Config::load_from(None, None).unwrap();
        let read_only = Keymap::new(&config.keys, false).unwrap();
        let operator = Keymap::new(&config.keys, true).unwrap();
        let r = key(KeyCode::Char('r'), KeyModifiers::NONE);
        assert_eq!(operator.action(&r), Some(Action::Reconcile));
        assert_eq!(read_only.action(&r), None);
        for action in Action::ALL.into_iter().filter(|a| a.mutates()) {
            assert_eq!(read_only.hints().keys(action), "", "{} is not offered", action.name());
        }
    }
}
