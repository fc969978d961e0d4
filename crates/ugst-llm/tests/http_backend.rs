//! Drives the OpenAI-compatible backend against a real HTTP server on 127.0.0.1 that misbehaves on
//! purpose: 429 with Retry-After, 500, a slow answer past the timeout, an empty answer, broken JSON.

use axum::{
    extract::State, http::HeaderMap, http::StatusCode, response::IntoResponse, routing::post, Json,
    Router,
};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ugst_llm::*;

#[derive(Clone, Debug)]
enum Step {
    Status(u16, Option<&'static str>),
    Slow(Duration),
    Content(&'static str),
    /// An error status whose body repeats the request's Authorization header (a careless proxy).
    EchoAuth(u16),
    /// A status with this body.
    Body(u16, &'static str),
    /// An answer that is a call of the function `name` with these arguments.
    Call(&'static str, &'static str),
    /// A 200 with this whole body.
    Whole(Value),
}

/// A request body and its Authorization header.
type Seen = (Value, Option<String>);

#[derive(Clone, Default)]
struct Script {
    steps: Arc<Mutex<VecDeque<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn handler(
    State(s): State<Script>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.seen.lock().unwrap().push((body, auth.clone()));
    let step = s
        .steps
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Step::Content("{\"n\": 1}"));
    let ok = |content: &str| {
        Json(json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2}}))
        .into_response()
    };
    match step {
        Step::Status(code, retry_after) => {
            let mut r = (StatusCode::from_u16(code).unwrap(), "server says no").into_response();
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r
        }
        Step::Slow(d) => {
            tokio::time::sleep(d).await;
            ok("{\"n\": 1}")
        }
        Step::Content(c) => ok(c),
        Step::Body(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Step::Call(name, args) => Json(json!({"choices": [{"message": {"role": "assistant",
            "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": name, "arguments": args}}]}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2}}))
        .into_response(),
        Step::Whole(body) => Json(body).into_response(),
        Step::EchoAuth(code) => (
            StatusCode::from_u16(code).unwrap(),
            format!("rejected credentials: {}", auth.unwrap_or_default()),
        )
            .into_response(),
    }
}

async fn serve(steps: Vec<Step>) -> (String, Script) {
    let script = Script {
        steps: Arc::new(Mutex::new(steps.into())),
        ..Default::default()
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(handler))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), script)
}

fn llm(url: &str, key_env: Option<&str>) -> Llm {
    llm_with(url, key_env, None)
}

fn llm_with(url: &str, key_env: Option<&str>, structured: Option<Structured>) -> Llm {
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: url.into(),
        model: "test-model".into(),
        api_key_env: key_env.map(str::to_string),
        timeout: Duration::from_millis(400),
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        },
        structured,
        revision: None,
        rank_answers: None,
        top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
        params: Default::default(),
    })
    .unwrap();
    Llm::new(Arc::new(backend), Arc::new(Cache::disabled()))
}

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("give n")]).with_schema(
        "n",
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"], "additionalProperties": false}),
    )
}

#[tokio::test]
async fn retries_429_honouring_retry_after_and_500() {
    let (url, script) = serve(vec![
        Step::Status(429, Some("1")),
        Step::Status(500, None),
        Step::Status(503, None),
    ])
    .await;
    let ledger = Ledger::new();
    let t = Instant::now();
    let v = llm(&url, None)
        .structured(CallRole::Tracker, &ledger, &req())
        .await
        .unwrap();
    assert_eq!(v, json!({"n": 1}));
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "Retry-After: 1 was not honoured"
    );
    let e = &ledger.drain()[0];
    assert_eq!(e.retries, 3);
    assert_eq!(e.prompt_tokens, 10);
    // The structured-output request reached the server in the OpenAI shape.
    let body = &script.seen.lock().unwrap()[0].0;
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["model"], "test-model");
}

