//! Goal–utterance similarity: BERTScore (Zhang et al., 2019) between what the simulated user said
//! and the goal it was given, with the local encoder (all-MiniLM-L6-v2, final layer).
//!
//! Per finished conversation, the candidate is the user's messages joined by spaces and the
//! reference is the goal text. Every word piece of one side is matched greedily to its most
//! similar piece of the other (cosine of contextual embeddings): precision averages over the
//! candidate's pieces, recall over the reference's, F1 = 2PR/(P+R). With idf weighting each piece
//! counts by idf(w) = ln((M+1)/(df(w)+1)), M the number of references (goals) and df(w) how many
//! of them contain w. No baseline rescaling. Run figures are means over conversations.

use crate::model::Conversation;
use crate::progress::Progress;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use ugst_embedded::encoder::{Encoder, EncoderError, TokenEmbeddings};

/// Precision, recall and F1 of one candidate against one reference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

/// BERTScore of `candidate` against `reference`; `None` when either side has no word piece.
pub fn bertscore(
    candidate: &TokenEmbeddings,
    reference: &TokenEmbeddings,
    idf: Option<&Idf>,
) -> Option<Score> {
    Matches::of(candidate, reference).score(idf)
}

/// Inverse document frequencies of word pieces over a set of references.
#[derive(Debug, Clone)]
pub struct Idf {
    docs: usize,
    df: HashMap<u32, usize>,
}

impl Idf {
    pub fn new<'a>(references: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let mut df: HashMap<u32, usize> = HashMap::new();
        let mut docs = 0;
        for r in references {
            docs += 1;
            for id in r.iter().collect::<HashSet<_>>() {
                *df.entry(*id).or_default() += 1;
            }
        }
        Idf { docs, df }
    }

    pub fn weight(&self, id: u32) -> f64 {
        let df = self.df.get(&id).copied().unwrap_or(0);
        ((self.docs as f64 + 1.0) / (df as f64 + 1.0)).ln()
    }
}

/// A run's goal similarity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Similarity {
    pub conversations: usize,
    pub idf: bool,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Texts cut to the encoder's 510 word pieces.
    pub truncated_texts: usize,
    /// Why the figure differs from what was asked (e.g. idf left out), for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The encoder installed by `ugst setup` under `$UGST_HOME`, if it is there.
pub fn installed_encoder() -> Result<Option<Encoder>, EncoderError> {
    use ugst_embedded::install::{encoder_dir, encoder_installed, ENCODER};
    let home = crate::config::ugst_home();
    if !encoder_installed(&home, &ENCODER) {
        return Ok(None);
    }
    Encoder::load(&encoder_dir(&home, &ENCODER)).map(Some)
}

/// What identifies the installed encoder's weights in stored scores.
pub fn encoder_identity() -> String {
    let e = &ugst_embedded::install::ENCODER;
    format!("{}:{}", e.name, e.files[0].1)
}

/// One conversation's greedy matches: for every word piece of each side, its id and its best
/// cosine against the other side. The matches do not depend on idf weights, so plain and
/// idf-weighted BERTScore both come from this without the encoder.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Matches {
    pub candidate: Vec<(u32, f32)>,
    pub reference: Vec<(u32, f32)>,
    /// Word pieces cut from the two texts (0, 1 or 2 texts cut).
    pub truncated_texts: usize,
}

fn best(from: &TokenEmbeddings, to: &TokenEmbeddings) -> Vec<(u32, f32)> {
    from.ids
        .iter()
        .zip(&from.vectors)
        .map(|(id, v)| {
            let b = to
                .vectors
                .iter()
                .map(|u| dot(v, u))
                .fold(f64::NEG_INFINITY, f64::max);
            (*id, b as f32)
        })
        .collect()
}

