//! `ugst agree`: agreement of tracking labels or decompositions with a reference.

use anyhow::Result;
use std::path::Path;
use ugst::agree;

/// A run directory as labels of the gold file's kind: every tracked turn's statuses, or every
/// conversation's decomposition (its initial state), written to a temporary file.
fn labels_of_run(run: &Path, kind: &str) -> Result<tempfile::NamedTempFile> {
    let store = ugst::store::RunStore::open(run)?;
    let convs = store.conversations()?;
    let text = if kind == "tracking" {
        ugst::export::statuses(&convs)
    } else {
        convs
            .iter()
            .filter_map(|c| {
                let d = c.initial_state.as_ref()?.decomposition();
                Some(ugst::model::DecompositionLine::to_line(&c.goal.id, &d))
            })
            .collect()
    };
    if text.is_empty() {
        return Err(ugst::input_err!(
            "{}: the run holds no {kind} to compare yet; track it first (`ugst track {} --config C --out DIR`)",
            run.display(),
            run.display()
        ));
    }
    let mut f = tempfile::NamedTempFile::new()?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    Ok(f)
}

pub fn run(gold: &Path, pred: &Path, threshold: f64, json: bool, items: bool) -> Result<()> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ugst::input_err!("--threshold must be between 0 and 1"));
    }
    let kg = agree::detect(gold)?;
    let from_run = match pred.is_dir() {
        true => Some(labels_of_run(pred, kg)?),
        false => None,
    };
    let pred = from_run.as_ref().map_or(pred, |f| f.path());
    let kp = agree::detect(pred)?;
    if kg != kp {
        return Err(ugst::input_err!(
            "{} holds {kg} labels but {} holds {kp} labels; compare files of one kind",
            gold.display(),
            pred.display()
        ));
    }
    let text = if kg == "tracking" {
        let t = agree::tracking(gold, pred)?;
        match json {
            true => serde_json::to_string_pretty(&t)? + "\n",
            false if items => agree::tracking_table(&t) + &agree::disagreement_lines(&t),
            false => agree::tracking_table(&t),
        }
    } else {
        let d = agree::decomposition(gold, pred, threshold)?;
        match json {
            true => serde_json::to_string_pretty(&d)? + "\n",
            false => agree::decomposition_table(&d),
        }
    };
    print!("{text}");
    Ok(())
}
