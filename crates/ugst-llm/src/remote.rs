//! An agent under test behind a URL: ugst sends it the user's turn and reads its reply; the agent
//! runs its own model and tools. Two protocols:
//!
//! - **OpenAI-compatible chat** (`POST {url}/chat/completions`): the whole conversation so far is
//!   sent each turn; the answer's `content` is the reply. An answer that asks for tool calls is an
//!   error: such an endpoint is a bare model, which ugst drives itself as the `agent` role.
//! - **A2A** (Agent2Agent, JSON-RPC over HTTP): the agent card at
//!   `{url}/.well-known/agent-card.json` names the JSON-RPC endpoint and the protocol version;
//!   each turn is one `SendMessage` (1.0) or `message/send` (0.3) carrying only the new message,
//!   with the context id (and the open task's id) the agent gave back, so the agent keeps the
//!   history. A task still working is polled with `GetTask` / `tasks/get`.
//!
//! Either way ugst tells the agent where this conversation's tools are (`ugst_tools_url`, an MCP
//! endpoint served by ugst) in the request's metadata and in the header `X-Ugst-Tools-Url`.

use crate::error::LlmError;
use crate::types::{Message, Role};
use backon::{BackoffBuilder, ExponentialBuilder};
use serde_json::{json, Value};
use std::time::Duration;

/// How the agent is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentProtocol {
    OpenAi,
    A2a,
}

impl std::str::FromStr for AgentProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "openai" => Ok(AgentProtocol::OpenAi),
            "a2a" => Ok(AgentProtocol::A2a),
            o => Err(format!("unknown agent protocol {o:?}; use openai or a2a")),
        }
    }
}

impl std::fmt::Display for AgentProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AgentProtocol::OpenAi => "openai",
            AgentProtocol::A2a => "a2a",
        })
    }
}

/// Where the agent is and how to call it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    pub url: String,
    pub protocol: AgentProtocol,
    /// The `model` field of chat requests (OpenAI protocol); the agent may ignore it.
    pub model: String,
    /// The key sent as `Authorization: Bearer`, if the agent needs one.
    pub api_key: Option<String>,
    /// Time one turn may take (the agent runs its own model and tools within it).
    pub timeout: Duration,
    /// Attempts after the first when the agent cannot be reached or answers 5xx/429.
    pub max_retries: u32,
    /// Pause between polls of an A2A task that is still working.
    pub poll_interval: Duration,
}

/// The A2A wire dialect, from the agent card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum A2aVersion {
    V1,
    V03,
}

/// A connected agent (after [`RemoteAgent::connect`] read its card or probed it).
#[derive(Debug, Clone)]
pub struct RemoteAgent {
    cfg: RemoteConfig,
    http: reqwest::Client,
    /// A2A: the JSON-RPC endpoint, its dialect and the agent's name.
    a2a: Option<(String, A2aVersion, String)>,
}

/// What an A2A agent handed back that the next turn must carry; empty for OpenAI agents.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    context_id: Option<String>,
    task_id: Option<String>,
}

/// One turn for the agent.
pub struct RemoteTurn<'a> {
    /// ugst's name for the conversation (sent as metadata `ugst_conversation`).
    pub conversation: &'a str,
    /// The conversation so far as user and assistant messages, ending with the new user turn.
    pub history: &'a [Message],
    /// The MCP endpoint of this conversation's tools, when ugst serves them.
    pub tools_url: Option<&'a str>,
}

