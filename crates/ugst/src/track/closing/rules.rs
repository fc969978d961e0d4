//! The closing rules: text rules on the whole conversation, no model call (the 1.5B judge
//! cannot tell a true contradiction from a mention, `docs/tracking.md`), and the word bar a
//! part must pass before its closing question is asked.

use crate::model::Exchange;
use crate::model::TrackingConfig;
use crate::text;
use crate::track::delta::evidence::states_in_words;
use regex::Regex;
use std::sync::LazyLock;
use ugst_state::{Category, SubComponent};

/// Words of `text` that look like identifiers: `cfg.identifier_min_chars` characters or more,
/// letters and digits mixed (`ethan_martin_2396`, `3FRNFB`), so amounts and dates are left out.
fn identifiers<'t>(text: &'t str, cfg: &TrackingConfig) -> Vec<&'t str> {
    text.split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .filter(|w| w.chars().count() >= cfg.identifier_min_chars)
        .filter(|w| w.chars().any(|ch| ch.is_ascii_digit()) && w.chars().any(char::is_alphabetic))
        .collect()
}

/// Whether a part's status is left to a closing rule instead of the per-turn judge: a profile
/// part that names an identifier (see [`withheld_identifier`] and [`changed_identifier`]).
pub(crate) fn decided_by_rule(c: &SubComponent, cfg: &TrackingConfig) -> bool {
    c.category == Category::UserProfile && !identifiers(&c.text, cfg).is_empty()
}

/// The withheld-identifier rule: a profile part naming an identifier that appears nowhere in
/// the conversation, while the agent mentions an id in `cfg.id_asks` replies or more (it asked
/// and never found the account another way). A user who gives it late, or whose account the
/// agent finds and names, stays ALIGNED.
pub(crate) fn withheld_identifier(
    c: &SubComponent,
    history: &[Exchange],
    cfg: &TrackingConfig,
) -> Option<String> {
    if c.category != Category::UserProfile {
        return None;
    }
    let said: String = history
        .iter()
        .map(|e| format!("{}\n{}", e.user, e.agent.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let missing = identifiers(&c.text, cfg)
        .into_iter()
        .find(|id| !said.contains(&id.to_lowercase()))?;
    let asks: Vec<String> = history
        .iter()
        .enumerate()
        .filter(|(_, e)| e.agent.as_deref().is_some_and(asks_for_users_id))
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    (asks.len() >= cfg.id_asks).then(|| {
        format!(
            "closing rule: {missing} never appears in the conversation, though the agent asks for an id in turns {}",
            asks.join(", ")
        )
    })
}

/// Whether an agent reply speaks of the user's own id: "id" or "identifier" right after "user"
/// or "your" ("your user ID", "the user id"). An order, item, payment or reservation id is not
/// the user's (held-out τ-retail: an agent asking for order and item ids made the rule fire on
/// users who were never asked for theirs).
fn asks_for_users_id(reply: &str) -> bool {
    let words: Vec<String> = reply
        .split(|ch: char| !(ch.is_alphanumeric() || ch == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.windows(2).any(|w| {
        ["user", "user's", "your"].contains(&w[0].as_str())
            && ["id", "ids", "identifier"].contains(&w[1].as_str())
    })
}

/// The changed-identifier rule: a profile part naming an identifier, while the user gives
/// another identifier of the same form that matches it in at least `cfg.changed_identifier_same`
/// of its positions (`omar_rossi_8802` for `omar_rossi_1241`): the user gave a wrong copy of their
/// own id. An identifier of another form (an order or reservation number) or one that shares
/// little with it (another person's id) is left alone.
pub(crate) fn changed_identifier(
    c: &SubComponent,
    history: &[Exchange],
    cfg: &TrackingConfig,
) -> Option<String> {
    if c.category != Category::UserProfile {
        return None;
    }
    let class = |ch: char| {
        if ch.is_ascii_digit() {
            'd'
        } else if ch.is_alphabetic() {
            'a'
        } else {
            ch
        }
    };
    let near_copy = |own: &str, said: &str| {
        let (own, said): (Vec<char>, Vec<char>) = (
            own.to_lowercase().chars().collect(),
            said.to_lowercase().chars().collect(),
        );
        let same_form =
            own.len() == said.len() && own.iter().zip(&said).all(|(a, b)| class(*a) == class(*b));
        let equal = own.iter().zip(&said).filter(|(a, b)| a == b).count();
        same_form && own != said && equal as f64 >= cfg.changed_identifier_same * own.len() as f64
    };
    let own = identifiers(&c.text, cfg);
    history.iter().enumerate().find_map(|(i, e)| {
        identifiers(&e.user, cfg).into_iter().find_map(|said| {
            let mine = own.iter().find(|o| near_copy(o, said))?;
            Some(format!(
                "closing rule: the user gives {said} in turn {}, a changed copy of {mine}",
                i + 1
            ))
        })
    })
}

/// Words of an agent sentence reporting something as carried out: "has been", "is now",
/// "successfully", or a past participle of the actions these services take.
static DONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:has|have|had)\s+been|(?:is|are)\s+now|successfully|completed|processed|confirmed|booked|reserved|cancell?ed|updated|changed|modified|exchanged|returned|refunded|upgraded|added|removed|placed)\b")
        .expect("a valid pattern")
});
/// Words that turn a sentence into a refusal or a condition ("cannot be cancelled").
static NOT_DONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:not|cannot|can't|unable|no|never|if|once|would|will|could)\b|n't\b")
        .expect("a valid pattern")
});

