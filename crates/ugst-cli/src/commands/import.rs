//! `ugst import`: another harness's log as a run.

use anyhow::Result;
use std::path::Path;
use ugst::model::{RunMeta, Settings};

pub async fn run(
    file: &Path,
    format: &str,
    env: &str,
    only: &[String],
    decompositions: Option<&Path>,
    out: &Path,
) -> Result<()> {
    let convs = import_log(file, format, env, only, decompositions, out)?;
    let tasks: std::collections::BTreeSet<&str> = convs
        .iter()
        .map(|c| c.goal.id.split('#').next().unwrap_or(""))
        .collect();
    eprintln!(
        "imported {} conversation(s) of {} task(s) into {}; track them with `ugst track {} --config C --out DIR`",
        convs.len(),
        tasks.len(),
        out.display(),
        out.display()
    );
    super::eval::print_one(out, false, None, false).await
}

/// Reads `file` in `format`, keeps the conversations of `only` (all when empty) with the
/// decompositions of `decompositions` attached, and writes them as a run at `out`.
pub fn import_log(
    file: &Path,
    format: &str,
    env: &str,
    only: &[String],
    decompositions: Option<&Path>,
    out: &Path,
) -> Result<Vec<ugst::import::Imported>> {
    let convs = match format {
        "tau-bench" => ugst::import::tau_bench(file)?,
        "chat-jsonl" => ugst::import::chat_jsonl(file)?,
        "tau2" => ugst::import::tau2::read(file)?,
        other => {
            return Err(ugst::input_err!(
            "--format {other:?} is not supported; use tau-bench (τ-bench v1 results), tau2 (τ²-bench results, a file or a directory) or chat-jsonl"
        ))
        }
    };
    // Decompositions are matched against the whole log, so a file covering more conversations
    // than --only keeps is fine, and an id the log lacks is still an error.
    let mut convs = convs;
    if let Some(d) = decompositions {
        ugst::import::attach_decompositions(&mut convs, d)?;
    }
    let convs = ugst::import::select(convs, only)?;
    // The log's own turn count is the limit the conversations ran under, as far as ugst can see.
    let max_turns = convs
        .iter()
        .map(|c| c.turns.len())
        .max()
        .unwrap_or(1)
        .max(1) as u32;
    let settings = Settings {
        max_turns,
        ..Settings::default()
    };
    let models =
        serde_json::json!({"imported": {"format": format, "file": super::run::canonical(file)}});
    let meta = RunMeta {
        goals_file: Some(file.display().to_string()),
        ..RunMeta::new(settings, env, models)
    };
    ugst::import::write(out, &meta, &convs)?;
    Ok(convs)
}
