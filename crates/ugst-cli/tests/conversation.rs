//! The conversation loop and the tracker driven by scripted backends (no network).

mod common;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use ugst::goals::Goal;
use ugst::model::{EndReason, Exchange, Settings, SimMode, TrackingMode};
use ugst::roles::RoleModel;
use ugst::simulate::env::{Environment, Session};
use ugst::simulate::run_conversation;
use ugst::track::Tracker;
use ugst_llm::{
    Cache, ChatRequest, ChatResponse, Ledger, Llm, Role, ScriptedBackend, ToolCall, ToolSpec,
};
use ugst_state::{Decomposition, GoalState, ObjectiveSpec, Status};

fn decomposition() -> Decomposition {
    Decomposition {
        user_profile: vec!["You are Ana.".into()],
        user_policy: vec!["You never share your email.".into()],
        task_objectives: vec![ObjectiveSpec {
            text: "Book a room.".into(),
            requirements: vec!["For two nights.".into()],
            preferences: vec!["Cheap if possible.".into()],
        }],
    }
}

fn llm(f: impl Fn(&ChatRequest) -> ChatResponse + Send + Sync + 'static) -> Llm {
    Llm::new(
        Arc::new(ScriptedBackend::new("t", move |r| Ok(f(r)))),
        Arc::new(Cache::disabled()),
    )
}

/// A judge that marks everything as done and counts its calls and the ids it was asked about.
fn counting_judge(calls: Arc<AtomicUsize>, asked: Arc<Mutex<Vec<String>>>) -> Llm {
    llm(move |r| {
        calls.fetch_add(1, Ordering::SeqCst);
        let schema = &r.schema.as_ref().unwrap().schema;
        let done = |s: &Value| {
            let e = s["properties"]["status"]["enum"].as_array().unwrap();
            // Last status of the category: COMPLETE, ALIGNED (preference) or MISALIGNED (profile/policy).
            // Keep profile/policy ALIGNED by answering their first status instead.
            let pick = if e[0] == "ALIGNED" {
                &e[0]
            } else {
                e.last().unwrap()
            };
            json!({"reason": "ok", "status": pick})
        };
        if schema.get("description").is_some() {
            let prompt = r.messages[0].content_str();
            asked
                .lock()
                .unwrap()
                .push(prompt.lines().nth(2).unwrap_or("").to_string());
            ChatResponse::text(done(schema).to_string())
        } else {
            let mut out = serde_json::Map::new();
            for (id, s) in schema["properties"].as_object().unwrap() {
                asked.lock().unwrap().push(id.clone());
                out.insert(id.clone(), done(s));
            }
            ChatResponse::text(Value::Object(out).to_string())
        }
    })
}

fn history() -> Vec<Exchange> {
    vec![Exchange {
        user: "I want a cheap room for two nights".into(),
        agent: Some("Booked.".into()),
    }]
}

#[tokio::test]
async fn per_component_calls_once_per_open_component_and_skips_settled() {
    let calls = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let judge = counting_judge(calls.clone(), asked.clone());
    let mut state = GoalState::initial(&decomposition());
    let ups = Tracker::new(
        RoleModel::new(judge.clone()),
        TrackingMode::PerComponent,
        Default::default(),
    )
    .judge_turn(&Ledger::new(), &state, &history(), 1)
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    state.apply_turn(1, &ups.updates);
    // Objective, requirement and preference are now settled; profile and policy stay open.
    assert_eq!(state.get("obj-1").unwrap().status, Status::Complete);
    assert_eq!(state.open_components().count(), 2);
    Tracker::new(
        RoleModel::new(judge.clone()),
        TrackingMode::PerComponent,
        Default::default(),
    )
    .judge_turn(&Ledger::new(), &state, &history(), 2)
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn batched_makes_one_call_naming_only_open_ids() {
    let calls = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let judge = counting_judge(calls.clone(), asked.clone());
    let mut state = GoalState::initial(&decomposition());
    let ups = Tracker::new(
        RoleModel::new(judge.clone()),
        TrackingMode::Batched,
        Default::default(),
    )
    .judge_turn(&Ledger::new(), &state, &history(), 1)
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ups.updates.len(), 5);
    state.apply_turn(1, &ups.updates);
    asked.lock().unwrap().clear();
    Tracker::new(
        RoleModel::new(judge.clone()),
        TrackingMode::Batched,
        Default::default(),
    )
    .judge_turn(&Ledger::new(), &state, &history(), 2)
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        *asked.lock().unwrap(),
        // Schema keys are sorted, so ids come in sorted order.
        vec!["pol-1".to_string(), "prof-1".to_string()]
    );
    // When nothing can change, the judge is not called at all.
    let mut all_done = state.clone();
    for c in &mut all_done.components {
        c.status = *c.category.statuses().last().unwrap();
    }
    Tracker::new(
        RoleModel::new(judge.clone()),
        TrackingMode::Batched,
        Default::default(),
    )
    .judge_turn(&Ledger::new(), &all_done, &history(), 3)
    .await
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

