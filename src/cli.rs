//! The command line: subcommands and flags (clap). Names here are an interface scripts
//! rely on; the README documents them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "fleetdeck", version, about = "A terminal UI for a hub-and-spoke fleet of Kubernetes clusters", long_about = None)]
pub struct Cli {
    /// A configuration file that overrides the defaults and the user config file.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log level or tracing filter for the log file (overrides FLEETDECK_LOG and the config).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// The kubeconfig to read (default: KUBECONFIG, every file of it merged, else ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// The hub's context (overrides fleet.hub). With `journal verify`, also compare the
    /// journal with the copy posted on the hub (the configured hub when no CONTEXT).
    #[arg(long, global = true, value_name = "CONTEXT", num_args = 0..=1, default_missing_value = "")]
    pub hub: Option<String>,

    #[command(flatten)]
    pub tui: TuiArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The TUI's flags, given before any subcommand or after `demo` (the TUI's two ways
    /// in; other subcommands do not take them).
    pub fn tui(&self) -> TuiArgs {
        match &self.command {
            Some(Command::Demo(demo)) => self.tui.clone().or(&demo.tui),
            _ => self.tui.clone(),
        }
    }
}

/// Flags of a TUI session.
#[derive(Debug, Clone, Default, Args)]
pub struct TuiArgs {
    /// Watch without any way to write: no write client is built, and the keys that
    /// mutate (reconcile, suspend, resume, backup, restore) do not exist.
    #[arg(long)]
    pub read_only: bool,

    /// Draw with ASCII characters only (no box drawing, blocks or symbols); sets ui.ascii.
    #[arg(long)]
    pub ascii: bool,

    /// A wall screen: read-only, a fleet banner and a tile per cluster, pages rotating
    /// every wall.interval; the only keys are pause, next/previous page and quit.
    #[arg(long)]
    pub wall: bool,

    /// Follow a Kubernetes audit log file of a context (audit.k8s.io/v1 Event JSON lines,
    /// like tail -F); repeatable. Adds to audit.files in the config.
    #[arg(long, value_name = "CONTEXT=PATH", value_parser = context_path)]
    pub audit_file: Vec<(String, PathBuf)>,
}

impl TuiArgs {
    /// Both sets of flags: a switch set in either, the files of both.
    fn or(mut self, other: &TuiArgs) -> TuiArgs {
        self.read_only |= other.read_only;
        self.ascii |= other.ascii;
        self.wall |= other.wall;
        self.audit_file.extend(other.audit_file.iter().cloned());
        self
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the simulated fleet inside fleetdeck and open the TUI on it.
    Demo(DemoArgs),
    /// Serve a simulated fleet (a hub and spokes on loopback) and write its kubeconfig.
    Sim(SimArgs),
    /// Connect to the fleet, take one snapshot and report it; exit 0 when everything is
    /// within its targets, 1 when something is degraded, 2 when something is unreachable
    /// or the check could not run.
    Check(CheckArgs),
    /// The engine without a terminal, serving the fleet's judgments for Prometheus:
    /// `/metrics` (OpenMetrics), `/healthz`, `/readyz`.
    Serve(ServeArgs),
    /// Check or export the journal of fleetdeck's own writes.
    Journal(JournalArgs),
    /// List the workflow runs recorded on the hub (register, unregister, ...), newest
    /// first; exit 0, or 2 when the hub cannot be read.
    Runs(RunsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `fleetdeck man > fleetdeck.1`.
    Man,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the report as JSON (the shape the README documents) instead of text; the
    /// same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// text, json, or openmetrics: one snapshot in the OpenMetrics exposition (for a
    /// node exporter's textfile collector).
    #[arg(long, value_enum, default_value = "text")]
    pub format: CheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Openmetrics,
}

impl CheckArgs {
    /// The format asked for (`--json` is `--format json`).
    pub fn format(&self) -> CheckFormat {
        if self.json { CheckFormat::Json } else { self.format }
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to serve on (default: serve.listen, 127.0.0.1:9737).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Watch only the spoke contexts matching these globs (repeatable; the hub is always
    /// watched): one shard of a larger fleet.
    #[arg(long = "spokes", value_name = "GLOB")]
    pub spokes: Vec<String>,
    /// The `shard` label of every series.
    #[arg(long, value_name = "NAME")]
    pub shard: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Print `{"runs": [...]}` (the shape the README documents) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The journal file (default: journal.jsonl in fleetdeck's data directory).
    #[arg(long, value_name = "PATH", global = true)]
    pub journal: Option<PathBuf>,

    #[command(subcommand)]
    pub command: JournalCommand,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Check the hash chain; exit 0 when intact (an empty or absent journal is intact),
    /// 1 at the first edited, removed, moved or malformed entry or a torn last line, which
    /// is reported. A torn write that a later append ended is reported and the chain
    /// checked on past it.
    Verify,
    /// Write the entries to stdout.
    Export {
        /// json: an array of entries; csv: one row per entry, nested fields flattened.
        #[arg(long, value_enum, default_value = "json")]
        format: crate::journal::export::Format,
        /// Only entries at or after this: an RFC 3339 time or a duration back from now
        /// (24h, 7d).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Registered spokes (the scenario's count when absent).
    #[arg(long, value_name = "N")]
    pub spokes: Option<usize>,

    /// A scenario: a shipped one (default, demo, healthy, outage, chaos, migration) or a TOML file.
    /// Default: demo, where a production spoke goes down a minute in and comes back.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<String>,

    #[command(flatten)]
    pub tui: TuiArgs,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Registered spokes (the scenario's count when absent; 4 by default).
    #[arg(long, value_name = "N")]
    pub spokes: Option<usize>,

    /// Where to write the kubeconfig (default: fleetdeck's data directory).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// A scenario: a shipped one (default, demo, healthy, outage, chaos, migration) or a TOML file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<String>,

    /// Write each cluster's API audit log to DIR/<context>.log.
    #[arg(long, value_name = "DIR")]
    pub audit_dir: Option<PathBuf>,

    /// Serve the fleet still: no controllers, no scenario faults (for API tests).
    #[arg(long)]
    pub still: bool,
}

/// `CONTEXT=PATH`.
fn context_path(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((context, path)) if !context.is_empty() && !path.is_empty() => Ok((context.to_owned(), path.into())),
        _ => Err(format!("{text:?}: expected CONTEXT=PATH, e.g. hub=/var/log/kubernetes/audit.log")),
    }
}
