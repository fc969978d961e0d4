//! `ugst eval`: one run's full summary, or a comparison table over several runs.

use crate::args::SummaryArgs;
use crate::{backends, progress};
use anyhow::Result;
use std::path::{Path, PathBuf};
use ugst::evaluate::compare::{comparison_table, estimate, Format};
use ugst::evaluate::summary::{default_label, summarise, Options};
use ugst::roles::RoleModels;
use ugst::store::RunStore;

pub async fn run(
    runs: Vec<PathBuf>,
    json: bool,
    markdown: bool,
    csv: bool,
    common: SummaryArgs,
) -> Result<()> {
    if runs.len() == 1 && !markdown && !csv && common.labels.is_empty() {
        let models = match &common.config {
            Some(c) => Some(backends::connect_file(c).await?),
            None => None,
        };
        return print_one(&runs[0], json, models.as_ref(), common.idf).await;
    }
    // The comparison table uses neither judges nor BERTScore: say so rather than drop them.
    let unused: Vec<&str> = [("--config", common.config.is_some()), ("--idf", common.idf)]
        .iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| *flag)
        .collect();
    if !unused.is_empty() {
        eprintln!(
            "warning: {} not used: the comparison of several runs shows alignment with intervals only; \
             use `ugst eval RUN` per run or `ugst report` for judged metrics and goal similarity",
            unused.join(" and ")
        );
    }
    let labels = labels(&runs, common.labels)?;
    let mut rows = Vec::new();
    for (run, label) in runs.iter().zip(&labels) {
        let convs = RunStore::open(run)?.conversations()?;
        rows.push(estimate(label, &convs, common.seed));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        let format = match (markdown, csv) {
            (true, _) => Format::Markdown,
            (_, true) => Format::Csv,
            _ => Format::Text,
        };
        print!("{}", comparison_table(&rows, format));
    }
    Ok(())
}

/// The summary of one run, as text or JSON.
pub async fn print_one(
    run: &Path,
    json: bool,
    models: Option<&RoleModels>,
    idf: bool,
) -> Result<()> {
    let label = default_label(run);
    let bar = progress::terminal(json);
    let o = Options {
        models,
        idf,
        seed: 0,
        progress: bar.as_ref(),
    };
    let s = summarise(run, &label, o).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s.to_json())?);
    } else {
        print!("{}", ugst::report::text::summary(&label, &s));
    }
    Ok(())
}

/// One label per run: the given ones, or every run directory's name.
pub fn labels(runs: &[PathBuf], labels: Vec<String>) -> Result<Vec<String>> {
    if labels.is_empty() {
        return Ok(runs.iter().map(|r| default_label(r)).collect());
    }
    if labels.len() != runs.len() {
        return Err(ugst::input_err!(
            "{} --label value(s) for {} run(s); give one label per run or none",
            labels.len(),
            runs.len()
        ));
    }
    Ok(labels)
}
