//! Exec credential plugins (`users[].user.exec` in a kubeconfig), run by fleetdeck
//! itself rather than by kube: kube runs them synchronously, with no time limit, and
//! with the terminal's stdin and stderr, none of which a TUI watching a fleet can
//! afford. Here a plugin runs as a child process with no stdin, its stderr captured,
//! killed when it does not answer within `engine.exec_timeout` or when fleetdeck stops;
//! its own words are what the cluster's row says when it fails.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use kube::config::ExecConfig;
use secrecy::SecretString;
use serde::Deserialize;

use crate::fleet::failure::Failure;

/// What a plugin gave: a bearer token or a client certificate, until when.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: Option<String>,
    /// PEM certificate and key.
    pub certificate: Option<(String, String)>,
    pub expires: Option<Timestamp>,
}

impl Credential {
    /// The kubeconfig user with the plugin replaced by a client certificate it gave (a
    /// token goes in the client's renewable bearer instead).
    pub fn apply(&self, config: &mut kube::Config) {
        let user = &mut config.auth_info;
        user.exec = None;
        if let Some((cert, key)) = &self.certificate {
            user.client_certificate_data = Some(STANDARD.encode(cert));
            user.client_key_data = Some(SecretString::from(STANDARD.encode(key)));
        }
    }

    /// The renewable bearer of a token credential.
    pub fn bearer(&self) -> Option<super::client::Bearer> {
        let header = super::client::bearer_header(self.token.as_deref()?)?;
        Some(std::sync::Arc::new(std::sync::RwLock::new(header)))
    }

    /// When to run the plugin again: a minute before the credential expires (as kube
    /// and client-go do), or never when it does not.
    pub fn refresh_at(&self) -> Option<Timestamp> {
        self.expires.map(|at| at - jiff::SignedDuration::from_secs(60))
    }
}

#[derive(Deserialize)]
struct ExecCredential {
    status: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    token: Option<String>,
    client_certificate_data: Option<String>,
    client_key_data: Option<String>,
    expiration_timestamp: Option<String>,
}

/// The plugin's name as a user would type it (the command without its directory).
fn name(exec: &ExecConfig) -> String {
    let command = exec.command.as_deref().unwrap_or_default();
    std::path::Path::new(command).file_name().map_or(command.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// The first lines of what the plugin said, one line.
fn said(bytes: &[u8]) -> String {
    super::errors::one_line(&String::from_utf8_lossy(bytes), 300)
}

/// The client of a context whose credential, if its user has an exec plugin, comes from
/// one run of the plugin; and when that credential is due for renewal.
pub async fn client(
    mut config: kube::Config,
    connect_timeout: Duration,
    exec_timeout: Duration,
) -> Result<(kube::Client, Option<Timestamp>), (Failure, String)> {
    let credential = match config.auth_info.exec.clone() {
        Some(exec) => Some(run(&exec, exec_timeout).await?),
        None => None,
    };
    if let Some(c) = &credential {
        c.apply(&mut config);
    }
    let bearer = credential.as_ref().and_then(Credential::bearer);
    let client = super::client::build(config, connect_timeout, bearer)?.kube();
    Ok((client, credential.as_ref().and_then(Credential::refresh_at)))
}

/// Runs the plugin once: its credential, or why there is none in words for the row.
pub async fn run(exec: &ExecConfig, timeout: Duration) -> Result<Credential, (Failure, String)> {
    let plugin = name(exec);
    let Some(command) = exec.command.as_deref().filter(|c| !c.is_empty()) else {
        return Err((Failure::Config, "exec plugin: the kubeconfig user names no command".to_owned()));
    };
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(exec.args.iter().flatten());
    for var in exec.env.iter().flatten() {
        if let (Some(name), Some(value)) = (var.get("name"), var.get("value")) {
            cmd.env(name, value);
        }
    }
    let mut spec = serde_json::json!({"interactive": false});
    if exec.provide_cluster_info
        && let Some(cluster) = &exec.cluster
    {
        spec["cluster"] = serde_json::to_value(cluster).unwrap_or_default();
    }
    let info = serde_json::json!({
        "apiVersion": exec.api_version.as_deref().unwrap_or("client.authentication.k8s.io/v1"),
        "kind": "ExecCredential",
        "spec": spec,
    });
    cmd.env("KUBERNETES_EXEC_INFO", info.to_string());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| {
        let hint = exec.install_hint.as_deref().map(|h| format!(" ({})", h.trim())).unwrap_or_default();
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "not found".to_owned(),
            std::io::ErrorKind::PermissionDenied => "not executable".to_owned(),
            _ => e.to_string(),
        };
        (Failure::Unauthorized, format!("exec plugin {plugin}: {why}{hint}"))
    })?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            let secs = humantime::format_duration(timeout);
            return Err((Failure::Timeout, format!("exec plugin {plugin} did not answer in {secs}")));
        }
        Ok(Err(e)) => return Err((Failure::Unauthorized, format!("exec plugin {plugin}: {e}"))),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let code = match out.status.code() {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".to_owned(),
        };
        let words = said(&out.stderr);
        let words = if words.is_empty() { said(&out.stdout) } else { words };
        let tail = if words.is_empty() { String::new() } else { format!(": {words}") };
        return Err((Failure::Unauthorized, format!("exec plugin {plugin} failed ({code}){tail}")));
    }
    parse(&plugin, &out.stdout)
}

