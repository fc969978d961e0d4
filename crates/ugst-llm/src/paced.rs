//! A backend that starts at most N requests per minute (`requests_per_minute` in a model's
//! config): a paid endpoint's rate limit is kept before the 429s come. The pace is a token
//! bucket from the `governor` crate, as bursty as one request at a time; cache hits never reach
//! a backend, so they are not paced.

use crate::{Backend, CallStats, ChatRequest, ChatResponse, LlmError};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;

pub struct Paced {
    inner: Arc<dyn Backend>,
    limiter: DefaultDirectRateLimiter,
}

impl Paced {
    /// `inner`, starting at most `per_minute` requests a minute (0 reads as 1).
    pub fn new(inner: Arc<dyn Backend>, per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        Paced {
            inner,
            limiter: RateLimiter::direct(Quota::per_minute(n).allow_burst(NonZeroU32::MIN)),
        }
    }
}

#[async_trait]
impl Backend for Paced {
    fn id(&self) -> String {
        self.inner.id()
    }
    fn model(&self) -> String {
        self.inner.model()
    }
    fn identity(&self) -> String {
        self.inner.identity()
    }
    fn cache_identity(&self, req: &ChatRequest) -> String {
        self.inner.cache_identity(req)
    }
    async fn complete(
        &self,
        req: &ChatRequest,
        stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError> {
        self.limiter.until_ready().await;
        self.inner.complete(req, stats).await
    }
    async fn reachable(&self) -> Result<(), LlmError> {
        self.inner.reachable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, ScriptedBackend};
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn requests_start_no_faster_than_the_pace() {
        let inner = Arc::new(ScriptedBackend::new("s", |_| Ok(ChatResponse::text("ok"))));
        // 600 a minute: one every 100 ms.
        let paced = Paced::new(inner, 600);
        let req = ChatRequest::new(vec![Message::user("hi")]);
        let start = Instant::now();
        for _ in 0..4 {
            paced
                .complete(&req, &mut CallStats::default())
                .await
                .unwrap();
        }
        // The first goes at once, the next three wait their turn.
        assert!(
            start.elapsed() >= Duration::from_millis(290),
            "{:?}",
            start.elapsed()
        );
    }
}
