//! `ugst track`: re-track an existing run's conversations with another judge or mode.

use crate::{backends, progress};
use anyhow::Result;
use std::path::Path;
use ugst::model::TrackingMode;
use ugst::runner::retrack_run;
use ugst::store::RunStore;
use ugst::track::Tracker;

pub async fn run(
    run: &Path,
    config: Option<&Path>,
    tracking: Option<TrackingMode>,
    out: &Path,
    concurrency: usize,
    quiet: bool,
) -> Result<()> {
    let cfg = backends::config_or_default(config)?;
    let tracking = tracking.unwrap_or(cfg.default_tracking());
    let models = backends::connect(&cfg).await?;
    let src = RunStore::open(run)?;
    let mut meta = src.meta()?;
    // Only the judging changed: the simulator's and the agent's models stay as recorded.
    meta.retracked_with = Some(cfg.describe_roles(&["decomposer", "tracker", "judge"]));
    let tracker = Tracker::new(models.tracker.clone(), tracking, cfg.tracking);
    let bar = progress::terminal(quiet);
    let decomposer = Some(models.decomposer.clone());
    let s = retrack_run(
        &src,
        out,
        tracker,
        decomposer,
        meta,
        concurrency,
        bar.as_ref(),
    )
    .await?;
    eprintln!(
        "re-tracked {} conversation(s) into {} in {:.1}s: {} finished, {} failed",
        s.total,
        out.display(),
        s.wall.as_secs_f64(),
        s.finished,
        s.failed
    );
    super::eval::print_one(out, false, None, false).await
}
