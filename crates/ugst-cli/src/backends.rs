//! The composition root: every `[models.NAME]` table becomes a backend here — an
//! OpenAI-compatible endpoint, the embedded llama.cpp engine (installed on first use) or the mock
//! model. The library only receives the factory ([`ugst::config::BackendFactory`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use ugst::config::{ugst_home, Config, ModelSpec, Provider, RoleModels};
use ugst::error::InputError;
use ugst_embedded::engine::EngineOptions;
use ugst_embedded::EmbeddedBackend;
use ugst_llm::{Backend, OpenAiBackend, OpenAiConfig, RetryPolicy};

/// Makes the backend of `[models.name]`.
pub fn make(name: &str, spec: &ModelSpec) -> Result<Arc<dyn Backend>, InputError> {
    let at = |e: String| InputError::new(format!("[models.{name}]: {e}"));
    match spec.provider {
        Provider::Embedded => {
            let model = spec
                .model
                .clone()
                .unwrap_or_else(|| ugst_embedded::install::DEFAULT_MODEL.into());
            let path = resolve_embedded(&model).map_err(at)?;
            let mut opts = EngineOptions::new(path);
            if let Some(c) = spec.context {
                opts.n_ctx = c;
            }
            if let Some(p) = spec.parallel {
                opts.n_seq = p;
            }
            opts.n_threads = spec.threads;
            // Long system messages' KV caches, kept between runs (UGST_NO_KV_STORE=1: off).
            opts.prefix_store = Some(ugst_home().join("kv"));
            let b = EmbeddedBackend::new(model, opts)
                .map_err(|e| at(e.to_string()))?
                .ranking(spec.rank_answers.unwrap_or(true))
                .trained_tools(spec.trained_tools.unwrap_or(true));
            Ok(Arc::new(b))
        }
        Provider::Mock => Ok(Arc::new(ugst_mock::MockBackend::new(
            spec.model.clone().unwrap_or_else(|| "mock".into()),
        ))),
        Provider::Openai => {
            let base_url = spec.endpoint();
            let api_key_env = spec.key_env();
            if api_key_env.is_none() && ugst_llm::params::is_openai_api(&base_url) {
                return Err(at(format!(
                    "{base_url} needs an API key: export {} (or name the variable that holds \
                     it with api_key_env)",
                    ugst::config::OPENAI_API_KEY_ENV
                )));
            }
            let backend = OpenAiBackend::new(OpenAiConfig {
                base_url,
                model: spec.model.clone().unwrap_or_default(),
                api_key_env,
                timeout: Duration::from_secs_f64(spec.timeout_s),
                retry: RetryPolicy {
                    max_retries: spec.max_retries,
                    ..RetryPolicy::default()
                },
                structured: spec.structured,
                revision: spec.revision.clone(),
                rank_answers: spec.rank_answers,
                top_logprobs: OpenAiConfig::DEFAULT_TOP_LOGPROBS,
                params: spec.wire_params(name),
            })
            .map_err(|e| at(e.to_string()))?;
            Ok(Arc::new(backend))
        }
    }
}

/// Every role's model for `cfg`, without probing the endpoints.
pub fn build(cfg: &Config) -> Result<RoleModels, InputError> {
    cfg.build_with(&make)
}

/// Every role's model for `cfg`, each distinct endpoint probed once.
pub async fn connect(cfg: &Config) -> Result<RoleModels, InputError> {
    cfg.connect_with(&make).await
}

/// `--config FILE`, loaded and connected.
pub async fn connect_file(path: &std::path::Path) -> anyhow::Result<RoleModels> {
    Ok(connect(&Config::load(path)?).await?)
}

/// `--config FILE` when given, else every role on the embedded default model.
pub fn config_or_default(path: Option<&std::path::Path>) -> Result<Config, InputError> {
    match path {
        Some(p) => Config::load(p),
        None => Ok(Config::embedded_default()),
    }
}

/// `--config FILE` (or the embedded default) with the command line's models and budget over it.
pub fn config_with(
    path: Option<&std::path::Path>,
    flags: &crate::args::ModelFlags,
) -> Result<Config, InputError> {
    let mut cfg = config_or_default(path)?;
    for (role, model) in [
        ("simulator", &flags.simulator_model),
        ("agent", &flags.agent_model),
        ("tracker", &flags.tracker_model),
        ("judge", &flags.judge_model),
        ("decomposer", &flags.decomposer_model),
    ] {
        if let Some(m) = model {
            cfg.set_role_model(role, m)?;
        }
    }
    if flags.budget_tokens.is_some() {
        cfg.budget.max_tokens = flags.budget_tokens;
    }
    if flags.budget_cost.is_some() {
        cfg.budget.max_cost = flags.budget_cost;
    }
    cfg.recheck()?;
    Ok(cfg)
}

/// A known model name (installed on first use) or a path to a GGUF file.
pub fn resolve_embedded(model: &str) -> Result<PathBuf, String> {
    if let Some(known) = ugst_embedded::install::known(model) {
        return ugst_embedded::install::ensure(&ugst_home(), known, false)
            .map_err(|e| e.to_string());
    }
    let path = PathBuf::from(model);
    if path.extension().is_some_and(|e| e == "gguf") || model.contains('/') {
        if path.is_file() {
            return Ok(path);
        }
        return Err(format!("model file {} does not exist", path.display()));
    }
    let names: Vec<&str> = ugst_embedded::install::MODELS
        .iter()
        .map(|m| m.name)
        .collect();
    Err(format!(
        "unknown embedded model {model:?}; use one of {} or a path to a .gguf file",
        names.join(", ")
    ))
}
