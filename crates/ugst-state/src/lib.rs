//! The user goal state: typed sub-components, their statuses and the monotone state machine.
//!
//! This crate does no I/O. A goal is decomposed (elsewhere) into a [`Decomposition`]; turning it into a
//! [`GoalState`] gives every sub-component its initial status (S0). After each turn a judge proposes
//! status updates; [`GoalState::apply`] accepts only forward moves and records every ignored answer.
//! [`Tally`] pools success counts per category over many final states.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The five kinds of sub-component a user goal decomposes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    UserProfile,
    UserPolicy,
    TaskObjective,
    Requirement,
    Preference,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::UserProfile,
        Category::UserPolicy,
        Category::TaskObjective,
        Category::Requirement,
        Category::Preference,
    ];

    /// The snake_case name used in files and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::UserProfile => "user_profile",
            Category::UserPolicy => "user_policy",
            Category::TaskObjective => "task_objective",
            Category::Requirement => "requirement",
            Category::Preference => "preference",
        }
    }

    /// The words prompts use for it (`user profile`, `task objective`, ...).
    pub fn label(self) -> &'static str {
        match self {
            Category::UserProfile => "user profile",
            Category::UserPolicy => "user policy",
            Category::TaskObjective => "task objective",
            Category::Requirement => "requirement",
            Category::Preference => "preference",
        }
    }

    /// The column header used in the paper's tables.
    pub fn short(self) -> &'static str {
        match self {
            Category::UserProfile => "Prof.",
            Category::UserPolicy => "Pol.",
            Category::TaskObjective => "T.O.",
            Category::Requirement => "Req.",
            Category::Preference => "Pref.",
        }
    }

    /// Statuses this category can take, in the order the state machine allows them to be reached.
    pub fn statuses(self) -> &'static [Status] {
        match self {
            Category::UserProfile | Category::UserPolicy => &[Status::Aligned, Status::Misaligned],
            Category::Preference => &[Status::Misaligned, Status::Aligned],
            Category::TaskObjective | Category::Requirement => {
                &[Status::Incomplete, Status::Attempted, Status::Complete]
            }
        }
    }

    /// The status every sub-component of this category starts with in S0.
    pub fn initial(self) -> Status {
        self.statuses()[0]
    }

    /// Position of `status` along this category's forward order, or `None` if it does not apply.
    pub fn rank(self, status: Status) -> Option<usize> {
        self.statuses().iter().position(|s| *s == status)
    }

    /// Whether `status` counts as success in the final state.
    pub fn is_success(self, status: Status) -> bool {
        match self {
            Category::UserProfile | Category::UserPolicy | Category::Preference => {
                status == Status::Aligned
            }
            Category::TaskObjective | Category::Requirement => {
                matches!(status, Status::Attempted | Status::Complete)
            }
        }
    }

    /// Whether no further transition is possible from `status`.
    pub fn is_terminal(self, status: Status) -> bool {
        self.rank(status) == Some(self.statuses().len() - 1)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sub-component's status. Which values apply depends on the [`Category`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Aligned,
    Misaligned,
    Incomplete,
    Attempted,
    Complete,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Aligned => "ALIGNED",
            Status::Misaligned => "MISALIGNED",
            Status::Incomplete => "INCOMPLETE",
            Status::Attempted => "ATTEMPTED",
            Status::Complete => "COMPLETE",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ALIGNED" => Some(Status::Aligned),
            "MISALIGNED" => Some(Status::Misaligned),
            "INCOMPLETE" => Some(Status::Incomplete),
            "ATTEMPTED" => Some(Status::Attempted),
            "COMPLETE" => Some(Status::Complete),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task objective with the requirements and preferences that belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveSpec {
    pub text: String,
    #[serde(default)]
    pub requirements: Vec<String>,
    #[serde(default)]
    pub preferences: Vec<String>,
}

/// The decomposition of a goal text: what the decomposer writes and what goal files may carry as
/// `"state"`. Requirements and preferences can only exist under an objective.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Decomposition {
    #[serde(default)]
    pub user_profile: Vec<String>,
    #[serde(default)]
    pub user_policy: Vec<String>,
    pub task_objectives: Vec<ObjectiveSpec>,
}

/// Why a decomposition cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompositionError {
    #[error("the decomposition has no task objective; every goal needs at least one")]
    NoObjective,
    #[error("{0} is empty; every sub-component needs its text")]
    EmptyText(String),
}

