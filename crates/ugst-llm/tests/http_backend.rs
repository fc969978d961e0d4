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
