//! The simulated fleet: a hub and spokes, each a Kubernetes API server on its own
//! loopback port, faithful enough that kubectl and kube-rs cannot tell it from a real
//! cluster for what fleetdeck uses. It is how a new user sees fleetdeck work, how the
//! tests run without a cluster, and what the benchmarks load.
//!
//! ```no_run
//! # async fn example() -> color_eyre::Result<()> {
//! use fleetdeck_sim::{Fleet, SimOptions};
//! let fleet = Fleet::start(SimOptions::default()).await?;
//! fleet.write_kubeconfig(std::path::Path::new("/tmp/fleet.yaml"))?;
//! fleet.cluster("production-eu-1").unwrap().faults.update(|f| f.error_rate = 0.5);
//! fleet.stop().await;
//! # Ok(()) }
//! ```

mod api;
mod audit;
mod auth;
mod clock;
mod cluster;
mod controllers;
mod cron;
mod discovery;
mod fault;
mod glob;
mod http;
mod kubeconfig;
mod object;
mod openapi;
mod pki;
mod protobuf;
mod request;
mod resource;
pub mod scenario;
mod schema;
mod seed;
mod selector;
mod server;
mod state;
mod status;
mod store;
mod table;
mod watch;

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use cluster::{Cluster, ServeSettings};
pub use controllers::velero::backup_from_schedule;
pub use fault::{FaultState, NoHealth, OutageMode};
pub use kubeconfig::Access;
pub use resource::GroupResource;
pub use scenario::Scenario;
pub use state::ClusterRole;

use audit::AuditLog;
use auth::{TokenEntry, UserInfo};
use kubeconfig::{Credential, Entry};
use pki::ClusterPki;
use state::{ClusterInfo, ClusterState};
use store::Store;

/// How to start a fleet.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Registered spokes; the scenario's count when `None`.
    pub spokes: Option<usize>,
    pub scenario: Scenario,
    /// Write each cluster's API audit log to `DIR/<cluster>.log`.
    pub audit_dir: Option<PathBuf>,
    /// Rotate audit logs past this many bytes.
    pub audit_max_size: u64,
    pub serve: ServeSettings,
    /// Run the simulated controllers (Flux, Velero, nodes, events) and the scenario's
    /// faults. Tests of API semantics turn them off for a still fleet.
    pub behaviour: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            spokes: None,
            scenario: Scenario::builtin("default"),
            audit_dir: None,
            audit_max_size: 16 * 1024 * 1024,
            serve: ServeSettings::default(),
            behaviour: true,
        }
    }
}

/// The name of the i-th spoke: environments alternate, regions rotate every two.
pub fn spoke_name(i: usize) -> String {
    const ENVS: [&str; 2] = ["staging", "production"];
    const REGIONS: [&str; 3] = ["eu", "us", "ap"];
    format!("{}-{}-{}", ENVS[i % 2], REGIONS[(i / 2) % 3], i / 6 + 1)
}

fn candidate_name(i: usize) -> String {
    const REGIONS: [&str; 3] = ["eu", "us", "ap"];
    format!("edge-{}-{}", REGIONS[i % 3], i / 3 + 1)
}

const VERSIONS: [&str; 3] = ["v1.33.4", "v1.32.8", "v1.33.2"];

/// A running simulated fleet.
pub struct Fleet {
    clusters: Vec<Arc<Cluster>>,
    entries: Vec<Entry>,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    started: Instant,
}

struct Planned {
    name: String,
    role: ClusterRole,
    environment: String,
    region: String,
    index: usize,
    listener: StdListener,
}