struct Counter {
    calls: Arc<Mutex<Vec<String>>>,
}
impl Environment for Counter {
    fn name(&self) -> &str {
        "counter"
    }
    fn agent_policy(&self, _g: &Goal) -> String {
        "You count.".into()
    }
    fn tools(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "bump".into(),
            description: "add one".into(),
            parameters: json!({"type": "object"}),
        }]
    }
    fn start(&self, _g: &Goal) -> Box<dyn Session> {
        Box::new(CounterSession {
            n: 0,
            calls: self.calls.clone(),
        })
    }
}
struct CounterSession {
    n: u32,
    calls: Arc<Mutex<Vec<String>>>,
}
impl Session for CounterSession {
    fn call(&mut self, name: &str, _args: &Value) -> Result<String, String> {
        self.calls.lock().unwrap().push(name.to_string());
        if name != "bump" {
            return Err(format!("unknown tool {name}"));
        }
        self.n += 1;
        Ok(format!("count={}", self.n))
    }
}

fn models(sim: Llm, agent: Llm, judge: Llm) -> ugst::roles::RoleModels {
    let mut m = ugst_mock::role_models();
    m.simulator = RoleModel::new(sim);
    m.agent = RoleModel::new(agent);
    m.tracker = RoleModel::new(judge.clone());
    m.judge = RoleModel::new(judge);
    m
}

fn goal() -> Goal {
    Goal::new("g", "Book a room.")
}

