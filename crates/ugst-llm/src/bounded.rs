//! A backend that makes at most N calls at once, or starts at most N a minute, or both: a
//! server shares one bound over every role, so one request (say, a reward item with two thousand
//! open sub-components) cannot fan out into thousands of concurrent model calls; a model's
//! `max_in_flight` and `requests_per_minute` keep a paid endpoint's limits before the 429s come.
//! The pace is a token bucket from the `governor` crate, one request of burst. Cache hits never
//! reach a backend, so they are neither bound nor paced.

use crate::{Backend, CallStats, ChatRequest, ChatResponse, LlmError};
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct Bounded {
    inner: Arc<dyn Backend>,
    permits: Option<Arc<Semaphore>>,
    pace: Option<DefaultDirectRateLimiter>,
}

impl Bounded {
    /// `inner`, its calls taking a permit of `permits` (shared with other backends to bound
    /// them together).
    pub fn new(inner: Arc<dyn Backend>, permits: Arc<Semaphore>) -> Self {
        Bounded {
            inner,
            permits: Some(permits),
            pace: None,
        }
    }

    /// `inner`, starting at most `per_minute` calls a minute (0 reads as 1).
    pub fn paced(inner: Arc<dyn Backend>, per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        Bounded {
            inner,
            permits: None,
            pace: Some(RateLimiter::direct(
                Quota::per_minute(n).allow_burst(NonZeroU32::MIN),
            )),
        }
    }
}

#[async_trait]
impl Backend for Bounded {
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
        if let Some(pace) = &self.pace {
            pace.until_ready().await;
        }
        // The semaphore is never closed, so acquiring only waits.
        let _permit = match &self.permits {
            Some(permits) => Some(permits.acquire().await.map_err(|e| LlmError::Backend {
                backend: self.inner.id(),
                detail: format!("the bound on model calls was closed: {e}"),
            })?),
            None => None,
        };
        self.inner.complete(req, stats).await
    }
    async fn reachable(&self) -> Result<(), LlmError> {
        self.inner.reachable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedBackend;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A backend that records the most calls it saw at once.
    struct Slow {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    #[async_trait]
    impl Backend for Slow {
        fn id(&self) -> String {
            "slow".into()
        }
        fn model(&self) -> String {
            "slow".into()
        }
        async fn complete(
            &self,
            _req: &ChatRequest,
            _stats: &mut CallStats,
        ) -> Result<ChatResponse, LlmError> {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(n, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Ok(ChatResponse::text("ok"))
        }
    }

    #[tokio::test]
    async fn at_most_n_calls_run_at_once_across_backends_sharing_a_bound() {
        let slow = Arc::new(Slow {
            now: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let permits = Arc::new(Semaphore::new(3));
        let a = Bounded::new(slow.clone(), permits.clone());
        let b = Bounded::new(slow.clone(), permits);
        let req = ChatRequest::new(vec![]);
        let calls = (0..40).map(|i| {
            let (a, b, req) = (&a, &b, &req);
            async move {
                let backend: &dyn Backend = if i % 2 == 0 { a } else { b };
                backend.complete(req, &mut CallStats::default()).await
            }
        });
        for r in futures::future::join_all(calls).await {
            r.unwrap();
        }
        assert_eq!(slow.most.load(Ordering::SeqCst), 3);
        // Identity passes through, so the cache key is unchanged by the bound.
        let scripted: Arc<dyn Backend> =
            Arc::new(ScriptedBackend::new("m", |_| Ok(ChatResponse::text("x"))));
        let bounded = Bounded::new(scripted.clone(), Arc::new(Semaphore::new(1)));
        assert_eq!(bounded.identity(), scripted.identity());
    }

    #[tokio::test]
    async fn paced_calls_start_no_faster_than_the_pace() {
        let inner = Arc::new(ScriptedBackend::new("s", |_| Ok(ChatResponse::text("ok"))));
        // 600 a minute: one every 100 ms.
        let paced = Bounded::paced(inner, 600);
        let req = ChatRequest::new(vec![]);
        let start = std::time::Instant::now();
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