impl Fleet {
    /// Starts the fleet: generates certificates, seeds every cluster, opens the ports.
    pub async fn start(options: SimOptions) -> Result<Fleet> {
        let started = Instant::now();
        let spokes = options.spokes.unwrap_or(options.scenario.fleet.spokes);
        let mut plan = Vec::new();
        let bind = || StdListener::bind("127.0.0.1:0").wrap_err("binding a port on 127.0.0.1");
        plan.push(Planned {
            name: "hub".into(),
            role: ClusterRole::Hub,
            environment: "hub".into(),
            region: "eu".into(),
            index: 0,
            listener: bind()?,
        });
        for i in 0..spokes {
            let name = spoke_name(i);
            let mut parts = name.split('-');
            let environment = parts.next().unwrap_or_default().to_owned();
            let region = parts.next().unwrap_or_default().to_owned();
            plan.push(Planned { name, role: ClusterRole::Spoke, environment, region, index: i + 1, listener: bind()? });
        }
        let named = &options.scenario.fleet.candidate_names;
        for i in 0..options.scenario.fleet.candidates.max(named.len()) {
            let name = named.get(i).cloned().unwrap_or_else(|| candidate_name(i));
            let mut parts = name.split('-');
            let environment = parts.next().unwrap_or_default().to_owned();
            let region = parts.next().unwrap_or_default().to_owned();
            plan.push(Planned {
                name,
                role: ClusterRole::Candidate,
                environment,
                region,
                index: spokes + 1 + i,
                listener: bind()?,
            });
        }
        // Each cluster listens, and every client connection is a socket.
        let wanted = (plan.len() * 8 + 1024) as u64;
        if let Err(e) = rlimit::increase_nofile_limit(wanted) {
            tracing::warn!(error = %e, wanted, "could not raise the open-files limit");
        }
        let settings = Arc::new(options.serve.clone());
        let audit_dir = options.audit_dir.clone();
        let scenario = Arc::new(options.scenario.clone());
        let revisions = controllers::flux::Revisions::new();

        // Spokes and candidates first (in parallel), then the hub, which registers the spokes.
        let (hub_plan, others): (Vec<Planned>, Vec<Planned>) =
            plan.into_iter().partition(|p| p.role == ClusterRole::Hub);
        let built =
            build_parallel(others, &settings, audit_dir.as_deref(), options.audit_max_size, &scenario, &revisions)?;
        let mut registrations = Vec::new();
        for (cluster, _, _) in built.iter().filter(|(c, _, _)| c.info.role == ClusterRole::Spoke) {
            registrations.push(controllers::flux::Registration::of(cluster)?);
        }
        let mut all = Vec::new();
        for p in hub_plan {
            let (cluster, entry, listener) =
                build(p, &settings, audit_dir.as_deref(), options.audit_max_size, &scenario, &revisions)?;
            controllers::seed_hub(&cluster, &scenario, &registrations, &revisions)?;
            all.push((cluster, entry, listener));
        }
        all.extend(built);

        let shutdown = CancellationToken::new();
        let mut clusters = Vec::new();
        let mut entries = Vec::new();
        let mut tasks = Vec::new();
        for (cluster, entry, listener) in all {
            listener.set_nonblocking(true).wrap_err("listener")?;
            let listener = tokio::net::TcpListener::from_std(listener).wrap_err("listener")?;
            tasks.push(tokio::spawn(server::serve(cluster.clone(), listener, shutdown.clone())));
            clusters.push(cluster);
            entries.push(entry);
        }
        if options.behaviour {
            tasks.extend(controllers::spawn(&clusters, scenario.clone(), shutdown.clone()));
        }
        tracing::info!(
            clusters = clusters.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "simulated fleet started"
        );
        Ok(Fleet { clusters, entries, shutdown, tasks, started })
    }

    /// The hub, then spokes, then candidates.
    pub fn clusters(&self) -> &[Arc<Cluster>] {
        &self.clusters
    }

    pub fn hub(&self) -> &Arc<Cluster> {
        &self.clusters[0]
    }

    pub fn cluster(&self, name: &str) -> Option<&Arc<Cluster>> {
        self.clusters.iter().find(|c| c.name() == name)
    }

    /// The cluster or an error naming the clusters there are.
    pub fn require(&self, name: &str) -> Result<&Arc<Cluster>> {
        self.cluster(name).ok_or_else(|| eyre!("no simulated cluster named {name}"))
    }

    /// How long ago the fleet started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The kubeconfig document with contexts using the admin or the read-only users.
    pub fn kubeconfig(&self, access: Access) -> serde_json::Value {
        kubeconfig::document(&self.entries, access, "hub")
    }

    pub fn kubeconfig_yaml(&self, access: Access) -> String {
        kubeconfig::to_yaml(&self.kubeconfig(access))
    }

    /// Writes the kubeconfig (admin contexts, read-only users listed too), mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        self.write_kubeconfig_as(path, Access::Admin)
    }

    pub fn write_kubeconfig_as(&self, path: &Path, access: Access) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, self.kubeconfig_yaml(access)).wrap_err_with(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(())
    }

    /// source-controller publishes a new revision of a hub source (`GitRepository` or
    /// `OCIRepository` in flux-system), as when a commit is pushed; the Kustomizations
    /// that follow it reconcile. Returns the new revision.
    pub fn publish_revision(&self, kind: &str, name: &str) -> Result<String> {
        controllers::flux::publish(self.hub(), kind, name)
            .ok_or_else(|| eyre!("no active {kind} flux-system/{name} on the hub"))
    }

    /// Stops serving and every simulated controller.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

