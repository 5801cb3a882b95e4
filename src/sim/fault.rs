//! Faults a simulated cluster can be told to have: what a client of a real, unwell API
//! server sees. Faults are state (set, and cleared later) except the one-shot actions
//! (drop the open watches now).

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How a cluster is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// The port is closed: connections are refused at once.
    Refused,
    /// Connections are accepted and never answered; open requests and watches stall.
    Hanging,
}

/// The faults in effect on one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultState {
    /// Added to every request before it is handled.
    pub latency: Duration,
    /// A uniformly random extra delay of up to this much.
    pub jitter: Duration,
    /// The share of requests (0.0 to 1.0) answered 500 InternalError.
    pub error_rate: f64,
    pub outage: Option<OutageMode>,
    /// Open watches are cut this often.
    pub drop_watches_every: Option<Duration>,
    /// Every watch resume is answered 410 Gone and open watches get a 410 error event.
    pub gone_storm: bool,
    /// Every credential is rejected with 401, as when tokens expire or are revoked.
    pub reject_credentials: bool,
    /// `/readyz` (and `/livez` too when `Livez`) answers 404, as on older API servers
    /// and behind some proxies.
    pub no_health: Option<NoHealth>,
    /// TLS offers HTTP/1.1 only (no `h2` by ALPN), as a TLS-terminating proxy in front
    /// of the API server may; for connections opened from then on.
    pub http1_only: bool,
}

/// Which health endpoints a server lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoHealth {
    Readyz,
    ReadyzAndLivez,
}

impl FaultState {
    pub fn is_healthy(&self) -> bool {
        *self == FaultState::default()
    }

    /// The delay to add to one request.
    pub fn delay(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let extra = rand::rng().random_range(0..=self.jitter.as_micros() as u64);
        self.latency + Duration::from_micros(extra)
    }

    pub fn should_fail(&self) -> bool {
        self.error_rate > 0.0 && rand::rng().random_bool(self.error_rate.clamp(0.0, 1.0))
    }
}

/// A cluster's fault switchboard, watched by its listener, handlers and watches.
#[derive(Debug)]
pub struct Faults {
    state: watch::Sender<FaultState>,
    /// Bumped to cut every open watch at once.
    drops: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Self { state: watch::channel(FaultState::default()).0, drops: watch::channel(0).0 }
    }
}

impl Faults {
    pub fn current(&self) -> FaultState {
        self.state.borrow().clone()
    }

    pub fn set(&self, state: FaultState) {
        self.state.send_replace(state);
    }

    pub fn update(&self, change: impl FnOnce(&mut FaultState)) {
        self.state.send_modify(change);
    }

    pub fn subscribe(&self) -> watch::Receiver<FaultState> {
        self.state.subscribe()
    }

    pub fn drop_watches(&self) {
        self.drops.send_modify(|n| *n += 1);
    }

    pub fn subscribe_drops(&self) -> watch::Receiver<u64> {
        self.drops.subscribe()
    }

    /// Waits while the cluster hangs (returns at once when it does not).
    pub async fn pass_hang(&self) {
        let mut rx = self.state.subscribe();
        let _ = rx.wait_for(|s| s.outage != Some(OutageMode::Hanging)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_latency_and_jitter() {
        let f =
            FaultState { latency: Duration::from_millis(50), jitter: Duration::from_millis(10), ..Default::default() };
        for _ in 0..100 {
            let d = f.delay();
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(60));
        }
        assert!(!FaultState::default().should_fail());
        assert!(FaultState { error_rate: 1.0, ..Default::default() }.should_fail());
    }

    #[tokio::test]
    async fn hang_releases_when_cleared() {
        let faults = std::sync::Arc::new(Faults::default());
        faults.update(|f| f.outage = Some(OutageMode::Hanging));
        let waiter = {
            let faults = faults.clone();
            tokio::spawn(async move { faults.pass_hang().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        faults.update(|f| f.outage = None);
        tokio::time::timeout(Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }
}
