//! The verifier and the termination contract on a scripted simulator that makes known mistakes:
//! a turn that breaks a policy and a premature stop. With `--verify` both are caught and
//! rewritten; the termination classes come out exactly as constructed.

use serde_json::{json, Value};
use std::sync::Arc;
use ugst::evaluate::termination::classify;
use ugst::goals::Goal;
use ugst::model::TrackingMode;
use ugst::model::{ConvStatus, Conversation};
use ugst::model::{EndReason, Ending, Settings, SimMode, TurnRecord};
use ugst::simulate::env::ChatOnly;
use ugst::simulate::run_conversation;
use ugst_llm::{Cache, ChatRequest, ChatResponse, Ledger, Llm, Role, ScriptedBackend};
use ugst_state::{Decomposition, GoalState, ObjectiveSpec, Status, Update};

fn decomposition() -> Decomposition {
    Decomposition {
        user_profile: vec!["You are Ana.".into()],
        user_policy: vec!["You never share your email.".into()],
        task_objectives: vec![ObjectiveSpec {
            text: "Get a room booked and confirmed.".into(),
            requirements: vec!["For two nights.".into()],
            preferences: vec![],
        }],
    }
}

fn llm(f: impl Fn(&ChatRequest) -> ChatResponse + Send + Sync + 'static) -> Llm {
    Llm::new(
        Arc::new(ScriptedBackend::new("t", move |r| Ok(f(r)))),
        Arc::new(Cache::disabled()),
    )
}

/// Turn 1 shares the email; turn 2 stops before anything is booked; turn 3 closes properly. A
/// draft written after a rejection (the note says so) is the corrected one.
fn scripted_simulator() -> Llm {
    llm(|r| {
        let said = r.messages.iter().filter(|m| m.role == Role::User).count();
        let note = r
            .user_simulation
            .as_ref()
            .and_then(|u| u.note.clone())
            .unwrap_or_default();
        let retry = note.contains("was not sent");
        ChatResponse::text(match (said, retry) {
            (0, false) => "Hi, my email is ana@example.com, please book a room.",
            (0, true) => "Hi, I'd like to book a room for two nights.",
            (1, false) => "END_CONVERSATION",
            (1, true) => "Could you confirm the booking for two nights?",
            _ => "Thanks, that's all. END_CONVERSATION",
        })
    })
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let i = s.find(a).map(|i| i + a.len()).unwrap_or(0);
    let j = s[i..].find(b).map(|j| i + j).unwrap_or(s.len());
    &s[i..j]
}

/// One scripted judge for tracking and verification: sharing an email breaks the policy; the
/// objective and requirement are complete once the user asked to confirm the booking.
fn scripted_judge() -> Llm {
    llm(|r| {
        let prompt = r.messages[0].content_str().to_string();
        let schema = r.schema.as_ref().unwrap();
        if schema.name == ugst::prompts::schemas::VERIFY_TURN {
            let draft = between(&prompt, "<draft>", "</draft>");
            let violations: Vec<Value> = if draft.contains("email") {
                vec![json!({"id": "pol-1", "reason": "the draft gives out the email address"})]
            } else {
                vec![]
            };
            return ChatResponse::text(
                json!({"violations": violations, "ends_conversation": draft.contains("that's all"), "agent_blocked": false}).to_string(),
            );
        }
        let transcript = between(&prompt, "The conversation so far:", "Judge each");
        let last_user = transcript.rsplit("User: ").next().unwrap_or("");
        let done = transcript.contains("confirm the booking");
        let mut out = serde_json::Map::new();
        for id in schema.schema["properties"].as_object().unwrap().keys() {
            let status = match id.as_str() {
                "pol-1" if last_user.contains("email") => "MISALIGNED",
                "pol-1" | "prof-1" => "ALIGNED",
                _ if done => "COMPLETE",
                _ => "INCOMPLETE",
            };
            out.insert(id.clone(), json!({"reason": "scripted", "status": status}));
        }
        ChatResponse::text(Value::Object(out).to_string())
    })
}

fn goal() -> Goal {
    Goal::new(
        "g",
        "You are Ana. You never share your email. Get a room booked and confirmed for two nights.",
    )
}

