//! The arithmetic of the checks, with no model call: answer probabilities from ranked scores,
//! the verdict of a change's checks, whether it is clear enough to move the part, and whether
//! the checks not yet asked could still change anything.

use super::questions::Check;
use crate::model::TrackingConfig;
use ugst_state::{Category, Status};

/// `exp(x) / Σ exp` of log-probabilities, computed stably.
pub(crate) fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

pub(crate) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// The verdict of the checks asked about one change, each with the probability of each of its
/// answers. The answer orders of one question are averaged first, then the questions, each
/// question weighing the same: a judge that leans to the first answer is cancelled by the
/// reversed order, one that leans to "yes" by the opposite question. The outcome (no change,
/// or a status) with the highest probability wins; a tie (within `cfg.tie`) keeps the status,
/// and a tie between two moves takes the smaller one. The verdict comes with its weight: the
/// winning outcome's mean probability over the questions.
pub(crate) fn decide(asked: &[(&Check, Vec<f64>)], cfg: &TrackingConfig) -> Option<(Status, f64)> {
    decide_among(asked, cfg, |_| true)
}

/// [`decide`] with only the moves `allowed` admits: a move the text rules out leaves the
/// verdict to the others and to staying, as the judge weighed them.
pub(crate) fn decide_among(
    asked: &[(&Check, Vec<f64>)],
    cfg: &TrackingConfig,
    allowed: impl Fn(Status) -> bool,
) -> Option<(Status, f64)> {
    let mut questions: Vec<&str> = Vec::new();
    for (check, _) in asked {
        if !questions.contains(&check.question) {
            questions.push(check.question);
        }
    }
    let mut outcomes: Vec<Option<Status>> = vec![None];
    for (check, _) in asked {
        for (_, s) in &check.answers {
            if !outcomes.contains(s) {
                outcomes.push(*s);
            }
        }
    }
    let weight = |outcome: Option<Status>| -> f64 {
        let per_question: Vec<f64> = questions
            .iter()
            .map(|q| {
                let orders: Vec<f64> = asked
                    .iter()
                    .filter(|(c, _)| c.question == *q)
                    .map(|(c, p)| c.probability_of(p, outcome))
                    .collect();
                mean(&orders)
            })
            .collect();
        mean(&per_question)
    };
    let stay = weight(None);
    let mut best: Option<(Status, f64)> = None;
    for s in outcomes.into_iter().flatten().filter(|s| allowed(*s)) {
        let w = weight(Some(s));
        // Outcomes come in the answers' order, the smaller move first.
        if w > stay && best.is_none_or(|(_, b)| w > b + cfg.tie) {
            best = Some((s, w));
        }
    }
    best
}

/// Whether a verdict of the checks is clear enough to move the part: a profile or policy break
/// needs `cfg.break_bar`; any other move only has to beat staying (see [`decide`]). With written
/// answers (weights in quarters) a break at the default bar needs three of the four answers.
pub(crate) fn clear_enough(
    category: Category,
    verdict: Status,
    p: f64,
    cfg: &TrackingConfig,
) -> bool {
    let breaks = matches!(category, Category::UserProfile | Category::UserPolicy)
        && verdict == Status::Misaligned;
    !breaks || p >= cfg.break_bar
}

/// Whether no answers to the checks not yet asked (`rest`) could make any move the clear
/// verdict of [`decide`] and [`clear_enough`]. For each status a check can give, every remaining
/// check is filled with that answer for certain: that raises the status as far as it can go and
/// lowers every rival, so if even then it does not win clearly, no real answers make it win. A
/// status some remaining check cannot give is never ruled out this way. Asking only until this
/// holds leaves every verdict as asking all would (a grid test proves it).
pub(crate) fn out_of_reach(
    category: Category,
    asked: &[(&Check, Vec<f64>)],
    rest: &[&Check],
    cfg: &TrackingConfig,
) -> bool {
    let moves = asked
        .iter()
        .map(|(c, _)| *c)
        .chain(rest.iter().copied())
        .flat_map(|c| c.answers.iter().filter_map(|(_, s)| *s));
    let reachable = |s: Status| {
        let mut best = asked.to_vec();
        for check in rest {
            let Some(at) = check.answers.iter().position(|(_, a)| *a == Some(s)) else {
                return true;
            };
            let certain = (0..check.answers.len())
                .map(|i| if i == at { 1.0 } else { 0.0 })
                .collect();
            best.push((check, certain));
        }
        decide(&best, cfg).is_some_and(|(v, p)| v == s && clear_enough(category, v, p, cfg))
    };
    !moves.into_iter().any(reachable)
}
