//! The MultiWOZ task reward against the real database: bookings and named entities meet
//! objectives only when they satisfy the requirements, conditional objectives take either branch,
//! impossible ones fail when something was booked for them.

mod common;

use common::shared_data;
use serde_json::{json, Value};
use ugst_envs::multiwoz::task::{Kind, Objective, Search, Task};
use ugst_envs::multiwoz::{MultiWoz, MultiWozSession};

fn db() -> MultiWoz {
    MultiWoz::load(&shared_data().join("multiwoz")).expect("MultiWOZ db in shared/data/multiwoz/db")
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn search(
    domain: &str,
    hard: &[(&str, &str)],
    requests: &[&str],
    booking: &[(&str, &str)],
) -> Search {
    Search {
        domain: domain.into(),
        constraints: pairs(hard),
        preferences: Vec::new(),
        requests: requests.iter().map(|s| s.to_string()).collect(),
        booking: pairs(booking),
    }
}

fn normal(s: Search) -> Objective {
    Objective {
        kind: Kind::Normal,
        main: s,
        condition: None,
        alternative: None,
    }
}

fn task(objectives: Vec<Objective>) -> Task {
    // Through JSON, as goal files carry it.
    Task::from_value(&serde_json::to_value(Task { objectives }).unwrap()).unwrap()
}

fn met(m: &MultiWoz, t: &Task, bookings: &[Value], replies: &[&str]) -> Vec<bool> {
    let replies: Vec<String> = replies.iter().map(|r| r.to_string()).collect();
    let out = m.score(t, bookings, &replies);
    assert_eq!(
        out.reward,
        if out.objectives.iter().all(|o| o.met) {
            1.0
        } else {
            0.0
        }
    );
    out.objectives.iter().map(|o| o.met).collect()
}

fn hotel_booking(name: &str, day: &str, stay: u32, people: u32) -> Value {
    json!({"name": name, "day": day, "stay": stay, "people": people, "domain": "hotel", "reference": "X"})
}

#[test]
fn a_real_booking_with_the_asked_details_meets_the_objective() {
    let m = db();
    let t = task(vec![normal(search(
        "hotel",
        &[("area", "east"), ("type", "guesthouse"), ("stars", "4")],
        &["phone"],
        &[("people", "2"), ("day", "friday"), ("stay", "3")],
    ))]);
    // Book through the tools, trying days until one is not "fully booked".
    let mut s = MultiWozSession::default();
    let mut day = None;
    for d in ["friday", "saturday", "sunday", "monday"] {
        let args = json!({"name": "A and B Guest House", "day": d, "stay": 3, "people": 2});
        if m.call(&mut s, "book_hotel", &args).is_ok() {
            day = Some(d);
            break;
        }
    }
    let day = day.expect("some day has rooms");
    let out = m.score(&t, &s.bookings, &[]);
    assert_eq!(out.reward, f64::from(u8::from(day == "friday")), "{out:?}");
    if day != "friday" {
        assert!(out.objectives[0].why.contains("day"), "{out:?}");
    }
    // The same booking as data: details must match, the entity must meet the requirements.
    assert_eq!(
        met(
            &m,
            &t,
            &[hotel_booking("a and b guest house", "friday", 3, 2)],
            &[]
        ),
        [true]
    );
    assert_eq!(
        met(
            &m,
            &t,
            &[hotel_booking("a and b guest house", "friday", 2, 2)],
            &[]
        ),
        [false]
    );
    // A west-side hotel does not satisfy area = east.
    let west = m.hotels.iter().find(|h| h["area"] == "west").unwrap()["name"]
        .as_str()
        .unwrap();
    assert_eq!(
        met(&m, &t, &[hotel_booking(west, "friday", 3, 2)], &[]),
        [false]
    );
    // Talking about it is not booking it.
    assert_eq!(
        met(&m, &t, &[], &["A and B Guest House is lovely."]),
        [false]
    );
}

#[test]
fn naming_an_entity_needs_every_requested_value() {
    let m = db();
    let t = task(vec![normal(search(
        "hotel",
        &[("area", "east"), ("type", "guesthouse"), ("stars", "4")],
        &["phone", "postcode"],
        &[],
    ))]);
    assert_eq!(
        met(
            &m,
            &t,
            &[],
            &["Try A and B Guest House: phone 01223 315702, postcode CB1 2DP."]
        ),
        [true]
    );
    let out = m.score(
        &t,
        &[],
        &["Try A and B Guest House, phone 01223 315702.".to_string()],
    );
    assert_eq!(out.reward, 0.0);
    assert!(out.objectives[0].why.contains("postcode"), "{out:?}");
    assert_eq!(
        met(&m, &t, &[], &["Phone 01223315702, postcode cb12dp."]),
        [false],
        "no name"
    );
}

#[test]
fn trains_are_booked_by_id_and_informed_with_their_price() {
    let m = db();
    let tr = m
        .trains
        .iter()
        .find(|t| t["departure"] == "cambridge" && t["day"] == "monday")
        .unwrap()
        .clone();
    let s = search(
        "train",
        &[
            ("departure", "cambridge"),
            ("destination", tr["destination"].as_str().unwrap()),
            ("day", "monday"),
            ("leave_after", tr["leaveAt"].as_str().unwrap()),
        ],
        &["price"],
        &[],
    );
    let id = tr["trainID"].as_str().unwrap();
    let price = tr["price"].as_str().unwrap().split(' ').next().unwrap();
    let t = task(vec![normal(s.clone())]);
    assert_eq!(
        met(&m, &t, &[], &[&format!("{id} costs £{price}.")]),
        [true]
    );
    let booked = task(vec![normal(Search {
        booking: pairs(&[("people", "3")]),
        ..s
    })]);
    let b = json!({"train_id": id, "people": 3, "domain": "train", "reference": "X"});
    assert_eq!(met(&m, &booked, &[b], &[]), [true]);
}

#[test]
fn conditional_objectives_take_either_branch() {
    let m = db();
    // First: a guesthouse with free parking; if it is in the north, a cheap hotel instead.
    let o = Objective {
        kind: Kind::Conditional,
        main: search(
            "hotel",
            &[("type", "guesthouse"), ("parking", "yes")],
            &["phone"],
            &[],
        ),
        condition: Some(("area".into(), "north".into())),
        alternative: Some(search(
            "hotel",
            &[("pricerange", "cheap")],
            &[],
            &[("people", "1"), ("day", "monday"), ("stay", "1")],
        )),
    };
    let t = task(vec![o]);
    let pick = |area: &str| {
        m.hotels
            .iter()
            .find(|h| h["type"] == "guesthouse" && h["parking"] == "yes" && h["area"] == area)
            .unwrap()
            .clone()
    };
    let north = pick("north");
    let east = pick("east");
    let say = |h: &Value| {
        format!(
            "{} — phone {}",
            h["name"].as_str().unwrap(),
            h["phone"].as_str().unwrap()
        )
    };
    let out = m.score(&t, &[], &[say(&east)]);
    assert_eq!((out.reward, out.objectives[0].branch), (1.0, Some("main")));
    // A northern one triggers the switch, so it does not count for the first branch.
    assert_eq!(met(&m, &t, &[], &[&say(&north)]), [false]);
    let cheap = m
        .hotels
        .iter()
        .find(|h| h["pricerange"] == "cheap")
        .unwrap()["name"]
        .as_str()
        .unwrap();
    let out = m.score(&t, &[hotel_booking(cheap, "monday", 1, 1)], &[say(&north)]);
    assert_eq!(
        (out.reward, out.objectives[0].branch),
        (1.0, Some("alternative"))
    );
}

#[test]
fn impossible_objectives_fail_only_on_stray_bookings() {
    let m = db();
    let impossible = Objective {
        kind: Kind::Impossible,
        main: search(
            "hotel",
            &[("area", "north"), ("stars", "5")],
            &[],
            &[("people", "1"), ("day", "monday"), ("stay", "1")],
        ),
        condition: None,
        alternative: None,
    };
    assert!(m.matching("hotel", &impossible.main.constraints).is_empty());
    let t = task(vec![impossible.clone()]);
    assert_eq!(met(&m, &t, &[], &["Sorry, nothing matches."]), [true]);
    let any = m.hotels[0]["name"].as_str().unwrap();
    assert_eq!(
        met(&m, &t, &[hotel_booking(any, "monday", 1, 1)], &[]),
        [false]
    );
    // A booking another objective accounts for is not held against it.
    let both = task(vec![
        impossible,
        normal(search(
            "hotel",
            &[("area", "east"), ("stars", "4"), ("type", "guesthouse")],
            &[],
            &[("people", "1"), ("day", "monday"), ("stay", "1")],
        )),
    ]);
    assert_eq!(
        met(
            &m,
            &both,
            &[hotel_booking("a and b guest house", "monday", 1, 1)],
            &[]
        ),
        [true, true]
    );
}
