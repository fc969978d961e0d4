//! Lays a [`ChatRequest`] out as chat-template messages for a local model, and reads tool calls
//! back out of its text.
//!
//! Tools follow the Qwen2.5 convention the default models were trained on: the tool list goes into
//! the system message — in the model's own words from its chat template
//! ([`crate::tools_prompt`]) where it has them, else in ours — a call is a
//! `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` block with JSON spaced as Python
//! writes it, and results come back in a user turn inside `<tool_response>` tags. A user simulation is laid
//! out in its natural orientation (simulator = `user`, agent = `assistant`), the steering note as a
//! trailing system message, and a `user` turn is opened for the model to write: small models stay
//! in character far better this way than with flipped roles.

use crate::tools_prompt::{py_json, ToolsPrompt};
use serde_json::{json, Value};
use ugst_llm::{ChatRequest, Message, Role, ToolCall};

/// Which turn the model is asked to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    Assistant,
    User,
}

/// Messages ready for the chat template, plus the turn to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub messages: Vec<(String, String)>,
    pub open: Open,
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// The tool list for the system message, with the separator that goes before it.
fn tools_block(req: &ChatRequest, trained: Option<&ToolsPrompt>) -> Option<String> {
    if req.tools.is_empty() {
        return None;
    }
    if let Some(block) = trained.and_then(|t| t.block(&req.tools)) {
        return Some(block);
    }
    let list: Vec<String> = req
        .tools
        .iter()
        .map(|t| t.to_openai().to_string())
        .collect();
    Some(format!(
        "\n\n# Tools\n\nYou can call the functions listed inside <tools></tools>:\n<tools>\n{}\n</tools>\n\n\
         To call one, write a JSON object with the function's name and arguments inside <tool_call></tool_call> tags:\n\
         <tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>",
        list.join("\n")
    ))
}

fn assistant_text(m: &Message) -> String {
    let mut text = m.content_str().trim().to_string();
    for c in &m.tool_calls {
        let args: Value = serde_json::from_str(&c.function.arguments)
            .unwrap_or(Value::String(c.function.arguments.clone()));
        // Name first, as the model writes it.
        let call = format!(
            "{{\"name\": {}, \"arguments\": {}}}",
            py_json(&json!(c.function.name)),
            py_json(&args)
        );
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("<tool_call>\n{call}\n</tool_call>"));
    }
    text
}

/// Builds the template messages for `req`, tools listed by `trained` where given.
pub fn layout(req: &ChatRequest, trained: Option<&ToolsPrompt>) -> Layout {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(sim) = &req.user_simulation {
        out.push(("system".into(), sim.instructions.clone()));
        if req.messages.is_empty() {
            // Nothing has been said yet: say so, or a small model answers the instructions.
            out.push(("system".into(), sim.opening.clone()));
        }
        for m in &req.messages {
            out.push((role_name(m.role).into(), m.content_str().to_string()));
        }
        if let Some(note) = &sim.note {
            out.push(("system".into(), note.clone()));
        }
        return Layout {
            messages: out,
            open: Open::User,
        };
    }
    for m in &req.messages {
        match m.role {
            Role::Tool => {
                let block = format!("<tool_response>\n{}\n</tool_response>", m.content_str());
                // Consecutive results share one user turn.
                match out.last_mut() {
                    Some((r, c)) if r == "user" && c.ends_with("</tool_response>") => {
                        c.push('\n');
                        c.push_str(&block);
                    }
                    _ => out.push(("user".into(), block)),
                }
            }
            Role::Assistant => out.push(("assistant".into(), assistant_text(m))),
            r => out.push((role_name(r).into(), m.content_str().to_string())),
        }
    }
    if let Some(tools) = tools_block(req, trained) {
        match out.first_mut() {
            Some((r, c)) if r == "system" => c.push_str(&tools),
            _ => out.insert(0, ("system".into(), tools.trim_start().to_string())),
        }
    }
    Layout {
        messages: out,
        open: Open::Assistant,
    }
}

