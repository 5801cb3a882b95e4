//! The kubeconfig, read the way kubectl reads it (`--kubeconfig`, else every file of
//! `KUBECONFIG` merged, else `~/.kube/config`), and the contexts fleetdeck connects to:
//! the hub and the spokes (every other context, or those matching `fleet.spokes`).

use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr, eyre};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::glob::glob_match;

/// One context to connect to.
#[derive(Clone)]
pub struct ContextSpec {
    pub name: String,
    /// The server URL of the context's cluster.
    pub server: String,
    pub is_hub: bool,
    /// The kubeconfig user (AuthInfo) name of the context, as the journal records who
    /// wrote: a name, never the credential.
    pub user: String,
    /// The client configuration, or why it could not be made (an exec plugin that is not
    /// installed, a certificate file that is missing): that context's row shows it.
    pub config: std::result::Result<kube::Config, String>,
}

impl ContextSpec {
    /// A context with no client configuration (it never connects), for model tests.
    #[cfg(test)]
    pub(crate) fn unconnected(name: &str, hub: bool) -> Self {
        Self {
            name: name.into(),
            server: format!("https://{name}"),
            is_hub: hub,
            user: "admin".into(),
            config: Err("test".into()),
        }
    }
}

impl std::fmt::Debug for ContextSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextSpec")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("is_hub", &self.is_hub)
            .finish()
    }
}

/// Which contexts make the fleet.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The hub's context name.
    pub hub: String,
    /// Globs of spoke contexts; every other context when empty.
    pub spokes: Vec<String>,
}

/// The kubeconfig files kubectl would read, in order.
pub fn kubeconfig_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_owned()];
    }
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()).collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    directories::BaseDirs::new().map(|b| vec![b.home_dir().join(".kube").join("config")]).unwrap_or_default()
}

/// Reads and merges the kubeconfig. Files of `KUBECONFIG` that do not exist are skipped,
/// as kubectl does; an explicit `--kubeconfig` must exist.
pub fn load(explicit: Option<&Path>) -> Result<Kubeconfig> {
    let paths = kubeconfig_paths(explicit);
    let mut merged: Option<Kubeconfig> = None;
    for path in &paths {
        if explicit.is_none() && !path.exists() {
            continue;
        }
        let kc = Kubeconfig::read_from(path).wrap_err_with(|| format!("reading kubeconfig {}", path.display()))?;
        merged = Some(match merged {
            Some(m) => m.merge(kc).wrap_err_with(|| format!("merging kubeconfig {}", path.display()))?,
            None => kc,
        });
    }
    merged.ok_or_else(|| {
        let tried: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eyre!("no kubeconfig found (tried {}); pass --kubeconfig or set KUBECONFIG", tried.join(", "))
    })
}

/// The kubeconfig user a context names.
fn user_of(kc: &Kubeconfig, context: &str) -> String {
    kc.contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone())
        .unwrap_or_default()
}

/// The server URL a context points at.
fn server_of(kc: &Kubeconfig, context: &str) -> String {
    let cluster =
        kc.contexts.iter().find(|c| c.name == context).and_then(|c| c.context.as_ref()).map(|c| c.cluster.clone());
    cluster
        .and_then(|name| kc.clusters.iter().find(|c| c.name == name))
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default()
}

/// What in a context's kubeconfig entries cannot work: a user or cluster it names that
/// the kubeconfig does not define (kube would go on as an anonymous user), or a file it
/// names that is not there. Paths are as the kubeconfig gives them (kube resolved the
/// relative ones against the file's directory when it read it).
fn unusable(kc: &Kubeconfig, context: &str) -> Option<String> {
    let entry = kc.contexts.iter().find(|c| c.name == context).and_then(|c| c.context.as_ref())?;
    let missing_file = |what: &str, path: &Option<String>| {
        path.as_deref()
            .filter(|p| !p.is_empty() && !Path::new(p).exists())
            .map(|p| format!("kubeconfig: the {what} {p} of context {context} does not exist"))
    };
    let Some(cluster) = kc.clusters.iter().find(|c| c.name == entry.cluster) else {
        return Some(format!("kubeconfig: context {context} names cluster {:?}, which is not defined", entry.cluster));
    };
    if let Some(c) = &cluster.cluster
        && let Some(problem) = missing_file("certificate-authority", &c.certificate_authority)
    {
        return Some(problem);
    }
    let user = entry.user.as_deref()?;
    let Some(auth) = kc.auth_infos.iter().find(|u| u.name == user) else {
        return Some(format!("kubeconfig: context {context} names user {user:?}, which is not defined"));
    };
    let auth = auth.auth_info.as_ref()?;
    missing_file("client-certificate", &auth.client_certificate)
        .or_else(|| missing_file("client-key", &auth.client_key))
        .or_else(|| missing_file("tokenFile", &auth.token_file))
}

