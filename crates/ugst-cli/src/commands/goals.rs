//! `ugst goals`: the built-in demo goals, the MultiWOZ Challenge generator, persona generation.

use crate::args::GoalsCmd;
use crate::fs::{may_write, write_file};
use crate::{backends, progress};
use anyhow::Result;
use std::path::{Path, PathBuf};
use ugst::evaluate::costs;
use ugst::generate::{self, personas};
use ugst::report::text::costs as costs_table;

pub async fn run(cmd: GoalsCmd) -> Result<()> {
    match cmd {
        GoalsCmd::Demo { out, force } => match out {
            Some(p) => {
                may_write(&[&p], force)?;
                write_file(&p, ugst::goals::DEMO_GOALS)
            }
            None => {
                print!("{}", ugst::goals::DEMO_GOALS);
                Ok(())
            }
        },
        GoalsCmd::Personas {
            config,
            n,
            seed,
            out_dir,
            force,
        } => {
            let files = [
                out_dir.join("profiles.jsonl"),
                out_dir.join("policies.jsonl"),
            ];
            may_write(&[&files[0], &files[1]], force)?;
            personas_cmd(&config, n, seed, &out_dir).await
        }
        GoalsCmd::Generate {
            source,
            data,
            n,
            seed,
            out,
            config,
            mix,
            max_objectives,
            profiles,
            policies,
            concurrency,
            force,
        } => {
            let (refs, specs) = generate::side_files(&out);
            may_write(&[&out, &refs, &specs], force)?;
            if source != "multiwoz" {
                return Err(ugst::input_err!(
                    "unknown goal source {source:?}; `ugst goals generate multiwoz` is the one there is"
                ));
            }
            let settings = generate::Settings {
                n,
                seed,
                mix,
                max_objectives,
            };
            let files = Personas { profiles, policies };
            generate_cmd(&data, &out, settings, config, files, concurrency).await
        }
    }
}

async fn personas_cmd(config: &Path, n: usize, seed: u64, out_dir: &Path) -> Result<()> {
    let models = backends::connect_file(config).await?;
    let ledger = ugst_llm::Ledger::new();
    for (kind, default, file) in [
        ("user profile", personas::DEFAULT_PROFILES, "profiles.jsonl"),
        ("user policy", personas::DEFAULT_POLICIES, "policies.jsonl"),
    ] {
        let examples = personas::parse("built-in", default)?;
        let items =
            personas::generate(&models.judge.llm, &ledger, kind, n, seed, &examples).await?;
        let path = out_dir.join(file);
        write_file(&path, &personas::to_jsonl(&items))?;
        eprintln!("wrote {} {kind} entries to {}", items.len(), path.display());
    }
    eprint!("{}", costs_table(&costs(&ledger.drain())));
    Ok(())
}

/// `--profiles` / `--policies` files (the built-in sets when absent).
struct Personas {
    profiles: Option<PathBuf>,
    policies: Option<PathBuf>,
}

async fn generate_cmd(
    data: &Path,
    out: &Path,
    settings: generate::Settings,
    config: Option<PathBuf>,
    files: Personas,
    concurrency: usize,
) -> Result<()> {
    generate::check_settings(&settings)?;
    let db = ugst_envs::multiwoz::MultiWoz::load(data).map_err(|e| ugst::input_err!("{}", e.0))?;
    generate::check_db(&db, &data.display().to_string())?;
    let profiles = personas::load(
        files.profiles.as_deref(),
        personas::DEFAULT_PROFILES,
        "profiles",
    )?;
    let policies = personas::load(
        files.policies.as_deref(),
        personas::DEFAULT_POLICIES,
        "policies",
    )?;
    let started = std::time::Instant::now();
    let mut set = generate::generate(&db, &profiles, &policies, &settings);
    if let Some(c) = config {
        let models = backends::connect_file(&c).await?;
        let ledger = ugst_llm::Ledger::new();
        let bar = progress::terminal(false);
        let judge = &models.judge.llm;
        let kept =
            generate::verbalise_with_model(judge, &ledger, &mut set, concurrency, bar.as_ref())
                .await;
        eprint!("{}", costs_table(&costs(&ledger.drain())));
        if kept > 0 {
            eprintln!(
                "warning: {kept} goal(s) kept their template text because the model call failed"
            );
        }
        eprintln!(
            "{} goal(s) rewritten by the model have no reference decomposition (the template's sentences are no longer theirs)",
            set.len() - kept
        );
    }
    let specs: Vec<_> = set.iter().map(|g| g.spec.clone()).collect();
    let report = generate::validate(&db, &specs);
    let (ref_path, spec_path) = generate::side_files(out);
    let [goals, refs, spec_lines] = generate::set_files(&set);
    write_file(out, &goals)?;
    write_file(&ref_path, &refs)?;
    write_file(&spec_path, &spec_lines)?;
    print!("{}", generate::report_table(&report));
    eprintln!(
        "wrote {} goals to {} (+ {}, {}) in {:.2}s",
        set.len(),
        out.display(),
        ref_path.display(),
        spec_path.display(),
        started.elapsed().as_secs_f64()
    );
    if !report.problems.is_empty() {
        anyhow::bail!("{} objective(s) failed validation", report.problems.len());
    }
    Ok(())
}
