//! `ugst serve reward`: the composite UGST reward ([`crate::reward`]) over HTTP for GRPO trainers.
//!
//! - `POST /v1/ugst/score` — `{"items": [{"id", "context", "response"}]}` →
//!   `{"results": [{"id", "reward", "conditions", "format_ok", "error"}]}` in the same order.
//! - `POST /v1/openrlhf` — OpenRLHF's remote reward: `{"query": [...], "prompts": [...],
//!   "labels": [...]}`, where `labels[i]` is the `ugst_context` JSON string of `ugst export
//!   --format grpo` and the response is `query[i]` without its `prompts[i]` prefix →
//!   `{"rewards", "scores", "extra_logs"}` (a failed judge scores 0 there and is counted).
//! - `GET /healthz`.
//!
//! Items are scored concurrently (at most `concurrency` at a time); judge calls go through the
//! model cache. States computed from a goal and a history are kept in memory for reuse. A server
//! holding `max_queue` items answers 503 with `Retry-After` instead of queueing more. Bad requests
//! get a 400 naming the field.

use super::memo::{memo, Memo};
use super::wire::{error, rejected};
use crate::model::TrackingMode;
use crate::reward::{self, Context, RewardConfig, Scored};
use crate::roles::RoleModels;
use crate::track::Tracker;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;
use ugst_llm::Ledger;
use ugst_state::GoalState;

/// How the server scores and how much it takes on.
#[derive(Debug, Clone)]
pub struct Options {
    pub reward: RewardConfig,
    pub tracking: TrackingMode,
    /// The tracker's rules (`[tracking]` in the config).
    pub tracker: crate::track::TrackingConfig,
    /// Items scored at the same time.
    pub concurrency: usize,
    /// Items accepted (queued or being scored) before answering 503.
    pub max_queue: usize,
    /// Model calls in flight and the size of one item.
    pub limits: super::Limits,
}

#[derive(Clone)]
struct AppState {
    models: RoleModels,
    opts: Options,
    permits: Arc<Semaphore>,
    queued: Arc<AtomicUsize>,
    scored: Arc<AtomicU64>,
    /// States computed from a context without one, by the context's hash (bytes-bounded).
    states: Arc<Memo<[u8; 32], GoalState>>,
}

pub fn router(models: RoleModels, opts: Options) -> Router {
    let cache_bytes = opts.limits.cache_bytes;
    let state = AppState {
        models: models.bounded(opts.limits.max_model_calls),
        permits: Arc::new(Semaphore::new(opts.concurrency.max(1))),
        opts,
        queued: Arc::default(),
        scored: Arc::default(),
        states: Arc::new(memo(cache_bytes)),
    };
    Router::new()
        .route("/v1/ugst/score", post(score))
        .route("/v1/openrlhf", post(openrlhf))
        .route("/healthz", get(healthz))
        .route("/health", get(healthz))
        .route("/v1/models", get(models_list))
        .with_state(state)
}

/// Serves until SIGTERM or SIGINT, then drains (see [`super::http::serve`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    models: RoleModels,
    opts: Options,
    exposure: &super::Exposure,
) -> std::io::Result<()> {
    let app = router(models, opts);
    super::http::serve(listener, app, exposure, super::http::shutdown_signal()).await
}

/// What `GET /v1/models` lists (the openai SDK and vLLM's clients call it first).
async fn models_list() -> Json<Value> {
    Json(json!({"object": "list", "data": [
        {"id": "ugst-reward", "object": "model", "created": 0, "owned_by": "ugst"}]}))
}

async fn healthz(State(s): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "queued": s.queued.load(Ordering::Relaxed),
        "scored": s.scored.load(Ordering::Relaxed),
    }))
}

/// Reserves room for `n` items, or says the server is full.
struct Reservation {
    queued: Arc<AtomicUsize>,
    n: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.queued.fetch_sub(self.n, Ordering::Relaxed);
    }
}

/// Room for `n` more items, or `None` when the server is full.
fn reserve(s: &AppState, n: usize) -> Option<Reservation> {
    let before = s.queued.fetch_add(n, Ordering::Relaxed);
    let r = Reservation {
        queued: s.queued.clone(),
        n,
    };
    (before + n <= s.opts.max_queue).then_some(r)
}