/// The fleet's contexts: the hub first, then the spokes by name. An error when the hub
/// context does not exist.
pub async fn resolve(kc: &Kubeconfig, selection: &Selection) -> Result<Vec<ContextSpec>> {
    let names: Vec<String> = kc.contexts.iter().map(|c| c.name.clone()).collect();
    if !names.contains(&selection.hub) {
        return Err(eyre!(
            "the hub context {:?} is not in the kubeconfig (contexts: {}); set fleet.hub or --hub",
            selection.hub,
            names.join(", ")
        ));
    }
    let mut chosen: Vec<String> = names
        .into_iter()
        .filter(|n| *n != selection.hub)
        .filter(|n| selection.spokes.is_empty() || selection.spokes.iter().any(|g| glob_match(g, n)))
        .collect();
    chosen.sort();
    chosen.insert(0, selection.hub.clone());
    let mut specs = Vec::with_capacity(chosen.len());
    for name in chosen {
        let options = KubeConfigOptions { context: Some(name.clone()), ..KubeConfigOptions::default() };
        let config = match unusable(kc, &name) {
            Some(problem) => Err(problem),
            None => {
                kube::Config::from_custom_kubeconfig(kc.clone(), &options).await.map_err(|e| format!("kubeconfig: {e}"))
            }
        };
        specs.push(ContextSpec {
            server: server_of(kc, &name),
            user: user_of(kc, &name),
            is_hub: name == selection.hub,
            name,
            config,
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "apiVersion: v1\nkind: Config\ncurrent-context: hub\nclusters:\n- name: hub\n  cluster: {server: 'https://127.0.0.1:1'}\n- name: a\n  cluster: {server: 'https://127.0.0.1:2'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: hub\n  context: {cluster: hub, user: u}\n- name: staging-a\n  context: {cluster: a, user: u}\n";
    const TWO: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster: {server: 'https://127.0.0.1:3'}\nusers:\n- name: v\n  user: {token: t2}\ncontexts:\n- name: production-b\n  context: {cluster: b, user: v}\n- name: hub\n  context: {cluster: b, user: v}\n";

    #[tokio::test]
    async fn merges_files_hub_first_and_selects_spokes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        std::fs::write(&a, ONE).unwrap();
        std::fs::write(&b, TWO).unwrap();
        let first = Kubeconfig::read_from(&a).unwrap();
        let kc = first.merge(Kubeconfig::read_from(&b).unwrap()).unwrap();
        let all = resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["hub", "production-b", "staging-a"]);
        assert_eq!(all[0].server, "https://127.0.0.1:1", "the first file's hub wins, as kubectl merges");
        assert!(all[0].is_hub && all[0].config.is_ok());
        assert_eq!(all[0].user, "u");
        let some = resolve(&kc, &Selection { hub: "hub".into(), spokes: vec!["staging-*".into()] }).await.unwrap();
        assert_eq!(some.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["hub", "staging-a"]);
        let err = resolve(&kc, &Selection { hub: "nope".into(), spokes: vec![] }).await.unwrap_err();
        assert!(format!("{err}").contains("not in the kubeconfig"));
    }

    #[test]
    fn missing_files_are_an_error_only_when_named_explicitly() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.yaml");
        assert!(load(Some(&missing)).is_err());
    }
}
