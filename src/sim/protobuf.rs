//! Kubernetes' protobuf request bodies, decoded to JSON.
//!
//! client-go's typed clientsets send built-in kinds as `application/vnd.kubernetes.protobuf`
//! (`kubectl auth can-i`, `kubectl create configmap|secret|namespace|token|...`), and a
//! real API server accepts them. The messages below are the ones those commands send,
//! with the field numbers of Kubernetes' `generated.proto`; fields not listed are skipped.
//! Responses are always JSON, which every client accepts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::clock::rfc3339;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Msg(&'static str),
    MapStr,
    MapBytes,
    MapQuantity,
    Time,
    IntOrString,
    FieldsV1,
}

/// (field number, JSON name, kind, repeated)
type Field = (u32, &'static str, Kind, bool);

use Kind::*;

fn schema(message: &str) -> Option<&'static [Field]> {
    Some(match message {
        "ObjectMeta" => &[
            (1, "name", Str, false),
            (2, "generateName", Str, false),
            (3, "namespace", Str, false),
            (5, "uid", Str, false),
            (6, "resourceVersion", Str, false),
            (7, "generation", Int, false),
            (8, "creationTimestamp", Time, false),
            (9, "deletionTimestamp", Time, false),
            (10, "deletionGracePeriodSeconds", Int, false),
            (11, "labels", MapStr, false),
            (12, "annotations", MapStr, false),
            (13, "ownerReferences", Msg("OwnerReference"), true),
            (14, "finalizers", Str, true),
            (17, "managedFields", Msg("ManagedFieldsEntry"), true),
        ],
        "OwnerReference" => &[
            (1, "kind", Str, false),
            (3, "name", Str, false),
            (4, "uid", Str, false),
            (5, "apiVersion", Str, false),
            (6, "controller", Bool, false),
            (7, "blockOwnerDeletion", Bool, false),
        ],
        "ManagedFieldsEntry" => &[
            (1, "manager", Str, false),
            (2, "operation", Str, false),
            (3, "apiVersion", Str, false),
            (4, "time", Time, false),
            (6, "fieldsType", Str, false),
            (7, "fieldsV1", FieldsV1, false),
            (8, "subresource", Str, false),
        ],
        "ConfigMap" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "data", MapStr, false),
            (3, "binaryData", MapBytes, false),
            (4, "immutable", Bool, false),
        ],
        "Secret" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "data", MapBytes, false),
            (3, "type", Str, false),
            (4, "stringData", MapStr, false),
            (5, "immutable", Bool, false),
        ],
        "Namespace" => &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("NamespaceSpec"), false)],
        "NamespaceSpec" => &[(1, "finalizers", Str, true)],
        "ServiceAccount" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "secrets", Msg("ObjectReference"), true),
            (3, "imagePullSecrets", Msg("LocalObjectReference"), true),
            (4, "automountServiceAccountToken", Bool, false),
        ],
        "ObjectReference" => &[
            (1, "kind", Str, false),
            (2, "namespace", Str, false),
            (3, "name", Str, false),
            (4, "uid", Str, false),
            (5, "apiVersion", Str, false),
            (6, "resourceVersion", Str, false),
            (7, "fieldPath", Str, false),
        ],
        "LocalObjectReference" => &[(1, "name", Str, false)],
        "ClusterRole" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "rules", Msg("PolicyRule"), true),
            (3, "aggregationRule", Msg("AggregationRule"), false),
        ],
        "PolicyRule" => &[
            (1, "verbs", Str, true),
            (2, "apiGroups", Str, true),
            (3, "resources", Str, true),
            (4, "resourceNames", Str, true),
            (5, "nonResourceURLs", Str, true),
        ],
        "AggregationRule" => &[(1, "clusterRoleSelectors", Msg("LabelSelector"), true)],
        "LabelSelector" => {
            &[(1, "matchLabels", MapStr, false), (2, "matchExpressions", Msg("LabelSelectorRequirement"), true)]
        }
        "LabelSelectorRequirement" => &[(1, "key", Str, false), (2, "operator", Str, false), (3, "values", Str, true)],
        "ClusterRoleBinding" => &[
            (1, "metadata", Msg("ObjectMeta"), false),
            (2, "subjects", Msg("Subject"), true),
            (3, "roleRef", Msg("RoleRef"), false),
        ],
        "Subject" => &[
            (1, "kind", Str, false),
            (2, "apiGroup", Str, false),
            (3, "name", Str, false),
            (4, "namespace", Str, false),
        ],
        "RoleRef" => &[(1, "apiGroup", Str, false), (2, "kind", Str, false), (3, "name", Str, false)],
        "Deployment" => &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("DeploymentSpec"), false)],
        "DeploymentSpec" => &[
            (1, "replicas", Int, false),
            (2, "selector", Msg("LabelSelector"), false),
            (3, "template", Msg("PodTemplateSpec"), false),
            (4, "strategy", Msg("DeploymentStrategy"), false),
            (5, "minReadySeconds", Int, false),
            (6, "revisionHistoryLimit", Int, false),
            (7, "paused", Bool, false),
            (9, "progressDeadlineSeconds", Int, false),
        ],
        "DeploymentStrategy" => &[(1, "type", Str, false), (2, "rollingUpdate", Msg("RollingUpdateDeployment"), false)],
        "RollingUpdateDeployment" => &[(1, "maxUnavailable", IntOrString, false), (2, "maxSurge", IntOrString, false)],
        "PodTemplateSpec" => &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("PodSpec"), false)],
        "Pod" => &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("PodSpec"), false)],
        "PodSpec" => &[
            (2, "containers", Msg("Container"), true),
            (3, "restartPolicy", Str, false),
            (4, "terminationGracePeriodSeconds", Int, false),
            (6, "dnsPolicy", Str, false),
            (7, "nodeSelector", MapStr, false),
            (8, "serviceAccountName", Str, false),
            (10, "nodeName", Str, false),
            (11, "hostNetwork", Bool, false),
            (12, "hostPID", Bool, false),
            (13, "hostIPC", Bool, false),
            (15, "imagePullSecrets", Msg("LocalObjectReference"), true),
            (19, "schedulerName", Str, false),
            (20, "initContainers", Msg("Container"), true),
        ],
        "Container" => &[
            (1, "name", Str, false),
            (2, "image", Str, false),
            (3, "command", Str, true),
            (4, "args", Str, true),
            (5, "workingDir", Str, false),
            (6, "ports", Msg("ContainerPort"), true),
            (7, "env", Msg("EnvVar"), true),
            (8, "resources", Msg("ResourceRequirements"), false),
            (13, "terminationMessagePath", Str, false),
            (14, "imagePullPolicy", Str, false),
            (15, "securityContext", Msg("SecurityContext"), false),
            (16, "stdin", Bool, false),
            (17, "stdinOnce", Bool, false),
            (18, "tty", Bool, false),
            (20, "terminationMessagePolicy", Str, false),
        ],
        "ContainerPort" => &[
            (1, "name", Str, false),
            (2, "hostPort", Int, false),
            (3, "containerPort", Int, false),
            (4, "protocol", Str, false),
            (5, "hostIP", Str, false),
        ],
        "EnvVar" => &[(1, "name", Str, false), (2, "value", Str, false)],
        "ResourceRequirements" => &[(1, "limits", MapQuantity, false), (2, "requests", MapQuantity, false)],
        "SecurityContext" => &[
            (2, "privileged", Bool, false),
            (4, "runAsUser", Int, false),
            (5, "runAsNonRoot", Bool, false),
            (6, "readOnlyRootFilesystem", Bool, false),
            (7, "allowPrivilegeEscalation", Bool, false),
            (8, "runAsGroup", Int, false),
        ],
        "SelfSubjectAccessReview" => {
            &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("SelfSubjectAccessReviewSpec"), false)]
        }
        "SelfSubjectAccessReviewSpec" => &[
            (1, "resourceAttributes", Msg("ResourceAttributes"), false),
            (2, "nonResourceAttributes", Msg("NonResourceAttributes"), false),
        ],
        "ResourceAttributes" => &[
            (1, "namespace", Str, false),
            (2, "verb", Str, false),
            (3, "group", Str, false),
            (4, "version", Str, false),
            (5, "resource", Str, false),
            (6, "subresource", Str, false),
            (7, "name", Str, false),
        ],
        "NonResourceAttributes" => &[(1, "path", Str, false), (2, "verb", Str, false)],
        "SelfSubjectRulesReview" => {
            &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("SelfSubjectRulesReviewSpec"), false)]
        }
        "SelfSubjectRulesReviewSpec" => &[(1, "namespace", Str, false)],
        "SelfSubjectReview" => &[(1, "metadata", Msg("ObjectMeta"), false)],
        "TokenRequest" => &[(1, "metadata", Msg("ObjectMeta"), false), (2, "spec", Msg("TokenRequestSpec"), false)],
        "TokenRequestSpec" => &[
            (1, "audiences", Str, true),
            (3, "boundObjectRef", Msg("BoundObjectReference"), false),
            (4, "expirationSeconds", Int, false),
        ],
        "BoundObjectReference" => {
            &[(1, "kind", Str, false), (2, "apiVersion", Str, false), (3, "name", Str, false), (4, "uid", Str, false)]
        }
        "DeleteOptions" => &[
            (1, "gracePeriodSeconds", Int, false),
            (2, "preconditions", Msg("Preconditions"), false),
            (3, "orphanDependents", Bool, false),
            (4, "propagationPolicy", Str, false),
            (5, "dryRun", Str, true),
        ],
        "Preconditions" => &[(1, "uid", Str, false), (2, "resourceVersion", Str, false)],
        "Quantity" => &[(1, "string", Str, false)],
        _ => return None,
    })
}

