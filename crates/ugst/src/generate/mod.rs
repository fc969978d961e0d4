//! The MultiWOZ Challenge goal generator: a profile, a policy and one to three task objectives
//! (normal, impossible or conditional, by configurable ratios) over the MultiWOZ database, written
//! as goal text together with its reference decomposition — we built every sentence, so we know
//! its category — and a machine-readable spec. Template-only generation is a pure function of
//! (database, personas, settings, seed); with a model, verbalisation goes through the cache.

pub mod objectives;
pub mod personas;
pub mod verbalise;

use crate::error::InputError;
use crate::model::Goal;
use futures::StreamExt;
use objectives::{Kind, Objective};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ugst_envs::multiwoz::task::Task;
use ugst_envs::multiwoz::{MultiWoz, DOMAINS};
use ugst_llm::{CallRole, ChatRequest, Ledger, Llm, Message, Sampling};
use ugst_state::Decomposition;

/// Shares of normal, impossible and conditional objectives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mix {
    pub normal: f64,
    pub impossible: f64,
    pub conditional: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            normal: 0.6,
            impossible: 0.2,
            conditional: 0.2,
        }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;
    /// `normal=0.6,impossible=0.2,conditional=0.2` (missing kinds get 0; shares are normalised).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut m = Mix {
            normal: 0.0,
            impossible: 0.0,
            conditional: 0.0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not kind=share (e.g. normal=0.6)"))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| format!("'{v}' is not a number"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("share {v} of {k} must be between 0 and 1"));
            }
            match k.trim() {
                "normal" => m.normal = v,
                "impossible" => m.impossible = v,
                "conditional" => m.conditional = v,
                other => {
                    return Err(format!(
                        "unknown kind '{other}'; use normal, impossible, conditional"
                    ))
                }
            }
        }
        let total = m.normal + m.impossible + m.conditional;
        if total <= 0.0 {
            return Err("the shares add up to 0".into());
        }
        Ok(Mix {
            normal: m.normal / total,
            impossible: m.impossible / total,
            conditional: m.conditional / total,
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub n: usize,
    pub seed: u64,
    pub mix: Mix,
    pub max_objectives: usize,
}

/// What a goal was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalSpec {
    pub id: String,
    pub profile: String,
    pub policies: Vec<String>,
    pub objectives: Vec<Objective>,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub goal: Goal,
    /// The decomposition of the template text. `None` once a model rewrote the objectives:
    /// the template's sentences are then no longer the goal's, and a reference that does not
    /// match the text would penalise a decomposer for following it.
    pub reference: Option<Decomposition>,
    pub spec: GoalSpec,
}

fn pick_kind(mix: &Mix, rng: &mut ChaCha8Rng) -> Kind {
    let r: f64 = rng.random();
    if r < mix.normal {
        Kind::Normal
    } else if r < mix.normal + mix.impossible {
        Kind::Impossible
    } else {
        Kind::Conditional
    }
}

fn one_objective(db: &MultiWoz, domain: &str, kind: Kind, rng: &mut ChaCha8Rng) -> Objective {
    let normal = |rng: &mut ChaCha8Rng| Objective {
        kind: Kind::Normal,
        main: objectives::normal(db, domain, rng),
        condition: None,
        alternative: None,
    };
    match kind {
        Kind::Normal => normal(rng),
        Kind::Impossible => match objectives::impossible(db, domain, rng) {
            Some(main) => Objective {
                kind: Kind::Impossible,
                main,
                condition: None,
                alternative: None,
            },
            None => normal(rng),
        },
        Kind::Conditional => {
            objectives::conditional(db, domain, rng).unwrap_or_else(|| normal(rng))
        }
    }
}