impl Matches {
    pub fn of(candidate: &TokenEmbeddings, reference: &TokenEmbeddings) -> Matches {
        Matches {
            candidate: best(candidate, reference),
            reference: best(reference, candidate),
            truncated_texts: (candidate.truncated > 0) as usize
                + (reference.truncated > 0) as usize,
        }
    }

    /// BERTScore from the stored matches; `None` when either side has no word piece.
    pub fn score(&self, idf: Option<&Idf>) -> Option<Score> {
        if self.candidate.is_empty() || self.reference.is_empty() {
            return None;
        }
        let mean = |side: &[(u32, f32)]| {
            let (mut num, mut den) = (0.0, 0.0);
            for (id, b) in side {
                let w = idf.map_or(1.0, |i| i.weight(*id));
                num += w * *b as f64;
                den += w;
            }
            if den == 0.0 {
                0.0
            } else {
                num / den
            }
        };
        let (precision, recall) = (mean(&self.candidate), mean(&self.reference));
        let f1 = if precision + recall == 0.0 {
            0.0
        } else {
            2.0 * precision * recall / (precision + recall)
        };
        Some(Score {
            precision,
            recall,
            f1,
        })
    }
}

/// What BERTScore compares for one conversation: the user's messages joined, and the goal.
pub struct Pair<'a> {
    pub id: &'a str,
    pub user: String,
    pub goal: &'a str,
}

impl Pair<'_> {
    /// Names the texts and the encoder a stored match belongs to.
    pub fn key(&self, encoder: &str) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [encoder, self.user.as_str(), self.goal] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        format!("{:x}", h.finalize())
    }
}

/// The pairs of the finished conversations that have a user side.
pub fn pairs(convs: &[Conversation]) -> Vec<Pair<'_>> {
    convs
        .iter()
        .filter(|c| c.finished())
        .map(|c| {
            let user: Vec<&str> = c
                .turns
                .iter()
                .map(|t| t.user.trim())
                .filter(|u| !u.is_empty())
                .collect();
            Pair {
                id: c.goal.id.as_str(),
                user: user.join(" "),
                goal: c.goal.goal.as_str(),
            }
        })
        .filter(|p| !p.user.is_empty())
        .collect()
}

/// Texts per encoder batch, and texts embedded before their matches are taken (bounds memory).
const BATCH: usize = 4;
const CHUNK: usize = 256;

