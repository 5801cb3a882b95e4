//! Who is asking and what they may do: authentication (bearer tokens, client
//! certificates) and an RBAC authorizer over the cluster's own ClusterRoles and
//! ClusterRoleBindings, so roles are data a client can read and change, as in Kubernetes.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::{Value, json};

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn new(username: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_owned());
        }
        Self { username: username.to_owned(), uid: String::new(), groups }
    }

    pub fn anonymous() -> Self {
        Self {
            username: "system:anonymous".to_owned(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".to_owned()],
        }
    }

    pub fn service_account(namespace: &str, name: &str, uid: &str) -> Self {
        Self {
            username: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_owned(),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".to_owned(),
            ],
        }
    }

    /// The simulator's own controllers (Flux, Velero, the token controller, ...).
    pub fn system(component: &str) -> Self {
        Self::new(&format!("system:serviceaccount:kube-system:{component}"), &["system:masters"])
    }

    pub fn to_json(&self) -> Value {
        json!({"username": self.username, "uid": self.uid, "groups": self.groups})
    }
}

/// A bearer token the cluster accepts, with an optional expiry (TokenRequest tokens).
#[derive(Debug, Clone)]
pub struct TokenEntry {
    pub user: UserInfo,
    pub expires: Option<SystemTime>,
    /// The Secret that holds it, for service-account token Secrets (removed with it).
    pub secret: Option<(String, String)>,
}

/// The tokens and client certificates a cluster knows.
#[derive(Debug, Default)]
pub struct Authenticator {
    tokens: HashMap<String, TokenEntry>,
    /// SHA-256 of issued client certificates (DER) to their users.
    certificates: HashMap<[u8; 32], UserInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnError {
    /// A credential was presented and is not valid (401).
    Invalid,
}

impl Authenticator {
    pub fn add_token(&mut self, token: &str, entry: TokenEntry) {
        self.tokens.insert(token.to_owned(), entry);
    }

    pub fn remove_secret_tokens(&mut self, namespace: &str, name: &str) {
        self.tokens.retain(|_, e| e.secret.as_ref().is_none_or(|(ns, n)| ns != namespace || n != name));
    }

    pub fn has_secret_token(&self, namespace: &str, name: &str) -> bool {
        self.tokens.values().any(|e| e.secret.as_ref().is_some_and(|(ns, n)| ns == namespace && n == name))
    }

    pub fn add_certificate(&mut self, fingerprint: [u8; 32], user: UserInfo) {
        self.certificates.insert(fingerprint, user);
    }

    /// Authenticates a request from its `Authorization` header and client certificate.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        certificate: Option<[u8; 32]>,
        now: SystemTime,
    ) -> Result<UserInfo, AuthnError> {
        if let Some(header) = authorization {
            let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim);
            return match token.and_then(|t| self.tokens.get(t)) {
                Some(entry) if entry.expires.is_none_or(|e| e > now) => Ok(entry.user.clone()),
                _ => Err(AuthnError::Invalid),
            };
        }
        if let Some(fp) = certificate {
            return self.certificates.get(&fp).cloned().ok_or(AuthnError::Invalid);
        }
        Ok(UserInfo::anonymous())
    }
}

/// What a request wants to do, in the authorizer's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    pub namespace: String,
    pub path: String,
}

impl Attributes {
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        Self {
            verb: verb.to_owned(),
            resource_request: true,
            api_group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ..Self::default()
        }
    }

    pub fn non_resource(verb: &str, path: &str) -> Self {
        Self { verb: verb.to_owned(), path: path.to_owned(), ..Self::default() }
    }

    /// "resource" or "resource/subresource", as RBAC rules name it.
    pub fn qualified_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Rule {
    verbs: Vec<String>,
    api_groups: Vec<String>,
    resources: Vec<String>,
    resource_names: Vec<String>,
    non_resource_urls: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == "*" || x == item)
}

impl Rule {
    fn parse(v: &Value) -> Self {
        Self {
            verbs: strings(v.get("verbs")),
            api_groups: strings(v.get("apiGroups")),
            resources: strings(v.get("resources")),
            resource_names: strings(v.get("resourceNames")),
            non_resource_urls: strings(v.get("nonResourceURLs")),
        }
    }