/// A protobuf body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

type Result<T> = std::result::Result<T, DecodeError>;

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first().ok_or_else(|| DecodeError("truncated varint".into()))?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError("varint too long".into()))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError("length too large".into()))?;
        if len > self.buf.len() {
            return Err(DecodeError("truncated length-delimited field".into()));
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn skip(&mut self, wire: u64) -> Result<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            other => Err(DecodeError(format!("unsupported wire type {other}"))),
        }
    }

    fn advance(&mut self, n: usize) -> Result<()> {
        if n > self.buf.len() {
            return Err(DecodeError("truncated fixed field".into()));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }

    /// Each field as (number, wire type, payload reader value).
    fn fields(mut self) -> Result<Vec<(u32, u64, Payload<'a>)>> {
        let mut out = Vec::new();
        while !self.buf.is_empty() {
            let key = self.varint()?;
            let (number, wire) = ((key >> 3) as u32, key & 7);
            let payload = match wire {
                0 => Payload::Varint(self.varint()?),
                2 => Payload::Bytes(self.bytes()?),
                _ => {
                    self.skip(wire)?;
                    continue;
                }
            };
            out.push((number, wire, payload));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy)]
enum Payload<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn text(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("a string field is not UTF-8".into()))
}

fn map_entry(bytes: &[u8]) -> Result<(String, Option<&[u8]>)> {
    let mut key = String::new();
    let mut value = None;
    for (n, _, p) in (Reader { buf: bytes }).fields()? {
        match (n, p) {
            (1, Payload::Bytes(b)) => key = text(b)?,
            (2, Payload::Bytes(b)) => value = Some(b),
            _ => {}
        }
    }
    Ok((key, value))
}