fn parse(plugin: &str, stdout: &[u8]) -> Result<Credential, (Failure, String)> {
    let bad = |why: String| (Failure::Unauthorized, format!("exec plugin {plugin} answered {why}"));
    // client-go decodes the answer with a YAML-tolerant codec; YAML reads JSON too.
    let credential: ExecCredential = serde_saphyr::from_slice(stdout)
        .map_err(|_| bad(format!("something that is not an ExecCredential: {}", said(stdout))))?;
    let status = credential.status.ok_or_else(|| bad("an ExecCredential without a status".to_owned()))?;
    let expires = match status.expiration_timestamp.as_deref() {
        None => None,
        Some(at) => Some(
            at.parse::<Timestamp>().map_err(|_| bad(format!("an expirationTimestamp {at:?} that is not a time")))?,
        ),
    };
    let certificate = match (status.client_certificate_data, status.client_key_data) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(bad("a client certificate without its key (or a key without its certificate)".to_owned())),
    };
    if status.token.is_none() && certificate.is_none() {
        return Err(bad("an ExecCredential with neither a token nor a client certificate".to_owned()));
    }
    Ok(Credential { token: status.token, certificate, expires })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(script: &str, dir: &std::path::Path) -> ExecConfig {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("corp-login");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        ExecConfig { command: Some(path.to_string_lossy().into_owned()), ..ExecConfig::default() }
    }

    #[tokio::test]
    async fn a_token_with_its_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let exec = plugin(
            r#"echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t0k","expirationTimestamp":"2030-01-01T00:00:00Z"}}'"#,
            dir.path(),
        );
        let credential = run(&exec, Duration::from_secs(5)).await.unwrap();
        assert_eq!(credential.token.as_deref(), Some("t0k"));
        assert_eq!(credential.refresh_at().unwrap().to_string(), "2029-12-31T23:59:00Z");
    }

    #[tokio::test]
    async fn a_failure_in_the_plugins_own_words() {
        let dir = tempfile::tempdir().unwrap();
        let exec = plugin("echo \"error: token expired, run 'corp-login --refresh'\" >&2; exit 1", dir.path());
        let (failure, message) = run(&exec, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(failure, Failure::Unauthorized);
        assert_eq!(message, "exec plugin corp-login failed (exit 1): error: token expired, run 'corp-login --refresh'");
    }

    #[tokio::test]
    async fn a_plugin_that_hangs_is_stopped_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let exec = plugin("sleep 60", dir.path());
        let started = std::time::Instant::now();
        let (failure, message) = run(&exec, Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "not waited for: {:?}", started.elapsed());
        assert_eq!(failure, Failure::Timeout);
        assert_eq!(message, "exec plugin corp-login did not answer in 300ms");
    }

    #[tokio::test]
    async fn missing_and_malformed_plugins_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ExecConfig {
            command: Some("/nonexistent/corp-login".into()),
            install_hint: Some("install corp-login from the intranet".into()),
            ..ExecConfig::default()
        };
        let (_, message) = run(&missing, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(message, "exec plugin corp-login: not found (install corp-login from the intranet)");
        let garbage = plugin("echo '<html>login</html>'", dir.path());
        let (_, message) = run(&garbage, Duration::from_secs(5)).await.unwrap_err();
        assert!(message.starts_with("exec plugin corp-login answered "), "{message}");
        let empty = plugin(r#"echo '{"kind":"ExecCredential","status":{}}'"#, dir.path());
        let (_, message) = run(&empty, Duration::from_secs(5)).await.unwrap_err();
        assert!(message.contains("neither a token nor a client certificate"), "{message}");
    }
}