impl Decomposition {
    /// Checks the rules every decomposition must follow.
    pub fn validate(&self) -> Result<(), DecompositionError> {
        if self.task_objectives.is_empty() {
            return Err(DecompositionError::NoObjective);
        }
        let empty = |s: &str| s.trim().is_empty();
        for (i, t) in self.user_profile.iter().enumerate() {
            if empty(t) {
                return Err(DecompositionError::EmptyText(format!("user_profile[{i}]")));
            }
        }
        for (i, t) in self.user_policy.iter().enumerate() {
            if empty(t) {
                return Err(DecompositionError::EmptyText(format!("user_policy[{i}]")));
            }
        }
        for (i, o) in self.task_objectives.iter().enumerate() {
            if empty(&o.text) {
                return Err(DecompositionError::EmptyText(format!(
                    "task_objectives[{i}].text"
                )));
            }
            for (j, r) in o.requirements.iter().enumerate() {
                if empty(r) {
                    return Err(DecompositionError::EmptyText(format!(
                        "task_objectives[{i}].requirements[{j}]"
                    )));
                }
            }
            for (j, p) in o.preferences.iter().enumerate() {
                if empty(p) {
                    return Err(DecompositionError::EmptyText(format!(
                        "task_objectives[{i}].preferences[{j}]"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One recorded status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub turn: u32,
    pub from: Status,
    pub to: Status,
    pub reason: String,
}

/// One sub-component of the goal with its current status and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubComponent {
    /// Stable id: `prof-1`, `pol-2`, `obj-1`, `req-1.2` (objective 1, requirement 2), `pref-1.1`.
    pub id: String,
    pub category: Category,
    pub text: String,
    /// The objective a requirement or preference belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<String>,
    pub status: Status,
    /// The reason given with the latest change (empty in S0).
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub changes: Vec<Change>,
}

impl SubComponent {
    pub fn is_success(&self) -> bool {
        self.category.is_success(self.status)
    }

    /// True when the state machine allows no further change, so no judge call is needed.
    pub fn is_settled(&self) -> bool {
        self.category.is_terminal(self.status)
    }
}

/// A judge's proposed status for one sub-component after one turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub id: String,
    pub status: Status,
    pub reason: String,
}

/// Why a judge answer was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreCause {
    /// The answer would move the status backwards.
    Backwards,
    /// The status does not exist for the sub-component's category.
    WrongStatus,
    /// The id names no sub-component.
    UnknownId,
    /// The judge's quoted evidence does not occur in the turn judged (delta tracking).
    NoEvidence,
    /// A second, narrow question about the change was answered no (delta tracking).
    NotConfirmed,
    /// A rule on the whole conversation decides this part, not a judge's reading of one turn
    /// (delta tracking: whether the user withheld an identifier of their profile).
    ByRule,
}

/// A judge answer the state machine refused, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub turn: u32,
    pub id: String,
    pub proposed: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Status>,
    pub cause: IgnoreCause,
    pub reason: String,
}

/// The outcome of applying one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Changed,
    Unchanged,
    Ignored(IgnoreCause),
}

/// The goal state S_i: every sub-component with its status, plus the refused judge answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalState {
    /// The number of turns tracked into this state (0 for S0).
    pub turn: u32,
    pub components: Vec<SubComponent>,
    #[serde(default)]
    pub ignored: Vec<Ignored>,
}

impl GoalState {
    /// Checks a state that came from outside (a client, a file): at least one sub-component,
    /// unique ids, every status one of its category's, every requirement and preference under
    /// an objective that exists. The error names the place, e.g. `components[2].status`.
    pub fn check(&self) -> Result<(), String> {
        if self.components.is_empty() {
            return Err(
                "components: the state has no sub-components; nothing could be judged".into(),
            );
        }
        // Category by id, so the parent check below is one lookup per part (finding 16).
        let mut ids = std::collections::HashMap::new();
        for (i, c) in self.components.iter().enumerate() {
            if ids.insert(c.id.as_str(), c.category).is_some() {
                return Err(format!("components[{i}].id: {:?} is used twice", c.id));
            }
            if !c.category.statuses().contains(&c.status) {
                let names: Vec<&str> = c.category.statuses().iter().map(|s| s.as_str()).collect();
                return Err(format!(
                    "components[{i}].status: {} is not a status of {}; use one of {}",
                    c.status.as_str(),
                    c.category.as_str(),
                    names.join(", ")
                ));
            }
        }
        for (i, c) in self.components.iter().enumerate() {
            if matches!(c.category, Category::Requirement | Category::Preference) {
                let parent = c.objective.as_deref().and_then(|o| ids.get(o));
                if parent.is_none_or(|p| *p != Category::TaskObjective) {
                    return Err(format!(
                        "components[{i}].objective: {} needs the id of a task objective of this state",
                        c.id
                    ));
                }
            }
        }
        Ok(())
    }

