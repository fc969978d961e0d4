//! Runs side by side: goal alignment per category with 95% bootstrap confidence intervals
//! (conversations resampled with replacement, seeded), and paired differences between runs over
//! the same goals (per goal, the mean conversation-level Avg over repeats; goals resampled).

use crate::model::Conversation;
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
        .filter(|c| c.finished() && c.final_state.is_some())
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

/// How a comparison table is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Csv,
}

/// One row per run: each category and Avg with its 95% interval; the best value of each column
/// is marked (`*` in text, bold in Markdown, a `best` column set in CSV).
pub fn comparison_table(rows: &[RunEstimate], format: Format) -> String {
    // (header, category key; `None` for Avg)
    let cols: Vec<(&str, Option<&str>)> = Category::ALL
        .iter()
        .map(|c| (c.short(), Some(c.as_str())))
        .chain(std::iter::once(("Avg", None)))
        .collect();
    let cell = |r: &RunEstimate, key: Option<&str>| match key {
        Some(k) => r.categories[k],
        None => r.average,
    };
    let best: Vec<Option<f64>> = cols
        .iter()
        .map(|(_, key)| {
            rows.iter()
                .filter_map(|r| cell(r, *key).map(|e| e.value))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        })
        .collect();
    let is_best = |i: usize, e: &Option<Estimate>| matches!((e, best[i]), (Some(e), Some(b)) if (e.value - b).abs() < 1e-12);
    let mut out = String::new();
    match format {
        Format::Text => {
            out.push_str(&format!("{:<20}{:>6}", "run", "conv"));
            for (name, _) in &cols {
                out.push_str(&format!("{name:>24}"));
            }
            out.push('\n');
            for r in rows {
                out.push_str(&format!("{:<20}{:>6}", r.label, r.conversations));
                for (i, (_, key)) in cols.iter().enumerate() {
                    let e = cell(r, *key);
                    let mark = if is_best(i, &e) && rows.len() > 1 {
                        "*"
                    } else {
                        " "
                    };
                    out.push_str(&format!("{:>23}{mark}", pct(&e)));
                }
                out.push('\n');
            }
            out.push_str(&format!("percent, 95% bootstrap intervals over conversations ({RESAMPLES} resamples); * best per column\n"));
        }
        Format::Markdown => {
            out.push_str("| run | conv |");
            for (name, _) in &cols {
                out.push_str(&format!(" {name} |"));
            }
            out.push_str("\n|---|---:|");
            for _ in &cols {
                out.push_str("---:|");
            }
            out.push('\n');
            for r in rows {
                out.push_str(&format!("| {} | {} |", r.label, r.conversations));
                for (i, (_, key)) in cols.iter().enumerate() {
                    let e = cell(r, *key);
                    let cell = pct(&e);
                    if is_best(i, &e) && rows.len() > 1 {
                        out.push_str(&format!(" **{cell}** |"));
                    } else {
                        out.push_str(&format!(" {cell} |"));
                    }
                }
                out.push('\n');
            }
        }
        Format::Csv => {
            out.push_str("run,conversations,column,value,low,high,best\n");
            for r in rows {
                for (i, (name, key)) in cols.iter().enumerate() {
                    let e = cell(r, *key);
                    let (v, lo, hi) =
                        e.map_or((String::new(), String::new(), String::new()), |e| {
                            (
                                format!("{:.6}", e.value),
                                format!("{:.6}", e.low),
                                format!("{:.6}", e.high),
                            )
                        });
                    out.push_str(&format!(
                        "\"{}\",{},{},{v},{lo},{hi},{}\n",
                        r.label.replace('"', "\"\""),
                        r.conversations,
                        name.trim_end_matches('.'),
                        is_best(i, &e)
                    ));
                }
            }
        }
    }
    out
}
