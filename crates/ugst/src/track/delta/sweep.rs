//! The sweep: open parts the judged exchange speaks of that the judge did not propose, each
//! checked as if proposed. Small judges propose an objective when the agent says "done" and
//! almost never a refusal or a preference; without the sweep a blocked request stays INCOMPLETE.

use crate::model::Exchange;
use crate::model::TrackingConfig;
use crate::text::shared_content_words;
use ugst_state::{Category, SubComponent, Update};

/// The parts to sweep, each with the words it is checked on: a preference when the user's
/// message shares `cfg.sweep_shared_words` content words with it; an objective when the
/// exchange (either side) shares as many with its text or one of its requirements is proposed;
/// a requirement when the exchange shares as many with its text or its objective is proposed
/// or swept.
pub(crate) fn sweep<'s>(
    open: &[&'s SubComponent],
    proposed: &[Update],
    last: &Exchange,
    cfg: &TrackingConfig,
) -> Vec<(&'s SubComponent, String)> {
    let agent = last.agent.as_deref().unwrap_or("");
    let exchange = format!("{}\n{agent}", last.user);
    let speaks_of = |part: &str, said: &str| {
        shared_content_words(part, said, cfg.content_word_min_letters) >= cfg.sweep_shared_words
    };
    let is_proposed = |id: &str| proposed.iter().any(|u| u.id == id);
    // A requirement proposed without its objective speaks of the objective too (the 1.5B
    // proposed "only the one-passenger reservations" on the turn that cancelled them, and
    // not the cancellation): the objective is checked as well.
    let requirement_proposed = |o: &str| {
        open.iter()
            .any(|r| r.objective.as_deref() == Some(o) && is_proposed(&r.id))
    };
    let objectives: Vec<&str> = open
        .iter()
        .filter(|c| c.category == Category::TaskObjective)
        .filter(|c| {
            is_proposed(&c.id) || requirement_proposed(&c.id) || speaks_of(&c.text, &exchange)
        })
        .map(|c| c.id.as_str())
        .collect();
    let cut = |speaker: &str, s: &str| {
        let head: String = s.chars().take(cfg.sweep_quote_chars).collect();
        format!("{speaker}: \"{head}\"")
    };
    open.iter()
        .copied()
        .filter(|c| !is_proposed(&c.id))
        .filter_map(|c| match c.category {
            Category::Preference => {
                speaks_of(&c.text, &last.user).then(|| (c, cut("user", &last.user)))
            }
            Category::TaskObjective => objectives
                .contains(&c.id.as_str())
                .then(|| (c, cut("agent", agent))),
            Category::Requirement => (speaks_of(&c.text, &exchange)
                || c.objective
                    .as_deref()
                    .is_some_and(|o| objectives.contains(&o)))
            .then(|| (c, cut("agent", agent))),
            Category::UserProfile | Category::UserPolicy => None,
        })
        .collect()
}
