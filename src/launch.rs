//! Starting a session: the config turned into engine and model settings, the engine
//! started on the fleet's contexts, and the TUI run until it quits.

use color_eyre::eyre::Result;
use jiff::Timestamp;

use crate::app::model::{Model, ModelSettings};
use crate::app::runtime::Runtime;
use std::sync::Arc;

use crate::cluster::write::{WriteAccess, Writer};
use crate::cluster::{ContextSpec, Engine, Settings};
use crate::config::Config;
use crate::fleet::cluster::Thresholds;
use crate::input::Keymap;
use crate::journal::Journal;
use crate::term::Tui;
use crate::ui::Theme;

/// Where probes are measured from: this machine, named.
pub fn vantage() -> String {
    match hostname::get().ok().and_then(|h| h.into_string().ok()) {
        Some(name) => format!("{name} (where fleetdeck runs)"),
        None => "the machine fleetdeck runs on".to_owned(),
    }
}

pub fn engine_settings(config: &Config) -> Settings {
    Settings {
        connect_timeout: config.engine.connect_timeout,
        probe_interval: config.probe.interval,
        probe_timeout: config.probe.timeout,
        coalesce: config.engine.coalesce,
        rediscover_every: config.engine.rediscover_every,
        ..Settings::default()
    }
}

/// The model's settings; `writable` for an operator session.
pub fn model_settings(config: &Config, writable: bool) -> ModelSettings {
    ModelSettings {
        latency_target: config.slo.latency,
        availability_target: config.slo.availability / 100.0,
        thresholds: Thresholds {
            unreachable_after: config.slo.unreachable_after,
            probe_interval: config.probe.interval,
        },
        propagation_target: config.slo.propagation,
        propagation_window: config.slo.propagation_window,
        backup_grace: config.slo.backup_grace,
        latency_window: config.probe.window,
        availability_window: config.probe.availability_window,
        mapping: config.fleet.mapping.clone(),
        vantage: vantage(),
        writable,
    }
}

/// Whether colours are wanted (`NO_COLOR` set and non-empty turns them off).
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs the operator TUI on the given contexts until the user quits or a signal ends it.
/// The operator session is the one given the capability to write.
pub async fn run_tui(contexts: Vec<ContextSpec>, config: &Config) -> Result<()> {
    // Check everything that can fail before the terminal is taken over.
    let keymap = Keymap::new(&config.keys, true)?;
    let theme = Theme::new(&config.theme, colour())?;
    let model = Model::new(&contexts, model_settings(config, true), Timestamp::now());
    let journal = Journal::at(config.journal_path());
    let writer = Writer::new(WriteAccess::operator_session(), &contexts, config.engine.connect_timeout, journal);
    let (engine, events) = Engine::start(contexts, engine_settings(config));
    let runtime = Runtime { keymap, theme, frame_budget: config.ui.frame_budget, writer: Some(Arc::new(writer)) };
    let tui = Tui::enter()?;
    let result = runtime.run(tui, model, events).await;
    engine.stop().await;
    result
}
