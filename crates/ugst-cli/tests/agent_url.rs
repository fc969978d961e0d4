//! `ugst run --agent-url`: the agent under test behind a URL, against small agents written here
//! on axum (the real SDKs — MCP, the OpenAI Agents SDK, A2A — meet ugst in `interop.rs`). What
//! these pin: each turn carries the conversation's MCP tools URL; the run records the agent's URL
//! and resumes only with it; trials and pass^k work for black-box runs; an A2A task that is
//! still working is polled and its context is carried to the next turn; an endpoint that asks
//! for tool calls, a dead URL and a missing agent card are clear errors.

mod common;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// What the agents here were sent: (route, headers of interest, body).
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn record(seen: &Seen, route: &str, headers: &HeaderMap, body: &Value) {
    let h: serde_json::Map<String, Value> = ["x-ugst-tools-url", "a2a-version"]
        .iter()
        .filter_map(|k| {
            headers
                .get(*k)
                .map(|v| (k.to_string(), json!(v.to_str().unwrap_or(""))))
        })
        .collect();
    seen.lock()
        .unwrap()
        .push((route.to_string(), json!({"headers": h, "body": body})));
}

fn completion(message: Value) -> Json<Value> {
    Json(
        json!({"id": "x", "object": "chat.completion", "created": 0, "model": "agent",
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}),
    )
}