/// Splits a model's text into its prose and the tool calls it wrote. Blocks whose JSON cannot be
/// read are passed on as calls with the raw text as arguments, so the agent loop can report the
/// error back to the model instead of silently dropping the call. Without any tagged block, the
/// first `{"name": …, "arguments": {…}}` object in the text (bare or in a code fence) is the call
/// — see [`untagged_call`].
pub fn parse_tool_calls(text: &str) -> (Option<String>, Vec<ToolCall>) {
    if !text.contains("<tool_call>") {
        let (before, element_calls) = element_calls(text);
        if !element_calls.is_empty() {
            let prose = before.trim();
            return (
                (!prose.is_empty()).then(|| prose.to_string()),
                element_calls,
            );
        }
        if let Some((before, call)) = untagged_call(text) {
            let prose = before.trim();
            return ((!prose.is_empty()).then(|| prose.to_string()), vec![call]);
        }
    }
    let mut calls = Vec::new();
    let mut prose = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<tool_call>") {
        prose.push_str(&rest[..start]);
        let after = &rest[start + "<tool_call>".len()..];
        let (body, next) = match after.find("</tool_call>") {
            Some(end) => (&after[..end], &after[end + "</tool_call>".len()..]),
            None => (after, ""),
        };
        let id = format!("call_{}", calls.len() + 1);
        match serde_json::from_str::<Value>(body.trim()) {
            Ok(v) => {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let args = v.get("arguments").cloned().unwrap_or(json!({}));
                let args = match args {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                calls.push(ToolCall::new(id, name, args));
            }
            Err(_) => calls.push(ToolCall::new(id, "", body.trim().to_string())),
        }
        rest = next;
    }
    prose.push_str(rest);
    let prose = prose.trim();
    ((!prose.is_empty()).then(|| prose.to_string()), calls)
}

/// Calls written as elements, `<function name="NAME" arguments='{...}'/>` (inside `<tools>`), the
/// form the 1.5B coder model answers the tool list of its own chat template with (measured on
/// τ-retail, docs/embedded.md): the right tools and arguments in a shape no template asks for.
/// Returns the text before the first element and the calls in order; none when there is no
/// such element.
fn element_calls(text: &str) -> (&str, Vec<ToolCall>) {
    const OPEN: &str = "<function name=\"";
    let Some(first) = text.find(OPEN) else {
        return (text, Vec::new());
    };
    let before = text[..first].trim_end();
    let before = before.strip_suffix("<tools>").unwrap_or(before);
    let mut calls = Vec::new();
    for (at, _) in text.match_indices(OPEN) {
        let rest = &text[at + OPEN.len()..];
        let Some(end) = rest.find('"') else { continue };
        let name = &rest[..end];
        let rest = &rest[end + 1..];
        let args = ["arguments='", "arguments=\""].iter().find_map(|open| {
            let body = rest.trim_start().strip_prefix(open)?;
            let mut values = serde_json::Deserializer::from_str(body).into_iter::<Value>();
            match values.next() {
                Some(Ok(v @ Value::Object(_))) => Some(v.to_string()),
                _ => None,
            }
        });
        let id = format!("call_{}", calls.len() + 1);
        calls.push(ToolCall::new(id, name, args.unwrap_or_else(|| "{}".into())));
    }
    (before, calls)
}

