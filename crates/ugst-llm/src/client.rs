//! [`Llm`]: the single entry point for model calls. Wraps any [`Backend`] with the response cache,
//! output validation (JSON Schema, non-empty text) with one repair retry, and the ledger.

use crate::{
    Backend, Cache, CallRole, CallStats, ChatRequest, ChatResponse, Ledger, LedgerEntry, LlmError,
    Message,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Llm {
    backend: Arc<dyn Backend>,
    cache: Arc<Cache>,
}

impl Llm {
    pub fn new(backend: Arc<dyn Backend>, cache: Arc<Cache>) -> Self {
        Llm { backend, cache }
    }

    /// This model with its calls taking a permit of `permits` ([`crate::Bounded`]); the cache is
    /// shared.
    pub fn bounded(&self, permits: Arc<tokio::sync::Semaphore>) -> Llm {
        Llm {
            backend: Arc::new(crate::Bounded::new(self.backend.clone(), permits)),
            cache: self.cache.clone(),
        }
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
            backend: self.backend.clone(),
            cache: Arc::new(Cache::disabled()),
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
            ledger.push(entry);
            return Ok(hit);
        }
        let start = Instant::now();
        let result = self.call_validated(req, &mut entry).await;
        entry.latency_ms = start.elapsed().as_millis() as u64;
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
        let first = first?;
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
        let second = second?;
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
        return Err(("the answer was empty".into(), raw));
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

/// Finds the JSON object in a model's answer: bare, fenced in ``` or surrounded by prose.
pub fn extract_json(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Value>(t) {
        return Some(v);
    }
    let unfenced = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .map(str::trim);
    if let Some(inner) = unfenced {
        if let Ok(v) = serde_json::from_str::<Value>(inner) {
            return Some(v);
        }
    }
    let (start, end) = (t.find('{')?, t.rfind('}')?);
    if end <= start {
        return None;
    }
    serde_json::from_str(&t[start..=end]).ok()
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