/// The agent's report that an objective was carried out, which a closing COMPLETE needs: a
/// sentence of an agent reply that is not a question, reports something as done (see [`DONE`];
/// no negation or condition) and shares a content word with the objective or one of its
/// requirements — in the sentence itself or, when it ends in a colon, in the list it
/// introduces. The closing question alone cannot carry it: on the held-out τ-retail set the
/// 1.5B answered "done" at p 0.46–0.65 for exchanges the agent never made.
pub(crate) fn agent_reports_done(
    words_of_part: &str,
    history: &[Exchange],
    cfg: &TrackingConfig,
) -> Option<usize> {
    history.iter().enumerate().find_map(|(i, e)| {
        let sentences = text::sentences(e.agent.as_deref()?);
        sentences
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.trim_end().ends_with('?'))
            .any(|(k, s)| {
                // A report that ends in a colon introduces the list of what was done.
                let scope = if s.trim_end().ends_with(':') {
                    sentences[k..].join(" ")
                } else {
                    s.clone()
                };
                DONE.is_match(s)
                    && !NOT_DONE.is_match(s)
                    && text::shared_content_words(
                        &scope,
                        words_of_part,
                        cfg.content_word_min_letters,
                    ) > 0
            })
            .then_some(i + 1)
    })
}

/// Words of an agent sentence refusing or unable to do what was asked: "cannot", "unable",
/// "not allowed", "unfortunately", "is denied", "against our policy", "I don't have the tools".
static REFUSED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:cannot|can\s*not|can't|unable|not\s+(?:able|allowed|possible|permitted|eligible|available)|isn't\s+(?:possible|allowed)|no\s+longer|unfortunately|(?:is|are|was|were)\s+(?:denied|declined|rejected)|against\s+(?:our|the)\s+policy|does\s+not\s+allow|doesn't\s+allow|(?:do\s+not|don't)\s+have\s+(?:any\s+|the\s+)?(?:tools?|way|access|ability|permission))")
        .expect("a valid pattern")
});
/// Words of a blocker that needs no tie to the request: a system failure or a handover.
static FAILED_OR_HANDED_OVER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:error|failed|failure|(?:system|service)\s+(?:is\s+)?(?:down|unavailable)|transfer(?:red|ring)?\s+you|human\s+agent|(?:a|another)\s+(?:representative|specialist|supervisor))\b")
        .expect("a valid pattern")
});

