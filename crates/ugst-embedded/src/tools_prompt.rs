//! The tool list in the words and spacing the local model was trained on. The GGUF carries the
//! model's own chat template (`tokenizer.chat_template`); rendered once with a marker system
//! message and the request's tools, and once without tools, the difference is exactly the text
//! the model saw whenever it was given tools in training. JSON inside it is written as the
//! template's `tojson` writes it in Python (`json.dumps` spacing, `", "` and `": "`), which is
//! also how earlier tool calls are shown back to the model.
//!
//! A template that says nothing about tools (or does not render) leaves [`crate::chat`]'s own
//! wording in place.

use minijinja::{context, Environment, Error, ErrorKind, Value as JValue};
use serde::Serialize;
use serde_json::Value;
use ugst_llm::ToolSpec;

/// Stands for the system message's own text while the template is rendered.
const MARK: &str = "\u{1}UGST_SYSTEM\u{1}";

/// Starts a tool given to the template already written as JSON: the template's maps would sort
/// the keys, and the model was shown them in OpenAI's order (type, then name, description,
/// parameters). `tojson` writes such a string as it is.
const WRITTEN: char = '\u{2}';

/// A model's chat template, compiled, for its tools text.
pub struct ToolsPrompt {
    env: Environment<'static>,
    /// What the template writes after the system message's text when there are no tools (its
    /// end-of-turn marker): the same for every request, so rendered once.
    tail: String,
}

/// `v` as Python's `json.dumps(v, ensure_ascii=False)` writes it: `", "` between items, `": "`
/// after keys, non-ASCII text as it is.
pub fn py_json(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PySpacing);
    v.serialize(&mut ser).expect("a JSON value serialises");
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// serde_json's compact output with Python's separators.
struct PySpacing;

/// `", "` before every item but the first, of an array or an object.
fn item_separator<W: ?Sized + std::io::Write>(w: &mut W, first: bool) -> std::io::Result<()> {
    match first {
        true => Ok(()),
        false => w.write_all(b", "),
    }
}

impl serde_json::ser::Formatter for PySpacing {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(w, first)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        item_separator(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

fn tojson(v: JValue) -> Result<String, Error> {
    if let Some(written) = v.as_str().and_then(|s| s.strip_prefix(WRITTEN)) {
        return Ok(written.to_string());
    }
    let json: Value = serde_json::to_value(&v)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(py_json(&json))
}

fn raise_exception(msg: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

impl ToolsPrompt {
    /// The template's tools text generator, or `None` when `template` does not compile or
    /// renders nothing for tools.
    pub fn new(template: &str) -> Option<ToolsPrompt> {
        let mut env = Environment::new();
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat", template.to_string()).ok()?;
        let mut p = ToolsPrompt {
            env,
            tail: String::new(),
        };
        let without = p.render(None)?;
        p.tail = without[without.find(MARK)? + MARK.len()..].to_string();
        let probe = ToolSpec {
            name: "probe".into(),
            description: "A probe.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {}}),
        };
        p.block(&[probe]).map(|_| p)
    }

    fn render(&self, tools: Option<Vec<String>>) -> Option<String> {
        let t = self.env.get_template("chat").ok()?;
        t.render(context! {
            messages => vec![serde_json::json!({"role": "system", "content": MARK})],
            tools => tools,
            add_generation_prompt => false,
        })
        .ok()
    }

    /// The text the template adds to the system message for `tools`, or `None` when it adds
    /// nothing (the template ignores tools).
    pub fn block(&self, tools: &[ToolSpec]) -> Option<String> {
        let list: Vec<String> = tools
            .iter()
            .map(|t| format!("{WRITTEN}{}", py_json(&t.to_openai())))
            .collect();
        let with = self.render(Some(list))?;
        let start = with.find(MARK)? + MARK.len();
        let block = with.get(start..with.len().checked_sub(self.tail.len())?)?;
        (with.ends_with(&self.tail) && !block.trim().is_empty()).then(|| block.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_spaced_as_python_writes_it() {
        let v = serde_json::json!({"arguments": {"ids": [1, 2], "note": "café"}});
        assert_eq!(
            py_json(&v),
            r#"{"arguments": {"ids": [1, 2], "note": "café"}}"#
        );
    }

    /// A template of the common shape (tools appended to the system message): the block is
    /// what it adds, with its own words and Python's spacing.
    #[test]
    fn the_block_is_what_the_template_adds_for_tools() {
        let tmpl = "{%- for m in messages %}<|s|>{{ m.role }}\n{{ m.content }}\
            {%- if tools and loop.first %}\n\nTOOLS:{%- for t in tools %}\n{{ t | tojson }}{%- endfor %}\nEND{%- endif %}<|e|>\n{%- endfor %}";
        let p = ToolsPrompt::new(tmpl).expect("renders tools");
        let tool = ToolSpec {
            name: "find".into(),
            description: "Find it.".into(),
            parameters: serde_json::json!({"type": "object", "properties": {"id": {"type": "string"}}}),
        };
        let block = p.block(std::slice::from_ref(&tool)).unwrap();
        assert_eq!(
            block,
            format!("\n\nTOOLS:\n{}\nEND", py_json(&tool.to_openai()))
        );
        assert!(block.contains(r#""description": "Find it.""#), "{block}");
        // A template without tools has no block to give.
        assert!(ToolsPrompt::new("{% for m in messages %}{{ m.content }}{% endfor %}").is_none());
        assert!(ToolsPrompt::new("{% broken").is_none());
    }
}
