//! Agreement of the tracker and the decomposer with reference labels (`ugst agree`).
//!
//! - **Tracking**: statuses matched by (conversation id, turn, component id); per category and
//!   overall, the share of matching statuses, Cohen's κ and a confusion matrix.
//! - **Decomposition**: sub-components of the same goal matched one-to-one by text similarity
//!   (token F1 ≥ threshold, best pairs first); precision, recall and F1 of the matching, and the
//!   share of matched pairs that also agree on the category.
//!
//! File formats are documented in the README ("Agreement").

use crate::error::InputError;
use crate::text::similarity;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use ugst_state::{Category, Decomposition};

/// Default similarity threshold for matching sub-components.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

fn read_lines(path: &Path) -> Result<Vec<(usize, Value)>, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("{}: cannot read: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            InputError::new(format!("{}:{}: invalid JSON ({e})", path.display(), i + 1))
        })?;
        out.push((i + 1, v));
    }
    if out.is_empty() {
        return Err(InputError::new(format!("{}: no lines", path.display())));
    }
    Ok(out)
}

/// Which kind of file this is, from its first line.
pub fn detect(path: &Path) -> Result<&'static str, InputError> {
    let lines = read_lines(path)?;
    let v = &lines[0].1;
    if v.get("statuses").is_some() {
        Ok("tracking")
    } else if v.get("state").is_some() {
        Ok("decomposition")
    } else {
        Err(InputError::new(format!(
            "{}:{}: neither a tracking label line ({{\"id\", \"turn\", \"statuses\"}}) nor a decomposition line ({{\"id\", \"state\"}})",
            path.display(),
            lines[0].0
        )))
    }
}

// ---------------------------------------------------------------- tracking

/// The category a component id names (`prof-1`, `pol-2`, `obj-1`, `req-1.2`, `pref-1.1`).
pub fn category_of(id: &str) -> Option<Category> {
    let head = id.split('-').next()?;
    Some(match head {
        "prof" => Category::UserProfile,
        "pol" => Category::UserPolicy,
        "obj" => Category::TaskObjective,
        "req" => Category::Requirement,
        "pref" => Category::Preference,
        _ => return None,
    })
}

type Key = (String, u64, String);

