//! pass^k and pass@k over repeated trials of the same task, computed as τ²-bench does: per task
//! with n trials of which c succeeded (task reward 1 ± 1e-6), pass^k = C(c,k)/C(n,k) (all k
//! drawn trials succeed) and pass@k = 1 − C(n−c,k)/C(n,k) (at least one does), averaged over
//! tasks, for k = 1 … the smallest trial count. Conversations that failed are left out.
//!
//! Beside the agent's figures, two that only a tracked simulator gives: **alignment pass^k**
//! (the simulated user stayed aligned in all k trials) and **gated pass^k** (the agent's pass^k
//! over the trials whose simulator stayed aligned), so a reader sees how much of an agent's
//! score is simulator noise.

use super::simulator_aligned;
use crate::model::Conversation;
use serde::Serialize;
use std::collections::BTreeMap;

/// The figures for k = 1 … `max_k` (index k − 1).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassK {
    pub tasks: usize,
    /// The smallest number of trials of a task: k goes up to it.
    pub max_k: usize,
    pub pass_hat: Vec<f64>,
    /// 95% bootstrap interval of pass^k over tasks (tasks resampled with replacement), per k.
    pub pass_hat_ci: Vec<(f64, f64)>,
    pub pass_at: Vec<f64>,
    /// Rerun attempts in the run (`run --rerun-misaligned`); each trial counts its last one.
    pub reruns: usize,
    /// Only when the conversations were tracked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment_pass_hat: Option<Vec<f64>>,
    /// Per k, over the tasks with at least k aligned trials; `None` where no task has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gated_pass_hat: Option<Vec<Option<f64>>>,
}

/// One trial: (the task reward is a success, the simulated user stayed aligned).
type Trial = (bool, bool);

/// C(n, k) as a float (exact for the trial counts seen in practice).
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

fn success(reward: f64) -> bool {
    (reward - 1.0).abs() <= 1e-6
}

/// The task a conversation is a trial of: its goal id up to `#` (`<task>#<trial>`).
pub fn task_of(c: &Conversation) -> &str {
    c.goal.id.split('#').next().unwrap_or(&c.goal.id)
}

