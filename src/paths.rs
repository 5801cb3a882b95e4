//! Where fleetdeck keeps its files, as `directories` says for the platform: the config
//! file, the data directory (journal, Event store, exports, the simulator's kubeconfig)
//! and the state directory (logs). A leaf: the config, the journal and the launcher all
//! ask here.

use std::path::PathBuf;

use directories::ProjectDirs;

/// The platform directories of fleetdeck (config, data, state).
pub fn project_dirs() -> Option<ProjectDirs> {
    ProjectDirs::from("io", "fleetdeck", "fleetdeck")
}

/// The user config file, whether or not it exists.
pub fn user_config() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("fleetdeck.toml"))
}

/// Where fleetdeck keeps data (journal, event store, simulator kubeconfig).
pub fn data_dir() -> PathBuf {
    project_dirs().map(|d| d.data_dir().to_path_buf()).unwrap_or_else(|| PathBuf::from(".fleetdeck"))
}

/// Where logs go by default.
pub fn state_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.state_dir().unwrap_or_else(|| d.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".fleetdeck"))
}

/// The journal's default file: `journal.jsonl` in the data directory.
pub fn journal() -> PathBuf {
    data_dir().join("journal.jsonl")
}
