//! The BERT forward pass the sentence encoder needs, written on candle's tensors and layers.
//!
//! Only what a BERT encoder checkpoint like all-MiniLM-L6-v2 uses: absolute position embeddings,
//! one token type, post-norm layers with exact (erf) GELU, and the last layer's hidden states.
//! Our own code instead of `candle-transformers`, whose hundreds of models cost about three
//! minutes of a cold build on two cores for the one model used here. Query, key and value
//! projections run as one matrix product.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

/// The fields of a Hugging Face BERT `config.json` this encoder reads.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_types() -> usize {
    2
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

fn linear(vb: VarBuilder, inp: usize, out: usize) -> Result<Linear> {
    Ok(Linear::new(
        vb.get((out, inp), "weight")?,
        Some(vb.get(out, "bias")?),
    ))
}

fn norm(vb: VarBuilder, size: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(size, "weight")?,
        vb.get(size, "bias")?,
        eps,
    ))
}

struct Layer {
    /// Query, key and value stacked: `3 × hidden` outputs.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    up: Linear,
    down: Linear,
    out_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, c: &BertConfig) -> Result<Layer> {
        let h = c.hidden_size;
        let att = vb.pp("attention");
        let s = att.pp("self");
        let (mut w, mut b) = (Vec::new(), Vec::new());
        // The attention scores' 1/√d scale is folded into the query projection once here,
        // instead of a pass over every (batch × heads × seq × seq) score in each call.
        let scale = 1.0 / ((h / c.num_attention_heads) as f64).sqrt();
        for name in ["query", "key", "value"] {
            let k = if name == "query" { scale } else { 1.0 };
            w.push((s.pp(name).get((h, h), "weight")? * k)?);
            b.push((s.pp(name).get(h, "bias")? * k)?);
        }
        Ok(Layer {
            qkv: Linear::new(Tensor::cat(&w, 0)?, Some(Tensor::cat(&b, 0)?)),
            attn_out: linear(att.pp("output").pp("dense"), h, h)?,
            attn_norm: norm(att.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
            up: linear(vb.pp("intermediate").pp("dense"), h, c.intermediate_size)?,
            down: linear(vb.pp("output").pp("dense"), c.intermediate_size, h)?,
            out_norm: norm(vb.pp("output").pp("LayerNorm"), h, c.layer_norm_eps)?,
        })
    }

    /// `x`: `(batch, seq, hidden)`; `bias`: `(batch, 1, 1, seq)`, 0 for real pieces and a large
    /// negative number for padding, or `None` when nothing is padded.
    fn forward(&self, x: &Tensor, bias: Option<&Tensor>, heads: usize) -> Result<Tensor> {
        let (b, n, h) = x.dims3()?;
        let d = h / heads;
        // (batch, seq, 3, heads, d) → three (batch, heads, seq, d)
        let qkv = self.qkv.forward(x)?.reshape((b, n, 3, heads, d))?;
        let part = |i: usize| {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let probs = masked_softmax(&q.matmul(&k.t()?)?, bias)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, n, h))?;
        let x = self
            .attn_norm
            .forward(&(self.attn_out.forward(&ctx)? + x)?)?;
        let up = gelu(&self.up.forward(&x)?)?;
        self.out_norm.forward(&(self.down.forward(&up)? + x)?)
    }
}

/// A BERT encoder: embeddings and its stack of layers.
pub struct Bert {
    words: Embedding,
    positions: Tensor,
    /// The embedding of token type 0, the only type a single text has.
    type0: Tensor,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
}