#[tokio::test]
async fn persistent_500_is_a_clear_error_after_the_retry_budget() {
    let (url, script) = serve(vec![Step::Status(500, None); 10]).await;
    let ledger = Ledger::new();
    let err = llm(&url, None)
        .chat(CallRole::Agent, &ledger, &req())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Http {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(script.seen.lock().unwrap().len(), 4);
    let e = &ledger.drain()[0];
    assert!(!e.ok && e.retries == 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (url, script) = serve(vec![Step::Status(400, None)]).await;
    let err = llm(&url, None)
        .chat(CallRole::Agent, &Ledger::new(), &req())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Http { status: 400, .. }));
    assert_eq!(script.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let (url, _s) = serve(vec![Step::Slow(Duration::from_millis(900))]).await;
    let ledger = Ledger::new();
    let v = llm(&url, None)
        .structured(CallRole::Simulator, &ledger, &req())
        .await
        .unwrap();
    assert_eq!(v["n"], 1);
    assert_eq!(ledger.drain()[0].retries, 1);
}

#[tokio::test]
async fn always_slow_gives_a_timeout_error() {
    let (url, _s) = serve(vec![Step::Slow(Duration::from_millis(900)); 5]).await;
    let err = llm(&url, None)
        .chat(CallRole::Agent, &Ledger::new(), &req())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "timeout", "{err}");
    assert!(err.to_string().contains("timeout_s"));
}

#[tokio::test]
async fn empty_and_broken_answers_get_one_repair() {
    let (url, script) = serve(vec![Step::Content(""), Step::Content("{\"n\": 5}")]).await;
    let ledger = Ledger::new();
    let v = llm(&url, None)
        .structured(CallRole::Tracker, &ledger, &req())
        .await
        .unwrap();
    assert_eq!(v["n"], 5);
    assert!(ledger.drain()[0].repaired);
    // The repair request shows the model what went wrong.
    let repair_body = script.seen.lock().unwrap()[1].0.clone();
    let last = repair_body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(last["content"].as_str().unwrap().contains("empty"));

    let (url, _s) = serve(vec![
        Step::Content("{\"n\": oops"),
        Step::Content("still {not json"),
    ])
    .await;
    let ledger = Ledger::new();
    let err = llm(&url, None)
        .structured(CallRole::Tracker, &ledger, &req())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::InvalidOutput { raw, .. } if raw == "still {not json"),
        "{err}"
    );
    let e = &ledger.drain()[0];
    assert!(!e.ok && e.repaired);
}

#[tokio::test]
async fn dead_endpoint_is_unreachable_with_advice() {
    // Bind and drop to get a port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    drop(l);
    let err = llm(&url, None)
        .chat(CallRole::Agent, &Ledger::new(), &req())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "unreachable");
    assert!(err.to_string().contains("base_url"), "{err}");
}

#[tokio::test]
async fn api_key_goes_only_into_the_header() {
    std::env::set_var("UGST_TEST_SENTINEL_KEY", "sk-sentinel-123456");
    let (url, script) = serve(vec![Step::EchoAuth(401)]).await;
    let backend_llm = llm(&url, Some("UGST_TEST_SENTINEL_KEY"));
    let ledger = Ledger::new();
    let err = backend_llm
        .chat(CallRole::Agent, &ledger, &req())
        .await
        .unwrap_err();
    let auth = script.seen.lock().unwrap()[0].1.clone();
    assert_eq!(auth.as_deref(), Some("Bearer sk-sentinel-123456"));
    assert!(
        err.to_string()
            .contains("rejected credentials: Bearer [redacted]"),
        "{err}"
    );
    assert!(!err.to_string().contains("sentinel"));
    assert!(!format!("{err:?}").contains("sentinel"));
    assert!(!format!("{:?}", ledger.drain()).contains("sentinel"));
}

/// A schema with the limits strict mode refuses.
fn bounded_req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("give a reason")]).with_schema(
        "why",
        json!({"type": "object", "properties": {
            "reason": {"type": "string", "minLength": 1, "maxLength": 5},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 1}},
            "required": ["reason", "tags"], "additionalProperties": false}),
    )
}

#[tokio::test]
async fn strict_mode_sends_a_strict_schema_and_cuts_what_it_dropped() {
    let (url, script) = serve(vec![Step::Content(
        "{\"reason\": \"far too long\", \"tags\": [\"a\", \"b\"]}",
    )])
    .await;
    let llm = llm_with(&url, None, Some(Structured::Strict));
    let v = llm
        .structured(CallRole::Tracker, &Ledger::new(), &bounded_req())
        .await
        .unwrap();
    assert_eq!(v, json!({"reason": "far t", "tags": ["a"]}));
    let body = &script.seen.lock().unwrap()[0].0;
    let rf = &body["response_format"]["json_schema"];
    assert_eq!(rf["strict"], json!(true));
    assert!(
        strict_violations(&rf["schema"]).is_empty(),
        "{}",
        rf["schema"]
    );
    assert!(!rf["schema"].to_string().contains("maxLength"));
}

