//! The object store of one simulated cluster: what etcd and the watch cache are to a real
//! API server.
//!
//! Objects are kept serialized (`Bytes` of JSON) with their labels parsed beside them:
//! reads, lists and watch frames copy bytes instead of walking trees, and a thousand
//! clusters fit in memory. Every write takes the next resourceVersion of the cluster and
//! is appended to a bounded history, from which watches resume; a watch from a version
//! older than the history answers 410 Gone, like a compacted etcd.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

use super::resource::GroupResource;

/// Namespace ("" for cluster-scoped) and name.
pub type ObjectKey = (String, String);

/// One stored version of an object.
#[derive(Debug)]
pub struct StoredObject {
    /// The whole object as JSON, `metadata.resourceVersion` included.
    pub json: Bytes,
    pub rv: u64,
    pub labels: BTreeMap<String, String>,
}

impl StoredObject {
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One write, as watches see it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: ChangeKind,
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
    /// The object after the change (for deletes: the last state, at the delete's version).
    pub object: Arc<StoredObject>,
    /// The object before the change, so selector-filtered watches can tell when an
    /// object starts or stops matching.
    pub previous: Option<Arc<StoredObject>>,
    pub at: Instant,
}

/// The asked version is older than the history kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub oldest: u64,
}

pub struct Store {
    rv: u64,
    collections: HashMap<GroupResource, BTreeMap<ObjectKey, Arc<StoredObject>>>,
    history: VecDeque<Arc<Change>>,
    /// Watches from a version >= floor can be served from the history.
    floor: u64,
    history_cap: usize,
    history_ttl: Duration,
    notify: watch::Sender<u64>,
}

/// Serializes an object into exactly-sized bytes (a growing Vec keeps up to twice the
/// capacity it needs, and a thousand clusters hold many objects).
fn to_bytes(value: &Value) -> Bytes {
    let mut buf = serde_json::to_vec(value).unwrap_or_default();
    buf.shrink_to_fit();
    Bytes::from(buf)
}

