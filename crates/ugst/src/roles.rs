//! Which model plays which role: a [`RoleModel`] is a model handle with the sampling it is called
//! with, and [`RoleModels`] holds one for each of the five roles. Built by
//! [`crate::config::Config::build_with`] from the backends the entry point makes.

use crate::error::InputError;
use ugst_llm::{Llm, Sampling};

/// One role's model and sampling.
#[derive(Clone)]
pub struct RoleModel {
    pub llm: Llm,
    pub sampling: Sampling,
    /// The `[models.NAME]` the role uses, for messages and the run's metadata.
    pub model: String,
    /// How the model decomposes goals (read by the decomposer role only).
    pub decompose: crate::model::DecomposeMethod,
}

impl RoleModel {
    /// A role on `llm` with default sampling (named after the backend's model).
    pub fn new(llm: Llm) -> RoleModel {
        let model = llm.model();
        RoleModel {
            llm,
            sampling: Sampling::default(),
            model,
            decompose: crate::model::DecomposeMethod::Free,
        }
    }
    /// The same role decomposing with `method`.
    pub fn with_decompose(mut self, method: crate::model::DecomposeMethod) -> RoleModel {
        self.decompose = method;
        self
    }
    /// The same role with `sampling`.
    pub fn with_sampling(mut self, sampling: Sampling) -> RoleModel {
        self.sampling = sampling;
        self
    }
}

/// The models resolved for every role, sharing one cache.
#[derive(Clone)]
pub struct RoleModels {
    pub decomposer: RoleModel,
    pub tracker: RoleModel,
    pub simulator: RoleModel,
    pub agent: RoleModel,
    pub judge: RoleModel,
    /// The agent under test when it lives behind a URL (`run --agent-url`): it answers the
    /// user's turns in place of the `agent` role's model, with its own tools.
    pub agent_url: Option<ugst_llm::RemoteAgent>,
}

impl RoleModels {
    /// Every role with its model calls under one bound: at most `calls` at once over all roles
    /// together (the servers' `--max-model-calls`).
    pub fn bounded(self, calls: usize) -> RoleModels {
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(calls.max(1)));
        let bound = |r: RoleModel| RoleModel {
            llm: r.llm.bounded(permits.clone()),
            ..r
        };
        RoleModels {
            decomposer: bound(self.decomposer),
            tracker: bound(self.tracker),
            simulator: bound(self.simulator),
            agent: bound(self.agent),
            judge: bound(self.judge),
            agent_url: self.agent_url,
        }
    }

    /// Every role on one model, judging roles at temperature 0 (as a config with one model).
    pub fn single(llm: Llm) -> RoleModels {
        let judging = RoleModel::new(llm.clone()).with_sampling(Sampling {
            temperature: Some(0.0),
            ..Sampling::default()
        });
        RoleModels {
            decomposer: judging.clone(),
            tracker: judging.clone(),
            simulator: RoleModel::new(llm.clone()),
            agent: RoleModel::new(llm),
            judge: judging,
            agent_url: None,
        }
    }

    /// `(name, role)` for the five roles.
    pub fn iter(&self) -> [(&'static str, &RoleModel); 5] {
        [
            ("decomposer", &self.decomposer),
            ("tracker", &self.tracker),
            ("simulator", &self.simulator),
            ("agent", &self.agent),
            ("judge", &self.judge),
        ]
    }

    /// The same models with the simulator and the agent sampling under `seed` (repeats of an
    /// A/B arm differ only by it).
    pub fn with_seed(mut self, seed: u64) -> RoleModels {
        self.simulator.sampling.seed = Some(seed);
        self.agent.sampling.seed = Some(seed);
        self
    }

    /// Before any work: every distinct model must answer (see [`ugst_llm::Backend::reachable`]).
    /// `config` names the file for the message; a dead endpoint is bad input, not a run failure.
    pub async fn preflight(&self, config: &str) -> Result<(), InputError> {
        let mut seen = std::collections::BTreeSet::new();
        for (role, r) in self.iter() {
            if !seen.insert(r.model.clone()) {
                continue;
            }
            if let Err(e) = r.llm.reachable().await {
                let fix = match &e {
                    ugst_llm::LlmError::Http {
                        status: 401 | 403, ..
                    } => "; check the key named by api_key_env",
                    _ => "",
                };
                return Err(InputError::new(format!(
                    "{config}: [models.{}] (used as {role}) does not answer: {e}{fix}",
                    r.model
                )));
            }
        }
        Ok(())
    }
}
