//! The probe loop of a cluster: GET /readyz every interval, timed, from this machine.
//! Timeouts and errors are samples too (failures).

use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::errors::classify;
use super::event::{ClusterId, EngineEvent};
use crate::fleet::failure::Failure;
use crate::fleet::probes::Sample;

/// One round trip.
pub async fn probe(client: &kube::Client, timeout: Duration) -> Result<Duration, Failure> {
    let request = http::Request::get("/readyz").body(Vec::new()).map_err(|_| Failure::Other)?;
    let started = std::time::Instant::now();
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(classify(&e).0),
        Ok(Ok(body)) if body.trim() == "ok" => Ok(started.elapsed()),
        Ok(Ok(_)) => Err(Failure::Server(500)),
    }
}

pub async fn run(
    client: kube::Client,
    cluster: ClusterId,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<EngineEvent>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = probe(&client, timeout) => outcome,
        };
        let sample = Sample { at: Timestamp::now(), outcome };
        if tx.send(EngineEvent::Probe { cluster, sample }).await.is_err() {
            return;
        }
    }
}
