//! MultiWOZ tasks and their reward. A task is the list of objectives a generated goal was built
//! from (`ugst goals generate multiwoz` writes it into each goal line); a finished conversation is
//! scored on the bookings its session made and the replies the agent sent.
//!
//! Each objective is met or not, in the spirit of MultiWOZ's *inform* and *success*:
//! - a search with a booking is met by a booking of an entity that satisfies every hard
//!   constraint, made with the requested day, party size, stay or time;
//! - a search without a booking is met when an agent reply names a satisfying entity and gives
//!   every value the user asked for (address, phone, …) — values the database does not know (`?`)
//!   are not required;
//! - a conditional objective is met by its first search with an entity outside the condition's
//!   area, or by its alternative;
//! - an impossible objective is met when no booking in its domain is left that no other objective
//!   accounts for: nothing satisfies it, so anything booked for it broke a requirement.
//!
//! The reward is 1 when every objective is met, else 0; the details list each objective.

use super::{text, time_minutes, MultiWoz, DOMAINS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Normal,
    Impossible,
    Conditional,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Normal => "normal",
            Kind::Impossible => "impossible",
            Kind::Conditional => "conditional",
        }
    }
}

/// One search the user makes: hard constraints, soft preferences, what they want to learn and
/// what they want booked. Values are lower-cased as the database spells them; trains use
/// `leave_after` / `arrive_by` bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    pub domain: String,
    pub constraints: Vec<(String, String)>,
    pub preferences: Vec<(String, String)>,
    pub requests: Vec<String>,
    pub booking: Vec<(String, String)>,
}

impl Search {
    /// Constraints and preferences together: what a fully satisfied search matches.
    pub fn all_constraints(&self) -> Vec<(String, String)> {
        self.constraints
            .iter()
            .chain(&self.preferences)
            .cloned()
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub kind: Kind,
    pub main: Search,
    /// For conditional objectives: when the first result has `field = value`, the user switches
    /// to `alternative`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<Search>,
}

/// What a generated MultiWOZ goal is scored against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub objectives: Vec<Objective>,
}

impl Task {
    /// Reads a goal's `task` value, checking what scoring relies on.
    pub fn from_value(v: &Value) -> Result<Task, String> {
        let task: Task = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
        if task.objectives.is_empty() {
            return Err("objectives is empty".into());
        }
        for (i, o) in task.objectives.iter().enumerate() {
            let searches = std::iter::once(&o.main).chain(&o.alternative);
            for s in searches {
                if !DOMAINS.contains(&s.domain.as_str()) {
                    return Err(format!(
                        "objectives[{i}]: unknown domain '{}'; use one of {}",
                        s.domain,
                        DOMAINS.join(", ")
                    ));
                }
            }
            if o.kind == Kind::Conditional && (o.condition.is_none() || o.alternative.is_none()) {
                return Err(format!(
                    "objectives[{i}]: a conditional objective needs condition and alternative"
                ));
            }
        }
        Ok(task)
    }
}

/// How one objective ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectiveOutcome {
    pub kind: Kind,
    pub domain: String,
    pub met: bool,
    /// `main` or `alternative`: the search that met it (conditional objectives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<&'static str>,
    /// The entity the agent booked or named (a name, or a train id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// Why it counts as met or not, in a few words.
    pub why: String,
}

/// A scored conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// 1.0 when every objective is met, else 0.0.
    pub reward: f64,
    pub objectives: Vec<ObjectiveOutcome>,
}

impl Outcome {
    pub fn details(&self) -> Value {
        let met = self.objectives.iter().filter(|o| o.met).count();
        json!({
            "objectives_met": met,
            "objectives_total": self.objectives.len(),
            "objectives": self.objectives,
        })
    }
}

/// Lower-case letters and digits only, so "CB2 1AD" finds "cb21ad" and "01223 356354" finds
/// "01223356354".
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// True when `needle` (lower-case) occurs in `hay` (lower-case) as whole words.
fn mentions(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// "a hotel", "an attraction".
fn a(domain: &str) -> String {
    let article = if domain.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {domain}")
}

/// The field naming an entity of `domain`.
fn key_field(domain: &str) -> &'static str {
    if domain == "train" {
        "trainID"
    } else {
        "name"
    }
}

