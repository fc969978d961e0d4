//! Evidence for a proposed change: the quote the judge gave must be in the judged turn, from
//! the right speaker, and a preference must be named in the user's own words.

use crate::model::Exchange;
use crate::model::TrackingConfig;
use crate::text;
use ugst_state::{Category, SubComponent};

/// Whether `quote` occurs in `source`: word for word in [`text::quote_form`], or, for quotes of
/// `cfg.quote_exact_below_words` words or more, with at least `cfg.quote_trigram_share` of its
/// word trigrams in the source.
pub(crate) fn quoted_in(quote: &str, source: &str, cfg: &TrackingConfig) -> bool {
    let q = text::quote_form(quote, cfg.speaker_label_chars);
    if q.is_empty() {
        return false;
    }
    let padded = format!(" {} ", text::quote_form(source, cfg.speaker_label_chars));
    if padded.contains(&format!(" {q} ")) {
        return true;
    }
    let words: Vec<&str> = q.split(' ').collect();
    if words.len() < cfg.quote_exact_below_words {
        return false;
    }
    let grams: Vec<String> = words
        .windows(3)
        .map(|w| format!(" {} ", w.join(" ")))
        .collect();
    let found = grams.iter().filter(|g| padded.contains(g.as_str())).count();
    found as f64 >= cfg.quote_trigram_share * grams.len() as f64
}

/// Where the evidence for a change must be found, in the turn being judged: a profile, policy
/// or preference changes only on the user's own words; an objective or requirement on either
/// side's (the check question then asks what the agent's answer did to it).
pub(crate) fn evidence_source(category: Category, turn: &Exchange) -> String {
    let agent = turn.agent.as_deref().unwrap_or("");
    match category {
        Category::UserProfile | Category::UserPolicy | Category::Preference => turn.user.clone(),
        Category::TaskObjective | Category::Requirement => format!("{}\n{agent}", turn.user),
    }
}

/// Whether a user message shares a content stem with a preference. A user who states a
/// preference names some of it ("the original payment", "a voucher").
pub(crate) fn states_in_words(c: &SubComponent, user: &str) -> bool {
    text::share_of_stems(&c.text, user) > 0.0
}

/// Whether a proposed change of `c` has its evidence in the judged turn `last` (with the
/// switches of `cfg`).
pub(crate) fn has_evidence(
    c: &SubComponent,
    quote: &str,
    last: &Exchange,
    cfg: &TrackingConfig,
) -> bool {
    let quoted = !cfg.evidence_gate || quoted_in(quote, &evidence_source(c.category, last), cfg);
    let named = !cfg.preference_word_gate
        || c.category != Category::Preference
        || states_in_words(c, &last.user);
    quoted && named
}
