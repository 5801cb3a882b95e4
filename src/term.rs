//! The terminal while the TUI runs: raw mode and the alternate screen on entry, and
//! restored on every way out: normal exit (the guard's drop), a panic anywhere (the panic
//! hook restores it before the message is printed), and signals (the runtime loop ends).

use std::io::{Stdout, Write, stdout};
use std::sync::Once;

use color_eyre::eyre::{Result, WrapErr};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Backend = CrosstermBackend<Stdout>;

/// Puts the terminal back: leaves the alternate screen, shows the cursor, ends raw mode.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(out, terminal::EndSynchronizedUpdate, terminal::LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

static HOOK: Once = Once::new();

/// On a panic, the terminal is restored first, then the report is printed (to a normal
/// screen), then the process exits: a half-dead TUI must not keep the terminal.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
            std::process::exit(101);
        }));
    });
}

/// The terminal, restored when dropped.
pub struct Tui {
    pub terminal: Terminal<Backend>,
}

impl Tui {
    pub fn enter() -> Result<Self> {
        install_panic_hook();
        terminal::enable_raw_mode().wrap_err("switching the terminal to raw mode")?;
        let mut out = stdout();
        if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
            restore();
            return Err(e).wrap_err("entering the alternate screen");
        }
        let terminal = match Terminal::new(CrosstermBackend::new(out)) {
            Ok(t) => t,
            Err(e) => {
                restore();
                return Err(e).wrap_err("opening the terminal");
            }
        };
        Ok(Self { terminal })
    }

    /// Draws one frame as a synchronized update (no tearing over slow links).
    pub fn draw(&mut self, render: impl FnOnce(&mut ratatui::Frame<'_>)) -> Result<()> {
        execute!(self.terminal.backend_mut(), terminal::BeginSynchronizedUpdate)?;
        let drawn = self.terminal.draw(render).map(|_| ());
        execute!(self.terminal.backend_mut(), terminal::EndSynchronizedUpdate)?;
        drawn.wrap_err("drawing")
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}