/// The agent's report of a blocker outside the user, which a closing ATTEMPTED needs: a reply
/// that is a raw tool-call fragment rather than words to the user (the agent failing), or a
/// sentence of an agent reply, not a question, that reports a system failure or a handover, or
/// refuses (see [`REFUSED`]) in an exchange whose user message or reply shares a content word
/// with the objective or one of its requirements (a refusal says "I can't do that" of what the
/// user just asked). The turn of the first such reply.
pub(crate) fn agent_reports_blocker(
    words_of_part: &str,
    history: &[Exchange],
    cfg: &TrackingConfig,
) -> Option<usize> {
    history.iter().enumerate().find_map(|(i, e)| {
        let reply = e.agent.as_deref()?;
        // A reply that is a raw tool-call fragment, not words to the user, is the agent failing.
        let broken = reply.trim().is_empty()
            || reply.trim_start().starts_with('{')
            || reply.trim_start().starts_with("<tool_call>");
        if broken {
            return Some(i + 1);
        }
        // Asked only of a refusal: the exchange is about the objective.
        let on_topic = || {
            [e.user.as_str(), reply].iter().any(|t| {
                text::shared_content_words(t, words_of_part, cfg.content_word_min_letters) > 0
            })
        };
        text::sentences(reply)
            .iter()
            .filter(|s| !s.trim_end().ends_with('?'))
            .any(|s| FAILED_OR_HANDED_OVER.is_match(s) || (REFUSED.is_match(s) && on_topic()))
            .then_some(i + 1)
    })
}

/// A policy's cap: "up to $100", "a budget of $200", "no more than $50".
static CAP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:up\s*to|budget of|no more than|not more than|at most|maximum of|max of)\s*\$\s*(\d[\d,]*(?:\.\d+)?)")
        .expect("a valid pattern")
});
/// Words reporting a charge as done: "has been charged", "was billed".
static CHARGED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:been|was|were|have|has|'ve)\s+(?:been\s+)?(?:charged|billed|deducted)\b")
        .expect("a valid pattern")
});
static AMOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\s*(\d[\d,]*(?:\.\d+)?)").expect("a valid pattern"));

fn dollars(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

/// The spending-cap rule: a policy capping an amount while an agent reply reports, as done, a
/// charge above it ("$114 has been charged"): the user let it happen. A quote the user turns
/// down is no charge, so it keeps the policy ALIGNED.
pub(crate) fn charge_over_cap(c: &SubComponent, history: &[Exchange]) -> Option<String> {
    if c.category != Category::UserPolicy {
        return None;
    }
    let cap = dollars(CAP.captures(&c.text)?.get(1)?.as_str())?;
    history.iter().enumerate().find_map(|(i, e)| {
        text::sentences(e.agent.as_deref()?)
            .into_iter()
            .filter(|s| !s.ends_with('?'))
            .find_map(|s| {
                // The amount nearest the words reporting the charge is the one charged.
                let at = CHARGED.find(&s)?.start();
                let over = AMOUNT
                    .captures_iter(&s)
                    .filter_map(|m| Some((m.get(0)?.start().abs_diff(at), dollars(&m[1])?)))
                    .min_by_key(|(distance, _)| *distance)
                    .map(|(_, amount)| amount)
                    .filter(|a| *a > cap)?;
                Some(format!(
                    "closing rule: the agent reports a charge of ${over} in turn {}, above the ${cap} this policy allows",
                    i + 1
                ))
            })
    })
}

/// Whether the user's words can carry the closing question's "asked for / stated" for this
/// part, before any judge call: a requirement (a detail: a date, a cabin, "nonstop") when more
/// than `cfg.closing_requirement_stem_share` of its content stems occur in the user's messages,
/// a preference when one does. Objectives have no such bar (a request is often worded quite
/// unlike the goal).
pub(crate) fn in_users_words(c: &SubComponent, history: &[Exchange], cfg: &TrackingConfig) -> bool {
    let user: String = history.iter().map(|e| format!("{}\n", e.user)).collect();
    match c.category {
        Category::Requirement => {
            text::share_of_stems(&c.text, &user) > cfg.closing_requirement_stem_share
        }
        Category::Preference => states_in_words(c, &user),
        _ => true,
    }
}