async fn converse(verify: u32) -> (Ending, Vec<TurnRecord>, Ledger) {
    let mut models = ugst_mock::role_models();
    models.simulator = ugst::roles::RoleModel::new(scripted_simulator());
    models.agent = ugst::roles::RoleModel::new(llm(|_| ChatResponse::text("Done.")));
    models.tracker = ugst::roles::RoleModel::new(scripted_judge());
    let settings = Settings {
        mode: SimMode::Prompt,
        tracking: TrackingMode::Batched,
        max_turns: 5,
        agent_steps: 2,
        verify,
        tracker: Default::default(),
    };
    let ledger = Ledger::new();
    let mut turns = Vec::new();
    let ending = run_conversation(
        &models,
        &ChatOnly,
        settings,
        &goal(),
        GoalState::initial(&decomposition()),
        &ledger,
        |t| {
            turns.push(t.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    (ending, turns, ledger)
}

fn conversation(ending: &Ending, turns: Vec<TurnRecord>) -> Conversation {
    Conversation {
        goal: goal(),
        status: ConvStatus::Finished,
        end_reason: Some(ending.end),
        error: None,
        initial_state: Some(GoalState::initial(&decomposition())),
        final_state: Some(ending.state.clone()),
        turns,
        task_reward: None,
        closing_reasoning: None,
    }
}

#[tokio::test]
async fn without_the_verifier_the_mistakes_go_through() {
    let (ending, turns, _) = converse(0).await;
    assert_eq!(ending.end, EndReason::SimulatorStop);
    assert_eq!(turns.len(), 1, "the second turn was a bare stop");
    assert_eq!(
        ending.state.get("pol-1").unwrap().status,
        Status::Misaligned
    );
    assert_eq!(
        ending.state.get("obj-1").unwrap().status,
        Status::Incomplete
    );
    assert_eq!(classify(&conversation(&ending, turns), 5), "premature_stop");
}

#[tokio::test]
async fn the_verifier_removes_them_and_keeps_what_it_rejected() {
    let (ending, turns, ledger) = converse(2).await;
    assert_eq!(ending.end, EndReason::SimulatorStop);
    assert_eq!(ending.state.get("pol-1").unwrap().status, Status::Aligned);
    assert_eq!(ending.state.get("obj-1").unwrap().status, Status::Complete);
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[0].user, "Hi, I'd like to book a room for two nights.");
    assert_eq!(turns[0].rejected.len(), 1);
    assert!(turns[0].rejected[0].text.contains("ana@example.com"));
    assert!(
        turns[0].rejected[0].reason.contains("user policy"),
        "{}",
        turns[0].rejected[0].reason
    );
    assert_eq!(turns[1].rejected.len(), 1);
    assert!(turns[1].rejected[0].stop);
    assert!(turns[1].rejected[0]
        .reason
        .contains("ends the conversation"));
    assert!(
        turns[2].rejected.is_empty(),
        "a proper close is not rejected"
    );
    // The verifier's calls show in the ledger: one per draft (2 + 2 + 1).
    let calls = ledger
        .drain()
        .iter()
        .filter(|e| e.role == ugst_llm::CallRole::Verifier)
        .count();
    assert_eq!(calls, 5);
    assert_eq!(classify(&conversation(&ending, turns), 5), "proper_stop");
}

/// A conversation of `n` turns whose objective (and requirement) succeed at turn `done_at`.
fn constructed(n: u32, done_at: Option<u32>, end: &str, max_turns: Option<u32>) -> Conversation {
    let mut state = GoalState::initial(&decomposition());
    let mut turns = Vec::new();
    for t in 1..=n {
        if done_at == Some(t) {
            let up = |id: &str| Update {
                id: id.into(),
                status: Status::Complete,
                reason: "done".into(),
            };
            state.apply_turn(t, &[up("obj-1"), up("req-1.1")]);
        }
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
    let mut g = goal();
    g.max_turns = max_turns;
    Conversation {
        goal: g,
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

#[test]
fn termination_classes_as_constructed() {
    assert_eq!(
        classify(&constructed(3, Some(3), "simulator_stop", None), 10),
        "proper_stop"
    );
    assert_eq!(
        classify(&constructed(4, Some(3), "simulator_stop", None), 10),
        "proper_stop"
    );
    assert_eq!(
        classify(&constructed(3, None, "simulator_stop", None), 10),
        "premature_stop"
    );
    assert_eq!(
        classify(&constructed(5, Some(2), "simulator_stop", None), 10),
        "missed_stop"
    );
    assert_eq!(
        classify(&constructed(10, Some(4), "max_turns", None), 10),
        "missed_stop"
    );
    assert_eq!(
        classify(&constructed(10, None, "max_turns", None), 10),
        "length_exhaustion"
    );
    assert_eq!(
        classify(&constructed(4, None, "simulator_stop", Some(4)), 10),
        "length_exhaustion"
    );
    assert_eq!(
        classify(&constructed(10, Some(10), "max_turns", None), 10),
        "complete_at_limit"
    );
    assert_eq!(
        classify(&constructed(2, None, "agent_transfer", None), 10),
        "agent_transfer"
    );
    let mut failed = constructed(1, None, "error", None);
    failed.status = ConvStatus::Failed;
    assert_eq!(classify(&failed, 10), "error");
}

/// The mock model as the verifier (not a judge scripted for this test): it finds the disclosed
/// e-mail address on its own, and the draft is rewritten.
#[tokio::test]
async fn the_mock_verifier_detects_a_disclosure() {
    let mut models = ugst_mock::role_models();
    models.simulator = ugst::roles::RoleModel::new(scripted_simulator());
    models.agent = ugst::roles::RoleModel::new(llm(|_| ChatResponse::text("Done.")));
    let settings = Settings {
        mode: SimMode::Prompt,
        tracking: TrackingMode::Batched,
        max_turns: 2,
        agent_steps: 2,
        verify: 1,
        tracker: Default::default(),
    };
    let mut turns = Vec::new();
    run_conversation(
        &models,
        &ChatOnly,
        settings,
        &goal(),
        GoalState::initial(&decomposition()),
        &Ledger::new(),
        |t| {
            turns.push(t.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    let first = &turns[0];
    assert_eq!(first.rejected.len(), 1, "{first:?}");
    assert!(first.rejected[0].text.contains("ana@example.com"));
    let why = &first.rejected[0].reason;
    assert!(
        why.contains("You never share your email.") && why.contains("mock verifier"),
        "{why}"
    );
    assert!(!first.user.contains('@'), "{}", first.user);
}
