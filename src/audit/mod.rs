//! The audit timeline's sources: fleetdeck's journal, Kubernetes Events (kept on disk
//! beyond the API server's TTL), and Kubernetes audit logs, followed in files or received
//! on a webhook. Engine side: no terminal crate here.

pub mod parse;
pub mod record;

pub use record::{AuditRecord, Severity, Source};
pub mod feed;
pub mod follow;
pub mod store;
pub mod webhook;
