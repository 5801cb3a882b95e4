//! One simulated cluster: identity, certificates, state, faults, audit log and counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use serde_json::Value;

use super::api::{self, Caller, write};
use super::audit::AuditLog;
use super::fault::Faults;
use super::pki::ClusterPki;
use super::resource::GroupResource;
use super::state::{ClusterInfo, ClusterState};

/// How the clusters of a fleet serve (shared by all of them).
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// How often a watch that allows bookmarks gets one.
    pub bookmark_interval: Duration,
    /// The largest request body accepted (the API server's is 3 MiB).
    pub max_body: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self { bookmark_interval: Duration::from_secs(60), max_body: 3 * 1024 * 1024 }
    }
}

/// Counters a test can read to see what clients did.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    /// Mutating requests on stored kinds (create, update, patch, delete), dry runs
    /// included; reviews (SelfSubjectAccessReview, ...) are not writes.
    pub writes: AtomicU64,
    /// TLS connections accepted, and how many of them speak HTTP/2.
    pub connections: AtomicU64,
    pub http2_connections: AtomicU64,
    recent_writes: Mutex<Vec<String>>,
}

impl RequestStats {
    pub fn record_write(&self, line: String) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent_writes.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= 256 {
            recent.remove(0);
        }
        recent.push(line);
    }

    /// The last write requests ("VERB path by user").
    pub fn recent_writes(&self) -> Vec<String> {
        self.recent_writes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub struct Cluster {
    pub info: Arc<ClusterInfo>,
    state: Mutex<ClusterState>,
    pub faults: Faults,
    pub pki: ClusterPki,
    pub audit: Option<AuditLog>,
    pub stats: RequestStats,
    pub settings: Arc<ServeSettings>,
    /// The UID of kube-system: the cluster's identity.
    pub uid: String,
    /// The storage fault: Velero's object storage is unreachable.
    pub velero_storage_down: AtomicBool,
    removed_crds: Mutex<HashMap<String, Value>>,
}

const CRDS: (&str, &str) = ("apiextensions.k8s.io", "customresourcedefinitions");

fn crd_type(st: &ClusterState) -> Result<Arc<super::resource::ResourceType>> {
    st.registry.preferred(&GroupResource::new(CRDS.0, CRDS.1)).cloned().ok_or_else(|| eyre!("CRDs not served"))
}

impl Cluster {
    pub fn new(
        info: Arc<ClusterInfo>,
        state: ClusterState,
        pki: ClusterPki,
        audit: Option<AuditLog>,
        settings: Arc<ServeSettings>,
        uid: String,
    ) -> Self {
        Self {
            info,
            state: Mutex::new(state),
            faults: Faults::default(),
            pki,
            audit,
            stats: RequestStats::default(),
            settings,
            uid,
            velero_storage_down: AtomicBool::new(false),
            removed_crds: Mutex::new(HashMap::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The storage fault on or off: Velero's object storage becomes unreachable (the
    /// storage location is validated at once and backups fail meanwhile), or comes back.
    pub fn set_velero_storage(&self, available: bool) {
        self.velero_storage_down.store(!available, std::sync::atomic::Ordering::Relaxed);
        super::controllers::velero::validate_storage(&mut self.lock(), available);
    }

    /// The cluster's state. The lock is never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deletes a CRD (and with it every object of its kind), remembering it so
    /// `restore_crd` can put it back: the "CRD that disappears" fault.
    pub fn remove_crd(&self, name: &str) -> Result<()> {
        let mut st = self.lock();
        let rt = crd_type(&st)?;
        let crd = api::get(&st, &rt, "", name).map_err(|e| eyre!("{e}"))?.value();
        write::delete(&mut st, &Caller::system("fleetdeck-sim"), &rt, "", name, &Default::default())
            .map_err(|e| eyre!("{e}"))?;
        self.removed_crds.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned(), crd);
        Ok(())
    }

    /// Re-creates a CRD removed by `remove_crd` (its objects stay gone, as on a real cluster).
    pub fn restore_crd(&self, name: &str) -> Result<()> {
        let crd = self
            .removed_crds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
            .ok_or_else(|| eyre!("CRD {name} was not removed"))?;
        let mut crd = crd;
        if let Some(meta) = crd.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations"));
        }
        if let Some(map) = crd.as_object_mut() {
            map.remove("status");
        }
        let mut st = self.lock();
        let rt = crd_type(&st)?;
        write::create(&mut st, &Caller::system("fleetdeck-sim"), &rt, "", crd).map_err(|e| eyre!("{e}"))?;
        Ok(())
    }
}
