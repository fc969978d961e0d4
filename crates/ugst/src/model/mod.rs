//! The records every stage passes on: goals, transcripts and runs. Plain typed data — no I/O and
//! no model calls — so that goals, simulate, track, store, evaluate, export and serve all speak
//! about the same things with the same types (the text forms are written by serde only).

pub mod goal;
pub mod run;
pub mod tracking;
pub mod transcript;

pub use goal::{DecomposeMethod, DecompositionLine, Goal};
pub use run::{last_attempts, simulator_aligned};
pub use run::{
    ConvStatus, Conversation, EndReason, Ending, RejectedDraft, RunMeta, Settings, SimMode,
    TaskOutcome, Thinking, TrackingMode, TurnRecord, DEFAULT_AGENT_STEPS, DEFAULT_MAX_TURNS,
};
pub use tracking::TrackingConfig;
pub use transcript::{Exchange, STOP};
