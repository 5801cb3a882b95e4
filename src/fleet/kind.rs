//! The kinds fleetdeck watches, as the domain names them.

/// A watched kind. The engine maps each to its API resource (`cluster::resources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Node,
    /// Deployments, every namespace: the Flux controllers (`flux-system`), Velero
    /// (`velero`), and the workloads the rollback triggers watch for disruption.
    Deployment,
    /// Hub only.
    Kustomization,
    /// Hub only: the `cluster-kubeconfig` Secrets of registered spokes.
    SpokeSecret,
    /// Hub only: Flux sources.
    GitRepository,
    OciRepository,
    /// Policy reports (`wgpolicyk8s.io`, written by Kyverno and others), wherever the CRDs
    /// are installed.
    PolicyReport,
    ClusterPolicyReport,
    /// Velero (`velero.io/v1`), wherever it is installed.
    Backup,
    Schedule,
    Restore,
    BackupStorageLocation,
    /// core/v1 Events, every namespace: for the audit timeline (kept beyond their TTL).
    Event,
    /// Hub only: the workflow runs, ConfigMaps in `fleetdeck-system`.
    Run,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Node,
        Kind::Deployment,
        Kind::Kustomization,
        Kind::SpokeSecret,
        Kind::GitRepository,
        Kind::OciRepository,
        Kind::PolicyReport,
        Kind::ClusterPolicyReport,
        Kind::Backup,
        Kind::Schedule,
        Kind::Restore,
        Kind::BackupStorageLocation,
        Kind::Event,
        Kind::Run,
    ];

    /// How the kind is named on screen.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::Deployment => "deployments",
            Kind::Kustomization => "kustomizations.kustomize.toolkit.fluxcd.io",
            Kind::SpokeSecret => "secrets (cluster-kubeconfig)",
            Kind::GitRepository => "gitrepositories.source.toolkit.fluxcd.io",
            Kind::OciRepository => "ocirepositories.source.toolkit.fluxcd.io",
            Kind::PolicyReport => "policyreports.wgpolicyk8s.io",
            Kind::ClusterPolicyReport => "clusterpolicyreports.wgpolicyk8s.io",
            Kind::Backup => "backups.velero.io",
            Kind::Schedule => "schedules.velero.io",
            Kind::Restore => "restores.velero.io",
            Kind::BackupStorageLocation => "backupstoragelocations.velero.io",
            Kind::Event => "events",
            Kind::Run => "configmaps (fleetdeck-system runs)",
        }
    }

    /// Watched on the hub only.
    pub fn hub_only(self) -> bool {
        matches!(self, Kind::Kustomization | Kind::SpokeSecret | Kind::GitRepository | Kind::OciRepository | Kind::Run)
    }

    /// The API group that must be served for the kind to exist (a CRD's group).
    pub fn crd_group(self) -> Option<&'static str> {
        match self {
            Kind::Kustomization => Some("kustomize.toolkit.fluxcd.io"),
            Kind::GitRepository | Kind::OciRepository => Some("source.toolkit.fluxcd.io"),
            Kind::PolicyReport | Kind::ClusterPolicyReport => Some("wgpolicyk8s.io"),
            Kind::Backup | Kind::Schedule | Kind::Restore | Kind::BackupStorageLocation => Some("velero.io"),
            _ => None,
        }
    }

    /// Whether the cluster can be Live without this kind being readable (optional data:
    /// a read-only user may not read Secrets; Events only feed the audit timeline).
    pub fn optional(self) -> bool {
        matches!(self, Kind::SpokeSecret | Kind::Event | Kind::Run)
    }
}
