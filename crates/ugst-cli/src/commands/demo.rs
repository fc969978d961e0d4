//! `ugst demo`: the main job in miniature on the built-in goals and the embedded model — one
//! conversation told turn by turn (what the judge changed and why), the alignment table, and an
//! HTML report.

use anyhow::Result;
use std::path::PathBuf;
use std::sync::Arc;
use ugst::config::Config;
use ugst::model::{RunMeta, Settings, SimMode, TrackingMode};
use ugst::simulate::env;
use ugst::store::RunStore;

/// The built-in goals the demo runs first: short tasks whose objectives the booking desk (the
/// demo's agent, `env::Desk`) can settle within a few turns (a booking to confirm, facts to ask
/// for).
const DEMO_ORDER: &[&str] = &["restaurant-3", "train-2", "attraction-2", "restaurant-1"];

fn demo_set(n: usize) -> Vec<ugst::model::Goal> {
    let mut all = ugst::goals::demo_goals();
    let mut set = Vec::new();
    for id in DEMO_ORDER {
        if let Some(i) = all.iter().position(|g| g.id == *id) {
            set.push(all.remove(i));
        }
    }
    set.extend(all);
    set.truncate(n.max(1));
    set
}

pub struct DemoArgs {
    pub model: String,
    pub goals: usize,
    pub max_turns: u32,
    pub mode: SimMode,
    pub tracking: TrackingMode,
    pub out: Option<PathBuf>,
    pub force: bool,
}

pub async fn run(a: DemoArgs) -> Result<()> {
    // The default folder is the demo's own and is replaced every time; a folder the user named
    // is replaced only with --force. Either way only the run's own files go, under the run's
    // lock, and a folder holding anything else is refused (`store::remove_run`).
    let (out, own) = match a.out {
        Some(p) => (p, false),
        None => (ugst::config::ugst_home().join("demo-run"), true),
    };
    if out.join(ugst::store::DB_FILE).exists() {
        if !own && !a.force {
            return Err(ugst::input_err!(
                "{} already holds a run; pass --force to replace it, or choose another --out",
                out.display()
            ));
        }
        ugst::store::remove_run(&out)?;
    }
    let cfg = Config::embedded(&a.model);
    let set = demo_set(a.goals);
    eprintln!(
        "demo: {} goal(s), up to {} turns, simulator mode {}, tracking {}, model {} on this machine (answers are cached in $UGST_HOME); the agent is a booking desk without data that takes any booking (`--env desk`)",
        set.len(),
        a.max_turns,
        a.mode,
        a.tracking,
        a.model
    );
    let settings = Settings {
        mode: a.mode,
        tracking: a.tracking,
        max_turns: a.max_turns,
        tracker: cfg.tracking,
        ..Settings::default()
    };
    let environment: Arc<dyn env::Environment> = Arc::new(env::Desk);
    let meta = RunMeta::new(settings, environment.name(), cfg.describe());
    let limits = super::run::Limits {
        concurrency: 4,
        quiet: false,
        max_failed_share: None,
        rerun_misaligned: 0,
    };
    let counts = super::run::simulate(&cfg, &meta, set, environment, &out, limits, None).await?;
    let convs = RunStore::open(&out)?.conversations()?;
    if let Some(c) = convs.iter().find(|c| c.finished()) {
        eprintln!();
        print!("{}", ugst::report::text::turn_by_turn(c, 110));
        println!();
    }
    super::run::finish(&out, &counts, None).await?;
    let report = out.join("report.html");
    super::report::run(
        vec![out.clone()],
        &report,
        crate::args::SummaryArgs::default(),
        200,
        true,
    )
    .await?;
    println!(
        "\nthe run is in {}; every turn with its goal state: xdg-open {} (or open it in any browser)",
        out.display(),
        report.display()
    );
    Ok(())
}