impl RemoteAgent {
    /// Connects: an A2A agent's card is read (a missing or unreadable card is an error naming
    /// the URL); an OpenAI-compatible agent is probed with `GET {url}/models` (any answer but a
    /// refused key counts).
    pub async fn connect(cfg: RemoteConfig) -> Result<RemoteAgent, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build an HTTP client: {e}")))?;
        let mut agent = RemoteAgent {
            cfg,
            http,
            a2a: None,
        };
        match agent.cfg.protocol {
            AgentProtocol::A2a => agent.a2a = Some(agent.read_card().await?),
            AgentProtocol::OpenAi => {
                let url = format!("{}/models", agent.base());
                let resp = agent.with_key(agent.http.get(&url)).send().await;
                let resp = resp.map_err(|e| agent.unreachable(&e, 1))?;
                if matches!(resp.status().as_u16(), 401 | 403) {
                    return Err(agent.http_error(resp.status().as_u16(), resp.text().await, 1));
                }
            }
        }
        Ok(agent)
    }

    /// The URL the agent was reached at.
    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    pub fn protocol(&self) -> AgentProtocol {
        self.cfg.protocol
    }

    /// What the run records as its agent.
    pub fn describe(&self) -> Value {
        let mut d = json!({"url": self.cfg.url, "protocol": self.cfg.protocol.to_string()});
        if let Some((endpoint, version, name)) = &self.a2a {
            d["a2a_endpoint"] = json!(endpoint);
            d["a2a_version"] = json!(if *version == A2aVersion::V1 {
                "1.0"
            } else {
                "0.3"
            });
            d["name"] = json!(name);
        } else {
            d["model"] = json!(self.cfg.model);
        }
        d
    }

    /// Sends one turn and returns the agent's reply; `thread` carries what the agent handed
    /// back for the next turn.
    pub async fn send(
        &self,
        turn: &RemoteTurn<'_>,
        thread: &mut Thread,
    ) -> Result<String, LlmError> {
        match &self.a2a {
            None => self.chat(turn).await,
            Some((endpoint, version, _)) => self.a2a_send(endpoint, *version, turn, thread).await,
        }
    }

    fn base(&self) -> &str {
        self.cfg.url.trim_end_matches('/')
    }

    fn id(&self) -> String {
        format!("agent at {}", crate::redact_url(&self.cfg.url))
    }

    fn with_key(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cfg.api_key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    fn unreachable(&self, e: &reqwest::Error, attempts: u32) -> LlmError {
        crate::openai::transport_error(self.id(), self.cfg.timeout, e, attempts)
    }

    fn http_error(&self, status: u16, body: reqwest::Result<String>, attempts: u32) -> LlmError {
        LlmError::Http {
            backend: self.id(),
            status,
            attempts,
            body: crate::openai::snippet(&body.unwrap_or_default()),
        }
    }

    fn bad(&self, detail: impl Into<String>) -> LlmError {
        LlmError::BadResponse {
            backend: self.id(),
            detail: detail.into(),
        }
    }

    /// POSTs `body` to `url` and reads a JSON answer, retrying what a retry can mend.
    async fn post(
        &self,
        url: &str,
        body: &Value,
        headers: &[(&str, String)],
    ) -> Result<Value, LlmError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.cfg.max_retries as usize)
            .with_jitter()
            .build();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut rb = self.with_key(self.http.post(url)).json(body);
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            let err = match rb.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let text = resp
                        .text()
                        .await
                        .map_err(|e| self.unreachable(&e, attempts))?;
                    return serde_json::from_str(&text).map_err(|e| {
                        self.bad(format!(
                            "the answer is not JSON ({e}): {}",
                            crate::openai::snippet(&text)
                        ))
                    });
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let e = self.http_error(status, resp.text().await, attempts);
                    if status != 429 && status < 500 {
                        return Err(e);
                    }
                    e
                }
                Err(e) => self.unreachable(&e, attempts),
            };
            match delays.next() {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(err),
            }
        }
    }

    fn tools_headers(turn: &RemoteTurn<'_>) -> Vec<(&'static str, String)> {
        let mut h = vec![("X-Ugst-Conversation", turn.conversation.to_string())];
        if let Some(u) = turn.tools_url {
            h.push(("X-Ugst-Tools-Url", u.to_string()));
        }
        h
    }

    fn metadata(turn: &RemoteTurn<'_>) -> Value {
        let mut m = json!({"ugst_conversation": turn.conversation});
        if let Some(u) = turn.tools_url {
            m["ugst_tools_url"] = json!(u);
        }
        m
    }

    // ---- OpenAI-compatible chat ----

    async fn chat(&self, turn: &RemoteTurn<'_>) -> Result<String, LlmError> {
        let messages: Vec<Value> = turn
            .history
            .iter()
            .map(|m| json!({"role": m.role, "content": m.content_str()}))
            .collect();
        let body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "metadata": Self::metadata(turn),
        });
        let url = format!("{}/chat/completions", self.base());
        let answer = self.post(&url, &body, &Self::tools_headers(turn)).await?;
        let msg = &answer["choices"][0]["message"];
        if msg.is_null() {
            return Err(self.bad(format!(
                "no choices[0].message in the answer: {}",
                crate::openai::snippet(&answer.to_string())
            )));
        }
        let calls = msg["tool_calls"].as_array().map_or(0, |c| c.len());
        let text = msg["content"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        if text.is_empty() && calls > 0 {
            return Err(self.bad(
                "the agent answered with tool calls instead of a reply: an agent behind \
                 --agent-url runs its own tools (through ugst's MCP tools or its own); a bare \
                 model belongs in the config's agent role instead",
            ));
        }
        Ok(text)
    }

    // ---- A2A ----

    /// Reads the agent card: the JSON-RPC endpoint and the dialect. A 1.0 card lists
    /// `supportedInterfaces` (the JSONRPC binding is taken); a 0.3 card has `url` and
    /// `protocolVersion`.
    async fn read_card(&self) -> Result<(String, A2aVersion, String), LlmError> {
        let url = format!("{}/.well-known/agent-card.json", self.base());
        let resp = self.with_key(self.http.get(&url)).send().await;
        let resp = resp.map_err(|e| self.unreachable(&e, 1))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(LlmError::Config(format!(
                "{url}: HTTP {status}; an A2A agent serves its agent card there (is --agent-url \
                 the agent's base URL, and is it an A2A agent? use --agent-protocol openai for a \
                 chat endpoint)"
            )));
        }
        let text = resp.text().await.map_err(|e| self.unreachable(&e, 1))?;
        let card: Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::Config(format!("{url}: the agent card is not JSON ({e})")))?;
        parse_card(&card).map_err(|e| LlmError::Config(format!("{url}: {e}")))
    }

    async fn a2a_send(
        &self,
        endpoint: &str,
        version: A2aVersion,
        turn: &RemoteTurn<'_>,
        thread: &mut Thread,
    ) -> Result<String, LlmError> {
        let text = turn
            .history
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content_str().to_string())
            .unwrap_or_default();
        let id = format!("{}-{}", turn.conversation, turn.history.len());
        let (method, message) = match version {
            A2aVersion::V1 => (
                "SendMessage",
                json!({
                    "messageId": id, "role": "ROLE_USER", "parts": [{"text": text}],
                    "metadata": Self::metadata(turn),
                }),
            ),
            A2aVersion::V03 => (
                "message/send",
                json!({
                    "kind": "message", "messageId": id, "role": "user",
                    "parts": [{"kind": "text", "text": text}], "metadata": Self::metadata(turn),
                }),
            ),
        };
        let mut message = message;
        if let Some(c) = &thread.context_id {
            message["contextId"] = json!(c);
        }
        if let Some(t) = &thread.task_id {
            message["taskId"] = json!(t);
        }
        let params = json!({"message": message, "metadata": Self::metadata(turn)});
        let mut result = self.rpc(endpoint, version, method, params, turn).await?;
        // A task still working is polled until it answers or needs input.
        let deadline = std::time::Instant::now() + self.cfg.timeout;
        loop {
            let reply = read_result(&result, version).map_err(|e| self.bad(e))?;
            thread.context_id = reply.context_id.or(thread.context_id.take());
            thread.task_id = reply.open_task.clone();
            match reply.state {
                Progress::Answered(text) => return Ok(text),
                Progress::Failed(why) => {
                    return Err(self.bad(format!("the agent's task ended {why}")))
                }
                Progress::Working(task) => {
                    if std::time::Instant::now() > deadline {
                        return Err(LlmError::Timeout {
                            backend: self.id(),
                            timeout: self.cfg.timeout,
                            attempts: 1,
                        });
                    }
                    tokio::time::sleep(self.cfg.poll_interval).await;
                    let (method, params) = match version {
                        A2aVersion::V1 => ("GetTask", json!({"id": task})),
                        A2aVersion::V03 => ("tasks/get", json!({"id": task})),
                    };
                    result = self.rpc(endpoint, version, method, params, turn).await?;
                    if version == A2aVersion::V1 {
                        // GetTask answers the task itself, not a SendMessage response.
                        result = json!({"task": result});
                    }
                }
            }
        }
    }

    async fn rpc(
        &self,
        endpoint: &str,
        version: A2aVersion,
        method: &str,
        params: Value,
        turn: &RemoteTurn<'_>,
    ) -> Result<Value, LlmError> {
        let body =
            json!({"jsonrpc": "2.0", "id": turn.history.len(), "method": method, "params": params});
        let mut headers = Self::tools_headers(turn);
        if version == A2aVersion::V1 {
            headers.push(("A2A-Version", "1.0".to_string()));
        }
        let answer = self.post(endpoint, &body, &headers).await?;
        if let Some(err) = answer.get("error") {
            return Err(self.bad(format!("{method} answered a JSON-RPC error: {err}")));
        }
        answer.get("result").cloned().ok_or_else(|| {
            self.bad(format!(
                "{method}: no `result` in the answer: {}",
                crate::openai::snippet(&answer.to_string())
            ))
        })
    }
}