/// One item's history and client-supplied state or decomposition within the server's limits.
fn item_within_limits(limits: &super::Limits, item: &Item, what: &str) -> Result<(), String> {
    let c = &item.context;
    limits.check_messages(c.history.len(), &format!("{what}.context.history"))?;
    if let Some(st) = &c.state {
        limits.check_components(st.components.len(), &format!("{what}.context.state"))?;
    }
    if let Some(d) = &c.decomposition {
        let n = d.user_profile.len()
            + d.user_policy.len()
            + d.task_objectives
                .iter()
                .map(|o| 1 + o.requirements.len() + o.preferences.len())
                .sum::<usize>();
        limits.check_components(n, &format!("{what}.context.decomposition"))?;
    }
    Ok(())
}

/// Admits a batch of items, each named for the messages: within the server's limits per item
/// (else 413), no larger than the server ever holds (else 413 naming `--max-queue`), and with
/// room now (else 503 with `Retry-After`). The reservation frees its room when dropped.
fn admit<'a>(
    s: &AppState,
    items: impl ExactSizeIterator<Item = (String, &'a Item)>,
) -> Result<Reservation, Box<Response>> {
    let n = items.len();
    for (what, it) in items {
        item_within_limits(&s.opts.limits, it, &what)
            .map_err(|e| Box::new(error(StatusCode::PAYLOAD_TOO_LARGE, e)))?;
    }
    if n > s.opts.max_queue {
        return Err(Box::new(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a batch of {n} item(s) is more than this server ever holds (--max-queue {}); send it in smaller batches",
                s.opts.max_queue
            ),
        )));
    }
    reserve(s, n).ok_or_else(|| Box::new(full(s)))
}

fn full(s: &AppState) -> Response {
    let mut resp = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "the server holds {} item(s) and takes at most {}; retry shortly",
            s.queued.load(Ordering::Relaxed),
            s.opts.max_queue
        ),
    );
    resp.headers_mut().insert("retry-after", 1.into());
    resp
}

/// One item, after validation.
pub struct Item {
    context: Context,
    response: String,
}

async fn score_item(s: &AppState, item: &Item) -> Scored {
    let tracker = Tracker::new(s.models.tracker.clone(), s.opts.tracking, s.opts.tracker);
    let _permit = s
        .permits
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let ledger = Ledger::new();
    let before = match &item.context.state {
        Some(st) => Ok(st.clone()),
        None => {
            let key: [u8; 32] = {
                use sha2::{Digest, Sha256};
                Sha256::digest(serde_json::to_vec(&item.context).unwrap_or_default()).into()
            };
            match s.states.get(&key) {
                Some(st) => Ok(st),
                None => {
                    let r = reward::state_before(&s.models, &tracker, &item.context, &ledger).await;
                    if let Ok(st) = &r {
                        s.states.insert(key, st.clone());
                    }
                    r
                }
            }
        }
    };
    let out = match before {
        Ok(before) => {
            reward::score(
                &tracker,
                &s.opts.reward,
                &item.context,
                &before,
                &item.response,
                &ledger,
            )
            .await
        }
        Err(e) => Scored {
            reward: None,
            conditions: Default::default(),
            format_ok: reward::score_layout_ok(&item.response),
            error: Some(e),
        },
    };
    s.scored.fetch_add(1, Ordering::Relaxed);
    out
}

/// The items of a `/v1/ugst/score` body, each checked, or the first problem (public for the
/// fuzz target).
pub fn parse_items(body: &Value) -> Result<Vec<(String, Item)>, String> {
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or("the body needs \"items\": [{\"id\", \"context\", \"response\"}, ...]")?;
    if items.is_empty() {
        return Err("\"items\" is empty".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let id = match it.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("items[{i}].id: give a string")),
            };
            let response = it
                .get("response")
                .and_then(Value::as_str)
                .ok_or(format!(
                    "items[{i}].response: give the candidate turn as a string"
                ))?
                .to_string();
            let context: Context = serde_json::from_value(
                it.get("context")
                    .cloned()
                    .ok_or(format!("items[{i}].context is missing"))?,
            )
            .map_err(|e| format!("items[{i}].context: {e}"))?;
            context
                .check()
                .map_err(|e| format!("items[{i}].context.{e}"))?;
            Ok((id, Item { context, response }))
        })
        .collect()
}

async fn score(State(s): State<AppState>, body: Result<Json<Value>, JsonRejection>) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let items = match parse_items(&body) {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let _room = match admit(
        &s,
        items.iter().map(|(id, it)| (format!("item {id:?}"), it)),
    ) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let results = futures::future::join_all(items.iter().map(|(id, item)| {
        let s = &s;
        async move {
            let r = score_item(s, item).await;
            json!({"id": id, "reward": r.reward, "conditions": r.conditions,
                   "format_ok": r.format_ok, "error": r.error})
        }
    }))
    .await;
    Json(json!({ "results": results })).into_response()
}

