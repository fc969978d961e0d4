//! The reasoning mode and the training exports: every user turn carries its reasoning, the agent
//! never sees it, `sft` chats flip the roles and hold no goal state, `grpo` prefixes end with an
//! agent message and carry the state the next turn starts from.

mod common;

use common::*;
use serde_json::Value;
use ugst::simulate::reasoning;
use ugst_mock::Faults;

#[test]
fn reasoning_run_exports_sft_and_grpo() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("run");
    run_cmd(
        &["--quiet", "--mode", "reasoning", "--max-turns", "4"],
        &cfg,
        Some(&goals),
        &run,
    )
    .assert()
    .success();
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    let mut agent_turns = 0;
    let mut closings = 0;
    for c in &convs {
        let stop_alone = c.end_reason == Some(ugst::model::EndReason::SimulatorStop)
            && c.turns.last().is_some_and(|t| t.agent.is_some());
        assert_eq!(c.closing_reasoning.is_some(), stop_alone, "{}", c.goal.id);
        closings += usize::from(stop_alone);
        for t in &c.turns {
            let r = t
                .reasoning
                .as_deref()
                .expect("every turn has its reasoning");
            assert!(r.starts_with("Progress:"), "{r}");
            assert!(!t.user.contains(reasoning::OPEN) && !t.user.contains("Progress:"));
            // What the agent received is the message alone.
            let seen = t
                .agent_messages
                .iter()
                .map(|m| m.content_str().to_string())
                .collect::<String>();
            assert!(!seen.contains(reasoning::OPEN), "{seen}");
            agent_turns += usize::from(t.agent.is_some());
        }
    }

    assert!(closings > 0, "the mock simulator closes with a stop alone");

    let chats = export(&run, &["--format", "sft"], &dir.path().join("sft.jsonl"));
    assert_eq!(chats.len(), convs.len());
    for (chat, c) in chats.iter().zip(&convs) {
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m[0]["role"], "system");
        let system = m[0]["content"].as_str().unwrap();
        assert!(system.contains(&c.goal.goal) && system.contains(reasoning::OPEN));
        assert_eq!(m[1]["role"], "user", "the opening cue");
        for (i, x) in m[2..].iter().enumerate() {
            let role = if i % 2 == 0 { "assistant" } else { "user" };
            assert_eq!(x["role"], role, "{chat}");
            let text = x["content"].as_str().unwrap();
            // Every simulator message, the closing signal included, carries its reasoning.
            if role == "assistant" {
                reasoning::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"));
            }
        }
        let all = serde_json::to_string(m).unwrap();
        for status in ["INCOMPLETE", "MISALIGNED", "ATTEMPTED"] {
            assert!(!all.contains(status), "no goal state in SFT data");
        }
    }

    let tok = dir.path().join("tokenizer.json");
    std::fs::write(&tok, WORD_TOKENIZER).unwrap();
    let grpo = |limit: &str| {
        let args = [
            "--format",
            "grpo",
            "--max-prompt-tokens",
            limit,
            "--tokenizer",
            tok.to_str().unwrap(),
        ];
        export(&run, &args, &dir.path().join(format!("grpo-{limit}.jsonl")))
    };
    let all = grpo("100000");
    assert_eq!(all.len(), agent_turns, "one prefix per agent message");
    for p in &all {
        let prompt = p["prompt"].as_array().unwrap();
        assert_eq!(
            prompt.last().unwrap()["role"],
            "user",
            "ends with the agent"
        );
        let ctx: Value = serde_json::from_str(p["ugst_context"].as_str().unwrap()).unwrap();
        let turn = ctx["turn"].as_u64().unwrap();
        assert!(p["sample_id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("#{turn}")));
        assert_eq!(
            ctx["history"].as_array().unwrap().len() as u64,
            2 * (turn - 1)
        );
        assert!(!ctx["state"]["components"].as_array().unwrap().is_empty());
        assert_eq!(ctx["max_turns"], 4);
    }
    let short = grpo("700");
    assert!(
        !short.is_empty() && short.len() < all.len(),
        "{} of {}",
        short.len(),
        all.len()
    );
    // Without a tokenizer the export says what it needs.
    let o = ugst()
        .arg("export")
        .arg(&run)
        .args(["--format", "grpo", "--out"])
        .arg(dir.path().join("x.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tokenizer"));
}

/// `--require-reasoning` leaves out conversations with a turn that has no reasoning (a teacher
/// that broke the layout): a reasoning-mode run keeps every conversation, a prompt-mode run
/// (no reasoning anywhere) keeps none.
#[test]
fn require_reasoning_leaves_out_conversations_with_unreasoned_turns() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    for (mode, kept) in [("reasoning", 20), ("prompt", 0)] {
        let run = dir.path().join(mode);
        run_cmd(
            &["--quiet", "--mode", mode, "--max-turns", "3"],
            &cfg,
            Some(&goals),
            &run,
        )
        .assert()
        .success();
        let out = dir.path().join(format!("{mode}.jsonl"));
        let o = ugst()
            .arg("export")
            .arg(&run)
            .args(["--format", "sft", "--require-reasoning", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lines = std::fs::read_to_string(&out).unwrap().lines().count();
        assert_eq!(lines, kept, "{mode}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!(
                "{} conversation(s) with a turn without reasoning left out",
                20 - kept
            )),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
