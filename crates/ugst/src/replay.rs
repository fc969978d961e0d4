//! `ugst replay`: runs every task's gold actions through the Rust tools on a fresh database and
//! compares, task by task, each observation string and the records the replay changed with a
//! reference fixture (`gold_replay/<domain>_<split>_gold_replay.json`, recorded from the Python
//! reference tools). This is how we know the environments behave like the benchmark's.

use crate::error::InputError;
use crate::input_err;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use ugst_envs::tau::{Domain, Flavor, TauEnv};

#[derive(Debug, Clone, Serialize)]
pub struct TaskReplay {
    pub task: String,
    pub steps: usize,
    /// Steps whose observation is an error (some gold steps are meant to fail).
    pub error_steps: usize,
    /// `None` without a fixture.
    pub observations_match: Option<bool>,
    pub records_match: Option<bool>,
    /// The first difference found, for a mismatching task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub env: String,
    pub split: String,
    pub fixtures: Option<String>,
    pub tasks: Vec<TaskReplay>,
    pub matched: usize,
    pub mismatched: usize,
}

fn parse_env(name: &str) -> Result<(Flavor, Domain), InputError> {
    Ok(match name {
        "tau-airline" => (Flavor::Tau, Domain::Airline),
        "tau-retail" => (Flavor::Tau, Domain::Retail),
        "tau2-airline" => (Flavor::Tau2, Domain::Airline),
        "tau2-retail" => (Flavor::Tau2, Domain::Retail),
        other => {
            return Err(InputError::new(format!(
                "replay works on τ environments (tau-airline, tau-retail, tau2-airline, tau2-retail), not {other:?}"
            )))
        }
    })
}

fn default_fixture(data: &Path, domain: Domain, split: &str) -> Option<PathBuf> {
    let file = format!("gold_replay/{}_{split}_gold_replay.json", domain.as_str());
    [data.join(&file), data.join("..").join(&file)]
        .into_iter()
        .find(|p| p.exists())
}

fn clip(s: &str) -> String {
    if s.chars().count() > 160 {
        format!("{}…", s.chars().take(160).collect::<String>())
    } else {
        s.to_string()
    }
}

pub fn replay(
    env_name: &str,
    data: &Path,
    split: &str,
    fixtures: Option<&Path>,
    progress: &dyn crate::progress::Progress,
) -> Result<ReplayReport> {
    let (flavor, domain) = parse_env(env_name)?;
    let env = TauEnv::load(flavor, domain, data).map_err(|e| InputError::new(e.0))?;
    let tasks = env.tasks(split).map_err(|e| InputError::new(e.0))?;
    let fixture_path = fixtures
        .map(Path::to_path_buf)
        .or_else(|| default_fixture(data, domain, split));
    let fixture: Option<Vec<Value>> = match &fixture_path {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| input_err!("{}: cannot read the fixture: {e}", p.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| input_err!("{}: invalid JSON: {e}", p.display()))?;
            let list = v["tasks"].as_array().cloned().ok_or_else(|| {
                input_err!(
                    "{}: expected {{\"tasks\": [...]}} (a gold_replay fixture)",
                    p.display()
                )
            })?;
            if list.len() != tasks.len() {
                return Err(input_err!(
                    "{}: {} fixture tasks for {} tasks in the '{split}' split; is it the fixture of this split?",
                    p.display(),
                    list.len(),
                    tasks.len()
                ));
            }
            Some(list)
        }
    };
    progress.start(tasks.len(), "tasks");
    let mut out = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let r = env.replay(task);
        let mut row = TaskReplay {
            task: format!("{}/{split}/{}", env.name(), task.id),
            steps: r.steps.len(),
            error_steps: r
                .steps
                .iter()
                .filter(|(_, o)| o.starts_with("Error: "))
                .count(),
            observations_match: None,
            records_match: None,
            difference: None,
        };
        if let Some(fx) = fixture.as_ref().map(|f| &f[i]) {
            let want = fx["steps"].as_array().cloned().unwrap_or_default();
            let mut obs_ok = want.len() == r.steps.len();
            if !obs_ok {
                row.difference = Some(format!(
                    "{} steps, the fixture has {}",
                    r.steps.len(),
                    want.len()
                ));
            }
            for (j, ((name, got), w)) in r.steps.iter().zip(&want).enumerate() {
                let wobs = w["observation"].as_str().unwrap_or("");
                if got != wobs || w["name"].as_str() != Some(name) {
                    obs_ok = false;
                    row.difference.get_or_insert_with(|| {
                        format!(
                            "step {j} ({name}): got {:?}, want {:?}",
                            clip(got),
                            clip(wobs)
                        )
                    });
                }
            }
            let changed = Value::Object(env.changed_records(&r.db));
            let rec_ok = changed == fx["changed_records"];
            if !rec_ok {
                row.difference.get_or_insert_with(|| {
                    format!(
                        "changed records: got {}, want {}",
                        clip(&changed.to_string()),
                        clip(&fx["changed_records"].to_string())
                    )
                });
            }
            row.observations_match = Some(obs_ok);
            row.records_match = Some(rec_ok);
        }
        out.push(row);
        progress.advance(1);
    }
    progress.finish();
    let mismatched = out
        .iter()
        .filter(|t| t.observations_match == Some(false) || t.records_match == Some(false))
        .count();
    Ok(ReplayReport {
        env: env.name(),
        split: split.to_string(),
        fixtures: fixture_path.map(|p| p.display().to_string()),
        matched: if fixture.is_some() {
            out.len() - mismatched
        } else {
            0
        },
        mismatched,
        tasks: out,
    })
}

/// Mismatching tasks line by line, then one summary line.
pub fn table(r: &ReplayReport) -> String {
    let mut s = String::new();
    for t in r.tasks.iter().filter(|t| t.difference.is_some()) {
        s.push_str(&format!(
            "MISMATCH {}: {}\n",
            t.task,
            t.difference.as_deref().unwrap_or("")
        ));
    }
    let steps: usize = r.tasks.iter().map(|t| t.steps).sum();
    let errors: usize = r.tasks.iter().map(|t| t.error_steps).sum();
    match &r.fixtures {
        Some(f) => s.push_str(&format!(
            "{} {}: {}/{} tasks match the reference ({} steps, {} of them errors by design) — fixture {}\n",
            r.env,
            r.split,
            r.matched,
            r.tasks.len(),
            steps,
            errors,
            f
        )),
        None => s.push_str(&format!(
            "{} {}: replayed {} tasks ({} steps, {} errors); no fixture to compare with (pass --fixtures)\n",
            r.env,
            r.split,
            r.tasks.len(),
            steps,
            errors
        )),
    }
    s
}
