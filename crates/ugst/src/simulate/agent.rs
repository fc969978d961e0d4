//! The agent side of a conversation: an LLM with a system prompt that may call the environment's
//! tools several times (up to a step budget) before it replies to the user.

use super::env::{self, Session};
use crate::roles::RoleModel;
use ugst_llm::{CallRole, ChatRequest, Ledger, LlmError, Message, ToolSpec};

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
