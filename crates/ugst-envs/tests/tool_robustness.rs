//! Every τ-bench (airline, retail) and MultiWOZ tool, called with arbitrary JSON arguments on a
//! copy of the real databases, answers with a result or an error message — never a panic, never
//! an error without a message — and a failed write leaves the database as it was. The arguments mix the
//! tool's own parameter names with real ids from the data, so calls reach deep into the tools.
//! (The cargo-fuzz target `fuzz/fuzz_targets/tool_calls.rs` runs the same check unbounded.)

mod common;

use common::shared_data;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use ugst_envs::multiwoz::{MultiWoz, MultiWozSession};
use ugst_envs::tau::{Domain, Flavor, TauEnv};

fn tau(domain: Domain) -> &'static TauEnv {
    static E: OnceLock<[TauEnv; 2]> = OnceLock::new();
    let envs = E.get_or_init(|| {
        let root = shared_data().join("tau_bench");
        let load = |d| TauEnv::load(Flavor::Tau, d, &root).expect("τ-bench data");
        [load(Domain::Airline), load(Domain::Retail)]
    });
    &envs[matches!(domain, Domain::Retail) as usize]
}

fn multiwoz() -> &'static MultiWoz {
    static M: OnceLock<MultiWoz> = OnceLock::new();
    M.get_or_init(|| MultiWoz::load(&shared_data().join("multiwoz")).expect("MultiWOZ data"))
}

/// Tool names with their parameter names, from OpenAI function schemas.
fn signatures(tools: &[Value]) -> Vec<(String, Vec<String>)> {
    tools
        .iter()
        .map(|t| {
            let f = &t["function"];
            let params = f["parameters"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            (f["name"].as_str().unwrap().to_string(), params)
        })
        .collect()
}

/// Real strings from a database: the first ids of every table and the first values below them.
fn real_strings(db: &Value) -> Vec<String> {
    fn walk(v: &Value, depth: usize, out: &mut Vec<String>) {
        if out.len() > 400 || depth > 4 {
            return;
        }
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Object(m) => {
                for (k, x) in m.iter().take(6) {
                    out.push(k.clone());
                    walk(x, depth + 1, out);
                }
            }
            Value::Array(a) => a.iter().take(4).for_each(|x| walk(x, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(db, 0, &mut out);
    out
}

/// Arguments: an object over the tool's parameter names (and a stray key), with values drawn
/// from real strings, numbers, booleans, null, and nested lists of payment/item-like objects.
fn args(params: Vec<String>, strings: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        prop::sample::select(strings.clone()).prop_map(Value::String),
        any::<i32>().prop_map(|n| json!(n)),
        (0.0f64..2000.0).prop_map(|x| json!(x)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        "[a-z_0-9]{0,12}".prop_map(Value::String),
    ];
    let value = leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "payment_id".to_string(),
                    "amount".into(),
                    "flight_number".into(),
                    "date".into(),
                    "first_name".into(),
                    "last_name".into(),
                    "dob".into(),
                    "item_id".into(),
                ]),
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let mut keys = params;
    keys.push("unexpected".into());
    prop::collection::btree_map(prop::sample::select(keys), value, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn check_tau(domain: Domain) {
    let env = tau(domain);
    let strings = real_strings(&env.db);
    for (name, params) in signatures(&env.tools()) {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 48,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&args(params, strings.clone()), |a| {
            // Writers get a copy of the database; readers share it.
            let writes = env.writes(&name);
            let mut db = if writes {
                (*env.db).clone()
            } else {
                Value::Null
            };
            let call = || match writes {
                true => env.call(&mut db, &name, &a),
                false => env.read(&env.db, &name, &a),
            };
            let out = catch_unwind(AssertUnwindSafe(call))
                .map_err(|_| TestCaseError::fail(format!("{name} panicked on {a}")))?;
            // An error always says what is wrong (`think` answers "" like the reference).
            if let Err(e) = &out {
                prop_assert!(!e.is_empty(), "{name} failed without a message");
                prop_assert!(
                    !writes || db == *env.db,
                    "{name} failed on {a} but changed the database"
                );
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{domain:?} {name}: {e}");
        }
    }
}

#[test]
fn airline_tools_never_panic() {
    check_tau(Domain::Airline);
}

#[test]
fn retail_tools_never_panic() {
    check_tau(Domain::Retail);
}

#[test]
fn multiwoz_tools_never_panic() {
    let db = multiwoz();
    let strings: Vec<String> = [
        "cambridge",
        "centre",
        "north",
        "cheap",
        "expensive",
        "friday",
        "2",
        "12:30",
        "hotel",
        "guesthouse",
        "yes",
        "dontcare",
        "acorn guest house",
        "ely",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, params) in signatures(&MultiWoz::tools()) {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&args(params, strings.clone()), |a| {
            let mut session = MultiWozSession::default();
            let out = catch_unwind(AssertUnwindSafe(|| db.call(&mut session, &name, &a)))
                .map_err(|_| TestCaseError::fail(format!("{name} panicked on {a}")))?;
            if let Err(e) = &out {
                prop_assert!(!e.is_empty(), "{name} failed without a message");
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("multiwoz {name}: {e}");
        }
    }
}

#[test]
fn one_certificate_twice_is_the_reference_error_and_changes_nothing() {
    let env = tau(Domain::Airline);
    // A user holding a certificate, paying a one-way economy trip with it twice.
    let users = env.db["users"].as_object().unwrap();
    let (user_id, cert, balance) = users
        .iter()
        .find_map(|(id, u)| {
            let pm = u["payment_methods"].as_object()?;
            let c = pm.iter().find(|(_, m)| m["source"] == "certificate")?;
            Some((id.clone(), c.0.clone(), c.1["amount"].as_f64()?))
        })
        .expect("some user holds a certificate");
    let user = &users[&user_id];
    let passenger = json!({"first_name": user["name"]["first_name"],
        "last_name": user["name"]["last_name"], "dob": user["dob"]});
    // An economy seat the certificate pays in two halves.
    let (number, date, price) = env.db["flights"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(n, f)| {
            f["dates"].as_object()?.iter().find_map(|(d, day)| {
                let p = day["prices"]["economy"].as_i64()?;
                (day["status"] == "available" && p % 2 == 0 && (p / 2) as f64 <= balance)
                    .then(|| (n.clone(), d.clone(), p))
            })
        })
        .expect("a flight the certificate can pay in halves");
    let origin = &env.db["flights"][&number]["origin"];
    let destination = &env.db["flights"][&number]["destination"];
    let half = price / 2;
    let args = json!({
        "user_id": user_id, "origin": origin, "destination": destination,
        "flight_type": "one_way", "cabin": "economy",
        "flights": [{"flight_number": number, "date": date}],
        "passengers": [passenger],
        "payment_methods": [{"payment_id": cert, "amount": half}, {"payment_id": cert, "amount": half}],
        "total_baggages": 0, "nonfree_baggages": 0, "insurance": "no"
    });
    let mut db = (*env.db).clone();
    let out = env.call(&mut db, "book_reservation", &args);
    // The reference's KeyError on the second removal: `Error: '<certificate id>'`.
    assert_eq!(out, Err(format!("'{cert}'")));
    assert!(db == *env.db, "the database changed");
}