/// End-of-turn markers a trainer may leave at the end of a decoded response (OpenRLHF decodes
/// with special tokens kept): ChatML/Qwen, Llama 3, Gemma, Phi, SentencePiece.
const END_MARKERS: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "</s>",
];

/// The response without trailing end-of-turn markers (and the whitespace around them).
fn without_end_markers(mut s: &str) -> &str {
    loop {
        let t = s.trim_end();
        match END_MARKERS.iter().find_map(|m| t.strip_suffix(m)) {
            Some(rest) => s = rest,
            None => return t,
        }
    }
}

fn strings<'a>(body: &'a Value, key: &str) -> Result<Vec<&'a str>, String> {
    body.get(key)
        .and_then(Value::as_array)
        .ok_or(format!("\"{key}\" must be an array of strings"))?
        .iter()
        .enumerate()
        .map(|(i, v)| v.as_str().ok_or(format!("{key}[{i}] is not a string")))
        .collect()
}

async fn openrlhf(State(s): State<AppState>, body: Result<Json<Value>, JsonRejection>) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return rejected(e),
    };
    let parsed = (|| -> Result<Vec<Item>, String> {
        let (query, prompts, labels) = (
            strings(&body, "query")?,
            strings(&body, "prompts")?,
            strings(&body, "labels")?,
        );
        if query.len() != prompts.len() || query.len() != labels.len() {
            return Err(format!(
                "query, prompts and labels must have one entry each per sample ({}, {}, {})",
                query.len(),
                prompts.len(),
                labels.len()
            ));
        }
        query
            .iter()
            .zip(&prompts)
            .zip(&labels)
            .enumerate()
            .map(|(i, ((q, p), l))| {
                let response = without_end_markers(q.strip_prefix(p).unwrap_or(q)).to_string();
                let context: Context = serde_json::from_str(l)
                    .map_err(|e| format!("labels[{i}]: not a ugst_context JSON string: {e}"))?;
                context
                    .check()
                    .map_err(|e| format!("labels[{i}].context.{e}"))?;
                Ok(Item { context, response })
            })
            .collect()
    })();
    let items = match parsed {
        Ok(i) => i,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let labelled = items
        .iter()
        .enumerate()
        .map(|(i, it)| (format!("query[{i}]"), it));
    let _room = match admit(&s, labelled) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let scored = futures::future::join_all(items.iter().map(|it| score_item(&s, it))).await;
    // OpenRLHF takes numbers only: a judge outage must not become reward 0 and be learnt from.
    // The batch is refused (503 with Retry-After, the reasons named) so the trainer retries it.
    let failures: Vec<String> = scored
        .iter()
        .enumerate()
        .filter(|(_, r)| r.reward.is_none())
        .map(|(i, r)| format!("query[{i}]: {}", r.error.as_deref().unwrap_or("no reward")))
        .collect();
    if !failures.is_empty() {
        let mut resp = error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the judge failed on {} of {} item(s), so no rewards are given for this batch (retry it): {}",
                failures.len(),
                scored.len(),
                failures.join("; ")
            ),
        );
        resp.headers_mut().insert("retry-after", 5.into());
        return resp;
    }
    let rewards: Vec<f64> = scored.iter().filter_map(|r| r.reward).collect();
    let format_ok: Vec<bool> = scored.iter().map(|r| r.format_ok).collect();
    let failed = 0;
    Json(json!({
        "rewards": rewards,
        "scores": rewards,
        "extra_logs": {"format_ok": format_ok, "judge_failed": failed},
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::without_end_markers;

    #[test]
    fn end_of_turn_markers_are_taken_off_the_response() {
        assert_eq!(without_end_markers("Hi there.<|im_end|>"), "Hi there.");
        assert_eq!(without_end_markers("Hi.<|eot_id|>\n"), "Hi.");
        assert_eq!(without_end_markers("Hi. <|im_end|><|endoftext|>"), "Hi.");
        assert_eq!(without_end_markers("Hi.</s>"), "Hi.");
        // Only at the end: a marker inside the text is the model's words.
        assert_eq!(without_end_markers("a <|im_end|> b"), "a <|im_end|> b");
        assert_eq!(without_end_markers("plain"), "plain");
    }
}
