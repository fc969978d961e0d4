//! The call ledger: one entry per model call with its role, tokens, latency, retries and cache hit.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Which part of the system made a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallRole {
    Decomposer,
    Tracker,
    Simulator,
    Agent,
    Judge,
    /// Checks a simulator draft before it is sent (`--verify`).
    Verifier,
}

impl CallRole {
    pub fn as_str(self) -> &'static str {
        match self {
            CallRole::Decomposer => "decomposer",
            CallRole::Tracker => "tracker",
            CallRole::Simulator => "simulator",
            CallRole::Agent => "agent",
            CallRole::Judge => "judge",
            CallRole::Verifier => "verifier",
        }
    }
    pub fn parse(s: &str) -> Option<CallRole> {
        Some(match s {
            "decomposer" => CallRole::Decomposer,
            "tracker" => CallRole::Tracker,
            "simulator" => CallRole::Simulator,
            "agent" => CallRole::Agent,
            "judge" => CallRole::Judge,
            "verifier" => CallRole::Verifier,
            _ => return None,
        })
    }
}

/// One model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub role: CallRole,
    pub backend: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of the completion tokens, those spent thinking (when the server reports them).
    #[serde(default)]
    pub reasoning_tokens: u64,
    pub latency_ms: u64,
    /// Transport retries plus the repair retry, if one was needed.
    pub retries: u32,
    pub repaired: bool,
    pub cache_hit: bool,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The local engine's own account of the call (both attempts', after a repair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::EngineFacts>,
}

/// Collects ledger entries for one unit of work (a conversation, a decomposition). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: Arc<Mutex<Vec<LedgerEntry>>>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&self, e: LedgerEntry) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }
    /// Takes every entry recorded so far.
    pub fn drain(&self) -> Vec<LedgerEntry> {
        std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
