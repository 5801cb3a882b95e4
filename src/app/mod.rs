//! The application: messages, the model and its single `update`, which the runtime loop
//! (`crate::runtime`) drives; the operator actions and the copy keys it carries out.

pub mod audit;
pub mod copy;
pub mod model;
pub mod msg;
pub mod operate;
pub mod runs;
pub mod update;
