//! `ugst serve reward` in-process against the mock judge: contexts from a real `grpo` export and
//! from a bare goal + history, the format penalty, bad requests, the OpenRLHF endpoint, a full
//! queue, and 200 concurrent requests without an error (p50/p99 printed, never asserted).

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use ugst::serve::reward::{router, Options};
use ugst_mock::Faults;

const GOOD: &str = "<think>\nProgress: the hotel is found.\nPlan: ask for wifi next.\nAlignment: keep my number private.\n</think>\nDoes it have free wifi?";

async fn start(cfg: &std::path::Path, max_queue: usize) -> String {
    let models = ugst_cli::backends::build(&ugst::config::Config::load(cfg).unwrap()).unwrap();
    let opts = Options {
        reward: Default::default(),
        tracking: ugst::model::TrackingMode::Batched,
        tracker: Default::default(),
        concurrency: 16,
        max_queue,
        limits: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(models, opts)).await.unwrap() });
    format!("http://{addr}")
}

/// `ugst_context` lines of a grpo export of a short reasoning run.
fn exported_contexts(dir: &std::path::Path, cfg: &std::path::Path) -> Vec<Value> {
    let goals = demo_goals(dir);
    let run = dir.join("run");
    run_cmd(
        &[
            "--quiet",
            "--mode",
            "reasoning",
            "--max-turns",
            "3",
            "--limit",
            "4",
        ],
        cfg,
        Some(&goals),
        &run,
    )
    .assert()
    .success();
    let tok = dir.join("tokenizer.json");
    std::fs::write(&tok, WORD_TOKENIZER).unwrap();
    export(
        &run,
        &["--format", "grpo", "--tokenizer", tok.to_str().unwrap()],
        &dir.join("grpo.jsonl"),
    )
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = client.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_batches_and_rejects_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let lines = {
        let (d, c) = (dir.path().to_path_buf(), cfg.clone());
        tokio::task::spawn_blocking(move || exported_contexts(&d, &c))
            .await
            .unwrap()
    };
    assert!(lines.len() >= 4);
    let base = start(&cfg, 4096).await;
    let client = reqwest::Client::new();
    let health: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let ctx: Value = serde_json::from_str(lines[0]["ugst_context"].as_str().unwrap()).unwrap();
    let bare = json!({"goal": "You want to book a hotel in the north with free wifi. You prefer a guesthouse.",
                      "history": [{"speaker": "user", "text": "Hi, I need a hotel in the north."},
                                  {"speaker": "agent", "text": "I found two hotels in the north."}]});
    let body = json!({"items": [
        {"id": "a", "context": ctx, "response": GOOD},
        {"id": "b", "context": ctx, "response": "Does it have wifi?"},
        {"id": "c", "context": bare, "response": GOOD},
        {"id": 7, "context": bare, "response": "<think>\nProgress: done.\nPlan: nothing left.\nAlignment: fine.\n</think>\nEND_CONVERSATION"},
    ]});
    let (status, v) = post(&client, &format!("{base}/v1/ugst/score"), &body).await;
    assert_eq!(status, 200, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(
        r.iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["a", "b", "c", "7"]
    );
    for x in [&r[0], &r[2], &r[3]] {
        let reward = x["reward"].as_f64().unwrap_or_else(|| panic!("{x}"));
        assert!((0.0..=2.5).contains(&reward), "{x}");
        assert_eq!(x["format_ok"], true);
        assert_eq!(x["conditions"].as_object().unwrap().len(), 5, "{x}");
        let sum: f64 = x["conditions"]
            .as_object()
            .unwrap()
            .values()
            .filter(|b| b.as_bool().unwrap())
            .map(|_| 0.5)
            .sum();
        assert_eq!(sum, reward, "R = Σ 0.5 · I_j: {x}");
    }
    assert_eq!(r[1]["reward"], -0.5, "the format penalty");
    assert_eq!(r[1]["format_ok"], false);
    assert!(r[1]["error"].as_str().unwrap().contains("layout"));

    // Bad requests name the field.
    for (body, needle) in [
        (json!({"item": []}), "\"items\""),
        (json!({"items": []}), "empty"),
        (
            json!({"items": [{"id": "a", "context": ctx, "response": GOOD}, {"id": "b", "context": ctx, "response": 3}]}),
            "items[1].response",
        ),
        (
            json!({"items": [{"id": "a", "context": {"goal": "x", "mood": 1}, "response": GOOD}]}),
            "items[0].context",
        ),
        // A status foreign to its category (it panicked the handler before) …
        (
            json!({"items": [{"id": "a", "response": GOOD, "context": {"state": {"turn": 0,
                "components": [{"id": "prof-1", "category": "user_profile", "text": "You are Ana.",
                                "status": "COMPLETE"}]}}}]}),
            "items[0].context.state.components[0].status: COMPLETE is not a status of user_profile",
        ),
        // … and an empty state (it scored 2.5 without any judging).
        (
            json!({"items": [{"id": "a", "response": GOOD, "context": {"state": {"turn": 0, "components": []}}}]}),
            "items[0].context.state.components: the state has no sub-components",
        ),
    ] {
        let (status, v) = post(&client, &format!("{base}/v1/ugst/score"), &body).await;
        assert_eq!(status, 400, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{needle:?} in {msg}");
    }
    let r = client
        .post(format!("{base}/v1/ugst/score"))
        .body("not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // OpenRLHF: query = prompt + response, decoded with its special tokens (the end-of-turn
    // marker stays on); labels carry the exported contexts.
    let prompts: Vec<String> = lines.iter().map(|l| l["prompt"].to_string()).collect();
    let query: Vec<String> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| match i % 3 {
            0 => format!("{p}{GOOD}"),
            1 => format!("{p}{GOOD}<|im_end|>"),
            _ => format!("{p}{GOOD}<|eot_id|>\n"),
        })
        .collect();
    let labels: Vec<&str> = lines
        .iter()
        .map(|l| l["ugst_context"].as_str().unwrap())
        .collect();
    let (status, v) = post(
        &client,
        &format!("{base}/v1/openrlhf"),
        &json!({"query": query, "prompts": prompts, "labels": labels}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rewards"].as_array().unwrap().len(), lines.len());
    assert_eq!(v["extra_logs"]["judge_failed"], 0);
    assert!(v["extra_logs"]["format_ok"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b == true));
    let (status, v) = post(
        &client,
        &format!("{base}/v1/openrlhf"),
        &json!({"query": ["a"], "prompts": [], "labels": []}),
    )
    .await;
    assert_eq!(status, 400, "{v}");

    // 200 concurrent requests, each a batch of one exported context.
    let started = Instant::now();
    let calls = (0..200).map(|i| {
        let (client, base) = (client.clone(), base.clone());
        let line = &lines[i % lines.len()];
        let body = json!({"items": [{"id": i.to_string(),
            "context": serde_json::from_str::<Value>(line["ugst_context"].as_str().unwrap()).unwrap(),
            "response": GOOD}]});
        async move {
            let t = Instant::now();
            let (status, v) = post(&client, &format!("{base}/v1/ugst/score"), &body).await;
            (status, v, t.elapsed())
        }
    });
    let mut done = futures::future::join_all(calls).await;
    for (status, v, _) in &done {
        assert_eq!(*status, 200, "{v}");
        assert!(v["results"][0]["reward"].is_number(), "{v}");
    }
    done.sort_by_key(|d| d.2);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "200 concurrent score requests in {:.0} ms: p50 {:.1} ms, p99 {:.1} ms",
        ms(started.elapsed()),
        ms(done[99].2),
        ms(done[197].2)
    );

    // A server that holds at most one item refuses a batch of two for good: 413 naming the
    // limit, not a 503 "retry shortly" that could never succeed (review finding 8).
    let small = start(&cfg, 1).await;
    let (status, v) = post(
        &client,
        &format!("{small}/v1/ugst/score"),
        &json!({"items": [{"id": "a", "context": ctx, "response": GOOD},
                          {"id": "b", "context": ctx, "response": GOOD}]}),
    )
    .await;
    assert_eq!(status, 413, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("--max-queue 1"), "{msg}");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    // A body over the size limit is 413 too, not 400 (finding 17).
    let huge = json!({"items": [{"id": "a", "context": ctx, "response": "x".repeat(3 << 20)}]});
    let (status, v) = post(&client, &format!("{small}/v1/ugst/score"), &huge).await;
    assert_eq!(status, 413, "{v}");
    // One item whose decomposition has 2,000 requirements is refused before any judging: it
    // would fan out into a call per open part (finding 4).
    let wide = json!({"decomposition": {"user_profile": [], "user_policy": [],
        "task_objectives": [{"text": "Book a hotel.",
            "requirements": (0..2000).map(|i| format!("detail {i}")).collect::<Vec<_>>(),
            "preferences": []}]}});
    let (status, v) = post(
        &client,
        &format!("{small}/v1/ugst/score"),
        &json!({"items": [{"id": "w", "context": wide, "response": GOOD}]}),
    )
    .await;
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-components"),
        "{v}"
    );
}

/// A judge outage is never a reward of 0: the score endpoint says `null` with the error, the
/// OpenRLHF endpoint refuses the batch with 503, and the Python client (TRL and verl paths)
/// raises `JudgeFailed` after one retry instead of handing the trainer a number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_judge_outage_is_excluded_in_every_trainer_path() {
    let dir = tempfile::tempdir().unwrap();
    // Every structured answer is garbage: the judge fails after its repair retry.
    let broken = start_mock(Faults {
        garbage_rate: 1.0,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &broken, "");
    let base = start(&cfg, 64).await;
    let ctx = json!({"decomposition": {"user_profile": ["You are Ana."], "user_policy": [],
        "task_objectives": [{"text": "Book a hotel.", "requirements": [], "preferences": []}]}});
    let client = reqwest::Client::new();
    let (status, v) = post(
        &client,
        &format!("{base}/v1/ugst/score"),
        &json!({"items": [{"id": "a", "context": ctx, "response": GOOD}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["reward"], Value::Null, "{v}");
    assert!(v["results"][0]["error"].as_str().unwrap().contains("judge"));

    let r = client
        .post(format!("{base}/v1/openrlhf"))
        .json(
            &json!({"query": [format!("p{GOOD}")], "prompts": ["p"], "labels": [ctx.to_string()]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no rewards are given"),
        "{v}"
    );
    // A server-side failure is typed as one, not as the client's bad request (finding 17).
    assert_eq!(v["error"]["type"], "server_error", "{v}");

    let python = std::env::var_os("UGST_PYTHON").unwrap_or_else(|| "python3".into());
    let recipes = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python");
    let script = format!(
        r#"import asyncio, json, sys
sys.path.insert(0, {recipes:?})
import ugst_reward as u
ctx = {ctx:?}
good = {GOOD:?}
calls = [
    ("verl", lambda: u.compute_score("ugst", good, ctx)),
    ("trl", lambda: asyncio.run(u.trl_reward()(prompts=["p"], completions=[good], ugst_context=[ctx]))),
]
for name, call in calls:
    try:
        print(name, "gave", call())
    except u.JudgeFailed as e:
        print(name, "raised", e)
"#,
        recipes = recipes.display().to_string(),
        ctx = ctx.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", &script])
            .env("UGST_REWARD_URL", &base)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in ["verl", "trl"] {
        assert!(
            text.contains(&format!("{path} raised the ugst judge failed on 1 of 1")),
            "{text}"
        );
        assert!(!text.contains(&format!("{path} gave")), "{text}");
    }
}

/// The Python reward client rides out backpressure: 503 and 429 are retried, honouring
/// Retry-After, until a deadline, then raised with the count of tries; the key in
/// $UGST_REWARD_API_KEY is sent as a Bearer header (review finding 8: any 503 was a crash).
#[test]
fn the_python_client_retries_backpressure_until_its_deadline() {
    let python = std::env::var_os("UGST_PYTHON").unwrap_or_else(|| "python3".into());
    let recipes = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python");
    let script = r#"
import http.server, json, sys, threading
sys.path.insert(0, sys.argv[1])
import ugst_reward

plan = []          # the status of each next answer; 200 when empty
seen = []          # (status sent, authorization header)

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        code = plan.pop(0) if plan else 200
        seen.append((code, self.headers.get("authorization")))
        self.send_response(code)
        if code in (429, 503):
            self.send_header("retry-after", "0.05")
        self.send_header("content-type", "application/json")
        self.end_headers()
        body = {"results": [{"id": "a", "reward": 0.5}]} if code == 200 else {"error": {"message": "busy"}}
        self.wfile.write(json.dumps(body).encode())

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{srv.server_port}"
import os
os.environ["UGST_REWARD_API_KEY"] = "k3y"

plan[:] = [503, 429, 503]
waits = []
r = ugst_reward.score([{"id": "a"}], url, deadline_s=30, sleep=waits.append)
assert r[0]["reward"] == 0.5, r
assert [c for c, _ in seen] == [503, 429, 503, 200], seen
assert waits == [0.05, 0.05, 0.05], waits
assert all(a == "Bearer k3y" for _, a in seen), seen

seen.clear()
plan[:] = [503] * 1000
try:
    ugst_reward.score([{"id": "a"}], url, deadline_s=0.3)
    raise SystemExit("no error after the deadline")
except RuntimeError as e:
    assert "still HTTP 503" in str(e) and "tries" in str(e), e
assert 2 <= len(seen) <= 10, len(seen)

# A 400 is not retried.
seen.clear()
plan[:] = [400]
try:
    ugst_reward.score([{"id": "a"}], url, deadline_s=30)
    raise SystemExit("no error on a 400")
except RuntimeError as e:
    assert "HTTP 400" in str(e), e
assert len(seen) == 1
print("ok")
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&recipes)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
