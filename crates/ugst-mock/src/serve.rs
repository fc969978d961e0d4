//! An OpenAI-compatible chat-completions server backed by the built-in mock model. It injects
//! faults at configurable rates — HTTP 500, 429 with `Retry-After`, dropped connections, answers
//! slower than a client's timeout, empty content, content that is not the requested JSON, tool calls
//! naming unknown tools or with arguments that break the tool's schema — so runs can be tested
//! against a flaky endpoint on localhost. `GET /stats` counts requests and each injected fault.
//!
//! Two modes imitate today's reasoning models: `reasoning_model` answers as OpenAI documents for
//! its o-series and gpt-5 models (a 400 naming `max_tokens`, a `temperature` other than 1,
//! `top_p` or `logprobs`; `reasoning_tokens` in the usage), and `think` writes a thinking block
//! with braces and quotes before every text answer, as an open reasoning model served without a
//! reasoning parser does.

use crate::model as mock;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use ugst::model::STOP;
use ugst_llm::{
    ChatRequest, JsonSchemaSpec, Message, Role, ToolCall, ToolSpec, Usage, UserSimulation,
};

/// Which faults to inject and how often. Every rate is a share of requests (0–1); at most one
/// fault is drawn per request, so the rates must sum to at most 1.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of requests answered with an HTTP error (half 500, half 429).
    pub error_rate: f64,
    /// `Retry-After` seconds sent with 429s.
    pub retry_after_s: u32,
    /// Share of requests whose connection is closed before the answer is complete.
    pub drop_rate: f64,
    /// Share of requests answered only after `--slow-ms` (to exceed a client's timeout).
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of requests answered with empty content and no tool call.
    pub empty_rate: f64,
    /// Share of requests asking for JSON (a schema) answered with text that is not that JSON.
    pub garbage_rate: f64,
    /// Share of requests offering tools answered with a call to an unknown tool or with
    /// arguments that break the tool's schema.
    pub bad_tool_rate: f64,
    /// Delay before every answer, in milliseconds (imitates a served model).
    pub latency_ms: u64,
    /// Answer every request with a `response_format` with a 400, as servers without
    /// structured output do.
    pub refuse_response_format: bool,
    /// Answer as an OpenAI reasoning model: the documented 400s, reasoning tokens in the usage.
    pub reasoning_model: bool,
    /// Write a `<think>` block with braces before every text answer.
    pub think: bool,
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            retry_after_s: 0,
            drop_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 30_000,
            empty_rate: 0.0,
            garbage_rate: 0.0,
            bad_tool_rate: 0.0,
            latency_ms: 0,
            refuse_response_format: false,
            reasoning_model: false,
            think: false,
            seed: 0,
        }
    }
}

/// The kinds of fault, as named in `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    ServerError,
    RateLimited,
    Dropped,
    Slow,
    Empty,
    Garbage,
    BadTool,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::ServerError => "server_error",
            Fault::RateLimited => "rate_limited",
            Fault::Dropped => "dropped",
            Fault::Slow => "slow",
            Fault::Empty => "empty",
            Fault::Garbage => "garbage",
            Fault::BadTool => "bad_tool",
        }
    }
}

impl Faults {
    /// Checks every rate; the message names the flag to fix.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("--error-rate", self.error_rate),
            ("--drop-rate", self.drop_rate),
            ("--slow-rate", self.slow_rate),
            ("--empty-rate", self.empty_rate),
            ("--garbage-rate", self.garbage_rate),
            ("--bad-tool-rate", self.bad_tool_rate),
        ];
        for (flag, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{flag} must be between 0 and 1, not {r}"));
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "the fault rates add up to {sum}; they must add up to at most 1"
            ));
        }
        Ok(())
    }

    /// Draws at most one fault for a request; faults that do not apply to it (garbage without a
    /// schema, bad tool calls without tools) are drawn but not injected.
    fn draw(&self, rng: &mut StdRng, has_schema: bool, has_tools: bool) -> Option<Fault> {
        let u: f64 = rng.random();
        let mut edge = 0.0;
        let error_half = self.error_rate / 2.0;
        for (rate, f) in [
            (error_half, Fault::ServerError),
            (error_half, Fault::RateLimited),
            (self.drop_rate, Fault::Dropped),
            (self.slow_rate, Fault::Slow),
            (self.empty_rate, Fault::Empty),
            (self.garbage_rate, Fault::Garbage),
            (self.bad_tool_rate, Fault::BadTool),
        ] {
            edge += rate;
            if u < edge {
                return match f {
                    Fault::Garbage if !has_schema => None,
                    Fault::BadTool if !has_tools => None,
                    f => Some(f),
                };
            }
        }
        None
    }
}

