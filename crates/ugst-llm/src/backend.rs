//! The one trait every model backend implements (HTTP, scripted, and later the embedded model).

use crate::{ChatRequest, ChatResponse, LlmError};
use async_trait::async_trait;

/// Facts about one call that the ledger records.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallStats {
    /// Transport-level retries the backend made (429, 5xx, connect errors, timeouts).
    pub retries: u32,
    /// What a backend that runs the model itself measured; `None` where it cannot know.
    pub engine: Option<EngineFacts>,
}

/// Where a local model's time went in one call (the embedded backend fills it in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineFacts {
    /// Prompt tokens whose keys and values were already cached (not decoded again).
    pub cached_tokens: u64,
    /// From the request reaching the model to its first sampled token (prefill and queueing).
    pub first_token_ms: u64,
    /// Building the answer grammar and checking tokens against it.
    pub grammar_ms: u64,
}

impl EngineFacts {
    /// Two attempts of one call (an answer and its repair) as one ledger entry.
    pub fn sum(a: Option<EngineFacts>, b: Option<EngineFacts>) -> Option<EngineFacts> {
        match (a, b) {
            (Some(a), Some(b)) => Some(EngineFacts {
                cached_tokens: a.cached_tokens + b.cached_tokens,
                first_token_ms: a.first_token_ms + b.first_token_ms,
                grammar_ms: a.grammar_ms + b.grammar_ms,
            }),
            (a, b) => a.or(b),
        }
    }
}

/// A chat-completion backend. Implementations do transport and retries; validation, repair, caching
/// and the ledger live in [`crate::Llm`] so every backend gets them alike.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Stable identity used in the cache key, e.g. `openai:http://127.0.0.1:8000/v1`.
    fn id(&self) -> String;
    /// The model name this backend serves.
    fn model(&self) -> String;
    /// What identifies the weights behind this backend, for the cache key: a retrained
    /// checkpoint served under the same name must not be answered from the old one's cache.
    /// Defaults to the backend's id and model name.
    fn identity(&self) -> String {
        format!("{}|{}", self.id(), self.model())
    }
    /// What keys the cache for `req`: [`Backend::identity`], plus any setting that changes this
    /// backend's answer to `req` but not to other requests (those keep their cached answers).
    /// Defaults to the identity.
    fn cache_identity(&self, req: &ChatRequest) -> String {
        let _ = req;
        self.identity()
    }
    async fn complete(
        &self,
        req: &ChatRequest,
        stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError>;
    /// A cheap check, before a run starts, that the backend can answer at all (the server is up,
    /// the key is accepted). Local backends have nothing to check.
    async fn reachable(&self) -> Result<(), LlmError> {
        Ok(())
    }
}