    /// S0: every sub-component at its category's initial status.
    pub fn initial(d: &Decomposition) -> GoalState {
        let mut components = Vec::new();
        let mut push = |id: String, category: Category, text: &str, objective: Option<String>| {
            components.push(SubComponent {
                id,
                category,
                text: text.trim().to_string(),
                objective,
                status: category.initial(),
                reason: String::new(),
                changes: Vec::new(),
            })
        };
        for (i, t) in d.user_profile.iter().enumerate() {
            push(format!("prof-{}", i + 1), Category::UserProfile, t, None);
        }
        for (i, t) in d.user_policy.iter().enumerate() {
            push(format!("pol-{}", i + 1), Category::UserPolicy, t, None);
        }
        for (i, o) in d.task_objectives.iter().enumerate() {
            let oid = format!("obj-{}", i + 1);
            push(oid.clone(), Category::TaskObjective, &o.text, None);
            for (j, r) in o.requirements.iter().enumerate() {
                push(
                    format!("req-{}.{}", i + 1, j + 1),
                    Category::Requirement,
                    r,
                    Some(oid.clone()),
                );
            }
            for (j, p) in o.preferences.iter().enumerate() {
                push(
                    format!("pref-{}.{}", i + 1, j + 1),
                    Category::Preference,
                    p,
                    Some(oid.clone()),
                );
            }
        }
        GoalState {
            turn: 0,
            components,
            ignored: Vec::new(),
        }
    }

    /// Rebuilds the decomposition this state was made from (statuses dropped).
    pub fn decomposition(&self) -> Decomposition {
        let mut d = Decomposition::default();
        for c in &self.components {
            match c.category {
                Category::UserProfile => d.user_profile.push(c.text.clone()),
                Category::UserPolicy => d.user_policy.push(c.text.clone()),
                Category::TaskObjective => d.task_objectives.push(ObjectiveSpec {
                    text: c.text.clone(),
                    requirements: vec![],
                    preferences: vec![],
                }),
                Category::Requirement | Category::Preference => {}
            }
        }
        for c in &self.components {
            let Some(parent) = &c.objective else { continue };
            let idx = self
                .components
                .iter()
                .filter(|x| x.category == Category::TaskObjective)
                .position(|x| &x.id == parent);
            if let Some(i) = idx {
                match c.category {
                    Category::Requirement => d.task_objectives[i].requirements.push(c.text.clone()),
                    Category::Preference => d.task_objectives[i].preferences.push(c.text.clone()),
                    _ => {}
                }
            }
        }
        d
    }

    pub fn get(&self, id: &str) -> Option<&SubComponent> {
        self.components.iter().find(|c| c.id == id)
    }

    /// Sub-components whose status can still change (the only ones a tracker asks about).
    pub fn open_components(&self) -> impl Iterator<Item = &SubComponent> {
        self.components.iter().filter(|c| !c.is_settled())
    }

    /// Applies one judge answer for `turn`. Backward moves, statuses foreign to the category and
    /// unknown ids are refused and recorded in [`GoalState::ignored`].
    pub fn apply(&mut self, turn: u32, update: &Update) -> Applied {
        let Some(c) = self.components.iter_mut().find(|c| c.id == update.id) else {
            self.record_ignored(turn, update, None, IgnoreCause::UnknownId);
            return Applied::Ignored(IgnoreCause::UnknownId);
        };
        let current = c
            .category
            .rank(c.status)
            .expect("status always valid for category");
        let cause = match c.category.rank(update.status) {
            None => IgnoreCause::WrongStatus,
            Some(r) if r < current => IgnoreCause::Backwards,
            Some(r) if r == current => return Applied::Unchanged,
            Some(_) => {
                c.changes.push(Change {
                    turn,
                    from: c.status,
                    to: update.status,
                    reason: update.reason.clone(),
                });
                c.status = update.status;
                c.reason = update.reason.clone();
                return Applied::Changed;
            }
        };
        let current = Some(c.status);
        self.record_ignored(turn, update, current, cause);
        Applied::Ignored(cause)
    }

    fn record_ignored(
        &mut self,
        turn: u32,
        update: &Update,
        current: Option<Status>,
        cause: IgnoreCause,
    ) {
        self.ignored.push(Ignored {
            turn,
            id: update.id.clone(),
            proposed: update.status,
            current,
            cause,
            reason: update.reason.clone(),
        });
    }

