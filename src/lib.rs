//! fleetdeck: a terminal UI for operating a hub-and-spoke fleet of Kubernetes clusters.
//!
//! The engine (`sim`, and later `cluster`, `fleet`, `workflow`, `journal`) never imports
//! a terminal crate, so `fleetdeck check`, the tests and the benchmarks use it without a
//! terminal.

pub mod action;
pub mod app;
pub mod audit;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod derive;
pub mod fd_limit;
pub mod fields;
pub mod fleet;
pub mod glob;
pub mod input;
pub mod journal;
pub mod launch;
pub mod logging;
pub mod paths;
pub mod runtime;
pub mod sim;
pub mod term;
pub mod ui;
pub mod view;
pub mod workflow;
