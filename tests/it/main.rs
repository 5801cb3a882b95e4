//! fleetdeck's integration tests, one binary (each of the files was a binary of its
//! own, and every one linked kube, hyper and ratatui again): the engine, the model and
//! the views on the simulated fleet, the simulator against kube-rs and kubectl,
//! snapshots of the screens, and the real binary in a pseudo-terminal.

mod common;

mod audit_pane;
mod audit_webhook;
mod backups;
mod check;
mod cli;
mod engine;
mod failures;
mod journal;
mod layering;
mod migration;
mod propagation;
mod read_only;
mod rollback_pty;
mod runbook;
mod runs_pty;
mod runs_view;
mod serve;
mod sim_api;
mod sim_audit;
mod sim_behaviour;
mod sim_faults;
mod sim_http2;
mod sim_kubectl;
mod snapshots;
mod tui_pty;
mod wall;