fn decode_value(kind: Kind, payload: Payload<'_>) -> Result<Value> {
    Ok(match (kind, payload) {
        (Str, Payload::Bytes(b)) => json!(text(b)?),
        (Bool, Payload::Varint(v)) => json!(v != 0),
        (Int, Payload::Varint(v)) => json!(v as i64),
        (Msg(name), Payload::Bytes(b)) => decode_message(name, b)?,
        (Time, Payload::Bytes(b)) => {
            let mut seconds = 0i64;
            for (n, _, p) in (Reader { buf: b }).fields()? {
                if let (1, Payload::Varint(v)) = (n, p) {
                    seconds = v as i64;
                }
            }
            jiff::Timestamp::from_second(seconds).map(|t| json!(rfc3339(t))).unwrap_or(Value::Null)
        }
        (IntOrString, Payload::Bytes(b)) => {
            let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
            for (n, _, p) in (Reader { buf: b }).fields()? {
                match (n, p) {
                    (1, Payload::Varint(v)) => is_string = v == 1,
                    (2, Payload::Varint(v)) => int = v as i64,
                    (3, Payload::Bytes(s)) => string = text(s)?,
                    _ => {}
                }
            }
            if is_string { json!(string) } else { json!(int) }
        }
        (FieldsV1, Payload::Bytes(b)) => {
            let raw = (Reader { buf: b }).fields()?.into_iter().find_map(|(n, _, p)| match (n, p) {
                (1, Payload::Bytes(r)) => Some(r),
                _ => None,
            });
            raw.and_then(|r| serde_json::from_slice(r).ok()).unwrap_or_else(|| json!({}))
        }
        (k, p) => return Err(DecodeError(format!("field of kind {k:?} has the wrong wire type ({p:?})"))),
    })
}