/// Where an A2A answer leaves the turn.
#[derive(Debug, PartialEq)]
enum Progress {
    Answered(String),
    Working(String),
    Failed(String),
}

#[derive(Debug)]
struct A2aReply {
    context_id: Option<String>,
    /// The task the next message continues (one waiting for input).
    open_task: Option<String>,
    state: Progress,
}

fn parse_card(card: &Value) -> Result<(String, A2aVersion, String), String> {
    let name = card["name"].as_str().unwrap_or("unnamed agent").to_string();
    if let Some(list) = card["supportedInterfaces"].as_array() {
        let jsonrpc = list
            .iter()
            .find(|i| {
                i["protocolBinding"]
                    .as_str()
                    .is_some_and(|b| b.eq_ignore_ascii_case("JSONRPC"))
            })
            .ok_or(
                "the agent card lists no JSONRPC interface (ugst speaks A2A's JSON-RPC binding)",
            )?;
        let url = jsonrpc["url"]
            .as_str()
            .ok_or("the JSONRPC interface has no url")?;
        let v = jsonrpc["protocolVersion"].as_str().unwrap_or("1.0");
        let version = if v.starts_with("0.") {
            A2aVersion::V03
        } else {
            A2aVersion::V1
        };
        return Ok((url.to_string(), version, name));
    }
    let url = card["url"]
        .as_str()
        .ok_or("the agent card has neither supportedInterfaces (A2A 1.0) nor url (A2A 0.3)")?;
    Ok((url.to_string(), A2aVersion::V03, name))
}

