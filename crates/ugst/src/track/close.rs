//! The closing pass of delta tracking. Delta mode judges one exchange at a time, and some
//! statuses only show across the whole conversation: a request the agent turned down politely
//! reads as "nothing settled yet" in its turn, a preference stated in passing is missed, an
//! identifier the user never gives or a charge above the user's cap is visible only once the
//! conversation is over. When a conversation has ended, the parts still at their starting status
//! are looked at once more:
//!
//! - objectives, requirements (whose objective moved and most of whose words the user used) and
//!   preferences (some of whose words the user used): one question over everything the user
//!   wrote, asked in both answer orders (a small judge leans to the first answer); the part
//!   moves when "yes" is likelier than not over the two orders (ranked answers; written answers
//!   count as certain, so both must say yes);
//! - profile and policy parts: two rules on the text, no judge call (the 1.5B judge cannot tell
//!   a true contradiction from a mention, see `docs/tracking.md`): an identifier of the profile
//!   that never appears while the agent asks for an id in two replies, and a charge the agent
//!   reports above the amount a policy caps.

use super::{category_label, mean, objective_text, Judgement, Tracker};
use crate::model::{Exchange, TrackingMode};
use crate::prompts::{self, schemas};
use crate::text;
use minijinja::context;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;
use ugst_llm::{ChatRequest, Ledger, LlmError, Message, Sampling};
use ugst_state::{Category, GoalState, Status, SubComponent, Update};

/// The closing question of a category: its text, the answer that moves the part, the answer
/// that keeps it, and the status it moves to. Profile and policy parts have none (rules instead).
pub fn closing_question(
    category: Category,
) -> Option<(&'static str, &'static str, &'static str, Status)> {
    match category {
        Category::TaskObjective => Some((
            "Over the whole conversation, does the user clearly ask the agent for this?",
            "yes, the user asks for it",
            "no, the user never asks for it",
            Status::Attempted,
        )),
        Category::Requirement => Some((
            "Over the whole conversation, does the user ask for this or state it to the agent?",
            "yes, the user asks for it or states it",
            "no, the user never raises it",
            Status::Attempted,
        )),
        Category::Preference => Some((
            "Over the whole conversation, does the user state this preference or choose according to it?",
            "yes, the user states it or chooses by it",
            "no, the user never states it or acts on it",
            Status::Aligned,
        )),
        Category::UserProfile | Category::UserPolicy => None,
    }
}

/// One closing question about one part: everything the user wrote (first, so that the questions
/// of one conversation share their prompt's start), then the part, then the question with its
/// two answers in the given order.
pub fn close_request(
    state: &GoalState,
    c: &SubComponent,
    history: &[Exchange],
    question: &str,
    answers: [&str; 2],
    sampling: &Sampling,
) -> ChatRequest {
    let turns: Vec<Value> = history
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({"turn": i + 1, "user": e.user}))
        .collect();
    let prompt = prompts::render(
        "track_close",
        context! {
            turns => turns,
            category => category_label(c.category),
            text => c.text,
            objective => objective_text(state, c),
            question => question,
            answers => answers,
        },
    );
    ChatRequest::new(vec![Message::user(prompt)])
        .with_schema(schemas::CHANGE_CHECK, schemas::change_check(&answers))
        .with_sampling(sampling.clone())
}

