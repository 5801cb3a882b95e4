//! Logging to a file through tracing-appender, never to the terminal (the TUI owns it).
//! The level comes from `--log-level`, else `FLEETDECK_LOG`, else the config.

use std::path::PathBuf;

use color_eyre::eyre::{Result, WrapErr};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::paths::state_dir;

pub const ENV: &str = "FLEETDECK_LOG";

/// The log directory: the config's `log.dir`, or the platform's state directory.
pub fn log_dir(config: &Config) -> PathBuf {
    if config.log.dir.is_empty() { state_dir() } else { PathBuf::from(&config.log.dir) }
}

/// Starts logging to `<dir>/fleetdeck.log.<date>`; keep the guard alive until exit so the
/// last lines are flushed.
pub fn init(config: &Config, flag: Option<&str>) -> Result<(WorkerGuard, PathBuf)> {
    let level = flag.map(str::to_owned).or_else(|| std::env::var(ENV).ok()).unwrap_or_else(|| config.log.level.clone());
    let filter = EnvFilter::try_new(&level).wrap_err_with(|| format!("invalid log level {level:?}"))?;
    let dir = log_dir(config);
    std::fs::create_dir_all(&dir).wrap_err_with(|| format!("creating the log directory {}", dir.display()))?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("fleetdeck.log")
        .max_log_files(7)
        .build(&dir)
        .wrap_err_with(|| format!("opening the log file in {}", dir.display()))?;
    // A bounded, lossy queue: logging never blocks the UI, and the queue stays small.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(8192)
        .lossy(true)
        .finish(appender);
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false).with_target(true).init();
    Ok((guard, dir))
}
