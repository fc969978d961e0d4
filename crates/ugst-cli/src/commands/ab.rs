//! `ugst ab`: simulator modes compared on the same goals.

use crate::args::AbArgs;
use crate::{backends, fs::write_file, progress};
use anyhow::Result;
use ugst::model::{Settings, SimMode};
use ugst::simulate::env;

pub async fn run(a: AbArgs) -> Result<()> {
    let arms = ugst::ab::parse_arms(&a.modes)?;
    if a.max_turns == 0 {
        return Err(ugst::input_err!("--max-turns must be at least 1"));
    }
    let cfg = backends::config_with(a.config.as_deref(), &a.models)?;
    let s = &a.source;
    let (environment, goals) = env::goals_for(
        s.env.as_deref(),
        s.data.as_deref(),
        s.goals.as_deref(),
        &s.split,
        &s.task_ids,
        s.limit,
    )?;
    let models = backends::connect(&cfg).await?;
    let base = Settings {
        mode: SimMode::Prompt,
        tracking: a.tracking.unwrap_or(cfg.default_tracking()),
        max_turns: a.max_turns,
        tracker: cfg.tracking,
        ..Settings::default()
    };
    let data = s.data.as_deref().map(super::run::canonical);
    let bar = progress::terminal(a.quiet);
    let report = ugst::ab::run(
        &models,
        environment,
        data,
        &goals,
        &arms,
        base,
        ugst::ab::Plan {
            repeats: a.repeats,
            seed: a.seed,
            concurrency: a.concurrency,
            round: a.round.unwrap_or(a.concurrency),
            report_only: a.report_only,
        },
        &a.out,
        bar.as_ref(),
        &cfg.describe(),
    )
    .await?;
    let path = a.out.join("ab.json");
    write_file(&path, &serde_json::to_string_pretty(&report)?)?;
    print!("{}", ugst::ab::table(&report));
    eprintln!("wrote {}", path.display());
    Ok(())
}
