//! A scripted backend for tests: answers come from a closure or a fixed queue.

use crate::{Backend, CallStats, ChatRequest, ChatResponse, LlmError};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::sync::Mutex;

type Responder = dyn Fn(&ChatRequest) -> Result<ChatResponse, LlmError> + Send + Sync;

pub struct ScriptedBackend {
    name: String,
    responder: Box<Responder>,
}

impl ScriptedBackend {
    /// Answers every request with `f(request)`.
    pub fn new(
        name: impl Into<String>,
        f: impl Fn(&ChatRequest) -> Result<ChatResponse, LlmError> + Send + Sync + 'static,
    ) -> Self {
        ScriptedBackend {
            name: name.into(),
            responder: Box::new(f),
        }
    }

    /// Answers requests with the given responses in order; errors once they run out.
    pub fn queue(name: impl Into<String>, answers: Vec<ChatResponse>) -> Self {
        let name = name.into();
        let q = Mutex::new(VecDeque::from(answers));
        let n2 = name.clone();
        Self::new(name, move |_| {
            q.lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| LlmError::Backend {
                    backend: format!("scripted:{n2}"),
                    detail: "the script has no answer left".into(),
                })
        })
    }
}

#[async_trait]
impl Backend for ScriptedBackend {
    fn id(&self) -> String {
        format!("scripted:{}", self.name)
    }
    fn model(&self) -> String {
        self.name.clone()
    }
    async fn complete(
        &self,
        req: &ChatRequest,
        _stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError> {
        (self.responder)(req)
    }
}
