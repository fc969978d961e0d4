//! `ugst replay`: gold actions through the Rust tools, compared with reference fixtures.

use crate::progress;
use anyhow::Result;
use std::path::Path;

pub fn run(env: &str, data: &Path, split: &str, fixtures: Option<&Path>, json: bool) -> Result<()> {
    let bar = progress::terminal(false);
    let report = ugst::replay::replay(env, data, split, fixtures, bar.as_ref())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", ugst::replay::table(&report));
    }
    if report.mismatched > 0 {
        anyhow::bail!(
            "{} of {} task(s) do not match the reference",
            report.mismatched,
            report.tasks.len()
        );
    }
    Ok(())
}
