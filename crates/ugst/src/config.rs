//! `ugst.toml`: named model endpoints, which model plays which role, cache and run defaults.
//! Unknown keys are errors (a typo must not silently fall back to a default).

use crate::error::InputError;
pub use crate::roles::{RoleModel, RoleModels};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ugst_llm::{Backend, Budget, Cache, Llm, Price, Sampling, TokenLimit, WireParams};

/// Makes the backend of one `[models.NAME]` table. The entry point supplies it (it knows every
/// provider, the mock included); the library never builds a backend itself.
pub type BackendFactory<'a> = &'a dyn Fn(&str, &ModelSpec) -> Result<Arc<dyn Backend>, InputError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Any OpenAI-compatible chat-completions endpoint.
    Openai,
    /// The rule-based mock model (crate `ugst-mock`): instant, offline, for demos, tests and
    /// benchmarks.
    Mock,
    /// A local GGUF model run in-process by llama.cpp (the default).
    Embedded,
}

/// The longest per-request timeout a config may set: a day. Longer values (`1e30`) do not fit
/// a `Duration` and mean no timeout in practice.
pub const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Where an OpenAI model without `base_url` goes when `OPENAI_BASE_URL` is not set either.
pub const OPENAI_API_URL: &str = "https://api.openai.com/v1";

/// The environment variables every openai-SDK user has set.
pub const OPENAI_BASE_URL_ENV: &str = "OPENAI_BASE_URL";
pub const OPENAI_API_KEY_ENV: &str = "OPENAI_API_KEY";

fn env_set(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// One `[models.NAME]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub provider: Provider,
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// Name of the environment variable that holds the API key. The key itself never goes here.
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// Embedded models: context length per sequence (default 8192).
    #[serde(default)]
    pub context: Option<u32>,
    /// Embedded models: requests decoded together (default 4).
    #[serde(default)]
    pub parallel: Option<u32>,
    /// Embedded models: CPU threads (default: all cores).
    #[serde(default)]
    pub threads: Option<i32>,
    /// Answer the tracker's closed questions by ranking the offered answers (each one's
    /// probability from the model) instead of writing one. Embedded models: default `true`.
    /// OpenAI-compatible models: ranked from the `logprobs` the server returns with its written
    /// answer; unset ranks when the server returns them, `true` also warns when an answer's
    /// logprobs cannot rank, `false` never asks for them (written answers count as certain).
    #[serde(default)]
    pub rank_answers: Option<bool>,
    /// How this model decomposes goals when it is the decomposer: `free` (it writes the whole
    /// decomposition) or `clauses` (ugst splits the goal into clauses and the model only names
    /// each clause's category). Default: `clauses` for embedded models, `free` otherwise.
    #[serde(default)]
    pub decompose: Option<crate::model::DecomposeMethod>,
    /// OpenAI-compatible models: how schemas are sent — `strict` (OpenAI's strict mode, the
    /// default for api.openai.com), `json_schema` (the full schema, the default elsewhere),
    /// `json_object` (JSON mode, schema in the prompt) or `tools` (a forced function call).
    #[serde(default)]
    pub structured: Option<ugst_llm::Structured>,
    /// OpenAI-compatible models: what identifies the served weights when the name does not (a
    /// checkpoint step, a hash). Part of the cache key; change it when the weights change.
    #[serde(default)]
    pub revision: Option<String>,
    /// OpenAI-compatible models: the name of the token-limit field, `max_tokens` or
    /// `max_completion_tokens`. Default: `max_completion_tokens` for api.openai.com and OpenAI's
    /// reasoning models (o1, o3, o4-mini, gpt-5 …), `max_tokens` for every other server.
    #[serde(default)]
    pub token_limit: Option<TokenLimit>,
    /// OpenAI-compatible models: request fields never sent, for a model that accepts only its
    /// defaults (e.g. `["temperature", "top_p"]`). Default: a reasoning model's sampling fields
    /// (temperature, top_p, logprobs), nothing for any other model. A field a server refuses
    /// during a run is left out from then on, with a warning naming this line.
    #[serde(default)]
    pub drop_params: Option<Vec<String>>,
    /// OpenAI-compatible models: `reasoning_effort` sent with every request (`minimal`, `low`,
    /// `medium`, `high`).
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// OpenAI-compatible models: fields merged into every request body, e.g. vLLM's
    /// `{ chat_template_kwargs = { enable_thinking = false }, top_k = 20 }`. Part of the cache key.
    #[serde(default)]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Requests to this model in flight at once, over every role that uses it (default: no
    /// bound beyond the run's concurrency).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Requests to this model started per minute at most (default: no pace).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Embedded models: list an agent's tools in the model's own trained wording, from its chat
    /// template (default `true`); `false` uses ugst's own wording.
    #[serde(default)]
    pub trained_tools: Option<bool>,
    /// Price per million prompt tokens, for a `[budget] max_cost` (any currency, the same for
    /// every model).
    #[serde(default)]
    pub price_prompt: Option<f64>,
    /// Price per million completion tokens (thinking included).
    #[serde(default)]
    pub price_completion: Option<f64>,
}

