//! The counterfactual suite: edited copies of hand-labelled conversations whose right change is
//! known by construction, to measure what the tracker catches (sensitivity) and what it leaves
//! alone (specificity) on more cases than any labelled set holds. From each labelled
//! conversation:
//!
//! - `unsettle`: the conversation up to the turn before the first one a COMPLETE label cites —
//!   the part must not be COMPLETE;
//! - `refuse`: a COMPLETE objective's last cited agent reply replaced by a refusal, the turns
//!   after it removed — ATTEMPTED;
//! - `contradict` / `break_policy`: a written user line that contradicts an ALIGNED profile fact
//!   or breaks an ALIGNED policy, added to the user's last message — MISALIGNED;
//! - `unrelated`: a line about nothing in the goal added to a user message in the middle —
//!   every part ends as on the unedited conversation;
//! - `cut_short`: the first part of the conversation — no part ends ahead of the whole one.
//!
//! The last two compare with the tracker's own reading of the unedited conversation, not with
//! the labels, so they measure the edit alone. This module builds the edits and scores them; the
//! command that tracks them is `ugst bench counterfactual`.

use crate::model::Exchange;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ugst_state::{Category, GoalState, Status};

/// The suite's fixed texts and proportions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SuiteConfig {
    /// The agent reply a `refuse` edit puts in place of the reply that carried the objective out.
    pub refusal: String,
    /// The line an `unrelated` edit adds to a user message.
    pub unrelated: String,
    /// A `cut_short` edit keeps this share of the turns (rounded up, at least one fewer than all).
    pub cut_share: f64,
    /// The quick subset: the edits of the first this-many labelled conversations of each set.
    pub quick_conversations_per_set: usize,
}

impl Default for SuiteConfig {
    fn default() -> Self {
        SuiteConfig {
            refusal: "I'm sorry, but I can't do that for you: our policy does not allow it, so \
                      nothing has been changed."
                .into(),
            unrelated: "By the way, it has been raining here all week.".into(),
            cut_share: 0.5,
            quick_conversations_per_set: 2,
        }
    }
}

/// How a conversation was edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    Unsettle,
    Refuse,
    Contradict,
    BreakPolicy,
    Unrelated,
    CutShort,
}

impl EditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EditKind::Unsettle => "unsettle",
            EditKind::Refuse => "refuse",
            EditKind::Contradict => "contradict",
            EditKind::BreakPolicy => "break_policy",
            EditKind::Unrelated => "unrelated",
            EditKind::CutShort => "cut_short",
        }
    }

    /// Whether the edit calls for a change (sensitivity) or for none (specificity).
    pub fn expects_change(self) -> bool {
        !matches!(self, EditKind::Unrelated | EditKind::CutShort)
    }
}

/// What the tracker must make of an edited conversation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The target part does not end at this status.
    Not(Status),
    /// The target part ends at this status.
    Is(Status),
    /// Every part ends as on the unedited conversation.
    Unchanged,
    /// No part ends ahead of the unedited conversation.
    NotAhead,
}

/// One edited conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Edit {
    /// `<set>/<conversation>/<kind>[/<part>]`.
    pub id: String,
    pub set: String,
    pub conversation: String,
    pub kind: EditKind,
    /// The part the edit is about (none for `unrelated` and `cut_short`).
    pub target: Option<String>,
    pub category: Option<Category>,
    pub expect: Expect,
    pub history: Vec<Exchange>,
}

/// A hand-labelled conversation: its exchanges, S0 from the gold decomposition, and each part's
/// gold status with the label's reason (which cites turns as `T4`).
#[derive(Debug, Clone)]
pub struct Labelled {
    pub set: String,
    pub id: String,
    pub history: Vec<Exchange>,
    pub s0: GoalState,
    pub gold: BTreeMap<String, (Status, String)>,
}

