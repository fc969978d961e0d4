//! `ugst serve mock` as an OpenAI-compatible server: a client asking `stream: true` gets
//! server-sent events (review finding 17: it got a JSON body), with the usage chunk when
//! `stream_options.include_usage` asks.

mod common;

use common::*;
use serde_json::{json, Value};
use ugst_mock::Faults;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_request_gets_server_sent_events() {
    let base = start_mock(Faults::default());
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .json(&json!({"model": "mock", "stream": true,
                      "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "Hello, can you help me?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let text = r.text().await.unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(!said.is_empty(), "{text}");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "stop"));
    assert!(chunks
        .iter()
        .any(|c| c["usage"]["total_tokens"].as_u64() > Some(0)));
}