impl ModelSpec {
    /// A spec with every optional setting at its default.
    pub fn new(provider: Provider, model: &str) -> ModelSpec {
        ModelSpec {
            provider,
            base_url: None,
            model: Some(model.to_string()),
            api_key_env: None,
            timeout_s: default_timeout(),
            max_retries: default_retries(),
            temperature: None,
            top_p: None,
            max_tokens: None,
            seed: None,
            context: None,
            parallel: None,
            threads: None,
            rank_answers: None,
            decompose: None,
            structured: None,
            revision: None,
            token_limit: None,
            drop_params: None,
            reasoning_effort: None,
            extra_body: None,
            max_in_flight: None,
            requests_per_minute: None,
            trained_tools: None,
            price_prompt: None,
            price_completion: None,
        }
    }

    /// An OpenAI model's endpoint: `base_url`, else `$OPENAI_BASE_URL`, else OpenAI's API.
    pub fn endpoint(&self) -> String {
        self.base_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| env_set(OPENAI_BASE_URL_ENV))
            .unwrap_or_else(|| OPENAI_API_URL.to_string())
    }

    /// The variable that holds an OpenAI model's key: `api_key_env`, else `OPENAI_API_KEY` when
    /// it is set and the endpoint is not written in the config (it comes from
    /// `$OPENAI_BASE_URL` or is OpenAI's own) or is OpenAI's API: a key for OpenAI is never sent
    /// to a server the config names unless `api_key_env` says so.
    pub fn key_env(&self) -> Option<String> {
        if self.api_key_env.is_some() {
            return self.api_key_env.clone();
        }
        let openai_host = ugst_llm::params::is_openai_api(&self.endpoint());
        let defaulted = self.base_url.as_deref().is_none_or(|u| u.trim().is_empty());
        ((defaulted || openai_host) && env_set(OPENAI_API_KEY_ENV).is_some())
            .then(|| OPENAI_API_KEY_ENV.to_string())
    }

    /// The endpoint as a run stores it: without credentials; none for local providers.
    pub fn shown_url(&self) -> Option<String> {
        match self.provider {
            Provider::Openai => Some(ugst_llm::redact_url(&self.endpoint())),
            _ => self.base_url.as_deref().map(ugst_llm::redact_url),
        }
    }

    /// How this model's requests are shaped (the `[models.NAME]` table is `table`).
    pub fn wire_params(&self, table: &str) -> WireParams {
        WireParams {
            table: table.to_string(),
            token_limit: self.token_limit,
            drop: self.drop_params.clone(),
            reasoning_effort: self.reasoning_effort.clone(),
            extra_body: self.extra_body.clone().unwrap_or_default(),
        }
    }

    /// The price of this model's tokens, when the config gives one.
    pub fn price(&self) -> Option<Price> {
        match (self.price_prompt, self.price_completion) {
            (None, None) => None,
            (p, c) => Some(Price {
                prompt_per_mtok: p.unwrap_or(0.0),
                completion_per_mtok: c.unwrap_or(0.0),
            }),
        }
    }
}

fn default_timeout() -> f64 {
    120.0
}
fn default_retries() -> u32 {
    5
}

