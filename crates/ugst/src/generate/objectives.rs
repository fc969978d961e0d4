//! Task objectives drawn from the MultiWOZ database: normal ones built from a real entity's
//! values (so they are satisfiable), impossible ones with one value swapped until nothing in the
//! database matches, and conditional ones whose two branches both resolve. Every objective is
//! checked against the database, not assumed.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
pub use ugst_envs::multiwoz::task::{Kind, Objective, Search};
use ugst_envs::multiwoz::{MultiWoz, DAYS};

fn informable(domain: &str) -> &'static [&'static str] {
    match domain {
        "hotel" => &["area", "pricerange", "stars", "type", "parking", "internet"],
        "restaurant" => &["area", "pricerange", "food"],
        "attraction" => &["area", "type"],
        _ => &[],
    }
}

fn requestable(domain: &str) -> &'static [&'static str] {
    match domain {
        "hotel" => &["address", "phone", "postcode"],
        "restaurant" => &["address", "phone", "postcode"],
        "attraction" => &["address", "phone", "postcode", "entrance fee"],
        _ => &["duration", "price", "trainID"],
    }
}

fn text<'v>(r: &'v Value, k: &str) -> &'v str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A usable constraint value of an entity (skips unknowns and the "no" of yes/no amenities,
/// which users do not ask for).
fn usable(field: &str, v: &str) -> bool {
    !v.is_empty() && v != "?" && !(matches!(field, "parking" | "internet") && v != "yes")
}

