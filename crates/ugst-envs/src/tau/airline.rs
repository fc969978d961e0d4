//! τ-bench airline tools over the `flights` / `reservations` / `users` database. Behaviour and
//! observation strings follow the reference tools exactly (including their quirks, e.g. a flight
//! change keeps the reservation's cabin field); every check runs before any write, so an error
//! never changes the database.

use super::args::{field_num, field_str, lookup, set, shared_tool, table, table_mut, Args};
use crate::pyjson::{dumps, Num};
use serde_json::{json, Map, Value};

pub const TOOL_NAMES: [&str; 14] = [
    "book_reservation",
    "calculate",
    "cancel_reservation",
    "get_reservation_details",
    "get_user_details",
    "list_all_airports",
    "search_direct_flight",
    "search_onestop_flight",
    "send_certificate",
    "think",
    "transfer_to_human_agents",
    "update_reservation_baggages",
    "update_reservation_flights",
    "update_reservation_passengers",
];

/// The tools that may change the database.
pub const WRITERS: [&str; 6] = [
    "book_reservation",
    "cancel_reservation",
    "send_certificate",
    "update_reservation_baggages",
    "update_reservation_flights",
    "update_reservation_passengers",
];

/// Runs one tool. `None` when `name` is not a airline tool.
pub fn call(db: &mut Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    match write(db, name, args) {
        Some(r) => Some(r),
        None => read(db, name, args),
    }
}

/// Runs a tool that only reads. `None` when `name` is not such a tool.
pub fn read(db: &Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    let r = match name {
        // The reference tool says "user" here; kept for parity.
        "get_reservation_details" => {
            lookup(db, args, "reservations", "reservation_id", "user not found")
        }
        "list_all_airports" => Args::new(args, &[], &[]).map(|_| list_all_airports()),
        "search_direct_flight" => search_direct(db, args),
        "search_onestop_flight" => search_onestop(db, args),
        _ => return shared_tool(db, name, args),
    };
    Some(r)
}

/// Runs a tool that writes to the database. `None` when `name` is not such a tool.
pub fn write(db: &mut Value, name: &str, args: &Value) -> Option<Result<String, String>> {
    let r = match name {
        "book_reservation" => book_reservation(db, args),
        "cancel_reservation" => cancel_reservation(db, args),
        "send_certificate" => send_certificate(db, args),
        "update_reservation_baggages" => update_baggages(db, args),
        "update_reservation_flights" => update_flights(db, args),
        "update_reservation_passengers" => update_passengers(db, args),
        _ => return None,
    };
    Some(r)
}