/// Text parts of a message or artifact, joined.
fn parts_text(parts: &Value) -> String {
    parts
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Reads a SendMessage result: a message (the reply) or a task (its artifacts and status
/// message are the reply once it completes or asks for input).
fn read_result(result: &Value, version: A2aVersion) -> Result<A2aReply, String> {
    let (message, task) = match version {
        A2aVersion::V1 => (result.get("message"), result.get("task")),
        A2aVersion::V03 => match result["kind"].as_str() {
            Some("message") => (Some(result), None),
            Some("task") => (None, Some(result)),
            _ => {
                return Err(format!(
                    "the result is neither a message nor a task: {result}"
                ))
            }
        },
    };
    if let Some(m) = message {
        return Ok(A2aReply {
            context_id: m["contextId"].as_str().map(String::from),
            open_task: None,
            state: Progress::Answered(parts_text(&m["parts"]).trim().to_string()),
        });
    }
    let task = task.ok_or_else(|| format!("the result holds no message or task: {result}"))?;
    let id = task["id"].as_str().ok_or("the task has no id")?.to_string();
    let state = task["status"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let state = state.trim_start_matches("task_state_").replace('_', "-");
    let mut text: Vec<String> = task["artifacts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| parts_text(&a["parts"]))
        .filter(|t| !t.trim().is_empty())
        .collect();
    let status_text = parts_text(&task["status"]["message"]["parts"]);
    if !status_text.trim().is_empty() {
        text.push(status_text);
    }
    let context_id = task["contextId"].as_str().map(String::from);
    let (open_task, progress) = match state.as_str() {
        "completed" => (None, Progress::Answered(text.join("\n").trim().to_string())),
        "input-required" => (
            Some(id),
            Progress::Answered(text.join("\n").trim().to_string()),
        ),
        "submitted" | "working" => (None, Progress::Working(id)),
        other => (
            None,
            Progress::Failed(format!("{other:?}: {}", text.join(" "))),
        ),
    };
    Ok(A2aReply {
        context_id,
        open_task,
        state: progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_of_both_versions_name_the_endpoint() {
        let v1 = json!({"name": "desk", "supportedInterfaces": [
            {"url": "http://h/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
            {"url": "http://h/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]});
        assert_eq!(
            parse_card(&v1).unwrap(),
            ("http://h/rpc".into(), A2aVersion::V1, "desk".into())
        );
        let old = json!({"name": "old", "url": "http://h/", "protocolVersion": "0.3.0"});
        assert_eq!(parse_card(&old).unwrap().1, A2aVersion::V03);
        let grpc_only = json!({"supportedInterfaces": [{"url": "x", "protocolBinding": "GRPC"}]});
        assert!(parse_card(&grpc_only).unwrap_err().contains("no JSONRPC"));
        assert!(parse_card(&json!({})).unwrap_err().contains("neither"));
    }

    #[test]
    fn results_are_read_as_replies_open_tasks_or_failures() {
        let msg =
            json!({"message": {"contextId": "c1", "parts": [{"text": "Hello"}, {"data": {}}]}});
        let r = read_result(&msg, A2aVersion::V1).unwrap();
        assert_eq!(
            (r.context_id.as_deref(), r.state),
            (Some("c1"), Progress::Answered("Hello".into()))
        );
        let asking = json!({"task": {"id": "t", "contextId": "c", "status": {"state": "TASK_STATE_INPUT_REQUIRED",
            "message": {"parts": [{"text": "Which order?"}]}}}});
        let r = read_result(&asking, A2aVersion::V1).unwrap();
        assert_eq!(
            (r.open_task.as_deref(), r.state),
            (Some("t"), Progress::Answered("Which order?".into()))
        );
        let done = json!({"kind": "task", "id": "t", "status": {"state": "completed"},
            "artifacts": [{"parts": [{"kind": "text", "text": "Done."}]}]});
        assert_eq!(
            read_result(&done, A2aVersion::V03).unwrap().state,
            Progress::Answered("Done.".into())
        );
        let working = json!({"task": {"id": "t9", "status": {"state": "TASK_STATE_WORKING"}}});
        assert_eq!(
            read_result(&working, A2aVersion::V1).unwrap().state,
            Progress::Working("t9".into())
        );
        let failed = json!({"task": {"id": "t", "status": {"state": "TASK_STATE_FAILED"}}});
        assert!(matches!(
            read_result(&failed, A2aVersion::V1).unwrap().state,
            Progress::Failed(_)
        ));
        assert!(read_result(&json!({"kind": "x"}), A2aVersion::V03).is_err());
    }
}
