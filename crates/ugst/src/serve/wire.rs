//! The OpenAI chat-completions wire format as our servers meet it from real clients: requests
//! read leniently (content as a string or a list of parts, `developer` messages, tool messages
//! and calls, `stream`) and answers written whole or as server-sent events.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Who wrote a message, as far as a conversation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `user` messages.
    User,
    /// `assistant` messages.
    Assistant,
}

/// A chat request reduced to what our servers use.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The `system` and `developer` messages' text, joined.
    pub instructions: String,
    /// The `user` and `assistant` messages with text, in order (tool messages and bare tool
    /// calls are left out: neither is part of what a user says or hears).
    pub messages: Vec<(Side, String)>,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with the usage.
    pub stream_usage: bool,
    pub model: Option<String>,
}

/// The text of a message's `content`: a string, a list of parts (`{"type": "text", "text"}`;
/// other parts are left out) or null.
fn text_of(content: &Value, at: &str) -> Result<String, String> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                match p {
                    Value::String(s) => out.push(s.clone()),
                    Value::Object(o) => {
                        if let Some(t) = o.get("text").and_then(Value::as_str) {
                            out.push(t.to_string());
                        }
                    }
                    _ => return Err(format!("{at}.content[{i}] is neither a string nor a part")),
                }
            }
            Ok(out.join("\n"))
        }
        _ => Err(format!(
            "{at}.content must be a string, a list of parts or null"
        )),
    }
}

/// `messages` with every `content` given as a list of parts joined into one string (as OpenAI
/// accepts for any role, tool results included), for readers that take content as text.
pub fn flatten_content(messages: &Value) -> Result<Value, String> {
    let mut out = messages.clone();
    if let Some(list) = out.as_array_mut() {
        for (i, m) in list.iter_mut().enumerate() {
            if let Some(c) = m.get_mut("content").filter(|c| c.is_array()) {
                *c = Value::String(text_of(c, &format!("messages[{i}]"))?);
            }
        }
    }
    Ok(out)
}

/// Reads a request body; the error names the field at fault.
pub fn read(body: &Value) -> Result<Incoming, String> {
    let list = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("the body needs \"messages\": a list of chat messages")?;
    let mut inc = Incoming {
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        stream_usage: body["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Default::default()
    };
    let mut instructions = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at} has no \"role\""))?;
        let text = text_of(m.get("content").unwrap_or(&Value::Null), &at)?;
        match role {
            "system" | "developer" => instructions.push(text),
            "user" => inc.messages.push((Side::User, text)),
            // An assistant message that only calls tools says nothing to the other side.
            "assistant" if !text.trim().is_empty() => inc.messages.push((Side::Assistant, text)),
            "assistant" | "tool" | "function" => {}
            other => return Err(format!("{at}: unknown role {other:?}")),
        }
    }
    inc.instructions = instructions.join("\n\n");
    Ok(inc)
}

/// Token counts of one answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    fn json(self) -> Value {
        json!({"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
               "total_tokens": self.prompt_tokens + self.completion_tokens})
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One assistant answer, whole (`chat.completion`) or streamed (`chat.completion.chunk` events,
/// then `[DONE]`) as the request asked. `extra` goes into the body under `"ugst"` (whole
/// answers only; a stream carries it in its first chunk).
pub fn answer(
    inc: &Incoming,
    id: &str,
    model: &str,
    text: &str,
    usage: Usage,
    extra: Value,
) -> Response {
    let created = now();
    if !inc.stream {
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": usage.json(),
            "ugst": extra,
        }))
        .into_response();
    }
    let chunk = |choices: Value| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": choices})
    };
    let mut first = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": text},
                                  "finish_reason": null}]),
    );
    first["ugst"] = extra;
    let mut events = vec![
        first,
        chunk(json!([{"index": 0, "delta": {}, "finish_reason": "stop"}])),
    ];
    if inc.stream_usage {
        let mut last = chunk(json!([]));
        last["usage"] = usage.json();
        events.push(last);
    }
    event_stream(&events)
}

/// `events` as a 200 of server-sent events, each a `data:` line, closed by `data: [DONE]`.
pub fn event_stream(events: &[Value]) -> Response {
    let mut sse: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from(sse))
        .expect("a valid response")
}

/// An OpenAI-style error body, its `type` following the status: a server-side failure is a
/// `server_error`, a missing or wrong key an `authentication_error`, anything else the
/// client's `invalid_request_error`.
pub fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    let kind = if status.is_server_error() {
        "server_error"
    } else if status == StatusCode::UNAUTHORIZED {
        "authentication_error"
    } else {
        "invalid_request_error"
    };
    (
        status,
        Json(json!({"error": {"message": msg.into(), "type": kind}})),
    )
        .into_response()
}

/// The answer to a body that is not the JSON a route takes: 413 for one over the size limit,
/// 400 (or axum's own status) for the rest.
pub fn rejected(e: axum::extract::rejection::JsonRejection) -> Response {
    error(e.status(), e.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parts_developer_and_tool_messages() {
        let body = json!({"stream": true, "stream_options": {"include_usage": true}, "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
            {"role": "system", "content": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "42"},
            {"role": "assistant", "content": "hello"}]});
        let inc = read(&body).unwrap();
        assert_eq!(inc.instructions, "be brief\n\nrules");
        assert_eq!(
            inc.messages,
            vec![
                (Side::User, "hi\nthere".into()),
                (Side::Assistant, "hello".into())
            ]
        );
        assert!(inc.stream && inc.stream_usage);
        let bad = read(&json!({"messages": [{"role": "wizard", "content": "x"}]})).unwrap_err();
        assert!(
            bad.contains("messages[0]") && bad.contains("wizard"),
            "{bad}"
        );
        assert!(read(&json!({})).is_err());
    }
}
