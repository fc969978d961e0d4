//! Which request fields an OpenAI-compatible endpoint takes, by the provider's documented
//! conventions: the token-limit field's name (`max_tokens` or `max_completion_tokens`), fields a
//! reasoning model refuses (`temperature`, `top_p`, `logprobs` other than their defaults),
//! `reasoning_effort`, and the server-specific fields a user adds (`extra_body`). A field the
//! server refuses at run time is recognised from its 400 ([`refused_field`]) so the backend can
//! ask once more without it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The name of the field that caps an answer's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLimit {
    /// The older name; vLLM, SGLang, llama.cpp's servers and Ollama take it.
    MaxTokens,
    /// OpenAI's name since its reasoning models (which refuse `max_tokens`).
    MaxCompletionTokens,
}

impl TokenLimit {
    pub fn field(self) -> &'static str {
        match self {
            TokenLimit::MaxTokens => "max_tokens",
            TokenLimit::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// How one model's requests are shaped beyond the chat itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WireParams {
    /// The `[models.NAME]` table these come from, for messages that name the line to add.
    pub table: String,
    /// The token-limit field; `None` picks by endpoint and model ([`WireParams::token_limit`]).
    pub token_limit: Option<TokenLimit>,
    /// Fields never sent: the model accepts only its defaults for them. `None` picks by model
    /// name ([`default_dropped`]).
    pub drop: Option<Vec<String>>,
    /// `reasoning_effort` sent as it is (`minimal`, `low`, `medium`, `high`, …).
    pub reasoning_effort: Option<String>,
    /// Fields merged into every request's top level last (a field here replaces ugst's own).
    pub extra_body: Map<String, Value>,
}

/// Whether `model` names one of OpenAI's reasoning families (o1, o3, o4-mini, gpt-5 …), which
/// take only `max_completion_tokens` and their default sampling. A provider prefix
/// (`openai/o3-mini`) is ignored; `gpt-5-chat` models are chat models.
pub fn is_reasoning_model(model: &str) -> bool {
    let name = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .to_ascii_lowercase();
    let o_series = ["o1", "o3", "o4"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
    });
    o_series || (name.starts_with("gpt-5") && !name.contains("-chat"))
}

/// Whether `base_url` is OpenAI's own API.
pub fn is_openai_api(base_url: &str) -> bool {
    reqwest::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h == "api.openai.com"))
        .unwrap_or(false)
}

/// The fields a model refuses unless told otherwise: a reasoning model's sampling fields.
pub fn default_dropped(model: &str) -> Vec<String> {
    match is_reasoning_model(model) {
        true => ["temperature", "top_p", "logprobs", "top_logprobs"]
            .map(str::to_string)
            .to_vec(),
        false => Vec::new(),
    }
}

impl WireParams {
    /// The token-limit field for `model` at `base_url`: as configured, else OpenAI's own API
    /// and reasoning models get `max_completion_tokens`, every other server `max_tokens`.
    pub fn token_limit(&self, base_url: &str, model: &str) -> TokenLimit {
        self.token_limit.unwrap_or_else(|| {
            match is_openai_api(base_url) || is_reasoning_model(model) {
                true => TokenLimit::MaxCompletionTokens,
                false => TokenLimit::MaxTokens,
            }
        })
    }

    /// The fields never sent for `model`.
    pub fn dropped(&self, model: &str) -> Vec<String> {
        self.drop.clone().unwrap_or_else(|| default_dropped(model))
    }

    /// Applies these settings to a request body: the token limit under `limit`'s name,
    /// `reasoning_effort`, `extra_body`, then every field of `dropped` taken out.
    pub fn shape(&self, body: &mut Value, limit: TokenLimit, dropped: &[String]) {
        let Some(obj) = body.as_object_mut() else {
            return;
        };
        for name in [TokenLimit::MaxTokens, TokenLimit::MaxCompletionTokens] {
            if let Some(v) = obj.remove(name.field()) {
                obj.insert(limit.field().to_string(), v);
            }
        }
        if let Some(e) = &self.reasoning_effort {
            obj.insert("reasoning_effort".into(), Value::String(e.clone()));
        }
        for (k, v) in &self.extra_body {
            obj.insert(k.clone(), v.clone());
        }
        for k in dropped {
            obj.remove(k);
        }
    }
}

/// What a refused field asks of the next attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token limit goes under its other name.
    TokenLimit(TokenLimit),
    /// The field is left out.
    Drop(String),
}