#[derive(Clone)]
struct AppState {
    faults: Faults,
    rng: Arc<Mutex<StdRng>>,
    requests: Arc<AtomicU64>,
    injected: Arc<Mutex<BTreeMap<Fault, u64>>>,
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
    let injected = s.injected.lock().unwrap_or_else(|p| p.into_inner());
    let by_kind: serde_json::Map<String, Value> = injected
        .iter()
        .map(|(f, n)| (f.name().to_string(), json!(n)))
        .collect();
    Json(json!({
        "requests": s.requests.load(Ordering::Relaxed),
        "injected": injected.values().sum::<u64>(),
        "by_kind": by_kind,
    }))
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

/// Turns an OpenAI request body into a [`ChatRequest`]. A schema sent with `strict: true` is
/// held to OpenAI's strict-mode rules, as OpenAI does (a 400 naming the schema). A function
/// forced by `tool_choice` is taken as the request's schema (the `tools` way of asking for
/// structured output); [`forced_tool`] tells the answer to come back as that call.
pub fn parse_request(body: &Value) -> Result<ChatRequest, String> {
    // Content may come as a list of parts (the Agents SDK sends tool results so).
    let messages =
        ugst::serve::wire::flatten_content(body.get("messages").unwrap_or(&Value::Null))?;
    let messages: Vec<Message> =
        serde_json::from_value(messages).map_err(|e| format!("messages: {e}"))?;
    let mut req = unflip_simulator(messages);
    if let Some(rf) = body
        .get("response_format")
        .filter(|v| v["type"] == "json_schema")
    {
        let js = &rf["json_schema"];
        let name = js["name"].as_str().unwrap_or("answer").to_string();
        if js["strict"] == json!(true) {
            let problems = ugst_llm::strict_violations(&js["schema"]);
            if !problems.is_empty() {
                return Err(format!(
                    "Invalid schema for response_format '{name}': {}",
                    problems.join("; ")
                ));
            }
        }
        req.schema = Some(JsonSchemaSpec {
            name,
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
    if let Some(name) = forced_tool(body) {
        let i = req
            .tools
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| format!("tool_choice names {name:?}, which is not in tools"))?;
        let t = req.tools.remove(i);
        req.schema = Some(JsonSchemaSpec {
            name: t.name,
            schema: t.parameters,
        });
    }
    Ok(req)
}

/// The function `tool_choice` forces, if any.
pub fn forced_tool(body: &Value) -> Option<String> {
    body["tool_choice"]["function"]["name"]
        .as_str()
        .map(str::to_string)
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
    if s.faults.refuse_response_format && body.get("response_format").is_some() {
        return bad_request("response_format is not supported by this server".into());
    }
    if s.faults.reasoning_model {
        if let Some(refusal) = reasoning_refusal(&body) {
            return refusal;
        }
    }
    let req = match parse_request(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let fault = {
        let mut rng = s.rng.lock().unwrap_or_else(|p| p.into_inner());
        s.faults
            .draw(&mut rng, req.schema.is_some(), !req.tools.is_empty())
    };
    if let Some(f) = fault {
        *s.injected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(f)
            .or_default() += 1;
    }
    match fault {
        Some(Fault::RateLimited) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "injected: rate limited").into_response();
            r.headers_mut()
                .insert("retry-after", s.faults.retry_after_s.into());
            return r;
        }
        Some(Fault::ServerError) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "injected: server error").into_response()
        }
        Some(Fault::Dropped) => return dropped(),
        Some(Fault::Slow) => {
            tokio::time::sleep(std::time::Duration::from_millis(s.faults.slow_ms)).await
        }
        _ => {}
    }
    let mut resp = mock::respond(&req);
    match fault {
        Some(Fault::Empty) => {
            resp.content = Some(String::new());
            resp.tool_calls.clear();
        }
        Some(Fault::Garbage) => {
            resp.content = Some("Sure! Here is what you asked for: {\"status\": ".into());
            resp.tool_calls.clear();
        }
        Some(Fault::BadTool) => {
            let n = s
                .injected
                .lock()
                .map(|m| m.values().sum::<u64>())
                .unwrap_or(0);
            let call = if n % 2 == 0 {
                ToolCall::new("call_bad", "launch_rocket", "{}")
            } else {
                // A real tool, with arguments that are not even a JSON object.
                ToolCall::new("call_bad", req.tools[0].name.clone(), "[1, 2")
            };
            resp.content = None;
            resp.tool_calls = vec![call];
        }
        _ => {}
    }
    if let Some(name) = forced_tool(&body) {
        // The structured answer goes back as the forced call's arguments.
        if let Some(args) = resp.content.take() {
            resp.tool_calls = vec![ToolCall::new("call_answer", name, args)];
        }
    }
    if s.faults.think {
        if let Some(text) = resp.content.take() {
            resp.content = Some(format!("<think>\n{THOUGHT}\n</think>\n\n{text}"));
        }
    }
    let finish = if resp.tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    // A reasoning model thinks before it answers, and bills the thinking as completion tokens.
    let reasoning_tokens = if s.faults.reasoning_model { 64 } else { 0 };
    resp.usage.completion_tokens += reasoning_tokens;
    let mut message = json!({"role": "assistant", "content": resp.content});
    if !resp.tool_calls.is_empty() {
        message["tool_calls"] = json!(resp.tool_calls);
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        return streamed(&body, message, finish, &resp.usage);
    }
    Json(json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "model": body.get("model").cloned().unwrap_or(json!("mock")),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": resp.usage.prompt_tokens, "completion_tokens": resp.usage.completion_tokens,
                  "total_tokens": resp.usage.prompt_tokens + resp.usage.completion_tokens,
                  "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}},
    }))
    .into_response()
}

