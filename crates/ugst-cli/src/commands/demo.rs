//! `ugst demo`: the main job in miniature on the built-in goals and the embedded model.

use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use ugst::config::Config;
use ugst::model::{RunMeta, Settings, SimMode, TrackingMode};
use ugst::simulate::env;

pub async fn run(
    model: &str,
    goals: usize,
    max_turns: u32,
    mode: SimMode,
    tracking: TrackingMode,
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    // The default folder is the demo's own and is replaced every time; a folder the user named
    // is replaced only with --force, and only when it holds a run (nothing else is deleted).
    let (out, own) = match out {
        Some(p) => (p, false),
        None => (ugst::config::ugst_home().join("demo-run"), true),
    };
    if out.join(ugst::store::DB_FILE).exists() {
        if !own && !force {
            return Err(ugst::input_err!(
                "{} already holds a run; pass --force to replace it, or choose another --out",
                out.display()
            ));
        }
        std::fs::remove_dir_all(&out)
            .with_context(|| format!("cannot replace {}", out.display()))?;
    }
    let cfg = Config::embedded(model);
    let mut set = ugst::goals::demo_goals();
    set.truncate(goals.max(1));
    eprintln!(
        "demo: {} goal(s), up to {max_turns} turns, simulator mode {mode}, tracking {tracking}, model {model} (answers are cached in $UGST_HOME)",
        set.len(),
    );
    let settings = Settings {
        mode,
        tracking,
        max_turns,
        ..Settings::default()
    };
    let environment: Arc<dyn env::Environment> = Arc::new(env::ChatOnly);
    let meta = RunMeta::new(settings, environment.name(), cfg.describe());
    let limits = super::run::Limits {
        concurrency: 4,
        quiet: false,
        max_failed_share: None,
        rerun_misaligned: 0,
    };
    super::run::start(&cfg, &meta, set, environment, &out, limits).await
}
