//! The terminal's rendering of a run's summary: the alignment table, then one line or table per
//! metric, then the cost ledger — what `ugst eval` and the end of `ugst run` print.

use crate::evaluate::summary::RunSummary;
use crate::evaluate::{
    costs_table, diversity, failures, quality, realism, similarity, table, task_rewards_line,
    termination,
};

/// The whole text report of one run.
pub fn summary(label: &str, s: &RunSummary) -> String {
    let mut out = table(label, &s.alignment);
    if let Some(r) = &s.task_reward {
        out += &task_rewards_line(r);
    }
    out += &termination::line(&s.termination);
    out += &realism::line(&s.realism);
    out += &diversity::line(&s.diversity);
    if let Some(q) = &s.quality {
        out += &quality::line(q);
    }
    match &s.similarity {
        Some(x) => out += &similarity::line(x),
        None => out += "goal similarity: – (the encoder is not installed; run `ugst setup`)\n",
    }
    out += &failures::table(&s.failures);
    out += "\n";
    out += &costs_table(&s.costs);
    out
}
