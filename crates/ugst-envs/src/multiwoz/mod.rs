//! MultiWOZ as an agent environment: the Cambridge database (hotel, restaurant, attraction,
//! train) behind search tools with constraints and booking tools that return a reference number
//! or say why the booking cannot be made.
//!
//! Searches ignore "don't care" values (`any`, `dontcare`, `don't care`, empty), reject values the
//! database never uses (naming the valid ones), and list at most [`SHOWN`] matches with the total
//! count. Bookings fail for unknown venues or trains, venues that take no bookings, invalid day /
//! time / party size, and — deterministically, so runs are reproducible — for about one in eight
//! (venue, day, …) requests, which stand for "fully booked" and let simulators meet the failures
//! MultiWOZ users meet.

pub mod task;

use crate::EnvError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Most matches a search lists.
pub const SHOWN: usize = 5;

pub const DOMAINS: [&str; 4] = ["hotel", "restaurant", "attraction", "train"];

/// Weekday names as the database spells them.
pub const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// The MultiWOZ database of the four domains.
pub struct MultiWoz {
    pub hotels: Vec<Value>,
    pub restaurants: Vec<Value>,
    pub attractions: Vec<Value>,
    pub trains: Vec<Value>,
    pub dir: PathBuf,
}

/// What the agent is told to be (our own wording).
pub const POLICY: &str = "You are the Cambridge visitor information desk. You help people find and book hotels and guesthouses, restaurants, attractions and trains in and around Cambridge.

- Use the search tools to find places and trains; never invent names, addresses, phone numbers, prices or times. If nothing matches, say so and suggest relaxing one constraint.
- When a search returns many matches, ask for the detail that narrows them down (area, price range, type, day, time) instead of reading out a long list.
- Before you book, make sure you know everything the booking needs (hotel: day, nights, people; restaurant: day, time, people; train: which train and how many tickets) and that the user wants it booked.
- Give the reference number after every successful booking. If a booking fails, explain why and offer an alternative (another day, time, shorter stay or a similar place).
- Answer what the user asks (address, phone, postcode, price, travel time, …) from the tool results, briefly and politely.";

fn is_dontcare(v: &str) -> bool {
    matches!(
        v,
        "" | "any"
            | "dontcare"
            | "don't care"
            | "dont care"
            | "do not care"
            | "not mentioned"
            | "none"
    )
}

/// Lower-cases, trims and maps common variants to the database's spelling.
fn normalise(field: &str, v: &str) -> String {
    let v = v.trim().to_lowercase();
    let v = v.replace('’', "'");
    match (field, v.as_str()) {
        ("area", "center" | "city centre" | "city center" | "central") => "centre".into(),
        ("pricerange", "moderately priced" | "mid-range" | "midrange" | "medium") => {
            "moderate".into()
        }
        ("pricerange", "inexpensive" | "budget") => "cheap".into(),
        ("type", "guest house" | "guesthouses" | "guest houses" | "b&b" | "bed and breakfast") => {
            "guesthouse".into()
        }
        ("type", "hotels") => "hotel".into(),
        ("stars", s) => s
            .trim_end_matches("stars")
            .trim_end_matches("star")
            .trim()
            .to_string(),
        ("parking" | "internet", "free" | "true" | "y") => "yes".into(),
        ("parking" | "internet", "false" | "n") => "no".into(),
        _ => v,
    }
}

fn text<'v>(r: &'v Value, k: &str) -> &'v str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn read_table(dir: &Path, name: &str) -> Result<Vec<Value>, EnvError> {
    let file = dir.join(format!("{name}_db.json"));
    let t = std::fs::read_to_string(&file).map_err(|e| {
        EnvError(format!(
            "{}: cannot read ({e}); the MultiWOZ database needs attraction_db.json, hotel_db.json, restaurant_db.json and train_db.json",
            file.display()
        ))
    })?;
    let v: Value = serde_json::from_str(&t).map_err(|e| {
        EnvError(format!(
            "{}: line {}, column {}: invalid JSON: {e}",
            file.display(),
            e.line(),
            e.column()
        ))
    })?;
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(EnvError(format!(
            "{}: expected a JSON list of records",
            file.display()
        ))),
    }
}

