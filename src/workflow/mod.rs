//! Operator actions and guided runbooks as state machines whose transitions are pure:
//! plan, preview (server-side dry run), confirm, execute, verify. The runtime carries
//! out the reads and writes they ask for; nothing here does I/O or draws.

pub mod migrate;
pub mod operation;
pub mod plan;
pub mod register;
pub mod rollback;
pub mod runbook;
