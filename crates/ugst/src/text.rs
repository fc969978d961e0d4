//! Text utilities shared by every stage: sentences, words, content-word stems and the token-F1
//! similarity. One tokenizer for diversity, realism, agreement and persona deduplication, so
//! their numbers are about the same words.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

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

/// A text's words as a bag, made once so that comparing it with many texts does not tokenise
/// it again ([`Bag::similarity`] is [`similarity`]).
#[derive(Debug, Clone, Default)]
pub struct Bag {
    counts: HashMap<String, i64>,
    len: usize,
}

impl Bag {
    pub fn new(text: &str) -> Bag {
        let ws = words(text);
        let mut counts: HashMap<String, i64> = HashMap::new();
        for w in &ws {
            *counts.entry(w.clone()).or_default() += 1;
        }
        Bag {
            counts,
            len: ws.len(),
        }
    }

    /// Token-bag F1 with `other`, equal to [`similarity`] of the two texts.
    pub fn similarity(&self, other: &Bag) -> f64 {
        if self.len == 0 || other.len == 0 {
            return 0.0;
        }
        let (small, large) = if self.counts.len() <= other.counts.len() {
            (self, other)
        } else {
            (other, self)
        };
        let common: i64 = small
            .counts
            .iter()
            .map(|(w, c)| large.counts.get(w).map_or(0, |d| (*c).min(*d)))
            .sum();
        if common == 0 {
            return 0.0;
        }
        let p = common as f64 / other.len as f64;
        let r = common as f64 / self.len as f64;
        2.0 * p * r / (p + r)
    }
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

/// Function words and the goal texts' own framing ("you want to …"), which say nothing about
/// what a sub-component asks for.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "before", "both", "but", "by", "can", "could", "did", "do", "does", "for", "from",
    "get", "had", "has", "have", "how", "i", "i'm", "if", "in", "into", "is", "it", "it's", "its",
    "just", "let", "like", "me", "my", "need", "not", "of", "on", "only", "or", "our", "please",
    "so", "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "to", "too", "up", "us", "want", "wants", "was", "we", "were", "what", "when",
    "which", "while", "who", "will", "with", "would", "you", "you're", "your", "yours",
];

/// The content words of a text as English stems ("canceled", "canceling" and "cancel" are one
/// word; "flights" and "flight" too): lower-cased words without function words and one-letter
/// words, stemmed with the Snowball English stemmer.
pub fn content_stems(text: &str) -> BTreeSet<String> {
    static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= 2 && !STOPWORDS.contains(&w.as_str()))
        .map(|w| STEMMER.stem(&w).into_owned())
        .collect()
}

/// The share (0 to 1) of `part`'s content stems that occur in `said`; 0 when `part` has none.
pub fn share_of_stems(part: &str, said: &str) -> f64 {
    let own = content_stems(part);
    if own.is_empty() {
        return 0.0;
    }
    let said = content_stems(said);
    own.intersection(&said).count() as f64 / own.len() as f64
}

/// Frequent words of four letters or more that [`content_words`] leaves out (the tracker's
/// sweep counts the words a part and an exchange share; these say nothing about either).
pub const COMMON_WORDS: &[&str] = &[
    "with", "your", "that", "this", "from", "have", "want", "would", "like", "will", "they",
    "them", "there", "what", "when", "which", "also", "about", "just", "only",
];

/// The unstemmed content words of a text: [`words`] of at least `min_letters` letters, without
/// [`COMMON_WORDS`]. The sweep's rule, measured with this exact form; the stemmed variant
/// ([`content_stems`]) cost more calls there (`docs/tracking.md`).
pub fn content_words(text: &str, min_letters: usize) -> BTreeSet<String> {
    words(text)
        .into_iter()
        .filter(|w| w.chars().count() >= min_letters && !COMMON_WORDS.contains(&w.as_str()))
        .collect()
}

/// How many [`content_words`] `a` and `b` share.
pub fn shared_content_words(a: &str, b: &str, min_letters: usize) -> usize {
    content_words(a, min_letters)
        .intersection(&content_words(b, min_letters))
        .count()
}

/// Lower-case letters and digits of `s`, every other run of characters a single space: the form
/// a judge's quoted evidence is compared in. A leading speaker label (`User:`, `Agent:`) that
/// the judge copied from a transcript is dropped when its colon is within `label_chars` of the
/// start.
pub fn quote_form(s: &str, label_chars: usize) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                ' '
            }
        })
        .collect();
    let mut words: Vec<&str> = mapped.split_whitespace().collect();
    if matches!(words.first(), Some(&"user") | Some(&"agent"))
        && s.trim_start().find(':').is_some_and(|i| i <= label_chars)
    {
        words.remove(0);
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bag_compares_as_the_texts_do() {
        let texts = [
            "I want to book a hotel in the centre",
            "book a hotel, a cheap hotel",
            "",
            "Hello! I'd like to change my flight.",
            "hotel hotel hotel",
        ];
        for a in texts {
            for b in texts {
                let (x, y) = (similarity(a, b), Bag::new(a).similarity(&Bag::new(b)));
                assert!((x - y).abs() < 1e-12, "{a:?} {b:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn content_stems_drop_function_words_and_join_inflections() {
        let a = content_stems("You want to cancel all of your upcoming flights.");
        let b = content_stems("Both reservations have been canceled; the flight was cancelled.");
        assert_eq!(
            a.iter().map(String::as_str).collect::<Vec<_>>(),
            ["cancel", "flight", "upcom"]
        );
        assert!(b.contains("cancel") && b.contains("flight") && b.contains("reserv"));
        assert!(!b.contains("the") && !b.contains("been"));
        assert!(content_stems("To nonstop flights from DTW to JFK").contains("jfk"));
        assert_eq!(
            share_of_stems("a nonstop flight to JFK", "any nonstop flights?"),
            2.0 / 3.0
        );
        assert_eq!(share_of_stems("the", "the"), 0.0);
    }
}
