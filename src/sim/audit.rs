//! The API server audit log of a simulated cluster: one `audit.k8s.io/v1` Event per
//! request stage as a JSON line, in `DIR/<cluster>.log`, rotated by size like the API
//! server's `--audit-log-maxsize` (the rotated files are `<cluster>.log.1`, `.2`, ...).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use color_eyre::eyre::{Result, WrapErr};
use serde_json::{Value, json};

use super::auth::UserInfo;
use super::clock::micro_time;

/// How much of a request an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Metadata,
    RequestResponse,
}

/// One audit event (a request at one stage).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub level: Level,
    pub audit_id: String,
    pub stage: &'static str,
    pub request_uri: String,
    pub verb: String,
    pub user: UserInfo,
    pub impersonated: Option<UserInfo>,
    pub source_ip: String,
    pub user_agent: String,
    pub object_ref: Option<Value>,
    pub code: u16,
    pub status: Option<(String, String)>,
    pub request_object: Option<Value>,
    pub response_object: Option<Value>,
    pub received: jiff::Timestamp,
    pub annotations: Vec<(String, String)>,
}

impl AuditEvent {
    pub fn to_json(&self) -> Value {
        let mut e = json!({
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": match self.level { Level::Metadata => "Metadata", Level::RequestResponse => "RequestResponse" },
            "auditID": self.audit_id,
            "stage": self.stage,
            "requestURI": self.request_uri,
            "verb": self.verb,
            "user": self.user.to_json(),
            "sourceIPs": [self.source_ip],
            "userAgent": self.user_agent,
            "responseStatus": {"metadata": {}, "code": self.code},
            "requestReceivedTimestamp": micro_time(self.received),
            "stageTimestamp": micro_time(jiff::Timestamp::now()),
        });
        if let Some(imp) = &self.impersonated {
            e["impersonatedUser"] = imp.to_json();
        }
        if let Some(obj) = &self.object_ref {
            e["objectRef"] = obj.clone();
        }
        if let Some((reason, message)) = &self.status {
            e["responseStatus"]["status"] = json!("Failure");
            e["responseStatus"]["reason"] = json!(reason);
            e["responseStatus"]["message"] = json!(message);
        }
        if self.level == Level::RequestResponse {
            if let Some(o) = &self.request_object {
                e["requestObject"] = o.clone();
            }
            if let Some(o) = &self.response_object {
                e["responseObject"] = o.clone();
            }
        }
        if !self.annotations.is_empty() {
            e["annotations"] =
                self.annotations.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>().into();
        }
        e
    }
}

struct Sink {
    file: File,
    size: u64,
}

pub struct AuditLog {
    path: PathBuf,
    max_size: u64,
    keep: usize,
    sink: Mutex<Sink>,
}

impl AuditLog {
    /// Opens (appending to) `dir/<cluster>.log`, rotated past `max_size` bytes, keeping
    /// `keep` old files.
    pub fn open(dir: &Path, cluster: &str, max_size: u64, keep: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating the audit directory {}", dir.display()))?;
        let path = dir.join(format!("{cluster}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .wrap_err_with(|| format!("opening {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self { path, max_size, keep, sink: Mutex::new(Sink { file, size }) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotate(&self, sink: &mut Sink) -> std::io::Result<()> {
        for i in (1..self.keep).rev() {
            let from = PathBuf::from(format!("{}.{i}", self.path.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}.{}", self.path.display(), i + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, format!("{}.1", self.path.display()))?;
        }
        sink.file = OpenOptions::new().create(true).write(true).truncate(true).open(&self.path)?;
        sink.size = 0;
        Ok(())
    }

    /// Appends one event; a failing disk is logged, never fatal to the request.
    pub fn write(&self, event: &AuditEvent) {
        let mut line = event.to_json().to_string();
        line.push('\n');
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        if sink.size + line.len() as u64 > self.max_size
            && sink.size > 0
            && let Err(e) = self.rotate(&mut sink)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "audit log rotation failed");
        }
        match sink.file.write_all(line.as_bytes()) {
            Ok(()) => sink.size += line.len() as u64,
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "audit log write failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(uri: &str) -> AuditEvent {
        AuditEvent {
            level: Level::Metadata,
            audit_id: "id".into(),
            stage: "ResponseComplete",
            request_uri: uri.into(),
            verb: "get".into(),
            user: UserInfo::new("admin", &["system:masters"]),
            impersonated: None,
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            object_ref: Some(json!({"resource": "nodes", "name": "n1", "apiVersion": "v1"})),
            code: 200,
            status: None,
            request_object: Some(json!({"secret": true})),
            response_object: None,
            received: jiff::Timestamp::now(),
            annotations: vec![("authorization.k8s.io/decision".into(), "allow".into())],
        }
    }

    #[test]
    fn events_are_json_lines_and_rotate_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), "hub", 600, 2).unwrap();
        for i in 0..10 {
            log.write(&event(&format!("/api/v1/nodes/n{i}")));
        }
        let current = std::fs::read_to_string(log.path()).unwrap();
        let first: Value = serde_json::from_str(current.lines().next().unwrap()).unwrap();
        assert_eq!(first["apiVersion"], "audit.k8s.io/v1");
        assert_eq!(first["level"], "Metadata");
        assert!(first.get("requestObject").is_none(), "Metadata level has no bodies");
        assert!(dir.path().join("hub.log.1").exists());
        assert!(dir.path().join("hub.log.2").exists());
        assert!(!dir.path().join("hub.log.3").exists());
    }
}
