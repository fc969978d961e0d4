//! The failure taxonomy on constructed conversations (each rule fires exactly where it should,
//! the judge's findings are added), and the agent's task reward split by simulator alignment.

use serde_json::json;
use std::sync::Arc;
use ugst::evaluate::failures::{by_rules, rule_failures, with_judge};
use ugst::evaluate::termination::classify;
use ugst::evaluate::{simulator_aligned, task_rewards};
use ugst::goals::Goal;
use ugst::model::TaskOutcome;
use ugst::model::TurnRecord;
use ugst::model::{ConvStatus, Conversation};
use ugst_llm::{Cache, ChatResponse, Ledger, Llm, ScriptedBackend, Usage};
use ugst_state::{Decomposition, GoalState, ObjectiveSpec, Status, Update};

fn decomposition() -> Decomposition {
    let objective = |t: &str| ObjectiveSpec {
        text: t.into(),
        requirements: vec![],
        preferences: vec![],
    };
    Decomposition {
        user_profile: vec!["You are Ana.".into()],
        user_policy: vec!["You never share your email.".into()],
        task_objectives: vec![
            objective("Return the lamp."),
            objective("Exchange the mug."),
        ],
    }
}

/// `n` turns; `changes` lists (turn, id, status) applied at that turn.
fn conv(n: u32, changes: &[(u32, &str, Status)], end: &str) -> Conversation {
    let mut state = GoalState::initial(&decomposition());
    let mut turns = Vec::new();
    for t in 1..=n {
        let ups: Vec<Update> = changes
            .iter()
            .filter(|c| c.0 == t)
            .map(|c| Update {
                id: c.1.into(),
                status: c.2,
                reason: format!("{} at turn {t}", c.1),
            })
            .collect();
        state.apply_turn(t, &ups);
        turns.push(TurnRecord {
            index: t,
            user: format!("message {t}"),
            agent: Some("ok".into()),
            agent_messages: vec![],
            steering: None,
            rejected: vec![],
            reasoning: None,
            thinking: Default::default(),
            state: state.clone(),
        });
    }
    Conversation {
        goal: Goal {
            decomposition: Some(decomposition()),
            ..Goal::new(
                format!("g{n}-{end}-{}", changes.len()),
                "Return the lamp and exchange the mug.",
            )
        },
        status: ConvStatus::Finished,
        end_reason: Some(end.parse().unwrap()),
        error: None,
        initial_state: Some(GoalState::initial(&decomposition())),
        final_state: Some(state),
        turns,
        task_reward: None,
        closing_reasoning: None,
    }
}

fn kinds(c: &Conversation) -> Vec<&'static str> {
    rule_failures(c, 10).iter().map(|f| f.kind).collect()
}

use Status::{Complete, Misaligned};

#[test]
fn each_rule_fires_where_it_should() {
    // Everything done, stopped at once: no failure.
    let clean = conv(
        3,
        &[(2, "obj-1", Complete), (3, "obj-2", Complete)],
        "simulator_stop",
    );
    assert!(kinds(&clean).is_empty());
    // Policy broken at turn 2 (and the rest fine).
    let contra = conv(
        3,
        &[
            (2, "pol-1", Misaligned),
            (2, "obj-1", Complete),
            (3, "obj-2", Complete),
        ],
        "simulator_stop",
    );
    let f = rule_failures(&contra, 10);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].turn), ("contradiction", Some(2)));
    assert!(f[0].detail.contains("pol-1"), "{}", f[0].detail);
    // Stopped after the first objective: misprioritization, not wrongful termination.
    assert_eq!(
        kinds(&conv(3, &[(2, "obj-1", Complete)], "simulator_stop")),
        ["misprioritization"]
    );
    // Stopped with nothing done.
    assert_eq!(
        kinds(&conv(2, &[], "simulator_stop")),
        ["wrongful_termination"]
    );
    // Went on three turns after everything was done.
    let long = conv(
        5,
        &[(1, "obj-1", Complete), (2, "obj-2", Complete)],
        "simulator_stop",
    );
    let f = rule_failures(&long, 10);
    assert_eq!((f[0].kind, f[0].turn), ("wrongful_termination", Some(2)));
    // The limit reached with an objective open.
    assert_eq!(
        kinds(&conv(10, &[(3, "obj-1", Complete)], "max_turns")),
        ["poor_length_management"]
    );
    // A transfer to a human is the agent's doing, not a simulator failure.
    assert!(kinds(&conv(2, &[], "agent_transfer")).is_empty());
}

