//! The application: messages, the model and its single `update`, and the runtime loop
//! that owns the model, reads keys first, applies engine events, and draws when
//! something changed.

pub mod audit;
pub mod backups;
pub mod copy;
pub mod model;
pub mod msg;
pub mod operate;
pub mod propagation;
pub mod report;
pub mod rows;
pub mod runtime;
pub mod update;
