//! A backend that makes at most N calls at once: a server shares one bound over every role, so
//! one request (say, a reward item with two thousand open sub-components) cannot fan out into
//! thousands of concurrent model calls. Cache hits never reach a backend, so they are not bound.

use crate::{Backend, CallStats, ChatRequest, ChatResponse, LlmError};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct Bounded {
    inner: Arc<dyn Backend>,
    permits: Arc<Semaphore>,
}

impl Bounded {
    /// `inner`, its calls taking a permit of `permits` (shared with other backends to bound
    /// them together).
    pub fn new(inner: Arc<dyn Backend>, permits: Arc<Semaphore>) -> Self {
        Bounded { inner, permits }
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
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| LlmError::Backend {
                backend: self.inner.id(),
                detail: format!("the bound on model calls was closed: {e}"),
            })?;
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
}