/// Template-only generation: `settings.n` goals, goal `i` drawn from its own seeded stream (so
/// the first goals of a larger set equal a smaller set's).
pub fn generate(
    db: &MultiWoz,
    profiles: &[String],
    policies: &[String],
    settings: &Settings,
) -> Vec<Generated> {
    (0..settings.n)
        .map(|i| {
            let mut rng = ChaCha8Rng::seed_from_u64(
                settings.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64,
            );
            let profile = profiles
                .choose(&mut rng)
                .expect("profiles are not empty")
                .clone();
            let n_pol = if rng.random_bool(0.3) { 2 } else { 1 };
            let pols: Vec<String> = policies.choose_multiple(&mut rng, n_pol).cloned().collect();
            let k = rng.random_range(1..=settings.max_objectives.max(1));
            let mut domains = DOMAINS.to_vec();
            domains.shuffle(&mut rng);
            let mut objs: Vec<Objective> = Vec::new();
            for d in domains.into_iter().take(k) {
                let mut kind = pick_kind(&settings.mix, &mut rng);
                if kind == Kind::Conditional && d == "train" {
                    kind = Kind::Normal;
                }
                objs.push(one_objective(db, d, kind, &mut rng));
            }
            let specs: Vec<_> = objs.iter().map(verbalise::objective).collect();
            let id = format!("mwc-{:03}", i + 1);
            let reference = Decomposition {
                user_profile: crate::text::sentences(&profile),
                user_policy: pols
                    .iter()
                    .flat_map(|p| crate::text::sentences(p))
                    .collect(),
                task_objectives: specs.clone(),
            };
            let text = std::iter::once(profile.clone())
                .chain(pols.iter().cloned())
                .chain(specs.iter().map(verbalise::paragraph))
                .collect::<Vec<_>>()
                .join(" ");
            let domain = objs
                .iter()
                .map(|o| o.main.domain.as_str())
                .collect::<Vec<_>>()
                .join("+");
            Generated {
                goal: Goal {
                    id: id.clone(),
                    goal: text,
                    max_turns: None,
                    domain: Some(domain),
                    decomposition: None,
                    task: Some(
                        serde_json::to_value(Task {
                            objectives: objs.clone(),
                        })
                        .expect("a task serialises"),
                    ),
                    trial: None,
                    seed: None,
                    attempt: None,
                },
                reference: Some(reference),
                spec: GoalSpec {
                    id,
                    profile,
                    policies: pols,
                    objectives: objs,
                },
            }
        })
        .collect()
}

/// Rewrites each goal's objective paragraphs with `llm` (profile and policy stay verbatim).
/// Returns how many goals kept their template text because the model failed.
pub async fn verbalise_with_model(
    llm: &Llm,
    ledger: &Ledger,
    goals: &mut [Generated],
    concurrency: usize,
    progress: &dyn crate::progress::Progress,
) -> usize {
    progress.start(goals.len(), "goals verbalised");
    let jobs = goals.iter().map(|g| {
        let paragraphs: Vec<String> = g.reference.iter().flat_map(|r| &r.task_objectives).map(verbalise::paragraph).collect();
        async move {
            let prompt = format!(
                "Rewrite these instructions for someone playing a visitor who contacts the Cambridge information desk. Keep every fact, place, number, day and time; keep \"if possible\" wishes as wishes and the \"if ... instead\" condition as a condition; add nothing; write in the second person (\"You ...\") as flowing prose, no lists. Answer with the rewritten text only.\n\n{}",
                paragraphs.join("\n")
            );
            let req = ChatRequest::new(vec![Message::user(prompt)]).with_sampling(Sampling {
                temperature: Some(0.7),
                seed: Some(0),
                ..Default::default()
            });
            let r = llm.chat(CallRole::Judge, ledger, &req).await;
            progress.advance(1);
            r.ok().map(|r| r.content_str().trim().to_string()).filter(|t| t.len() > 20)
        }
    });
    let out: Vec<_> = futures::stream::iter(jobs)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    progress.finish();
    let mut kept = 0;
    for (g, text) in goals.iter_mut().zip(out) {
        match text {
            Some(t) => {
                let head =
                    std::iter::once(g.spec.profile.clone()).chain(g.spec.policies.iter().cloned());
                g.goal.goal = head.chain(std::iter::once(t)).collect::<Vec<_>>().join(" ");
                g.reference = None;
            }
            None => kept += 1,
        }
    }
    kept
}

/// Validation of a generated set against the database.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Objectives per domain and kind.
    pub counts: BTreeMap<String, BTreeMap<String, usize>>,
    pub goals: usize,
    pub objectives: usize,
    pub problems: Vec<String>,
}

