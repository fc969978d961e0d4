//! Lexical diversity of a run's user messages: MTLD (McCarthy & Jarvis 2010) and HD-D (the
//! hypergeometric form of vocd-D, sample size 42), over one token stream made of every user message
//! of the run in conversation and turn order.
//!
//! Tokens: the text lower-cased, split into maximal runs of letters, digits and apostrophes, with
//! apostrophes trimmed from both ends of each run (`"Don't!"` → `don't`).

use crate::model::Conversation;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// TTR at which an MTLD factor is complete.
pub const MTLD_THRESHOLD: f64 = 0.72;
/// Sample size of HD-D.
pub const HDD_SAMPLE: usize = 42;

pub use crate::text::words as tokens;

/// One MTLD pass: the number of tokens per factor, counting the unfinished remainder as a partial
/// factor `(1 − TTR) / (1 − 0.72)`. A text whose tokens are all distinct accrues no factor at all
/// and counts as one factor (MTLD = its length), the convention of the `lexicalrichness` package;
/// `None` for no tokens.
fn mtld_pass<'a>(toks: impl Iterator<Item = &'a String>) -> Option<f64> {
    let mut factors = 0.0;
    let mut types: HashSet<&str> = HashSet::new();
    let mut count = 0usize;
    let mut total = 0usize;
    for t in toks {
        total += 1;
        count += 1;
        types.insert(t.as_str());
        let ttr = types.len() as f64 / count as f64;
        if ttr <= MTLD_THRESHOLD {
            factors += 1.0;
            types.clear();
            count = 0;
        }
    }
    if count > 0 {
        let ttr = types.len() as f64 / count as f64;
        factors += (1.0 - ttr) / (1.0 - MTLD_THRESHOLD);
    }
    if total == 0 {
        return None;
    }
    Some(total as f64 / if factors > 0.0 { factors } else { 1.0 })
}

/// MTLD: the mean of a forward and a backward pass.
pub fn mtld(toks: &[String]) -> Option<f64> {
    let f = mtld_pass(toks.iter())?;
    let b = mtld_pass(toks.iter().rev())?;
    Some((f + b) / 2.0)
}

/// HD-D: for every type, the probability that a random sample of 42 tokens (drawn without
/// replacement) holds it at least once, divided by 42 and summed. `None` below 42 tokens.
pub fn hdd(toks: &[String]) -> Option<f64> {
    let n = toks.len();
    if n < HDD_SAMPLE {
        return None;
    }
    // Ordered by word, so the floating-point sum (and the printed figure) is the same every run.
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in toks {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut sum = 0.0;
    for &k in counts.values() {
        // P(no occurrence) = C(n − k, 42) / C(n, 42) = Π_{i<42} (n − k − i) / (n − i).
        let mut p0 = 1.0;
        for i in 0..HDD_SAMPLE {
            if n - i <= k || n - k < i + 1 {
                p0 = 0.0;
                break;
            }
            p0 *= (n - k - i) as f64 / (n - i) as f64;
        }
        sum += (1.0 - p0) / HDD_SAMPLE as f64;
    }
    Some(sum)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diversity {
    pub tokens: usize,
    pub mtld: Option<f64>,
    pub hdd: Option<f64>,
}

pub fn of_run(convs: &[Conversation]) -> Diversity {
    let toks: Vec<String> = convs
        .iter()
        .flat_map(|c| c.turns.iter())
        .flat_map(|t| tokens(&t.user))
        .collect();
    Diversity {
        tokens: toks.len(),
        mtld: mtld(&toks),
        hdd: hdd(&toks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        tokens(s)
    }

    #[test]
    fn tokenisation() {
        assert_eq!(
            toks("Don't stop, 'Maya'! It's 3pm."),
            ["don't", "stop", "maya", "it's", "3pm"]
        );
    }

    #[test]
    fn mtld_by_hand() {
        // a b a | b a b: TTR reaches 2/3 ≤ 0.72 on the 3rd token of each segment: 2 factors, 6/2 = 3
        // in both directions.
        assert_eq!(mtld(&toks("a b a b a b")), Some(3.0));
        // a b c a: TTR 3/4 never reaches 0.72, so one partial factor (1 − 0.75)/(1 − 0.72) = 0.25/0.28;
        // forward and backward both give 4 / (0.25/0.28) = 4.48.
        let m = mtld(&toks("a b c a")).unwrap();
        assert!((m - 4.48).abs() < 1e-9, "{m}");
        // All-distinct text: no factor accrues; it counts as one factor, so MTLD is its length.
        assert_eq!(mtld(&toks("a b c d")), Some(4.0));
        assert_eq!(mtld(&[]), None);
    }

    #[test]
    fn hdd_by_hand() {
        let distinct: Vec<String> = (0..42).map(|i| format!("w{i}")).collect();
        // 42 tokens, all different: every type is in every 42-token sample → 42 × (1/42) = 1.
        assert!((hdd(&distinct).unwrap() - 1.0).abs() < 1e-12);
        // 84 tokens, 42 types twice: P(missing a type) = (42·41)/(84·83), so HD-D = 1 − 1722/6972.
        let doubled: Vec<String> = distinct.iter().chain(distinct.iter()).cloned().collect();
        let want = 1.0 - 1722.0 / 6972.0;
        assert!((hdd(&doubled).unwrap() - want).abs() < 1e-12);
        assert_eq!(hdd(&distinct[..41]), None);
        // One type repeated: it is always in the sample → 1/42.
        let same = vec!["x".to_string(); 50];
        assert!((hdd(&same).unwrap() - 1.0 / 42.0).abs() < 1e-12);
    }
}