fn tracking_labels(path: &Path) -> Result<HashMap<Key, String>, InputError> {
    let mut out = HashMap::new();
    for (line, v) in read_lines(path)? {
        let at = |what: &str| InputError::new(format!("{}:{line}: {what}", path.display()));
        let id = v["id"]
            .as_str()
            .ok_or_else(|| at("missing string \"id\""))?;
        let turn = v["turn"]
            .as_u64()
            .ok_or_else(|| at("missing integer \"turn\""))?;
        let statuses = v["statuses"]
            .as_object()
            .ok_or_else(|| at("\"statuses\" must be an object {component id: status}"))?;
        for (comp, s) in statuses {
            let s = s
                .as_str()
                .ok_or_else(|| at(&format!("status of {comp} must be a string")))?;
            let status = ugst_state::Status::parse(s)
                .ok_or_else(|| at(&format!("unknown status {s:?} for {comp}")))?;
            let cat = category_of(comp).ok_or_else(|| at(&format!("component id {comp:?} does not name a category (prof-, pol-, obj-, req-, pref-)")))?;
            if cat.rank(status).is_none() {
                return Err(at(&format!("{comp} is a {cat}, which cannot be {status}")));
            }
            if out
                .insert(
                    (id.to_string(), turn, comp.clone()),
                    status.as_str().to_string(),
                )
                .is_some()
            {
                return Err(at(&format!("{id} turn {turn} {comp} is labelled twice")));
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CategoryAgreement {
    pub n: usize,
    pub agreement: Option<f64>,
    pub kappa: Option<f64>,
    /// Cohen's κ of success vs. not (ALIGNED for profile, policy and preferences; ATTEMPTED or
    /// COMPLETE for objectives and requirements): what every figure of ugst rests on.
    pub success_kappa: Option<f64>,
    /// gold status → predicted status → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrackingAgreement {
    pub overall: CategoryAgreement,
    pub categories: BTreeMap<String, CategoryAgreement>,
    /// Gold labels with no prediction (left out of the figures).
    pub missing: usize,
    /// Predictions with no gold label (ignored).
    pub unlabelled: usize,
    /// Per gold status that marks something going wrong or unfinished (MISALIGNED, INCOMPLETE,
    /// ATTEMPTED): the share of its labels the prediction also gives, and how many there are.
    pub recall: BTreeMap<String, (Option<f64>, usize)>,
    /// Every labelled status the prediction gives differently, in (id, turn, component) order.
    pub disagreements: Vec<Disagreement>,
}

/// One labelled status that the prediction does not share.
#[derive(Debug, Clone, Serialize)]
pub struct Disagreement {
    pub id: String,
    pub turn: u64,
    pub component: String,
    pub gold: String,
    pub predicted: String,
}

/// Cohen's κ of paired labels: (p_o − p_e) / (1 − p_e). When chance agreement is already 1
/// (both raters used one and the same label throughout) κ is 1.
pub fn cohen_kappa(pairs: &[(String, String)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let po = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let mut ga: HashMap<&str, f64> = HashMap::new();
    let mut pb: HashMap<&str, f64> = HashMap::new();
    for (a, b) in pairs {
        *ga.entry(a).or_default() += 1.0;
        *pb.entry(b).or_default() += 1.0;
    }
    let pe: f64 = ga
        .iter()
        .map(|(k, c)| c / n * pb.get(k).copied().unwrap_or(0.0) / n)
        .sum();
    if (1.0 - pe).abs() < 1e-12 {
        return Some(if po == 1.0 { 1.0 } else { 0.0 });
    }
    Some((po - pe) / (1.0 - pe))
}

/// A labelled pair: the component's category, the gold status, the predicted status.
type Pair = (Category, String, String);

fn summarise(labelled: &[Pair]) -> CategoryAgreement {
    let pairs: Vec<(String, String)> = labelled
        .iter()
        .map(|(_, g, p)| (g.clone(), p.clone()))
        .collect();
    let mut c = CategoryAgreement {
        n: pairs.len(),
        ..Default::default()
    };
    if pairs.is_empty() {
        return c;
    }
    c.agreement = Some(pairs.iter().filter(|(a, b)| a == b).count() as f64 / pairs.len() as f64);
    c.kappa = cohen_kappa(&pairs);
    let success = |cat: &Category, s: &str| {
        let ok = ugst_state::Status::parse(s).is_some_and(|s| cat.is_success(s));
        if ok { "success" } else { "not" }.to_string()
    };
    let succ: Vec<(String, String)> = labelled
        .iter()
        .map(|(cat, g, p)| (success(cat, g), success(cat, p)))
        .collect();
    c.success_kappa = cohen_kappa(&succ);
    for (g, p) in &pairs {
        *c.confusion
            .entry(g.clone())
            .or_default()
            .entry(p.clone())
            .or_default() += 1;
    }
    c
}

pub fn tracking(gold: &Path, pred: &Path) -> Result<TrackingAgreement, InputError> {
    let g = tracking_labels(gold)?;
    let p = tracking_labels(pred)?;
    let mut by_cat: BTreeMap<String, Vec<Pair>> = BTreeMap::new();
    let mut all: Vec<Pair> = Vec::new();
    let mut missing = 0;
    let mut disagreements = Vec::new();
    let mut keys: Vec<&Key> = g.keys().collect();
    keys.sort();
    for k in keys {
        let Some(pl) = p.get(k) else {
            missing += 1;
            continue;
        };
        let cat = category_of(&k.2).expect("checked on read");
        if g[k] != *pl {
            disagreements.push(Disagreement {
                id: k.0.clone(),
                turn: k.1,
                component: k.2.clone(),
                gold: g[k].clone(),
                predicted: pl.clone(),
            });
        }
        let pair = (cat, g[k].clone(), pl.clone());
        by_cat
            .entry(cat.as_str().to_string())
            .or_default()
            .push(pair.clone());
        all.push(pair);
    }
    if all.is_empty() {
        return Err(InputError::new(format!(
            "{} and {} share no (id, turn, component) label; are they about the same conversations?",
            gold.display(),
            pred.display()
        )));
    }
    let recall = ["MISALIGNED", "INCOMPLETE", "ATTEMPTED"]
        .iter()
        .map(|s| {
            let gold: Vec<&Pair> = all.iter().filter(|(_, g, _)| g == s).collect();
            let hit = gold.iter().filter(|(_, _, p)| p == s).count();
            let r = (!gold.is_empty()).then(|| hit as f64 / gold.len() as f64);
            (s.to_string(), (r, gold.len()))
        })
        .collect();
    Ok(TrackingAgreement {
        recall,
        overall: summarise(&all),
        categories: by_cat
            .iter()
            .map(|(k, v)| (k.clone(), summarise(v)))
            .collect(),
        missing,
        unlabelled: p.keys().filter(|k| !g.contains_key(*k)).count(),
        disagreements,
    })
}

// ----------------------------------------------------------- decomposition

fn items(d: &Decomposition) -> Vec<(Category, String)> {
    let mut out: Vec<(Category, String)> = Vec::new();
    out.extend(
        d.user_profile
            .iter()
            .map(|t| (Category::UserProfile, t.clone())),
    );
    out.extend(
        d.user_policy
            .iter()
            .map(|t| (Category::UserPolicy, t.clone())),
    );
    for o in &d.task_objectives {
        out.push((Category::TaskObjective, o.text.clone()));
        out.extend(
            o.requirements
                .iter()
                .map(|t| (Category::Requirement, t.clone())),
        );
        out.extend(
            o.preferences
                .iter()
                .map(|t| (Category::Preference, t.clone())),
        );
    }
    out
}

fn decompositions(path: &Path) -> Result<BTreeMap<String, Decomposition>, InputError> {
    let mut out = BTreeMap::new();
    for (line, v) in read_lines(path)? {
        let at = |what: String| InputError::new(format!("{}:{line}: {what}", path.display()));
        let id = v["id"]
            .as_str()
            .ok_or_else(|| at("missing string \"id\"".into()))?
            .to_string();
        let d: Decomposition = serde_json::from_value(v["state"].clone())
            .map_err(|e| at(format!("\"state\" is not a decomposition: {e}")))?;
        if out.insert(id.clone(), d).is_some() {
            return Err(at(format!("id {id:?} appears twice")));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DecompositionAgreement {
    pub goals: usize,
    pub gold_items: usize,
    pub pred_items: usize,
    pub matched: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Share of matched pairs whose categories agree.
    pub category_accuracy: Option<f64>,
    /// Per gold category: (gold items, matched, matched with the same category).
    pub by_category: BTreeMap<String, [usize; 3]>,
    pub threshold: f64,
    /// Gold goals the prediction lacks (their items count as unmatched).
    pub missing_goals: Vec<String>,
}

/// One-to-one matching, best similarity first, pairs below `threshold` left out.
pub fn match_items(
    gold: &[(Category, String)],
    pred: &[(Category, String)],
    threshold: f64,
) -> Vec<(usize, usize)> {
    let mut cands: Vec<(f64, usize, usize)> = Vec::new();
    for (i, (_, g)) in gold.iter().enumerate() {
        for (j, (_, p)) in pred.iter().enumerate() {
            let s = similarity(g, p);
            if s >= threshold {
                cands.push((s, i, j));
            }
        }
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut gu, mut pu) = (HashSet::new(), HashSet::new());
    let mut out = Vec::new();
    for (_, i, j) in cands {
        if !gu.contains(&i) && !pu.contains(&j) {
            gu.insert(i);
            pu.insert(j);
            out.push((i, j));
        }
    }
    out
}

pub fn decomposition(
    gold: &Path,
    pred: &Path,
    threshold: f64,
) -> Result<DecompositionAgreement, InputError> {
    let g = decompositions(gold)?;
    let p = decompositions(pred)?;
    let mut a = DecompositionAgreement {
        threshold,
        ..Default::default()
    };
    let mut same_cat = 0;
    for (id, gd) in &g {
        a.goals += 1;
        let gi = items(gd);
        a.gold_items += gi.len();
        for (c, _) in &gi {
            a.by_category.entry(c.as_str().into()).or_default()[0] += 1;
        }
        let Some(pd) = p.get(id) else {
            a.missing_goals.push(id.clone());
            continue;
        };
        let pi = items(pd);
        a.pred_items += pi.len();
        for (i, j) in match_items(&gi, &pi, threshold) {
            a.matched += 1;
            let row = a.by_category.entry(gi[i].0.as_str().into()).or_default();
            row[1] += 1;
            if gi[i].0 == pi[j].0 {
                row[2] += 1;
                same_cat += 1;
            }
        }
    }
    let ratio = |x: usize, y: usize| (y > 0).then(|| x as f64 / y as f64);
    a.precision = ratio(a.matched, a.pred_items);
    a.recall = ratio(a.matched, a.gold_items);
    a.f1 = match (a.precision, a.recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    };
    a.category_accuracy = ratio(same_cat, a.matched);
    Ok(a)
}

fn f(x: Option<f64>) -> String {
    x.map_or("–".into(), |v| format!("{v:.3}"))
}

pub fn tracking_table(t: &TrackingAgreement) -> String {
    let mut out = format!(
        "{:<16}{:>8}{:>12}{:>10}{:>16}\n",
        "category", "n", "agreement", "kappa", "kappa success"
    );
    for (k, c) in t
        .categories
        .iter()
        .chain(std::iter::once((&"overall".to_string(), &t.overall)))
    {
        out.push_str(&format!(
            "{k:<16}{:>8}{:>12}{:>10}{:>16}\n",
            c.n,
            f(c.agreement),
            f(c.kappa),
            f(c.success_kappa)
        ));
    }
    let recall: Vec<String> = t
        .recall
        .iter()
        .map(|(s, (r, n))| format!("{s} {} of {n}", f(*r)))
        .collect();
    out.push_str(&format!("recall of gold labels: {}\n", recall.join(", ")));
    for (k, c) in &t.categories {
        out.push_str(&format!(
            "\nconfusion, {k} (rows gold, columns predicted):\n"
        ));
        let cols: Vec<String> = {
            let mut s: Vec<String> = c
                .confusion
                .values()
                .flat_map(|r| r.keys().cloned())
                .chain(c.confusion.keys().cloned())
                .collect();
            s.sort();
            s.dedup();
            s
        };
        out.push_str(&format!("{:<14}", ""));
        for col in &cols {
            out.push_str(&format!("{col:>12}"));
        }
        out.push('\n');
        for (g, row) in &c.confusion {
            out.push_str(&format!("{g:<14}"));
            for col in &cols {
                out.push_str(&format!("{:>12}", row.get(col).copied().unwrap_or(0)));
            }
            out.push('\n');
        }
    }
    if t.missing > 0 || t.unlabelled > 0 {
        out.push_str(&format!("\n{} gold label(s) without a prediction, {} prediction(s) without a gold label (left out)\n", t.missing, t.unlabelled));
    }
    out
}

/// One line per disagreement: conversation, turn, component, gold → predicted.
pub fn disagreement_lines(t: &TrackingAgreement) -> String {
    let mut out = format!(
        "\n{} disagreement(s) (gold → predicted):\n",
        t.disagreements.len()
    );
    for d in &t.disagreements {
        out.push_str(&format!(
            "  {:<10} turn {:<3} {:<10} {} → {}\n",
            d.id, d.turn, d.component, d.gold, d.predicted
        ));
    }
    out
}

pub fn decomposition_table(d: &DecompositionAgreement) -> String {
    let mut out = format!(
        "{} goals: {} gold and {} predicted sub-components, {} matched (token-F1 ≥ {})\nprecision {}  recall {}  F1 {}  category accuracy of matched pairs {}\n",
        d.goals, d.gold_items, d.pred_items, d.matched, d.threshold, f(d.precision), f(d.recall), f(d.f1), f(d.category_accuracy)
    );
    out.push_str(&format!(
        "{:<16}{:>8}{:>10}{:>12}{:>16}\n",
        "gold category", "items", "matched", "recall", "same category"
    ));
    for (k, [n, m, same]) in &d.by_category {
        out.push_str(&format!(
            "{k:<16}{n:>8}{m:>10}{:>12}{:>16}\n",
            f((*n > 0).then(|| *m as f64 / *n as f64)),
            f((*m > 0).then(|| *same as f64 / *m as f64))
        ));
    }
    if !d.missing_goals.is_empty() {
        out.push_str(&format!(
            "{} gold goal(s) missing from the prediction: {}\n",
            d.missing_goals.len(),
            d.missing_goals.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_kappa_and_recall_by_hand() {
        let dir = std::env::temp_dir().join(format!("ugst-agree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, lines: &[&str]| {
            let p = dir.join(name);
            std::fs::write(&p, lines.join("\n")).unwrap();
            p
        };
        let gold = write(
            "g.jsonl",
            &[
                r#"{"id": "a", "turn": 3, "statuses": {"pol-1": "MISALIGNED", "obj-1": "ATTEMPTED", "req-1.1": "INCOMPLETE", "prof-1": "ALIGNED"}}"#,
            ],
        );
        let pred = write(
            "p.jsonl",
            &[
                r#"{"id": "a", "turn": 3, "statuses": {"pol-1": "ALIGNED", "obj-1": "COMPLETE", "req-1.1": "INCOMPLETE", "prof-1": "ALIGNED"}}"#,
            ],
        );
        let t = tracking(&gold, &pred).unwrap();
        // Status agreement 2/4; at the success level pol-1 is the only disagreement (obj-1 is a
        // success either way): gold [not, s, not, s], pred [s, s, not, s] → p_o 3/4,
        // p_e = .5*.75 + .5*.25 = .5, κ = .5.
        assert_eq!(t.overall.agreement, Some(0.5));
        assert!((t.overall.success_kappa.unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(t.recall["MISALIGNED"], (Some(0.0), 1));
        assert_eq!(t.recall["ATTEMPTED"], (Some(0.0), 1));
        assert_eq!(t.recall["INCOMPLETE"], (Some(1.0), 1));
        let table = tracking_table(&t);
        assert!(table.contains("recall of gold labels: ATTEMPTED 0.000 of 1, INCOMPLETE 1.000 of 1, MISALIGNED 0.000 of 1"), "{table}");
    }

    #[test]
    fn kappa_by_hand() {
        // 10 pairs: 7 agree. Gold A×6 B×4; pred A×5 B×5. p_o = 0.7, p_e = .6*.5 + .4*.5 = 0.5.
        let mut pairs = Vec::new();
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        pairs.extend(std::iter::repeat_n(s("A", "A"), 4));
        pairs.extend(std::iter::repeat_n(s("B", "B"), 3));
        pairs.extend(std::iter::repeat_n(s("A", "B"), 2));
        pairs.push(s("B", "A"));
        assert!((cohen_kappa(&pairs).unwrap() - 0.4).abs() < 1e-12);
        assert_eq!(cohen_kappa(&[s("A", "A"), s("A", "A")]), Some(1.0));
        assert_eq!(cohen_kappa(&[]), None);
    }

    #[test]
    fn similarity_and_matching() {
        assert_eq!(
            similarity("You want a cheap hotel.", "you want a CHEAP hotel"),
            1.0
        );
        assert!((similarity("a b c d", "a b x y") - 0.5).abs() < 1e-12);
        assert_eq!(similarity("", "a"), 0.0);
        let g = vec![
            (Category::UserProfile, "You are Ana.".to_string()),
            (Category::Requirement, "It should be cheap.".to_string()),
        ];
        let p = vec![
            (Category::Requirement, "it should be cheap".to_string()),
            (
                Category::UserProfile,
                "You are Ana from Boston.".to_string(),
            ),
            (Category::Preference, "unrelated words here".to_string()),
        ];
        assert_eq!(match_items(&g, &p, 0.5), vec![(1, 0), (0, 1)]);
    }

    #[test]
    fn category_from_component_id() {
        assert_eq!(category_of("req-1.2"), Some(Category::Requirement));
        assert_eq!(category_of("pref-2.1"), Some(Category::Preference));
        assert_eq!(category_of("x-1"), None);
    }
}
