//! An OpenAI-compatible chat-completions server backed by the built-in mock model. It can inject
//! faults at a configurable rate (HTTP 500 and 429 with `Retry-After`), so runs can be tested
//! against a flaky endpoint on localhost.

use crate::mock;
use crate::prompts::STOP;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use ugst_llm::{ChatRequest, JsonSchemaSpec, Message, Role, ToolSpec, UserSimulation};

/// Which faults to inject and how often.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of requests answered with an error (half 500, half 429).
    pub error_rate: f64,
    /// `Retry-After` seconds sent with 429s.
    pub retry_after_s: u32,
    /// Delay before every answer, in milliseconds (imitates a served model).
    pub latency_ms: u64,
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            retry_after_s: 0,
            latency_ms: 0,
            seed: 0,
        }
    }
}

#[derive(Clone)]
struct AppState {
    faults: Faults,
    rng: Arc<Mutex<StdRng>>,
    requests: Arc<AtomicU64>,
    injected: Arc<AtomicU64>,
}

pub fn router(faults: Faults) -> Router {
    let state = AppState {
        rng: Arc::new(Mutex::new(StdRng::seed_from_u64(faults.seed))),
        faults,
        requests: Arc::default(),
        injected: Arc::default(),
    };
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route(
            "/v1/models",
            get(|| async {
                Json(json!({"object": "list", "data": [{"id": "mock", "object": "model"}]}))
            }),
        )
        .route("/stats", get(stats))
        .with_state(state)
}

async fn stats(State(s): State<AppState>) -> Json<Value> {
    Json(
        json!({"requests": s.requests.load(Ordering::Relaxed), "injected_errors": s.injected.load(Ordering::Relaxed)}),
    )
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"message": msg, "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// A chat API client sends a user simulation with flipped roles (see
/// [`ChatRequest::wire_messages`]); the mock recognises it by the stop signal in the system message
/// and turns it back into a [`UserSimulation`] request.
fn unflip_simulator(mut messages: Vec<Message>) -> ChatRequest {
    let is_sim = messages
        .first()
        .is_some_and(|m| m.role == Role::System && m.content_str().contains(STOP));
    if !is_sim || messages.len() < 2 {
        return ChatRequest::new(messages);
    }
    let rest = messages.split_off(2);
    let sim = UserSimulation {
        instructions: messages[0].content_str().to_string(),
        opening: messages[1].content_str().to_string(),
        note: None,
    };
    let history = rest
        .into_iter()
        .map(|m| Message {
            role: m.role.flipped(),
            ..m
        })
        .collect();
    ChatRequest::user_simulation(sim, history)
}

/// Turns an OpenAI request body into a [`ChatRequest`].
pub fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    let messages: Vec<Message> =
        serde_json::from_value(body.get("messages").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("messages: {e}"))?;
    let mut req = unflip_simulator(messages);
    if let Some(rf) = body
        .get("response_format")
        .filter(|v| v["type"] == "json_schema")
    {
        let js = &rf["json_schema"];
        req.schema = Some(JsonSchemaSpec {
            name: js["name"].as_str().unwrap_or("answer").to_string(),
            schema: js["schema"].clone(),
        });
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        for t in tools {
            let f = &t["function"];
            req.tools.push(ToolSpec {
                name: f["name"]
                    .as_str()
                    .ok_or("tools[].function.name missing")?
                    .to_string(),
                description: f["description"].as_str().unwrap_or("").to_string(),
                parameters: f["parameters"].clone(),
            });
        }
    }
    Ok(req)
}

async fn chat(
    State(s): State<AppState>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return bad_request(e.body_text()),
    };
    if s.faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(s.faults.latency_ms)).await;
    }
    let fault = {
        let mut rng = s.rng.lock().unwrap_or_else(|p| p.into_inner());
        (rng.random::<f64>() < s.faults.error_rate).then(|| rng.random::<bool>())
    };
    if let Some(is_429) = fault {
        s.injected.fetch_add(1, Ordering::Relaxed);
        return if is_429 {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "injected: rate limited").into_response();
            r.headers_mut()
                .insert("retry-after", s.faults.retry_after_s.into());
            r
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "injected: server error").into_response()
        };
    }
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let resp = mock::respond(&req);
    let finish = if resp.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let mut message = json!({"role": "assistant", "content": resp.content});
    if !resp.tool_calls.is_empty() {
        message["tool_calls"] = json!(resp.tool_calls);
    }
    Json(json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "model": body.get("model").cloned().unwrap_or(json!("mock")),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": resp.usage.prompt_tokens, "completion_tokens": resp.usage.completion_tokens,
                  "total_tokens": resp.usage.prompt_tokens + resp.usage.completion_tokens},
    }))
    .into_response()
}

/// Serves until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, faults: Faults) -> std::io::Result<()> {
    axum::serve(listener, router(faults)).await
}
