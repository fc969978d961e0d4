//! Helpers shared by the integration tests: a mock OpenAI-compatible server on 127.0.0.1 and a
//! config pointing at it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use ugst_mock::Faults;

/// Where the tests find `shared/data`: `$UGST_SHARED_DATA`, else beside the repository.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("UGST_SHARED_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// Starts `ugst serve mock`'s router on a free port in a background thread; returns its base URL.
pub fn start_mock(faults: Faults) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            ugst_mock::serve::serve(listener, faults).await.unwrap();
        });
    });
    format!("http://{}/v1", rx.recv().unwrap())
}

/// Writes a ugst.toml using `url` for every role; returns its path.
pub fn write_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let p = dir.join("ugst.toml");
    std::fs::write(
        &p,
        format!(
            "[models.local]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"mock\"\ntimeout_s = 5\nmax_retries = 8\n{extra}\n[cache]\npath = \"{}\"\n",
            dir.join("cache.sqlite").display()
        ),
    )
    .unwrap();
    p
}

pub fn demo_goals(dir: &Path) -> PathBuf {
    let p = dir.join("goals.jsonl");
    std::fs::write(&p, ugst::goals::DEMO_GOALS).unwrap();
    p
}

pub fn ugst() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("ugst").unwrap();
    c.env("UGST_HOME", std::env::temp_dir().join("ugst-test-home"));
    c
}

/// A word-level tokenizer.json: every word or punctuation mark is one token.
pub const WORD_TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null, "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"[UNK]": 0}, "unk_token": "[UNK]"}}"#;

/// Every line of a JSONL file, parsed.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `ugst export RUN ARGS --out OUT` (must succeed); returns the lines written.
pub fn export(run: &Path, args: &[&str], out: &Path) -> Vec<serde_json::Value> {
    ugst()
        .arg("export")
        .arg(run)
        .args(args)
        .arg("--out")
        .arg(out)
        .assert()
        .success();
    read_jsonl(out)
}

/// `ugst run FLAGS --config CFG [--goals GOALS] --out OUT`.
pub fn run_cmd(
    flags: &[&str],
    cfg: &Path,
    goals: Option<&Path>,
    out: &Path,
) -> assert_cmd::Command {
    let mut c = ugst();
    c.arg("run").args(flags).arg("--config").arg(cfg);
    if let Some(g) = goals {
        c.arg("--goals").arg(g);
    }
    c.arg("--out").arg(out);
    c
}

/// `ugst run` on the demo goals (written into `dir`) with `cfg`: two turns, batched tracking,
/// into `dir/run`, with `extra` flags.
pub fn run_demo(dir: &Path, cfg: &Path, extra: &[&str]) -> std::process::Output {
    let goals = demo_goals(dir);
    ugst()
        .args([
            "run",
            "--quiet",
            "--max-turns",
            "2",
            "--tracking",
            "batched",
        ])
        .args(extra)
        .arg("--config")
        .arg(cfg)
        .arg("--goals")
        .arg(&goals)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap()
}

/// Every conversation's status in the run in `run`.
pub fn statuses(run: &Path) -> Vec<ugst::model::ConvStatus> {
    let store = ugst::store::RunStore::open(run).unwrap();
    let convs = store.conversations().unwrap();
    convs.iter().map(|c| c.status).collect()
}
