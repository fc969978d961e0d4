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
) -> Result<()> {
    let store = RunStore::open(run)?;
    let max_turns = store.meta()?.settings.max_turns;
    let convs = store.conversations()?;
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
                "--format {other:?} is not supported; use jsonl, statuses, sft or grpo"
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
