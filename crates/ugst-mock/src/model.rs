//! The mock model: deterministic, rule-based answers for every role, instant and offline.
//!
//! It reads what a real model would read (the prompt and the requested schema) and answers in the
//! right shape: a decomposition split from the goal's sentences, tracker verdicts drawn from a hash
//! of the prompt (more progress in later turns), simulator messages taken from the goal that stop
//! after a few turns, and polite agent replies. It powers `provider = "mock"`, `ugst serve mock`,
//! `ugst bench harness` and the tests. It is a harness for the plumbing, not a model of users.

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use ugst::model::STOP;
use ugst::prompts::schemas;
use ugst::simulate::reasoning;
use ugst::text::sentences;
use ugst_llm::{
    Backend, CallStats, ChatRequest, ChatResponse, LlmError, Role, ToolCall, ToolSpec, Usage,
};

pub struct MockBackend {
    name: String,
    latency: Option<Duration>,
}

impl MockBackend {
    pub fn new(name: impl Into<String>) -> Self {
        MockBackend {
            name: name.into(),
            latency: None,
        }
    }
    /// Adds a fixed delay to every answer (to imitate a served model).
    pub fn with_latency(mut self, d: Duration) -> Self {
        self.latency = Some(d);
        self
    }
}

#[async_trait]
impl Backend for MockBackend {
    fn id(&self) -> String {
        format!("mock:{}", self.name)
    }
    fn model(&self) -> String {
        self.name.clone()
    }
    async fn complete(
        &self,
        req: &ChatRequest,
        _stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError> {
        if let Some(d) = self.latency {
            tokio::time::sleep(d).await;
        }
        Ok(respond(req))
    }
}

fn hash(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    u64::from_le_bytes(h.finalize()[..8].try_into().unwrap())
}

fn all_text(req: &ChatRequest) -> String {
    req.messages
        .iter()
        .map(|m| m.content_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Answers any request the way the role behind it expects.
pub fn respond(req: &ChatRequest) -> ChatResponse {
    let content_or_calls = match req.schema.as_ref().map(|s| s.name.as_str()) {
        Some(schemas::DECOMPOSITION) => Ok(decompose(&all_text(req)).to_string()),
        Some(schemas::MESSAGE_ROLE) => Ok(json!({
            "reason": "mock judge",
            "writer": if all_text(req).contains("How can I help") { "agent" } else { "customer" },
        })
        .to_string()),
        Some(schemas::PERSONA_ITEMS) => Ok(persona_items(&all_text(req))),
        Some(schemas::CONVERSATION_QUALITY) => {
            let h = hash(&[&all_text(req)]);
            Ok(json!({
                "naturalness_reason": "mock judge", "naturalness": 2 + h % 4,
                "coherence_reason": "mock judge", "coherence": 1 + (h >> 8) % 5,
            })
            .to_string())
        }
        // About one conversation in five shows confusion, one in seven a stuck objective.
        Some(schemas::FAILURE_JUDGEMENT) => {
            let h = hash(&[&all_text(req)]);
            let finding = |found: bool| {
                json!({"evidence": if found { "mock judge: seen" } else { "" }, "found": found,
                       "turn": if found { 1 } else { 0 }})
            };
            Ok(
                json!({"confusion": finding(h.is_multiple_of(5)), "stuck": finding((h >> 8).is_multiple_of(7))})
                    .to_string(),
            )
        }
        Some(schemas::VERIFY_TURN) => Ok(verify(&all_text(req)).to_string()),
        Some(schemas::TURN_CHANGES) => Ok(changes(req).to_string()),
        Some(schemas::CLAUSE_KINDS) => Ok(clause_kinds(&all_text(req)).to_string()),
        // The mock's delta verdicts are the other modes' verdicts: it stands by them, so a
        // check gets the answer that makes the change, however the question is put.
        Some(schemas::CHANGE_CHECK) => {
            let change = req.schema.as_ref().and_then(|s| {
                s.schema
                    .pointer("/properties/answer/enum")?
                    .as_array()?
                    .iter()
                    .find_map(|a| {
                        a.as_str().filter(|a| {
                            a.starts_with("done")
                                || a.starts_with("yes, the user")
                                || ["goes against", "contradicts", "states it", "already done"]
                                    .iter()
                                    .any(|w| a.contains(w))
                        })
                    })
            });
            Ok(json!({"answer": change.unwrap_or("yes")}).to_string())
        }
        Some(_) => Ok(judge(req).to_string()),
        None if req.user_simulation.is_some() => Ok(simulate(req)),
        None => agent(req),
    };
    let prompt_chars: usize = req.messages.iter().map(|m| m.content_str().len()).sum();
    let (content, tool_calls) = match content_or_calls {
        Ok(c) => (Some(c), Vec::new()),
        Err(calls) => (None, calls),
    };
    let completion_chars = content.as_deref().map_or(40, str::len);
    ChatResponse {
        content,
        tool_calls,
        usage: Usage {
            prompt_tokens: (prompt_chars / 4 + 1) as u64,
            completion_tokens: (completion_chars / 4 + 1) as u64,
            reasoning_tokens: 0,
        },
        finish_reason: Some("stop".into()),
        scores: Vec::new(),
        thinking: None,
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let a = text.find(start)? + start.len();
    let b = text[a..].find(end)? + a;
    Some(text[a..b].trim())
}

fn decompose(prompt: &str) -> Value {
    let goal = between(prompt, "<goal>", "</goal>").unwrap_or(prompt);
    let (mut profile, mut policy) = (Vec::new(), Vec::new());
    let mut objectives: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut pending_req = Vec::new();
    let mut pending_pref = Vec::new();
    for s in sentences(goal) {
        let l = s.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| l.contains(w));
        if has(&[
            "never ",
            "do not",
            "don't",
            "refuse",
            "won't",
            "not willing",
            "always ",
        ]) {
            policy.push(s);
        } else if has(&["prefer", "ideally", "would rather", "if possible"]) {
            match objectives.last_mut() {
                Some(o) => o.2.push(s),
                None => pending_pref.push(s),
            }
        } else if has(&[
            "want",
            "need",
            "looking for",
            "book",
            "cancel",
            "change",
            "find",
            "ask",
            "return",
            "exchange",
            "reserve",
        ]) {
            objectives.push((
                s,
                std::mem::take(&mut pending_req),
                std::mem::take(&mut pending_pref),
            ));
        } else if l.starts_with("you are")
            || l.starts_with("you're")
            || l.starts_with("your ")
            || l.starts_with("you live")
            || l.starts_with("you have")
        {
            profile.push(s);
        } else {
            match objectives.last_mut() {
                Some(o) => o.1.push(s),
                None => pending_req.push(s),
            }
        }
    }
    if objectives.is_empty() {
        let text = if pending_req.is_empty() {
            goal.trim().to_string()
        } else {
            pending_req.remove(0)
        };
        objectives.push((text, pending_req, pending_pref));
    } else if !pending_req.is_empty() || !pending_pref.is_empty() {
        objectives[0].1.extend(pending_req);
        objectives[0].2.extend(pending_pref);
    }
    json!({
        "user_profile": profile,
        "user_policy": policy,
        "task_objectives": objectives.into_iter().map(|(t, r, p)| json!({"text": t, "requirements": r, "preferences": p})).collect::<Vec<_>>(),
    })
}

/// The turn a judge prompt is about: the last `Turn N` heading of the transcript the library
/// renders (`ugst::model::transcript::transcript`), 1 when there is none.
fn latest_turn(prompt: &str) -> u64 {
    prompt
        .lines()
        .filter_map(|l| l.strip_prefix("Turn ")?.trim().parse().ok())
        .max()
        .unwrap_or(1)
}

fn verdict(schema: &Value, prompt: &str, key: &str) -> Value {
    let cat = schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches("category: ");
    let turn = latest_turn(prompt);
    let h = hash(&[prompt, key]);
    let roll = h % 10;
    let progress = roll < 3 + 2 * turn.min(3);
    let (status, reason) = match cat {
        "user_profile" | "user_policy" if h.is_multiple_of(50) => {
            ("MISALIGNED", "the user contradicted this")
        }
        "user_profile" | "user_policy" => ("ALIGNED", "nothing contradicts it"),
        "preference" if progress => ("ALIGNED", "the user stated it"),
        "preference" => ("MISALIGNED", "not expressed yet"),
        _ if progress => ("COMPLETE", "the agent did it"),
        _ if roll == 9 => ("ATTEMPTED", "the agent could not do it"),
        _ => ("INCOMPLETE", "not addressed yet"),
    };
    json!({"reason": format!("mock judge: {reason}"), "status": status})
}

/// The verifier: a draft contradicts a withholding policy ("never give/share …", "do not …")
/// when it discloses what the policy names — an e-mail address for an e-mail policy, a run of
/// seven or more digits for a phone or number policy; a draft that says the stop signal ends
/// the conversation. (The early-stop rule itself is applied by ugst from the state.)
fn verify(prompt: &str) -> Value {
    let draft = between(prompt, "<draft>", "</draft>").unwrap_or("");
    let email = draft.split_whitespace().any(|w| {
        w.split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
    });
    let mut run = 0;
    let mut longest = 0;
    for c in draft.chars() {
        match c {
            '0'..='9' => {
                run += 1;
                longest = longest.max(run);
            }
            ' ' | '-' | '(' | ')' | '+' => {}
            _ => run = 0,
        }
    }
    let number = longest >= 7;
    let mut violations = Vec::new();
    for line in prompt.lines() {
        let Some(rest) = line.strip_prefix("- [") else {
            continue;
        };
        let Some((id, text)) = rest.split_once("] (") else {
            continue;
        };
        let text = text.to_lowercase();
        let withholds = ["never", "do not", "don't", "refuse", "won't"]
            .iter()
            .any(|w| text.contains(w));
        let discloses = (text.contains("email") || text.contains("e-mail")) && email
            || (text.contains("phone") || text.contains("number")) && number;
        if withholds && discloses {
            violations.push(json!({"id": id, "reason": "mock verifier: the draft discloses what this policy withholds"}));
        }
    }
    json!({"violations": violations, "ends_conversation": draft.contains(STOP)
           || prompt.contains("The draft ends the conversation."), "agent_blocked": false})
}

fn judge(req: &ChatRequest) -> Value {
    let schema = &req
        .schema
        .as_ref()
        .expect("judge requests carry a schema")
        .schema;
    let prompt = all_text(req);
    if schema.get("description").is_some() {
        return verdict(schema, &prompt, "");
    }
    let mut out = Map::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (id, sub) in props {
            out.insert(id.clone(), verdict(sub, &prompt, id));
        }
    }
    Value::Object(out)
}

/// The `clauses` decomposition: each `cNN: text` line of the prompt gets a kind by keyword —
/// profile for "You are", policy for withholding or insisting, preference for soft wishes, the
/// first other clause the objective, the rest requirements.
fn clause_kinds(prompt: &str) -> Value {
    let mut out = Map::new();
    let mut seen_objective = false;
    for line in prompt.lines() {
        let Some((key, text)) = line.split_once(": ") else {
            continue;
        };
        if !(key.len() == 3 && key.starts_with('c') && key[1..].chars().all(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let t = text.to_lowercase();
        let kind = if t.starts_with("you are") && !t.contains("willing") && !t.contains("happy") {
            "user_profile"
        } else if [
            "never",
            "don't",
            "do not",
            "insist",
            "persistent",
            "mention",
            "willing to pay",
            "if ",
        ]
        .iter()
        .any(|w| t.contains(w))
        {
            "user_policy"
        } else if [
            "prefer",
            "ideally",
            "ok with",
            "happy with",
            "willing to accept",
        ]
        .iter()
        .any(|w| t.contains(w))
        {
            "preference"
        } else if !seen_objective || t.contains("you want") || t.contains("you also want") {
            seen_objective = true;
            "task_objective"
        } else {
            "requirement"
        };
        out.insert(key.to_string(), json!(kind));
    }
    Value::Object(out)
}

/// Delta tracking: the same verdicts as the other modes, reported only where they move a
/// sub-component forward, each quoting the first words of the user's latest message (so the
/// tracker's evidence check passes).
fn changes(req: &ChatRequest) -> Value {
    let schema = &req
        .schema
        .as_ref()
        .expect("a delta request carries a schema")
        .schema;
    let prompt = all_text(req);
    let evidence = prompt
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("User: "))
        .map(|u| u.split_whitespace().take(6).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let variants = schema
        .pointer("/properties/changes/items/anyOf")
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for v in variants.into_iter().flatten() {
        let Some(id) = v.pointer("/properties/id/enum/0").and_then(Value::as_str) else {
            continue;
        };
        let verdict = verdict(v, &prompt, id);
        let allowed = v
            .pointer("/properties/status/enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.contains(&verdict["status"]));
        if allowed && !evidence.is_empty() {
            out.push(json!({"id": id, "evidence": evidence, "status": verdict["status"]}));
        }
    }
    json!({ "changes": out })
}

fn simulate(req: &ChatRequest) -> String {
    let system = req
        .user_simulation
        .as_ref()
        .map_or("", |u| u.instructions.as_str());
    let goal = system.split("Your goal:").nth(1).unwrap_or(system).trim();
    // The simulated user's own earlier messages.
    let said = req.messages.iter().filter(|m| m.role == Role::User).count();
    let parts = sentences(goal);
    let stop_after = 2 + (hash(&[goal]) % 3) as usize;
    // Asked for reasoning first (the `reasoning` mode's note names the block): write it.
    // Over HTTP the note arrives inside the latest message (the opening cue on turn 1).
    let sim = req.user_simulation.as_ref();
    let note = sim
        .and_then(|u| u.note.as_deref())
        .or_else(|| req.messages.last().map(|m| m.content_str()))
        .or_else(|| sim.map(|u| u.opening.as_str()));
    let with_reasoning = note.is_some_and(|n| n.contains(reasoning::OPEN));
    // A goal with no sentence leaves nothing to say: the user closes at once.
    if parts.is_empty() || said >= stop_after.min(parts.len()) {
        if with_reasoning {
            let reasoning = format!(
                "Progress: I have said all {} things I came for.\nPlan: nothing is left, so I close.\nAlignment: I end politely, as myself.",
                parts.len()
            );
            return reasoning::render(&reasoning, STOP);
        }
        return STOP.to_string();
    }
    let s = &parts[said % parts.len().max(1)];
    let first_person = s
        .replacen("You are", "I am", 1)
        .replacen("You ", "I ", 1)
        .replacen("Your ", "My ", 1);
    let reply = if said == 0 {
        format!("Hello. {first_person}")
    } else {
        format!("Also: {first_person}")
    };
    if with_reasoning {
        let reasoning = format!(
            "Progress: I have said {said} of {} things so far.\nPlan: next I bring up: {s}\nAlignment: I speak as myself and keep my own rules.",
            parts.len()
        );
        return reasoning::render(&reasoning, &reply);
    }
    reply
}

fn agent(req: &ChatRequest) -> Result<String, Vec<ToolCall>> {
    let last_user = req
        .messages
        .iter()
        .rposition(|m| m.role == Role::User)
        .unwrap_or(0);
    let used_tool = req.messages[last_user..]
        .iter()
        .any(|m| m.role == Role::Tool);
    let user_text = req
        .messages
        .get(last_user)
        .map(|m| m.content_str())
        .unwrap_or("");
    if !used_tool {
        if let Some((name, args)) = planned_call(&req.tools, user_text) {
            return Err(vec![ToolCall::new(
                format!("call_{}", hash(&[user_text, "id"]) % 100_000),
                name,
                args.to_string(),
            )]);
        }
    }
    if let Some(tool) = req.tools.first() {
        if !used_tool && hash(&[user_text]).is_multiple_of(2) {
            return Err(vec![ToolCall::new(
                format!("call_{}", hash(&[user_text, "id"]) % 100_000),
                tool.name.clone(),
                "{}",
            )]);
        }
    }
    let short: String = user_text.chars().take(80).collect();
    Ok(format!(
        "Thank you. I have taken care of this: \"{short}\". Is there anything else I can do?"
    ))
}

const MOCK_NAMES: [&str; 12] = [
    "Alex", "Bea", "Chidi", "Dana", "Emil", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lina",
];
const MOCK_TRAITS: [&str; 10] = [
    "never gives a phone number",
    "always asks for the price first",
    "is visiting for a conference",
    "travels with a dog",
    "prefers quiet places",
    "is on a tight budget",
    "keeps messages short",
    "needs step-free access",
    "is in town for one night",
    "refuses to pay a deposit",
];

/// Ten persona lines drawn from the prompt's hash (so different seeds give different lists).
fn persona_items(prompt: &str) -> String {
    let h = hash(&[prompt]);
    let items: Vec<String> = (0..10u64)
        .map(|i| {
            let n = MOCK_NAMES[((h >> (i % 8)) as usize + i as usize) % MOCK_NAMES.len()];
            let t = MOCK_TRAITS[((h >> 3) as usize + 3 * i as usize) % MOCK_TRAITS.len()];
            format!("You are {n}, who {t} (variant {}).", (h % 1000) + i)
        })
        .collect();
    json!({ "items": items }).to_string()
}

/// The first word of `text` that starts with `prefix` followed by a digit (e.g. an order id).
fn id_with_prefix(text: &str, prefix: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '.' | ';' | ':'))
        .find(|w| {
            w.strip_prefix(prefix)
                .is_some_and(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// A tool call the mock agent makes when the user's message asks for something one of the
/// offered tools does: order look-ups and cancellations for retail-like tools, user look-ups by
/// email, place and train searches for MultiWOZ-like tools. It lets an offline run reach real
/// environment tools and change their data.
fn planned_call(tools: &[ToolSpec], user_text: &str) -> Option<(String, Value)> {
    let has = |n: &str| tools.iter().any(|t| t.name == n);
    let lower = user_text.to_lowercase();
    if let Some(order) = id_with_prefix(user_text, "#W") {
        if has("cancel_pending_order") && lower.contains("cancel") {
            return Some((
                "cancel_pending_order".into(),
                json!({"order_id": order, "reason": "no longer needed"}),
            ));
        }
        if has("get_order_details") {
            return Some(("get_order_details".into(), json!({"order_id": order})));
        }
    }
    if has("find_user_id_by_email") {
        let email = user_text
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | ';'))
            .map(|w| w.trim_end_matches('.'))
            .find(|w| w.contains('@') && w.contains('.'));
        if let Some(e) = email {
            return Some(("find_user_id_by_email".into(), json!({"email": e})));
        }
    }
    for domain in ["hotel", "restaurant", "attraction", "train"] {
        let tool = format!("find_{domain}");
        if !has(&tool) || !lower.contains(domain) {
            continue;
        }
        let mut args = Map::new();
        if domain == "train" {
            // "from X" and the last "to Y" ("I want to travel from X to Y").
            let from = lower.split(" from ").nth(1).map(str::to_string);
            let to = lower
                .rsplit(" to ")
                .next()
                .filter(|_| lower.contains(" to "))
                .map(str::to_string);
            for (k, part) in [("departure", from), ("destination", to)] {
                if let Some(rest) = part {
                    let place: String = rest.split([',', '.', ' ']).next().unwrap_or("").into();
                    if !place.is_empty() {
                        args.insert(k.into(), json!(place));
                    }
                }
            }
        } else {
            for area in ["centre", "north", "south", "east", "west"] {
                if lower.contains(area) {
                    args.insert("area".into(), json!(area));
                }
            }
            for price in ["cheap", "moderate", "expensive"] {
                if lower.contains(price) {
                    args.insert("pricerange".into(), json!(price));
                }
            }
        }
        return Some((tool, Value::Object(args)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_state::Decomposition;

    #[test]
    fn a_goal_with_no_sentence_closes_instead_of_panicking() {
        // Review finding 11: `parts[said % 1]` on an empty list panicked the mock server.
        for goal in ["Your goal: ...", "Your goal: !!! ???", ""] {
            let mut req = ChatRequest::new(vec![ugst_llm::Message::user("Start.")]);
            req.user_simulation = Some(ugst_llm::UserSimulation {
                instructions: goal.into(),
                opening: "Start.".into(),
                note: None,
            });
            assert_eq!(simulate(&req), STOP, "{goal}");
        }
    }

    #[test]
    fn decomposition_is_valid_and_keeps_every_sentence() {
        let goal = "You are Ana and you live in Boston. You want to book a hotel for 2 nights. It must be in the centre. You prefer a cheap one. You never share your email.";
        let d: Decomposition =
            serde_json::from_value(decompose(&format!("<goal>\n{goal}\n</goal>"))).unwrap();
        d.validate().unwrap();
        assert_eq!(d.user_profile.len(), 1);
        assert_eq!(d.user_policy.len(), 1);
        assert_eq!(
            d.task_objectives[0].requirements,
            vec!["It must be in the centre."]
        );
        assert_eq!(d.task_objectives[0].preferences.len(), 1);
        let n = d.user_profile.len()
            + d.user_policy.len()
            + d.task_objectives
                .iter()
                .map(|o| 1 + o.requirements.len() + o.preferences.len())
                .sum::<usize>();
        assert_eq!(n, sentences(goal).len());
    }

    #[test]
    fn sentence_split() {
        assert_eq!(
            sentences("A b. C d! e 3.5 f? g"),
            vec!["A b.", "C d!", "e 3.5 f?", "g"]
        );
    }
}