fn decode_message(name: &str, bytes: &[u8]) -> Result<Value> {
    let fields = schema(name).ok_or_else(|| DecodeError(format!("no protobuf schema for {name}")))?;
    let mut out = Map::new();
    for (number, _, payload) in (Reader { buf: bytes }).fields()? {
        let Some(&(_, json_name, kind, repeated)) = fields.iter().find(|f| f.0 == number) else { continue };
        match kind {
            MapStr | MapBytes | MapQuantity => {
                let Payload::Bytes(entry) = payload else {
                    return Err(DecodeError(format!("{json_name}: map entry is not a message")));
                };
                let (key, value) = map_entry(entry)?;
                let value = match (kind, value) {
                    (MapStr, Some(v)) => json!(text(v)?),
                    (MapBytes, Some(v)) => json!(STANDARD.encode(v)),
                    (MapQuantity, Some(v)) => {
                        decode_message("Quantity", v)?.get("string").cloned().unwrap_or(json!("0"))
                    }
                    (_, None) => json!(""),
                    _ => Value::Null,
                };
                let map = out.entry(json_name).or_insert_with(|| json!({}));
                if let Some(m) = map.as_object_mut() {
                    m.insert(key, value);
                }
            }
            _ if repeated => {
                let value = decode_value(kind, payload)?;
                if let Some(list) = out.entry(json_name).or_insert_with(|| json!([])).as_array_mut() {
                    list.push(value);
                }
            }
            _ => {
                out.insert(json_name.to_owned(), decode_value(kind, payload)?);
            }
        }
    }
    Ok(Value::Object(out))
}

/// The protobuf magic prefix of Kubernetes' envelope.
const MAGIC: &[u8] = b"k8s\x00";

/// Decodes a `application/vnd.kubernetes.protobuf` body (envelope and message) to JSON.
pub fn decode(body: &[u8]) -> Result<Value> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| DecodeError("missing the k8s protobuf prefix".into()))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, _, p) in (Reader { buf: envelope }).fields()? {
        match (n, p) {
            (1, Payload::Bytes(type_meta)) => {
                for (m, _, q) in (Reader { buf: type_meta }).fields()? {
                    match (m, q) {
                        (1, Payload::Bytes(b)) => api_version = text(b)?,
                        (2, Payload::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Payload::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if kind.is_empty() {
        return Err(DecodeError("the envelope names no kind".into()));
    }
    let mut object = decode_message(&kind, raw)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(n: u32, data: &[u8], out: &mut Vec<u8>) {
        varint(u64::from(n << 3 | 2), out);
        varint(data.len() as u64, out);
        out.extend_from_slice(data);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = Vec::new();
        bytes_field(1, api_version.as_bytes(), &mut type_meta);
        bytes_field(2, kind.as_bytes(), &mut type_meta);
        let mut out = MAGIC.to_vec();
        bytes_field(1, &type_meta, &mut out);
        bytes_field(2, raw, &mut out);
        out
    }

    #[test]
    fn decodes_an_access_review() {
        let mut attrs = Vec::new();
        bytes_field(2, b"create", &mut attrs);
        bytes_field(5, b"configmaps", &mut attrs);
        bytes_field(1, b"default", &mut attrs);
        let mut spec = Vec::new();
        bytes_field(1, &attrs, &mut spec);
        let mut review = Vec::new();
        bytes_field(2, &spec, &mut review);
        let v = decode(&envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", &review)).unwrap();
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"verb": "create", "resource": "configmaps", "namespace": "default"})
        );
    }

    #[test]
    fn decodes_maps_bytes_and_metadata() {
        let mut meta = Vec::new();
        bytes_field(1, b"demo", &mut meta);
        let mut label = Vec::new();
        bytes_field(1, b"app", &mut label);
        bytes_field(2, b"web", &mut label);
        bytes_field(11, &label, &mut meta);
        let mut entry = Vec::new();
        bytes_field(1, b"key", &mut entry);
        bytes_field(2, &[0xff, 0x00], &mut entry);
        let mut secret = Vec::new();
        bytes_field(1, &meta, &mut secret);
        bytes_field(2, &entry, &mut secret);
        bytes_field(3, b"Opaque", &mut secret);
        let v = decode(&envelope("v1", "Secret", &secret)).unwrap();
        assert_eq!(v["metadata"], json!({"name": "demo", "labels": {"app": "web"}}));
        assert_eq!(v["data"]["key"], json!("/wA="));
        assert_eq!(v["type"], "Opaque");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not protobuf").is_err());
        assert!(decode(b"k8s\x00\x0a\xff\xff\xff").is_err());
        assert!(decode(&envelope("v1", "Unheard", b"")).is_err());
        for len in 0..40 {
            let junk: Vec<u8> = MAGIC.iter().copied().chain((0..len).map(|i| (i * 37 + 11) as u8)).collect();
            let _ = decode(&junk);
        }
    }
}
