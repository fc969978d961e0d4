//! Tool arguments: typed access to a JSON object with messages that tell the agent what to fix.

use crate::pyjson::Num;
use serde_json::{Map, Value};

pub struct Args<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    /// Checks that `args` is an object holding exactly the tool's parameters (all of `required`,
    /// nothing outside `allowed`).
    pub fn new(args: &'a Value, required: &[&str], allowed: &[&str]) -> Result<Args<'a>, String> {
        let map = args
            .as_object()
            .ok_or_else(|| format!("the arguments must be a JSON object, got {args}"))?;
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(format!(
                    "unexpected argument '{k}'; this tool takes: {}",
                    allowed.join(", ")
                ));
            }
        }
        for r in required {
            if !map.contains_key(*r) {
                return Err(format!("missing required argument '{r}'"));
            }
        }
        Ok(Args { map })
    }

    pub fn value(&self, k: &str) -> Result<&'a Value, String> {
        self.map
            .get(k)
            .ok_or_else(|| format!("missing required argument '{k}'"))
    }

    pub fn str(&self, k: &str) -> Result<&'a str, String> {
        self.value(k)?
            .as_str()
            .ok_or_else(|| format!("argument '{k}' must be a string"))
    }

    pub fn num(&self, k: &str) -> Result<Num, String> {
        Num::from_value(self.value(k)?).ok_or_else(|| format!("argument '{k}' must be a number"))
    }

    pub fn list(&self, k: &str) -> Result<&'a Vec<Value>, String> {
        self.value(k)?
            .as_array()
            .ok_or_else(|| format!("argument '{k}' must be an array"))
    }

    pub fn str_list(&self, k: &str) -> Result<Vec<String>, String> {
        self.list(k)?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("argument '{k}' must be an array of strings"))
            })
            .collect()
    }
}

/// Reads a string field of a record, or says which record lacks it.
pub fn field_str<'v>(v: &'v Value, k: &str) -> Result<&'v str, String> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("'{k}'"))
}

/// Reads a number field of a record, or says which record lacks it.
pub fn field_num(v: &Value, k: &str) -> Result<Num, String> {
    v.get(k)
        .and_then(Num::from_value)
        .ok_or_else(|| format!("'{k}'"))
}

/// A top-level table of the database (`users`, `orders`, …).
pub fn table<'d>(db: &'d Value, name: &str) -> &'d Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    db.get(name)
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub fn table_mut<'d>(db: &'d mut Value, name: &str) -> &'d mut Map<String, Value> {
    let obj = db.as_object_mut().expect("a τ database is a JSON object");
    obj.entry(name.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .expect("database tables are JSON objects")
}

/// Sets `obj[k] = v` keeping the key's position if it exists (Python dict assignment).
pub fn set(obj: &mut Value, k: &str, v: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert(k.to_string(), v);
    }
}

/// `json.dumps` of the record `args[key]` of table `tbl`, or `missing`.
pub fn lookup(
    db: &Value,
    args: &Value,
    tbl: &str,
    key: &str,
    missing: &str,
) -> Result<String, String> {
    let a = Args::new(args, &[key], &[key])?;
    table(db, tbl)
        .get(a.str(key)?)
        .map(crate::pyjson::dumps)
        .ok_or_else(|| missing.to_string())
}

/// The tools airline and retail share. `None` when `name` is not one of them.
pub fn shared_tool(db: &Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    Some(match name {
        "calculate" => Args::new(args, &["expression"], &["expression"])
            .and_then(|a| crate::calc::calculate(a.str("expression")?)),
        "get_user_details" => lookup(db, args, "users", "user_id", "user not found"),
        "think" => Args::new(args, &["thought"], &["thought"]).map(|_| String::new()),
        "transfer_to_human_agents" => {
            Args::new(args, &["summary"], &["summary"]).map(|_| "Transfer successful".into())
        }
        _ => return None,
    })
}
