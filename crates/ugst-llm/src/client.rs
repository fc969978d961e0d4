//! [`Llm`]: the single entry point for model calls. Wraps any [`Backend`] with the response cache,
//! the run's [`Budget`], the model's private thinking taken out of its answer
//! ([`crate::thinking`]), output validation (JSON Schema, non-empty text) with one repair retry,
//! and the ledger.

use crate::{
    Backend, Budget, Cache, CallRole, CallStats, ChatRequest, ChatResponse, Ledger, LedgerEntry,
    LlmError, Message, Price,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Llm {
    backend: Arc<dyn Backend>,
    cache: Arc<Cache>,
    /// The run's budget and this model's price, when a budget is set.
    budget: Option<(Arc<Budget>, Option<Price>)>,
}

impl Llm {
    pub fn new(backend: Arc<dyn Backend>, cache: Arc<Cache>) -> Self {
        Llm {
            backend,
            cache,
            budget: None,
        }
    }

    /// This model with its calls charged to `budget` at `price` (cache hits are free).
    pub fn with_budget(mut self, budget: Arc<Budget>, price: Option<Price>) -> Llm {
        self.budget = Some((budget, price));
        self
    }

    /// This model with its backend wrapped by `wrap` (a bound, a pace); cache and budget kept.
    pub fn wrapped(&self, wrap: impl FnOnce(Arc<dyn Backend>) -> Arc<dyn Backend>) -> Llm {
        Llm {
            backend: wrap(self.backend.clone()),
            ..self.clone()
        }
    }

    /// This model with its calls taking a permit of `permits` ([`crate::Bounded`]); the cache is
    /// shared.
    pub fn bounded(&self, permits: Arc<tokio::sync::Semaphore>) -> Llm {
        self.wrapped(|b| Arc::new(crate::Bounded::new(b, permits)))
    }

    pub fn backend_id(&self) -> String {
        self.backend.id()
    }

    pub fn model(&self) -> String {
        self.backend.model()
    }

    /// The same model without the response cache: every call reaches the backend (benchmarks
    /// that must measure live calls).
    pub fn uncached(&self) -> Llm {
        Llm {
            cache: Arc::new(Cache::disabled()),
            ..self.clone()
        }
    }

    /// See [`Backend::reachable`].
    pub async fn reachable(&self) -> Result<(), LlmError> {
        self.backend.reachable().await
    }

    /// One call: cached, validated (repair retry once), recorded in `ledger`.
    pub async fn chat(
        &self,
        role: CallRole,
        ledger: &Ledger,
        req: &ChatRequest,
    ) -> Result<ChatResponse, LlmError> {
        let backend = self.backend.id();
        let model = self.backend.model();
        let key = Cache::key(&self.backend.cache_identity(req), req);
        let mut entry = LedgerEntry {
            role,
            backend: backend.clone(),
            model: model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            reasoning_tokens: 0,
            latency_ms: 0,
            retries: 0,
            repaired: false,
            cache_hit: false,
            ok: true,
            error: None,
            engine: None,
        };
        if let Some(hit) = self.cache.get(&key)? {
            entry.cache_hit = true;
            entry.prompt_tokens = hit.usage.prompt_tokens;
            entry.completion_tokens = hit.usage.completion_tokens;
            entry.reasoning_tokens = hit.usage.reasoning_tokens;
            ledger.push(entry);
            // Answers cached before thinking was taken out are read the same way.
            return Ok(crate::thinking::separate(hit));
        }
        if let Some((budget, _)) = &self.budget {
            budget.check()?;
        }
        let start = Instant::now();
        let result = self.call_validated(req, &mut entry).await;
        entry.latency_ms = start.elapsed().as_millis() as u64;
        if let Some((budget, price)) = &self.budget {
            let spent = crate::Usage {
                prompt_tokens: entry.prompt_tokens,
                completion_tokens: entry.completion_tokens,
                reasoning_tokens: entry.reasoning_tokens,
            };
            budget.charge(&spent, *price);
        }
        match result {
            Ok(resp) => {
                self.cache.put(&key, &resp)?;
                ledger.push(entry);
                Ok(resp)
            }
            Err(e) => {
                entry.ok = false;
                entry.error = Some(e.to_string());
                ledger.push(entry);
                Err(e)
            }
        }
    }

    /// A call whose request carries a JSON Schema; returns the parsed, schema-valid value.
    pub async fn structured(
        &self,
        role: CallRole,
        ledger: &Ledger,
        req: &ChatRequest,
    ) -> Result<Value, LlmError> {
        assert!(
            req.schema.is_some(),
            "structured() needs a request with a schema"
        );
        let resp = self.chat(role, ledger, req).await?;
        serde_json::from_str(resp.content_str()).map_err(|e| LlmError::InvalidOutput {
            backend: self.backend.id(),
            reason: format!("cached answer is not JSON: {e}"),
            raw: resp.content_str().to_string(),
        })
    }

    async fn call_validated(
        &self,
        req: &ChatRequest,
        entry: &mut LedgerEntry,
    ) -> Result<ChatResponse, LlmError> {
        let mut stats = CallStats::default();
        let first = self.backend.complete(req, &mut stats).await;
        entry.retries = stats.retries;
        entry.engine = stats.engine;
        let first = crate::thinking::separate(first?);
        add_usage(entry, &first);
        let reason = match check(req, first) {
            Ok(ok) => return Ok(ok),
            Err((reason, raw)) => {
                tracing::debug!(backend = %self.backend.id(), %reason, "answer rejected, asking for a repair");
                (reason, raw)
            }
        };
        // One repair retry: show the model its answer and what was wrong with it.
        let mut repair = req.clone();
        repair.messages.push(Message::assistant(reason.1.clone()));
        repair
            .messages
            .push(Message::user(repair_prompt(req, &reason.0)));
        entry.repaired = true;
        entry.retries += 1;
        let mut stats = CallStats::default();
        let second = self.backend.complete(&repair, &mut stats).await;
        entry.retries += stats.retries;
        entry.engine = crate::EngineFacts::sum(entry.engine, stats.engine);
        let second = crate::thinking::separate(second?);
        add_usage(entry, &second);
        check(req, second).map_err(|(reason, raw)| LlmError::InvalidOutput {
            backend: self.backend.id(),
            reason,
            raw,
        })
    }
}

fn add_usage(entry: &mut LedgerEntry, r: &ChatResponse) {
    entry.prompt_tokens += r.usage.prompt_tokens;
    entry.completion_tokens += r.usage.completion_tokens;
    entry.reasoning_tokens += r.usage.reasoning_tokens;
}

fn repair_prompt(req: &ChatRequest, reason: &str) -> String {
    match &req.schema {
        Some(s) => format!(
            "That answer cannot be used: {reason}. Reply again with only a JSON object that follows this JSON Schema, with no other text:\n{}",
            s.schema
        ),
        None => format!("That answer cannot be used: {reason}. Please reply again."),
    }
}

/// Validates an answer against what the request asked for. On success the content of a structured
/// answer is normalised to the bare JSON text.
fn check(req: &ChatRequest, mut resp: ChatResponse) -> Result<ChatResponse, (String, String)> {
    let raw = resp.content_str().to_string();
    if resp.is_empty() {
        // An unstructured answer that is all thinking goes back to its caller when the caller
        // knows better than a repair: cut at the token limit (the simulator asks again with more
        // room; a repair would only be cut again), or a simulated user's (in `reasoning` mode the
        // thinking is its layout's reasoning and the simulator asks for the missing message by
        // name; a generic repair would not say so).
        let to_caller = resp.thinking.is_some()
            && req.schema.is_none()
            && (resp.finish_reason.as_deref() == Some("length") || req.user_simulation.is_some());
        if !to_caller {
            return Err(("the answer was empty".into(), raw));
        }
    }
    let Some(spec) = &req.schema else {
        return Ok(resp);
    };
    let mut value = extract_json(&raw)
        .ok_or_else(|| ("the answer is not valid JSON".to_string(), raw.clone()))?;
    // Upper bounds a server may not have enforced (strict mode drops them) are applied here.
    crate::structured::fit_limits(&mut value, &spec.schema);
    let validator = jsonschema::validator_for(&spec.schema).map_err(|e| {
        (
            format!("the request's own schema is invalid: {e}"),
            raw.clone(),
        )
    })?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(3)
        .map(|e| {
            let path = e.instance_path.to_string();
            if path.is_empty() {
                e.to_string()
            } else {
                format!("at {path}: {e}")
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err((
            format!(
                "the JSON does not follow the schema ({})",
                errors.join("; ")
            ),
            raw,
        ));
    }
    resp.content = Some(value.to_string());
    Ok(resp)
}

/// The model's whole answer as one JSON value, bare or fenced in ```; `None` when anything else
/// stands beside it.
pub fn whole_json(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    let inner = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))?;
    serde_json::from_str(inner.trim()).ok()
}

/// Finds the JSON object in a model's answer: bare, fenced in ``` or surrounded by prose.
pub fn extract_json(text: &str) -> Option<Value> {
    if let Some(v) = whole_json(text) {
        return Some(v);
    }
    let t = text.trim();
    // Otherwise the first whole object in the text, read by a streaming deserializer from each
    // `{` in turn: prose around it and braces in the prose that open no object are passed over
    // (the first `{` to the last `}` broke on a brace in a sentence or a second object).
    t.match_indices('{').find_map(|(at, _)| {
        match serde_json::Deserializer::from_str(&t[at..])
            .into_iter::<Value>()
            .next()
        {
            Some(Ok(v @ Value::Object(_))) => Some(v),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedBackend;
    use serde_json::json;

    fn schema_req() -> ChatRequest {
        ChatRequest::new(vec![Message::user("answer")]).with_schema(
            "s",
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": false}),
        )
    }

    #[test]
    fn extracts_json_from_fences_and_prose() {
        assert_eq!(
            extract_json("```json\n{\"a\":1}\n```"),
            Some(json!({"a": 1}))
        );
        assert_eq!(extract_json("Sure: {\"a\": 2} done"), Some(json!({"a": 2})));
        assert_eq!(extract_json("no json"), None);
        assert_eq!(whole_json("```json\n{\"a\":1}\n```"), Some(json!({"a": 1})));
        assert_eq!(whole_json("{\"a\": 1}\n{\"b\": 2}"), None);
        // Braces in the prose, a second object after the first, an unclosed one before it.
        assert_eq!(
            extract_json("I weigh {a, b} first. {\"a\": 3} and then {\"a\": 4}"),
            Some(json!({"a": 3}))
        );
        assert_eq!(
            extract_json("{\"broken\": {\"a\": 5}"),
            Some(json!({"a": 5}))
        );
    }

    #[tokio::test]
    async fn thinking_with_braces_never_reaches_the_answer() {
        let b = ScriptedBackend::queue(
            "q",
            vec![ChatResponse::text(
                "<think>Maybe {\"n\": \"x\"}? No: the schema wants {n}.</think>\n{\"n\": 3}",
            )],
        );
        let llm = Llm::new(Arc::new(b), Arc::new(Cache::in_memory()));
        let ledger = Ledger::new();
        let resp = llm
            .chat(CallRole::Tracker, &ledger, &schema_req())
            .await
            .unwrap();
        assert_eq!(resp.content_str(), "{\"n\":3}");
        assert!(resp
            .thinking
            .as_deref()
            .unwrap()
            .contains("the schema wants"));
        assert!(!ledger.drain()[0].repaired, "read without a repair");
        // A plain answer keeps its thinking apart too, from the cache as well.
        let b = ScriptedBackend::queue("p", vec![ChatResponse::text("<think>hm</think>Hello")]);
        let llm = Llm::new(Arc::new(b), Arc::new(Cache::in_memory()));
        let req = ChatRequest::new(vec![Message::user("hi")]);
        for _ in 0..2 {
            let r = llm.chat(CallRole::Agent, &ledger, &req).await.unwrap();
            assert_eq!(
                (r.content_str(), r.thinking.as_deref()),
                ("Hello", Some("hm"))
            );
        }
    }

    #[tokio::test]
    async fn a_spent_budget_refuses_the_next_call_but_not_cache_hits() {
        let b = ScriptedBackend::queue(
            "q",
            vec![ChatResponse {
                usage: crate::Usage {
                    prompt_tokens: 80,
                    completion_tokens: 30,
                    reasoning_tokens: 20,
                },
                ..ChatResponse::text("{\"n\": 1}")
            }],
        );
        let budget = Arc::new(Budget::new(Some(100), None));
        let llm =
            Llm::new(Arc::new(b), Arc::new(Cache::in_memory())).with_budget(budget.clone(), None);
        let ledger = Ledger::new();
        llm.chat(CallRole::Judge, &ledger, &schema_req())
            .await
            .unwrap();
        assert_eq!(budget.spent().0, 110);
        assert_eq!(ledger.drain()[0].reasoning_tokens, 20);
        // The same request again is a cache hit: free.
        llm.chat(CallRole::Judge, &ledger, &schema_req())
            .await
            .unwrap();
        let other = ChatRequest::new(vec![Message::user("another")]);
        let e = llm
            .chat(CallRole::Judge, &ledger, &other)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "budget");
    }

    #[tokio::test]
    async fn repair_retry_then_cache() {
        let b = ScriptedBackend::queue(
            "q",
            vec![
                ChatResponse::text("{\"n\": \"x\"}"),
                ChatResponse::text("{\"n\": 3}"),
            ],
        );
        let llm = Llm::new(Arc::new(b), Arc::new(Cache::in_memory()));
        let ledger = Ledger::new();
        let v = llm
            .structured(CallRole::Tracker, &ledger, &schema_req())
            .await
            .unwrap();
        assert_eq!(v, json!({"n": 3}));
        // The queue is empty now: a second identical call must come from the cache.
        let v2 = llm
            .structured(CallRole::Tracker, &ledger, &schema_req())
            .await
            .unwrap();
        assert_eq!(v2, v);
        let e = ledger.drain();
        assert!(e[0].repaired && e[0].ok && !e[0].cache_hit);
        assert!(e[1].cache_hit);
    }

    #[tokio::test]
    async fn second_invalid_answer_is_a_recorded_failure() {
        let b = ScriptedBackend::queue(
            "q",
            vec![ChatResponse::text("nope"), ChatResponse::text("")],
        );
        let llm = Llm::new(Arc::new(b), Arc::new(Cache::in_memory()));
        let ledger = Ledger::new();
        let err = llm
            .structured(CallRole::Judge, &ledger, &schema_req())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "invalid_output");
        let e = ledger.drain();
        assert_eq!(e.len(), 1);
        assert!(!e[0].ok && e[0].error.is_some());
    }
}