#[tokio::test]
async fn default_mode_for_a_local_server_sends_the_whole_schema_unstrict() {
    let (url, script) = serve(vec![Step::Content("{\"reason\": \"ok\", \"tags\": []}")]).await;
    llm(&url, None)
        .structured(CallRole::Tracker, &Ledger::new(), &bounded_req())
        .await
        .unwrap();
    let rf = &script.seen.lock().unwrap()[0].0["response_format"]["json_schema"];
    assert_eq!(rf["strict"], json!(false));
    assert_eq!(rf["schema"]["properties"]["reason"]["maxLength"], json!(5));
}

#[tokio::test]
async fn json_object_mode_puts_the_schema_in_the_prompt() {
    let (url, script) = serve(vec![Step::Content(
        "Here: {\"reason\": \"ok\", \"tags\": []}",
    )])
    .await;
    let v = llm_with(&url, None, Some(Structured::JsonObject))
        .structured(CallRole::Tracker, &Ledger::new(), &bounded_req())
        .await
        .unwrap();
    assert_eq!(v["reason"], json!("ok"));
    let body = &script.seen.lock().unwrap()[0].0;
    assert_eq!(body["response_format"]["type"], json!("json_object"));
    let last = body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        last.starts_with("give a reason") && last.contains("\"maxLength\":5"),
        "{last}"
    );
}

#[tokio::test]
async fn tools_mode_forces_a_call_and_reads_its_arguments() {
    let (url, script) = serve(vec![Step::Call(
        "why",
        "{\"reason\": \"ok\", \"tags\": [\"x\"]}",
    )])
    .await;
    let v = llm_with(&url, None, Some(Structured::Tools))
        .structured(CallRole::Tracker, &Ledger::new(), &bounded_req())
        .await
        .unwrap();
    assert_eq!(v, json!({"reason": "ok", "tags": ["x"]}));
    let body = &script.seen.lock().unwrap()[0].0;
    assert_eq!(body["tool_choice"]["function"]["name"], json!("why"));
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["type"],
        json!("object")
    );
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn a_refused_schema_is_one_clear_error_naming_the_setting() {
    let (url, script) = serve(vec![Step::Body(
        400,
        r#"{"error": {"message": "Invalid schema for response_format 'why': 'maxLength' is not permitted.", "type": "invalid_request_error"}}"#,
    )])
    .await;
    let err = llm_with(&url, None, Some(Structured::Strict))
        .structured(CallRole::Decomposer, &Ledger::new(), &bounded_req())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "schema_rejected");
    assert!(err.stops_the_run());
    let msg = err.to_string();
    assert!(
        msg.contains("\"test-model\"") && msg.contains("structured = \"strict\""),
        "{msg}"
    );
    assert!(msg.contains("maxLength"), "{msg}");
    // Not retried: the server would refuse it alike.
    assert_eq!(script.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_default_mode_the_server_refuses_falls_back_to_json_mode() {
    // llama-cpp-python's server answers json_schema with a 500 naming response_format.
    let (url, script) = serve(vec![
        Step::Body(
            500,
            r#"{"error": {"message": "1 validation error: ('body', 'response_format', 'type') Input should be 'text' or 'json_object'", "type": "internal_server_error"}}"#,
        ),
        Step::Content("{\"reason\": \"ok\", \"tags\": []}"),
    ])
    .await;
    let llm = llm(&url, None);
    let v = llm
        .structured(CallRole::Tracker, &Ledger::new(), &bounded_req())
        .await
        .unwrap();
    assert_eq!(v["reason"], json!("ok"));
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one refusal, one answer: no blind retries");
    assert_eq!(seen[0].0["response_format"]["type"], json!("json_schema"));
    assert_eq!(seen[1].0["response_format"]["type"], json!("json_object"));
}

/// A retrained model served under the same name must not be answered from the old one's cache:
/// the key holds the configured `revision` and what the server's `/models` says about the model.
#[tokio::test]
async fn the_cache_knows_which_weights_answered() {
    let (url, script) = serve(vec![]).await;
    let cache = Arc::new(Cache::in_memory());
    let with = |revision: Option<&str>| {
        let b = OpenAiBackend::new(OpenAiConfig {
            base_url: url.clone(),
            model: "test-model".into(),
            api_key_env: None,
            timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            structured: None,
            revision: revision.map(str::to_string),
            rank_answers: None,
            top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
            params: Default::default(),
        })
        .unwrap();
        Llm::new(Arc::new(b), cache.clone())
    };
    let ledger = Ledger::new();
    for (rev, expect_calls) in [
        (Some("step-100"), 1),
        (Some("step-100"), 1),
        (Some("step-200"), 2),
        (None, 3),
    ] {
        with(rev)
            .chat(CallRole::Agent, &ledger, &req())
            .await
            .unwrap();
        assert_eq!(
            script.seen.lock().unwrap().len(),
            expect_calls,
            "revision {rev:?}"
        );
    }
    let hits: Vec<bool> = ledger.drain().iter().map(|e| e.cache_hit).collect();
    assert_eq!(hits, [false, true, false, false]);
}

fn ranking_llm(url: &str, rank_answers: Option<bool>, cache: Arc<Cache>) -> Llm {
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: url.into(),
        model: "qwen-0.5b".into(),
        api_key_env: None,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy::default(),
        structured: Some(Structured::JsonObject),
        revision: None,
        rank_answers,
        top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
        params: Default::default(),
    })
    .unwrap();
    Llm::new(Arc::new(backend), cache)
}

