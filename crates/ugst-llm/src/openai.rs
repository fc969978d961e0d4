//! OpenAI-compatible chat-completions backend (vLLM, SGLang, llama.cpp server, Ollama, OpenAI).
//!
//! Retries connect errors, timeouts, 429 (honouring `Retry-After`) and 5xx with exponential backoff
//! and jitter. The API key is read once from the environment variable the config names and is only
//! ever placed in the `Authorization` header: it is never logged, stored or put in an error message.
//!
//! A request that offers answers to rank ([`ChatRequest::score`]) also asks for the tokens'
//! log-probabilities (`logprobs`, `top_logprobs`) unless `rank_answers` is off; the answer keeps
//! its written text and gets each offered answer's score from them ([`crate::ranking`]). A server
//! that returns none, or refuses the parameter, leaves the written answer, with one warning per
//! backend.

use crate::params::{refused_field, Refusal, TokenLimit, WireParams};
use crate::ranking::{candidate_scores, parse_logprobs, Position, Unranked};
use crate::structured::{schema_instruction, strict_schema, Structured};
use crate::{Backend, CallStats, ChatRequest, ChatResponse, LlmError, Message, ToolCall, Usage};
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How the HTTP backend retries.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` we are willing to wait.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// Settings of one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key, if the endpoint needs one.
    pub api_key_env: Option<String>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// How schemas are sent (see [`Structured`]); `None` picks [`Structured::default_for`].
    pub structured: Option<Structured>,
    /// What identifies the served weights when the name does not (a checkpoint step, a hash):
    /// part of the cache key, so a retrained model under the same name is not answered from
    /// the old one's cache.
    pub revision: Option<String>,
    /// Whether offered answers ([`ChatRequest::score`]) are ranked from the server's token
    /// logprobs: `None` ranks when the server returns them (one warning when it returns none),
    /// `Some(true)` also warns when an answer's logprobs cannot rank them, `Some(false)` never
    /// asks for logprobs (the written answer counts as certain).
    pub rank_answers: Option<bool>,
    /// How many likeliest tokens per position the server lists when ranking (`top_logprobs`);
    /// see [`OpenAiConfig::DEFAULT_TOP_LOGPROBS`].
    pub top_logprobs: u32,
    /// The token-limit field's name, fields left out, `reasoning_effort`, `extra_body`.
    pub params: WireParams,
}

impl OpenAiConfig {
    /// OpenAI's largest `top_logprobs`; vLLM, SGLang and llama.cpp's servers take it too. The
    /// more tokens listed, the fewer offered answers fall to the floor for missing ones.
    pub const DEFAULT_TOP_LOGPROBS: u32 = 20;
}

pub struct OpenAiBackend {
    cfg: OpenAiConfig,
    /// How schemas are sent now: the configured mode, or the default until the server refuses
    /// it (then JSON mode, once, with a warning).
    structured: std::sync::Mutex<Structured>,
    url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    /// What the server said about the model at the preflight (`GET /models`), for the cache key.
    reported: std::sync::OnceLock<String>,
    /// The server refused the `logprobs` parameter: later calls go without it.
    logprobs_refused: AtomicBool,
    /// One warning each per backend: no logprobs came back; logprobs that could not rank (only
    /// with `rank_answers = true`); tools mode, which asks for none.
    warned_no_logprobs: AtomicBool,
    warned_unranked: AtomicBool,
    warned_tools: AtomicBool,
    /// The token-limit field's name now: configured or picked, until the server refuses it.
    limit: std::sync::Mutex<TokenLimit>,
    /// Fields left out now: configured or picked by model name, plus those the server refused
    /// (each refusal warned about once).
    dropped: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for OpenAiBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is deliberately left out.
        f.debug_struct("OpenAiBackend")
            .field("url", &self.url)
            .field("model", &self.cfg.model)
            .finish()
    }
}

enum Attempt {
    Done(ChatResponse),
    /// The server refused the `logprobs` parameter (the body's start, for the warning).
    LogprobsRefused(String),
    /// The server refused another field of the request (what to change, the body's start).
    FieldRefused(Refusal, String),
    Retry {
        err: LlmError,
        after: Option<Duration>,
    },
    Fail(LlmError),
}

impl OpenAiBackend {
    pub fn new(cfg: OpenAiConfig) -> Result<Self, LlmError> {
        let base = cfg.base_url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|e| {
            LlmError::Config(format!(
                "base_url {:?} is not a URL ({e}); write it like http://127.0.0.1:8000/v1",
                cfg.base_url
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!(
                "base_url {:?} must start with http:// or https://",
                cfg.base_url
            )));
        }
        let api_key = match &cfg.api_key_env {
            None => None,
            Some(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(v),
                _ => {
                    return Err(LlmError::Config(format!(
                        "the environment variable {var} (api_key_env) is not set; export it or remove api_key_env"
                    )))
                }
            },
        };
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(OpenAiBackend {
            limit: std::sync::Mutex::new(cfg.params.token_limit(base, &cfg.model)),
            dropped: std::sync::Mutex::new(cfg.params.dropped(&cfg.model)),
            url: format!("{base}/chat/completions"),
            structured: std::sync::Mutex::new(
                cfg.structured
                    .unwrap_or_else(|| Structured::default_for(base)),
            ),
            cfg,
            api_key,
            http,
            reported: std::sync::OnceLock::new(),
            logprobs_refused: AtomicBool::new(false),
            warned_no_logprobs: AtomicBool::new(false),
            warned_unranked: AtomicBool::new(false),
            warned_tools: AtomicBool::new(false),
        })
    }

    /// Whether the body for `req` asks for logprobs: it offers answers to rank, ranking is not
    /// off, the server has not refused the parameter, and the answer is written as text (in
    /// tools mode it comes as a call's arguments, which logprobs do not describe).
    fn asks_logprobs(&self, req: &ChatRequest, mode: Structured) -> bool {
        !req.score.is_empty()
            && self.cfg.rank_answers != Some(false)
            && mode != Structured::Tools
            && !self.logprobs_refused.load(Ordering::Relaxed)
            && !self
                .dropped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|f| f == "logprobs")
    }

    /// The fields left out of requests now.
    fn dropped_now(&self) -> Vec<String> {
        self.dropped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn limit_now(&self) -> TokenLimit {
        *self.limit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a refusal into the backend's later requests, warning with the config line that
    /// says so the first time (calls in flight may bring the same refusal again).
    fn take_refusal(&self, refusal: &Refusal, detail: &str) {
        let table = match self.cfg.params.table.as_str() {
            "" => "this model's [models.NAME] table".to_string(),
            t => format!("[models.{t}]"),
        };
        let line = match refusal {
            Refusal::TokenLimit(next) => {
                let mut now = self.limit.lock().unwrap_or_else(|p| p.into_inner());
                if *now == *next {
                    return;
                }
                *now = *next;
                format!("token_limit = \"{}\"", next.field())
            }
            Refusal::Drop(field) => {
                let mut now = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
                if now.contains(field) {
                    return;
                }
                now.push(field.clone());
                format!("drop_params = {:?}", now)
            }
        };
        tracing::warn!(
            "{}: model {:?} refuses part of the request ({}); asking again without it, and so \
             from now on. Add `{line}` to {table} to say so",
            self.id(),
            self.cfg.model,
            self.redact(detail.to_string()),
        );
    }

    /// `resp` with the offered answers' scores from its logprobs, when they can rank them;
    /// otherwise as written, with a warning (once per backend) or a debug line saying why.
    fn with_scores(
        &self,
        req: &ChatRequest,
        mut resp: ChatResponse,
        logprobs: Option<Vec<Position>>,
    ) -> ChatResponse {
        let ranked = match logprobs {
            Some(p) => candidate_scores(&req.score, &p),
            None => Err(Unranked::NoLogprobs),
        };
        match ranked {
            Ok(scores) => resp.scores = scores,
            Err(Unranked::NoLogprobs) => {
                if !self.warned_no_logprobs.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "{}: the server returned no logprobs for model {:?}, so the tracker's \
                         checks fall back to written answers (each counted as certain); set \
                         rank_answers = false for this model to stop asking and silence this",
                        self.id(),
                        self.cfg.model
                    );
                }
            }
            Err(why) => {
                if self.cfg.rank_answers == Some(true)
                    && !self.warned_unranked.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        "{}: cannot rank the offered answers from the logprobs of model {:?} \
                         ({why}); such checks use the written answer (later cases are logged at \
                         debug level)",
                        self.id(),
                        self.cfg.model
                    );
                } else {
                    tracing::debug!(backend = %self.id(), reason = %why, "answer not ranked, the written one counts");
                }
            }
        }
        resp
    }

    /// How this backend sends schemas now.
    pub fn structured(&self) -> Structured {
        *self.structured.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The JSON body sent for `req`.
    pub fn body(&self, req: &ChatRequest) -> Value {
        self.body_for(req, self.structured())
    }

    fn body_for(&self, req: &ChatRequest, mode: Structured) -> Value {
        let mut messages = req.wire_messages();
        for m in &mut messages {
            // An assistant turn that only calls tools has no text. OpenAI takes null there;
            // llama-cpp-python's server takes only a string, and "" means the same to both.
            if m.content.is_none() {
                m.content = Some(String::new());
            }
        }
        if let (Some(schema), Structured::JsonObject) = (&req.schema, mode) {
            // JSON mode constrains the syntax only: the schema itself goes into the prompt.
            let ask = schema_instruction(&schema.schema);
            match messages.last_mut() {
                Some(last) if last.role == crate::Role::User => {
                    last.content = Some(format!("{}\n\n{ask}", last.content_str()));
                }
                _ => messages.push(Message::user(ask)),
            }
        }
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
        });
        let s = &req.sampling;
        if let Some(t) = s.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(p) = s.top_p {
            body["top_p"] = json!(p);
        }
        if let Some(m) = s.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if let Some(seed) = s.seed {
            body["seed"] = json!(seed);
        }
        if self.asks_logprobs(req, mode) {
            body["logprobs"] = json!(true);
            body["top_logprobs"] = json!(self.cfg.top_logprobs);
        }
        if !req.tools.is_empty() {
            body["tools"] = Value::Array(req.tools.iter().map(|t| t.to_openai()).collect());
        }
        let dropped = self.dropped_now();
        if let Some(schema) = &req.schema {
            match mode {
                Structured::Strict => {
                    body["response_format"] = json!({"type": "json_schema", "json_schema": {
                        "name": schema.name, "schema": strict_schema(&schema.schema), "strict": true}});
                }
                Structured::JsonSchema => {
                    body["response_format"] = json!({"type": "json_schema", "json_schema": {
                        "name": schema.name, "schema": schema.schema, "strict": false}});
                }
                Structured::JsonObject => {
                    // The schema is in the prompt; llama-cpp-python's server also constrains
                    // decoding by `response_format.schema` (its only way to take a schema).
                    body["response_format"] =
                        json!({"type": "json_object", "schema": schema.schema});
                }
                Structured::Tools => {
                    let tool = json!({"type": "function", "function": {
                        "name": schema.name,
                        "description": "Give the answer as this function's arguments.",
                        "parameters": schema.schema}});
                    body["tools"] = json!([tool]);
                    body["tool_choice"] =
                        json!({"type": "function", "function": {"name": schema.name}});
                }
            }
        }
        self.cfg.params.shape(&mut body, self.limit_now(), &dropped);
        body
    }

    /// The answer as the request expects it: in tools mode the structured answer arrives as
    /// the forced call's arguments; tool calls a server left in the text are taken out of it.
    fn unwrap_answer(
        &self,
        req: &ChatRequest,
        mode: Structured,
        mut resp: ChatResponse,
    ) -> ChatResponse {
        if resp.tool_calls.is_empty() && !req.tools.is_empty() {
            if let Some((calls, rest)) = text_tool_calls(resp.content_str(), &req.tools) {
                resp.tool_calls = calls;
                resp.content = (!rest.is_empty()).then_some(rest);
            }
        }
        if let (Some(schema), Structured::Tools) = (&req.schema, mode) {
            let pos = resp
                .tool_calls
                .iter()
                .position(|c| c.function.name == schema.name)
                .or_else(|| (!resp.tool_calls.is_empty()).then_some(0));
            if let Some(i) = pos {
                let call = resp.tool_calls.remove(i);
                resp.content = Some(call.function.arguments);
                resp.tool_calls.clear();
            }
        }
        resp
    }

    async fn attempt(
        &self,
        req: &ChatRequest,
        body: &Value,
        mode: Structured,
        attempts: u32,
    ) -> Attempt {
        let mut rb = self.http.post(&self.url).json(body);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key);
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    err: self.transport_error(&e, attempts),
                    after: None,
                }
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => {
                return Attempt::Retry {
                    err: self.transport_error(&e, attempts),
                    after: None,
                }
            }
        };
        // A server that does not take `logprobs` says so by name (llama-cpp-python without
        // logits_all answers a 500); asking again would be refused alike.
        let asked = body.get("logprobs").is_some();
        if asked
            && matches!(status.as_u16(), 400 | 422 | 500)
            && text.to_ascii_lowercase().contains("logprob")
        {
            return Attempt::LogprobsRefused(snippet(&text));
        }
        if let Some(schema) = &req.schema {
            // The server refuses the structured-output request itself; a retry would be
            // refused alike, and every structured call after it too. Some servers answer a
            // response_format they do not know with a 500 (llama-cpp-python) or 422.
            let refused = match status.as_u16() {
                400 => names_structured_output(&text, &schema.name),
                422 | 500 => text.contains("response_format"),
                _ => false,
            };
            if refused {
                return Attempt::Fail(LlmError::SchemaRejected {
                    backend: self.id(),
                    model: self.cfg.model.clone(),
                    schema: schema.name.clone(),
                    structured: mode.as_str(),
                    body: snippet(&text),
                });
            }
        }
        // A field this model does not take (a reasoning model's temperature, the token limit
        // under its other name): asked again without it.
        if let Some(refusal) = refused_field(status.as_u16(), &text, body) {
            return Attempt::FieldRefused(refusal, snippet(&text));
        }
        if !status.is_success() {
            let err = LlmError::Http {
                backend: self.id(),
                status: status.as_u16(),
                attempts,
                body: snippet(&text),
            };
            return if status.as_u16() == 429 || status.is_server_error() {
                Attempt::Retry {
                    err,
                    after: retry_after,
                }
            } else {
                Attempt::Fail(err)
            };
        }
        match parse_completion_logprobs(&text) {
            Ok((r, logprobs)) => {
                let r = self.unwrap_answer(req, mode, r);
                Attempt::Done(if asked {
                    self.with_scores(req, r, logprobs)
                } else {
                    r
                })
            }
            // A truncated or garbled 200 body is usually a proxy hiccup: worth another try.
            Err(detail) => Attempt::Retry {
                err: LlmError::BadResponse {
                    backend: self.id(),
                    detail,
                },
                after: None,
            },
        }
    }

    /// Server text in an error (a body, a transport detail) may repeat the request's headers;
    /// the key never leaves this backend, so it is cut out of every error before it is returned.
    fn scrub(&self, e: LlmError) -> LlmError {
        let clean = |s: String| self.redact(s);
        match e {
            LlmError::Http {
                backend,
                status,
                attempts,
                body,
            } => LlmError::Http {
                backend,
                status,
                attempts,
                body: clean(body),
            },
            LlmError::Unreachable {
                backend,
                attempts,
                detail,
            } => LlmError::Unreachable {
                backend,
                attempts,
                detail: clean(detail),
            },
            LlmError::BadResponse { backend, detail } => LlmError::BadResponse {
                backend,
                detail: clean(detail),
            },
            LlmError::SchemaRejected {
                backend,
                model,
                schema,
                structured,
                body,
            } => LlmError::SchemaRejected {
                backend,
                model,
                schema,
                structured,
                body: clean(body),
            },
            LlmError::InvalidOutput {
                backend,
                reason,
                raw,
            } => LlmError::InvalidOutput {
                backend,
                reason: clean(reason),
                raw: clean(raw),
            },
            LlmError::Backend { backend, detail } => LlmError::Backend {
                backend,
                detail: clean(detail),
            },
            LlmError::Config(m) => LlmError::Config(clean(m)),
            LlmError::Cache(m) => LlmError::Cache(clean(m)),
            e @ (LlmError::Timeout { .. } | LlmError::BudgetSpent { .. }) => e,
        }
    }

    /// `s` without the API key (server text that goes into a warning).
    fn redact(&self, s: String) -> String {
        match self.api_key.as_deref().filter(|k| !k.is_empty()) {
            Some(key) => s.replace(key, "[redacted]"),
            None => s,
        }
    }

    fn transport_error(&self, e: &reqwest::Error, attempts: u32) -> LlmError {
        transport_error(self.id(), self.cfg.timeout, e, attempts)
    }
}

/// A request that got no answer: a timeout, or the endpoint unreachable with the error chain's
/// text (reqwest never includes request headers in it).
pub(crate) fn transport_error(
    backend: String,
    timeout: Duration,
    e: &reqwest::Error,
    attempts: u32,
) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout {
            backend,
            timeout,
            attempts,
        };
    }
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    LlmError::Unreachable {
        backend,
        attempts,
        detail,
    }
}

#[async_trait]
impl Backend for OpenAiBackend {
    fn id(&self) -> String {
        format!(
            "openai:{}",
            redact_url(self.cfg.base_url.trim_end_matches('/'))
        )
    }

    fn model(&self) -> String {
        self.cfg.model.clone()
    }

    /// The endpoint and model name, the configured `revision`, and what the server reported
    /// about the model at the preflight (its `/models` entry without volatile fields).
    fn identity(&self) -> String {
        let mut id = format!("{}|{}", self.id(), self.cfg.model);
        if let Some(r) = &self.cfg.revision {
            id.push_str(&format!("|revision={r}"));
        }
        // Settings that change answers; none set keeps the key earlier versions used.
        let p = &self.cfg.params;
        if let Some(e) = &p.reasoning_effort {
            id.push_str(&format!("|reasoning_effort={e}"));
        }
        if !p.extra_body.is_empty() {
            let extra = crate::sorted_keys(Value::Object(p.extra_body.clone()));
            id.push_str(&format!("|extra_body={extra}"));
        }
        if let Some(r) = self.reported.get() {
            id.push_str(&format!("|served={r}"));
        }
        id
    }

    /// Answers to offered candidates are ranked unless `rank_answers` is off, so such requests
    /// are cached apart from the written answers of the same request with ranking off (and of
    /// earlier versions, which never ranked); every other request keeps its key.
    fn cache_identity(&self, req: &ChatRequest) -> String {
        if req.score.is_empty() || self.cfg.rank_answers == Some(false) {
            self.identity()
        } else {
            format!(
                "{}|ranked:top_logprobs={}",
                self.identity(),
                self.cfg.top_logprobs
            )
        }
    }

    async fn complete(
        &self,
        req: &ChatRequest,
        stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError> {
        let mut mode = self.structured();
        if mode == Structured::Tools
            && !req.score.is_empty()
            && self.cfg.rank_answers == Some(true)
            && !self.warned_tools.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "{}: with structured = \"tools\" answers come as function arguments, which \
                 logprobs do not describe, so model {:?} cannot rank the tracker's answers: its \
                 written answers count (set rank_answers = false to say so)",
                self.id(),
                self.cfg.model
            );
        }
        let mut body = self.body_for(req, mode);
        let p = &self.cfg.retry;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(p.min_delay)
            .with_max_delay(p.max_delay)
            .with_max_times(p.max_retries as usize)
            .with_jitter()
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(req, &body, mode, attempts).await {
                Attempt::Done(r) => return Ok(r),
                // Asked again without it, once: the flag keeps it out of every later body.
                Attempt::LogprobsRefused(detail) => {
                    if !self.logprobs_refused.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "{}: the server refuses the logprobs parameter ({}); asking without \
                             it, so the tracker's checks fall back to written answers (set \
                             rank_answers = false for model {:?} to say so)",
                            self.id(),
                            self.redact(detail),
                            self.cfg.model
                        );
                    }
                    body = self.body_for(req, mode);
                }
                Attempt::FieldRefused(refusal, detail) => {
                    self.take_refusal(&refusal, &detail);
                    let next = self.body_for(req, mode);
                    // A refusal that changes nothing (nothing left to take out) is final.
                    if next == body {
                        return Err(self.scrub(LlmError::Http {
                            backend: self.id(),
                            status: 400,
                            attempts,
                            body: detail,
                        }));
                    }
                    body = next;
                }
                // The default mode was a guess: fall back to JSON mode, which every server
                // we know takes, and keep it for this backend's later calls.
                Attempt::Fail(LlmError::SchemaRejected { .. })
                    if self.cfg.structured.is_none() && mode == Structured::JsonSchema =>
                {
                    mode = Structured::JsonObject;
                    let mut now = self.structured.lock().unwrap_or_else(|p| p.into_inner());
                    // Only the call that makes the switch says so (others may be in flight).
                    if std::mem::replace(&mut *now, mode) == Structured::JsonSchema {
                        tracing::warn!(
                            "{}: the server refuses response_format json_schema; using json_object \
                             (set structured = \"json_object\" for model {:?} to say so)",
                            self.id(),
                            self.cfg.model
                        );
                    }
                    drop(now);
                    body = self.body_for(req, mode);
                }
                Attempt::Fail(e) => return Err(self.scrub(e)),
                Attempt::Retry { err, after } => {
                    let err = self.scrub(err);
                    let Some(backoff) = delays.next() else {
                        return Err(err);
                    };
                    let wait = match after {
                        Some(ra) => ra.min(p.max_retry_after),
                        None => backoff,
                    };
                    tracing::debug!(backend = %self.id(), attempt = attempts, ?wait, error = %err, "retrying");
                    stats.retries += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// `GET {base_url}/models` once: any answer but 401/403 means the server is there (servers
    /// without that route answer 404, which is fine).
    async fn reachable(&self) -> Result<(), LlmError> {
        let url = format!("{}/models", self.cfg.base_url.trim_end_matches('/'));
        let mut rb = self.http.get(&url);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| self.scrub(self.transport_error(&e, 1)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status == 401 || status == 403 {
            return Err(self.scrub(LlmError::Http {
                backend: self.id(),
                status,
                attempts: 1,
                body: snippet(&text),
            }));
        }
        if let Some(entry) = served_model(&text, &self.cfg.model) {
            let _ = self.reported.set(entry);
        }
        Ok(())
    }
}

/// Whether a 400 body is about the structured-output part of the request (the schema, the
/// response format, a grammar built from it, the forced tool) rather than, say, the context length.
fn names_structured_output(body: &str, schema_name: &str) -> bool {
    let b = body.to_ascii_lowercase();
    // A name as short as a word would match any prose.
    (schema_name.len() >= 6 && b.contains(&schema_name.to_ascii_lowercase()))
        || [
            "schema",
            "response_format",
            "json_object",
            "strict",
            "grammar",
            "tool_choice",
        ]
        .iter()
        .any(|w| b.contains(w))
}

/// Tool calls a server left in the answer's text instead of `tool_calls` (llama-cpp-python with
/// a model's own chat template does): Hermes/Qwen `<tool_call>{...}</tool_call>` blocks, or the
/// whole answer being one `{"name", "arguments"}` object. Only calls of offered tools count.
/// Returns the calls and the text left around them.
fn text_tool_calls(text: &str, tools: &[crate::ToolSpec]) -> Option<(Vec<ToolCall>, String)> {
    let call = |v: &Value, i: usize| -> Option<ToolCall> {
        let name = v.get("name")?.as_str()?;
        tools.iter().find(|t| t.name == name)?;
        let args = v.get("arguments").or_else(|| v.get("parameters"))?;
        let args = match args {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(ToolCall::new(format!("call_text_{i}"), name, args))
    };
    let (mut calls, mut rest, mut tail) = (Vec::new(), String::new(), text);
    while let Some(a) = tail.find("<tool_call>") {
        let after = &tail[a + "<tool_call>".len()..];
        let b = after.find("</tool_call>").unwrap_or(after.len());
        let v: Value = serde_json::from_str(after[..b].trim()).ok()?;
        calls.push(call(&v, calls.len())?);
        rest.push_str(&tail[..a]);
        tail = after.get(b + "</tool_call>".len()..).unwrap_or("");
    }
    if !calls.is_empty() {
        rest.push_str(tail);
        return Some((calls, rest.trim().to_string()));
    }
    // The whole answer (bare or fenced) must be the call, not prose quoting one, nor a call
    // followed by a result the model invented (the 0.5B behind llama.cpp's server writes
    // those, and reading them as calls sent it into a loop of the same call).
    let v = crate::whole_json(text)?;
    Some((vec![call(&v, 0)?], String::new()))
}

/// This model's entry in a `/models` answer, with fields that change from call to call
/// (`created` is the request time on vLLM) left out; `None` when the server lists no such model.
fn served_model(body: &str, model: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let entry = v
        .get("data")?
        .as_array()?
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model))?;
    let mut entry = entry.as_object()?.clone();
    entry.remove("created");
    Some(crate::sorted_keys(Value::Object(entry)).to_string())
}

/// A URL as ugst stores or shows it: without user name, password, query or fragment, where
/// credentials may hide (`http://user:token@host/v1?key=…`). Review finding 14: they reached the
/// run's database and 502 bodies. A URL that does not parse is shown as it is.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// `Retry-After` is either delta-seconds or an HTTP date. The header is network input: a value
/// too large for a `Duration` (`1e20`) reads as the longest wait, which the caller caps at
/// `max_retry_after`; a negative, infinite or unreadable one as no header.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