/// A call written without the tags: the first JSON object in `text` that has a string `name` and
/// an object `arguments` (or `parameters`). Small models (the 1.5B coder) often write the call in
/// a ```json fence and then go on to invent its result; everything after the call is dropped, so
/// the real tool answers instead. Returns the text before the call (its fence opener removed)
/// and the call. An unknown name still counts as a call: the agent loop answers it with an error
/// that lists the real tools, which teaches more than passing invented results to the user.
pub fn untagged_call(text: &str) -> Option<(&str, ToolCall)> {
    for (i, _) in text.match_indices('{') {
        let mut values = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        let Some(Ok(v)) = values.next() else {
            continue;
        };
        let Some(name) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let Some(args) = v
            .get("arguments")
            .or_else(|| v.get("parameters"))
            .filter(|a| a.is_object())
        else {
            continue;
        };
        let before = text[..i].trim_end();
        let before = before
            .strip_suffix("```json")
            .or_else(|| before.strip_suffix("```"))
            .unwrap_or(before);
        return Some((before, ToolCall::new("call_1", name, args.to_string())));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_llm::{ToolSpec, UserSimulation};

    #[test]
    fn calls_written_as_elements_are_read() {
        let text = "<tools>\n  <function name=\"find_user_id_by_name_zip\" arguments='{\"first_name\": \"Yusuf\", \"zip\": \"19122\"}'/>\n  <function name=\"list_all_product_types\" arguments='{}'/>\n</tools>";
        let (prose, calls) = parse_tool_calls(text);
        assert_eq!(prose, None);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].function.name, "find_user_id_by_name_zip");
        let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"first_name": "Yusuf", "zip": "19122"}));
        assert_eq!(calls[1].function.arguments, "{}");
    }

    #[test]
    fn tool_round_trip() {
        let (prose, calls) = parse_tool_calls("Let me check.\n<tool_call>\n{\"name\": \"find\", \"arguments\": {\"id\": 3}}\n</tool_call>");
        assert_eq!(prose.as_deref(), Some("Let me check."));
        assert_eq!(calls[0].function.name, "find");
        assert_eq!(calls[0].function.arguments, "{\"id\":3}");
        let (_, broken) = parse_tool_calls("<tool_call>{oops</tool_call>");
        assert_eq!(broken[0].function.arguments, "{oops");
        assert_eq!(parse_tool_calls("plain").0.as_deref(), Some("plain"));
    }

    #[test]
    fn a_fenced_call_is_taken_and_the_invented_result_after_it_dropped() {
        // What the 1.5B coder wrote as a MultiWOZ agent: the call in a fence, then a made-up result.
        let text = "Let's search now:\n```json\n{\"name\": \"find_train\", \"arguments\": {\"departure\": \"cambridge\", \"day\": \"friday\"}}\n```\n\nThe results:\n```json\n{\"name\": \"Cambridge to Norwich train\", \"price\": \"20.00\"}\n```\nThe price is £20.00.";
        let (prose, calls) = parse_tool_calls(text);
        assert_eq!(prose.as_deref(), Some("Let's search now:"));
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].function.name, "find_train");
        let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
        assert_eq!(args, json!({"departure": "cambridge", "day": "friday"}));
        // A JSON object that is not a call (no arguments) stays prose; so does a bare answer.
        let (prose, calls) =
            parse_tool_calls("Found it: {\"name\": \"Pizza Hut\", \"area\": \"east\"}");
        assert!(calls.is_empty());
        assert!(prose.unwrap().contains("Pizza Hut"));
        // `parameters` is read like `arguments`; the first call wins.
        let (_, calls) = parse_tool_calls(
            "{\"name\": \"a\", \"parameters\": {}} {\"name\": \"b\", \"arguments\": {}}",
        );
        assert_eq!((calls.len(), calls[0].function.name.as_str()), (1, "a"));
    }

    #[test]
    fn tools_and_results_are_laid_out_for_qwen() {
        let req = ChatRequest::new(vec![
            Message::system("policy"),
            Message::user("hi"),
            Message::assistant_tool_calls(None, vec![ToolCall::new("c1", "find", "{\"id\":3}")]),
            Message::tool("c1", "r1"),
            Message::tool("c2", "r2"),
        ])
        .with_tools(vec![ToolSpec {
            name: "find".into(),
            description: "d".into(),
            parameters: json!({}),
        }]);
        let l = layout(&req, None);
        assert_eq!(l.open, Open::Assistant);
        assert!(
            l.messages[0].1.starts_with("policy\n\n# Tools")
                && l.messages[0].1.contains("\"name\":\"find\"")
        );
        assert!(l.messages[2].1.contains("<tool_call>"));
        assert_eq!(l.messages.len(), 4, "two results share one user turn");
        assert!(l.messages[3].1.contains("r1") && l.messages[3].1.contains("r2"));
    }

    #[test]
    fn user_simulation_opens_a_user_turn() {
        let sim = UserSimulation {
            instructions: "be a user".into(),
            opening: "start".into(),
            note: Some("note".into()),
        };
        let req =
            ChatRequest::user_simulation(sim, vec![Message::user("u1"), Message::assistant("a1")]);
        let l = layout(&req, None);
        assert_eq!(l.open, Open::User);
        let roles: Vec<&str> = l.messages.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "system"]);
        let first = ChatRequest::user_simulation(
            UserSimulation {
                instructions: "be a user".into(),
                opening: "start".into(),
                note: None,
            },
            vec![],
        );
        assert_eq!(
            layout(&first, None).messages[1],
            ("system".to_string(), "start".to_string())
        );
    }
}