fn labels_of(value: &Value) -> BTreeMap<String, String> {
    value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

impl Store {
    /// A store whose history keeps at most `history_cap` changes and none older than
    /// `history_ttl` (a real cluster's etcd compacts every five minutes).
    pub fn new(history_cap: usize, history_ttl: Duration) -> Self {
        let (notify, _) = watch::channel(1);
        Self {
            rv: 1,
            collections: HashMap::new(),
            history: VecDeque::new(),
            floor: 1,
            history_cap,
            history_ttl,
            notify,
        }
    }

    /// The latest resourceVersion of the cluster.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest version a watch can resume from.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn set_history_cap(&mut self, cap: usize) {
        self.history_cap = cap;
    }

    /// A receiver woken with the latest resourceVersion after every write.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<&Arc<StoredObject>> {
        self.collections.get(gr)?.get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Objects of a collection in key order, optionally in one namespace, starting after
    /// a key (for `continue` tokens).
    pub fn list<'a>(
        &'a self,
        gr: &GroupResource,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<StoredObject>)> + 'a {
        let start = match after {
            Some(key) => Bound::Excluded(key.clone()),
            None => match namespace {
                Some(ns) => Bound::Included((ns.to_owned(), String::new())),
                None => Bound::Unbounded,
            },
        };
        self.collections
            .get(gr)
            .into_iter()
            .flat_map(move |c| c.range((start.clone(), Bound::Unbounded)))
            .take_while(move |(key, _)| namespace.is_none_or(|ns| key.0 == ns))
    }

    pub fn count(&self, gr: &GroupResource) -> usize {
        self.collections.get(gr).map_or(0, BTreeMap::len)
    }

    /// All objects of the store (for memory and seeding checks).
    pub fn len(&self) -> usize {
        self.collections.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, change: Change) {
        let now = change.at;
        self.history.push_back(Arc::new(change));
        while self.history.len() > self.history_cap
            || self.history.front().is_some_and(|c| now.duration_since(c.at) > self.history_ttl)
        {
            if let Some(old) = self.history.pop_front() {
                self.floor = old.rv;
            }
        }
        self.notify.send_replace(self.rv);
    }

    /// Creates or replaces an object: it gets the next resourceVersion, written into its
    /// `metadata.resourceVersion`, and the change is recorded.
    pub fn put(&mut self, gr: &GroupResource, value: &mut Value) -> Arc<StoredObject> {
        let rv = self.next_rv();
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let stored = Arc::new(StoredObject { json: to_bytes(value), rv, labels: labels_of(value) });
        let previous =
            self.collections.entry(gr.clone()).or_default().insert((namespace.clone(), name.clone()), stored.clone());
        let kind = if previous.is_some() { ChangeKind::Modified } else { ChangeKind::Added };
        self.record(Change {
            rv,
            kind,
            gr: gr.clone(),
            namespace,
            name,
            object: stored.clone(),
            previous,
            at: Instant::now(),
        });
        stored
    }

    /// Removes an object; the deleted state carries the delete's resourceVersion.
    pub fn delete(&mut self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        let previous = self.collections.get_mut(gr)?.remove(&(namespace.to_owned(), name.to_owned()))?;
        let rv = self.next_rv();
        let mut value = previous.value();
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let last = Arc::new(StoredObject { json: to_bytes(&value), rv, labels: previous.labels.clone() });
        self.record(Change {
            rv,
            kind: ChangeKind::Deleted,
            gr: gr.clone(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            object: last.clone(),
            previous: Some(previous),
            at: Instant::now(),
        });
        Some(last)
    }

    /// Deletes every object of a collection (its CRD is gone).
    pub fn drop_collection(&mut self, gr: &GroupResource) -> usize {
        let keys: Vec<ObjectKey> = self.collections.get(gr).map(|c| c.keys().cloned().collect()).unwrap_or_default();
        for (ns, name) in &keys {
            self.delete(gr, ns, name);
        }
        self.collections.remove(gr);
        keys.len()
    }

    /// The changes after `rv`, oldest first; `TooOld` when some were compacted away.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change>>, TooOld> {
        if rv < self.floor {
            return Err(TooOld { oldest: self.floor });
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Ok(self.history.range(start..).cloned().collect())
    }

    /// Forgets the whole history: every watch resume from an older version gets 410.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
        self.notify.send_replace(self.rv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gr() -> GroupResource {
        GroupResource::new("", "configmaps")
    }

    fn cm(ns: &str, name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns, "name": name, "labels": {"a": "b"}}})
    }

    #[test]
    fn writes_take_increasing_versions_and_are_recorded() {
        let mut store = Store::new(100, Duration::from_secs(300));
        let start = store.rv();
        let a = store.put(&gr(), &mut cm("default", "a"));
        let b = store.put(&gr(), &mut cm("kube-system", "b"));
        assert!(a.rv > start && b.rv > a.rv);
        assert_eq!(a.value()["metadata"]["resourceVersion"], json!(a.rv.to_string()));
        assert_eq!(a.labels.get("a").map(String::as_str), Some("b"));
        let changes = store.changes_since(a.rv).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].name, "b");
        let modified = store.put(&gr(), &mut cm("default", "a"));
        assert_eq!(store.changes_since(b.rv).unwrap()[0].kind, ChangeKind::Modified);
        let deleted = store.delete(&gr(), "default", "a").unwrap();
        assert!(deleted.rv > modified.rv);
        assert!(store.get(&gr(), "default", "a").is_none());
        assert_eq!(store.changes_since(modified.rv).unwrap()[0].kind, ChangeKind::Deleted);
    }

    #[test]
    fn list_is_ordered_and_scoped() {
        let mut store = Store::new(100, Duration::from_secs(300));
        for (ns, name) in [("b", "2"), ("a", "1"), ("b", "1"), ("c", "1")] {
            store.put(&gr(), &mut cm(ns, name));
        }
        let all: Vec<_> = store.list(&gr(), None, None).map(|(k, _)| k.clone()).collect();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], ("a".to_owned(), "1".to_owned()));
        let in_b: Vec<_> = store.list(&gr(), Some("b"), None).map(|(k, _)| k.1.clone()).collect();
        assert_eq!(in_b, vec!["1", "2"]);
        let after: Vec<_> =
            store.list(&gr(), None, Some(&("b".to_owned(), "1".to_owned()))).map(|(k, _)| k.clone()).collect();
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn history_is_bounded_and_old_versions_are_gone() {
        let mut store = Store::new(3, Duration::from_secs(300));
        let first = store.put(&gr(), &mut cm("d", "0")).rv;
        for i in 1..10 {
            store.put(&gr(), &mut cm("d", &i.to_string()));
        }
        assert!(store.changes_since(first).is_err());
        assert_eq!(store.changes_since(store.floor()).unwrap().len(), 3);
        store.compact();
        assert!(store.changes_since(store.rv() - 1).is_err());
        assert!(store.changes_since(store.rv()).unwrap().is_empty());
    }
}
