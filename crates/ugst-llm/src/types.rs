//! Plain chat-completion data types in the OpenAI shape: messages, tool calls, requests, answers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    /// Swaps `user` and `assistant` (the other roles stay): how a chat API sees a user simulation.
    pub fn flipped(self) -> Role {
        match self {
            Role::User => Role::Assistant,
            Role::Assistant => Role::User,
            other => other,
        }
    }
}

/// A function call requested by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the API sends it; may be malformed when the model misbehaves.
    pub arguments: String,
}

impl ToolCall {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            kind: function_kind(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn text(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }
    /// An assistant message that requests tool calls.
    pub fn assistant_tool_calls(content: Option<String>, calls: Vec<ToolCall>) -> Self {
        Message {
            role: Role::Assistant,
            content,
            tool_calls: calls,
            tool_call_id: None,
        }
    }
    /// The observation returned for one tool call.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: Role::Tool,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
    pub fn content_str(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }
}

/// A tool the model may call, as an OpenAI function schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub parameters: Value,
}

impl ToolSpec {
    /// The `{"type": "function", "function": {...}}` form sent on the wire.
    pub fn to_openai(&self) -> Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
    }
}

/// `v` with every object's keys in sorted order.
pub fn sorted_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, sorted_keys(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// A JSON Schema the answer must satisfy (sent as `response_format: json_schema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonSchemaSpec {
    pub name: String,
    pub schema: Value,
}

/// Sampling parameters; `None` leaves the backend's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Marks a request whose answer is the next *user* message (a user simulator).
///
/// The request's `messages` then hold the conversation in its natural orientation (`user` = the
/// simulated user, `assistant` = the agent) and no system message. Each backend lays this out the
/// way its model handles best: chat APIs get the roles flipped (see [`ChatRequest::wire_messages`]);
/// a local model can instead open a `user` turn in its own chat template.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSimulation {
    /// The simulator's instructions and goal.
    pub instructions: String,
    /// Shown to the simulator when it speaks first (flipped layout only).
    pub opening: String,
    /// A private note for this turn only (steering), placed after the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One chat-completion request, independent of the backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_simulation: Option<UserSimulation>,
    #[serde(default)]
    pub sampling: Sampling,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<JsonSchemaSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Complete answers to rank instead of writing one (each a valid answer to `schema`). A
    /// backend that can score continuations (the embedded model) returns the likeliest as the
    /// content and every candidate's log-probability in [`ChatResponse::scores`]; an
    /// OpenAI-compatible backend keeps its written answer and reads the scores from the
    /// server's token logprobs when it returns them ([`crate::ranking`]); any other backend
    /// ignores the list and answers as usual.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub score: Vec<String>,
}

impl ChatRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            ..Default::default()
        }
    }
    /// A request for the next user message; `history` uses natural roles (see [`UserSimulation`]).
    pub fn user_simulation(sim: UserSimulation, history: Vec<Message>) -> Self {
        ChatRequest {
            messages: history,
            user_simulation: Some(sim),
            ..Default::default()
        }
    }

    /// The messages as a chat API expects them. For a user simulation the roles are flipped, so
    /// the model writes the user's side as its `assistant` answer: system = instructions, an
    /// opening `user` message, then the user's messages as `assistant` and the agent's as `user`,
    /// with the note appended to the last message.
    pub fn wire_messages(&self) -> Vec<Message> {
        let Some(sim) = &self.user_simulation else {
            return self.messages.clone();
        };
        let mut m = vec![
            Message::system(sim.instructions.clone()),
            Message::user(sim.opening.clone()),
        ];
        for msg in &self.messages {
            m.push(Message {
                role: msg.role.flipped(),
                ..msg.clone()
            });
        }
        if let Some(note) = &sim.note {
            let last = m.last_mut().expect("at least the opening message");
            last.content = Some(format!("{}\n\n{note}", last.content_str()));
        }
        m
    }

    /// Asks for a structured answer. The schema's object keys are sorted (recursively), so the
    /// order in which a model writes the answer's fields — which a grammar enforces and which
    /// shapes what small models produce — does not depend on how the schema was written or on
    /// serde_json's map ordering.
    pub fn with_schema(mut self, name: impl Into<String>, schema: Value) -> Self {
        self.schema = Some(JsonSchemaSpec {
            name: name.into(),
            schema: sorted_keys(schema),
        });
        self
    }
    /// See [`ChatRequest::score`].
    pub fn with_score(mut self, candidates: Vec<String>) -> Self {
        self.score = candidates;
        self
    }
    pub fn with_tools(mut self, tools: Vec<ToolSpec>) -> Self {
        self.tools = tools;
        self
    }
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }
}

/// Token counts reported by the backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of the completion tokens, those the model spent thinking, when the server says
    /// (`usage.completion_tokens_details.reasoning_tokens`); 0 otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A model's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// For a request with [`ChatRequest::score`] answered by a backend that scores: the natural
    /// log-probability of each candidate, in the request's order (from an HTTP server's
    /// logprobs, up to a constant all candidates share: only their differences count). Empty
    /// otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<f64>,
    /// The model's private thinking before its answer (see [`crate::thinking`]): kept for the
    /// record, never part of `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
}

impl ChatResponse {
    pub fn text(content: impl Into<String>) -> Self {
        ChatResponse {
            content: Some(content.into()),
            ..Default::default()
        }
    }
    pub fn content_str(&self) -> &str {
        self.content.as_deref().unwrap_or("")
    }
    /// True when the answer has neither text nor tool calls.
    pub fn is_empty(&self) -> bool {
        self.content_str().trim().is_empty() && self.tool_calls.is_empty()
    }
}
