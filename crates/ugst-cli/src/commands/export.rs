//! `ugst export`: a run's conversations (jsonl, statuses) or training data (sft, grpo).

use crate::fs::write_file;
use anyhow::Result;
use std::path::{Path, PathBuf};
use ugst::export::{self, training};
use ugst::store::RunStore;

pub fn run(
    run: &Path,
    format: &str,
    out: &Path,
    max_prompt_tokens: usize,
    tokenizer: Option<PathBuf>,
    require_reasoning: bool,
) -> Result<()> {
    let store = RunStore::open(run)?;
    let max_turns = store.meta()?.settings.max_turns;
    let mut convs = store.conversations()?;
    let unreasoned = match require_reasoning {
        true => training::keep_reasoned(&mut convs),
        false => 0,
    };
    let (text, counts) = match format {
        "jsonl" => (export::jsonl(&convs), None),
        "statuses" => (export::statuses(&convs), None),
        "sft" => {
            let (t, n) = training::sft(&convs, max_turns);
            (t, Some(n))
        }
        "grpo" => {
            let Some(path) = tokenizer else {
                return Err(ugst::input_err!(
                    "--format grpo needs --tokenizer FILE: the tokenizer.json of the model you will train, to count prompt tokens"
                ));
            };
            let count = training::token_counter(&path)?;
            let (t, n) = training::grpo(&convs, max_turns, max_prompt_tokens, &count);
            (t, Some(n))
        }
        other => {
            return Err(ugst::input_err!(
                "--format {other:?} is not supported; use jsonl, statuses, sft, grpo or tau2-submission"
            ))
        }
    };
    write_file(out, &text)?;
    match counts {
        Some(n) => {
            eprintln!(
                "wrote {} line(s) from {} conversation(s) to {} ({} unfinished skipped, {} turn(s) without reasoning)",
                n.lines,
                n.conversations,
                out.display(),
                n.skipped_unfinished,
                n.turns_without_reasoning
            );
            if require_reasoning {
                eprintln!("{unreasoned} conversation(s) with a turn without reasoning left out");
            }
            if format == "grpo" {
                eprintln!(
                    "{} prefix(es) over {max_prompt_tokens} prompt tokens dropped",
                    n.dropped_too_long
                );
            }
        }
        None => eprintln!("wrote {} conversation(s) to {}", convs.len(), out.display()),
    }
    Ok(())
}

/// `--format tau2-submission`: a directory with τ²'s `submission.json` and ugst's
/// `ugst_alignment.json`.
pub fn tau2_submission(
    run: &Path,
    out: &Path,
    model_name: Option<String>,
    organization: Option<String>,
    email: Option<String>,
) -> Result<()> {
    let (Some(model_name), Some(organization), Some(email)) = (model_name, organization, email)
    else {
        return Err(ugst::input_err!(
            "--format tau2-submission needs --model-name, --organization and --email (τ²'s submission schema requires them)"
        ));
    };
    let store = RunStore::open(run)?;
    let meta = store.meta()?;
    let convs = store.conversations()?;
    let ledger: Vec<_> = store.ledger()?.into_iter().map(|(_, e)| e).collect();
    let user = meta
        .models
        .get("simulator")
        .map(|m| m.to_string())
        .unwrap_or_else(|| "unknown".into());
    let who = export::tau2::Submitter {
        model_name,
        organization,
        email,
        date: today(),
    };
    let (sub, side) = export::tau2::submission(&convs, &ledger, &meta.env, &user, &who)
        .map_err(|e| ugst::input_err!("{}: {e}", run.display()))?;
    std::fs::create_dir_all(out)?;
    write_file(
        &out.join("submission.json"),
        &serde_json::to_string_pretty(&sub)?,
    )?;
    write_file(
        &out.join("ugst_alignment.json"),
        &serde_json::to_string_pretty(&side)?,
    )?;
    eprintln!(
        "wrote {} (τ² submission) and {} (alignment columns)",
        out.join("submission.json").display(),
        out.join("ugst_alignment.json").display()
    );
    Ok(())
}

/// Today's date, YYYY-MM-DD (UTC).
fn today() -> String {
    humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_string()
}