type Built = (Arc<Cluster>, Entry, StdListener);

fn build_parallel(
    plans: Vec<Planned>,
    settings: &Arc<ServeSettings>,
    audit: Option<&Path>,
    audit_max: u64,
    scenario: &Arc<Scenario>,
    revisions: &controllers::flux::Revisions,
) -> Result<Vec<Built>> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8);
    let chunk = plans.len().div_ceil(threads).max(1);
    let mut groups: Vec<Vec<Planned>> = Vec::new();
    let mut it = plans.into_iter().peekable();
    while it.peek().is_some() {
        groups.push(it.by_ref().take(chunk).collect());
    }
    let results: Vec<Result<Vec<Built>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                scope.spawn(move || {
                    group
                        .into_iter()
                        .map(|p| build(p, settings, audit, audit_max, scenario, revisions))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(eyre!("seeding thread panicked")))).collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn build(
    p: Planned,
    settings: &Arc<ServeSettings>,
    audit: Option<&Path>,
    audit_max: u64,
    scenario: &Scenario,
    revisions: &controllers::flux::Revisions,
) -> Result<Built> {
    let port = p.listener.local_addr().wrap_err("listener address")?.port();
    let pki = ClusterPki::generate(&p.name)?;
    let info = Arc::new(ClusterInfo {
        name: p.name.clone(),
        role: p.role,
        environment: p.environment,
        region: p.region,
        server: format!("https://127.0.0.1:{port}"),
        ca_pem: Arc::from(pki.ca_pem.as_str()),
        git_version: if p.role == ClusterRole::Hub { VERSIONS[0] } else { VERSIONS[p.index % VERSIONS.len()] },
    });
    let history = if p.role == ClusterRole::Hub { 4096 } else { 512 };
    let mut state = ClusterState::new(info.clone(), Store::new(history, Duration::from_secs(300)));
    let uid = seed::stable_uid(&format!("fleetdeck-sim/{}", p.name));

    let admin = if p.role == ClusterRole::Hub {
        let cert = pki.issue_client(seed::ADMIN_USER, &["system:masters"])?;
        state.authn.add_certificate(cert.fingerprint, UserInfo::new(seed::ADMIN_USER, &["system:masters"]));
        Credential::Certificate { cert_pem: cert.cert_pem, key_pem: cert.key_pem }
    } else {
        let token = api::strategy::new_token();
        state.authn.add_token(
            &token,
            TokenEntry { user: UserInfo::new(seed::ADMIN_USER, &["system:masters"]), expires: None, secret: None },
        );
        Credential::Token(token)
    };
    let viewer_token = api::strategy::new_token();
    state.authn.add_token(
        &viewer_token,
        TokenEntry { user: UserInfo::new(seed::VIEWER_USER, &[seed::VIEWER_GROUP]), expires: None, secret: None },
    );

    let nodes = if p.role == ClusterRole::Hub { 3 } else { 2 + p.index % 3 };
    controllers::seed_cluster(&mut state, &uid, scenario, revisions, nodes)
        .wrap_err_with(|| format!("seeding {}", p.name))?;
    let audit = match audit {
        Some(dir) => Some(AuditLog::open(dir, &p.name, audit_max, 5)?),
        None => None,
    };
    let entry = Entry {
        name: p.name.clone(),
        server: info.server.clone(),
        ca_pem: pki.ca_pem.clone(),
        admin,
        viewer: Credential::Token(viewer_token),
    };
    let cluster = Arc::new(Cluster::new(info, state, pki, audit, settings.clone(), uid));
    Ok((cluster, entry, p.listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoke_names_cover_environments_and_regions() {
        let names: Vec<String> = (0..6).map(spoke_name).collect();
        assert_eq!(
            names,
            ["staging-eu-1", "production-eu-1", "staging-us-1", "production-us-1", "staging-ap-1", "production-ap-1"]
        );
        assert_eq!(spoke_name(6), "staging-eu-2");
        let mut all: Vec<String> = (0..1000).map(spoke_name).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1000, "names are unique");
    }
}
