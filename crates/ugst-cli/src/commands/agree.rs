//! `ugst agree`: agreement of tracking labels or decompositions with a reference.

use anyhow::Result;
use std::path::Path;
use ugst::agree;

pub fn run(gold: &Path, pred: &Path, threshold: f64, json: bool) -> Result<()> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ugst::input_err!("--threshold must be between 0 and 1"));
    }
    let (kg, kp) = (agree::detect(gold)?, agree::detect(pred)?);
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