/// Starts the agents on a free port: `/ok/v1` (answers in words), `/calls/v1` (asks for tool
/// calls), `/a2a` (an A2A 1.0 agent whose tasks first report working). Returns the base URL.
fn start_agents(seen: Seen) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tx.send(addr).unwrap();
            let card = json!({"name": "desk", "version": "1", "supportedInterfaces": [
                {"url": format!("http://{addr}/a2a/rpc"), "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]});
            let app = Router::new()
                .route("/ok/v1/models", get(|| async { Json(json!({"data": []})) }))
                .route(
                    "/ok/v1/chat/completions",
                    post(|State(seen): State<Seen>, h: HeaderMap, Json(b): Json<Value>| async move {
                        record(&seen, "ok", &h, &b);
                        completion(json!({"role": "assistant", "content": "I have looked into it; anything else?"}))
                    }),
                )
                .route("/calls/v1/models", get(|| async { Json(json!({"data": []})) }))
                .route(
                    "/calls/v1/chat/completions",
                    post(|| async {
                        completion(json!({"role": "assistant", "content": null, "tool_calls": [
                            {"id": "c1", "type": "function", "function": {"name": "get_order_details", "arguments": "{}"}}]}))
                    }),
                )
                .route("/a2a/.well-known/agent-card.json", get(move || async move { Json(card) }))
                .route(
                    "/a2a/rpc",
                    post(|State(seen): State<Seen>, h: HeaderMap, Json(b): Json<Value>| async move {
                        record(&seen, "a2a", &h, &b);
                        let n = seen.lock().unwrap().len();
                        let result = match b["method"].as_str() {
                            Some("SendMessage") => {
                                let ctx = b["params"]["message"]["contextId"].as_str().map(String::from)
                                    .unwrap_or_else(|| format!("ctx-{n}"));
                                json!({"task": {"id": format!("t-{n}"), "contextId": ctx,
                                                "status": {"state": "TASK_STATE_WORKING"}}})
                            }
                            Some("GetTask") => json!({"id": b["params"]["id"],
                                "status": {"state": "TASK_STATE_INPUT_REQUIRED",
                                           "message": {"role": "ROLE_AGENT", "parts": [{"text": "Which order is it?"}]}},
                                "artifacts": []}),
                            _ => return Json(json!({"jsonrpc": "2.0", "id": b["id"], "error": {"code": -32601, "message": "no such method"}})),
                        };
                        Json(json!({"jsonrpc": "2.0", "id": b["id"], "result": result}))
                    }),
                )
                .with_state(seen);
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{}", rx.recv().unwrap())
}

fn mock_config(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = dir.join("mock.toml");
    std::fs::write(&cfg, "[models.m]\nprovider = \"mock\"\n").unwrap();
    cfg
}

/// `ugst run` on τ-retail's tasks with the mock model in ugst's own roles, plus `args`.
fn run_retail(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    let data = shared_data().join("tau_bench");
    ugst()
        .args([
            "run",
            "--quiet",
            "--config",
            cfg.to_str().unwrap(),
            "--env",
            "tau-retail",
        ])
        .args(["--data", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_chat_agent_behind_a_url_runs_in_trials_and_resumes_only_with_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let base = start_agents(seen.clone());
    let cfg = mock_config(dir.path());
    let run = dir.path().join("run");
    let agent = format!("{base}/ok/v1");
    let out = run_retail(
        &cfg,
        &[
            "--limit",
            "2",
            "--trials",
            "2",
            "--max-turns",
            "2",
            "--agent-url",
            &agent,
            "--out",
            run.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("pass^k over 2 task(s)"), "{summary}");

    // Every turn named this conversation's tools, in the body and the header alike.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 4, "{seen:?}");
    let mut urls = std::collections::BTreeSet::new();
    for (_, req) in &seen {
        let url = req["body"]["metadata"]["ugst_tools_url"].as_str().unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.contains("/mcp/"),
            "{url}"
        );
        assert_eq!(req["headers"]["x-ugst-tools-url"], json!(url));
        assert_eq!(
            req["body"]["messages"].as_array().unwrap().last().unwrap()["role"],
            "user"
        );
        urls.insert(url.to_string());
    }
    assert_eq!(
        urls.len(),
        4,
        "one tools session per conversation (2 tasks × 2 trials)"
    );

    let store = ugst::store::RunStore::open(&run).unwrap();
    assert_eq!(store.meta().unwrap().models["agent"]["url"], json!(agent));
    let convs = store.conversations().unwrap();
    assert_eq!(convs.len(), 4);
    assert!(
        convs.iter().all(|c| c.task_reward.is_some()),
        "every conversation is scored"
    );

    // Resuming without the agent's URL names it; with it, the run resumes.
    let resume = [
        "run",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
        "--resume",
        "--out",
        run.to_str().unwrap(),
    ];
    let out = ugst().args(resume).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pass --agent-url {agent}")), "{err}");
    let out = ugst()
        .args(resume)
        .args(["--agent-url", &agent])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The report and the tau2 submission export take a black-box run like any other.
    let html = dir.path().join("report.html");
    let out = ugst()
        .args([
            "report",
            run.to_str().unwrap(),
            "--out",
            html.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&html)
        .unwrap()
        .contains("2 tasks, up to 2 trials"));
    let sub = dir.path().join("sub");
    let out = ugst()
        .args([
            "export",
            run.to_str().unwrap(),
            "--format",
            "tau2-submission",
            "--out",
            sub.to_str().unwrap(),
        ])
        .args([
            "--model-name",
            "black-box",
            "--organization",
            "ugst tests",
            "--email",
            "t@example.org",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_a2a_agent_is_polled_and_keeps_its_context() {
    let dir = tempfile::tempdir().unwrap();
    let seen: Seen = Arc::default();
    let base = start_agents(seen.clone());
    let cfg = mock_config(dir.path());
    let run = dir.path().join("run");
    let a2a = format!("{base}/a2a");
    let out = run_retail(
        &cfg,
        &[
            "--limit",
            "1",
            "--max-turns",
            "3",
            "--agent-protocol",
            "a2a",
            "--agent-url",
            &a2a,
            "--out",
            run.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = seen.lock().unwrap().clone();
    let sends: Vec<&Value> = seen
        .iter()
        .filter(|(_, r)| r["body"]["method"] == "SendMessage")
        .map(|(_, r)| r)
        .collect();
    let polls = seen
        .iter()
        .filter(|(_, r)| r["body"]["method"] == "GetTask")
        .count();
    assert!(sends.len() >= 2, "{seen:?}");
    assert_eq!(polls, sends.len(), "each working task was polled once");
    assert!(sends.iter().all(|r| r["headers"]["a2a-version"] == "1.0"));
    let first = &sends[0]["body"]["params"]["message"];
    assert!(
        first.get("contextId").is_none(),
        "the agent names the context: {first}"
    );
    assert!(first["metadata"]["ugst_tools_url"]
        .as_str()
        .unwrap()
        .contains("/mcp/"));
    // Later turns carry the context and the task that asked for input.
    let second = &sends[1]["body"]["params"]["message"];
    assert_eq!(second["contextId"], "ctx-1", "{second}");
    assert!(
        second["taskId"].as_str().unwrap().starts_with("t-"),
        "{second}"
    );
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    assert_eq!(
        convs[0].turns[0].agent.as_deref(),
        Some("Which order is it?")
    );
    assert_eq!(
        ugst::store::RunStore::open(&run)
            .unwrap()
            .meta()
            .unwrap()
            .models["agent"]["a2a_version"],
        "1.0"
    );
}

#[test]
fn bad_agents_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = start_agents(Arc::default());
    let cfg = mock_config(dir.path());
    let run = |agent: &str, protocol: &str, out: &str| {
        let out = dir.path().join(out);
        run_retail(
            &cfg,
            &[
                "--limit",
                "1",
                "--max-turns",
                "1",
                "--agent-protocol",
                protocol,
                "--agent-url",
                agent,
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // An endpoint that asks for tool calls is a bare model: the conversation fails saying so.
    let out = run(&format!("{base}/calls/v1"), "openai", "calls");
    assert!(!out.status.success());
    let convs = ugst::store::RunStore::open(&dir.path().join("calls"))
        .unwrap()
        .conversations()
        .unwrap();
    let error = convs[0].error.clone().unwrap_or_default();
    assert!(error.contains("runs its own tools"), "{error}");

    // Nothing listening: exit 2 naming the flag, and no run left behind.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&format!("http://127.0.0.1:{port}/v1"), "openai", "dead");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--agent-url"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("dead").exists());

    // A chat endpoint taken for an A2A agent: its missing card is named.
    let out = run(&format!("{base}/ok/v1"), "a2a", "nocard");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent-card.json: HTTP 404") && err.contains("--agent-protocol openai"),
        "{err}"
    );
}