/// What a booking of `domain` names: the venue, or the train (as the booking tools record it).
fn booked_entity<'b>(b: &'b Value, domain: &str) -> &'b str {
    text(
        b,
        if domain == "train" {
            "train_id"
        } else {
            "name"
        },
    )
}

/// The part of a requested value a reply must contain: the number of "10.10 pounds" or
/// "88 minutes", the whole value otherwise.
fn required_part(field: &str, value: &str) -> String {
    let v = value.trim();
    let number = v.split_whitespace().next().filter(|w| {
        matches!(field, "price" | "entrance fee" | "duration")
            && w.chars().next().is_some_and(|c| c.is_ascii_digit())
    });
    squeeze(number.unwrap_or(v))
}

/// A booking's value for one of the search's booking fields, as the generator writes them.
fn booked_value(b: &Value, field: &str) -> String {
    match b.get(field) {
        Some(Value::String(s)) if field == "time" => time_minutes(s)
            .map(|m| format!("{:02}:{:02}", m / 60, m % 60))
            .unwrap_or_else(|| s.clone()),
        Some(Value::String(s)) => s.trim().to_lowercase(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

struct Scoring<'a> {
    db: &'a MultiWoz,
    bookings: &'a [Value],
    /// Bookings an objective has accounted for.
    claimed: Vec<bool>,
    /// Every agent reply, lower-cased, and squeezed.
    replies: Vec<String>,
    squeezed: String,
}

impl Scoring<'_> {
    /// Entities satisfying the search's hard constraints, minus those `excluded` picks out.
    fn candidates(&self, s: &Search, excluded: Option<&(String, String)>) -> Vec<&Value> {
        let mut hits = self.db.matching(&s.domain, &s.constraints);
        if let Some((field, value)) = excluded {
            hits.retain(|e| !text(e, field).eq_ignore_ascii_case(value));
        }
        hits
    }

    /// Tries one search; `Ok` holds the entity that met it and how, `Err` why none did.
    fn search(
        &mut self,
        s: &Search,
        excluded: Option<&(String, String)>,
    ) -> Result<(String, String), String> {
        let key = key_field(&s.domain);
        let hits = self.candidates(s, excluded);
        if hits.is_empty() {
            return Err(format!("no {} satisfies the requirements", s.domain));
        }
        let names: Vec<String> = hits.iter().map(|e| text(e, key).to_lowercase()).collect();
        if !s.booking.is_empty() {
            let mut near_miss = None;
            for (i, b) in self.bookings.iter().enumerate() {
                let booked = booked_entity(b, &s.domain);
                if self.claimed[i]
                    || text(b, "domain") != s.domain
                    || !names.contains(&booked.to_lowercase())
                {
                    continue;
                }
                let wrong: Vec<String> = s
                    .booking
                    .iter()
                    .filter(|(k, v)| booked_value(b, k) != *v)
                    .map(|(k, v)| format!("{k} {} instead of {v}", booked_value(b, k)))
                    .collect();
                if wrong.is_empty() {
                    self.claimed[i] = true;
                    return Ok((booked.to_string(), format!("booked {booked} as asked")));
                }
                near_miss.get_or_insert(format!("booked {booked} with {}", wrong.join(", ")));
            }
            return Err(near_miss.unwrap_or_else(|| {
                format!(
                    "no booking of {} that satisfies the requirements",
                    a(&s.domain)
                )
            }));
        }
        let mut partial = None;
        for (e, name) in hits.iter().zip(&names) {
            if !self.replies.iter().any(|r| mentions(r, name)) {
                continue;
            }
            let missing: Vec<&str> = s
                .requests
                .iter()
                .filter(|f| {
                    let v = text(e, f);
                    let part = required_part(f, v);
                    !(v.is_empty() || v == "?" || part.is_empty() || self.squeezed.contains(&part))
                })
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                let entity = text(e, key).to_string();
                let why = format!("named {entity} with everything asked for");
                return Ok((entity, why));
            }
            partial.get_or_insert(format!(
                "named {} but not its {}",
                text(e, key),
                missing.join(", ")
            ));
        }
        Err(partial.unwrap_or_else(|| {
            format!(
                "no reply names {} that satisfies the requirements",
                a(&s.domain)
            )
        }))
    }
}

