//! The namespace controller: a namespace being deleted loses its content, then goes.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ChangeFeed;
use crate::api::{Caller, write};
use crate::cluster::Cluster;
use crate::resource::GroupResource;
use crate::state::ClusterState;

fn terminating(st: &ClusterState) -> Vec<String> {
    st.store
        .list(&GroupResource::new("", "namespaces"), None, None)
        .filter(|(_, o)| o.value().pointer("/metadata/deletionTimestamp").is_some())
        .map(|(k, _)| k.1.clone())
        .collect()
}

/// Deletes everything in a terminating namespace, then the namespace itself.
pub fn finalize(st: &mut ClusterState, ns: &str) {
    let caller = Caller::system("namespace-controller");
    let types: Vec<_> = st.registry.all().iter().filter(|t| t.namespaced && !t.virtual_only).cloned().collect();
    for rt in types {
        let names: Vec<String> =
            st.store.list(&rt.group_resource(), Some(ns), None).map(|(k, _)| k.1.clone()).collect();
        for name in names {
            let _ = write::delete(st, &caller, &rt, ns, &name, &Default::default());
        }
    }
    let gr = GroupResource::new("", "namespaces");
    if st.store.get(&gr, "", ns).is_some_and(|o| o.value().pointer("/metadata/deletionTimestamp").is_some()) {
        st.store.delete(&gr, "", ns);
    }
}

pub async fn run(cluster: Arc<Cluster>, shutdown: CancellationToken) {
    let namespaces = GroupResource::new("", "namespaces");
    let mut feed = ChangeFeed::new(&cluster);
    loop {
        let pending = terminating(&cluster.lock());
        if !pending.is_empty() {
            // A real namespace controller takes a few seconds to empty a namespace.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
            let mut st = cluster.lock();
            for ns in pending {
                finalize(&mut st, &ns);
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = feed.wait(&cluster, |c| c.gr == namespaces) => {}
        }
    }
}