/// The matches of every pair. Each distinct text is embedded once (a goal shared by several
/// trials, say), texts are batched by length so that little of a batch is padding, and the
/// encoder's matrix products run on every core.
pub fn match_pairs(
    encoder: &Encoder,
    pairs: &[&Pair<'_>],
    progress: &dyn Progress,
) -> Result<Vec<Matches>, EncoderError> {
    progress.start(pairs.len(), "BERTScore pairs");
    // Goal embeddings live for the whole call; user sides only for their chunk.
    let mut goals: HashMap<&str, TokenEmbeddings> = HashMap::new();
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(CHUNK) {
        let mut queued: HashSet<&str> = HashSet::new();
        let mut todo: Vec<(&str, bool)> = Vec::new();
        for p in chunk {
            if !goals.contains_key(p.goal) && queued.insert(p.goal) {
                todo.push((p.goal, true));
            }
        }
        for p in chunk {
            if !goals.contains_key(p.user.as_str()) && queued.insert(p.user.as_str()) {
                todo.push((p.user.as_str(), false));
            }
        }
        // Longest first, so each batch holds texts of about one length.
        todo.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        let mut users: HashMap<&str, TokenEmbeddings> = HashMap::new();
        let batches: Vec<&[(&str, bool)]> = todo.chunks(BATCH).collect();
        for (batch, embedded) in batches.iter().zip(embed_batches(encoder, &batches)?) {
            for ((text, is_goal), e) in batch.iter().zip(embedded) {
                match is_goal {
                    true => goals.insert(text, e),
                    false => users.insert(text, e),
                };
            }
        }
        for p in chunk {
            // A user side equal to some goal's text was embedded as that goal.
            let u = users
                .get(p.user.as_str())
                .or_else(|| goals.get(p.user.as_str()));
            out.push(Matches::of(
                u.expect("the user side was embedded"),
                &goals[p.goal],
            ));
            progress.advance(1);
        }
    }
    progress.finish();
    Ok(out)
}

/// Embeds the batches on one thread per core (the encoder's matrix products are parallel, its
/// element-wise steps are not), each thread taking the next batch not yet taken.
fn embed_batches(
    encoder: &Encoder,
    batches: &[&[(&str, bool)]],
) -> Result<Vec<Vec<TokenEmbeddings>>, EncoderError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    type Batch = Result<Vec<TokenEmbeddings>, EncoderError>;
    let done: Mutex<Vec<Option<Batch>>> = Mutex::new((0..batches.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(batches.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(batch) = batches.get(i) else { break };
                let texts: Vec<&str> = batch.iter().map(|(t, _)| *t).collect();
                let r = encoder.embed(&texts);
                done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every batch was embedded"))
        .collect()
}

/// The run figure from every pair's matches.
pub fn summarise(matches: &[(&str, &Matches)], idf: bool) -> Similarity {
    // idf over fewer than two different goals gives every word piece weight 0 (F1 0): leave it
    // out and say so.
    let distinct: HashSet<&str> = matches.iter().map(|(g, _)| *g).collect();
    let (idf, note) = match idf && distinct.len() < 2 {
        true => (
            false,
            Some(format!(
                "idf left out: it needs at least two different goals, the run has {}",
                distinct.len()
            )),
        ),
        false => (idf, None),
    };
    // Document frequencies over the references, one document per conversation (as before).
    let refs: Vec<Vec<u32>> = match idf {
        true => matches
            .iter()
            .map(|(_, m)| m.reference.iter().map(|(id, _)| *id).collect())
            .collect(),
        false => Vec::new(),
    };
    let weights = idf.then(|| Idf::new(refs.iter().map(|r| r.as_slice())));
    let scores: Vec<Score> = matches
        .iter()
        .filter_map(|(_, m)| m.score(weights.as_ref()))
        .collect();
    let mean = |f: fn(&Score) -> f64| {
        (!scores.is_empty()).then(|| scores.iter().map(f).sum::<f64>() / scores.len() as f64)
    };
    Similarity {
        conversations: scores.len(),
        idf,
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
        truncated_texts: matches.iter().map(|(_, m)| m.truncated_texts).sum(),
        note,
    }
}

/// BERTScore of every finished conversation's user side against its goal.
pub fn of_run(
    encoder: &Encoder,
    convs: &[Conversation],
    idf: bool,
    progress: &dyn Progress,
) -> Result<Similarity, EncoderError> {
    let pairs = pairs(convs);
    let refs: Vec<&Pair> = pairs.iter().collect();
    let matches = match_pairs(encoder, &refs, progress)?;
    let named: Vec<(&str, &Matches)> = pairs.iter().map(|p| p.goal).zip(&matches).collect();
    Ok(summarise(&named, idf))
}

/// A run's goal similarity with each conversation's matches stored in the run: matches already
/// stored for the same texts and encoder are read back, only the others are computed (and the
/// encoder loaded only then), and the new ones are stored for the next `eval`. `None` when a
/// match is missing and the encoder is not installed.
pub fn of_store(
    store: &crate::store::RunStore,
    convs: &[Conversation],
    idf: bool,
    progress: &dyn Progress,
) -> anyhow::Result<Option<Similarity>> {
    let pairs = pairs(convs);
    let encoder_id = encoder_identity();
    let stored = store.similarities()?;
    let mut have: Vec<Option<Matches>> = Vec::with_capacity(pairs.len());
    let keys: Vec<String> = pairs.iter().map(|p| p.key(&encoder_id)).collect();
    for (p, key) in pairs.iter().zip(&keys) {
        have.push(
            stored
                .get(p.id)
                .filter(|(k, _)| k == key)
                .and_then(|(_, m)| serde_json::from_str(m).ok()),
        );
    }
    let missing: Vec<usize> = (0..pairs.len()).filter(|i| have[*i].is_none()).collect();
    if !missing.is_empty() {
        let Some(encoder) = installed_encoder()? else {
            return Ok(None);
        };
        let todo: Vec<&Pair> = missing.iter().map(|i| &pairs[*i]).collect();
        let new = match_pairs(&encoder, &todo, progress)?;
        let rows: Vec<(&str, &str, String)> = missing
            .iter()
            .zip(&new)
            .map(|(i, m)| {
                let json = serde_json::to_string(m).expect("matches serialise");
                (pairs[*i].id, keys[*i].as_str(), json)
            })
            .collect();
        // A run folder one cannot write to still gets its figure, computed afresh each time.
        if let Err(e) = store.put_similarities(&rows) {
            tracing::warn!(
                "cannot store the goal-similarity matches in {}: {e:#}",
                store.path.display()
            );
        }
        for (i, m) in missing.into_iter().zip(new) {
            have[i] = Some(m);
        }
    }
    let named: Vec<(&str, &Matches)> = pairs
        .iter()
        .zip(&have)
        .map(|(p, m)| (p.goal, m.as_ref().expect("every match is known")))
        .collect();
    Ok(Some(summarise(&named, idf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(ids: &[u32], vectors: &[[f32; 2]]) -> TokenEmbeddings {
        TokenEmbeddings {
            ids: ids.to_vec(),
            pieces: ids.iter().map(|i| i.to_string()).collect(),
            vectors: vectors.iter().map(|v| v.to_vec()).collect(),
            truncated: 0,
        }
    }

    #[test]
    fn greedy_matching_by_hand() {
        // Candidate: pieces along x and y; reference: x and a 60° vector (cos 0.5 to x).
        let s60 = (3f32).sqrt() / 2.0;
        let cand = emb(&[1, 2], &[[1.0, 0.0], [0.0, 1.0]]);
        let refr = emb(&[1, 3], &[[1.0, 0.0], [0.5, s60]]);
        let s = bertscore(&cand, &refr, None).unwrap();
        // P: x→1, y→max(0, s60) = s60 ⇒ (1+s60)/2; R: x→1, 60°→max(0.5, s60) = s60 ⇒ same.
        let want = (1.0 + s60 as f64) / 2.0;
        assert!((s.precision - want).abs() < 1e-6, "{s:?}");
        assert!((s.recall - want).abs() < 1e-6);
        assert!((s.f1 - want).abs() < 1e-6);
        assert!(bertscore(&emb(&[], &[]), &refr, None).is_none());
    }

    #[test]
    fn idf_weights_rare_pieces_up() {
        // Three references: piece 1 in all, piece 2 in one.
        let refs: Vec<Vec<u32>> = vec![vec![1, 2], vec![1], vec![1, 1]];
        let idf = Idf::new(refs.iter().map(|r| r.as_slice()));
        assert!((idf.weight(1) - (4.0f64 / 4.0).ln()).abs() < 1e-12);
        assert!((idf.weight(2) - (4.0f64 / 2.0).ln()).abs() < 1e-12);
        assert!((idf.weight(9) - 4.0f64.ln()).abs() < 1e-12);
        // Piece 1 (weight 0) matches perfectly, piece 2 not at all: weighted precision is 0.
        let cand = emb(&[1, 2], &[[1.0, 0.0], [0.0, 1.0]]);
        let refr = emb(&[1], &[[1.0, 0.0]]);
        let plain = bertscore(&cand, &refr, None).unwrap();
        assert!((plain.precision - 0.5).abs() < 1e-12);
        let weighted = bertscore(&cand, &refr, Some(&idf)).unwrap();
        assert!(weighted.precision.abs() < 1e-12);
    }
}
