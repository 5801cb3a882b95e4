//! Helpers shared by the integration tests: a simulated fleet, kube-rs clients on it, and
//! the binary in a pseudo-terminal.
#![allow(dead_code)]

pub mod pty;

use std::future::Future;
use std::time::Duration;

use fleetdeck::sim::{Access, Fleet, Scenario, ServeSettings, SimOptions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A still fleet (no controllers, no scenario faults) with 1 s bookmarks.
pub async fn still_fleet(spokes: usize) -> Fleet {
    start(spokes, Scenario::builtin("default"), false).await
}

/// A fleet with its controllers running on `scenario`.
pub async fn live_fleet(spokes: usize, scenario: Scenario) -> Fleet {
    start(spokes, scenario, true).await
}

async fn start(spokes: usize, scenario: Scenario, behaviour: bool) -> Fleet {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = SimOptions {
        spokes: Some(spokes),
        scenario,
        serve: ServeSettings { bookmark_interval: Duration::from_secs(1), ..ServeSettings::default() },
        behaviour,
        ..SimOptions::default()
    };
    Fleet::start(options).await.expect("fleet starts")
}

/// A kube-rs client for a context of the fleet.
pub async fn client(fleet: &Fleet, context: &str, access: Access) -> Client {
    let kubeconfig: Kubeconfig = serde_json::from_value(fleet.kubeconfig(access)).expect("kubeconfig parses");
    let options = KubeConfigOptions { context: Some(context.to_owned()), ..KubeConfigOptions::default() };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("client config");
    Client::try_from(config).expect("client")
}

pub async fn admin(fleet: &Fleet, context: &str) -> Client {
    client(fleet, context, Access::Admin).await
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The HTTP status of a kube error, when the server answered one.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
