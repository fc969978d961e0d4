//! The agent side of a conversation: an LLM with a system prompt that may call the environment's
//! tools several times (up to a step budget) before it replies to the user; or an agent behind a
//! URL ([`UrlAgent`]) that runs its own model and calls the tools itself, over MCP.

use super::env::{self, Session};
use crate::roles::RoleModel;
use ugst_llm::{
    CallRole, ChatRequest, Ledger, LedgerEntry, LlmError, Message, RemoteAgent, RemoteTurn, Thread,
    ToolSpec,
};

/// Who answers the user: a model ugst drives, or an agent behind a URL.
pub enum AgentSide {
    Model(Agent),
    Url(Box<UrlAgent>),
}

impl AgentSide {
    /// Answers one user message; `session` holds the environment's tools.
    pub async fn respond(
        &mut self,
        role: &RoleModel,
        ledger: &Ledger,
        session: &mut dyn Session,
        user: &str,
    ) -> Result<AgentTurn, LlmError> {
        match self {
            AgentSide::Model(a) => a.respond(role, ledger, session, user).await,
            AgentSide::Url(a) => a.respond(ledger, session, user).await,
        }
    }
}

/// An agent behind a URL, and the conversation as it has seen it.
pub struct UrlAgent {
    agent: RemoteAgent,
    conversation: String,
    history: Vec<Message>,
    thread: Thread,
}

impl UrlAgent {
    pub fn new(agent: RemoteAgent, conversation: impl Into<String>) -> UrlAgent {
        UrlAgent {
            agent,
            conversation: conversation.into(),
            history: Vec::new(),
            thread: Thread::default(),
        }
    }

    /// Sends the user's turn (with where this conversation's tools are) and reads the reply;
    /// the tool calls the agent made meanwhile come from the session's log. Each turn is a
    /// ledger entry of the agent role (its latency; the agent's tokens are its own).
    async fn respond(
        &mut self,
        ledger: &Ledger,
        session: &mut dyn Session,
        user: &str,
    ) -> Result<AgentTurn, LlmError> {
        self.history.push(Message::user(user));
        let tools_url = session.address();
        let turn = RemoteTurn {
            conversation: &self.conversation,
            history: &self.history,
            tools_url: tools_url.as_deref(),
        };
        let started = std::time::Instant::now();
        let sent = self.agent.send(&turn, &mut self.thread).await;
        ledger.push(LedgerEntry {
            role: CallRole::Agent,
            backend: self.agent.url().to_string(),
            model: self.agent.protocol().to_string(),
            prompt_tokens: 0,
            completion_tokens: 0,
            reasoning_tokens: 0,
            latency_ms: started.elapsed().as_millis() as u64,
            retries: 0,
            repaired: false,
            cache_hit: false,
            ok: sent.is_ok(),
            error: sent.as_ref().err().map(|e| e.to_string()),
            engine: None,
        });
        let reply = sent?;
        self.history.push(Message::assistant(reply.clone()));
        let mut messages = session.take_log();
        messages.push(Message::assistant(reply.clone()));
        Ok(AgentTurn {
            reply,
            messages,
            ended: session.ended(),
            thinking: None,
        })
    }
}

/// The agent's running message list and what it needs to answer.
pub struct Agent {
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub step_budget: u32,
}

/// What the agent did in one turn.
pub struct AgentTurn {
    /// The reply the user sees.
    pub reply: String,
    /// Every message the agent produced this turn: tool calls, observations, the reply.
    pub messages: Vec<Message>,
    /// A tool call ended the conversation (e.g. a hand-off to a human agent).
    pub ended: bool,
    /// The model's own thinking in this turn's calls, in order; never shown to the user.
    pub thinking: Option<String>,
}

impl Agent {
    pub fn new(policy: String, tools: Vec<ToolSpec>, step_budget: u32) -> Self {
        Agent {
            messages: vec![Message::system(policy)],
            tools,
            step_budget: step_budget.max(1),
        }
    }

    /// Answers one user message, running tool calls through `session`.
    pub async fn respond(
        &mut self,
        role: &RoleModel,
        ledger: &Ledger,
        session: &mut dyn Session,
        user: &str,
    ) -> Result<AgentTurn, LlmError> {
        self.messages.push(Message::user(user));
        let start = self.messages.len();
        let mut thinking: Vec<String> = Vec::new();
        for step in 0..=self.step_budget {
            // The last step offers no tools, so the agent has to answer in words.
            let tools = if step < self.step_budget {
                self.tools.clone()
            } else {
                Vec::new()
            };
            let req = ChatRequest::new(self.messages.clone())
                .with_tools(tools)
                .with_sampling(role.sampling.clone());
            let resp = role.llm.chat(CallRole::Agent, ledger, &req).await?;
            thinking.extend(resp.thinking.clone());
            let thought = || (!thinking.is_empty()).then(|| thinking.join("\n\n"));
            if resp.tool_calls.is_empty() || step == self.step_budget {
                let reply = resp.content_str().trim().to_string();
                self.messages.push(Message::assistant(reply.clone()));
                return Ok(AgentTurn {
                    reply,
                    messages: self.messages[start..].to_vec(),
                    ended: false,
                    thinking: thought(),
                });
            }
            self.messages.push(Message::assistant_tool_calls(
                resp.content.clone(),
                resp.tool_calls.clone(),
            ));
            for call in &resp.tool_calls {
                let observation = match serde_json::from_str(&call.function.arguments) {
                    Ok(args) => env::call_guarded(session, &call.function.name, &args),
                    Err(e) => Err(format!(
                        "the arguments are not valid JSON ({e}); send a JSON object"
                    )),
                }
                .unwrap_or_else(|e| format!("Error: {e}"));
                self.messages
                    .push(Message::tool(call.id.clone(), observation));
            }
            if session.ended() {
                // The hand-off closes the conversation; whatever the agent said with it is its
                // last word to the user.
                let reply = resp.content_str().trim().to_string();
                return Ok(AgentTurn {
                    reply,
                    messages: self.messages[start..].to_vec(),
                    ended: true,
                    thinking: thought(),
                });
            }
        }
        unreachable!("the loop returns on its last step")
    }
}