/// pass^k over the finished conversations with a task reward; `None` when no task has two or
/// more trials (then there is no k beyond 1 to speak of and pass^1 is the mean reward).
pub fn pass_k(convs: &[Conversation]) -> Option<PassK> {
    // Per task: (reward success, simulator aligned) of each trial.
    let mut by_task: BTreeMap<&str, Vec<Trial>> = BTreeMap::new();
    let mut tracked = true;
    let reruns = convs.iter().filter(|c| c.goal.attempt.is_some()).count();
    for c in crate::model::last_attempts(convs)
        .into_iter()
        .filter(|c| c.finished())
    {
        let Some(r) = &c.task_reward else { continue };
        let state = c.final_state.as_ref();
        tracked &= state.is_some_and(|s| !s.components.is_empty());
        let aligned = state.is_some_and(simulator_aligned);
        by_task
            .entry(task_of(c))
            .or_default()
            .push((success(r.reward), aligned));
    }
    let max_k = by_task.values().map(Vec::len).min()?;
    if max_k < 2 {
        return None;
    }
    let tasks = by_task.len();
    let mean = |f: &dyn Fn(&[Trial]) -> f64| -> f64 {
        by_task.values().map(|t| f(t)).sum::<f64>() / tasks as f64
    };
    let count = |t: &[Trial], pick: fn(&Trial) -> bool| t.iter().filter(|x| pick(x)).count();
    let ks = 1..=max_k;
    let pass_hat = ks
        .clone()
        .map(|k| mean(&|t| choose(count(t, |x| x.0), k) / choose(t.len(), k)))
        .collect();
    // Tasks, not trials, are the unit a benchmark samples: resample them.
    let per_task: Vec<&Vec<Trial>> = by_task.values().collect();
    let pass_hat_ci = ks
        .clone()
        .map(|k| {
            let est = super::compare::bootstrap(&per_task, 0, |pick| {
                Some(
                    pick.iter()
                        .map(|t| choose(count(t, |x| x.0), k) / choose(t.len(), k))
                        .sum::<f64>()
                        / pick.len() as f64,
                )
            });
            est.map(|e| (e.low, e.high)).unwrap_or((f64::NAN, f64::NAN))
        })
        .collect();
    let pass_at = ks
        .clone()
        .map(|k| mean(&|t| 1.0 - choose(t.len() - count(t, |x| x.0), k) / choose(t.len(), k)))
        .collect();
    let alignment_pass_hat = tracked.then(|| {
        ks.clone()
            .map(|k| mean(&|t| choose(count(t, |x| x.1), k) / choose(t.len(), k)))
            .collect()
    });
    let gated_pass_hat = tracked.then(|| {
        ks.clone()
            .map(|k| {
                let per: Vec<f64> = by_task
                    .values()
                    .filter_map(|t| {
                        let aligned: Vec<&Trial> = t.iter().filter(|x| x.1).collect();
                        let ok = aligned.iter().filter(|x| x.0).count();
                        (aligned.len() >= k).then(|| choose(ok, k) / choose(aligned.len(), k))
                    })
                    .collect();
                (!per.is_empty()).then(|| per.iter().sum::<f64>() / per.len() as f64)
            })
            .collect()
    });
    Some(PassK {
        tasks,
        max_k,
        pass_hat,
        pass_hat_ci,
        pass_at,
        reruns,
        alignment_pass_hat,
        gated_pass_hat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{ConvStatus, Goal, TaskOutcome};
    use ugst_state::{Decomposition, GoalState, ObjectiveSpec, Status};

    /// A finished trial of `task` with `reward`, its simulator aligned or not.
    fn trial(task: &str, n: usize, reward: f64, aligned: bool) -> Conversation {
        let d = Decomposition {
            user_profile: vec!["You are Ana.".into()],
            user_policy: vec![],
            task_objectives: vec![ObjectiveSpec {
                text: "Fly.".into(),
                requirements: vec![],
                preferences: vec![],
            }],
        };
        let mut s = GoalState::initial(&d);
        s.components[1].status = Status::Complete;
        if !aligned {
            s.components[0].status = Status::Misaligned;
        }
        Conversation {
            goal: Goal::new(format!("{task}#{n}"), "Fly."),
            status: ConvStatus::Finished,
            end_reason: None,
            error: None,
            initial_state: None,
            final_state: Some(s),
            turns: vec![],
            task_reward: Some(TaskOutcome {
                reward,
                details: serde_json::Value::Null,
            }),
            closing_reasoning: None,
        }
    }

    #[test]
    fn pass_k_by_hand() {
        // Task a: 2 of 3 succeed, all aligned. Task b: 1 of 3 succeeds, the failures misaligned.
        let convs = vec![
            trial("a", 0, 1.0, true),
            trial("a", 1, 1.0, true),
            trial("a", 2, 0.0, true),
            trial("b", 0, 1.0, true),
            trial("b", 1, 0.0, false),
            trial("b", 2, 0.0, false),
        ];
        let p = pass_k(&convs).unwrap();
        assert_eq!((p.tasks, p.max_k), (2, 3));
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // pass^1 = (2/3 + 1/3)/2; pass^2 = (C(2,2)/C(3,2) + 0)/2 = 1/6.
        assert!(
            close(p.pass_hat[0], 0.5)
                && close(p.pass_hat[1], 1.0 / 6.0)
                && close(p.pass_hat[2], 0.0)
        );
        // The interval resamples the two tasks: pass^1 is 2/3 or 1/3 per task, so the means of
        // two draws lie between 1/3 and 2/3 and the interval brackets 1/2.
        let (lo, hi) = p.pass_hat_ci[0];
        assert!(lo >= 1.0 / 3.0 - 1e-12 && hi <= 2.0 / 3.0 + 1e-12 && lo <= 0.5 && 0.5 <= hi);
        assert!(lo < hi, "two different tasks give a spread: {lo} {hi}");
        // pass@2 = (1 - C(1,2)/C(3,2) + 1 - C(2,2)/C(3,2))/2 = (1 + 2/3)/2.
        assert!(close(p.pass_at[1], 5.0 / 6.0));
        // Alignment: a 3/3, b 1/3 → pass^1 = 2/3, pass^3 = 1/2.
        let a = p.alignment_pass_hat.unwrap();
        assert!(close(a[0], 2.0 / 3.0) && close(a[2], 0.5));
        // Gated: a over its 3 aligned trials 2/3; b over its single aligned trial 1 → mean 5/6;
        // at k = 2 only task a has two aligned trials: C(2,2)/C(3,2) = 1/3.
        let g = p.gated_pass_hat.unwrap();
        assert!(close(g[0].unwrap(), 5.0 / 6.0) && close(g[1].unwrap(), 1.0 / 3.0));
        // One trial per task: no pass^k beyond the mean reward.
        assert!(pass_k(&convs[..1]).is_none());
    }

    #[test]
    fn choose_by_hand() {
        assert_eq!(choose(4, 2), 6.0);
        assert_eq!(choose(4, 0), 1.0);
        assert_eq!(choose(2, 3), 0.0);
        assert_eq!(choose(4, 4), 1.0);
    }
}
