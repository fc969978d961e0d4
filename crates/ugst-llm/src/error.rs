//! Errors of model calls. Every message names the backend and says what to try next.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{backend}: cannot reach the endpoint after {attempts} attempt(s): {detail}. Is the server running and is base_url right?")]
    Unreachable {
        backend: String,
        attempts: u32,
        detail: String,
    },
    #[error("{backend}: no answer within {timeout:?} after {attempts} attempt(s). Raise timeout_s in the model's config or check the server's load")]
    Timeout {
        backend: String,
        timeout: Duration,
        attempts: u32,
    },
    #[error("{backend}: HTTP {status} after {attempts} attempt(s): {body}")]
    Http {
        backend: String,
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("{backend}: model {model:?} refused the structured-output request for schema {schema:?} (HTTP 400: {body}). The server does not accept structured = \"{structured}\": set `structured` in this model's [models.NAME] table to one it supports (\"json_schema\", \"json_object\", \"tools\" or \"strict\") and rerun with --resume")]
    SchemaRejected {
        backend: String,
        model: String,
        schema: String,
        structured: &'static str,
        body: String,
    },
    #[error("{backend}: the endpoint sent a body that is not a chat completion: {detail}")]
    BadResponse { backend: String, detail: String },
    #[error("{backend}: the model's answer is unusable after a repair retry: {reason}")]
    InvalidOutput {
        backend: String,
        reason: String,
        raw: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("response cache: {0}")]
    Cache(String),
    #[error("{backend}: {detail}")]
    Backend { backend: String, detail: String },
    #[error("the run's budget is spent ({detail}); no more model calls were made. Raise the budget ([budget] in the config, or --budget-tokens / --budget-cost) and add --resume to go on")]
    BudgetSpent { detail: String },
}

impl LlmError {
    /// A short machine-readable kind, stored with failures.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unreachable { .. } => "unreachable",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Http { .. } => "http",
            LlmError::SchemaRejected { .. } => "schema_rejected",
            LlmError::BadResponse { .. } => "bad_response",
            LlmError::InvalidOutput { .. } => "invalid_output",
            LlmError::Config(_) => "config",
            LlmError::Cache(_) => "cache",
            LlmError::Backend { .. } => "backend",
            LlmError::BudgetSpent { .. } => "budget",
        }
    }

    /// An error that every later call would hit alike (the server refuses how we ask): a run
    /// stops at it instead of failing each conversation in turn.
    pub fn stops_the_run(&self) -> bool {
        matches!(
            self,
            LlmError::SchemaRejected { .. } | LlmError::Config(_) | LlmError::BudgetSpent { .. }
        )
    }
}