/// Words of `text` that look like identifiers: five characters or more, letters and digits
/// mixed (`ethan_martin_2396`, `3FRNFB`), so amounts and dates are left out.
fn identifiers(text: &str) -> Vec<&str> {
    text.split(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
        .filter(|w| w.chars().count() >= 5)
        .filter(|w| w.chars().any(|ch| ch.is_ascii_digit()) && w.chars().any(char::is_alphabetic))
        .collect()
}

/// Whether a part's status is left to a closing rule instead of the per-turn judge: a profile
/// part that names an identifier (see [`withheld_identifier`]).
pub fn decided_by_rule(c: &SubComponent) -> bool {
    c.category == Category::UserProfile && !identifiers(&c.text).is_empty()
}

/// The withheld-identifier rule: a profile part naming an identifier that appears nowhere in
/// the conversation, while the agent mentions an id in two or more replies (it asked and never
/// found the account another way). A user who gives it late, or whose account the agent finds
/// and names, stays ALIGNED.
pub fn withheld_identifier(c: &SubComponent, history: &[Exchange]) -> Option<String> {
    if c.category != Category::UserProfile {
        return None;
    }
    let said: String = history
        .iter()
        .map(|e| format!("{}\n{}", e.user, e.agent.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let missing = identifiers(&c.text)
        .into_iter()
        .find(|id| !said.contains(&id.to_lowercase()))?;
    let asks: Vec<String> = history
        .iter()
        .enumerate()
        .filter(|(_, e)| {
            e.agent.as_deref().is_some_and(|a| {
                a.split(|ch: char| !ch.is_alphanumeric())
                    .any(|w| ["id", "ids", "identifier"].contains(&w.to_lowercase().as_str()))
            })
        })
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    (asks.len() >= 2).then(|| {
        format!(
            "closing rule: {missing} never appears in the conversation, though the agent asks for an id in turns {}",
            asks.join(", ")
        )
    })
}

static CAP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:up\s*to|budget of|no more than|not more than|at most|maximum of|max of)\s*\$\s*(\d[\d,]*(?:\.\d+)?)")
        .expect("a valid pattern")
});
static CHARGED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:been|was|were|have|has|'ve)\s+(?:been\s+)?(?:charged|billed|deducted)\b")
        .expect("a valid pattern")
});
static AMOUNT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\$\s*(\d[\d,]*(?:\.\d+)?)").expect("a valid pattern"));

fn dollars(s: &str) -> Option<f64> {
    s.replace(',', "").parse().ok()
}

/// Sentences of `text`: split after `.`, `!` or `?` followed by a space, and at line ends (a
/// decimal point inside an amount does not split).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        let next_blank = chars.peek().is_none_or(|(_, n)| n.is_whitespace());
        if ch == '\n' || (matches!(ch, '.' | '!' | '?') && next_blank) {
            let end = i + ch.len_utf8();
            out.push(text[start..end].trim());
            start = end;
        }
    }
    out.push(text[start..].trim());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// The spending-cap rule: a policy capping an amount ("up to $100", "a budget of $200") while
