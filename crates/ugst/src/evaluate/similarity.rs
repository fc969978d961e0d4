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

/// Weighted mean over `from`'s pieces of the best cosine against `to`'s pieces.
fn greedy(from: &TokenEmbeddings, to: &TokenEmbeddings, idf: Option<&Idf>) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (id, v) in from.ids.iter().zip(&from.vectors) {
        let best = to
            .vectors
            .iter()
            .map(|u| dot(v, u))
            .fold(f64::NEG_INFINITY, f64::max);
        let w = idf.map_or(1.0, |i| i.weight(*id));
        num += w * best;
        den += w;
    }
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// BERTScore of `candidate` against `reference`; `None` when either side has no word piece.
pub fn bertscore(
    candidate: &TokenEmbeddings,
    reference: &TokenEmbeddings,
    idf: Option<&Idf>,
) -> Option<Score> {
    if candidate.ids.is_empty() || reference.ids.is_empty() {
        return None;
    }
    let precision = greedy(candidate, reference, idf);
    let recall = greedy(reference, candidate, idf);
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

/// How many texts are encoded together.
const BATCH: usize = 8;

/// BERTScore of every finished conversation's user side against its goal.
pub fn of_run(
    encoder: &Encoder,
    convs: &[Conversation],
    idf: bool,
    progress: &dyn Progress,
) -> Result<Similarity, EncoderError> {
    let pairs: Vec<(String, &str)> = convs
        .iter()
        .filter(|c| c.finished())
        .map(|c| {
            let user: Vec<&str> = c
                .turns
                .iter()
                .map(|t| t.user.trim())
                .filter(|u| !u.is_empty())
                .collect();
            (user.join(" "), c.goal.goal.as_str())
        })
        .filter(|(u, _)| !u.is_empty())
        .collect();
    progress.start(pairs.len(), "BERTScore pairs");
    let mut embedded = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(BATCH) {
        let mut texts: Vec<&str> = chunk.iter().map(|(u, _)| u.as_str()).collect();
        texts.extend(chunk.iter().map(|(_, g)| *g));
        let mut e = encoder.embed(&texts)?;
        let goals = e.split_off(chunk.len());
        embedded.extend(e.into_iter().zip(goals));
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    // idf over fewer than two different goals gives every word piece weight 0 (F1 0): leave it
    // out and say so.
    let distinct: std::collections::HashSet<&str> = pairs.iter().map(|(_, g)| *g).collect();
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
    let weights = idf.then(|| Idf::new(embedded.iter().map(|(_, g)| g.ids.as_slice())));
    let scores: Vec<Score> = embedded
        .iter()
        .filter_map(|(u, g)| bertscore(u, g, weights.as_ref()))
        .collect();
    let truncated_texts = embedded
        .iter()
        .map(|(u, g)| (u.truncated > 0) as usize + (g.truncated > 0) as usize)
        .sum();
    let mean = |f: fn(&Score) -> f64| {
        (!scores.is_empty()).then(|| scores.iter().map(f).sum::<f64>() / scores.len() as f64)
    };
    Ok(Similarity {
        conversations: scores.len(),
        idf,
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        f1: mean(|s| s.f1),
        truncated_texts,
        note,
    })
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
