//! The question banks: the per-turn checks that confirm a proposed change and the closing
//! questions, read from `prompts/track_questions.toml` (their wording lives beside every other
//! prompt). Why each question is asked the way it is: `docs/tracking.md`, step 4.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::LazyLock;
use ugst_state::{Category, Status};

/// One narrow question that confirms a proposed change: its text and its answers, each with the
/// status it gives (`None`: no change), in the order they are offered.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub question: &'static str,
    pub answers: Vec<(&'static str, Option<Status>)>,
    /// Asked only when the checks before it gave this status (a confirmation of one verdict).
    pub only_after: Option<Status>,
}

impl Check {
    fn reversed(mut self) -> Check {
        self.answers.reverse();
        self
    }

    /// The answers' texts in the order offered.
    pub fn answer_texts(&self) -> Vec<&'static str> {
        self.answers.iter().map(|(a, _)| *a).collect()
    }

    /// The probability that the answer gives `status`, from the probability of each answer.
    pub fn probability_of(&self, probs: &[f64], status: Option<Status>) -> f64 {
        self.answers
            .iter()
            .zip(probs)
            .filter(|((_, s), _)| *s == status)
            .map(|(_, p)| p)
            .sum()
    }

    /// The status the chosen answer gives; `None` for an answer that keeps it, or an unknown one.
    #[cfg(test)]
    pub fn verdict(&self, answer: &str) -> Option<Status> {
        self.answers
            .iter()
            .find(|(a, _)| *a == answer)
            .and_then(|(_, s)| *s)
    }
}

/// The closing question of a category: its text, the answer that moves the part, the answer
/// that keeps it, and the status it moves to (`None`: a gate, whose "yes" leads to
/// [`closing_outcome`] instead of settling anything).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClosingQuestion {
    pub question: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub gives: Option<Status>,
}

#[derive(Deserialize)]
struct Bank {
    check: Vec<CheckEntry>,
    closing: BTreeMap<Category, ClosingEntry>,
    closing_outcome: CheckEntry,
}

#[derive(Deserialize)]
struct CheckEntry {
    #[serde(default)]
    categories: Vec<Category>,
    question: String,
    answers: Vec<AnswerEntry>,
    #[serde(default)]
    only_after: Option<Status>,
}

#[derive(Deserialize)]
struct AnswerEntry {
    text: String,
    #[serde(default)]
    gives: Option<Status>,
}

#[derive(Deserialize)]
struct ClosingEntry {
    question: String,
    yes: String,
    no: String,
    #[serde(default)]
    gives: Option<Status>,
}

static BANK: LazyLock<Bank> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../prompts/track_questions.toml"))
        .expect("prompts/track_questions.toml is valid (a unit test parses it)")
});

/// The checks asked about a proposed change of this category, in the order asked: every
/// question of the bank in its written order, each followed by its reversed answer order (a
/// small judge leans to the first answer).
pub(crate) fn checks(category: Category) -> Vec<Check> {
    BANK.check
        .iter()
        .filter(|e| e.categories.contains(&category))
        .flat_map(CheckEntry::both_orders)
        .collect()
}

/// The closing outcome question of an objective the user asked for (done, blocked or
/// unfinished), in the written answer order and reversed.
pub(crate) fn closing_outcome() -> [Check; 2] {
    BANK.closing_outcome.both_orders()
}

impl CheckEntry {
    fn both_orders(&'static self) -> [Check; 2] {
        let check = Check {
            question: self.question.as_str(),
            answers: self
                .answers
                .iter()
                .map(|a| (a.text.as_str(), a.gives))
                .collect(),
            only_after: self.only_after,
        };
        [check.clone(), check.reversed()]
    }
}

/// The closing question of a category; `None` for profile and policy parts (rules instead).
pub(crate) fn closing_question(category: Category) -> Option<ClosingQuestion> {
    BANK.closing.get(&category).map(|e| ClosingQuestion {
        question: e.question.as_str(),
        yes: e.yes.as_str(),
        no: e.no.as_str(),
        gives: e.gives,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bank_asks_every_category_in_both_orders_and_closes_all_but_profile_and_policy() {
        for c in Category::ALL {
            let asked = checks(c);
            assert!(!asked.is_empty() && asked.len().is_multiple_of(2), "{c:?}");
            for pair in asked.chunks(2) {
                let mut back = pair[1].answers.clone();
                back.reverse();
                assert_eq!(pair[0].answers, back);
                // The first order offers the no-change answer first (`sure` relies on it).
                assert_eq!(pair[0].answers[0].1, None, "{c:?}");
            }
            let closes = closing_question(c).is_some();
            let ruled = matches!(c, Category::UserProfile | Category::UserPolicy);
            assert_eq!(closes, !ruled, "{c:?}");
        }
        // Asking for an objective settles nothing: the objective's closing question is a gate,
        // and only its outcome question gives ATTEMPTED (a blocker) or COMPLETE.
        assert_eq!(
            closing_question(Category::TaskObjective).unwrap().gives,
            None
        );
        let [outcome, back] = closing_outcome();
        assert_eq!(outcome.answers[0].1, None);
        let gives: Vec<_> = outcome.answers.iter().map(|(_, s)| *s).collect();
        assert_eq!(
            gives,
            [None, Some(Status::Attempted), Some(Status::Complete)]
        );
        assert_eq!(back.answers[0].1, Some(Status::Complete));
    }
}
