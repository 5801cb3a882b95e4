//! Which contexts are spokes: the hub's registrations joined to the local kubeconfig.
//!
//! A spoke is registered on the hub when a Kustomization there applies to it through a
//! kubeconfig Secret (`spec.kubeConfig.secretRef`), in a namespace named after it. A
//! registration is joined to a context by, in order: the cluster UID the Secret records
//! (`fleetdeck.io/cluster-uid`) against each context's kube-system UID; an explicit
//! mapping in the config; the context named like the namespace; the server URL inside the
//! Secret's kubeconfig. Registrations no context reaches are "hub-only"; contexts no
//! registration names are candidates for registration.

use std::collections::{BTreeMap, BTreeSet};

use super::summary::{KustomizationSummary, ObjectKey, SpokeSecret};

/// How a cluster relates to the hub, in a word (the health pane's ROLE, `check`'s
/// `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Hub,
    Spoke,
    Candidate,
    /// Registered on the hub, reached by no local context.
    HubOnly,
    /// Not known yet: the hub's registrations have not been read (the hub not reached).
    Unknown,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Hub => "hub",
            Role::Spoke => "spoke",
            Role::Candidate => "candidate",
            Role::HubOnly => "hub-only",
            Role::Unknown => "unknown",
        }
    }
}

/// How a registration was joined to its context (shown in the detail view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinedBy {
    ClusterUid,
    Mapping,
    ContextName,
    ServerUrl,
}

impl JoinedBy {
    pub fn label(self) -> &'static str {
        match self {
            JoinedBy::ClusterUid => "cluster UID",
            JoinedBy::Mapping => "config mapping",
            JoinedBy::ContextName => "context name",
            JoinedBy::ServerUrl => "server URL",
        }
    }
}

/// What a kubeconfig context is to the hub: the hub itself, a spoke (joined to a
/// registration, by one of the ways of joining), or a candidate for registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextRole {
    Hub,
    Spoke {
        registration: usize,
        by: JoinedBy,
    },
    Candidate,
    /// The hub's registrations have not been read: a spoke or a candidate, nobody knows.
    Unknown,
}

impl ContextRole {
    pub fn role(self) -> Role {
        match self {
            ContextRole::Hub => Role::Hub,
            ContextRole::Spoke { .. } => Role::Spoke,
            ContextRole::Candidate => Role::Candidate,
            ContextRole::Unknown => Role::Unknown,
        }
    }

    /// The registration a spoke is.
    pub fn registration(self) -> Option<usize> {
        match self {
            ContextRole::Spoke { registration, .. } => Some(registration),
            _ => None,
        }
    }
}

/// A spoke as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The spoke's namespace on the hub (its name in the fleet).
    pub name: String,
    pub secret: Option<SpokeSecret>,
    /// Its Kustomizations on the hub.
    pub kustomizations: Vec<ObjectKey>,
}

/// The registrations recorded on the hub.
pub fn registrations(
    kustomizations: &BTreeMap<ObjectKey, KustomizationSummary>,
    secrets: &BTreeMap<ObjectKey, SpokeSecret>,
) -> Vec<Registration> {
    let mut by_namespace: BTreeMap<String, Registration> = BTreeMap::new();
    for (key, ks) in kustomizations {
        if !ks.remote {
            continue;
        }
        let reg = by_namespace.entry(key.0.clone()).or_insert_with(|| Registration {
            name: key.0.clone(),
            secret: None,
            kustomizations: Vec::new(),
        });
        reg.kustomizations.push(key.clone());
        if reg.secret.is_none()
            && let Some(secret_name) = &ks.kubeconfig_secret
        {
            reg.secret = secrets.get(&(key.0.clone(), secret_name.clone())).cloned();
        }
    }
    by_namespace.into_values().collect()
}

/// What the join needs of a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFacts {
    pub name: String,
    pub server: String,
    pub uid: Option<String>,
    pub is_hub: bool,
}

/// The result of the join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Join {
    /// Per context (same order as given): its role.
    pub roles: Vec<ContextRole>,
    /// Registrations joined to no context.
    pub hub_only: Vec<usize>,
}