/// The answer as server-sent events, as a client asking `stream: true` expects (review
/// finding 17: the mock answered JSON): the message as one delta (tool calls with their
/// index), the finish reason, the usage when `stream_options.include_usage` asks, `[DONE]`.
fn streamed(body: &Value, message: Value, finish: &str, usage: &Usage) -> Response {
    let chunk = |choices: Value| {
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
               "model": body.get("model").cloned().unwrap_or(json!("mock")), "choices": choices})
    };
    let mut delta = message;
    if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
        for (i, c) in calls.iter_mut().enumerate() {
            c["index"] = json!(i);
        }
    }
    let mut events = vec![
        chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}])),
        chunk(json!([{"index": 0, "delta": {}, "finish_reason": finish}])),
    ];
    if body["stream_options"]["include_usage"].as_bool() == Some(true) {
        let mut last = chunk(json!([]));
        last["usage"] = json!({"prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens});
        events.push(last);
    }
    ugst::serve::wire::event_stream(&events)
}

/// What `think` mode writes before an answer: braces, a whole JSON object and quotes, which
/// break a reader that takes the first `{` to the last `}`, and words a user must never see.
pub const THOUGHT: &str =
    "The user wants {something}; maybe {\"status\": \"COMPLETE\"}? I will not \
     say \"PRIVATE-THOUGHT\" out loud.";

/// The 400 OpenAI answers a reasoning model's request with, when it sends a field such a model
/// refuses: the wording, `param` and `code` of its documented errors.
fn reasoning_refusal(body: &Value) -> Option<Response> {
    let refuse = |param: &str, code: &str, message: String| {
        let err = json!({"error": {"message": message, "type": "invalid_request_error",
                                   "param": param, "code": code}});
        Some((StatusCode::BAD_REQUEST, Json(err)).into_response())
    };
    if body.get("max_tokens").is_some() {
        return refuse(
            "max_tokens",
            "unsupported_parameter",
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use \
             'max_completion_tokens' instead."
                .into(),
        );
    }
    if let Some(t) = body.get("temperature").and_then(Value::as_f64) {
        if t != 1.0 {
            return refuse(
                "temperature",
                "unsupported_value",
                format!(
                    "Unsupported value: 'temperature' does not support {t} with this model. \
                     Only the default (1) value is supported."
                ),
            );
        }
    }
    for field in ["top_p", "logprobs", "top_logprobs"] {
        if body.get(field).is_some() {
            return refuse(
                field,
                "unsupported_parameter",
                format!("Unsupported parameter: '{field}' is not supported with this model."),
            );
        }
    }
    None
}

/// A 200 whose body breaks off: the server closes the connection before the promised bytes.
fn dropped() -> Response {
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
        Ok("{\"id\": \"chatcmpl-mock\", \"choi"),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected: connection dropped",
        )),
    ];
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("content-length", "4096")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("a valid response")
}

/// Serves until the process ends (the tests' in-process mock).
pub async fn serve(listener: tokio::net::TcpListener, faults: Faults) -> std::io::Result<()> {
    axum::serve(listener, router(faults)).await
}

/// `ugst serve mock`: serves as the other servers do (timeouts, connection cap, optional key,
/// a log line per request) until SIGTERM or SIGINT, then drains.
pub async fn serve_exposed(
    listener: tokio::net::TcpListener,
    faults: Faults,
    exposure: &ugst::serve::Exposure,
) -> std::io::Result<()> {
    ugst::serve::http::serve(
        listener,
        router(faults),
        exposure,
        ugst::serve::http::shutdown_signal(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_given_as_parts_is_read_in_every_role() {
        // The OpenAI Agents SDK sends a tool's result as a list of parts.
        let body = serde_json::json!({"messages": [
            {"role": "user", "content": [{"type": "text", "text": "my order"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
                "function": {"name": "get_order_details", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "{\"status\": \"pending\"}"}]}]});
        let req = parse_request(&body).unwrap();
        assert_eq!(req.messages[0].content_str(), "my order");
        assert_eq!(req.messages[2].content_str(), "{\"status\": \"pending\"}");
        let bad = serde_json::json!({"messages": [{"role": "tool", "content": [7]}]});
        assert!(parse_request(&bad)
            .unwrap_err()
            .contains("messages[0].content[0]"));
    }
}