/// an agent reply reports, as done, a charge above it ("$114 has been charged"): the user let it
/// happen. A quote the user turns down is no charge, so it keeps the policy ALIGNED.
pub fn charge_over_cap(c: &SubComponent, history: &[Exchange]) -> Option<String> {
    if c.category != Category::UserPolicy {
        return None;
    }
    let cap = dollars(CAP.captures(&c.text)?.get(1)?.as_str())?;
    history.iter().enumerate().find_map(|(i, e)| {
        sentences(e.agent.as_deref()?)
            .into_iter()
            .filter(|s| !s.ends_with('?'))
            .find_map(|s| {
                // The amount nearest the words reporting the charge is the one charged.
                let at = CHARGED.find(s)?.start();
                let over = AMOUNT
                    .captures_iter(s)
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

/// Whether the user's words can carry the closing pass's "asked for / stated" for this part,
/// before any judge call. A requirement is a detail (a date, a cabin, "nonstop", "fees waived"):
/// a user who raised it used most of its content words (more than half of its stems). A
/// preference the user stated or chose by shares at least one (as in the per-turn rule). The
/// closing question alone cannot tell: the 1.5B judge answered "asked for" at p 0.58–0.70 for
/// every detail of a conversation in which the user only said "some changes" before a transfer,
/// as it did for details truly asked for, and "stated" for a gift-card preference the user never
/// named. Objectives have no such bar (a request is often worded quite unlike the goal).
pub fn in_users_words(c: &SubComponent, history: &[Exchange]) -> bool {
    let user: String = history.iter().map(|e| format!("{}\n", e.user)).collect();
    match c.category {
        Category::Requirement => text::share_of_stems(&c.text, &user) > 0.5,
        Category::Preference => super::states_in_words(c, &user),
        _ => true,
    }
}

impl Tracker {
    /// The closing pass (delta mode only; the other modes judge every turn against the whole
    /// conversation already): the updates for the parts still at their starting status once the
    /// conversation in `history` has ended. Objectives and preferences are asked first, then the
    /// requirements whose objective is no longer INCOMPLETE. An unusable answer moves nothing.
    pub async fn close(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        history: &[Exchange],
    ) -> Result<Judgement, LlmError> {
        if !matches!(self.mode, TrackingMode::Delta) || history.is_empty() {
            return Ok(Judgement::default());
        }
        let mut updates: Vec<Update> = state
            .components
            .iter()
            .filter(|c| c.status == Status::Aligned)
            .filter_map(|c| {
                let reason =
                    withheld_identifier(c, history).or_else(|| charge_over_cap(c, history))?;
                Some(Update {
                    id: c.id.clone(),
                    status: Status::Misaligned,
                    reason,
                })
            })
            .collect();
        let starting = |c: &&SubComponent| c.status == c.category.statuses()[0];
        let first: Vec<&SubComponent> = state
            .components
            .iter()
            .filter(starting)
            .filter(|c| matches!(c.category, Category::TaskObjective | Category::Preference))
            .filter(|c| in_users_words(c, history))
            .collect();
        updates.extend(self.ask_all(ledger, state, &first, history).await?);
        let moved = |o: &str| {
            updates.iter().any(|u| u.id == o)
                || state.get(o).is_some_and(|o| o.status != Status::Incomplete)
        };
        let reqs: Vec<&SubComponent> = state
            .components
            .iter()
            .filter(starting)
            .filter(|c| c.category == Category::Requirement)
            .filter(|c| c.objective.as_deref().is_some_and(moved))
            .filter(|c| in_users_words(c, history))
            .collect();
        // A requirement the user asked for shares its objective's outcome: COMPLETE when the
        // objective was carried out (the annotation guide counts a requirement the outcome
        // satisfies as COMPLETE), ATTEMPTED when it was blocked or only asked for.
        let objective_status = |o: &str| {
            updates
                .iter()
                .find(|u| u.id == o)
                .map(|u| u.status)
                .or_else(|| state.get(o).map(|o| o.status))
        };
        let more: Vec<Update> = self
            .ask_all(ledger, state, &reqs, history)
            .await?
            .into_iter()
            .map(|mut u| {
                let o = state.get(&u.id).and_then(|c| c.objective.clone());
                if o.as_deref().and_then(objective_status) == Some(Status::Complete) {
                    u.status = Status::Complete;
                    u.reason.push_str("; its objective is COMPLETE");
                }
                u
            })
            .collect();
        updates.extend(more);
        Ok(updates.into())
    }

    /// Asks the closing question of each part, one after another so that every call after the
    /// first re-reads only its part (they share the user's messages at the start; see
    /// `confirm_all`); the updates of those both answer orders move.
    async fn ask_all(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        parts: &[&SubComponent],
        history: &[Exchange],
    ) -> Result<Vec<Update>, LlmError> {
        let mut updates = Vec::new();
        for c in parts {
            updates.extend(self.ask(ledger, state, c, history).await?);
        }
        Ok(updates)
    }

    async fn ask(
        &self,
        ledger: &Ledger,
        state: &GoalState,
        c: &SubComponent,
        history: &[Exchange],
    ) -> Result<Option<Update>, LlmError> {
        let Some((question, yes, no, to)) = closing_question(c.category) else {
            return Ok(None);
        };
        // P(yes) over both answer orders; the part moves when it is more likely than not.
        let mut p_yes = Vec::new();
        for answers in [[no, yes], [yes, no]] {
            let req = close_request(state, c, history, question, answers, &self.role.sampling);
            let Some(p) = self.answer_probs(ledger, req, &answers).await? else {
                return Ok(None);
            };
            p_yes.push(if answers[0] == yes { p[0] } else { p[1] });
        }
        let p = mean(&p_yes);
        Ok((p > 0.5).then(|| Update {
            id: c.id.clone(),
            status: to,
            reason: format!("closing pass: {yes} (p = {p:.2} over both answer orders)"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(category: Category, text: &str) -> SubComponent {
        SubComponent {
            id: "x".into(),
            category,
            text: text.into(),
            objective: None,
            status: category.statuses()[0],
            reason: String::new(),
            changes: Vec::new(),
        }
    }

    fn ex(user: &str, agent: &str) -> Exchange {
        Exchange {
            user: user.into(),
            agent: Some(agent.into()),
        }
    }

    #[test]
    fn requirements_and_preferences_are_asked_only_when_the_user_used_their_words() {
        let vague = [
            ex(
                "I need to make some changes to my upcoming reservation.",
                "Your user id?",
            ),
            ex(
                "Can you connect me with a human agent?",
                "Transferring you now.",
            ),
        ];
        let exact = [ex(
            "Please change it to a nonstop flight on the next day.",
            "Here are the nonstop options.",
        )];
        let nonstop = part(Category::Requirement, "To a nonstop flight.");
        let waived = part(Category::Requirement, "You want change fees waived.");
        let same_dates = part(
            Category::Requirement,
            "On the same dates as the current reservation.",
        );
        assert!(in_users_words(&nonstop, &exact));
        assert!(!in_users_words(&nonstop, &vague));
        // "change" alone is one word of three ("change", "fee", "waiv"): not most of them.
        assert!(!in_users_words(&waived, &vague));
        assert!(!in_users_words(&same_dates, &vague));
        // The agent's words do not count: only what the user wrote.
        let agent_only = [ex("Any news?", "The change fees are waived for you.")];
        assert!(!in_users_words(&waived, &agent_only));
        // A preference needs one of its words; an objective needs none.
        let gift = part(Category::Preference, "You prefer gift card payment.");
        assert!(!in_users_words(&gift, &vague));
        assert!(in_users_words(&gift, &[ex("Can I pay by card?", "Yes.")]));
        let change = part(Category::TaskObjective, "You want to rebook your trip.");
        assert!(in_users_words(&change, &vague));
    }

    #[test]
    fn an_identifier_never_given_though_asked_twice_is_withheld() {
        let me = part(Category::UserProfile, "You are ethan_martin_2396.");
        let asked = [
            ex("My flight is late.", "Could you give me your user ID?"),
            ex(
                "I don't have it.",
                "I need the user ID and reservation ID to help.",
            ),
        ];
        let why = withheld_identifier(&me, &asked).expect("withheld");
        assert!(
            why.contains("ethan_martin_2396") && why.contains("turns 1, 2"),
            "{why}"
        );
        // Asked once only, or given late, or found and named by the agent: no rule fires.
        assert_eq!(withheld_identifier(&me, &asked[..1]), None);
        let late = [
            asked[0].clone(),
            ex("It is ethan_martin_2396.", "Thanks, found it."),
        ];
        assert_eq!(withheld_identifier(&me, &late), None);
        let found = [
            asked[0].clone(),
            ex(
                "I forgot it.",
                "Your user ID is ETHAN_MARTIN_2396; what id next?",
            ),
        ];
        assert_eq!(withheld_identifier(&me, &found), None);
        // Policies and parts without an identifier are never looked at.
        assert_eq!(
            withheld_identifier(
                &part(Category::UserPolicy, "You are ethan_martin_2396."),
                &asked
            ),
            None
        );
        assert_eq!(
            withheld_identifier(
                &part(Category::UserProfile, "Your mother is ill, $100."),
                &asked
            ),
            None
        );
    }

    #[test]
    fn a_charge_reported_above_the_cap_breaks_the_policy_and_a_quote_does_not() {
        let cap = part(
            Category::UserPolicy,
            "You are willing to pay a fee for the change, upto $100.",
        );
        let quoted = ex(
            "Up to $100.",
            "That would cost $114.50. Would you like it to be charged to your card?",
        );
        assert_eq!(charge_over_cap(&cap, std::slice::from_ref(&quoted)), None);
        let charged = ex(
            "Yes, go ahead.",
            "Done.\nThe additional cost of $114 has been charged to your card ending in 1777.",
        );
        let why = charge_over_cap(&cap, &[quoted.clone(), charged]).expect("over the cap");
        assert!(
            why.contains("$114") && why.contains("turn 2") && why.contains("$100"),
            "{why}"
        );
        // Other amounts beside the charge do not count: the one nearest "charged" does.
        let within = ex(
            "Yes.",
            "Your fare was $500; the $100 difference has been charged.",
        );
        assert_eq!(charge_over_cap(&cap, &[within]), None);
        let budget = part(
            Category::UserPolicy,
            "If the fee is above your budget of $1,200, keep economy.",
        );
        assert!(
            charge_over_cap(&budget, &[ex("ok", "$1,250.00 was billed to the card.")]).is_some()
        );
        assert_eq!(
            charge_over_cap(
                &part(Category::UserPolicy, "Be persistent."),
                &[ex("ok", "$900 was charged.")]
            ),
            None
        );
    }

    #[test]
    fn sentences_split_after_stops_and_lines_but_not_inside_amounts() {
        assert_eq!(
            sentences("It cost $114.50 today. Fine!\nNext? yes"),
            vec!["It cost $114.50 today.", "Fine!", "Next?", "yes"]
        );
    }
}
