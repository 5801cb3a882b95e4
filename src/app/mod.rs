//! The application: messages, the model and its single `update`, which the runtime loop
//! (`crate::runtime`) drives.

pub mod audit;
pub mod backups;
pub mod copy;
pub mod model;
pub mod msg;
pub mod operate;
pub mod propagation;
pub mod report;
pub mod rows;
pub mod update;
