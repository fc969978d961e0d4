//! Text utilities shared by every stage: sentences, words and the token-F1 similarity. One
//! tokenizer for diversity, realism, agreement and persona deduplication, so their numbers are
//! about the same words.

use std::collections::HashMap;

/// Splits text into sentences at `.`, `!`, `?` followed by whitespace or the end.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        cur.push(*c);
        let end =
            matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if end || *c == '\n' {
            let s = cur.trim().to_string();
            if s.chars().any(char::is_alphanumeric) {
                out.push(s);
            }
            cur.clear();
        }
    }
    let s = cur.trim().to_string();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s);
    }
    out
}

/// Lower-cased words: runs of letters, digits and apostrophes (so "don't" is one word), with
/// apostrophes trimmed from the ends.
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '’'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Token-bag F1 between two texts (0 to 1): the similarity used to match sub-components.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (ta, tb) = (words(a), words(b));
    if ta.is_empty() || tb.is_empty() {
        return 0.0;
    }
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for t in &ta {
        *counts.entry(t).or_default() += 1;
    }
    let mut common = 0;
    for t in &tb {
        if let Some(c) = counts.get_mut(t.as_str()) {
            if *c > 0 {
                *c -= 1;
                common += 1;
            }
        }
    }
    if common == 0 {
        return 0.0;
    }
    let p = common as f64 / tb.len() as f64;
    let r = common as f64 / ta.len() as f64;
    2.0 * p * r / (p + r)
}