/// Which model plays which role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    pub decomposer: Option<String>,
    pub tracker: Option<String>,
    pub simulator: Option<String>,
    pub agent: Option<String>,
    pub judge: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Defaults to `$UGST_HOME/cache.sqlite`.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: true,
            path: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[budget]`: what a command may spend on model calls before it stops (resumable).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Prompt and completion tokens of calls that reach a model (cache hits are free).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Money, at each model's `price_prompt`/`price_completion` (embedded and mock models are
    /// free; an OpenAI-compatible model without a price is an error).
    #[serde(default)]
    pub max_cost: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub models: BTreeMap<String, ModelSpec>,
    #[serde(default)]
    pub roles: Roles,
    #[serde(default)]
    pub cache: CacheConfig,
    /// The tracker's rules and thresholds (`[tracking]`; every field optional, missing = the
    /// measured default; see `docs/tracking.md`).
    #[serde(default)]
    pub tracking: crate::model::TrackingConfig,
    #[serde(default)]
    pub budget: BudgetConfig,
    /// Where the config came from (the file, or a built-in), for messages.
    #[serde(skip)]
    pub source: String,
}

/// `$UGST_HOME`, or the user's cache directory.
pub fn ugst_home() -> PathBuf {
    if let Some(h) = std::env::var_os("UGST_HOME") {
        return PathBuf::from(h);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ugst")
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError::new(format!("{}: cannot read the config: {e}", path.display()))
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn parse(name: &str, text: &str) -> Result<Config, InputError> {
        let mut cfg: Config = toml::from_str(text)
            .map_err(|e| InputError::new(format!("{name}: {}", e.to_string().trim_end())))?;
        cfg.check(name)?;
        cfg.source = name.to_string();
        Ok(cfg)
    }

    fn single(name: &str, spec: ModelSpec, cache: bool) -> Config {
        let mut models = BTreeMap::new();
        models.insert(name.to_string(), spec);
        Config {
            models,
            roles: Roles::default(),
            cache: CacheConfig {
                enabled: cache,
                path: None,
            },
            tracking: Default::default(),
            budget: BudgetConfig::default(),
            source: format!("the built-in {name} config"),
        }
    }

    /// A config that runs every role on the built-in mock model.
    pub fn mock() -> Config {
        Self::single("mock", ModelSpec::new(Provider::Mock, "mock"), false)
    }

    /// The config used when none is given: every role on the embedded default model.
    pub fn embedded_default() -> Config {
        Self::embedded(ugst_embedded::install::DEFAULT_MODEL)
    }

    /// Every role on one embedded model (a known name or a GGUF path).
    pub fn embedded(model: &str) -> Config {
        Self::single("embedded", ModelSpec::new(Provider::Embedded, model), true)
    }

    fn check(&self, name: &str) -> Result<(), InputError> {
        if self.models.is_empty() {
            return Err(InputError::new(format!(
                "{name}: no model is defined; add a [models.NAME] table, e.g. [models.local] with \
                 provider = \"openai\", base_url = \"http://127.0.0.1:8000/v1\", model = \"NAME\""
            )));
        }
        for (m, spec) in &self.models {
            if spec.provider == Provider::Openai && spec.model.as_deref().unwrap_or("").is_empty() {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] needs model = \"<served model name>\""
                )));
            }
            if spec.provider != Provider::Openai {
                for (key, set) in [
                    ("structured", spec.structured.is_some()),
                    ("revision", spec.revision.is_some()),
                    ("token_limit", spec.token_limit.is_some()),
                    ("drop_params", spec.drop_params.is_some()),
                    ("reasoning_effort", spec.reasoning_effort.is_some()),
                    ("extra_body", spec.extra_body.is_some()),
                ] {
                    if set {
                        return Err(InputError::new(format!(
                            "{name}: [models.{m}] {key} applies to provider = \"openai\" only \
                             (embedded models constrain decoding by the whole schema and are \
                             identified by their file's sha256); remove it"
                        )));
                    }
                }
            }
            if !(spec.timeout_s > 0.0 && spec.timeout_s <= MAX_TIMEOUT_S) {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] timeout_s must be a positive number of seconds, at most \
                     {MAX_TIMEOUT_S} (a day)"
                )));
            }
            let owned = [
                "model",
                "messages",
                "tools",
                "tool_choice",
                "response_format",
            ];
            if let Some(k) = spec
                .extra_body
                .iter()
                .flat_map(|e| e.keys())
                .find(|k| owned.contains(&k.as_str()))
            {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] extra_body may not set {k:?}: ugst writes it from the \
                     conversation (set the model with model = \"…\", schemas with structured)"
                )));
            }
            if spec.trained_tools.is_some() && spec.provider != Provider::Embedded {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] trained_tools applies to provider = \"embedded\" only \
                     (a server lays tools out with its own chat template); remove it"
                )));
            }
            if spec.max_in_flight == Some(0) || spec.requests_per_minute == Some(0) {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] max_in_flight and requests_per_minute must be at least 1 \
                     (leave them out for no bound)"
                )));
            }
            let prices = [spec.price_prompt, spec.price_completion];
            if prices
                .iter()
                .flatten()
                .any(|p| !(p.is_finite() && *p >= 0.0))
            {
                return Err(InputError::new(format!(
                    "{name}: [models.{m}] price_prompt and price_completion must be numbers \
                     at or above 0 (per million tokens)"
                )));
            }
            if self.budget.max_cost.is_some()
                && spec.provider == Provider::Openai
                && spec.price().is_none()
            {
                return Err(InputError::new(format!(
                    "{name}: [budget] max_cost needs the price of [models.{m}]: add \
                     price_prompt and price_completion (per million tokens), or budget in \
                     tokens with max_tokens"
                )));
            }
        }
        if let Some(c) = self.budget.max_cost {
            if !(c.is_finite() && c > 0.0) {
                return Err(InputError::new(format!(
                    "{name}: [budget] max_cost must be a positive number"
                )));
            }
        }
        if self.budget.max_tokens == Some(0) {
            return Err(InputError::new(format!(
                "{name}: [budget] max_tokens must be at least 1"
            )));
        }
        for (role, model) in self.role_pairs() {
            if let Some(model) = model {
                if !self.models.contains_key(model) {
                    return Err(InputError::new(format!(
                        "{name}: [roles] {role} = {model:?} names no [models.{model}] table; defined models: {}",
                        self.model_list()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks the config again after a change made on the command line.
    pub fn recheck(&self) -> Result<(), InputError> {
        self.check(&format!("{} with the command line's models", self.source))
    }

    /// Puts `role` on `model` (a `--simulator-model` flag): a `[models.NAME]` of this config,
    /// `embedded:MODEL`, `openai:MODEL` or a bare model name (an OpenAI-compatible model at
    /// `$OPENAI_BASE_URL`, else OpenAI's API; LiteLLM's `openai/` prefix is read alike). The
    /// other roles keep the models they had.
    pub fn set_role_model(&mut self, role: &str, model: &str) -> Result<(), InputError> {
        let model = model.trim();
        if model.is_empty() {
            return Err(InputError::new(format!(
                "--{role}-model needs a model name"
            )));
        }
        // A judge without a model of its own follows the tracker, as in `model_for`.
        let judge_follows = self.roles.judge.is_none() && role == "tracker";
        // Every role pinned first: a second model table must not change who plays what.
        let pinned = self.role_pairs().map(|(r, _)| (r, self.model_for(r).ok()));
        for (r, m) in pinned {
            if let Some(m) = m {
                self.set_role(r, m);
            }
        }
        let name = if self.models.contains_key(model) {
            model.to_string()
        } else {
            let (provider, served) = match model.split_once(':').or_else(|| model.split_once('/')) {
                Some(("embedded", m)) => (Provider::Embedded, m),
                Some(("mock", m)) => (Provider::Mock, m),
                Some(("openai", m)) => (Provider::Openai, m),
                _ => (Provider::Openai, model),
            };
            let name = format!("{role}-cli");
            self.models
                .insert(name.clone(), ModelSpec::new(provider, served));
            name
        };
        if judge_follows {
            self.set_role("judge", name.clone());
        }
        self.set_role(role, name);
        Ok(())
    }

    fn set_role(&mut self, role: &str, model: String) {
        let r = &mut self.roles;
        let slot = match role {
            "decomposer" => &mut r.decomposer,
            "tracker" => &mut r.tracker,
            "simulator" => &mut r.simulator,
            "agent" => &mut r.agent,
            _ => &mut r.judge,
        };
        *slot = Some(model);
    }

    fn role_pairs(&self) -> [(&'static str, Option<&String>); 5] {
        let r = &self.roles;
        [
            ("decomposer", r.decomposer.as_ref()),
            ("tracker", r.tracker.as_ref()),
            ("simulator", r.simulator.as_ref()),
            ("agent", r.agent.as_ref()),
            ("judge", r.judge.as_ref()),
        ]
    }

    fn model_list(&self) -> String {
        if self.models.is_empty() {
            "(none)".into()
        } else {
            self.models.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }

    /// The model name for `role`: the one named in `[roles]`, else the judge falls back to the
    /// tracker's model, else the only model defined.
    pub fn model_for(&self, role: &str) -> Result<String, InputError> {
        let named = self
            .role_pairs()
            .into_iter()
            .find(|(r, _)| *r == role)
            .and_then(|(_, m)| m.cloned());
        if let Some(m) = named {
            return Ok(m);
        }
        if role == "judge" {
            if let Some(t) = &self.roles.tracker {
                return Ok(t.clone());
            }
        }
        if self.models.len() == 1 {
            return Ok(self.models.keys().next().cloned().unwrap());
        }
        Err(InputError::new(format!(
            "no model for the {role} role: add `{role} = \"NAME\"` under [roles] (defined models: {})",
            self.model_list()
        )))
    }

    /// Builds every role's model with `make` (the entry point's backend factory: it knows the
    /// providers), then [`RoleModels::preflight`]: for commands about to call the models.
    pub async fn connect_with(&self, make: BackendFactory<'_>) -> Result<RoleModels, InputError> {
        let models = self.build_with(make)?;
        models.preflight(&self.source).await?;
        Ok(models)
    }

    /// The response cache this config asks for; none when `UGST_NO_CACHE` is set (what
    /// `--no-cache` does).
    pub fn cache(&self) -> Result<Arc<Cache>, InputError> {
        let off = std::env::var_os("UGST_NO_CACHE").is_some_and(|v| !v.is_empty() && v != "0");
        Ok(Arc::new(if self.cache.enabled && !off {
            let path = self
                .cache
                .path
                .clone()
                .unwrap_or_else(|| ugst_home().join("cache.sqlite"));
            Cache::open(&path)
                .map_err(|e| InputError::new(format!("{e}; set [cache] path or enabled = false")))?
        } else {
            Cache::disabled()
        }))
    }

    /// Builds the backends for every role with `make`; roles naming the same model share one
    /// backend. Judging roles (decomposer, tracker, judge) sample at temperature 0 unless the
    /// model sets one.
    pub fn build_with(&self, make: BackendFactory<'_>) -> Result<RoleModels, InputError> {
        let cache = self.cache()?;
        let budget = Budget::new(self.budget.max_tokens, self.budget.max_cost);
        let budget = budget.limits().then(|| Arc::new(budget));
        let mut built: BTreeMap<String, Llm> = BTreeMap::new();
        let mut get = |role: &str| -> Result<RoleModel, InputError> {
            let name = self.model_for(role)?;
            let spec = &self.models[&name];
            let mut sampling = Sampling {
                temperature: spec.temperature,
                top_p: spec.top_p,
                max_tokens: spec.max_tokens,
                seed: spec.seed,
            };
            if matches!(role, "decomposer" | "tracker" | "judge") && sampling.temperature.is_none()
            {
                sampling.temperature = Some(0.0);
            }
            let llm = match built.get(&name) {
                Some(l) => l.clone(),
                None => {
                    let backend = make(&name, spec)
                        .map_err(|e| InputError::new(format!("{}: {e}", self.source)))?;
                    let mut llm = Llm::new(backend, cache.clone());
                    if let Some(n) = spec.max_in_flight {
                        llm = llm.bounded(Arc::new(tokio::sync::Semaphore::new(n)));
                    }
                    if let Some(rpm) = spec.requests_per_minute {
                        llm = llm.wrapped(|b| Arc::new(ugst_llm::Bounded::paced(b, rpm)));
                    }
                    if let Some(b) = &budget {
                        llm = llm.with_budget(b.clone(), spec.price());
                    }
                    built.insert(name.clone(), llm.clone());
                    llm
                }
            };
            let decompose = spec.decompose.unwrap_or(match spec.provider {
                Provider::Embedded => crate::model::DecomposeMethod::Clauses,
                _ => crate::model::DecomposeMethod::Free,
            });
            Ok(RoleModel {
                llm,
                sampling,
                model: name,
                decompose,
            })
        };
        Ok(RoleModels {
            decomposer: get("decomposer")?,
            tracker: get("tracker")?,
            simulator: get("simulator")?,
            agent: get("agent")?,
            judge: get("judge")?,
            agent_url: None,
        })
    }

    /// The tracking mode used when no `--tracking` is given: `delta` for an embedded tracker
    /// (on small local judges it agreed best with the hand labels at a third of per-component's
    /// calls, docs/tracking.md), the paper's `per-component` for any other.
    pub fn default_tracking(&self) -> crate::model::TrackingMode {
        let embedded = self
            .model_for("tracker")
            .ok()
            .and_then(|n| self.models.get(&n))
            .is_some_and(|s| s.provider == Provider::Embedded);
        match embedded {
            true => crate::model::TrackingMode::Delta,
            false => crate::model::TrackingMode::PerComponent,
        }
    }

    /// What a run stores about the model of each of `roles`: name, provider, URL, model.
    pub fn describe_roles(&self, roles: &[&str]) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for role in roles {
            if let Ok(name) = self.model_for(role) {
                let s = &self.models[&name];
                out.insert(
                    role.to_string(),
                    serde_json::json!({"name": name, "provider": s.provider,
                                       "base_url": s.shown_url(), "model": s.model}),
                );
            }
        }
        serde_json::Value::Object(out)
    }

    /// What a run stores about its models: names, providers, URLs (without credentials). Never
    /// keys.
    pub fn describe(&self) -> serde_json::Value {
        let models: BTreeMap<&String, serde_json::Value> = self
            .models
            .iter()
            .map(|(n, s)| {
                (
                    n,
                    serde_json::json!({"provider": s.provider, "base_url": s.shown_url(), "model": s.model}),
                )
            })
            .collect();
        serde_json::json!({"models": models, "roles": self.roles})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[models.local]
provider = "openai"
base_url = "http://127.0.0.1:8000/v1"
model = "qwen"
[models.judge]
provider = "mock"
[roles]
decomposer = "local"
tracker = "judge"
simulator = "local"
agent = "local"
"#;

    #[test]
    fn the_default_tracking_mode_follows_the_tracker_s_provider() {
        use crate::model::TrackingMode;
        assert_eq!(
            Config::embedded_default().default_tracking(),
            TrackingMode::Delta
        );
        let c = Config::parse("ugst.toml", GOOD).unwrap();
        assert_eq!(c.default_tracking(), TrackingMode::PerComponent);
        let local_judge = GOOD.replace(
            "[models.judge]\nprovider = \"mock\"",
            "[models.judge]\nprovider = \"embedded\"",
        );
        assert_ne!(local_judge, GOOD);
        let c = Config::parse("ugst.toml", &local_judge).unwrap();
        assert_eq!(c.default_tracking(), TrackingMode::Delta);
    }

    #[test]
    fn command_line_models_replace_one_role_and_pin_the_rest() {
        let mut c = Config::embedded_default();
        c.set_role_model("simulator", "openai/gpt-5-mini").unwrap();
        assert_eq!(c.model_for("simulator").unwrap(), "simulator-cli");
        let s = &c.models["simulator-cli"];
        assert_eq!(
            (s.provider, s.model.as_deref()),
            (Provider::Openai, Some("gpt-5-mini"))
        );
        // The others stay on the one model they had before a second was added.
        for r in ["agent", "tracker", "judge", "decomposer"] {
            assert_eq!(c.model_for(r).unwrap(), "embedded", "{r}");
        }
        // A table of the config by name; the judge follows the tracker it had no model apart from.
        let mut c = Config::parse("ugst.toml", GOOD).unwrap();
        c.roles.judge = None;
        c.set_role_model("tracker", "local").unwrap();
        assert_eq!(c.model_for("judge").unwrap(), "local");
        c.set_role_model("agent", "embedded:qwen2.5-coder-0.5b")
            .unwrap();
        assert_eq!(c.models["agent-cli"].provider, Provider::Embedded);
        assert!(c.recheck().is_ok());
    }

    #[test]
    fn openai_endpoint_and_key_default_to_the_sdk_s_variables() {
        // One test owns these variables (tests run in threads of one process).
        std::env::remove_var(OPENAI_BASE_URL_ENV);
        std::env::remove_var(OPENAI_API_KEY_ENV);
        let mut s = ModelSpec::new(Provider::Openai, "gpt-4.1");
        assert_eq!(s.endpoint(), OPENAI_API_URL);
        assert_eq!(s.key_env(), None);
        std::env::set_var(OPENAI_API_KEY_ENV, "sk-test");
        std::env::set_var(OPENAI_BASE_URL_ENV, "http://127.0.0.1:4000/v1");
        assert_eq!(s.endpoint(), "http://127.0.0.1:4000/v1");
        assert_eq!(s.key_env().as_deref(), Some(OPENAI_API_KEY_ENV));
        // A server the config names gets no OpenAI key unless api_key_env says so.
        s.base_url = Some("http://10.0.0.5:8000/v1".into());
        assert_eq!(s.key_env(), None);
        s.base_url = Some("https://api.openai.com/v1".into());
        assert_eq!(s.key_env().as_deref(), Some(OPENAI_API_KEY_ENV));
        s.api_key_env = Some("MY_KEY".into());
        assert_eq!(s.key_env().as_deref(), Some("MY_KEY"));
        std::env::remove_var(OPENAI_BASE_URL_ENV);
        std::env::remove_var(OPENAI_API_KEY_ENV);
    }

    #[test]
    fn parses_and_resolves_roles() {
        let c = Config::parse("ugst.toml", GOOD).unwrap();
        assert_eq!(c.model_for("judge").unwrap(), "judge");
        assert_eq!(c.model_for("agent").unwrap(), "local");
        assert_eq!(c.models["local"].timeout_s, 120.0);
    }

    #[test]
    fn errors_name_the_place() {
        let e = Config::parse("u.toml", "[models.a]\nprovider = \"openai\"\n").unwrap_err();
        assert!(e.0.contains("[models.a] needs model"), "{e}");
        let e = Config::parse(
            "u.toml",
            "[models.a]\nprovider = \"openai\"\nmodel = \"m\"\n[budget]\nmax_cost = 2.5\n",
        )
        .unwrap_err();
        assert!(
            e.0.contains("max_cost needs the price of [models.a]"),
            "{e}"
        );
        let e = Config::parse(
            "u.toml",
            "[models.a]\nprovider = \"embedded\"\nextra_body = { top_k = 20 }\n",
        )
        .unwrap_err();
        assert!(e.0.contains("extra_body applies to provider"), "{e}");
        let e = Config::parse(
            "u.toml",
            "[models.a]\nprovider = \"openai\"\nmodel = \"m\"\nextra_body = { messages = [] }\n",
        )
        .unwrap_err();
        assert!(e.0.contains("extra_body may not set \"messages\""), "{e}");
        let e =
            Config::parse("u.toml", "[models.a]\nprovider = \"mock\"\ncolour = 1\n").unwrap_err();
        assert!(e.0.contains("unknown field `colour`"), "{e}");
        let e = Config::parse(
            "u.toml",
            "[models.a]\nprovider = \"mock\"\n[roles]\nagent = \"b\"\n",
        )
        .unwrap_err();
        assert!(e.0.contains("names no [models.b]"), "{e}");
        // A timeout too long for a Duration is bad input, not a panic (review finding 13).
        for t in ["1e30", "0", "-1", "nan", "inf"] {
            let e = Config::parse(
                "u.toml",
                &format!("[models.a]\nprovider = \"mock\"\ntimeout_s = {t}\n"),
            )
            .unwrap_err();
            assert!(
                e.0.contains("timeout_s must be a positive number"),
                "{t}: {e}"
            );
        }
        let c = Config::parse(
            "u.toml",
            "[models.a]\nprovider = \"mock\"\n[models.b]\nprovider = \"mock\"\n",
        )
        .unwrap();
        assert!(c
            .model_for("agent")
            .unwrap_err()
            .0
            .contains("agent = \"NAME\""));
    }
}
