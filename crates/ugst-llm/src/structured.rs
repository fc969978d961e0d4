//! How a structured answer is asked of a server, and what each way allows.
//!
//! Servers differ in what they accept for "answer with JSON that follows this schema": OpenAI's
//! strict mode takes only a subset of JSON Schema, llama.cpp's server, vLLM and SGLang compile any
//! schema into a grammar, some proxies know only JSON mode, and some models follow a schema best
//! as a forced tool call. [`Structured`] names the four ways; [`strict_schema`] rewrites a schema
//! into the strict subset, [`strict_violations`] checks one against OpenAI's documented rules, and
//! [`fit_limits`] enforces on our side the length limits a rewrite dropped.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// How a request's JSON Schema travels to an OpenAI-compatible server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Structured {
    /// `response_format: json_schema` with `strict: true` and the schema rewritten into the
    /// subset strict mode accepts (OpenAI).
    Strict,
    /// `response_format: json_schema`, `strict: false`, the schema as written (llama.cpp server,
    /// vLLM, SGLang, Ollama: they turn the whole schema into a grammar).
    JsonSchema,
    /// `response_format: json_object` and the schema written into the prompt (servers and proxies
    /// that know only JSON mode); the schema also rides along as `response_format.schema`, which
    /// llama-cpp-python's server turns into a grammar.
    JsonObject,
    /// One function tool whose parameters are the schema, forced with `tool_choice`.
    Tools,
}

impl Structured {
    pub const ALL: [Structured; 4] = [
        Structured::Strict,
        Structured::JsonSchema,
        Structured::JsonObject,
        Structured::Tools,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Structured::Strict => "strict",
            Structured::JsonSchema => "json_schema",
            Structured::JsonObject => "json_object",
            Structured::Tools => "tools",
        }
    }

    /// The default for a server at `base_url`: strict for OpenAI's own API (and Azure OpenAI),
    /// whose non-strict mode does not constrain decoding; the full schema elsewhere, where local
    /// servers constrain decoding by the whole schema.
    pub fn default_for(base_url: &str) -> Structured {
        let host = base_url
            .split("://")
            .nth(1)
            .unwrap_or(base_url)
            .split(['/', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if host == "api.openai.com" || host.ends_with(".openai.azure.com") {
            Structured::Strict
        } else {
            Structured::JsonSchema
        }
    }
}

impl std::fmt::Display for Structured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keywords OpenAI documents as supported in strict mode (plus annotations, which it ignores).
/// `minLength`/`maxLength` are not among them; array and number bounds are, but we drop the
/// array bounds too (older deployments reject them) and enforce them after parsing.
const STRICT_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
    "description",
    "title",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
];

/// Keywords [`strict_schema`] removes (their limits are enforced by [`fit_limits`] or by
/// validation against the original schema).
const DROPPED: &[&str] = &["minLength", "maxLength", "minItems", "maxItems"];

/// Documented size limits of strict mode.
const MAX_DEPTH: usize = 10;
const MAX_PROPERTIES: usize = 5000;
const MAX_ENUM_VALUES: usize = 1000;

/// `schema` in the form strict mode accepts: length and count bounds dropped, and every object
/// closed (`additionalProperties: false`) with every property required. A property the original
/// left optional becomes nullable, so the answer may still leave it out in effect.
pub fn strict_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                if DROPPED.contains(&k.as_str()) {
                    continue;
                }
                let v = match k.as_str() {
                    "properties" | "$defs" | "definitions" => Value::Object(
                        v.as_object()
                            .into_iter()
                            .flatten()
                            .map(|(name, s)| (name.clone(), strict_schema(s)))
                            .collect(),
                    ),
                    "items" => strict_schema(v),
                    "anyOf" => Value::Array(
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .map(strict_schema)
                            .collect(),
                    ),
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            if is_object_schema(&out) {
                let required: Vec<String> = out
                    .get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect();
                let mut props = out
                    .remove("properties")
                    .and_then(|p| match p {
                        Value::Object(p) => Some(p),
                        _ => None,
                    })
                    .unwrap_or_default();
                for (name, s) in props.iter_mut() {
                    if !required.contains(name) {
                        *s = json!({"anyOf": [s.take(), {"type": "null"}]});
                    }
                }
                let all: Vec<Value> = props.keys().map(|k| json!(k)).collect();
                out.insert("properties".into(), Value::Object(props));
                out.insert("required".into(), Value::Array(all));
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn is_object_schema(m: &Map<String, Value>) -> bool {
    m.get("type") == Some(&json!("object")) || m.contains_key("properties")
}

/// Everything in `schema` that OpenAI's strict mode would reject, each as `path: problem`.
/// Empty means the schema can be sent with `strict: true`.
pub fn strict_violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match schema.as_object() {
        Some(root) if root.get("type") == Some(&json!("object")) && !root.contains_key("anyOf") => {
        }
        _ => out.push("$: the root must be an object schema (type \"object\", not anyOf)".into()),
    }
    let mut counts = (0usize, 0usize);
    walk(schema, "$", 1, &mut counts, &mut out);
    if counts.0 > MAX_PROPERTIES {
        out.push(format!(
            "$: {} object properties in all, more than the {MAX_PROPERTIES} allowed",
            counts.0
        ));
    }
    if counts.1 > MAX_ENUM_VALUES {
        out.push(format!(
            "$: {} enum values in all, more than the {MAX_ENUM_VALUES} allowed",
            counts.1
        ));
    }
    out
}

fn walk(s: &Value, path: &str, depth: usize, counts: &mut (usize, usize), out: &mut Vec<String>) {
    let Some(m) = s.as_object() else {
        out.push(format!("{path}: a schema must be an object"));
        return;
    };
    for k in m.keys() {
        if !STRICT_KEYWORDS.contains(&k.as_str()) {
            out.push(format!(
                "{path}: keyword {k:?} is not supported in strict mode"
            ));
        }
    }
    if let Some(e) = m.get("enum").and_then(Value::as_array) {
        counts.1 += e.len();
    }
    if is_object_schema(m) {
        if depth > MAX_DEPTH {
            out.push(format!(
                "{path}: objects nested {depth} deep, more than the {MAX_DEPTH} allowed"
            ));
        }
        if m.get("additionalProperties") != Some(&json!(false)) {
            out.push(format!(
                "{path}: an object needs \"additionalProperties\": false"
            ));
        }
        let props = m.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = m
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, sub) in props.into_iter().flatten() {
            counts.0 += 1;
            if !required.contains(&name.as_str()) {
                out.push(format!(
                    "{path}: property {name:?} must be listed in \"required\""
                ));
            }
            walk(sub, &format!("{path}.{name}"), depth + 1, counts, out);
        }
    }
    if let Some(items) = m.get("items") {
        walk(items, &format!("{path}[]"), depth, counts, out);
    }
    if let Some(alts) = m.get("anyOf").and_then(Value::as_array) {
        for (i, a) in alts.iter().enumerate() {
            walk(a, &format!("{path}.anyOf[{i}]"), depth, counts, out);
        }
    }
    for defs in ["$defs", "definitions"] {
        for (name, sub) in m.get(defs).and_then(Value::as_object).into_iter().flatten() {
            walk(sub, &format!("{path}.{defs}.{name}"), depth, counts, out);
        }
    }
}

