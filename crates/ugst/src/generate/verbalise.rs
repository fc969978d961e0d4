//! Objectives and goals in words. Templates (our own wording) give every sentence of the goal and
//! the reference decomposition at once, so we know which sentence is profile, policy, objective,
//! requirement or preference. With a model configured, the objective paragraphs are rewritten
//! into freer prose (cached, so a set is reproducible); the reference keeps the template
//! sentences.

use super::objectives::{Kind, Objective, Search};
use ugst_state::ObjectiveSpec;

fn noun(s: &Search) -> String {
    let get = |k: &str| {
        s.constraints
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.clone())
    };
    match s.domain.as_str() {
        "hotel" => match get("type").as_deref() {
            Some("guesthouse") => "guesthouse".into(),
            Some("hotel") => "hotel".into(),
            _ => "place to stay".into(),
        },
        "attraction" => match get("type") {
            Some(t) => t,
            None => "attraction".into(),
        },
        d => d.to_string(),
    }
}

/// Place and cuisine names as people write them ("london kings cross" → "London Kings Cross").
fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn count(n: &str, one: &str, many: &str) -> String {
    format!("{n} {}", if n == "1" { one } else { many })
}

/// One constraint as a sentence with `subject` ("It", "The alternative", …).
fn constraint(domain: &str, field: &str, value: &str, subject: &str) -> String {
    let value = if matches!(field, "departure" | "destination" | "food") {
        title(value)
    } else {
        value.to_string()
    };
    match (domain, field) {
        (_, "area") if value == "centre" => format!("{subject} should be in the centre of town."),
        (_, "area") => format!("{subject} should be in the {value} of town."),
        (_, "pricerange") => format!("{subject} should be in the {value} price range."),
        (_, "stars") => format!("{subject} should have a {value}-star rating."),
        (_, "parking") => format!("{subject} should have free parking."),
        (_, "internet") => format!("{subject} should have free wifi."),
        (_, "food") => format!("{subject} should serve {value} food."),
        ("hotel", "type") => format!("{subject} should be a {value}."),
        (_, "type") => format!("{subject} should be a {value}."),
        (_, "departure") => format!("{subject} should leave from {value}."),
        (_, "destination") => format!("{subject} should go to {value}."),
        (_, "day") => format!("{subject} should run on {value}."),
        (_, "leave_after") => format!("{subject} should leave after {value}."),
        (_, "arrive_by") => format!("{subject} should arrive by {value}."),
        _ => format!("{subject} should have {field} {value}."),
    }
}

fn preference(domain: &str, field: &str, value: &str, subject: &str) -> String {
    let s = constraint(domain, field, value, &subject.to_lowercase());
    format!("If possible, {s}")
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn requests(s: &Search) -> Option<String> {
    if s.requests.is_empty() {
        return None;
    }
    let words: Vec<String> = s
        .requests
        .iter()
        .map(|r| match r.as_str() {
            "trainID" => "the train ID".to_string(),
            "duration" => "the travel time".to_string(),
            "price" => "the ticket price".to_string(),
            other => format!("its {other}"),
        })
        .collect();
    Some(format!("Ask for {}.", list(&words)))
}

fn booking(s: &Search) -> Option<String> {
    let get = |k: &str| {
        s.booking
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
    };
    let people = get("people")?;
    Some(match s.domain.as_str() {
        "hotel" => format!(
            "Book it for {} for {} starting on {}, and get the reference number.",
            count(people, "person", "people"),
            count(get("stay")?, "night", "nights"),
            get("day")?
        ),
        "restaurant" => format!(
            "Book a table for {} at {} on {}, and get the reference number.",
            count(people, "person", "people"),
            get("time")?,
            get("day")?
        ),
        _ => format!(
            "Book {} and get the reference number.",
            count(people, "ticket", "tickets")
        ),
    })
}

/// The requirement and preference sentences of one search.
fn parts(s: &Search, subject: &str) -> (Vec<String>, Vec<String>) {
    let mut req: Vec<String> = s
        .constraints
        .iter()
        .map(|(k, v)| constraint(&s.domain, k, v, subject))
        .collect();
    req.extend(requests(s));
    req.extend(booking(s));
    let pref = s
        .preferences
        .iter()
        .map(|(k, v)| preference(&s.domain, k, v, subject))
        .collect();
    (req, pref)
}

/// An objective as reference decomposition entry (objective text, requirements, preferences).
pub fn objective(o: &Objective) -> ObjectiveSpec {
    let n = noun(&o.main);
    let article = if n.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    match (o.kind, &o.condition, &o.alternative) {
        (Kind::Conditional, Some((_, area)), Some(alt)) => {
            let n2 = noun(alt);
            let n2 = if n2 == n {
                format!("another {n2}")
            } else {
                format!("a {n2}")
            };
            let where_ = if area == "centre" {
                "the centre".to_string()
            } else {
                format!("the {area}")
            };
            let (mut req, mut pref) = parts(&o.main, &format!("The first {n}"));
            let (req2, pref2) = parts(alt, "The alternative");
            req.extend(req2);
            pref.extend(pref2);
            ObjectiveSpec {
                text: format!(
                    "You want to find {article} {n}; if the one you find turns out to be in {where_} of town, look for {n2} instead."
                ),
                requirements: req,
                preferences: pref,
            }
        }
        _ => {
            let (req, pref) = parts(&o.main, "It");
            let verb = if o.main.booking.is_empty() {
                "find"
            } else {
                "book"
            };
            let text = if o.main.domain == "train" {
                format!("You want to {verb} a train.")
            } else {
                format!("You want to {verb} {article} {n} in Cambridge.")
            };
            ObjectiveSpec {
                text,
                requirements: req,
                preferences: pref,
            }
        }
    }
}

/// An objective's sentences as one paragraph.
pub fn paragraph(spec: &ObjectiveSpec) -> String {
    std::iter::once(spec.text.clone())
        .chain(spec.requirements.iter().cloned())
        .chain(spec.preferences.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}