pub fn validate(db: &MultiWoz, specs: &[GoalSpec]) -> Report {
    let mut r = Report {
        goals: specs.len(),
        ..Default::default()
    };
    for s in specs {
        for (j, o) in s.objectives.iter().enumerate() {
            r.objectives += 1;
            *r.counts
                .entry(o.main.domain.clone())
                .or_default()
                .entry(o.kind.as_str().to_string())
                .or_default() += 1;
            if let Err(e) = objectives::check(db, o) {
                r.problems
                    .push(format!("{} objective {}: {e}", s.id, j + 1));
            }
        }
    }
    r
}

pub fn report_table(r: &Report) -> String {
    let kinds = [Kind::Normal, Kind::Impossible, Kind::Conditional];
    let mut out = format!(
        "{:<12}{:>10}{:>12}{:>13}{:>8}\n",
        "domain", "normal", "impossible", "conditional", "total"
    );
    let mut totals = [0usize; 3];
    for (d, m) in &r.counts {
        let row: Vec<usize> = kinds
            .iter()
            .map(|k| m.get(k.as_str()).copied().unwrap_or(0))
            .collect();
        for (t, v) in totals.iter_mut().zip(&row) {
            *t += v;
        }
        out.push_str(&format!(
            "{d:<12}{:>10}{:>12}{:>13}{:>8}\n",
            row[0],
            row[1],
            row[2],
            row.iter().sum::<usize>()
        ));
    }
    out.push_str(&format!(
        "{:<12}{:>10}{:>12}{:>13}{:>8}\n",
        "all",
        totals[0],
        totals[1],
        totals[2],
        totals.iter().sum::<usize>()
    ));
    out.push_str(&format!(
        "{} goals, {} objectives: every normal objective satisfiable, every impossible one unsatisfiable, every conditional one resolvable in both branches — {}\n",
        r.goals,
        r.objectives,
        if r.problems.is_empty() { "checked against the database, all hold".to_string() } else { format!("{} PROBLEM(S)", r.problems.len()) }
    ));
    for p in &r.problems {
        out.push_str(&format!("  {p}\n"));
    }
    out
}

/// Files written next to `out`: `<stem>.reference.jsonl` and `<stem>.spec.jsonl`.
pub fn side_files(out: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "goals".into());
    let dir = out.parent().unwrap_or(std::path::Path::new(""));
    (
        dir.join(format!("{stem}.reference.jsonl")),
        dir.join(format!("{stem}.spec.jsonl")),
    )
}

/// The three files of a generated set, as text: the goals, their reference decompositions
/// (`{"id", "state"}` lines; goals a model rewrote have none) and their specs — in that order,
/// for [`side_files`]' paths.
pub fn set_files(set: &[Generated]) -> [String; 3] {
    let line = |v: serde_json::Value| v.to_string() + "\n";
    [
        set.iter()
            .map(|g| line(serde_json::to_value(&g.goal).expect("goal serialises")))
            .collect(),
        set.iter()
            .filter_map(|g| {
                let d = g.reference.as_ref()?;
                Some(crate::model::DecompositionLine::to_line(&g.goal.id, d))
            })
            .collect(),
        set.iter()
            .map(|g| line(serde_json::to_value(&g.spec).expect("spec serialises")))
            .collect(),
    ]
}

/// The database must have records in every domain goals are built from (an empty table would
/// leave nothing to build an objective on).
pub fn check_db(db: &MultiWoz, source: &str) -> Result<(), InputError> {
    let empty: Vec<&str> = DOMAINS
        .iter()
        .copied()
        .filter(|d| db.records(d).is_empty())
        .collect();
    match empty.is_empty() {
        true => Ok(()),
        false => Err(InputError::new(format!(
            "{source}: the {} table(s) hold no records; goals need entities in every domain ({}) — point --data at a complete MultiWOZ db folder",
            empty.join(", "),
            DOMAINS.join(", ")
        ))),
    }
}

pub fn check_settings(s: &Settings) -> Result<(), InputError> {
    if s.n == 0 {
        return Err(InputError::new("--n must be at least 1"));
    }
    if !(1..=4).contains(&s.max_objectives) {
        return Err(InputError::new(
            "--max-objectives must be between 1 and 4 (there are four domains)",
        ));
    }
    Ok(())
}
