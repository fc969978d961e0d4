//! Every number and switch the tracker's verdicts depend on, in one place (a record of the run's
//! settings, so it lives with them; the tracker reads it as `track::TrackingConfig`). `Default` is the
//! measured default tracker (v8 in `docs/tracking.md`); each field says what it does and the
//! measurement behind its value. A `[tracking]` table in `ugst.toml` overrides any field, and a
//! run records the whole configuration in its settings, so a stored run names the rules that
//! judged it. `ugst bench ablations` turns each switch off in turn on the development set.
//!
//! Most fields steer the small-model layer (delta mode: evidence, sweep, checks, closing pass);
//! the paper's per-component and the batched modes read only [`TrackingConfig::closing_pass`].

use serde::{Deserialize, Serialize};

/// The tracker's rules and thresholds. Every field is optional in TOML (missing = default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    // ── Step 2: evidence for a proposed change ──────────────────────────────────────────────
    /// A proposed change needs its quoted evidence in the judged turn, from the right speaker
    /// (the user for profile, policy and preference; either side for objectives and
    /// requirements). Off: every proposal goes on to the checks.
    pub evidence_gate: bool,
    /// A speaker label (`User:`, `Agent:`) that the judge copied into its quote is dropped when
    /// its colon is within this many characters of the quote's start.
    pub speaker_label_chars: usize,
    /// Quotes shorter than this many words must occur word for word.
    pub quote_exact_below_words: usize,
    /// A longer quote counts as found when this share of its word trigrams occurs (a dropped
    /// or changed word in a long quote is a copying slip, not a fabrication).
    pub quote_trigram_share: f64,
    /// A preference moves only on a user message sharing a content stem with it (the 1.5B
    /// proposed "You prefer gift card payment" for a message about the passenger's name).
    pub preference_word_gate: bool,
    /// A profile part naming an identifier ("You are ana_lopez_1234") is left to the
    /// withheld-identifier closing rule instead of the per-turn judge (the 1.5B flipped it on
    /// "I don't remember my reservation id" and on the turn that gave the id).
    pub identifiers_by_rule: bool,

    // ── Step 3: the sweep of parts the judge passed over ────────────────────────────────────
    /// Open parts the turn speaks of but the judge did not propose are checked as if proposed
    /// (without it ATTEMPTED recall was 0 in every earlier layout). Needs `checks`.
    pub sweep: bool,
    /// Content words a part and the exchange must share for the sweep to pick the part.
    pub sweep_shared_words: usize,
    /// Content words have at least this many letters (and are not on `text::COMMON_WORDS`).
    pub content_word_min_letters: usize,
    /// A swept part's reason quotes at most this many characters of the message.
    pub sweep_quote_chars: usize,

    // ── Step 4: narrow checks that confirm a change ─────────────────────────────────────────
    /// Proposed and swept changes are confirmed by narrow closed questions, each in both answer
    /// orders. Off: a proposal (past the evidence gate) is taken as the judge wrote it, and the
    /// sweep has nothing to ask.
    pub checks: bool,
    /// The weight a profile or policy break needs from the checks. On the dev set every break
    /// the 1.5B's ranked checks gave at 0.51–0.63 was false (7 of 7 policies).
    pub break_bar: f64,
    /// Leave out a question's reversed answer order when a ranking judge gave one answer at
    /// least [`TrackingConfig::sure`] in the first order (v8: 20% fewer judge calls on `20#0`,
    /// one of 133 dev-set states changed).
    pub skip_sure_orders: bool,
    /// See [`TrackingConfig::skip_sure_orders`].
    pub sure: f64,
    /// Stop asking a change's checks once no answers to the rest could make any move win
    /// (`out_of_reach`). Never changes a verdict (a grid test proves it); saves calls.
    pub stop_out_of_reach: bool,
    /// A "done" must then not be denied by "is it already carried out, not only offered?".
    pub done_confirmation: bool,
    /// A done stands unless the confirmation's mean probability falls below this (requiring a
    /// clear yes kept almost every real completion open on the dev set).
    pub confirmation_mean: f64,
    /// Two outcomes whose weights differ by less than this are tied (a tie keeps the status,
    /// and a tie between two moves takes the smaller one).
    pub tie: f64,

    // ── Step 5: order ───────────────────────────────────────────────────────────────────────
    /// A requirement moves with or after its objective, never before it: requirements are
    /// checked in a second round, only when their objective is no longer INCOMPLETE.
    pub requirements_after_objectives: bool,

    // ── Step 6: the closing pass ────────────────────────────────────────────────────────────
    /// Look once more, when the conversation has ended, at the parts still at their starting
    /// status. Unset: on in delta mode, off in the modes that judge every turn against the
    /// whole conversation (per-component, batched).
    pub closing_pass: Option<bool>,
    /// The closing questions ("over the whole conversation, does the user ask for it?") for
    /// objectives, preferences and requirements.
    pub closing_questions: bool,
    /// A closing question is asked only when the user's words can carry it: a requirement
    /// when more than `closing_requirement_stem_share` of its stems occur in the user's
    /// messages, a preference when one does (the 1.5B answered "asked for" at p 0.58–0.70 to
    /// every detail of a conversation whose user only said "some changes").
    pub closing_users_words: bool,
    /// See [`TrackingConfig::closing_users_words`].
    pub closing_requirement_stem_share: f64,
    /// A closing question moves its part when P(yes) over both answer orders exceeds this.
    pub closing_yes: f64,
    /// An objective the user asked for is asked, over the whole chat, what became of it: done
    /// (COMPLETE), blocked by something outside the user (ATTEMPTED), or unfinished (stays
    /// INCOMPLETE: the user stopped, gave up or ran out of turns). Off, it stays INCOMPLETE;
    /// asking alone never settles ATTEMPTED (issue 45: the first run's booking the user never
    /// made was ATTEMPTED on "the user asks for it").
    pub closing_outcome: bool,
    /// A closing "done" also needs an agent sentence reporting it carried out (not a question,
    /// no negation or condition, a content word of the objective or its requirements). Added
    /// after the held-out τ-retail measurement: the 1.5B answered "done" at p 0.46–0.65 for
    /// exchanges the agent never made (11 of 38 objectives).
    pub closing_done_report: bool,
    /// A closing "blocked" also needs an agent sentence reporting a blocker: a refusal in an
    /// exchange about the objective, a system failure or a handover. Added with the held-out
    /// τ-retail set: the 1.5B answers "blocked" for objectives the user never finished as
    /// readily as for refused ones, so without a blocker in the text it stays INCOMPLETE.
    pub closing_blocker_report: bool,
    /// A requirement the user asked for shares its objective's outcome: COMPLETE under a
    /// COMPLETE objective (the annotation guide's convention), else ATTEMPTED.
    pub requirement_shares_outcome: bool,
    /// Closing rule: a profile identifier that never appears while the agent asks for an id in
    /// `id_asks` replies or more breaks the profile (the guide's withheld user id; 16#0).
    pub withheld_identifier_rule: bool,
    /// Identifiers are words of at least this many characters mixing letters and digits.
    pub identifier_min_chars: usize,
    /// See [`TrackingConfig::withheld_identifier_rule`].
    pub id_asks: usize,
    /// Closing rule: a profile identifier the user gives changed — another identifier of the
    /// same form (letters, digits and separators in the same places) that matches it in at
    /// least `changed_identifier_same` of its positions — breaks the profile. Such parts are left
    /// to the closing rules (`identifiers_by_rule`), so without it a wrong id is never seen.
    pub changed_identifier_rule: bool,
    /// See [`TrackingConfig::changed_identifier_rule`]: half the positions tells a changed copy
    /// of one's own id from another id of the same form (random ids share about a tenth).
    pub changed_identifier_same: f64,
    /// Closing rule: a policy capping an amount breaks when an agent reply reports, as done, a
    /// charge above it (22#0).
    pub charge_over_cap_rule: bool,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            evidence_gate: true,
            speaker_label_chars: 6,
            quote_exact_below_words: 4,
            quote_trigram_share: 0.8,
            preference_word_gate: true,
            identifiers_by_rule: true,
            sweep: true,
            sweep_shared_words: 2,
            content_word_min_letters: 4,
            sweep_quote_chars: 160,
            checks: true,
            break_bar: 0.7,
            skip_sure_orders: true,
            sure: 0.9,
            stop_out_of_reach: true,
            done_confirmation: true,
            confirmation_mean: 0.5,
            tie: 1e-9,
            requirements_after_objectives: true,
            closing_pass: None,
            closing_questions: true,
            closing_users_words: true,
            closing_requirement_stem_share: 0.5,
            closing_yes: 0.5,
            closing_outcome: true,
            closing_done_report: true,
            closing_blocker_report: true,
            requirement_shares_outcome: true,
            withheld_identifier_rule: true,
            identifier_min_chars: 5,
            id_asks: 2,
            changed_identifier_rule: true,
            changed_identifier_same: 0.5,
            charge_over_cap_rule: true,
        }
    }
}

