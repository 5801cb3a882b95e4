//! Messages to the model's owner, the actions keys map to, and the effects `update`
//! asks the runtime to carry out.

use jiff::Timestamp;

use crate::audit::AuditRecord;
use crate::audit::feed::Feed;
use crate::cluster::EngineEvent;
use crate::workflow::operation::{Confirmed, Executed};
use crate::workflow::plan::{ObjectPreview, Plan};

use crate::action::Action;

/// An edit of a text line (backend-neutral; the input layer translates keys).
pub type FilterEdit = tui_input::InputRequest;

#[derive(Debug, Clone)]
pub enum Msg {
    Engine(EngineEvent),
    Action(Action),
    /// A key typed while the filter line is being edited.
    FilterEdit(FilterEdit),
    /// Enter while editing the filter: keep it and go back to the rows.
    FilterDone,
    /// The 1 Hz tick: ages and clocks move on.
    Tick(Timestamp),
    /// The terminal's table height changed: rows a page moves.
    Page(usize),
    /// A key typed while a confirmation prompt is open.
    PromptEdit(FilterEdit),
    /// Enter at the prompt: confirm.
    PromptSubmit,
    /// Esc at the prompt: cancel.
    PromptCancel,
    /// The server-side dry run of operation `id` answered.
    Previewed {
        id: u64,
        result: Result<Vec<ObjectPreview>, String>,
    },
    /// The write of operation `id` finished.
    Executed {
        id: u64,
        result: Result<Executed, String>,
    },
    /// Records or a status from the audit sources.
    Audit(Feed),
    /// A line for the footer (an export's result).
    Notice(String),
    /// A key typed while the command line is open.
    CommandEdit(FilterEdit),
    /// Enter on the command line: run it.
    CommandSubmit,
    /// Esc on the command line: close it.
    CommandCancel,
    /// Tab on the command line: complete the word.
    CommandComplete,
    /// The runner's report of the run this session drives (or why it could not start).
    Run(super::runs::RunReport),
}

/// What `update` asks of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Quit,
    /// Run the plan's server-side dry run; answer with `Msg::Previewed`.
    Preview {
        id: u64,
        plan: Plan,
    },
    /// Write a confirmed plan; answer with `Msg::Executed`.
    Execute {
        id: u64,
        confirmed: Confirmed,
    },
    /// Keep newly seen Kubernetes Events in the local store.
    KeepEvents(Vec<AuditRecord>),
    /// Write these audit records (oldest first) to an export file; answer with
    /// `Msg::Notice`.
    Export(Vec<AuditRecord>),
    /// Put this text on the terminal's clipboard (OSC 52).
    Copy(String),
    /// Start a run (the runner checks the cluster's lock); answer with `Msg::Run`.
    StartRun {
        workflow: crate::fleet::run::Workflow,
        cluster: String,
        context: String,
        /// What the run starts from (a rollback's trigger, target and baseline).
        facts: std::collections::BTreeMap<String, String>,
    },
    /// Take an interrupted (or failed, to undo it) run over and drive it from `first`.
    TakeRun {
        id: String,
        first: crate::workflow::runbook::Event,
    },
    /// The operator's answer to the run this session drives.
    RunInput(crate::workflow::runbook::Event),
    /// Post a firing rollback trigger as a Warning Event on the hub, in `namespace`
    /// (the spoke's), named so that every session posts it once.
    PostTrigger {
        namespace: String,
        name: String,
        cluster: String,
        reason: String,
        message: String,
    },
}