    /// Records an answer the tracker refused before it reached the state machine (its evidence
    /// was not found), so it can be inspected like the state machine's own refusals.
    pub fn refuse(&mut self, turn: u32, update: &Update, cause: IgnoreCause) {
        let current = self.get(&update.id).map(|c| c.status);
        self.record_ignored(turn, update, current, cause);
    }

    /// Applies a whole turn's answers and marks the state as tracked through `turn`.
    pub fn apply_turn(&mut self, turn: u32, updates: &[Update]) -> Vec<Applied> {
        let out = updates.iter().map(|u| self.apply(turn, u)).collect();
        self.turn = self.turn.max(turn);
        out
    }

    /// Success counts of this state, per category.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        t.add_state(self);
        t
    }

    /// True when every task objective is in a success status.
    pub fn objectives_done(&self) -> bool {
        self.components
            .iter()
            .filter(|c| c.category == Category::TaskObjective)
            .all(|c| c.is_success())
    }
}

/// Success and total counts of one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Count {
    pub success: u64,
    pub total: u64,
}

impl Count {
    /// success / total, or `None` when the category has no sub-component.
    pub fn rate(&self) -> Option<f64> {
        (self.total > 0).then(|| self.success as f64 / self.total as f64)
    }
}

/// Pooled success counts per category over any number of final states.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    pub counts: BTreeMap<Category, Count>,
    pub states: u64,
}

impl Tally {
    pub fn add_state(&mut self, s: &GoalState) {
        for cat in Category::ALL {
            self.counts.entry(cat).or_default();
        }
        for c in &s.components {
            let e = self.counts.entry(c.category).or_default();
            e.total += 1;
            if c.is_success() {
                e.success += 1;
            }
        }
        self.states += 1;
    }

    pub fn count(&self, cat: Category) -> Count {
        self.counts.get(&cat).copied().unwrap_or_default()
    }