/// The switches `ugst bench ablations` turns off one at a time: each with `base` and only that
/// switch off.
pub fn ablations(base: TrackingConfig) -> Vec<(&'static str, TrackingConfig)> {
    let off = |f: fn(&mut TrackingConfig)| {
        let mut c = base;
        f(&mut c);
        c
    };
    vec![
        ("evidence_gate", off(|c| c.evidence_gate = false)),
        (
            "preference_word_gate",
            off(|c| c.preference_word_gate = false),
        ),
        (
            "identifiers_by_rule",
            off(|c| c.identifiers_by_rule = false),
        ),
        ("sweep", off(|c| c.sweep = false)),
        ("checks", off(|c| c.checks = false)),
        ("break_bar", off(|c| c.break_bar = 0.0)),
        ("skip_sure_orders", off(|c| c.skip_sure_orders = false)),
        ("done_confirmation", off(|c| c.done_confirmation = false)),
        (
            "requirements_after_objectives",
            off(|c| c.requirements_after_objectives = false),
        ),
        ("closing_pass", off(|c| c.closing_pass = Some(false))),
        ("closing_questions", off(|c| c.closing_questions = false)),
        (
            "closing_users_words",
            off(|c| c.closing_users_words = false),
        ),
        ("closing_outcome", off(|c| c.closing_outcome = false)),
        (
            "closing_done_report",
            off(|c| c.closing_done_report = false),
        ),
        (
            "closing_blocker_report",
            off(|c| c.closing_blocker_report = false),
        ),
        (
            "requirement_shares_outcome",
            off(|c| c.requirement_shares_outcome = false),
        ),
        (
            "withheld_identifier_rule",
            off(|c| c.withheld_identifier_rule = false),
        ),
        (
            "changed_identifier_rule",
            off(|c| c.changed_identifier_rule = false),
        ),
        (
            "charge_over_cap_rule",
            off(|c| c.charge_over_cap_rule = false),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracking_table_overrides_only_the_fields_it_names_and_rejects_unknown_ones() {
        let c: TrackingConfig = toml::from_str("sweep = false\nbreak_bar = 0.8").unwrap();
        assert!(!c.sweep && c.break_bar == 0.8 && c.checks);
        assert_eq!(
            TrackingConfig {
                sweep: true,
                break_bar: 0.7,
                ..c
            },
            TrackingConfig::default()
        );
        let e = toml::from_str::<TrackingConfig>("swep = false").unwrap_err();
        assert!(e.to_string().contains("swep"), "{e}");
    }

    #[test]
    fn every_ablation_differs_from_the_default_in_one_switch() {
        let d = serde_json::to_value(TrackingConfig::default()).unwrap();
        for (name, c) in ablations(TrackingConfig::default()) {
            let v = serde_json::to_value(c).unwrap();
            let changed: Vec<&String> = v
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, x)| d[k.as_str()] != **x)
                .map(|(k, _)| k)
                .collect();
            assert_eq!(changed, vec![name], "{name}");
        }
    }
}