fn minutes(t: &str) -> Option<u32> {
    let (h, m) = t.split_once(':')?;
    Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn booking(domain: &str, rng: &mut ChaCha8Rng) -> Vec<(String, String)> {
    let people = rng.random_range(1..=6).to_string();
    match domain {
        "hotel" => vec![
            ("people".into(), people),
            ("day".into(), DAYS.choose(rng).unwrap().to_string()),
            ("stay".into(), rng.random_range(1..=5).to_string()),
        ],
        "restaurant" => vec![
            ("people".into(), people),
            ("day".into(), DAYS.choose(rng).unwrap().to_string()),
            (
                "time".into(),
                hhmm(11 * 60 + 15 * rng.random_range(0..40u32)),
            ),
        ],
        "train" => vec![("people".into(), people)],
        _ => Vec::new(),
    }
}

/// A normal (satisfiable) search built from one entity of `domain`.
pub fn normal(db: &MultiWoz, domain: &str, rng: &mut ChaCha8Rng) -> Search {
    let records = db.records(domain);
    let e = records.choose(rng).expect("the domain has records");
    let (constraints, preferences) = if domain == "train" {
        let leave = minutes(text(e, "leaveAt")).unwrap_or(0);
        let arrive = minutes(text(e, "arriveBy")).unwrap_or(0);
        // Bounds rounded outwards to the quarter hour, so this train still qualifies.
        let after = ("leave_after".to_string(), hhmm(leave / 15 * 15));
        let by = ("arrive_by".to_string(), hhmm(arrive.div_ceil(15) * 15));
        let (hard, soft) = if rng.random_bool(0.5) {
            (after, by)
        } else {
            (by, after)
        };
        (
            vec![
                ("departure".into(), text(e, "departure").to_string()),
                ("destination".into(), text(e, "destination").to_string()),
                ("day".into(), text(e, "day").to_string()),
                hard,
            ],
            vec![soft],
        )
    } else {
        let mut keys: Vec<&str> = informable(domain)
            .iter()
            .copied()
            .filter(|k| usable(k, &text(e, k).to_lowercase()))
            .collect();
        keys.shuffle(rng);
        let n_hard = rng.random_range(1..=keys.len().clamp(1, 3)).min(keys.len());
        let pair = |k: &str| (k.to_string(), text(e, k).to_lowercase());
        let hard: Vec<_> = keys[..n_hard].iter().map(|k| pair(k)).collect();
        let soft: Vec<_> = keys[n_hard..].iter().take(1).map(|k| pair(k)).collect();
        (hard, soft)
    };
    let mut req: Vec<&str> = requestable(domain).to_vec();
    req.shuffle(rng);
    let n_req = rng.random_range(1..=2);
    let bookable = domain != "attraction" && rng.random_bool(0.6);
    Search {
        domain: domain.to_string(),
        constraints,
        preferences,
        requests: req[..n_req].iter().map(|s| s.to_string()).collect(),
        booking: if bookable {
            booking(domain, rng)
        } else {
            Vec::new()
        },
    }
}

/// A search no entity satisfies: a normal search with one constraint changed to another value
/// the database uses, checked to match nothing.
pub fn impossible(db: &MultiWoz, domain: &str, rng: &mut ChaCha8Rng) -> Option<Search> {
    for _ in 0..50 {
        let mut s = normal(db, domain, rng);
        s.preferences.clear();
        let mut order: Vec<usize> = (0..s.constraints.len()).collect();
        order.shuffle(rng);
        for i in order {
            let field = s.constraints[i].0.clone();
            if matches!(field.as_str(), "leave_after" | "arrive_by") {
                continue;
            }
            let mut values = db.field_values(domain, &field);
            values.shuffle(rng);
            for v in values {
                let mut trial = s.constraints.clone();
                trial[i].1 = v;
                if trial[i] != s.constraints[i] && db.matching(domain, &trial).is_empty() {
                    s.constraints = trial;
                    return Some(s);
                }
            }
        }
    }
    None
}

/// "Look for X; if it turns out to be in area A, look for Y instead": X has matches and some
/// lie in A, Y has matches of its own.
pub fn conditional(db: &MultiWoz, domain: &str, rng: &mut ChaCha8Rng) -> Option<Objective> {
    if domain == "train" {
        return None;
    }
    for _ in 0..50 {
        let mut first = normal(db, domain, rng);
        first.constraints.retain(|(k, _)| k != "area");
        first.preferences.retain(|(k, _)| k != "area");
        first.booking.clear();
        if first.constraints.is_empty() {
            continue;
        }
        let hits = db.matching(domain, &first.all_constraints());
        let mut areas: Vec<String> = hits
            .iter()
            .map(|r| text(r, "area").to_lowercase())
            .filter(|a| !a.is_empty())
            .collect();
        areas.sort();
        areas.dedup();
        let Some(area) = areas.choose(rng).cloned() else {
            continue;
        };
        let alt = normal(db, domain, rng);
        if alt
            .constraints
            .iter()
            .any(|(k, v)| k == "area" && *v == area)
        {
            continue;
        }
        if db.matching(domain, &alt.all_constraints()).is_empty() {
            continue;
        }
        return Some(Objective {
            kind: Kind::Conditional,
            main: first,
            condition: Some(("area".into(), area)),
            alternative: Some(alt),
        });
    }
    None
}

/// What the validation found for one objective.
pub fn check(db: &MultiWoz, o: &Objective) -> Result<(), String> {
    let n = |s: &Search| db.matching(&s.domain, &s.all_constraints()).len();
    match o.kind {
        Kind::Normal if n(&o.main) == 0 => Err("a normal objective matches nothing".into()),
        Kind::Impossible if !db.matching(&o.main.domain, &o.main.constraints).is_empty() => {
            Err("an impossible objective matches an entity".into())
        }
        Kind::Conditional => {
            let (Some((field, value)), Some(alt)) = (&o.condition, &o.alternative) else {
                return Err("a conditional objective lacks its condition or alternative".into());
            };
            let hits = db.matching(&o.main.domain, &o.main.all_constraints());
            if hits.is_empty() {
                return Err("the first branch of a conditional objective matches nothing".into());
            }
            if !hits
                .iter()
                .any(|r| text(r, field).eq_ignore_ascii_case(value))
            {
                return Err(format!(
                    "no first-branch match has {field} = {value}, so the condition can never hold"
                ));
            }
            if n(alt) == 0 {
                return Err("the alternative of a conditional objective matches nothing".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