pub(crate) fn snippet(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else if s.is_empty() {
        "(empty body)".to_string()
    } else {
        s.to_string()
    }
}

/// Parses a chat-completion body into a [`ChatResponse`].
pub fn parse_completion(text: &str) -> Result<ChatResponse, String> {
    parse_completion_logprobs(text).map(|(r, _)| r)
}

/// [`parse_completion`], with `choices[0].logprobs.content` when the body has any (see
/// [`parse_logprobs`]: missing and null fields are fine).
fn parse_completion_logprobs(text: &str) -> Result<(ChatResponse, Option<Vec<Position>>), String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", snippet(text)))?;
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| format!("no choices[0] in {}", snippet(text)))?;
    let msg = choice
        .get("message")
        .ok_or_else(|| "choices[0] has no message".to_string())?;
    let parsed: Message = serde_json::from_value(json!({
        "role": "assistant",
        "content": msg.get("content").cloned().unwrap_or(Value::Null),
        "tool_calls": msg.get("tool_calls").cloned().filter(|t| !t.is_null()).unwrap_or(json!([])),
    }))
    .map_err(|e| format!("choices[0].message is malformed: {e}"))?;
    let tool_calls: Vec<ToolCall> = parsed.tool_calls;
    let usage = v
        .get("usage")
        .map(|u| Usage {
            prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            completion_tokens: u
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            reasoning_tokens: u
                .pointer("/completion_tokens_details/reasoning_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
        .unwrap_or_default();
    // Servers with a reasoning parser send the thinking apart (vLLM, llama.cpp's server,
    // DeepSeek: `reasoning_content`; others: `reasoning`).
    let thinking = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| msg.get(*k).and_then(Value::as_str))
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string);
    let resp = ChatResponse {
        content: parsed.content,
        tool_calls,
        usage,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        scores: Vec::new(),
        thinking,
    };
    Ok((resp, parse_logprobs(choice)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_left_in_the_text_are_recovered() {
        let tools = vec![crate::ToolSpec {
            name: "get_order_details".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        }];
        let (c, rest) = text_tool_calls(
            r#"{"name": "get_order_details", "arguments": {"order_id": "W1"}}"#,
            &tools,
        )
        .unwrap();
        assert_eq!(c[0].function.name, "get_order_details");
        assert_eq!(c[0].function.arguments, r#"{"order_id":"W1"}"#);
        assert!(rest.is_empty());
        let (c, rest) = text_tool_calls(
            "Let me look.\n<tool_call>\n{\"name\": \"get_order_details\", \"arguments\": {}}\n</tool_call>",
            &tools,
        )
        .unwrap();
        assert_eq!((c.len(), rest.as_str()), (1, "Let me look."));
        // Unknown tools and prose quoting JSON stay text.
        assert!(text_tool_calls(r#"{"name": "launch", "arguments": {}}"#, &tools).is_none());
        assert!(text_tool_calls(
            r#"I would call {"name": "get_order_details", "arguments": {}}"#,
            &tools
        )
        .is_none());
        // A call followed by the result the model made up for it is no call either.
        assert!(text_tool_calls(
            "{\"name\": \"get_order_details\", \"arguments\": {}}\n{\"status\": \"delivered\"}",
            &tools
        )
        .is_none());
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        // Credentials in a base_url never reach what is stored or shown (finding 14).
        assert_eq!(
            redact_url("http://ugst:s3cret-token@127.0.0.1:18001/v1?key=abc#x"),
            "http://127.0.0.1:18001/v1"
        );
        assert_eq!(
            redact_url("https://api.openai.com/v1"),
            "https://api.openai.com/v1"
        );
        assert_eq!(redact_url("not a url"), "not a url");
        // Network input that does not fit a Duration must not panic (review finding 1).
        assert_eq!(parse_retry_after("1e20"), Some(Duration::MAX));
        assert_eq!(parse_retry_after("1.9e19"), Some(Duration::MAX));
        for odd in ["-1", "NaN", "inf", "-inf", "1e400", ""] {
            assert_eq!(parse_retry_after(odd), None, "{odd}");
        }
    }

    #[test]
    fn parses_tool_calls_and_usage() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":null,
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#;
        let r = parse_completion(body).unwrap();
        assert_eq!(r.tool_calls[0].function.name, "f");
        assert_eq!(r.usage.prompt_tokens, 7);
        assert!(parse_completion("{}").is_err());
    }

    fn backend(rank_answers: Option<bool>, structured: Option<Structured>) -> OpenAiBackend {
        OpenAiBackend::new(OpenAiConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "m".into(),
            api_key_env: None,
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            structured,
            revision: None,
            rank_answers,
            top_logprobs: 7,
            params: WireParams::default(),
        })
        .unwrap()
    }

    fn scored() -> ChatRequest {
        ChatRequest::new(vec![Message::user("q")])
            .with_schema("a", json!({"type": "object"}))
            .with_score(vec![
                r#"{"answer":"yes"}"#.into(),
                r#"{"answer":"no"}"#.into(),
            ])
    }

    #[test]
    fn logprobs_are_asked_for_only_where_answers_are_ranked() {
        let asks = |b: &OpenAiBackend, r: &ChatRequest| {
            let body = b.body(r);
            match (body.get("logprobs"), body.get("top_logprobs")) {
                (Some(l), Some(n)) => {
                    assert_eq!((l, n), (&json!(true), &json!(7)));
                    true
                }
                (None, None) => false,
                other => panic!("half of the logprobs fields: {other:?}"),
            }
        };
        let unscored = ChatRequest::new(vec![Message::user("q")]);
        for rank in [None, Some(true)] {
            let b = backend(rank, None);
            assert!(asks(&b, &scored()), "{rank:?}");
            assert!(!asks(&b, &unscored), "{rank:?}");
            // Tools mode answers in a call's arguments, which logprobs do not describe.
            assert!(!asks(&backend(rank, Some(Structured::Tools)), &scored()));
        }
        assert!(!asks(&backend(Some(false), None), &scored()));
        // Once the server refused the parameter, it is left out.
        let b = backend(None, None);
        b.logprobs_refused.store(true, Ordering::Relaxed);
        assert!(!asks(&b, &scored()));
    }

    #[test]
    fn scores_come_from_logprobs_and_their_absence_warns_once() {
        let b = backend(None, None);
        let body = json!({"choices": [{"message": {"role": "assistant", "content": "{\"answer\": \"no\"}"},
            "logprobs": {"content": [
                {"token": "{\"answer\": \"", "logprob": -0.01, "top_logprobs": []},
                {"token": "no", "logprob": -0.2, "top_logprobs": [
                    {"token": "no", "logprob": -0.2}, {"token": "yes", "logprob": -1.7}]},
                {"token": "\"}", "logprob": -0.01, "top_logprobs": []}]},
            "finish_reason": "stop"}]})
        .to_string();
        let (r, lp) = parse_completion_logprobs(&body).unwrap();
        assert_eq!(r.content_str(), "{\"answer\": \"no\"}");
        let r = b.with_scores(&scored(), r, lp);
        assert_eq!(r.scores, vec![-1.7, -0.2]);
        assert!(!b.warned_no_logprobs.load(Ordering::Relaxed));
        // No logprobs (null, or none at all): the written answer, and the one warning.
        let plain =
            r#"{"choices": [{"message": {"content": "{\"answer\":\"yes\"}"}, "logprobs": null}]}"#;
        let (r, lp) = parse_completion_logprobs(plain).unwrap();
        assert!(lp.is_none());
        let r = b.with_scores(&scored(), r, lp);
        assert!(r.scores.is_empty() && r.content_str() == r#"{"answer":"yes"}"#);
        assert!(b.warned_no_logprobs.load(Ordering::Relaxed));
        // An answer whose logprobs cannot rank is a warning only where ranking was asked for.
        let off = r#"{"choices": [{"message": {"content": "maybe"},
            "logprobs": {"content": [{"token": "maybe", "logprob": -0.1}]}}]}"#;
        let (r, lp) = parse_completion_logprobs(off).unwrap();
        assert!(b
            .with_scores(&scored(), r.clone(), lp.clone())
            .scores
            .is_empty());
        assert!(!b.warned_unranked.load(Ordering::Relaxed));
        let on = backend(Some(true), None);
        assert!(on.with_scores(&scored(), r, lp).scores.is_empty());
        assert!(on.warned_unranked.load(Ordering::Relaxed));
    }

    #[test]
    fn bad_urls_and_missing_keys_are_config_errors() {
        let cfg = |url: &str, key: Option<&str>| OpenAiConfig {
            base_url: url.into(),
            model: "m".into(),
            api_key_env: key.map(str::to_string),
            timeout: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            structured: None,
            revision: None,
            rank_answers: None,
            top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
            params: WireParams::default(),
        };
        assert!(matches!(
            OpenAiBackend::new(cfg("not a url", None)),
            Err(LlmError::Config(_))
        ));
        assert!(matches!(
            OpenAiBackend::new(cfg("ftp://x", None)),
            Err(LlmError::Config(_))
        ));
        let e =
            OpenAiBackend::new(cfg("http://x", Some("UGST_TEST_SURELY_UNSET_VAR"))).unwrap_err();
        assert!(e.to_string().contains("UGST_TEST_SURELY_UNSET_VAR"));
    }
}
