//! MultiWOZ search and booking against the real database in `shared/data/multiwoz/db`.

mod common;

use common::shared_data;
use serde_json::{json, Value};
use ugst_envs::multiwoz::{MultiWoz, MultiWozSession, SHOWN};

fn db() -> MultiWoz {
    MultiWoz::load(&shared_data().join("multiwoz")).expect("MultiWOZ db in shared/data/multiwoz/db")
}

fn call(m: &MultiWoz, s: &mut MultiWozSession, name: &str, args: Value) -> Result<Value, String> {
    m.call(s, name, &args)
        .map(|o| serde_json::from_str(&o).unwrap())
}

#[test]
fn loads_all_four_domains() {
    let m = db();
    assert_eq!(
        (
            m.hotels.len(),
            m.restaurants.len(),
            m.attractions.len(),
            m.trains.len()
        ),
        (33, 110, 79, 2828)
    );
}

#[test]
fn hotel_search_applies_constraints_and_dontcare() {
    let m = db();
    let mut s = MultiWozSession::default();
    let r = call(
        &m,
        &mut s,
        "find_hotel",
        json!({"area": "North", "type": "guest house", "pricerange": "moderate", "stars": "any"}),
    )
    .unwrap();
    let want = m
        .hotels
        .iter()
        .filter(|h| {
            h["area"] == "north" && h["type"] == "guesthouse" && h["pricerange"] == "moderate"
        })
        .count();
    assert!(want > 0);
    assert_eq!(r["count"], want);
    for h in r["results"].as_array().unwrap() {
        assert_eq!(h["area"], "north");
        assert_eq!(h["type"], "guesthouse");
    }
    assert!(
        r["constraints"].get("stars").is_none(),
        "'any' is not a constraint"
    );
}

#[test]
fn many_matches_give_a_count_and_a_short_list() {
    let m = db();
    let mut s = MultiWozSession::default();
    let r = call(&m, &mut s, "find_restaurant", json!({})).unwrap();
    assert_eq!(r["count"], 110);
    assert_eq!(r["results"].as_array().unwrap().len(), SHOWN);
    assert!(r["note"].as_str().unwrap().contains("110 matches"));
    let none = call(
        &m,
        &mut s,
        "find_restaurant",
        json!({"food": "italian", "area": "north"}),
    )
    .unwrap();
    if none["count"] == 0 {
        assert!(none["note"].as_str().unwrap().contains("relaxing"));
    }
}

#[test]
fn unknown_values_name_the_valid_ones() {
    let m = db();
    let mut s = MultiWozSession::default();
    let e = m
        .call(&mut s, "find_hotel", &json!({"area": "downtown"}))
        .unwrap_err();
    assert!(
        e.contains("area is one of: centre, east, north, south, west"),
        "{e}"
    );
    let e = m
        .call(&mut s, "find_hotel", &json!({"colour": "red"}))
        .unwrap_err();
    assert!(e.contains("unexpected argument 'colour'"), "{e}");
    let e = m.call(&mut s, "find_spaceship", &json!({})).unwrap_err();
    assert!(e.contains("unknown tool"), "{e}");
}

#[test]
fn train_search_respects_times_and_day() {
    let m = db();
    let mut s = MultiWozSession::default();
    let r = call(&m, &mut s, "find_train", json!({"departure": "cambridge", "destination": "london kings cross", "day": "Monday", "leave_after": "10:00"})).unwrap();
    let list = r["results"].as_array().unwrap();
    assert!(!list.is_empty());
    let mut last = String::new();
    for t in list {
        assert_eq!(t["day"], "monday");
        let leave = t["leaveAt"].as_str().unwrap().to_string();
        assert!(leave.as_str() >= "10:00", "{leave}");
        assert!(leave >= last, "sorted by departure");
        last = leave;
    }
    let r = call(&m, &mut s, "find_train", json!({"departure": "cambridge", "destination": "ely", "day": "friday", "arrive_by": "09:00"})).unwrap();
    for t in r["results"].as_array().unwrap() {
        assert!(t["arriveBy"].as_str().unwrap() <= "09:00");
    }
    let e = m
        .call(&mut s, "find_train", &json!({"leave_after": "noon"}))
        .unwrap_err();
    assert!(e.contains("HH:MM"), "{e}");
}

#[test]
fn bookings_return_references_or_fail_with_a_reason() {
    let m = db();
    let mut s = MultiWozSession::default();
    let mut ok = 0;
    let mut full = 0;
    for h in &m.hotels {
        if h.get("takesbookings").and_then(Value::as_str) != Some("yes") {
            continue;
        }
        for day in ["monday", "friday", "sunday"] {
            match m.call(
                &mut s,
                "book_hotel",
                &json!({"name": h["name"], "day": day, "stay": 2, "people": 3}),
            ) {
                Ok(o) => {
                    let v: Value = serde_json::from_str(&o).unwrap();
                    assert_eq!(v["booking"]["reference"].as_str().unwrap().len(), 8);
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.contains("booking failed"), "{e}");
                    full += 1;
                }
            }
        }
    }
    assert!(ok > full && full > 0, "ok {ok}, fully booked {full}");
    assert_eq!(s.bookings.len(), ok);
    // The same request fails or succeeds the same way every time.
    let a = m.call(
        &mut MultiWozSession::default(),
        "book_restaurant",
        &json!({"name": "pizza hut city centre", "day": "monday", "time": "19:00", "people": 2}),
    );
    let b = m.call(
        &mut MultiWozSession::default(),
        "book_restaurant",
        &json!({"name": "Pizza Hut City Centre", "day": "Monday", "time": "19:00", "people": 2}),
    );
    assert_eq!(a, b);
    for (tool, args, want) in [
        (
            "book_hotel",
            json!({"name": "nowhere inn", "day": "monday", "stay": 1, "people": 1}),
            "no hotel called",
        ),
        (
            "book_restaurant",
            json!({"name": "pizza hut city centre", "day": "someday", "time": "19:00", "people": 2}),
            "weekday",
        ),
        (
            "book_restaurant",
            json!({"name": "pizza hut city centre", "day": "monday", "time": "25:99", "people": 2}),
            "HH:MM",
        ),
        (
            "book_restaurant",
            json!({"name": "pizza hut city centre", "day": "monday", "time": "19:00", "people": 40}),
            "between 1 and 8",
        ),
        (
            "book_train",
            json!({"train_id": "TR0000", "people": 1}),
            "no train",
        ),
        (
            "book_hotel",
            json!({"name": "a and b guest house", "day": "monday", "people": 1}),
            "missing required argument 'stay'",
        ),
    ] {
        let e = m.call(&mut s, tool, &args).unwrap_err();
        assert!(e.contains(want), "{tool}: {e}");
    }
}

#[test]
fn train_booking_prices_the_tickets() {
    let m = db();
    let mut s = MultiWozSession::default();
    let t = &m.trains[0];
    let r = m.call(
        &mut s,
        "book_train",
        &json!({"train_id": t["trainID"], "people": 2}),
    );
    match r {
        Ok(o) => {
            let v: Value = serde_json::from_str(&o).unwrap();
            let unit: f64 = t["price"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                v["booking"]["total_price"],
                format!("{:.2} pounds", unit * 2.0)
            );
        }
        Err(e) => assert!(e.contains("no seats"), "{e}"),
    }
}
