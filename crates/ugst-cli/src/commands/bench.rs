//! `ugst bench`: benchmarks that write JSON and print a table.

use crate::args::BenchCmd;
use crate::{backends, bench, fs::write_file};
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use ugst::config::Config;

fn save<T: Serialize>(out: &Path, r: &T, table: String) -> Result<()> {
    write_file(out, &serde_json::to_string_pretty(r)?)?;
    print!("{table}");
    eprintln!("wrote {}", out.display());
    Ok(())
}

pub async fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Harness {
            n,
            concurrency,
            tracking,
            out,
        } => {
            let mut rows = Vec::new();
            for c in concurrency {
                eprintln!("bench harness: {n} conversations at concurrency {c} …");
                rows.push(bench::harness(n, c, tracking).await?);
            }
            save(&out, &rows, bench::harness_table(&rows))
        }
        BenchCmd::Tracker {
            n,
            max_turns,
            concurrency,
            config,
            out,
        } => {
            let cfg = match &config {
                Some(c) => Config::load(c)?,
                None => Config::mock(),
            };
            let models = backends::connect(&cfg).await?;
            let r =
                bench::tracker::tracker(models, cfg.describe(), n, max_turns, concurrency).await?;
            save(&out, &r, bench::tracker::table(&r))
        }
        BenchCmd::Ablations {
            config,
            tracking,
            set,
            log,
            limit,
            switches,
            variant,
            concurrency,
            work,
            out,
            quiet,
        } => {
            let plan = bench::ablations::AblationPlan {
                config: backends::config_or_default(config.as_deref())?,
                tracking,
                set,
                log,
                limit,
                switches,
                variants: variant,
                concurrency,
                work,
                quiet,
            };
            let r = bench::ablations::ablations_run(plan).await?;
            save(&out, &r, bench::ablations::table(&r))
        }
        BenchCmd::Counterfactual {
            config,
            tracking,
            sets,
            log,
            lines,
            quick,
            concurrency,
            work,
            out,
            quiet,
        } => {
            let plan = bench::counterfactual::CounterfactualPlan {
                config: backends::config_or_default(config.as_deref())?,
                tracking,
                sets,
                log,
                lines,
                suite: Default::default(),
                quick,
                concurrency,
                work,
                quiet,
            };
            let r = bench::counterfactual::counterfactual_run(plan).await?;
            save(&out, &r, bench::counterfactual::table(&r))
        }
        BenchCmd::Memory {
            n,
            concurrency,
            out,
        } => {
            eprintln!("bench memory: {n} conversations at concurrency {concurrency} …");
            let r = bench::memory(n, concurrency).await?;
            save(&out, &r, bench::memory_table(&r))
        }
        BenchCmd::Embedded {
            model,
            workload: Some(crate::args::Workload::Ugst),
            data,
            tasks,
            max_turns,
            concurrency,
            retrack,
            out,
        } => {
            let retrack = retrack
                .iter()
                .filter(|m| !m.trim().is_empty())
                .map(|m| {
                    m.trim()
                        .parse::<ugst::model::TrackingMode>()
                        .map_err(|e| ugst::input_err!("--retrack {m:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let data = data.ok_or_else(|| {
                ugst::input_err!(
                    "--workload ugst runs τ-retail tasks: pass --data with the τ-bench data folder (e.g. ../shared/data/tau_bench)"
                )
            })?;
            let r =
                bench::workload::workload(&model, &data, tasks, max_turns, concurrency, &retrack)
                    .await?;
            let out = out.unwrap_or_else(|| "bench-out/embedded-workload.json".into());
            save(&out, &r, bench::workload::table(&r))
        }
        BenchCmd::Embedded {
            model,
            workload: None,
            out,
            ..
        } => {
            let r = tokio::task::spawn_blocking(move || bench::embedded(&model)).await??;
            let out = out.unwrap_or_else(|| "bench-out/embedded.json".into());
            save(&out, &r, bench::embedded_table(&r))
        }
    }
}