/// A written user line that breaks one part: `{"set", "id", "part", "line"}` in
/// `data/counterfactual/lines.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub set: String,
    pub id: String,
    pub part: String,
    pub line: String,
}

/// The turns a label's reason cites (`T4`, `T5–T6` gives 5 and 6), in order, without repeats.
pub fn cited_turns(reason: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let chars: Vec<char> = reason.chars().collect();
    for (i, ch) in chars.iter().enumerate() {
        let starts = *ch == 'T' && (i == 0 || !chars[i - 1].is_alphanumeric());
        if !starts {
            continue;
        }
        let digits: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(n) = digits.parse::<usize>() {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out.sort_unstable();
    out
}

fn with_user_line(mut history: Vec<Exchange>, at: usize, line: &str) -> Vec<Exchange> {
    let user = &mut history[at].user;
    if !user.trim_end().ends_with(['.', '!', '?']) && !user.trim().is_empty() {
        user.push('.');
    }
    user.push(' ');
    user.push_str(line);
    history
}

/// Every edit of one labelled conversation, in a fixed order.
pub fn edits(conv: &Labelled, lines: &[Line], cfg: &SuiteConfig) -> Vec<Edit> {
    let n = conv.history.len();
    let mut out = Vec::new();
    let mut push = |kind: EditKind, target: Option<&str>, expect: Expect, history| {
        let category = target.and_then(|t| conv.s0.get(t)).map(|c| c.category);
        let id = match target {
            Some(t) => format!("{}/{}/{}/{t}", conv.set, conv.id, kind.as_str()),
            None => format!("{}/{}/{}", conv.set, conv.id, kind.as_str()),
        };
        out.push(Edit {
            id,
            set: conv.set.clone(),
            conversation: conv.id.clone(),
            kind,
            target: target.map(str::to_string),
            category,
            expect,
            history,
        });
    };
    if n == 0 {
        return out;
    }
    for c in &conv.s0.components {
        let Some((gold, reason)) = conv.gold.get(&c.id) else {
            continue;
        };
        let turns: Vec<usize> = cited_turns(reason)
            .into_iter()
            .filter(|t| (1..=n).contains(t))
            .collect();
        let settled = matches!(c.category, Category::TaskObjective | Category::Requirement)
            && *gold == Status::Complete;
        if settled && turns.first().is_some_and(|f| *f > 1) {
            let keep = turns[0] - 1;
            push(
                EditKind::Unsettle,
                Some(&c.id),
                Expect::Not(Status::Complete),
                conv.history[..keep].to_vec(),
            );
        }
        if settled && c.category == Category::TaskObjective {
            if let Some(last) = turns.last() {
                let mut h = conv.history[..*last].to_vec();
                h[last - 1].agent = Some(cfg.refusal.clone());
                push(
                    EditKind::Refuse,
                    Some(&c.id),
                    Expect::Is(Status::Attempted),
                    h,
                );
            }
        }
        let kind = match c.category {
            Category::UserProfile => EditKind::Contradict,
            Category::UserPolicy => EditKind::BreakPolicy,
            _ => continue,
        };
        if *gold != Status::Aligned {
            continue;
        }
        let written = lines
            .iter()
            .find(|l| l.set == conv.set && l.id == conv.id && l.part == c.id);
        // The user's last message that the agent answered (a closing "stop" has no reply).
        let at = (0..n).rev().find(|i| conv.history[*i].agent.is_some());
        if let (Some(l), Some(at)) = (written, at) {
            push(
                kind,
                Some(&c.id),
                Expect::Is(Status::Misaligned),
                with_user_line(conv.history.clone(), at, &l.line),
            );
        }
    }
    push(
        EditKind::Unrelated,
        None,
        Expect::Unchanged,
        with_user_line(conv.history.clone(), n / 2, &cfg.unrelated),
    );
    let keep = ((n as f64 * cfg.cut_share).ceil() as usize).clamp(1, n);
    if keep < n {
        push(
            EditKind::CutShort,
            None,
            Expect::NotAhead,
            conv.history[..keep].to_vec(),
        );
    }
    out
}

/// How far a status has come for its category: a later status is "ahead" of an earlier one
/// (a break of a profile or policy, a preference stated, an objective blocked then done).
fn progress(category: Category, s: Status) -> u8 {
    match (category, s) {
        (Category::UserProfile | Category::UserPolicy, Status::Misaligned) => 1,
        (Category::Preference, Status::Aligned) => 1,
        (_, Status::Attempted) => 1,
        (_, Status::Complete) => 2,
        _ => 0,
    }
}

/// Whether `got` (the edited conversation's final statuses) meets the edit's expectation, given
/// `base` (the unedited conversation's) and the parts' categories from `s0`.
pub fn holds(
    edit: &Edit,
    s0: &GoalState,
    base: &BTreeMap<String, Status>,
    got: &BTreeMap<String, Status>,
) -> bool {
    let target = || edit.target.as_ref().and_then(|t| got.get(t)).copied();
    match edit.expect {
        Expect::Not(s) => target().is_some_and(|g| g != s),
        Expect::Is(s) => target() == Some(s),
        Expect::Unchanged => got == base,
        Expect::NotAhead => s0
            .components
            .iter()
            .all(|c| match (got.get(&c.id), base.get(&c.id)) {
                (Some(g), Some(b)) => progress(c.category, *g) <= progress(c.category, *b),
                _ => false,
            }),
    }
}

/// One row of the suite's table: edits of one kind about parts of one category (`None`: the
/// edits about no single part).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    pub edits: usize,
    /// Edits whose expectation the tracker met.
    pub held: usize,
    /// Of those that call for a change: how many already held on the unedited conversation (the
    /// tracker's reading there already met it, so the edit tested nothing new).
    pub held_before: usize,
}

impl Tally {
    pub fn share(&self) -> Option<f64> {
        (self.edits > 0).then(|| self.held as f64 / self.edits as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ugst_state::{Decomposition, ObjectiveSpec};

    fn ex(user: &str, agent: &str) -> Exchange {
        Exchange {
            user: user.into(),
            agent: Some(agent.into()),
        }
    }

    fn labelled() -> Labelled {
        let s0 = GoalState::initial(&Decomposition {
            user_profile: vec!["You are mia_li_3668.".into()],
            user_policy: vec!["You will not pay more than $100.".into()],
            task_objectives: vec![ObjectiveSpec {
                text: "You want to book a flight to Boston.".into(),
                requirements: vec!["In economy.".into()],
                preferences: vec![],
            }],
        });
        let gold = [
            ("prof-1", Status::Aligned, "gives it in T1."),
            ("pol-1", Status::Aligned, "never pays more."),
            ("obj-1", Status::Complete, "asked in T2, booked in T3."),
            ("req-1.1", Status::Complete, "economy confirmed (T3)."),
        ]
        .into_iter()
        .map(|(id, s, r)| (id.to_string(), (s, r.to_string())))
        .collect();
        Labelled {
            set: "s".into(),
            id: "c1".into(),
            history: vec![
                ex("Hi, I am mia_li_3668.", "How can I help?"),
                ex(
                    "Book me a flight to Boston in economy.",
                    "It costs $80. Shall I?",
                ),
                ex("Yes please.", "Booked: economy to Boston, $80."),
                ex("Thanks, bye.", "Goodbye."),
            ],
            s0,
            gold,
        }
    }

    #[test]
    fn turns_are_read_from_a_label_s_citations() {
        assert_eq!(
            cited_turns("asked in T5 and T6; refused (T4, T5)"),
            [4, 5, 6]
        );
        assert_eq!(cited_turns("TOTAL T10; ATT2"), [10]);
        assert!(cited_turns("nothing said contradicts it.").is_empty());
    }

    #[test]
    fn every_kind_is_built_from_the_labels_with_its_expectation() {
        let conv = labelled();
        let lines = vec![Line {
            set: "s".into(),
            id: "c1".into(),
            part: "pol-1".into(),
            line: "Charge me $300, that's fine.".into(),
        }];
        let all = edits(&conv, &lines, &SuiteConfig::default());
        let kinds: Vec<(&str, Option<&str>)> = all
            .iter()
            .map(|e| (e.kind.as_str(), e.target.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("break_policy", Some("pol-1")),
                ("unsettle", Some("obj-1")),
                ("refuse", Some("obj-1")),
                ("unsettle", Some("req-1.1")),
                ("unrelated", None),
                ("cut_short", None),
            ]
        );
        // The written line goes into the user's last answered message.
        assert_eq!(
            all[0].history[3].user,
            "Thanks, bye. Charge me $300, that's fine."
        );
        assert_eq!(all[0].expect, Expect::Is(Status::Misaligned));
        // Unsettle keeps the turns before the first cited one.
        assert_eq!(all[1].history.len(), 1);
        // Refuse ends at the last cited turn, whose reply is the refusal.
        assert_eq!(all[2].history.len(), 3);
        assert!(all[2].history[2]
            .agent
            .as_deref()
            .unwrap()
            .contains("can't"));
        assert_eq!(all[2].history[2].user, "Yes please.");
        // Unrelated goes in the middle; cut short keeps half.
        assert!(all[4].history[2].user.ends_with("all week."));
        assert_eq!(all[5].history.len(), 2);
        // No profile line was written, so no contradiction edit.
        assert!(!all.iter().any(|e| e.kind == EditKind::Contradict));
    }

    #[test]
    fn expectations_are_scored_against_the_target_or_the_unedited_reading() {
        let conv = labelled();
        let all = edits(&conv, &[], &SuiteConfig::default());
        let base: BTreeMap<String, Status> = [
            ("prof-1", Status::Aligned),
            ("pol-1", Status::Aligned),
            ("obj-1", Status::Complete),
            ("req-1.1", Status::Complete),
        ]
        .into_iter()
        .map(|(k, s)| (k.to_string(), s))
        .collect();
        let with = |id: &str, s: Status| {
            let mut m = base.clone();
            m.insert(id.into(), s);
            m
        };
        let unsettle = &all[0];
        assert_eq!(unsettle.kind, EditKind::Unsettle);
        assert!(!holds(unsettle, &conv.s0, &base, &base));
        assert!(holds(
            unsettle,
            &conv.s0,
            &base,
            &with("obj-1", Status::Attempted)
        ));
        let refuse = &all[1];
        assert_eq!(refuse.kind, EditKind::Refuse);
        assert!(holds(
            refuse,
            &conv.s0,
            &base,
            &with("obj-1", Status::Attempted)
        ));
        assert!(!holds(
            refuse,
            &conv.s0,
            &base,
            &with("obj-1", Status::Incomplete)
        ));
        let unrelated = all.iter().find(|e| e.kind == EditKind::Unrelated).unwrap();
        assert!(holds(unrelated, &conv.s0, &base, &base));
        assert!(!holds(
            unrelated,
            &conv.s0,
            &base,
            &with("pol-1", Status::Misaligned)
        ));
        let cut = all.iter().find(|e| e.kind == EditKind::CutShort).unwrap();
        // Behind the whole conversation is fine; ahead of it is not.
        assert!(holds(
            cut,
            &conv.s0,
            &base,
            &with("obj-1", Status::Incomplete)
        ));
        let mut whole = with("obj-1", Status::Attempted);
        assert!(!holds(
            cut,
            &conv.s0,
            &whole,
            &with("obj-1", Status::Complete)
        ));
        whole.insert("prof-1".into(), Status::Aligned);
        assert!(!holds(
            cut,
            &conv.s0,
            &whole,
            &with("prof-1", Status::Misaligned)
        ));
    }
}
