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
}

impl LlmError {
    /// A short machine-readable kind, stored with failures.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Unreachable { .. } => "unreachable",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Http { .. } => "http",
            LlmError::BadResponse { .. } => "bad_response",
            LlmError::InvalidOutput { .. } => "invalid_output",
            LlmError::Config(_) => "config",
            LlmError::Cache(_) => "cache",
            LlmError::Backend { .. } => "backend",
        }
    }
}