/// Brings `value` within the upper bounds of `schema` that a server may not have enforced: a
/// string longer than `maxLength` is cut (an over-long reason is shortened, not a failure), an
/// array longer than `maxItems` loses its tail. Lower bounds are left to validation.
pub fn fit_limits(value: &mut Value, schema: &Value) {
    let Some(s) = schema.as_object() else {
        return;
    };
    match value {
        Value::String(text) => {
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                if let Some((cut, _)) = text.char_indices().nth(max as usize) {
                    text.truncate(cut);
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64) {
                items.truncate(max as usize);
            }
            if let Some(item) = s.get("items") {
                for v in items.iter_mut() {
                    fit_limits(v, item);
                }
            }
        }
        Value::Object(fields) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, v) in fields.iter_mut() {
                    if let Some(sub) = props.get(k) {
                        fit_limits(v, sub);
                    }
                }
            }
        }
        _ => {}
    }
    // Alternatives: fit by the first one whose shape (object keys) matches.
    if let (Some(alts), Value::Object(fields)) = (s.get("anyOf").and_then(Value::as_array), &*value)
    {
        let keys: Vec<&String> = fields.keys().collect();
        let pick = alts.iter().find(|a| {
            a.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| keys.iter().all(|k| p.contains_key(*k)))
        });
        if let Some(a) = pick.cloned() {
            fit_limits(value, &a);
        }
    }
}

/// The instruction added to a request in [`Structured::JsonObject`] mode, where the server sees
/// no schema.
pub fn schema_instruction(schema: &Value) -> String {
    format!(
        "Reply with only one JSON object, no other text, that follows this JSON Schema:\n{schema}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_closes_objects_and_drops_length_bounds() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "maxLength": 5},
            "b": {"type": "array", "maxItems": 2, "items": {"type": "object", "properties": {"x": {"type": "integer"}}}}
        }, "required": ["a"]});
        let strict = strict_schema(&s);
        assert!(
            strict_violations(&strict).is_empty(),
            "{:?}",
            strict_violations(&strict)
        );
        assert_eq!(strict["required"], json!(["a", "b"]));
        assert!(strict["properties"]["a"].get("maxLength").is_none());
        // "b" was optional: now required but nullable.
        assert_eq!(
            strict["properties"]["b"]["anyOf"][1],
            json!({"type": "null"})
        );
        assert_eq!(
            strict["properties"]["b"]["anyOf"][0]["items"]["additionalProperties"],
            json!(false)
        );
    }

    #[test]
    fn checker_names_each_problem() {
        let s = json!({"type": "object", "properties": {"a": {"type": "string", "minLength": 1}},
            "required": []});
        let v = strict_violations(&s);
        assert!(v.iter().any(|e| e.contains("\"minLength\"")), "{v:?}");
        assert!(
            v.iter().any(|e| e.contains("additionalProperties")),
            "{v:?}"
        );
        assert!(
            v.iter().any(|e| e.contains("\"a\" must be listed")),
            "{v:?}"
        );
        assert!(!strict_violations(&json!({"anyOf": []})).is_empty());
    }

    #[test]
    fn limits_are_fitted_after_parsing() {
        let s = json!({"type": "object", "properties": {
            "r": {"type": "string", "maxLength": 3},
            "l": {"type": "array", "maxItems": 1, "items": {"type": "string", "maxLength": 2}}}});
        let mut v = json!({"r": "héllo", "l": ["abc", "d"]});
        fit_limits(&mut v, &s);
        assert_eq!(v, json!({"r": "hél", "l": ["ab"]}));
    }

    #[test]
    fn defaults_follow_the_host() {
        assert_eq!(
            Structured::default_for("https://api.openai.com/v1"),
            Structured::Strict
        );
        assert_eq!(
            Structured::default_for("https://x.openai.azure.com/openai"),
            Structured::Strict
        );
        assert_eq!(
            Structured::default_for("http://127.0.0.1:8000/v1"),
            Structured::JsonSchema
        );
    }
}
