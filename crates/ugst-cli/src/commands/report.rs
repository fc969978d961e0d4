//! `ugst report`: one self-contained HTML report over one or more runs.

use crate::args::SummaryArgs;
use crate::fs::{may_write, write_file};
use crate::{backends, progress};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use ugst::evaluate::summary::{summarise, Options};

pub async fn run(
    runs: Vec<PathBuf>,
    out: &Path,
    common: SummaryArgs,
    max_conversations: usize,
    force: bool,
) -> Result<()> {
    may_write(&[out], force)?;
    let models = match &common.config {
        Some(c) => Some(backends::connect_file(c).await?),
        None => None,
    };
    let labels = super::eval::labels(&runs, common.labels)?;
    let bar = progress::terminal(false);
    let mut summaries = Vec::new();
    for (run, label) in runs.iter().zip(&labels) {
        let o = Options {
            models: models.as_ref(),
            idf: common.idf,
            seed: common.seed,
            progress: bar.as_ref(),
        };
        summaries.push(summarise(run, label, o).await?);
    }
    let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let html = ugst::report::render(&summaries, max_conversations, &generated.to_string())
        .context("cannot render the report")?;
    write_file(out, &html)?;
    eprintln!(
        "report on {} run(s) written to {} ({} KB)",
        summaries.len(),
        out.display(),
        html.len() / 1024
    );
    Ok(())
}