    fn allows(&self, a: &Attributes) -> bool {
        if !has(&self.verbs, &a.verb) {
            return false;
        }
        if !a.resource_request {
            return self
                .non_resource_urls
                .iter()
                .any(|u| u == "*" || *u == a.path || u.strip_suffix('*').is_some_and(|p| a.path.starts_with(p)));
        }
        let qualified = a.qualified_resource();
        let resource_ok = self.resources.iter().any(|r| {
            r == "*"
                || *r == qualified
                || (a.subresource.is_empty() && *r == a.resource)
                || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource))
                || (!a.subresource.is_empty() && *r == format!("{}/*", a.resource))
        });
        has(&self.api_groups, &a.api_group)
            && resource_ok
            && (self.resource_names.is_empty() || (!a.name.is_empty() && self.resource_names.contains(&a.name)))
    }

    fn to_resource_rule(&self) -> Value {
        json!({"verbs": self.verbs, "apiGroups": self.api_groups, "resources": self.resources, "resourceNames": self.resource_names})
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

impl Subject {
    fn matches(&self, user: &UserInfo) -> bool {
        match self.kind.as_str() {
            "User" => self.name == user.username,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => user.username == format!("system:serviceaccount:{}:{}", self.namespace, self.name),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Binding {
    name: String,
    role: String,
    subjects: Vec<Subject>,
    rules: Vec<Rule>,
}

/// ClusterRoleBindings joined to their ClusterRoles, rebuilt when either changes.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    bindings: Vec<Binding>,
}

/// An authorization decision with the reason the API server would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

impl Rbac {
    pub fn compile<'a>(roles: impl IntoIterator<Item = Value>, bindings: impl IntoIterator<Item = &'a Value>) -> Self {
        let roles: HashMap<String, Vec<Rule>> = roles
            .into_iter()
            .filter_map(|r| {
                let name = r.pointer("/metadata/name")?.as_str()?.to_owned();
                let rules = r
                    .get("rules")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(Rule::parse).collect())
                    .unwrap_or_default();
                Some((name, rules))
            })
            .collect();
        let bindings = bindings
            .into_iter()
            .filter_map(|b| {
                let role = b.pointer("/roleRef/name")?.as_str()?.to_owned();
                if b.pointer("/roleRef/kind").and_then(Value::as_str) != Some("ClusterRole") {
                    return None;
                }
                let subjects = b
                    .get("subjects")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|s| Subject {
                                kind: s.get("kind").and_then(Value::as_str).unwrap_or_default().to_owned(),
                                name: s.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                                namespace: s.get("namespace").and_then(Value::as_str).unwrap_or_default().to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(Binding {
                    name: b.pointer("/metadata/name")?.as_str()?.to_owned(),
                    rules: roles.get(&role).cloned().unwrap_or_default(),
                    role,
                    subjects,
                })
            })
            .collect();
        Self { bindings }
    }

    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == "system:masters") {
            return Decision { allowed: true, reason: String::new() };
        }
        for binding in &self.bindings {
            let Some(subject) = binding.subjects.iter().find(|s| s.matches(user)) else { continue };
            if binding.rules.iter().any(|r| r.allows(attrs)) {
                return Decision {
                    allowed: true,
                    reason: format!(
                        "RBAC: allowed by ClusterRoleBinding \"{}\" of ClusterRole \"{}\" to {} \"{}\"",
                        binding.name, binding.role, subject.kind, subject.name
                    ),
                };
            }
        }
        Decision { allowed: false, reason: String::new() }
    }

    /// The rules that apply to a user (SelfSubjectRulesReview).
    pub fn rules_for(&self, user: &UserInfo) -> (Vec<Value>, Vec<Value>) {
        if user.groups.iter().any(|g| g == "system:masters") {
            return (
                vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
                vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
            );
        }
        let mut resource_rules = Vec::new();
        let mut non_resource_rules = Vec::new();
        for binding in self.bindings.iter().filter(|b| b.subjects.iter().any(|s| s.matches(user))) {
            for rule in &binding.rules {
                if !rule.resources.is_empty() {
                    resource_rules.push(rule.to_resource_rule());
                }
                if !rule.non_resource_urls.is_empty() {
                    non_resource_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
                }
            }
        }
        (resource_rules, non_resource_rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rbac() -> Rbac {
        let roles = vec![
            json!({"metadata": {"name": "view"}, "rules": [
                {"apiGroups": ["", "apps"], "resources": ["nodes", "deployments", "deployments/status"], "verbs": ["get", "list", "watch"]},
            ]}),
            json!({"metadata": {"name": "secret-reader"}, "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["cluster-kubeconfig"], "verbs": ["get"]},
            ]}),
            json!({"metadata": {"name": "discovery"}, "rules": [{"nonResourceURLs": ["/api", "/api/*"], "verbs": ["get"]}]}),
        ];
        let bindings = [
            json!({"metadata": {"name": "viewers"}, "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "Group", "name": "viewers"}]}),
            json!({"metadata": {"name": "sa"}, "roleRef": {"kind": "ClusterRole", "name": "secret-reader"}, "subjects": [{"kind": "ServiceAccount", "name": "hub", "namespace": "fleet"}]}),
            json!({"metadata": {"name": "disc"}, "roleRef": {"kind": "ClusterRole", "name": "discovery"}, "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
        ];
        Rbac::compile(roles, bindings.iter())
    }

    #[test]
    fn rbac_follows_rules_subjects_and_names() {
        let rbac = rbac();
        let viewer = UserInfo::new("alice", &["viewers"]);
        let list_nodes = Attributes::resource("list", "", "nodes", "", "");
        let decision = rbac.authorize(&viewer, &list_nodes);
        assert!(decision.allowed);
        assert!(decision.reason.contains("ClusterRoleBinding \"viewers\""));
        assert!(!rbac.authorize(&viewer, &Attributes::resource("delete", "", "nodes", "", "n1")).allowed);
        let mut status = Attributes::resource("get", "apps", "deployments", "ns", "d");
        status.subresource = "status".into();
        assert!(rbac.authorize(&viewer, &status).allowed);
        let mut scale = status.clone();
        scale.subresource = "scale".into();
        assert!(!rbac.authorize(&viewer, &scale).allowed);

        let sa = UserInfo::service_account("fleet", "hub", "u1");
        assert!(rbac.authorize(&sa, &Attributes::resource("get", "", "secrets", "x", "cluster-kubeconfig")).allowed);
        assert!(!rbac.authorize(&sa, &Attributes::resource("get", "", "secrets", "x", "other")).allowed);
        assert!(!rbac.authorize(&sa, &Attributes::resource("list", "", "secrets", "x", "")).allowed);

        assert!(rbac.authorize(&sa, &Attributes::non_resource("get", "/api/v1")).allowed);
        assert!(!rbac.authorize(&sa, &Attributes::non_resource("get", "/apis")).allowed);
        assert!(
            rbac.authorize(
                &UserInfo::new("root", &["system:masters"]),
                &Attributes::resource("delete", "x", "y", "", "")
            )
            .allowed
        );
    }

    #[test]
    fn tokens_expire_and_unknown_ones_are_rejected() {
        let mut authn = Authenticator::default();
        let now = SystemTime::now();
        authn.add_token("good", TokenEntry { user: UserInfo::new("a", &[]), expires: None, secret: None });
        authn.add_token(
            "old",
            TokenEntry {
                user: UserInfo::new("b", &[]),
                expires: Some(now - std::time::Duration::from_secs(1)),
                secret: None,
            },
        );
        assert_eq!(authn.authenticate(Some("Bearer good"), None, now).unwrap().username, "a");
        assert_eq!(authn.authenticate(Some("Bearer old"), None, now), Err(AuthnError::Invalid));
        assert_eq!(authn.authenticate(Some("Bearer nope"), None, now), Err(AuthnError::Invalid));
        assert_eq!(authn.authenticate(None, None, now).unwrap().username, "system:anonymous");
    }
}
