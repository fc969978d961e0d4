//! Today's models as every role, over HTTP against the mock in its documented modes: a reasoning
//! model that refuses `max_tokens`, a temperature other than 1, `top_p` and `logprobs` (one retry
//! without each, one warning naming the config line, reasoning tokens in the ledger); a model
//! that thinks aloud in `<think>` blocks full of braces (nothing of it reaches another role, all
//! of it is kept); a budget that stops a run and a resume that finishes it; τ²-bench's flags.

mod common;
use common::*;
use ugst::model::ConvStatus;
use ugst_mock::Faults;

#[test]
fn every_role_on_a_reasoning_model_finishes_with_one_warning_per_refused_field() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        reasoning_model: true,
        ..Faults::default()
    });
    // A served name the client cannot tell is a reasoning model, with the fields such a model
    // refuses: every refusal must be learnt from the server's 400s.
    let cfg = write_config(dir.path(), &url, "max_tokens = 512\ntop_p = 0.9");
    let out = run_demo(dir.path(), &cfg, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let st = statuses(&dir.path().join("run"));
    assert_eq!(st.len(), 20);
    assert!(st.iter().all(|s| *s == ConvStatus::Finished), "{st:?}");
    for field in ["max_tokens", "temperature", "top_p"] {
        let param = format!("\"param\":\"{field}\"");
        let warnings = err.lines().filter(|l| l.contains(&param)).count();
        assert_eq!(warnings, 1, "one warning about {field}:\n{err}");
    }
    // Each names the line that says so in the config.
    assert!(
        err.contains("token_limit = \"max_completion_tokens\"` to [models.local]"),
        "{err}"
    );
    assert!(
        err.contains("drop_params = [\"temperature\", \"top_p\"]` to [models.local]"),
        "{err}"
    );
    let store = ugst::store::RunStore::open(&dir.path().join("run")).unwrap();
    let ledger = store.ledger().unwrap();
    assert!(ledger
        .iter()
        .filter(|(_, e)| !e.cache_hit)
        .all(|(_, e)| e.reasoning_tokens == 64));
}

#[test]
fn a_reasoning_model_known_by_name_gets_no_refused_field_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        reasoning_model: true,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "max_tokens = 512");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("model = \"mock\"", "model = \"o4-mini\"");
    std::fs::write(&cfg, text).unwrap();
    let out = run_demo(dir.path(), &cfg, &["--num-tasks", "3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("refuses part of the request"), "{err}");
    assert_eq!(statuses(&dir.path().join("run")).len(), 3);
}

#[test]
fn thinking_never_reaches_another_role_and_is_kept_in_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults {
        think: true,
        ..Faults::default()
    });
    let cfg = write_config(dir.path(), &url, "");
    let out = run_demo(dir.path(), &cfg, &["--num-tasks", "4", "--env", "desk"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = ugst::store::RunStore::open(&dir.path().join("run")).unwrap();
    let convs = store.conversations().unwrap();
    assert!(convs.iter().all(|c| c.status == ConvStatus::Finished));
    let mut kept = 0;
    for c in &convs {
        for t in &c.turns {
            assert!(!t.user.contains("PRIVATE-THOUGHT"), "{}", t.user);
            let agent = t.agent.as_deref().unwrap_or("");
            assert!(!agent.contains("PRIVATE-THOUGHT"), "{agent}");
            for m in &t.agent_messages {
                assert!(!m.content_str().contains("PRIVATE-THOUGHT"), "{m:?}");
            }
            kept += [&t.thinking.user, &t.thinking.agent]
                .iter()
                .filter(|x| x.as_deref().is_some_and(|s| s.contains("PRIVATE-THOUGHT")))
                .count();
        }
    }
    assert!(kept > 0, "the thinking is kept with the turns");
    // Braces in the thinking broke no structured answer: none needed a repair.
    let ledger = store.ledger().unwrap();
    assert!(ledger.iter().all(|(_, e)| e.ok && !e.repaired));
}

#[test]
fn a_spent_budget_stops_the_run_and_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "\n[budget]\nmax_tokens = 6000");
    let out = run_demo(dir.path(), &cfg, &["--max-concurrency", "1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("budget is spent") && err.contains("--resume"),
        "{err}"
    );
    let st = statuses(&dir.path().join("run"));
    let finished = st.iter().filter(|s| **s == ConvStatus::Finished).count();
    assert!(finished > 0 && finished < 20, "{st:?}");
    assert!(!st.contains(&ConvStatus::Failed), "nothing is lost: {st:?}");
    // The budget raised on the command line: the rest is run.
    let resumed = ugst()
        .args(["run", "--quiet", "--resume", "--budget-tokens", "100000000"])
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let st = statuses(&dir.path().join("run"));
    assert!(st.iter().all(|s| *s == ConvStatus::Finished), "{st:?}");
}

#[test]
fn tau2_flags_pick_tasks_trials_and_models() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = ugst::goals::demo_goals();
    let (a, b) = (goals[3].id.clone(), goals[7].id.clone());
    let out = run_demo(
        dir.path(),
        &cfg,
        &[
            "--task-ids",
            &format!("{a},{b}"),
            "--num-trials",
            "2",
            "--max-concurrency",
            "2",
            "--user-llm",
            "mock:mock",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = ugst::store::RunStore::open(&dir.path().join("run")).unwrap();
    let mut ids: Vec<String> = store
        .conversations()
        .unwrap()
        .iter()
        .map(|c| c.goal.id.clone())
        .collect();
    ids.sort();
    let mut want = vec![
        format!("{a}#0"),
        format!("{a}#1"),
        format!("{b}#0"),
        format!("{b}#1"),
    ];
    want.sort();
    assert_eq!(ids, want);
    // The simulator ran on the model the flag named, the rest on the config's.
    let ledger = store.ledger().unwrap();
    assert!(ledger
        .iter()
        .any(|(_, e)| e.role == ugst_llm::CallRole::Simulator && e.backend.starts_with("mock")));
    assert!(ledger
        .iter()
        .any(|(_, e)| e.role == ugst_llm::CallRole::Agent && e.backend.starts_with("openai:")));
    // An id no goal has is named.
    let bad = run_demo(dir.path(), &cfg, &["--task-ids", "nope"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--task-ids") && err.contains("\"nope\""),
        "{err}"
    );
}
