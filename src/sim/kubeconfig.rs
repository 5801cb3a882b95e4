//! The kubeconfig of a simulated fleet: one context per cluster (the hub's named `hub`),
//! an admin user per cluster (a client certificate for the hub, bearer tokens for the
//! others, so both kinds of credentials are exercised), and a read-only user per cluster.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// How a user authenticates.
#[derive(Debug, Clone)]
pub enum Credential {
    Token(String),
    Certificate { cert_pem: String, key_pem: String },
}

impl Credential {
    fn user_entry(&self) -> Value {
        match self {
            Credential::Token(token) => json!({"token": token}),
            Credential::Certificate { cert_pem, key_pem } => json!({
                "client-certificate-data": STANDARD.encode(cert_pem),
                "client-key-data": STANDARD.encode(key_pem),
            }),
        }
    }
}

/// One cluster's entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub server: String,
    pub ca_pem: String,
    pub admin: Credential,
    pub viewer: Credential,
}

/// Which user the contexts use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Admin,
    ReadOnly,
}

/// The kubeconfig document; the contexts use `access`'s user, and both users are listed.
pub fn document(entries: &[Entry], access: Access, current: &str) -> Value {
    let mut clusters = Vec::new();
    let mut users = Vec::new();
    let mut contexts = Vec::new();
    for e in entries {
        clusters.push(json!({"name": e.name, "cluster": {"server": e.server, "certificate-authority-data": STANDARD.encode(&e.ca_pem)}}));
        users.push(json!({"name": format!("{}-admin", e.name), "user": e.admin.user_entry()}));
        users.push(json!({"name": format!("{}-readonly", e.name), "user": e.viewer.user_entry()}));
        let user = match access {
            Access::Admin => format!("{}-admin", e.name),
            Access::ReadOnly => format!("{}-readonly", e.name),
        };
        contexts.push(json!({"name": e.name, "context": {"cluster": e.name, "user": user}}));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": current,
    })
}

pub fn to_yaml(doc: &Value) -> String {
    serde_saphyr::to_string(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_use_the_chosen_user_and_parse_with_kube() {
        let entries = vec![Entry {
            name: "hub".into(),
            server: "https://127.0.0.1:1234".into(),
            ca_pem: "PEM".into(),
            admin: Credential::Token("admin-token".into()),
            viewer: Credential::Token("view-token".into()),
        }];
        let doc = document(&entries, Access::ReadOnly, "hub");
        assert_eq!(doc["contexts"][0]["context"]["user"], "hub-readonly");
        let yaml = to_yaml(&doc);
        let parsed = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some("hub"));
        assert_eq!(parsed.auth_infos.len(), 2);
    }
}