fn time_minutes(t: &str) -> Option<u32> {
    let (h, m) = t.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 48 && m < 60).then_some(h * 60 + m)
}

fn reference(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    d[..8]
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Deterministic "fully booked": about one request in eight for a given key.
fn fully_booked(parts: &[&str]) -> bool {
    let mut h = Sha256::new();
    h.update(b"ugst-multiwoz-availability");
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[0] % 8 == 0
}

/// One conversation's bookings.
#[derive(Debug, Clone, Default)]
pub struct MultiWozSession {
    pub bookings: Vec<Value>,
}

impl MultiWoz {
    /// Loads the database from `path`: the folder with `*_db.json`, one holding `db/`, or a
    /// ConvLab-3 source tree (`convlab/human_eval/db/`).
    pub fn load(path: &Path) -> Result<MultiWoz, EnvError> {
        let candidates = [
            path.to_path_buf(),
            path.join("db"),
            path.join("convlab/human_eval/db"),
            path.join("human_eval/db"),
        ];
        let dir = candidates
            .iter()
            .find(|d| d.join("hotel_db.json").exists())
            .cloned()
            .ok_or_else(|| {
                EnvError(format!(
                    "{}: no hotel_db.json found (looked in {}); pass the MultiWOZ db folder (or the convlab==3.0.1 sdist from PyPI)",
                    path.display(),
                    candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
                ))
            })?;
        Ok(MultiWoz {
            hotels: read_table(&dir, "hotel")?,
            restaurants: read_table(&dir, "restaurant")?,
            attractions: read_table(&dir, "attraction")?,
            trains: read_table(&dir, "train")?,
            dir,
        })
    }

    pub fn records(&self, domain: &str) -> &[Value] {
        match domain {
            "hotel" => &self.hotels,
            "restaurant" => &self.restaurants,
            "attraction" => &self.attractions,
            "train" => &self.trains,
            _ => &[],
        }
    }

    /// Tool schemas in OpenAI function format.
    pub fn tools() -> Vec<Value> {
        Self::schemas().clone()
    }

    /// The schemas, built once: every tool call checks its arguments against them.
    fn schemas() -> &'static Vec<Value> {
        static SCHEMAS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
        SCHEMAS.get_or_init(Self::build_schemas)
    }

    fn build_schemas() -> Vec<Value> {
        let s = |d: &str| json!({"type": "string", "description": d});
        let n = |d: &str| json!({"type": "integer", "description": d});
        let f = |name: &str, desc: &str, props: Value, req: &[&str]| {
            json!({"type": "function", "function": {"name": name, "description": desc,
                "parameters": {"type": "object", "properties": props, "required": req}}})
        };
        let any = " Leave out or say \"any\" when the user does not mind.";
        vec![
            f("find_hotel", &format!("Search hotels and guesthouses.{any}"), json!({
                "area": s("centre, north, south, east or west"),
                "pricerange": s("cheap, moderate or expensive"),
                "stars": s("0 to 5"),
                "type": s("hotel or guesthouse"),
                "parking": s("yes if free parking is needed"),
                "internet": s("yes if free wifi is needed"),
                "name": s("part of the name, to look up a known place"),
            }), &[]),
            f("find_restaurant", &format!("Search restaurants.{any}"), json!({
                "area": s("centre, north, south, east or west"),
                "pricerange": s("cheap, moderate or expensive"),
                "food": s("cuisine, e.g. italian, chinese, british"),
                "name": s("part of the name, to look up a known place"),
            }), &[]),
            f("find_attraction", &format!("Search attractions (museums, colleges, parks, …).{any}"), json!({
                "area": s("centre, north, south, east or west"),
                "type": s("e.g. museum, college, park, architecture, nightclub, swimmingpool"),
                "name": s("part of the name, to look up a known place"),
            }), &[]),
            f("find_train", &format!("Search trains.{any}"), json!({
                "departure": s("departure station, e.g. cambridge, london kings cross"),
                "destination": s("destination station"),
                "day": s("weekday, e.g. monday"),
                "leave_after": s("earliest departure time, HH:MM"),
                "arrive_by": s("latest arrival time, HH:MM"),
            }), &[]),
            f("book_hotel", "Book rooms at a hotel or guesthouse; returns a reference number or why it failed.", json!({
                "name": s("the hotel's exact name from a search"),
                "day": s("weekday of arrival"),
                "stay": n("number of nights, 1 to 14"),
                "people": n("number of guests, 1 to 8"),
            }), &["name", "day", "stay", "people"]),
            f("book_restaurant", "Book a table; returns a reference number or why it failed.", json!({
                "name": s("the restaurant's exact name from a search"),
                "day": s("weekday"),
                "time": s("HH:MM"),
                "people": n("party size, 1 to 8"),
            }), &["name", "day", "time", "people"]),
            f("book_train", "Book train tickets; returns a reference number and the total price, or why it failed.", json!({
                "train_id": s("the train's id from a search, e.g. TR7075"),
                "people": n("number of tickets, 1 to 8"),
            }), &["train_id", "people"]),
        ]
    }

    /// Runs one tool call for a conversation. `Err` holds the message the agent sees after
    /// `Error: `.
    pub fn call(
        &self,
        session: &mut MultiWozSession,
        name: &str,
        args: &Value,
    ) -> Result<String, String> {
        let args = args
            .as_object()
            .ok_or_else(|| format!("the arguments must be a JSON object, got {args}"))?;
        let tool = Self::schemas()
            .iter()
            .find(|t| t["function"]["name"] == name)
            .ok_or_else(|| {
                format!(
                    "unknown tool '{name}'; the tools are: find_hotel, find_restaurant, find_attraction, find_train, book_hotel, book_restaurant, book_train"
                )
            })?;
        let no_props = Map::new();
        let props = tool["function"]["parameters"]["properties"]
            .as_object()
            .unwrap_or(&no_props);
        for k in args.keys() {
            if !props.contains_key(k) {
                return Err(format!(
                    "unexpected argument '{k}'; {name} takes: {}",
                    props.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        for r in tool["function"]["parameters"]["required"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap_or("");
            if !args.contains_key(r) {
                return Err(format!("missing required argument '{r}'"));
            }
        }
        match name {
            "find_hotel" => self.search("hotel", args),
            "find_restaurant" => self.search("restaurant", args),
            "find_attraction" => self.search("attraction", args),
            "find_train" => self.search_train(args),
            "book_hotel" => self.book_venue("hotel", session, args),
            "book_restaurant" => self.book_venue("restaurant", session, args),
            _ => self.book_train(session, args),
        }
    }

    fn arg_str(args: &Map<String, Value>, k: &str) -> Result<Option<String>, String> {
        match args.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(format!("argument '{k}' must be a string, got {other}")),
        }
    }

    fn arg_int(args: &Map<String, Value>, k: &str, lo: i64, hi: i64) -> Result<i64, String> {
        let v = match args.get(k) {
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("argument '{k}' must be a whole number"))?;
        if v < lo || v > hi {
            return Err(format!("{k} must be between {lo} and {hi}, got {v}"));
        }
        Ok(v)
    }

    /// The values a field takes in the database, sorted.
    fn values(&self, domain: &str, field: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .records(domain)
            .iter()
            .map(|r| text(r, field).to_lowercase())
            .filter(|s| !s.is_empty() && s != "?")
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn search(&self, domain: &str, args: &Map<String, Value>) -> Result<String, String> {
        let mut constraints = Vec::new();
        for (k, _) in args {
            let Some(raw) = Self::arg_str(args, k)? else {
                continue;
            };
            let v = normalise(k, &raw);
            if is_dontcare(&v) {
                continue;
            }
            if k != "name" {
                let known = self.values(domain, k);
                if !known.contains(&v) {
                    return Err(format!(
                        "no {domain} has {k} '{raw}'; {k} is one of: {}",
                        known.join(", ")
                    ));
                }
            }
            constraints.push((k.clone(), v));
        }
        let hits = self.matching(domain, &constraints);
        Ok(Self::listing(domain, &hits, &constraints))
    }

    fn listing(domain: &str, hits: &[&Value], constraints: &[(String, String)]) -> String {
        let shown: Vec<Value> = hits
            .iter()
            .take(SHOWN)
            .map(|r| {
                let mut m = r.as_object().cloned().unwrap_or_default();
                for k in ["location", "id", "introduction", "signature"] {
                    m.remove(k);
                }
                Value::Object(m)
            })
            .collect();
        let used: Map<String, Value> = constraints
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let note = match hits.len() {
            0 => format!("No {domain} matches these constraints; suggest relaxing one of them."),
            n if n > SHOWN => format!(
                "{n} matches; the first {SHOWN} are shown. Ask the user for another constraint to narrow them down."
            ),
            n => format!("{n} match(es)."),
        };
        json!({"domain": domain, "constraints": used, "count": hits.len(), "results": shown, "note": note}).to_string()
    }

    /// Records of `domain` meeting every (field, value) constraint, values already normalised:
    /// equality on lower-cased text, `name` by substring, and for trains `leave_after` /
    /// `arrive_by` as HH:MM bounds on `leaveAt` / `arriveBy`.
    pub fn matching(&self, domain: &str, constraints: &[(String, String)]) -> Vec<&Value> {
        self.records(domain)
            .iter()
            .filter(|r| {
                constraints.iter().all(|(k, v)| match k.as_str() {
                    "leave_after" => time_minutes(text(r, "leaveAt"))
                        .zip(time_minutes(v))
                        .is_some_and(|(x, a)| x >= a),
                    "arrive_by" => time_minutes(text(r, "arriveBy"))
                        .zip(time_minutes(v))
                        .is_some_and(|(x, b)| x <= b),
                    "name" => text(r, k).to_lowercase().contains(v.as_str()),
                    _ => text(r, k).to_lowercase() == *v,
                })
            })
            .collect()
    }

    /// The values a field takes in the database (lower-cased, sorted; `?` and empty left out).
    pub fn field_values(&self, domain: &str, field: &str) -> Vec<String> {
        self.values(domain, field)
    }

    fn day(raw: &str) -> Result<String, String> {
        let d = raw.trim().to_lowercase();
        if DAYS.contains(&d.as_str()) {
            Ok(d)
        } else {
            Err(format!(
                "day must be a weekday name (monday … sunday), got '{raw}'"
            ))
        }
    }

    fn search_train(&self, args: &Map<String, Value>) -> Result<String, String> {
        let mut constraints = Vec::new();
        let mut after_given = false;
        let mut by_given = false;
        for k in [
            "departure",
            "destination",
            "day",
            "leave_after",
            "arrive_by",
        ] {
            let Some(raw) = Self::arg_str(args, k)? else {
                continue;
            };
            let v = normalise(k, &raw);
            if is_dontcare(&v) {
                continue;
            }
            match k {
                "leave_after" | "arrive_by" => {
                    let m = time_minutes(&v)
                        .ok_or_else(|| format!("{k} must be a time as HH:MM, got '{raw}'"))?;
                    if k == "leave_after" {
                        after_given = true;
                    } else {
                        by_given = true;
                    }
                    constraints.push((k.to_string(), format!("{:02}:{:02}", m / 60, m % 60)));
                }
                _ => {
                    let v = if k == "day" { Self::day(&raw)? } else { v };
                    let known = self.values("train", k);
                    if !known.contains(&v) {
                        return Err(format!(
                            "no train has {k} '{raw}'; {k} is one of: {}",
                            known.join(", ")
                        ));
                    }
                    constraints.push((k.to_string(), v));
                }
            }
        }
        let mut hits = self.matching("train", &constraints);
        // Earliest departure first; with only a latest arrival, the latest arrival first.
        if by_given && !after_given {
            hits.sort_by_key(|t| std::cmp::Reverse(time_minutes(text(t, "arriveBy"))));
        } else {
            hits.sort_by_key(|t| time_minutes(text(t, "leaveAt")));
        }
        Ok(Self::listing("train", &hits, &constraints))
    }

    fn book_venue(
        &self,
        domain: &str,
        session: &mut MultiWozSession,
        args: &Map<String, Value>,
    ) -> Result<String, String> {
        let name = Self::arg_str(args, "name")?.unwrap_or_default();
        let key = name.trim().to_lowercase();
        let venue = self
            .records(domain)
            .iter()
            .find(|r| text(r, "name").to_lowercase() == key)
            .ok_or_else(|| {
                format!("there is no {domain} called '{name}'; use the exact name from a search")
            })?;
        let day = Self::day(&Self::arg_str(args, "day")?.unwrap_or_default())?;
        let people = Self::arg_int(args, "people", 1, 8)?;
        let vname = text(venue, "name").to_string();
        let (detail, key_parts): (Value, Vec<String>) = if domain == "hotel" {
            // One hotel record spells the field `n`; ConvLab's copy keeps that typo.
            let takes = venue
                .get("takesbookings")
                .or_else(|| venue.get("n"))
                .and_then(Value::as_str)
                .unwrap_or("yes");
            if takes != "yes" {
                return Err(format!("{vname} does not take bookings"));
            }
            let stay = Self::arg_int(args, "stay", 1, 14)?;
            (
                json!({"name": vname, "day": day, "stay": stay, "people": people}),
                vec![vname.clone(), day.clone(), stay.to_string()],
            )
        } else {
            let raw = Self::arg_str(args, "time")?.unwrap_or_default();
            let m = time_minutes(&raw)
                .filter(|m| *m < 24 * 60)
                .ok_or_else(|| format!("time must be HH:MM, got '{raw}'"))?;
            let time = format!("{:02}:{:02}", m / 60, m % 60);
            (
                json!({"name": vname, "day": day, "time": time, "people": people}),
                vec![vname.clone(), day.clone(), time],
            )
        };
        let parts: Vec<&str> = std::iter::once(domain)
            .chain(key_parts.iter().map(String::as_str))
            .collect();
        if fully_booked(&parts) {
            return Err(match domain {
                "hotel" => format!("booking failed: {vname} has no rooms for that stay from {day}; try another day, a shorter stay or another hotel"),
                _ => format!("booking failed: {vname} is fully booked at that time on {day}; try another time or day, or another restaurant"),
            });
        }
        self.confirm(domain, session, detail, &parts)
    }

    fn book_train(
        &self,
        session: &mut MultiWozSession,
        args: &Map<String, Value>,
    ) -> Result<String, String> {
        let id = Self::arg_str(args, "train_id")?.unwrap_or_default();
        let train = self
            .trains
            .iter()
            .find(|t| text(t, "trainID").eq_ignore_ascii_case(id.trim()))
            .ok_or_else(|| format!("there is no train '{id}'; use a trainID from find_train"))?;
        let people = Self::arg_int(args, "people", 1, 8)?;
        let tid = text(train, "trainID").to_string();
        let unit: f64 = text(train, "price")
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0.0);
        let parts = ["train", tid.as_str(), text(train, "day")];
        if fully_booked(&parts) {
            return Err(format!(
                "booking failed: {tid} has no seats left; offer an earlier or later train"
            ));
        }
        let detail = json!({
            "train_id": tid, "day": text(train, "day"), "departure": text(train, "departure"),
            "destination": text(train, "destination"), "leave_at": text(train, "leaveAt"),
            "arrive_by": text(train, "arriveBy"), "people": people,
            "total_price": format!("{:.2} pounds", unit * people as f64),
        });
        self.confirm("train", session, detail, &parts)
    }

    fn confirm(
        &self,
        domain: &str,
        session: &mut MultiWozSession,
        mut detail: Value,
        parts: &[&str],
    ) -> Result<String, String> {
        let n = session.bookings.len().to_string();
        let mut all: Vec<&str> = parts.to_vec();
        all.push(&n);
        let reference = reference(&all);
        if let Some(m) = detail.as_object_mut() {
            m.insert("domain".into(), json!(domain));
            m.insert("reference".into(), json!(reference));
        }
        session.bookings.push(detail.clone());
        Ok(json!({"booked": true, "booking": detail}).to_string())
    }
}