    /// Mean of the category rates, over the categories that have at least one sub-component.
    pub fn average(&self) -> Option<f64> {
        let rates: Vec<f64> = Category::ALL
            .iter()
            .filter_map(|c| self.count(*c).rate())
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Decomposition {
        Decomposition {
            user_profile: vec!["You live in Boston.".into()],
            user_policy: vec!["You never share your email.".into()],
            task_objectives: vec![ObjectiveSpec {
                text: "Book a hotel".into(),
                requirements: vec!["for 2 nights".into()],
                preferences: vec!["cheap if possible".into()],
            }],
        }
    }

    #[test]
    fn initial_statuses_follow_categories() {
        let s = GoalState::initial(&sample());
        let st: Vec<_> = s
            .components
            .iter()
            .map(|c| (c.id.as_str(), c.status))
            .collect();
        assert_eq!(
            st,
            vec![
                ("prof-1", Status::Aligned),
                ("pol-1", Status::Aligned),
                ("obj-1", Status::Incomplete),
                ("req-1.1", Status::Incomplete),
                ("pref-1.1", Status::Misaligned),
            ]
        );
        assert_eq!(
            s.get("req-1.1").unwrap().objective.as_deref(),
            Some("obj-1")
        );
        assert_eq!(s.decomposition(), sample());
    }

    #[test]
    fn backward_and_foreign_answers_are_recorded_not_applied() {
        let mut s = GoalState::initial(&sample());
        let up = |id: &str, st| Update {
            id: id.into(),
            status: st,
            reason: "r".into(),
        };
        assert_eq!(s.apply(1, &up("obj-1", Status::Complete)), Applied::Changed);
        assert_eq!(
            s.apply(2, &up("obj-1", Status::Attempted)),
            Applied::Ignored(IgnoreCause::Backwards)
        );
        assert_eq!(
            s.apply(2, &up("prof-1", Status::Complete)),
            Applied::Ignored(IgnoreCause::WrongStatus)
        );
        assert_eq!(
            s.apply(2, &up("nope", Status::Aligned)),
            Applied::Ignored(IgnoreCause::UnknownId)
        );
        assert_eq!(
            s.apply(2, &up("prof-1", Status::Aligned)),
            Applied::Unchanged
        );
        assert_eq!(
            s.apply(3, &up("pol-1", Status::Misaligned)),
            Applied::Changed
        );
        assert_eq!(
            s.apply(4, &up("pol-1", Status::Aligned)),
            Applied::Ignored(IgnoreCause::Backwards)
        );
        assert_eq!(s.ignored.len(), 4);
        assert_eq!(s.get("obj-1").unwrap().changes[0].turn, 1);
        assert!(s.get("pol-1").unwrap().is_settled());
    }

    #[test]
    fn validation_rejects_empty_and_objectiveless() {
        let mut d = sample();
        d.task_objectives[0].requirements.push("  ".into());
        assert_eq!(
            d.validate(),
            Err(DecompositionError::EmptyText(
                "task_objectives[0].requirements[1]".into()
            ))
        );
        let d = Decomposition {
            task_objectives: vec![],
            ..sample()
        };
        assert_eq!(d.validate(), Err(DecompositionError::NoObjective));
        assert!(sample().validate().is_ok());
    }

    #[test]
    fn tally_and_average() {
        let mut s = GoalState::initial(&sample());
        s.apply(
            1,
            &Update {
                id: "obj-1".into(),
                status: Status::Attempted,
                reason: String::new(),
            },
        );
        let t = s.tally();
        assert_eq!(
            t.count(Category::TaskObjective),
            Count {
                success: 1,
                total: 1
            }
        );
        assert_eq!(
            t.count(Category::Preference),
            Count {
                success: 0,
                total: 1
            }
        );
        // profile 1, policy 1, objective 1, requirement 0, preference 0
        assert!((t.average().unwrap() - 0.6).abs() < 1e-12);
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Aligned),
            Just(Status::Misaligned),
            Just(Status::Incomplete),
            Just(Status::Attempted),
            Just(Status::Complete),
        ]
    }

    fn arb_decomposition() -> impl Strategy<Value = Decomposition> {
        (
            prop::collection::vec("[a-z]{1,8}", 0..3),
            prop::collection::vec("[a-z]{1,8}", 0..3),
            prop::collection::vec(
                (
                    "[a-z]{1,8}",
                    prop::collection::vec("[a-z]{1,8}", 0..3),
                    prop::collection::vec("[a-z]{1,8}", 0..3),
                ),
                1..4,
            ),
        )
            .prop_map(|(p, q, o)| Decomposition {
                user_profile: p,
                user_policy: q,
                task_objectives: o
                    .into_iter()
                    .map(|(text, requirements, preferences)| ObjectiveSpec {
                        text,
                        requirements,
                        preferences,
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn statuses_never_move_backwards(
            d in arb_decomposition(),
            answers in prop::collection::vec((0usize..20, arb_status()), 0..60),
        ) {
            let mut s = GoalState::initial(&d);
            let n = s.components.len();
            for (turn, (pick, status)) in answers.into_iter().enumerate() {
                let before: Vec<usize> = s.components.iter()
                    .map(|c| c.category.rank(c.status).unwrap()).collect();
                let id = if pick < n { s.components[pick].id.clone() } else { format!("x-{pick}") };
                s.apply(turn as u32 + 1, &Update { id, status, reason: String::new() });
                for (c, b) in s.components.iter().zip(before) {
                    let now = c.category.rank(c.status);
                    prop_assert!(now.is_some(), "status foreign to category");
                    prop_assert!(now.unwrap() >= b, "{} moved backwards", c.id);
                }
            }
        }

        #[test]
        fn rates_are_bounded_and_match_counts(
            ds in prop::collection::vec(arb_decomposition(), 1..6),
            answers in prop::collection::vec((0usize..12, arb_status()), 0..40),
        ) {
            let mut tally = Tally::default();
            let mut total_components = 0u64;
            for d in &ds {
                let mut s = GoalState::initial(d);
                total_components += s.components.len() as u64;
                for (i, (pick, status)) in answers.iter().enumerate() {
                    if let Some(c) = s.components.get(*pick) {
                        let id = c.id.clone();
                        s.apply(i as u32, &Update { id, status: *status, reason: String::new() });
                    }
                }
                tally.add_state(&s);
            }
            prop_assert_eq!(tally.states, ds.len() as u64);
            let summed: u64 = tally.counts.values().map(|c| c.total).sum();
            prop_assert_eq!(summed, total_components);
            for cat in Category::ALL {
                let c = tally.count(cat);
                prop_assert!(c.success <= c.total);
                if let Some(r) = c.rate() {
                    prop_assert!((0.0..=1.0).contains(&r));
                    prop_assert!((r * c.total as f64 - c.success as f64).abs() < 1e-9);
                }
            }
            if let Some(a) = tally.average() {
                prop_assert!((0.0..=1.0).contains(&a));
            }
        }
    }
}