impl Bert {
    /// Loads the weights, with or without the `bert.` prefix some checkpoints carry.
    pub fn load(vb: VarBuilder, c: &BertConfig) -> Result<Bert> {
        if c.hidden_act != "gelu" {
            candle_core::bail!(
                "hidden_act {:?} is not supported (only \"gelu\")",
                c.hidden_act
            );
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let root = match &c.model_type {
            Some(t) if !vb.contains_tensor("embeddings.word_embeddings.weight") => vb.pp(t),
            _ => vb,
        };
        let e = root.pp("embeddings");
        let h = c.hidden_size;
        let words = e.pp("word_embeddings").get((c.vocab_size, h), "weight")?;
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(root.pp(format!("encoder.layer.{i}")), c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bert {
            words: Embedding::new(words, h),
            positions: e
                .pp("position_embeddings")
                .get((c.max_position_embeddings, h), "weight")?,
            type0: e
                .pp("token_type_embeddings")
                .get((c.type_vocab_size, h), "weight")?
                .get(0)?,
            embed_norm: norm(e.pp("LayerNorm"), h, c.layer_norm_eps)?,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// The last layer's hidden states, `(batch, seq, hidden)`, for `ids` `(batch, seq)` with
    /// `mask` `(batch, seq)` 1 for real pieces and 0 for padding.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let pos = self.positions.narrow(0, 0, n)?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&pos)?
            .broadcast_add(&self.type0)?;
        let mut x = self.embed_norm.forward(&x)?;
        // 0 where attended, -1e9 where padded: the softmax gives padding no weight. A batch of
        // texts of one length needs no mask at all.
        let mask = mask.to_dtype(DType::F32)?;
        let padded = mask.min_all()?.to_scalar::<f32>()? < 1.0;
        let bias = if padded {
            Some(((mask - 1.0)? * 1e9)?.reshape((b, 1, 1, n))?)
        } else {
            None
        };
        for layer in &self.layers {
            x = layer.forward(&x, bias.as_ref(), self.heads)?;
        }
        Ok(x)
    }
}

/// Softmax over the last dimension of the attention scores `(batch, heads, seq, seq)`, with
/// the padding bias `(batch, 1, 1, seq)` added first, in one pass over one copy. The exponential
/// is [`exp`] below: libm's scalar `expf` was the encoder's largest cost after the matrix
/// products (`perf`, 60 τ-retail conversations' closing summary).
fn masked_softmax(scores: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, heads, n, m) = scores.dims4()?;
    let mut v = scores.flatten_all()?.to_vec1::<f32>()?;
    let bias = match bias {
        Some(t) => Some(t.flatten_all()?.to_vec1::<f32>()?),
        None => None,
    };
    for (r, row) in v.chunks_exact_mut(m).enumerate() {
        if let Some(bias) = &bias {
            let text = r / (heads * n);
            for (x, add) in row.iter_mut().zip(&bias[text * m..(text + 1) * m]) {
                *x += add;
            }
        }
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for x in row.iter_mut() {
            *x = exp(*x - max);
        }
        // Eight partial sums (piece i into sum i mod 8), so that the sum vectorises and a text
        // padded with zeros sums exactly as it does alone.
        let mut part = [0f32; 8];
        let mut chunks = row.chunks_exact(8);
        for c in &mut chunks {
            for (p, x) in part.iter_mut().zip(c) {
                *p += x;
            }
        }
        for (p, x) in part.iter_mut().zip(chunks.remainder()) {
            *p += x;
        }
        let sum: f32 = part.iter().sum();
        let inv = 1.0 / sum;
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
    Tensor::from_vec(v, (b, heads, n, m), scores.device())
}

/// `e^x` for `x ≤ 0` to within about 2e-7 relative, without branches so that loops over it
/// vectorise: `x = k·ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by its degree-6 minimax polynomial
/// (Cephes' `expf` coefficients), `2^k` written into the exponent bits. Below −87 (a padded
/// piece's score) it is 0.
fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.max(-87.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let k = t - SHIFT;
    let r = x - k * 0.693_359_4 + k * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p * r + c;
    }
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((t.to_bits() as i32 - SHIFT.to_bits() as i32 + 127) << 23) as u32);
    if x <= -87.0 {
        0.0
    } else {
        y * scale
    }
}

/// Exact (erf) GELU, `x · (1 + erf(x/√2)) / 2`, with [`erf`] below instead of libm's: the
/// activation was a tenth of the encoder's time.
fn gelu(x: &Tensor) -> Result<Tensor> {
    let mut v = x.flatten_all()?.to_vec1::<f32>()?;
    for y in &mut v {
        *y = 0.5 * *y * (1.0 + erf(*y * std::f32::consts::FRAC_1_SQRT_2));
    }
    Tensor::from_vec(v, x.shape(), x.device())
}

/// The error function to within 1.5e-7 (Abramowitz & Stegun 7.1.26), below what f32
/// activations resolve.
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * (-a * a).exp();
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    #[test]
    fn exp_agrees_with_libm_below_zero() {
        for i in 0..=170_000 {
            let x = -(i as f32) / 2000.0;
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                (ours - libm).abs() <= 4e-7 * libm + 1e-38,
                "exp({x}) = {ours}, libm {libm}"
            );
        }
        assert_eq!(exp(-1e9), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn gelu_agrees_with_candles_exact_gelu() {
        let xs: Vec<f32> = (-8000..=8000).map(|i| i as f32 / 1000.0).collect();
        let t = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap();
        let ours: Vec<f32> = gelu(&t).unwrap().to_vec1().unwrap();
        let exact: Vec<f32> = t.gelu_erf().unwrap().to_vec1().unwrap();
        let worst = ours
            .iter()
            .zip(&exact)
            .zip(&xs)
            .map(|((a, b), x)| (a - b).abs() / x.abs().max(1.0))
            .fold(0f32, f32::max);
        assert!(worst < 1e-6, "worst relative error {worst}");
    }

    /// A tiny random BERT: padding a text must not change its pieces' states, and the weights'
    /// names are the Hugging Face ones.
    #[test]
    fn padding_does_not_change_the_real_pieces() {
        let dev = Device::Cpu;
        let c = BertConfig {
            hidden_size: 8,
            num_attention_heads: 2,
            num_hidden_layers: 2,
            intermediate_size: 16,
            max_position_embeddings: 16,
            vocab_size: 20,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
            model_type: Some("bert".into()),
        };
        let mut w: HashMap<String, Tensor> = HashMap::new();
        let mut put = |name: &str, shape: &[usize]| {
            w.insert(
                name.to_string(),
                Tensor::randn(0f32, 0.5, shape, &dev).unwrap(),
            );
        };
        put("bert.embeddings.word_embeddings.weight", &[20, 8]);
        put("bert.embeddings.position_embeddings.weight", &[16, 8]);
        put("bert.embeddings.token_type_embeddings.weight", &[2, 8]);
        put("bert.embeddings.LayerNorm.weight", &[8]);
        put("bert.embeddings.LayerNorm.bias", &[8]);
        for i in 0..2 {
            let l = format!("bert.encoder.layer.{i}");
            for m in ["query", "key", "value"] {
                put(&format!("{l}.attention.self.{m}.weight"), &[8, 8]);
                put(&format!("{l}.attention.self.{m}.bias"), &[8]);
            }
            put(&format!("{l}.attention.output.dense.weight"), &[8, 8]);
            put(&format!("{l}.attention.output.dense.bias"), &[8]);
            put(&format!("{l}.intermediate.dense.weight"), &[16, 8]);
            put(&format!("{l}.intermediate.dense.bias"), &[16]);
            put(&format!("{l}.output.dense.weight"), &[8, 16]);
            put(&format!("{l}.output.dense.bias"), &[8]);
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                put(&format!("{l}.{n}.weight"), &[8]);
                put(&format!("{l}.{n}.bias"), &[8]);
            }
        }
        let vb = VarBuilder::from_tensors(w, DType::F32, &dev);
        let bert = Bert::load(vb, &c).unwrap();
        let alone = Tensor::new(&[[1u32, 5, 7, 2]], &dev).unwrap();
        let one = Tensor::new(&[[1u32, 1, 1, 1]], &dev).unwrap();
        let a = bert.forward(&alone, &one).unwrap();
        let padded = Tensor::new(&[[1u32, 5, 7, 2, 0, 0], [1, 3, 4, 6, 8, 2]], &dev).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], &dev).unwrap();
        let p = bert.forward(&padded, &mask).unwrap();
        let a: Vec<Vec<f32>> = a.get(0).unwrap().to_vec2().unwrap();
        let p: Vec<Vec<f32>> = p
            .get(0)
            .unwrap()
            .narrow(0, 0, 4)
            .unwrap()
            .to_vec2()
            .unwrap();
        for (x, y) in a.iter().flatten().zip(p.iter().flatten()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }
}