#[test]
fn frequencies_are_shares_of_all_failures() {
    let convs = vec![
        conv(
            3,
            &[(1, "prof-1", Misaligned), (2, "obj-1", Complete)],
            "simulator_stop",
        ), // contradiction + misprioritization
        conv(10, &[], "max_turns"), // poor length management
        conv(
            2,
            &[(1, "obj-1", Complete), (2, "obj-2", Complete)],
            "simulator_stop",
        ), // none
        conv(1, &[], "simulator_stop"), // wrongful termination
    ];
    let t = by_rules(&convs, 10);
    assert_eq!((t.conversations, t.failing), (4, 3));
    assert_eq!(t.counts["contradiction"], 1);
    assert_eq!(t.counts["misprioritization"], 1);
    assert_eq!(t.counts["confusion"], 0);
    assert!((t.frequency["poor_length_management"] - 0.25).abs() < 1e-12);
    assert!((t.conversation_rate["contradiction"] - 0.25).abs() < 1e-12);
    let total: f64 = t.frequency.values().sum();
    assert!((total - 1.0).abs() < 1e-12);
    assert_eq!(t.per_conversation.len(), 3);
}

#[tokio::test]
async fn the_judge_adds_confusion_and_being_stuck() {
    let backend = ScriptedBackend::new("judge", |r| {
        assert_eq!(r.schema.as_ref().unwrap().name, "failure_judgement");
        let text = r.messages[0].content_str();
        assert!(text.contains("Return the lamp and exchange the mug."));
        assert!(text.contains("[obj-2] Exchange the mug. (INCOMPLETE)"));
        let content = json!({
            "confusion": {"evidence": "asked to return the mug too", "found": true, "turn": 2},
            "stuck": {"evidence": "", "found": false, "turn": 0}
        });
        Ok(ChatResponse {
            content: Some(content.to_string()),
            tool_calls: vec![],
            usage: Usage::default(),
            finish_reason: Some("stop".into()),
            ..ChatResponse::default()
        })
    });
    let llm = Llm::new(Arc::new(backend), Arc::new(Cache::disabled()));
    let ledger = Ledger::new();
    let convs = vec![conv(10, &[], "max_turns")];
    let t = with_judge(&llm, &ledger, &convs, 10, 2).await.unwrap();
    assert!(t.judged);
    assert_eq!(t.counts["confusion"], 1);
    assert_eq!(t.counts["poor_length_management"], 1);
    let f = &t.per_conversation[0].failures;
    let judged = f.iter().find(|f| f.source == "judge").unwrap();
    assert_eq!(
        (judged.kind, judged.turn, judged.detail.as_str()),
        ("confusion", Some(2), "asked to return the mug too")
    );
    assert_eq!(ledger.drain().len(), 1);
}

#[test]
fn task_reward_over_aligned_conversations() {
    let reward = |r: f64| TaskOutcome {
        reward: r,
        details: json!({"db_match": r == 1.0}),
    };
    let mut aligned = conv(
        3,
        &[(1, "obj-1", Complete), (2, "obj-2", Complete)],
        "simulator_stop",
    );
    aligned.task_reward = Some(reward(1.0));
    let mut broke_policy = conv(
        3,
        &[
            (1, "pol-1", Misaligned),
            (1, "obj-1", Complete),
            (2, "obj-2", Complete),
        ],
        "simulator_stop",
    );
    broke_policy.task_reward = Some(reward(0.0));
    let mut unfinished = conv(2, &[(1, "obj-1", Complete)], "simulator_stop");
    unfinished.task_reward = Some(reward(0.0));
    assert!(simulator_aligned(aligned.final_state.as_ref().unwrap()));
    assert!(!simulator_aligned(
        broke_policy.final_state.as_ref().unwrap()
    ));
    assert!(!simulator_aligned(unfinished.final_state.as_ref().unwrap()));
    let t = task_rewards("tau-retail", &[aligned, broke_policy, unfinished]).unwrap();
    assert_eq!(t.scored, 3);
    assert!((t.mean.unwrap() - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!((t.aligned_scored, t.aligned_mean), (1, Some(1.0)));
}

#[test]
fn a_bare_stop_on_the_last_turn_is_length_exhaustion() {
    // Two answered turns, then the stop sent alone as turn 3 of 3: the limit was used up.
    let mut c = conv(2, &[], "simulator_stop");
    c.goal.max_turns = Some(3);
    assert_eq!(classify(&c, 10), "length_exhaustion");
    assert!(
        !kinds(&c).contains(&"wrongful_termination"),
        "{:?}",
        kinds(&c)
    );
    // The same stop as turn 2 of 3 left a turn unused.
    let mut c = conv(1, &[], "simulator_stop");
    c.goal.max_turns = Some(3);
    assert_eq!(classify(&c, 10), "premature_stop");
    // A closing message sent with the stop on turn 2 of 2 is recorded as that turn.
    let mut c = conv(2, &[], "simulator_stop");
    c.turns[1].agent = None;
    c.goal.max_turns = Some(2);
    assert_eq!(classify(&c, 10), "length_exhaustion");
}
