//! `ugst decompose`: goals → decompositions (S0) as JSONL.

use crate::fs::{may_write, write_file};
use crate::{backends, progress};
use anyhow::Result;
use std::path::Path;
use ugst::decompose::decompose_all;
use ugst::evaluate::costs;
use ugst::goals::read_goals;
use ugst::model::DecompositionLine;
use ugst::report::text::costs as costs_table;

pub async fn run(
    config: &Path,
    goals: &Path,
    out: &Path,
    concurrency: usize,
    force: bool,
) -> Result<()> {
    may_write(&[out], force)?;
    let goals = read_goals(goals)?;
    let models = backends::connect_file(config).await?;
    let bar = progress::terminal(false);
    let (results, ledger) =
        decompose_all(&models.decomposer, &goals, concurrency, bar.as_ref()).await;
    let mut lines = String::new();
    let mut failures = Vec::new();
    for (g, r) in goals.iter().zip(results) {
        match r {
            Ok(d) => lines.push_str(&DecompositionLine::to_line(&g.id, &d)),
            Err(e) => failures.push(format!("goal {}: {e}", g.id)),
        }
    }
    write_file(out, &lines)?;
    eprint!("{}", costs_table(&costs(&ledger)));
    eprintln!(
        "wrote {} decomposition(s) to {}",
        goals.len() - failures.len(),
        out.display()
    );
    if !failures.is_empty() {
        anyhow::bail!(
            "{} goal(s) could not be decomposed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    Ok(())
}