/// The request field a 400/422 answer refuses, if it names one the request sent: OpenAI's
/// `error.param` with an `unsupported_parameter`/`unsupported_value` code, or a message such
/// as "Unsupported parameter: 'max_tokens'…", "'temperature' does not support 0", or LiteLLM's
/// "O-series models don't support temperature=0". `sent` is the request body.
pub fn refused_field(status: u16, text: &str, sent: &Value) -> Option<Refusal> {
    if !matches!(status, 400 | 422) {
        return None;
    }
    let sent = sent.as_object()?;
    // What carries the chat or its structure is never dropped: a refused schema or tool has
    // its own handling (JSON mode, the text-call rescue).
    let optional = |k: &str| {
        !matches!(
            k,
            "model" | "messages" | "response_format" | "tools" | "tool_choice"
        )
    };
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let param = err
        .and_then(|e| e.get("param"))
        .and_then(Value::as_str)
        .filter(|p| sent.contains_key(*p) && optional(p));
    let code = err
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let lower = text.to_ascii_lowercase();
    let says_unsupported = [
        "unsupported",
        "not supported",
        "does not support",
        "don't support",
        "not allowed",
    ]
    .iter()
    .any(|w| lower.contains(w));
    // The field named in the text: quoted ('temperature'), or set (temperature=0).
    let named = |k: &str| {
        ['\'', '"', '`']
            .iter()
            .any(|q| text.contains(&format!("{q}{k}{q}")))
            || text.match_indices(&format!("{k}=")).any(|(at, _)| {
                !text[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
    };
    let field = match param {
        Some(p) if code.starts_with("unsupported") || says_unsupported => Some(p.to_string()),
        _ if says_unsupported => sent
            .keys()
            .filter(|k| optional(k))
            .find(|k| named(k))
            .cloned(),
        _ => None,
    }?;
    Some(match field.as_str() {
        // The token limit is asked again under its other name.
        "max_tokens" => Refusal::TokenLimit(TokenLimit::MaxCompletionTokens),
        "max_completion_tokens" => Refusal::TokenLimit(TokenLimit::MaxTokens),
        _ => Refusal::Drop(field),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasoning_models_are_known_by_name() {
        for m in [
            "o1",
            "o3-mini",
            "o4-mini-2025-04-16",
            "gpt-5",
            "gpt-5-mini",
            "openai/o3",
        ] {
            assert!(is_reasoning_model(m), "{m}");
        }
        for m in [
            "gpt-4o",
            "gpt-4.1-mini",
            "gpt-5-chat-latest",
            "qwen3-8b",
            "o1x",
            "olmo",
        ] {
            assert!(!is_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn the_token_limit_follows_the_provider() {
        let p = WireParams::default();
        assert_eq!(
            p.token_limit("https://api.openai.com/v1", "gpt-4o"),
            TokenLimit::MaxCompletionTokens
        );
        assert_eq!(
            p.token_limit("http://127.0.0.1:8000/v1", "o3-mini"),
            TokenLimit::MaxCompletionTokens
        );
        assert_eq!(
            p.token_limit("http://127.0.0.1:8000/v1", "qwen"),
            TokenLimit::MaxTokens
        );
        let set = WireParams {
            token_limit: Some(TokenLimit::MaxTokens),
            ..p
        };
        assert_eq!(
            set.token_limit("https://api.openai.com/v1", "o3"),
            TokenLimit::MaxTokens
        );
    }

    #[test]
    fn shaping_renames_adds_merges_and_drops() {
        let p = WireParams {
            reasoning_effort: Some("low".into()),
            extra_body: json!({"chat_template_kwargs": {"enable_thinking": false}, "top_k": 20})
                .as_object()
                .unwrap()
                .clone(),
            ..WireParams::default()
        };
        let mut body = json!({"model": "m", "messages": [], "max_tokens": 9, "temperature": 0.0});
        p.shape(
            &mut body,
            TokenLimit::MaxCompletionTokens,
            &["temperature".into()],
        );
        assert_eq!(
            body,
            json!({"model": "m", "messages": [], "max_completion_tokens": 9,
                   "reasoning_effort": "low", "top_k": 20,
                   "chat_template_kwargs": {"enable_thinking": false}})
        );
    }

    #[test]
    fn refusals_are_read_from_documented_errors() {
        let sent = json!({"model": "o3", "messages": [], "max_tokens": 5, "temperature": 0.0});
        let openai = |param: &str, code: &str, msg: &str| {
            json!({"error": {"message": msg, "type": "invalid_request_error", "param": param, "code": code}})
                .to_string()
        };
        assert_eq!(
            refused_field(400, &openai("max_tokens", "unsupported_parameter",
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."), &sent),
            Some(Refusal::TokenLimit(TokenLimit::MaxCompletionTokens))
        );
        assert_eq!(
            refused_field(400, &openai("temperature", "unsupported_value",
                "Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported."), &sent),
            Some(Refusal::Drop("temperature".into()))
        );
        // LiteLLM 1.110's wording, without error.param (interop.rs reads it from LiteLLM itself).
        let litellm = r#"{"error": {"message": "litellm.UnsupportedParamsError: O-series models don't support temperature=0. Only temperature=1 is supported.", "code": "400"}}"#;
        assert_eq!(
            refused_field(400, litellm, &sent),
            Some(Refusal::Drop("temperature".into()))
        );
        // Not a refusal of a field we sent: the context is too long; a 500; the messages.
        let ctx = openai(
            "messages",
            "context_length_exceeded",
            "maximum context length",
        );
        assert_eq!(refused_field(400, &ctx, &sent), None);
        assert_eq!(refused_field(500, litellm, &sent), None);
        assert_eq!(refused_field(400, "bad request", &sent), None);
    }
}
