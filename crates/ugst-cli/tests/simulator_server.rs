//! `ugst serve simulator` in-process: an outside "agent" drives whole conversations through the
//! OpenAI-compatible endpoint; the simulated user speaks first, its state is tracked as the agent
//! answers, and it ends the chat (or hits the turn limit). Unknown or missing goal ids are 400s.

mod common;

use common::*;
use serde_json::{json, Value};
use ugst::model::SimMode;
use ugst::serve::simulator::{router, Options};
use ugst_mock::Faults;

async fn start(cfg: &std::path::Path, mode: SimMode, max_turns: u32) -> String {
    start_with(cfg, options(mode, max_turns)).await
}

fn options(mode: SimMode, max_turns: u32) -> Options {
    Options {
        mode,
        tracking: ugst::model::TrackingMode::Batched,
        tracker: Default::default(),
        max_turns,
        omit_state: false,
        limits: Default::default(),
    }
}

/// The simulator with the demo goals and `opts`, in process; its chat-completions URL.
async fn start_with(cfg: &std::path::Path, opts: Options) -> String {
    let models = ugst_cli::backends::build(&ugst::config::Config::load(cfg).unwrap()).unwrap();
    let goals = ugst::goals::demo_goals();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(models, goals, opts))
            .await
            .unwrap()
    });
    format!("http://{addr}/v1/chat/completions")
}

