//! fleetdeck: cli -> errors -> config -> logging -> run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, eyre};
use fleetdeck::cli::{CheckArgs, Cli, Command, DemoArgs, JournalArgs, JournalCommand, SimArgs, TuiArgs};
use fleetdeck::cluster::{Selection, contexts};
use fleetdeck::config::Config;
use fleetdeck::launch::Session;
use fleetdeck::paths::data_dir;
use fleetdeck::sim::{Access, Fleet, Scenario, ServeSettings, SimOptions};

/// jemalloc: a thousand clusters' list responses are allocated and freed at start, and
/// glibc's per-thread arenas keep more of that memory resident afterwards.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Panics (bugs) get color-eyre's report; errors a user can fix get one line.
    let _ = install_error_reports();
    let cli = Cli::parse();
    let check_json = match &cli.command {
        Some(Command::Check(args)) => Some(args.format() == fleetdeck::cli::CheckFormat::Json),
        _ => None,
    };
    let runs = matches!(cli.command, Some(Command::Runs(_)));
    match start(cli) {
        Ok(code) => code,
        Err(e) => {
            let message = fleetdeck::errors::words(&e);
            match check_json {
                // check promises exit 2 and, with --json, the error's JSON for every way
                // it can fail to run.
                Some(json) => {
                    if json {
                        let report = fleetdeck::check::failed(&message, jiff::Timestamp::now());
                        let _ = print_all(format!("{report:#}\n").as_bytes());
                    }
                    eprintln!("fleetdeck check: {message}");
                    ExitCode::from(2)
                }
                // runs promises exit 2 when the hub cannot be read.
                None if runs => {
                    eprintln!("fleetdeck runs: {message}");
                    ExitCode::from(2)
                }
                None => {
                    eprintln!("fleetdeck: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// How long background work (a connection being set up, a plugin, a file follower) may
/// hold the process once the command is done: quitting never waits on the clusters.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(300);

fn start(cli: Cli) -> Result<ExitCode> {
    let mut config = Config::load(cli.config.as_deref())?;
    fleetdeck::launch::validate(&config)?;
    config.ui.ascii |= cli.tui().ascii;
    let (_guard, _log_dir) = fleetdeck::logging::init(&config, cli.log_level.as_deref())?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = runtime_for(&cli).wrap_err("starting the runtime")?;
    let result = runtime.block_on(run(cli, config));
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// The runtime a command runs on. Watching a fleet is many small events (a probe, a
/// bookmark) on many connections: on one thread each is handled where it arrives,
/// where two worker threads would wake each other for every one of them (the idle cost
/// at a thousand clusters was about twice as high), and the start is no slower (the
/// clusters answer as fast as one thread reads them). Serving a simulated fleet is
/// work for every core.
fn runtime_for(cli: &Cli) -> std::io::Result<tokio::runtime::Runtime> {
    match cli.command {
        Some(Command::Sim(_)) => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
}

async fn run(cli: Cli, config: Config) -> Result<ExitCode> {
    let tui = cli.tui();
    let session = session(&tui);
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    match cli.command {
        Some(Command::Sim(args)) => done(sim(args, &config).await),
        Some(Command::Demo(args)) => done(demo(args, &config, &tui.audit_file, session).await),
        Some(Command::Journal(args)) => journal(args, cli.kubeconfig.as_deref(), cli.hub, &config).await,
        Some(Command::Check(args)) => check(args, cli.kubeconfig.as_deref(), cli.hub, &config).await,
        Some(Command::Runs(args)) => runs(args, cli.kubeconfig.as_deref(), cli.hub, &config).await,
        Some(Command::Serve(args)) => {
            let mut selection = selection(cli.hub, &config);
            if !args.spokes.is_empty() {
                selection.spokes = args.spokes.clone();
            }
            let kc = contexts::load(cli.kubeconfig.as_deref())?;
            let specs = contexts::resolve(&kc, &selection).await?;
            let settings = fleetdeck::serve::ServeSettings::of(&config, args.listen, args.shard)?;
            done(fleetdeck::serve::run(specs, &config, settings).await)
        }
        Some(Command::Completions { shell }) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "fleetdeck", &mut out);
            done(print_all(&out))
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
            done(print_all(&out))
        }
        None => done(operator(cli.kubeconfig.as_deref(), cli.hub, &config, &tui.audit_file, session).await),
    }
}

fn session(tui: &TuiArgs) -> Session {
    match (tui.wall, tui.read_only) {
        (true, _) => Session::Wall,
        (false, true) => Session::ReadOnly,
        (false, false) => Session::Operator,
    }
}

/// `--hub` without a context means the configured one.
fn selection(hub: Option<String>, config: &Config) -> Selection {
    let hub = hub.filter(|h| !h.is_empty()).unwrap_or_else(|| config.fleet.hub.clone());
    Selection { hub, spokes: config.fleet.spokes.clone() }
}

/// The TUI on the user's kubeconfig.
async fn operator(
    kubeconfig: Option<&std::path::Path>,
    hub: Option<String>,
    config: &Config,
    audit_files: &[(String, PathBuf)],
    session: Session,
) -> Result<()> {
    let kc = contexts::load(kubeconfig)?;
    let specs = contexts::resolve(&kc, &selection(hub, config)).await?;
    let operational = Some(fleetdeck::check::operational(&specs, config));
    fleetdeck::launch::run_tui(specs, config, audit_files, session, operational).await
}

/// The simulated fleet in-process, and the TUI on it. The simulated API servers write
/// audit logs, which the audit pane follows.
async fn demo(args: DemoArgs, config: &Config, audit_files: &[(String, PathBuf)], session: Session) -> Result<()> {
    let scenario = Scenario::load(args.scenario.as_deref().unwrap_or("demo"))?;
    let audit_dir = data_dir().join("demo").join("audit");
    // Each demo starts its audit logs afresh.
    let _ = std::fs::remove_dir_all(&audit_dir);
    let options = SimOptions {
        spokes: args.spokes,
        scenario,
        serve: sim_serve(config),
        audit_dir: Some(audit_dir.clone()),
        audit_max_size: config.sim.audit_max_bytes,
        ..SimOptions::default()
    };
    let fleet = Fleet::start(options).await?;
    // The demo fleet's kubeconfig, for kubectl in another terminal while the demo runs.
    let _ = fleet.write_kubeconfig(&data_dir().join("demo").join("kubeconfig.yaml"));
    let kc: kube::config::Kubeconfig = serde_json::from_value(fleet.kubeconfig(Access::Admin))?;
    let specs = contexts::resolve(&kc, &selection(Some("hub".into()), config)).await?;
    let mut files: Vec<(String, PathBuf)> =
        specs.iter().map(|s| (s.name.clone(), audit_dir.join(format!("{}.log", s.name)))).collect();
    files.extend(audit_files.iter().cloned());
    let operational = Some(fleetdeck::check::operational(&specs, config));
    let result = fleetdeck::launch::run_tui(specs, config, &files, session, operational).await;
    fleet.stop().await;
    result
}

fn sim_serve(config: &Config) -> ServeSettings {
    ServeSettings { bookmark_interval: config.sim.bookmark_interval, ..ServeSettings::default() }
}

async fn sim(args: SimArgs, config: &Config) -> Result<()> {
    let started = Instant::now();
    let scenario = Scenario::load(args.scenario.as_deref().unwrap_or(&config.sim.scenario))?;
    let options = SimOptions {
        spokes: args.spokes,
        scenario,
        audit_dir: args.audit_dir.clone(),
        audit_max_size: config.sim.audit_max_bytes,
        serve: sim_serve(config),
        behaviour: !args.still,
    };
    let fleet = Fleet::start(options).await?;
    let path = args.kubeconfig.unwrap_or_else(|| data_dir().join("sim").join("kubeconfig.yaml"));
    fleet.write_kubeconfig(&path)?;
    let readonly = readonly_path(&path);
    fleet.write_kubeconfig_as(&readonly, Access::ReadOnly)?;
    // A closed stdout (a pipe whose reader went away) must not stop the fleet.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "fleetdeck sim: {} clusters ready in {:.2?}", fleet.clusters().len(), started.elapsed());
    for cluster in fleet.clusters().iter().take(12) {
        let role = format!("{:?}", cluster.info.role).to_lowercase();
        let _ =
            writeln!(out, "  {:<22} {:<9} {}  {}", cluster.name(), role, cluster.info.server, cluster.info.git_version);
    }
    if fleet.clusters().len() > 12 {
        let _ = writeln!(out, "  ... and {} more", fleet.clusters().len() - 12);
    }
    let _ = writeln!(out, "kubeconfig:           {}", path.display());
    let _ = writeln!(out, "read-only kubeconfig: {}", readonly.display());
    if let Some(dir) = &args.audit_dir {
        let _ = writeln!(out, "audit logs:           {}/<context>.log", dir.display());
    }
    let _ = writeln!(out, "try:  kubectl --kubeconfig {} get nodes", path.display());
    let _ = writeln!(
        out,
        "      kubectl --kubeconfig {} --context hub get kustomizations.kustomize.toolkit.fluxcd.io -A",
        path.display()
    );
    let _ = writeln!(out, "Ctrl-C stops the fleet.");
    let _ = out.flush();
    drop(out);
    shutdown_signal().await;
    fleet.stop().await;
    Ok(())
}

/// `fleetdeck check`: exits 0 healthy, 1 degraded, 2 unreachable; a check that could
/// not run is an error, which `main` reports with exit 2.
async fn check(
    args: CheckArgs,
    kubeconfig: Option<&std::path::Path>,
    hub: Option<String>,
    config: &Config,
) -> Result<ExitCode> {
    let kc = contexts::load(kubeconfig)?;
    let specs = contexts::resolve(&kc, &selection(hub, config)).await?;
    let report = fleetdeck::check::run(specs, config).await;
    let mut out = Vec::new();
    match args.format() {
        fleetdeck::cli::CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.push(b'\n');
        }
        fleetdeck::cli::CheckFormat::Openmetrics => {
            out.extend(fleetdeck::derive::metrics::openmetrics(&report, None).into_bytes())
        }
        fleetdeck::cli::CheckFormat::Text => fleetdeck::check::write_text(&report, &mut out)?,
    }
    print_all(&out)?;
    Ok(ExitCode::from(report.status.exit_code() as u8))
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_all(bytes: &[u8]) -> Result<()> {
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.wrap_err("writing to stdout"),
    }
}

/// A client of a context of the kubeconfig (exec plugins run as the engine runs them).
async fn context_client(kubeconfig: Option<&std::path::Path>, context: &str, config: &Config) -> Result<kube::Client> {
    let kc = contexts::load(kubeconfig)?;
    let options = kube::config::KubeConfigOptions { context: Some(context.to_owned()), ..Default::default() };
    let cfg =
        kube::Config::from_custom_kubeconfig(kc, &options).await.wrap_err_with(|| format!("hub context {context}"))?;
    let (client, _) = fleetdeck::cluster::exec::client(cfg, config.engine.connect_timeout, config.engine.exec_timeout)
        .await
        .map_err(|(_, message)| eyre!("hub {context}: {message}"))?;
    Ok(client)
}

/// `fleetdeck runs [--json]`: the hub's runs, newest first.
async fn runs(
    args: fleetdeck::cli::RunsArgs,
    kubeconfig: Option<&std::path::Path>,
    hub: Option<String>,
    config: &Config,
) -> Result<ExitCode> {
    let hub = selection(hub, config).hub;
    let client = context_client(kubeconfig, &hub, config).await?;
    let timeout = config.check.timeout;
    let runs = fleetdeck::cluster::runbook::list_runs(client, timeout).await.map_err(|e| eyre!("hub {hub}: {e}"))?;
    let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
    let now = jiff::Timestamp::now();
    let rows: Vec<_> =
        runs.iter().map(|(r, _)| fleetdeck::derive::runs::RunRow::of(r, now, config.runbook.lock_ttl, &host)).collect();
    let mut out = Vec::new();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &fleetdeck::derive::runs::json(&rows))?;
        out.push(b'\n');
    } else {
        fleetdeck::derive::runs::write_text(&rows, &mut out)?;
    }
    print_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The journal entries the hub holds as Events (every operator's).
async fn hub_entries(
    kubeconfig: Option<&std::path::Path>,
    context: &str,
    config: &Config,
) -> Result<Vec<fleetdeck::journal::Entry>> {
    use fleetdeck::journal::event::JOURNAL_ANNOTATION;
    use k8s_openapi::api::core::v1::Event;
    let client = context_client(kubeconfig, context, config).await?;
    let events: kube::Api<Event> = kube::Api::all(client);
    let list = tokio::time::timeout(Duration::from_secs(30), events.list(&kube::api::ListParams::default()))
        .await
        .map_err(|_| eyre!("hub {context}: listing Events timed out after 30s"))?
        .wrap_err_with(|| format!("hub {context}: listing Events"))?;
    Ok(list
        .items
        .iter()
        .filter_map(|e| e.metadata.annotations.as_ref()?.get(JOURNAL_ANNOTATION))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect())
}

/// `fleetdeck journal verify|export`; `verify --hub` compares with the hub's copy too.
async fn journal(
    args: JournalArgs,
    kubeconfig: Option<&std::path::Path>,
    hub: Option<String>,
    config: &Config,
) -> Result<ExitCode> {
    use fleetdeck::journal::{Journal, compare_with_hub, export};
    let journal = Journal::at(args.journal.unwrap_or_else(|| config.journal_path()));
    let mut out = std::io::stdout().lock();
    match args.command {
        JournalCommand::Verify => {
            let verdict = journal.verify()?;
            let path = journal.path().display();
            for (line, entry) in &verdict.unfinished {
                let who = if fleetdeck::cluster::write::is_run_write(&entry.action) {
                    "resuming its run (the runs pane, c) reads the object and records what came of it"
                } else {
                    "the next operator session reads the object and records what came of it"
                };
                let _ = writeln!(
                    out,
                    "{path}: line {line}: entry {} has no outcome: the write's result was not recorded (interrupted); {who}: {}",
                    entry.seq,
                    entry.summary()
                );
            }
            let mut failed = false;
            if let Some(hub) = hub {
                let context = if hub.is_empty() { config.fleet.hub.clone() } else { hub };
                let found = compare_with_hub(&journal.entries()?, &hub_entries(kubeconfig, &context, config).await?);
                for e in &found.missing_locally {
                    failed = true;
                    let _ = writeln!(
                        out,
                        "{path}: entry {} (hash {}…) is on hub {context} but not in the file: removed from it: {}",
                        e.seq,
                        &e.hash[..12],
                        e.summary()
                    );
                }
                for e in &found.missing_on_hub {
                    let _ = writeln!(
                        out,
                        "{path}: entry {} is not on hub {context}: never posted, or expired there (Events live for the hub's event TTL)",
                        e.seq
                    );
                }
                let _ = writeln!(
                    out,
                    "hub {context}: {} of this journal's entries there, all in the file: {}",
                    found.compared,
                    if found.missing_locally.is_empty() { "yes" } else { "no" }
                );
            }
            for (line, bytes) in &verdict.healed {
                let _ = writeln!(
                    out,
                    "{path}: line {line}: a write that did not finish ({bytes} bytes, torn: the process was killed or the disk filled), ended by the next append; the chain goes on past it"
                );
            }
            match verdict.problem {
                None => {
                    let _ = writeln!(out, "{path}: intact, {} entries", verdict.intact);
                    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
                }
                Some((line, problem)) => {
                    let _ = writeln!(out, "{path}: line {line}: {problem}");
                    let _ = writeln!(out, "{} entries before it are intact", verdict.intact);
                    let _ = out.flush();
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        JournalCommand::Export { format, since } => {
            let since = match since {
                Some(text) => Some(export::parse_since(&text, jiff::Timestamp::now()).map_err(|e| eyre!(e))?),
                None => None,
            };
            export::export(&journal.entries()?, format, since, &mut out).map(|()| ExitCode::SUCCESS)
        }
    }
}

/// Error reports without colour when stderr is not a terminal or NO_COLOR is set.
fn install_error_reports() -> Result<()> {
    use std::io::IsTerminal;
    let plain = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) || !std::io::stderr().is_terminal();
    let builder = color_eyre::config::HookBuilder::default().display_env_section(false);
    let builder = if plain { builder.theme(color_eyre::config::Theme::new()) } else { builder };
    builder.install()
}

/// `x.yaml` -> `x.readonly.yaml`: the same fleet with every context on its read-only user.
fn readonly_path(path: &std::path::Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "kubeconfig".into());
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    path.with_file_name(format!("{stem}.readonly{ext}"))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