fn normalize(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Whether a registration is a context, by one way of joining.
fn joins(how: JoinedBy, r: &Registration, c: &ContextFacts, mapping: &BTreeMap<String, String>) -> bool {
    let secret = r.secret.as_ref();
    match how {
        JoinedBy::ClusterUid => match (secret.and_then(|s| s.cluster_uid.as_deref()), c.uid.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        JoinedBy::Mapping => mapping.get(&r.name) == Some(&c.name),
        JoinedBy::ContextName => r.name == c.name,
        JoinedBy::ServerUrl => {
            secret.and_then(|s| s.server.as_deref()).is_some_and(|s| normalize(s) == normalize(&c.server))
        }
    }
}

pub fn join(contexts: &[ContextFacts], registrations: &[Registration], mapping: &BTreeMap<String, String>) -> Join {
    let mut roles: Vec<ContextRole> =
        contexts.iter().map(|c| if c.is_hub { ContextRole::Hub } else { ContextRole::Candidate }).collect();
    let mut joined: BTreeSet<usize> = BTreeSet::new();
    let free = |roles: &[ContextRole], i: usize| roles[i] == ContextRole::Candidate;
    for how in [JoinedBy::ClusterUid, JoinedBy::Mapping, JoinedBy::ContextName, JoinedBy::ServerUrl] {
        for (ri, reg) in registrations.iter().enumerate() {
            if joined.contains(&ri) {
                continue;
            }
            if let Some(ci) =
                (0..contexts.len()).find(|&ci| free(&roles, ci) && joins(how, reg, &contexts[ci], mapping))
            {
                roles[ci] = ContextRole::Spoke { registration: ri, by: how };
                joined.insert(ri);
            }
        }
    }
    let hub_only = (0..registrations.len()).filter(|ri| !joined.contains(ri)).collect();
    Join { roles, hub_only }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(ns: &str, name: &str, remote: bool) -> (ObjectKey, KustomizationSummary) {
        let k = KustomizationSummary {
            namespace: ns.into(),
            name: name.into(),
            remote,
            kubeconfig_secret: remote.then(|| "cluster-kubeconfig".to_owned()),
            ..Default::default()
        };
        ((ns.into(), name.into()), k)
    }

    fn secret(ns: &str, uid: Option<&str>, server: Option<&str>) -> (ObjectKey, SpokeSecret) {
        let s = SpokeSecret {
            namespace: ns.into(),
            name: "cluster-kubeconfig".into(),
            cluster_uid: uid.map(str::to_owned),
            server: server.map(str::to_owned),
            ..Default::default()
        };
        ((ns.into(), "cluster-kubeconfig".into()), s)
    }

    fn ctx(name: &str, server: &str, uid: Option<&str>) -> ContextFacts {
        ContextFacts { name: name.into(), server: server.into(), uid: uid.map(str::to_owned), is_hub: false }
    }

    #[test]
    fn registrations_come_from_remote_kustomizations() {
        let kss = BTreeMap::from([ks("a", "policies", true), ks("a", "config", true), ks("flux-system", "own", false)]);
        let secrets = BTreeMap::from([secret("a", Some("uid-a"), None)]);
        let regs = registrations(&kss, &secrets);
        assert_eq!(regs.len(), 1);
        assert_eq!(regs[0].name, "a");
        assert_eq!(regs[0].kustomizations.len(), 2);
        assert_eq!(regs[0].secret.as_ref().unwrap().cluster_uid.as_deref(), Some("uid-a"));
    }

    #[test]
    fn join_prefers_uid_then_mapping_then_name_then_server() {
        let reg = |name: &str, uid: Option<&str>, server: Option<&str>| Registration {
            name: name.into(),
            secret: Some(secret(name, uid, server).1),
            kustomizations: vec![],
        };
        let regs = vec![
            reg("prod-1", Some("uid-x"), None),
            reg("prod-2", None, None),
            reg("prod-3", None, None),
            reg("prod-4", None, Some("https://10.0.0.4:6443/")),
            reg("gone", None, Some("https://nowhere")),
        ];
        let mut hub = ctx("hub", "https://hub", Some("uid-hub"));
        hub.is_hub = true;
        let contexts = vec![
            hub,
            ctx("renamed-prod-1", "https://1", Some("uid-x")),
            ctx("my-prod-2", "https://2", None),
            ctx("prod-3", "https://3", None),
            ctx("ctx-4", "https://10.0.0.4:6443", None),
            ctx("edge", "https://edge", None),
        ];
        let mapping = BTreeMap::from([("prod-2".to_owned(), "my-prod-2".to_owned())]);
        let j = join(&contexts, &regs, &mapping);
        let spoke = |registration, by| ContextRole::Spoke { registration, by };
        assert_eq!(j.roles[0], ContextRole::Hub);
        assert_eq!(j.roles[1], spoke(0, JoinedBy::ClusterUid));
        assert_eq!(j.roles[2], spoke(1, JoinedBy::Mapping));
        assert_eq!(j.roles[3], spoke(2, JoinedBy::ContextName));
        assert_eq!(j.roles[4], spoke(3, JoinedBy::ServerUrl));
        assert_eq!(j.roles[5], ContextRole::Candidate);
        assert_eq!(j.hub_only, vec![4]);
    }

    #[test]
    fn a_uid_match_wins_over_a_name_match_elsewhere() {
        let regs = vec![Registration {
            name: "a".into(),
            secret: Some(secret("a", Some("uid-b"), None).1),
            kustomizations: vec![],
        }];
        let contexts = vec![ctx("a", "https://a", Some("uid-a")), ctx("b", "https://b", Some("uid-b"))];
        let j = join(&contexts, &regs, &BTreeMap::new());
        assert_eq!(j.roles[0], ContextRole::Candidate);
        assert_eq!(j.roles[1], ContextRole::Spoke { registration: 0, by: JoinedBy::ClusterUid });
    }
}