/// Plays the agent until the simulator ends; returns every simulator answer.
async fn converse(client: &reqwest::Client, url: &str, goal: &str) -> Vec<Value> {
    let mut messages = vec![json!({"role": "system", "content": "You are a hotel agent."})];
    let mut answers = Vec::new();
    for _ in 0..12 {
        let r = client
            .post(url)
            .header("x-ugst-goal", goal)
            .json(&json!({"model": "any", "messages": messages}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        let text = v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_string();
        let end = v["ugst"]["end"].as_bool().unwrap();
        answers.push(v);
        if end {
            return answers;
        }
        assert!(!text.is_empty() && !text.contains("<think>"), "{text}");
        messages.push(json!({"role": "user", "content": text}));
        messages.push(json!({"role": "assistant", "content": format!("Noted: {text}")}));
    }
    panic!("the simulated user never ended the chat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outside_agent_talks_to_the_simulator() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &mock, "");
    let client = reqwest::Client::new();

    for mode in [SimMode::GoalState, SimMode::Reasoning] {
        let url = start(&cfg, mode, 6).await;
        let answers = converse(&client, &url, "hotel-1").await;
        assert!(answers.len() >= 2, "{answers:#?}");
        let last = answers.last().unwrap();
        assert_eq!(
            last["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .trim_end()
                .rsplit(' ')
                .next(),
            Some("END_CONVERSATION")
        );
        // The state is tracked as the agent answers: turn numbers advance and by the end some
        // sub-component has moved off its initial status.
        let turns: Vec<u64> = answers
            .iter()
            .map(|a| a["ugst"]["turn"].as_u64().unwrap())
            .collect();
        assert_eq!(turns, (1..=answers.len() as u64).collect::<Vec<_>>());
        let moved = last["ugst"]["state"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| !c["changes"].as_array().unwrap().is_empty());
        assert!(moved, "{}", last["ugst"]["state"]);
    }

    // A turn limit of one: the second call ends the chat whatever the goal says.
    let url = start(&cfg, SimMode::GoalState, 1).await;
    let answers = converse(&client, &url, "restaurant-1").await;
    assert_eq!(answers.len(), 2);
    assert_eq!(
        answers[1]["choices"][0]["message"]["content"],
        "END_CONVERSATION"
    );

    for (goal, needle) in [
        (Some("nope"), "unknown goal id \"nope\""),
        (None, "x-ugst-goal"),
    ] {
        let mut rb = client
            .post(&url)
            .json(&json!({"messages": [], "ugst_goal_id": goal}));
        if goal.is_none() {
            rb = client.post(&url).json(&json!({"messages": []}));
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
}

/// One request: the simulator's answer to `messages` for `goal`.
async fn ask(client: &reqwest::Client, url: &str, goal: &str, messages: &[Value]) -> Value {
    let r = client
        .post(url)
        .header("x-ugst-goal", goal)
        .json(&json!({"model": "any", "messages": messages}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

/// Two agents of one goal whose first user messages are identical (the mock simulator is
/// deterministic) but whose replies differ, interleaved: each must get exactly the states a
/// server tracking it alone gives (they shared a key before and continued from each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_of_one_goal_keep_their_own_state() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &mock, "");
    let client = reqwest::Client::new();
    let shared = start(&cfg, SimMode::GoalState, 6).await;
    let reply = |who: &str, turn: usize| format!("{who} reply {turn}: all booked and confirmed.");
    let mut histories = [Vec::<Value>::new(), Vec::<Value>::new()];
    let mut states = [Vec::new(), Vec::new()];
    for turn in 0..3 {
        for (i, who) in ["first", "second"].iter().enumerate() {
            let v = ask(&client, &shared, "hotel-1", &histories[i]).await;
            states[i].push(v["ugst"]["state"].clone());
            let text = v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_string();
            histories[i].push(json!({"role": "user", "content": text}));
            let agent = if i == 0 {
                reply(who, turn)
            } else {
                format!("Sorry, nothing found ({turn}).")
            };
            histories[i].push(json!({"role": "assistant", "content": agent}));
        }
    }
    // The second client alone, on a fresh server.
    let alone = start(&cfg, SimMode::GoalState, 6).await;
    let mut h = Vec::new();
    for turn in 0..3 {
        let v = ask(&client, &alone, "hotel-1", &h).await;
        assert_eq!(v["ugst"]["state"], states[1][turn], "turn {turn}");
        h = histories[1][..2 * (turn + 1)].to_vec();
    }
    // Going back to an earlier point gives the state of that point.
    let back = ask(&client, &shared, "hotel-1", &histories[0][..2]).await;
    assert_eq!(back["ugst"]["state"], states[0][1]);
}

/// Past the turn limit the simulator answers STOP without tracking the history it was sent:
/// 200 exchanges in one request cost no judge call (review finding 7: they cost 36 calls and
/// 34,731 prompt tokens, growing with the square of the history).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_past_the_turn_limit_is_not_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &mock, "");
    let client = reqwest::Client::new();
    let url = start(&cfg, SimMode::GoalState, 10).await;
    let requests = || async {
        let v: Value = client
            .get(mock.replace("/v1", "/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["requests"].as_u64().unwrap()
    };
    // The goal's decomposition is made once, before the long request.
    let first = ask(&client, &url, "hotel-1", &[]).await;
    assert_eq!(first["ugst"]["end"], false);
    let before = requests().await;
    let mut long = Vec::new();
    for i in 0..200 {
        long.push(json!({"role": "user", "content": format!("Question {i} about the hotel.")}));
        long.push(json!({"role": "assistant", "content": format!("Answer {i}.")}));
    }
    let v = ask(&client, &url, "hotel-1", &long).await;
    assert_eq!(v["ugst"]["end"], true, "{v}");
    assert_eq!(
        requests().await,
        before,
        "no judge call past the turn limit"
    );
    // What the openai SDK and vLLM's clients ask first.
    let models: Value = client
        .get(url.replace("/chat/completions", "/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert!(models["data"][0]["id"]
        .as_str()
        .unwrap()
        .starts_with("ugst-simulator:"));
}

/// `--omit-state`: the answers carry no goal state, so the agent under test cannot read the
/// user's goal decomposition from them (review finding 17's design note).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_can_be_kept_from_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &mock, "");
    let url = start_with(
        &cfg,
        Options {
            omit_state: true,
            ..options(SimMode::GoalState, 6)
        },
    )
    .await;
    let client = reqwest::Client::new();
    let v = ask(&client, &url, "hotel-1", &[]).await;
    assert_eq!(v["ugst"]["state"], Value::Null, "{v}");
    assert_eq!(v["ugst"]["goal_id"], "hotel-1");
}