const NO: &str = "no, nothing the user says goes against it";
const YES: &str = "yes, the user goes against it";
const WRITTEN_NO: &str = "{\"answer\":\"no, nothing the user says goes against it\"}";
const WRITTEN_YES: &str = "{\"answer\":\"yes, the user goes against it\"}";

/// A closed question as the tracker asks it: `{"answer": <one of the answers>}`, each answer
/// offered for ranking.
fn check_req() -> ChatRequest {
    ChatRequest::new(vec![Message::user(
        "In this turn, does the user go against this part of their goal?",
    )])
    .with_schema(
        "change_check",
        json!({"type": "object", "properties": {"answer": {"type": "string", "enum": [NO, YES]}},
               "required": ["answer"], "additionalProperties": false}),
    )
    .with_score(
        [NO, YES]
            .iter()
            .map(|a| json!({ "answer": a }).to_string())
            .collect(),
    )
}

/// A llama-cpp-python answer (`python -m llama_cpp.server`, Qwen2.5's tokenizer) to
/// [`check_req`]: `{"answer": "no, …"}` with a space after the colon, `bytes` null, every
/// position listing its likeliest tokens (the chosen one among them).
fn llama_cpp_answer() -> Value {
    let sure = |t: &str| {
        json!({"token": t, "logprob": -0.0003, "bytes": null,
               "top_logprobs": [{"token": t, "logprob": -0.0003, "bytes": null},
                                {"token": " ", "logprob": -9.1, "bytes": null}]})
    };
    let mut content = vec![sure("{\""), sure("answer"), sure("\":"), sure(" \"")];
    content.push(
        json!({"token": "no", "logprob": -0.3567, "bytes": null, "top_logprobs": [
        {"token": "no", "logprob": -0.3567, "bytes": null},
        {"token": "yes", "logprob": -1.2040, "bytes": null},
        {"token": "No", "logprob": -5.3, "bytes": null},
        {"token": "n", "logprob": -8.8, "bytes": null},
        {"token": " no", "logprob": -9.4, "bytes": null}]}),
    );
    for t in [
        ",", " nothing", " the", " user", " says", " goes", " against", " it", "\"}",
    ] {
        content.push(sure(t));
    }
    let text = content
        .iter()
        .map(|c| c["token"].as_str().unwrap())
        .collect::<String>();
    assert_eq!(text, format!("{{\"answer\": \"{NO}\"}}"));
    json!({"id": "chatcmpl-5b2e", "object": "chat.completion", "created": 1765000000,
           "model": "qwen-0.5b",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                        "logprobs": {"content": content, "refusal": null},
                        "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 212, "completion_tokens": 13, "total_tokens": 225}})
}

#[tokio::test]
async fn a_scored_request_is_ranked_from_the_servers_logprobs() {
    let (url, script) = serve(vec![Step::Whole(llama_cpp_answer())]).await;
    let llm = ranking_llm(&url, None, Arc::new(Cache::disabled()));
    let r = llm
        .chat(CallRole::Tracker, &Ledger::new(), &check_req())
        .await
        .unwrap();
    // The written answer stays; each offered answer is scored at "no" / "yes".
    assert_eq!(r.content_str(), json!({ "answer": NO }).to_string());
    assert_eq!(r.scores.len(), 2);
    assert!((r.scores[0] - -0.3567).abs() < 1e-9, "{:?}", r.scores);
    assert!((r.scores[1] - -1.2040).abs() < 1e-9, "{:?}", r.scores);
    let body = script.seen.lock().unwrap()[0].0.clone();
    assert_eq!(body["logprobs"], json!(true));
    assert_eq!(body["top_logprobs"], json!(20));

    // A request that offers nothing to rank asks for no logprobs.
    llm.chat(CallRole::Tracker, &Ledger::new(), &req())
        .await
        .unwrap();
    let body = &script.seen.lock().unwrap()[1].0;
    assert!(body.get("logprobs").is_none() && body.get("top_logprobs").is_none());
}

#[tokio::test]
async fn a_server_without_logprobs_leaves_the_written_answer() {
    let written = WRITTEN_YES;
    let (url, _s) = serve(vec![Step::Content(written), Step::Content(written)]).await;
    let llm = ranking_llm(&url, None, Arc::new(Cache::disabled()));
    for _ in 0..2 {
        let r = llm
            .chat(CallRole::Tracker, &Ledger::new(), &check_req())
            .await
            .unwrap();
        assert!(r.scores.is_empty());
        assert_eq!(r.content_str(), written);
    }
}

#[tokio::test]
async fn a_refused_logprobs_parameter_is_dropped_once_for_good() {
    let written = WRITTEN_NO;
    let (url, script) = serve(vec![
        Step::Body(
            400,
            r#"{"error": {"message": "logprobs is not supported for this model", "type": "invalid_request_error", "param": "logprobs"}}"#,
        ),
        Step::Content(written),
        Step::Content(written),
    ])
    .await;
    let llm = ranking_llm(&url, Some(true), Arc::new(Cache::disabled()));
    let ledger = Ledger::new();
    for _ in 0..2 {
        let r = llm
            .chat(CallRole::Tracker, &ledger, &check_req())
            .await
            .unwrap();
        assert!(r.scores.is_empty());
        assert_eq!(r.content_str(), written);
    }
    let seen = script.seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "one refusal, then two answers");
    assert_eq!(seen[0].0["logprobs"], json!(true));
    assert!(seen[1].0.get("logprobs").is_none());
    assert!(seen[2].0.get("logprobs").is_none());
    assert!(ledger.drain().iter().all(|e| e.ok));
}

#[tokio::test]
async fn ranking_off_never_asks_for_logprobs() {
    let (url, script) = serve(vec![Step::Whole(llama_cpp_answer())]).await;
    let r = ranking_llm(&url, Some(false), Arc::new(Cache::disabled()))
        .chat(CallRole::Tracker, &Ledger::new(), &check_req())
        .await
        .unwrap();
    assert!(r.scores.is_empty(), "{:?}", r.scores);
    let body = &script.seen.lock().unwrap()[0].0;
    assert!(body.get("logprobs").is_none() && body.get("top_logprobs").is_none());
}

/// A written answer cached with ranking off is not replayed where ranking is on (nor a ranked
/// one where it is off); requests that offer nothing to rank share their cached answers.
#[tokio::test]
async fn ranked_and_written_answers_are_cached_apart() {
    let (url, script) = serve(vec![
        Step::Content(WRITTEN_NO),
        Step::Whole(llama_cpp_answer()),
    ])
    .await;
    let cache = Arc::new(Cache::in_memory());
    let ledger = Ledger::new();
    let off = ranking_llm(&url, Some(false), cache.clone());
    let auto = ranking_llm(&url, None, cache.clone());
    let on = ranking_llm(&url, Some(true), cache.clone());
    let written = off
        .chat(CallRole::Tracker, &ledger, &check_req())
        .await
        .unwrap();
    assert!(written.scores.is_empty());
    let ranked = auto
        .chat(CallRole::Tracker, &ledger, &check_req())
        .await
        .unwrap();
    assert_eq!(ranked.scores.len(), 2, "the written answer was replayed");
    // Each setting now answers from its own entry.
    assert_eq!(
        on.chat(CallRole::Tracker, &ledger, &check_req())
            .await
            .unwrap(),
        ranked
    );
    assert_eq!(
        off.chat(CallRole::Tracker, &ledger, &check_req())
            .await
            .unwrap(),
        written
    );
    // Unranked requests: one call, then hits whatever the setting.
    off.chat(CallRole::Agent, &ledger, &req()).await.unwrap();
    auto.chat(CallRole::Agent, &ledger, &req()).await.unwrap();
    assert_eq!(script.seen.lock().unwrap().len(), 3);
    let hits: Vec<bool> = ledger.drain().iter().map(|e| e.cache_hit).collect();
    assert_eq!(hits, [false, false, true, true, false, true]);
}