#[tokio::test]
async fn stop_signal_tools_and_commits() {
    // The simulator talks twice, then stops.
    let sim = llm(|r| {
        let said = r
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        ChatResponse::text(if said < 2 {
            format!("message {said}")
        } else {
            "END_CONVERSATION".into()
        })
    });
    // The agent calls an unknown tool, then `bump` with broken JSON, then `bump`, then replies.
    let agent = llm(|r| {
        let tool_msgs = r
            .messages
            .iter()
            .rev()
            .take_while(|m| m.role != Role::User)
            .filter(|m| m.role == Role::Tool)
            .count();
        let call = |name: &str, args: &str| ChatResponse {
            tool_calls: vec![ToolCall::new(format!("c{tool_msgs}"), name, args)],
            ..Default::default()
        };
        match tool_msgs {
            0 => call("nope", "{}"),
            1 => call("bump", "{oops"),
            2 => call("bump", "{}"),
            _ => ChatResponse::text(format!("done after {tool_msgs} tool results")),
        }
    });
    let calls = Arc::new(AtomicUsize::new(0));
    let judge = counting_judge(calls, Arc::default());
    let env_calls = Arc::new(Mutex::new(Vec::new()));
    let env = Counter {
        calls: env_calls.clone(),
    };
    let settings = Settings {
        mode: SimMode::Goal,
        tracking: TrackingMode::Batched,
        max_turns: 10,
        agent_steps: 8,
        verify: 0,
        tracker: Default::default(),
    };
    let mut committed = Vec::new();
    let ledger = Ledger::new();
    let ugst::model::Ending { end, state, .. } = run_conversation(
        &models(sim, agent, judge),
        &env,
        settings,
        &goal(),
        GoalState::initial(&decomposition()),
        &ledger,
        |t| {
            committed.push(t.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(end, EndReason::SimulatorStop);
    assert_eq!(committed.len(), 2);
    assert_eq!(
        committed[0].agent.as_deref(),
        Some("done after 3 tool results")
    );
    let obs: Vec<&str> = committed[0]
        .agent_messages
        .iter()
        .filter(|m| m.role == Role::Tool)
        .map(|m| m.content_str())
        .collect();
    assert!(obs[0].starts_with("Error: unknown tool"));
    assert!(obs[1].starts_with("Error: the arguments are not valid JSON"));
    assert_eq!(obs[2], "count=1");
    // Broken arguments never reach the environment.
    assert_eq!(
        *env_calls.lock().unwrap(),
        vec!["nope", "bump", "nope", "bump"]
    );
    assert!(committed[1]
        .steering
        .as_deref()
        .unwrap()
        .contains("Book a room."));
    assert_eq!(state, committed[1].state);
    assert_eq!(state.get("obj-1").unwrap().changes[0].turn, 1);
}

#[tokio::test]
async fn max_turns_and_agent_step_budget() {
    let sim = llm(|_| ChatResponse::text("still here"));
    // An agent that only ever calls tools is cut off by the step budget and must answer in words.
    let agent = llm(|r| {
        if r.tools.is_empty() {
            ChatResponse::text("forced answer")
        } else {
            ChatResponse {
                tool_calls: vec![ToolCall::new("c", "bump", "{}")],
                ..Default::default()
            }
        }
    });
    let judge = counting_judge(Arc::default(), Arc::default());
    let env = Counter {
        calls: Arc::default(),
    };
    let settings = Settings {
        mode: SimMode::Prompt,
        tracking: TrackingMode::PerComponent,
        max_turns: 3,
        agent_steps: 2,
        verify: 0,
        tracker: Default::default(),
    };
    let mut turns = Vec::new();
    let ugst::model::Ending { end, .. } = run_conversation(
        &models(sim, agent, judge),
        &env,
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
    assert_eq!(end, EndReason::MaxTurns);
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[0].agent.as_deref(), Some("forced answer"));
    assert_eq!(
        turns[0]
            .agent_messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .count(),
        2
    );
    assert!(
        turns.iter().all(|t| t.steering.is_none()),
        "prompt mode has no steering"
    );
}

#[tokio::test]
async fn a_hand_off_ends_the_conversation_and_the_task_is_scored() {
    let data = common::shared_data();
    let env = ugst::simulate::env::open("tau-retail", Some(&data.join("tau_bench"))).unwrap();
    let sim = llm(|_| ChatResponse::text("Please cancel order #W5442520, I no longer need it."));
    // Retail dev task 0's gold action, then a hand-off to a human.
    let agent = llm(|r| {
        let tool_msgs = r.messages.iter().filter(|m| m.role == Role::Tool).count();
        let call = |name: &str, args: &str| ChatResponse {
            tool_calls: vec![ToolCall::new(format!("c{tool_msgs}"), name, args)],
            ..Default::default()
        };
        match tool_msgs {
            0 => call(
                "cancel_pending_order",
                r##"{"order_id": "#W5442520", "reason": "no longer needed"}"##,
            ),
            _ => call("transfer_to_human_agents", r#"{"summary": "done"}"#),
        }
    });
    let judge = counting_judge(Arc::default(), Arc::default());
    let settings = Settings {
        mode: SimMode::Prompt,
        tracking: TrackingMode::Batched,
        max_turns: 5,
        agent_steps: 4,
        verify: 0,
        tracker: Default::default(),
    };
    let mut g = goal();
    g.id = "tau-retail/dev/0".into();
    let mut turns = Vec::new();
    let ending = run_conversation(
        &models(sim, agent, judge),
        env.as_ref(),
        settings,
        &g,
        GoalState::initial(&decomposition()),
        &Ledger::new(),
        |t| {
            turns.push(t.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    assert_eq!(ending.end, EndReason::AgentTransfer);
    assert_eq!(
        turns.len(),
        1,
        "the hand-off closes the conversation in its turn"
    );
    let reward = ending.reward.expect("a τ task is scored");
    assert_eq!(reward.reward, 1.0, "{:?}", reward.details);
    assert_eq!(
        turns[0]
            .agent_messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .count(),
        2
    );
}

#[tokio::test]
async fn each_turn_s_steering_shows_the_judge_s_updates_from_the_turn_before() {
    // The judge marks the objective COMPLETE after turn 1 and says when it judged.
    let judge = llm(|r| {
        let prompt = r.messages[0].content_str();
        let turn = prompt.lines().filter(|l| l.starts_with("Turn ")).count();
        let schema = &r.schema.as_ref().unwrap().schema;
        let mut out = serde_json::Map::new();
        for (id, s) in schema["properties"].as_object().unwrap() {
            let first = &s["properties"]["status"]["enum"][0];
            let status = if id == "obj-1" {
                json!("COMPLETE")
            } else {
                first.clone()
            };
            out.insert(
                id.clone(),
                json!({"reason": format!("judged at turn {turn}"), "status": status}),
            );
        }
        ChatResponse::text(Value::Object(out).to_string())
    });
    // The simulator records the note it was shown, and stops after three messages.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let notes = seen.clone();
    let sim = llm(move |r| {
        let note = r
            .user_simulation
            .as_ref()
            .unwrap()
            .note
            .clone()
            .unwrap_or_default();
        let mut n = notes.lock().unwrap();
        n.push(note);
        ChatResponse::text(if n.len() > 3 {
            "END_CONVERSATION".into()
        } else {
            format!("message {}", n.len())
        })
    });
    let agent = llm(|_| ChatResponse::text("ok"));
    let settings = Settings {
        mode: SimMode::GoalState,
        tracking: TrackingMode::Batched,
        max_turns: 10,
        agent_steps: 2,
        verify: 0,
        tracker: Default::default(),
    };
    let mut committed = Vec::new();
    run_conversation(
        &models(sim, agent, judge),
        &ugst::simulate::env::ChatOnly,
        settings,
        &goal(),
        GoalState::initial(&decomposition()),
        &Ledger::new(),
        |t| {
            committed.push(t.clone());
            Ok(())
        },
    )
    .await
    .unwrap();
    let seen = seen.lock().unwrap();
    // Turn 1 starts from S0; turn 2 shows S1 with the judge's reason from turn 1; and so on.
    assert!(
        seen[0].contains("Book a room. -> INCOMPLETE\n"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].contains("Book a room. -> COMPLETE (judged at turn 1)"),
        "{}",
        seen[1]
    );
    // Turn 3: the settled objective keeps its status and reason; the turn count moved on.
    assert!(
        seen[2].contains("Book a room. -> COMPLETE (judged at turn 1)"),
        "{}",
        seen[2]
    );
    assert!(
        seen[2].contains("You have 8 message(s) left"),
        "{}",
        seen[2]
    );
    // What the simulator saw is what the turn records as its steering.
    for (t, note) in committed.iter().zip(seen.iter()) {
        assert_eq!(t.steering.as_deref(), Some(note.as_str()));
    }
}

/// A reasoning-mode simulator whose answers are cut inside the block or never open one: the
/// agent must never receive a word of the notes, a cut answer is asked again with more room,
/// and an answer that is all notes fails the conversation instead of being sent.
#[tokio::test]
async fn private_reasoning_never_reaches_the_agent() {
    let sent_to_agent = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = sent_to_agent.clone();
    let agent = llm(move |r| {
        let last = r
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .unwrap();
        heard.lock().unwrap().push(last.content_str().to_string());
        ChatResponse::text("Sure.")
    });
    let judge = counting_judge(Arc::default(), Arc::default());
    let room = Arc::new(Mutex::new(Vec::<Option<u32>>::new()));
    let asked = room.clone();
    // Call 1: cut at the limit inside the block; 2: still unclosed; 3 (after the layout
    // feedback): notes without a block. Then the same again for the next run.
    let sim = llm(move |r| {
        let mut a = asked.lock().unwrap();
        a.push(r.sampling.max_tokens);
        let (text, cut) = match a.len() {
            1 => (
                "<think>\nProgress: my email is ana@example.com, which I keep secret",
                true,
            ),
            2 => (
                "<think>\nProgress: my email is ana@example.com\nPlan: hide it",
                false,
            ),
            _ => (
                "Progress: email ana@example.com is secret.\nPlan: ask.\nAlignment: ok.",
                false,
            ),
        };
        let mut resp = ChatResponse::text(text);
        if cut {
            resp.finish_reason = Some("length".into());
        }
        resp
    });
    let settings = Settings {
        mode: SimMode::Reasoning,
        tracking: TrackingMode::Batched,
        max_turns: 3,
        agent_steps: 2,
        verify: 0,
        tracker: Default::default(),
    };
    let err = run_conversation(
        &models(sim, agent, judge),
        &ugst::simulate::env::ChatOnly,
        settings,
        &goal(),
        GoalState::initial(&decomposition()),
        &Ledger::new(),
        |_| Ok(()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("simulator"), "{err}");
    assert!(err.to_string().contains("only private reasoning"), "{err}");
    // The cut answer was asked again with twice the room (default 400).
    assert_eq!(room.lock().unwrap()[..2], [None, Some(800)]);
    assert!(
        sent_to_agent.lock().unwrap().is_empty(),
        "{:?}",
        sent_to_agent.lock().unwrap()
    );
}
