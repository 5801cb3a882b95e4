//! fleetdeck: a terminal UI for operating a hub-and-spoke fleet of Kubernetes clusters.
//!
//! The modules form layers (checked by `tests/layering.rs`): the engine (`fleet`,
//! `journal`, `cluster`, `audit`, `workflow`, `derive`) never reaches a terminal crate,
//! so `fleetdeck check`, the tests and the benchmarks use it without a terminal. The
//! simulated fleet is a crate of its own (`fleetdeck-sim`, in `src/sim`), here as `sim`.

pub mod action;
pub mod app;
pub mod audit;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod derive;
pub mod errors;
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
pub mod serve;
pub use fleetdeck_sim as sim;
pub mod term;
pub mod ui;
pub mod view;
pub mod workflow;