impl MultiWoz {
    /// Scores a finished conversation: `bookings` from its session, `agent_replies` every text
    /// the agent sent the user.
    pub fn score(&self, task: &Task, bookings: &[Value], agent_replies: &[String]) -> Outcome {
        let replies: Vec<String> = agent_replies.iter().map(|r| r.to_lowercase()).collect();
        let mut sc = Scoring {
            db: self,
            bookings,
            claimed: vec![false; bookings.len()],
            squeezed: replies
                .iter()
                .map(|r| squeeze(r))
                .collect::<Vec<_>>()
                .join(" "),
            replies,
        };
        let mut out: Vec<Option<ObjectiveOutcome>> = vec![None; task.objectives.len()];
        let outcome = |o: &Objective, r: Result<(String, String), String>, branch| match r {
            Ok((entity, why)) => ObjectiveOutcome {
                kind: o.kind,
                domain: o.main.domain.clone(),
                met: true,
                branch,
                entity: Some(entity),
                why,
            },
            Err(why) => ObjectiveOutcome {
                kind: o.kind,
                domain: o.main.domain.clone(),
                met: false,
                branch: None,
                entity: None,
                why,
            },
        };
        // Satisfiable objectives first, so they claim their bookings before impossible ones look.
        for (i, o) in task.objectives.iter().enumerate() {
            match o.kind {
                Kind::Normal => out[i] = Some(outcome(o, sc.search(&o.main, None), None)),
                Kind::Conditional => {
                    let first = sc.search(&o.main, o.condition.as_ref());
                    out[i] = Some(match (first, &o.alternative) {
                        (Ok(e), _) => outcome(o, Ok(e), Some("main")),
                        (Err(why), Some(alt)) => match sc.search(alt, None) {
                            Ok(e) => outcome(o, Ok(e), Some("alternative")),
                            Err(why2) => {
                                outcome(o, Err(format!("{why}; alternative: {why2}")), None)
                            }
                        },
                        (Err(why), None) => outcome(o, Err(why), None),
                    });
                }
                Kind::Impossible => {}
            }
        }
        for (i, o) in task.objectives.iter().enumerate() {
            if o.kind != Kind::Impossible {
                continue;
            }
            let stray = bookings
                .iter()
                .enumerate()
                .find(|(j, b)| !sc.claimed[*j] && text(b, "domain") == o.main.domain);
            out[i] = Some(match stray {
                Some((_, b)) => {
                    let what = booked_entity(b, &o.main.domain);
                    outcome(
                        o,
                        Err(format!("booked {what}, which cannot meet the requirements")),
                        None,
                    )
                }
                None => ObjectiveOutcome {
                    kind: o.kind,
                    domain: o.main.domain.clone(),
                    met: true,
                    branch: None,
                    entity: None,
                    why: format!(
                        "nothing can meet it and no {} was booked for it",
                        o.main.domain
                    ),
                },
            });
        }
        let objectives: Vec<ObjectiveOutcome> = out.into_iter().flatten().collect();
        let reward = if objectives.iter().all(|o| o.met) {
            1.0
        } else {
            0.0
        };
        Outcome { reward, objectives }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_needs_whole_words() {
        assert!(mentions("try the ask restaurant.", "ask"));
        assert!(!mentions("you may ask me", "as"));
        assert!(!mentions("taskforce", "ask"));
        assert!(mentions("tr1234", "tr1234"));
    }

    #[test]
    fn required_parts_keep_numbers_of_prices_and_durations() {
        assert_eq!(required_part("price", "10.10 pounds"), "1010");
        assert_eq!(required_part("duration", "88 minutes"), "88");
        assert_eq!(required_part("entrance fee", "free"), "free");
        assert_eq!(required_part("postcode", "CB2 1AD"), "cb21ad");
        assert_eq!(required_part("phone", "01223 356354"), "01223356354");
    }

    #[test]
    fn tasks_are_checked() {
        let bad = json!({"objectives": [{"kind": "normal", "main": {"domain": "spa",
            "constraints": [], "preferences": [], "requests": [], "booking": []}}]});
        assert!(Task::from_value(&bad)
            .unwrap_err()
            .contains("unknown domain 'spa'"));
        assert!(Task::from_value(&json!({"objectives": []})).is_err());
        let cond = json!({"objectives": [{"kind": "conditional", "main": {"domain": "hotel",
            "constraints": [], "preferences": [], "requests": [], "booking": []}}]});
        assert!(Task::from_value(&cond).unwrap_err().contains("condition"));
        assert!(Task::from_value(&json!({"objectives": [], "extra": 1})).is_err());
    }
}
