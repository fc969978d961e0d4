//! Runs side by side: goal alignment per category with 95% bootstrap confidence intervals
//! (conversations resampled with replacement, seeded), and paired differences between runs over
//! the same goals (per goal, the mean conversation-level Avg over repeats; goals resampled).

use crate::store::{ConvStatus, Conversation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use ugst_state::{Category, Tally};

pub const RESAMPLES: usize = 1000;

/// A value with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// Bootstrap of `stat` over `items` (resampled with replacement `RESAMPLES` times).
pub fn bootstrap<T>(
    items: &[T],
    seed: u64,
    stat: impl Fn(&[&T]) -> Option<f64>,
) -> Option<Estimate> {
    let all: Vec<&T> = items.iter().collect();
    let value = stat(&all)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut samples = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let pick: Vec<&T> = (0..items.len())
            .map(|_| &items[rng.random_range(0..items.len())])
            .collect();
        if let Some(v) = stat(&pick) {
            samples.push(v);
        }
    }
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    Some(Estimate {
        value,
        low: percentile(&samples, 0.025),
        high: percentile(&samples, 0.975),
    })
}

fn finished(convs: &[Conversation]) -> Vec<&Conversation> {
    convs
        .iter()
        .filter(|c| c.status == ConvStatus::Finished && c.final_state.is_some())
        .collect()
}

fn tally(convs: &[&&Conversation]) -> Tally {
    let mut t = Tally::default();
    for c in convs {
        t.add_state(
            c.final_state
                .as_ref()
                .expect("finished conversations have a state"),
        );
    }
    t
}

/// One run's alignment with intervals: per category and the average.
#[derive(Debug, Clone, Serialize)]
pub struct RunEstimate {
    pub label: String,
    pub conversations: usize,
    pub categories: BTreeMap<String, Option<Estimate>>,
    pub average: Option<Estimate>,
}

pub fn estimate(label: &str, convs: &[Conversation], seed: u64) -> RunEstimate {
    let fin = finished(convs);
    let categories = Category::ALL
        .iter()
        .map(|cat| {
            let e = bootstrap(&fin, seed, |s| tally(s).count(*cat).rate());
            (cat.as_str().to_string(), e)
        })
        .collect();
    RunEstimate {
        label: label.to_string(),
        conversations: fin.len(),
        categories,
        average: bootstrap(&fin, seed, |s| tally(s).average()),
    }
}

/// The conversation-level Avg: mean of the category success rates within one conversation.
pub fn conversation_average(c: &Conversation) -> Option<f64> {
    let mut t = Tally::default();
    t.add_state(c.final_state.as_ref()?);
    t.average()
}

/// Mean per-goal difference `b − a` of conversation-level Avg (goals present in both, averaged
/// over repeats), with a bootstrap interval over goals.
pub fn paired_difference(
    a: &[&[Conversation]],
    b: &[&[Conversation]],
    seed: u64,
) -> Option<(usize, Estimate)> {
    let per_goal = |runs: &[&[Conversation]]| {
        let mut m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for run in runs {
            for c in finished(run) {
                if let Some(v) = conversation_average(c) {
                    m.entry(c.goal.id.clone()).or_default().push(v);
                }
            }
        }
        m.into_iter()
            .map(|(k, v)| (k, v.iter().sum::<f64>() / v.len() as f64))
            .collect::<BTreeMap<_, _>>()
    };
    let (ma, mb) = (per_goal(a), per_goal(b));
    let diffs: Vec<f64> = ma
        .iter()
        .filter_map(|(k, va)| mb.get(k).map(|vb| vb - va))
        .collect();
    let e = bootstrap(&diffs, seed, |s| {
        (!s.is_empty()).then(|| s.iter().copied().sum::<f64>() / s.len() as f64)
    })?;
    Some((diffs.len(), e))
}

pub fn pct(e: &Option<Estimate>) -> String {
    match e {
        Some(e) => format!(
            "{:.1} [{:.1}, {:.1}]",
            e.value * 100.0,
            e.low * 100.0,
            e.high * 100.0
        ),
        None => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_is_seeded() {
        let xs: Vec<f64> = (0..50).map(|i| (i % 10) as f64).collect();
        let mean = |s: &[&f64]| Some(s.iter().copied().sum::<f64>() / s.len() as f64);
        let a = bootstrap(&xs, 1, mean).unwrap();
        let b = bootstrap(&xs, 1, mean).unwrap();
        assert_eq!(a, b);
        assert!((a.value - 4.5).abs() < 1e-12);
        assert!(a.low < 4.5 && 4.5 < a.high && a.high - a.low < 3.0, "{a:?}");
        let constant = vec![2.0; 10];
        let c = bootstrap(&constant, 3, mean).unwrap();
        assert_eq!((c.low, c.value, c.high), (2.0, 2.0, 2.0));
    }
}