const AIRPORTS: [(&str, &str); 20] = [
    ("SFO", "San Francisco"),
    ("JFK", "New York"),
    ("LAX", "Los Angeles"),
    ("ORD", "Chicago"),
    ("DFW", "Dallas"),
    ("DEN", "Denver"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
    ("MIA", "Miami"),
    ("BOS", "Boston"),
    ("PHX", "Phoenix"),
    ("IAH", "Houston"),
    ("LAS", "Las Vegas"),
    ("MCO", "Orlando"),
    ("EWR", "Newark"),
    ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"),
    ("DTW", "Detroit"),
    ("PHL", "Philadelphia"),
    ("LGA", "LaGuardia"),
];

fn list_all_airports() -> String {
    let map: Map<String, Value> = AIRPORTS
        .iter()
        .map(|(code, city)| (code.to_string(), json!(city)))
        .collect();
    dumps(&Value::Object(map))
}

/// A flight's record without its `dates`, merged with what it holds for `date`.
fn flight_on(flight: &Value, day: &Value) -> Value {
    let mut out: Map<String, Value> = flight
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "dates")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if let Some(d) = day.as_object() {
        for (k, v) in d {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn status_on<'f>(flight: &'f Value, date: &str) -> Option<&'f Value> {
    flight.get("dates").and_then(|d| d.get(date))
}

fn search_direct(db: &Value, args: &Value) -> Result<String, String> {
    let keys = ["origin", "destination", "date"];
    let a = Args::new(args, &keys, &keys)?;
    let (origin, dest, date) = (a.str("origin")?, a.str("destination")?, a.str("date")?);
    let mut out = Vec::new();
    for f in table(db, "flights").values() {
        if f.get("origin").and_then(Value::as_str) == Some(origin)
            && f.get("destination").and_then(Value::as_str) == Some(dest)
        {
            if let Some(day) = status_on(f, date) {
                if day.get("status").and_then(Value::as_str) == Some("available") {
                    out.push(flight_on(f, day));
                }
            }
        }
    }
    Ok(dumps(&Value::Array(out)))
}

fn search_onestop(db: &Value, args: &Value) -> Result<String, String> {
    let keys = ["origin", "destination", "date"];
    let a = Args::new(args, &keys, &keys)?;
    let (origin, dest, date) = (a.str("origin")?, a.str("destination")?, a.str("date")?);
    let flights = table(db, "flights");
    let s = |f: &Value, k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = Vec::new();
    for f1 in flights.values() {
        if s(f1, "origin") != origin {
            continue;
        }
        for f2 in flights.values() {
            if s(f2, "destination") != dest || s(f1, "destination") != s(f2, "origin") {
                continue;
            }
            let arrival = s(f1, "scheduled_arrival_time_est");
            // The second leg's date: the next day (unpadded, as the reference builds it) when
            // the first leg lands after midnight.
            let date2 = if arrival.contains("+1") {
                let tail: String = date
                    .chars()
                    .rev()
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let day: i64 = tail
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid literal for int() with base 10: '{tail}'"))?;
                format!("2024-05-{}", day + 1)
            } else {
                date.to_string()
            };
            if arrival > s(f2, "scheduled_departure_time_est") {
                continue;
            }
            let (Some(d1), Some(_)) = (status_on(f1, date), status_on(f2, &date2)) else {
                continue;
            };
            let available =
                |d: &Value| d.get("status").and_then(Value::as_str) == Some("available");
            if available(d1) && status_on(f2, &date2).is_some_and(available) {
                let mut r1 = flight_on(f1, d1);
                set(&mut r1, "date", json!(date));
                // The reference merges the second leg's record for the *first* date.
                let d2 = status_on(f2, date).ok_or_else(|| format!("'{date}'"))?;
                let mut r2 = flight_on(f2, d2);
                set(&mut r2, "date", json!(date2));
                out.push(json!([r1, r2]));
            }
        }
    }
    Ok(dumps(&Value::Array(out)))
}

/// Prices one new flight segment from the database for `n` passengers in `cabin`, after the
/// reference checks (flight and date exist, status available, enough seats), and writes its
/// price, origin and destination into the segment. Returns the segment's total.
fn price_segment(
    db: &Value,
    flight: &mut Value,
    number: &str,
    date: &str,
    cabin: &str,
    n: Num,
) -> Result<Num, String> {
    let data = table(db, "flights")
        .get(number)
        .ok_or_else(|| format!("flight {number} not found"))?;
    let day =
        status_on(data, date).ok_or_else(|| format!("flight {number} not found on date {date}"))?;
    if day.get("status").and_then(Value::as_str) != Some("available") {
        return Err(format!("flight {number} not available on date {date}"));
    }
    let seats = day
        .get("available_seats")
        .and_then(|s| s.get(cabin))
        .and_then(Num::from_value)
        .ok_or_else(|| format!("'{cabin}'"))?;
    if seats.lt(n) {
        return Err(format!("not enough seats on flight {number}"));
    }
    let price = day
        .get("prices")
        .and_then(|p| p.get(cabin))
        .cloned()
        .ok_or_else(|| format!("'{cabin}'"))?;
    let price_num = Num::from_value(&price).ok_or("flight price is not a number")?;
    set(flight, "price", price);
    set(
        flight,
        "origin",
        data.get("origin").cloned().unwrap_or(Value::Null),
    );
    set(
        flight,
        "destination",
        data.get("destination").cloned().unwrap_or(Value::Null),
    );
    Ok(price_num.times(n))
}

fn book_reservation(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = [
        "user_id",
        "origin",
        "destination",
        "flight_type",
        "cabin",
        "flights",
        "passengers",
        "payment_methods",
        "total_baggages",
        "nonfree_baggages",
        "insurance",
    ];
    let a = Args::new(args, &keys, &keys)?;
    let user_id = a.str("user_id")?;
    let cabin = a.str("cabin")?;
    let passengers = a.list("passengers")?;
    let payments = a.list("payment_methods")?;
    let user = table(db, "users")
        .get(user_id)
        .ok_or("user not found")?
        .clone();
    let reservations = table(db, "reservations");
    let mut reservation_id = "HATHAT";
    if reservations.contains_key(reservation_id) {
        reservation_id = "HATHAU";
        if reservations.contains_key(reservation_id) {
            reservation_id = "HATHAV";
        }
    }
    let n = Num::Int(passengers.len() as i64);
    let mut flights = a.list("flights")?.clone();
    let mut total = Num::Int(0);
    for flight in flights.iter_mut() {
        let number = field_str(flight, "flight_number")?.to_string();
        let date = field_str(flight, "date")?.to_string();
        total = total.plus(price_segment(db, flight, &number, &date, cabin, n)?);
    }
    if a.str("insurance")? == "yes" {
        total = total.plus(Num::Int(30).times(n));
    }
    total = total.plus(Num::Int(50).times(a.num("nonfree_baggages")?));
    let methods = user.get("payment_methods").cloned().unwrap_or(json!({}));
    let mut paid = Num::Int(0);
    for p in payments {
        let pid = field_str(p, "payment_id")?;
        let amount = field_num(p, "amount")?;
        let m = methods
            .get(pid)
            .ok_or_else(|| format!("payment method {pid} not found"))?;
        let source = m.get("source").and_then(Value::as_str).unwrap_or("");
        if (source == "gift_card" || source == "certificate") && field_num(m, "amount")?.lt(amount)
        {
            return Err(format!("not enough balance in payment method {pid}"));
        }
    }
    // A certificate is removed when it pays, so the reference tool fails with a KeyError
    // (`Error: '<id>'`) when one is listed twice; say so before anything is changed.
    let mut certificates = std::collections::HashSet::new();
    for p in payments {
        let pid = field_str(p, "payment_id")?;
        let source = methods[pid].get("source").and_then(Value::as_str);
        if source == Some("certificate") && !certificates.insert(pid) {
            return Err(format!("'{pid}'"));
        }
    }
    for p in payments {
        paid = paid.plus(field_num(p, "amount")?);
    }
    if !paid.same(total) {
        return Err(format!(
            "payment amount does not add up, total price is {total}, but paid {paid}"
        ));
    }
    let reservation = json!({
        "reservation_id": reservation_id,
        "user_id": user_id,
        "origin": a.value("origin")?,
        "destination": a.value("destination")?,
        "flight_type": a.value("flight_type")?,
        "cabin": cabin,
        "flights": flights,
        "passengers": passengers,
        "payment_history": payments,
        "created_at": "2024-05-15T15:00:00",
        "total_baggages": a.value("total_baggages")?,
        "nonfree_baggages": a.value("nonfree_baggages")?,
        "insurance": a.value("insurance")?,
    });
    // Checks passed: pay, then store.
    let user = table_mut(db, "users")
        .get_mut(user_id)
        .expect("user checked above");
    for p in payments {
        let pid = field_str(p, "payment_id")?;
        let amount = field_num(p, "amount")?;
        let methods = user
            .get_mut("payment_methods")
            .and_then(Value::as_object_mut)
            .expect("payment methods checked above");
        match methods[pid].get("source").and_then(Value::as_str) {
            Some("gift_card") => {
                let left = field_num(&methods[pid], "amount")?.minus(amount);
                set(&mut methods[pid], "amount", left.to_value());
            }
            Some("certificate") => {
                methods.shift_remove(pid);
            }
            _ => {}
        }
    }
    if let Some(list) = user.get_mut("reservations").and_then(Value::as_array_mut) {
        list.push(json!(reservation_id));
    }
    let out = dumps(&reservation);
    table_mut(db, "reservations").insert(reservation_id.to_string(), reservation);
    Ok(out)
}

fn cancel_reservation(db: &mut Value, args: &Value) -> Result<String, String> {
    let a = Args::new(args, &["reservation_id"], &["reservation_id"])?;
    let res = table_mut(db, "reservations")
        .get_mut(a.str("reservation_id")?)
        .ok_or("reservation not found")?;
    let history = res
        .get("payment_history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut refunds = Vec::new();
    for p in &history {
        refunds.push(json!({
            "payment_id": p.get("payment_id").cloned().ok_or("'payment_id'")?,
            "amount": field_num(p, "amount")?.negated().to_value(),
        }));
    }
    if let Some(h) = res.get_mut("payment_history").and_then(Value::as_array_mut) {
        h.extend(refunds);
    }
    set(res, "status", json!("cancelled"));
    Ok(dumps(res))
}

/// The user's payment method `pid` for an update, after the checks every update makes.
fn update_payment(db: &Value, res: &Value, pid: &str, price: Num) -> Result<(), String> {
    let uid = field_str(res, "user_id")?;
    let m = table(db, "users")
        .get(uid)
        .and_then(|u| u.get("payment_methods"))
        .and_then(|m| m.get(pid))
        .ok_or("payment method not found")?;
    match m.get("source").and_then(Value::as_str) {
        Some("certificate") => Err("certificate cannot be used to update reservation".into()),
        Some("gift_card") if field_num(m, "amount")?.lt(price) => {
            Err("gift card balance is not enough".into())
        }
        _ => Ok(()),
    }
}

/// Takes `price` from gift card `pid` (other sources are charged outside the database).
fn charge(db: &mut Value, uid: &str, pid: &str, price: Num) -> Result<(), String> {
    let m = table_mut(db, "users")
        .get_mut(uid)
        .and_then(|u| u.get_mut("payment_methods"))
        .and_then(|m| m.get_mut(pid))
        .ok_or("payment method not found")?;
    if m.get("source").and_then(Value::as_str) == Some("gift_card") {
        let left = field_num(m, "amount")?.minus(price);
        set(m, "amount", left.to_value());
    }
    Ok(())
}

fn update_baggages(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = [
        "reservation_id",
        "total_baggages",
        "nonfree_baggages",
        "payment_id",
    ];
    let a = Args::new(args, &keys, &keys)?;
    let rid = a.str("reservation_id")?;
    let pid = a.str("payment_id")?;
    let res = table(db, "reservations")
        .get(rid)
        .ok_or("reservation not found")?
        .clone();
    let extra = a
        .num("nonfree_baggages")?
        .minus(field_num(&res, "nonfree_baggages")?);
    let price = Num::Int(50).times(if extra.is_positive() {
        extra
    } else {
        Num::Int(0)
    });
    update_payment(db, &res, pid, price)?;
    let uid = field_str(&res, "user_id")?.to_string();
    charge(db, &uid, pid, price)?;
    let res = table_mut(db, "reservations").get_mut(rid).expect("checked");
    set(res, "total_baggages", a.value("total_baggages")?.clone());
    set(
        res,
        "nonfree_baggages",
        a.value("nonfree_baggages")?.clone(),
    );
    if !price.is_zero() {
        if let Some(h) = res.get_mut("payment_history").and_then(Value::as_array_mut) {
            h.push(json!({"payment_id": pid, "amount": price.to_value()}));
        }
    }
    Ok(dumps(res))
}

fn update_flights(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["reservation_id", "cabin", "flights", "payment_id"];
    let a = Args::new(args, &keys, &keys)?;
    let rid = a.str("reservation_id")?;
    let cabin = a.str("cabin")?;
    let pid = a.str("payment_id")?;
    let res = table(db, "reservations")
        .get(rid)
        .ok_or("reservation not found")?
        .clone();
    let n = Num::Int(
        res.get("passengers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as i64,
    );
    let old_flights = res
        .get("flights")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let same_cabin = res.get("cabin").and_then(Value::as_str) == Some(cabin);
    let mut flights = a.list("flights")?.clone();
    let mut total = Num::Int(0);
    for flight in flights.iter_mut() {
        let number = field_str(flight, "flight_number")?.to_string();
        let date = field_str(flight, "date")?.to_string();
        // A segment the reservation already has, in the same cabin, keeps its price.
        let kept = old_flights.iter().find(|f| {
            same_cabin
                && f.get("flight_number").and_then(Value::as_str) == Some(&number)
                && f.get("date").and_then(Value::as_str) == Some(&date)
        });
        if let Some(old) = kept {
            let price = field_num(old, "price")?;
            total = total.plus(price.times(n));
            for k in ["price", "origin", "destination"] {
                set(
                    flight,
                    k,
                    old.get(k).cloned().ok_or_else(|| format!("'{k}'"))?,
                );
            }
            continue;
        }
        total = total.plus(price_segment(db, flight, &number, &date, cabin, n)?);
    }
    let mut old_sum = Num::Int(0);
    for f in &old_flights {
        old_sum = old_sum.plus(field_num(f, "price")?);
    }
    total = total.minus(old_sum.times(n));
    update_payment(db, &res, pid, total)?;
    let uid = field_str(&res, "user_id")?.to_string();
    charge(db, &uid, pid, total)?;
    let res = table_mut(db, "reservations").get_mut(rid).expect("checked");
    set(res, "flights", Value::Array(flights));
    if !total.is_zero() {
        if let Some(h) = res.get_mut("payment_history").and_then(Value::as_array_mut) {
            h.push(json!({"payment_id": pid, "amount": total.to_value()}));
        }
    }
    Ok(dumps(res))
}

fn update_passengers(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["reservation_id", "passengers"];
    let a = Args::new(args, &keys, &keys)?;
    let passengers = a.list("passengers")?;
    let res = table_mut(db, "reservations")
        .get_mut(a.str("reservation_id")?)
        .ok_or("reservation not found")?;
    let have = res
        .get("passengers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if passengers.len() != have {
        return Err("number of passengers does not match".into());
    }
    set(res, "passengers", Value::Array(passengers.clone()));
    Ok(dumps(res))
}

fn send_certificate(db: &mut Value, args: &Value) -> Result<String, String> {
    let keys = ["user_id", "amount"];
    let a = Args::new(args, &keys, &keys)?;
    let uid = a.str("user_id")?;
    let amount = a.num("amount")?;
    let user = table_mut(db, "users")
        .get_mut(uid)
        .ok_or("user not found")?;
    let methods = user
        .get_mut("payment_methods")
        .and_then(Value::as_object_mut)
        .ok_or("'payment_methods'")?;
    for id in [3221322, 3221323, 3221324] {
        let pid = format!("certificate_{id}");
        if !methods.contains_key(&pid) {
            methods.insert(
                pid.clone(),
                json!({"source": "certificate", "amount": a.value("amount")?, "id": pid}),
            );
            return Ok(format!(
                "Certificate {pid} added to user {uid} with amount {amount}."
            ));
        }
    }
    // The reference tool returns nothing once its three certificate ids are used.
    Ok("None".into())
}
