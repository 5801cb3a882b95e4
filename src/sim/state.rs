//! The mutable state of one simulated cluster, guarded by one lock: its store, the kinds
//! it serves, and who may do what. All API operations take `&mut ClusterState`, so every
//! write is atomic with the checks that precede it.

use std::sync::Arc;

use serde_json::Value;

use super::auth::{Attributes, Authenticator, Decision, Rbac, UserInfo};
use super::resource::{GroupResource, Registry};
use super::store::Store;

/// What kind of cluster this is in the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRole {
    Hub,
    /// A spoke registered on the hub.
    Spoke,
    /// A cluster in the kubeconfig that the hub does not know yet.
    Candidate,
}

/// Facts about a cluster that do not change while it runs.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    pub name: String,
    pub role: ClusterRole,
    /// `staging`, `production`, or `hub`.
    pub environment: String,
    pub region: String,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// The cluster CA certificate, PEM.
    pub ca_pem: Arc<str>,
    pub git_version: &'static str,
}

pub struct ClusterState {
    pub info: Arc<ClusterInfo>,
    pub store: Store,
    pub registry: Arc<Registry>,
    pub authn: Authenticator,
    rbac: Option<Arc<Rbac>>,
    /// What each Velero backup holds (by name): the objects of its namespaces as they
    /// were when it ran, shared with the store (a write replaces an object, it never
    /// changes one), for restores to put back.
    pub backups: std::collections::HashMap<String, Arc<Vec<Arc<crate::store::StoredObject>>>>,
    /// While a manifest of CRDs is applied, the registry is recomputed once at its end.
    registry_held: bool,
    /// The bad revision the cluster is at (the scenario's `bad_revision_after`), and the
    /// API latency it had before.
    pub bad_revision: Option<(String, std::time::Duration)>,
}

fn crd_gr() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

impl ClusterState {
    pub fn new(info: Arc<ClusterInfo>, store: Store) -> Self {
        Self {
            info,
            store,
            registry: Arc::new(Registry::new([])),
            authn: Authenticator::default(),
            rbac: None,
            backups: Default::default(),
            registry_held: false,
            bad_revision: None,
        }
    }

    /// A CRD was written or deleted: the served kinds follow, now or when the held
    /// registry is released.
    pub fn crds_changed(&mut self) {
        if !self.registry_held {
            self.refresh_registry();
        }
    }

    /// Applies `f` with the registry held: CRDs written meanwhile are served after it.
    pub fn with_registry_held<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.registry_held = true;
        let out = f(self);
        self.registry_held = false;
        self.refresh_registry();
        out
    }

    /// Recomputes the served kinds from the CRDs in the store.
    pub fn refresh_registry(&mut self) {
        let crds: Vec<Value> = self.store.list(&crd_gr(), None, None).map(|(_, o)| o.value()).collect();
        self.registry = Arc::new(Registry::new(crds.iter()));
    }

    /// Marks the RBAC view stale after a ClusterRole or ClusterRoleBinding changed.
    pub fn invalidate_rbac(&mut self) {
        self.rbac = None;
    }

    fn rbac(&mut self) -> Arc<Rbac> {
        if let Some(rbac) = &self.rbac {
            return rbac.clone();
        }
        let roles_gr = GroupResource::new("rbac.authorization.k8s.io", "clusterroles");
        let bindings_gr = GroupResource::new("rbac.authorization.k8s.io", "clusterrolebindings");
        let roles: Vec<Value> = self.store.list(&roles_gr, None, None).map(|(_, o)| o.value()).collect();
        let bindings: Vec<Value> = self.store.list(&bindings_gr, None, None).map(|(_, o)| o.value()).collect();
        let rbac = Arc::new(Rbac::compile(roles, bindings.iter()));
        self.rbac = Some(rbac.clone());
        rbac
    }

    pub fn authorize(&mut self, user: &UserInfo, attrs: &Attributes) -> Decision {
        self.rbac().authorize(user, attrs)
    }

    pub fn rules_for(&mut self, user: &UserInfo) -> (Vec<Value>, Vec<Value>) {
        self.rbac().rules_for(user)
    }
}
