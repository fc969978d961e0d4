//! The inference engine: one worker thread owns the model and one llama.cpp context with several
//! sequence slots. Requests from any number of conversations are decoded together (continuous
//! batching): each step feeds one new token for every generating sequence plus prompt chunks of
//! newly arrived requests, in a single `decode` call.
//!
//! KV reuse: every slot remembers the tokens whose keys and values it holds. A new request goes to
//! the free slot sharing the longest prefix with its prompt, the slot's cache is cut back to that
//! prefix, and only the remaining tokens are decoded. Because ugst lays prompts out so that each
//! role's prompt grows at the end (see the tracker and simulator modules), a conversation's next
//! call usually re-decodes only the newest turn. A long system message (a tool-using agent's)
//! is kept on disk between processes as well ([`crate::prefix_store`]).
//!
//! Sampling: the sampler chain picks a token first; a grammar (for JSON Schema answers) only
//! checks that one token, and the full vocabulary is filtered through the grammar only when the
//! pick is rejected. This keeps structured output nearly as fast as free text.

use crate::chat::{Layout, Open};
use crate::prefix_store::{self, PrefixStore};
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub model_path: PathBuf,
    /// Context length available to each sequence.
    pub n_ctx: u32,
    /// Sequences decoded together (requests in flight).
    pub n_seq: u32,
    /// Tokens per decode call.
    pub n_batch: u32,
    pub n_threads: Option<i32>,
    /// Keep each slot's KV cache between requests and decode only the new suffix.
    pub kv_reuse: bool,
    /// Where long system messages' KV caches are kept between processes (see
    /// [`crate::prefix_store`]); `None`: nowhere.
    pub prefix_store: Option<PathBuf>,
}

impl EngineOptions {
    pub fn new(model_path: PathBuf) -> Self {
        EngineOptions {
            model_path,
            n_ctx: 8192,
            // Each role of each conversation in flight keeps its prompt in its own slot:
            // simulator, agent, tracker and its checks for two conversations at once.
            n_seq: 8,
            n_batch: 512,
            n_threads: None,
            kv_reuse: true,
            prefix_store: None,
        }
    }
}

/// Sampling settings of one request.
#[derive(Debug, Clone, Default)]
pub struct GenParams {
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u32,
    pub max_tokens: u32,
    /// GBNF grammar the answer must follow.
    pub grammar: Option<String>,
    /// Candidate answers to score instead of generating: when not empty, nothing is sampled;
    /// each candidate's log-probability after the prompt is computed ([`Generated::scores`])
    /// and the likeliest one is the answer's text.
    pub score: Vec<String>,
}

/// What the model wrote, with its token accounting.
#[derive(Debug, Clone)]
pub struct Generated {
    pub text: String,
    pub prompt_tokens: u32,
    /// Prompt tokens whose KV was already cached (not decoded again).
    pub reused_tokens: u32,
    pub completion_tokens: u32,
    /// Generation stopped at `max_tokens`, not at an end-of-generation token: the text is cut.
    pub hit_limit: bool,
    /// From the engine picking the request up to its first sampled token.
    pub time_to_first_token: Duration,
    pub total: Duration,
    /// Building the grammar sampler and checking tokens against it.
    pub grammar_time: Duration,
    /// Sampled tokens the grammar refused, so the whole vocabulary had to be filtered.
    pub grammar_fallbacks: u32,
    /// For a scoring request ([`GenParams::score`]): each candidate's log-probability (natural
    /// log, summed over its tokens) in the order given; empty otherwise.
    pub scores: Vec<f64>,
}

pub enum Prompt {
    Chat(Layout),
    /// Already rendered text (for benchmarks).
    Text(String),
}

struct Job {
    prompt: Prompt,
    params: GenParams,
    reply: tokio::sync::oneshot::Sender<Result<Generated, String>>,
}

/// Handle to the worker thread. Cheap to share; dropping the last handle stops the worker.
pub struct Engine {
    tx: mpsc::Sender<Job>,
    pub info: ModelInfo,
}

#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub n_params: u64,
    pub n_ctx: u32,
    pub n_seq: u32,
    /// The GGUF's own chat template (`tokenizer.chat_template`), when it carries one.
    pub chat_template: Option<String>,
}

fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| format!("cannot initialise llama.cpp: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

impl Engine {
    /// Loads the model on a new worker thread; returns once it is ready (or failed to load).
    pub fn start(opts: EngineOptions) -> Result<Engine, String> {
        if !opts.model_path.exists() {
            return Err(format!(
                "model file {} does not exist; run the setup command (README) or fix the path",
                opts.model_path.display()
            ));
        }
        let backend = backend()?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<ModelInfo, String>>();
        std::thread::Builder::new()
            .name("ugst-llama".into())
            .spawn(move || worker(backend, opts, rx, ready_tx))
            .map_err(|e| format!("cannot start the model thread: {e}"))?;
        let info = ready_rx
            .recv()
            .map_err(|_| "the model thread died while loading".to_string())??;
        Ok(Engine { tx, info })
    }

    /// Queues a request; the answer arrives on the returned receiver.
    pub fn submit(
        &self,
        prompt: Prompt,
        params: GenParams,
    ) -> tokio::sync::oneshot::Receiver<Result<Generated, String>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if let Err(mpsc::SendError(job)) = self.tx.send(Job {
            prompt,
            params,
            reply,
        }) {
            let _ = job.reply.send(Err("the model thread has stopped".into()));
        }
        rx
    }

    /// Blocking convenience for benchmarks and tests.
    pub fn generate_blocking(
        &self,
        prompt: Prompt,
        params: GenParams,
    ) -> Result<Generated, String> {
        self.submit(prompt, params)
            .blocking_recv()
            .map_err(|_| "the model thread dropped the request".to_string())?
    }
}

struct Active {
    reply: tokio::sync::oneshot::Sender<Result<Generated, String>>,
    /// Tokens still to feed (prompt remainder, then the last sampled token).
    pending: Vec<LlamaToken>,
    prompt_tokens: u32,
    reused: u32,
    generated: Vec<LlamaToken>,
    bytes: Vec<u8>,
    chain: LlamaSampler,
    grammar: Option<LlamaSampler>,
    max_tokens: u32,
    picked_up: Instant,
    first_token: Option<Duration>,
    grammar_time: Duration,
    grammar_fallbacks: u32,
    /// A long system message that the prefix store does not hold yet: where to save the
    /// sequence's cache and after how many tokens. The prompt is fed in two parts split there,
    /// so the rest is decoded exactly as after a load from the store.
    store_to: Option<(PathBuf, usize)>,
}

struct Slot {
    seq: i32,
    /// Tokens whose KV this sequence holds, in order.
    cached: Vec<LlamaToken>,
    active: Option<Active>,
    last_used: u64,
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Renders chat messages with the model's own template; for an opened `user` turn the template is
/// applied to a marker message and cut just before it.
fn render(model: &LlamaModel, layout: &Layout) -> Result<String, String> {
    let tmpl = model
        .chat_template(None)
        .map_err(|e| format!("the model has no chat template: {e}"))?;
    const MARK: &str = "\u{1}UGST_OPEN_TURN\u{1}";
    let mut msgs = Vec::with_capacity(layout.messages.len() + 1);
    for (role, content) in &layout.messages {
        msgs.push(
            LlamaChatMessage::new(role.clone(), content.clone())
                .map_err(|e| format!("bad message: {e}"))?,
        );
    }
    match layout.open {
        Open::Assistant => model
            .apply_chat_template(&tmpl, &msgs, true)
            .map_err(|e| format!("chat template failed: {e}")),
        Open::User => {
            msgs.push(
                LlamaChatMessage::new("user".into(), MARK.into())
                    .map_err(|e| format!("bad message: {e}"))?,
            );
            let text = model
                .apply_chat_template(&tmpl, &msgs, false)
                .map_err(|e| format!("chat template failed: {e}"))?;
            let cut = text
                .find(MARK)
                .ok_or("the chat template dropped the user turn")?;
            Ok(text[..cut].to_string())
        }
    }
}

fn make_chain(p: &GenParams) -> LlamaSampler {
    if p.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    LlamaSampler::chain_simple([
        LlamaSampler::top_k(40),
        LlamaSampler::top_p(if p.top_p > 0.0 { p.top_p } else { 0.95 }, 1),
        LlamaSampler::temp(p.temperature),
        LlamaSampler::dist(p.seed),
    ])
}

fn worker(
    backend: &'static LlamaBackend,
    opts: EngineOptions,
    rx: mpsc::Receiver<Job>,
    ready: mpsc::Sender<Result<ModelInfo, String>>,
) {
    let model =
        match LlamaModel::load_from_file(backend, &opts.model_path, &LlamaModelParams::default()) {
            Ok(m) => m,
            Err(e) => {
                let _ = ready.send(Err(format!(
                    "cannot load {}: {e}",
                    opts.model_path.display()
                )));
                return;
            }
        };
    let threads = opts
        .n_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as i32));
    let n_seq = opts.n_seq.max(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(opts.n_ctx * n_seq))
        .with_n_batch(opts.n_batch)
        .with_n_ubatch(opts.n_batch)
        .with_n_seq_max(n_seq)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "cannot create a context of {} tokens: {e}",
                opts.n_ctx * n_seq
            )));
            return;
        }
    };
    let info = ModelInfo {
        path: opts.model_path.clone(),
        n_params: model.n_params(),
        n_ctx: opts.n_ctx,
        n_seq,
        chat_template: model
            .chat_template(None)
            .ok()
            .and_then(|t| t.to_string().ok()),
    };
    if ready.send(Ok(info)).is_err() {
        return;
    }
    let store = opts
        .prefix_store
        .clone()
        .filter(|_| opts.kv_reuse)
        .and_then(|dir| PrefixStore::new(dir, &opts.model_path));
    let mut slots: Vec<Slot> = (0..n_seq as i32)
        .map(|seq| Slot {
            seq,
            cached: Vec::new(),
            active: None,
            last_used: 0,
        })
        .collect();
    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut batch = LlamaBatch::new(opts.n_batch as usize, n_seq as i32);
    let mut clock = 0u64;
    loop {
        // Intake: block only when there is nothing to do.
        if queue.is_empty() && slots.iter().all(|s| s.active.is_none()) {
            match rx.recv() {
                Ok(job) => queue.push_back(job),
                Err(_) => return,
            }
        }
        while let Ok(job) = rx.try_recv() {
            queue.push_back(job);
        }
        // Assign waiting requests to free slots.
        while !queue.is_empty() && slots.iter().any(|s| s.active.is_none()) {
            let job = queue.pop_front().expect("queue not empty");
            clock += 1;
            assign(
                &model,
                &mut ctx,
                &mut slots,
                job,
                &opts,
                store.as_ref(),
                clock,
            );
        }
        step(
            &model,
            &mut ctx,
            &mut batch,
            &mut slots,
            opts.n_batch as usize,
            store.as_ref(),
        );
    }
}

fn tokenize(model: &LlamaModel, prompt: &Prompt) -> Result<Vec<LlamaToken>, String> {
    let text = match prompt {
        Prompt::Chat(layout) => render(model, layout)?,
        Prompt::Text(t) => t.clone(),
    };
    tracing::trace!(prompt = %text, "rendered prompt");
    let tokens = model.vocab().tokenize(text.as_bytes(), false, true);
    if tokens.is_empty() {
        return Err("the prompt is empty".into());
    }
    Ok(tokens)
}

/// A shared prefix shorter than this is a coincidence of the chat template (every prompt starts
/// `<|im_start|>system\n`), not a conversation to continue.
const MIN_REUSE: usize = 32;

/// The free slot for a prompt: the one sharing the longest prefix with it when that prefix is
/// worth keeping, else the least recently used (an empty slot first). Preferring any prefix at
/// all would send every role's prompt to one slot (they all share the template's first tokens),
/// each overwriting the last, so no call would ever continue from its role's previous one.
fn pick_slot(slots: &[Slot], tokens: &[LlamaToken], kv_reuse: bool) -> usize {
    let free = || slots.iter().enumerate().filter(|(_, s)| s.active.is_none());
    if kv_reuse {
        let best = free()
            .map(|(i, s)| (common_prefix(&s.cached, tokens), i))
            .max_by_key(|(n, i)| (*n, std::cmp::Reverse(*i)));
        if let Some((n, i)) = best {
            if n >= MIN_REUSE.min(tokens.len().saturating_sub(1)).max(1) {
                return i;
            }
        }
    }
    free()
        .min_by_key(|(i, s)| (s.last_used, *i))
        .map(|(i, _)| i)
        .expect("a free slot exists")
}

fn assign(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    slots: &mut [Slot],
    job: Job,
    opts: &EngineOptions,
    store: Option<&PrefixStore>,
    clock: u64,
) {
    let picked_up = Instant::now();
    let tokens = match tokenize(model, &job.prompt) {
        Ok(t) => t,
        Err(e) => {
            let _ = job.reply.send(Err(e));
            return;
        }
    };
    let max_tokens = if job.params.max_tokens == 0 {
        1024
    } else {
        job.params.max_tokens
    };
    if tokens.len() as u32 + 1 >= opts.n_ctx {
        let _ = job.reply.send(Err(format!(
            "the prompt has {} tokens but a sequence holds {}; raise `context` in the model's config",
            tokens.len(),
            opts.n_ctx
        )));
        return;
    }
    let grammar_start = Instant::now();
    let grammar = match &job.params.grammar {
        Some(g) => match LlamaSampler::grammar(model, g, "root") {
            Ok(s) => Some(s),
            Err(e) => {
                let _ = job
                    .reply
                    .send(Err(format!("the answer grammar is invalid: {e}")));
                return;
            }
        },
        None => None,
    };
    let grammar_time = grammar_start.elapsed();
    let idx = pick_slot(slots, &tokens, opts.kv_reuse);
    let slot = &mut slots[idx];
    let mut keep = if opts.kv_reuse {
        common_prefix(&slot.cached, &tokens)
    } else {
        0
    };
    // At least one token must be decoded to get logits.
    keep = keep.min(tokens.len() - 1);
    let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), Some(keep as u32), None);
    slot.cached.truncate(keep);
    slot.last_used = clock;
    // A long system message that this slot does not hold: from the disk store, or saved to it
    // once decoded.
    let mut store_to = None;
    if let Some((path, n_sys)) = store.and_then(|s| stored_prefix(model, s, &job.prompt, &tokens)) {
        if keep < n_sys {
            match load_prefix(ctx, slot, &path, &tokens, opts.n_ctx) {
                Some(k) => keep = k,
                // The slot holds what it held, or nothing after a file that failed to load.
                None => {
                    keep = slot.cached.len();
                    store_to = Some((path, n_sys));
                }
            }
        }
    }
    if !job.params.score.is_empty() {
        let out = score_now(
            model,
            ctx,
            slot,
            &tokens,
            &job.params.score,
            opts.n_batch as usize,
        )
        .map(|(scores, fed)| {
            let best = scores
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            let elapsed = picked_up.elapsed();
            Generated {
                text: job.params.score[best].clone(),
                prompt_tokens: tokens.len() as u32,
                reused_tokens: keep as u32,
                completion_tokens: fed,
                hit_limit: false,
                time_to_first_token: elapsed,
                total: elapsed,
                grammar_time: Duration::ZERO,
                grammar_fallbacks: 0,
                scores,
            }
        });
        let _ = job.reply.send(out);
        return;
    }
    slot.active = Some(Active {
        reply: job.reply,
        pending: tokens[keep..].to_vec(),
        prompt_tokens: tokens.len() as u32,
        reused: keep as u32,
        generated: Vec::new(),
        bytes: Vec::new(),
        chain: make_chain(&job.params),
        grammar,
        max_tokens,
        picked_up,
        first_token: None,
        grammar_time,
        grammar_fallbacks: 0,
        store_to,
    });
}

/// The store's file for the prompt's system message and that message's length in tokens, when
/// the prompt opens with a system message of at least [`prefix_store::MIN_TOKENS`] tokens.
fn stored_prefix(
    model: &LlamaModel,
    store: &PrefixStore,
    prompt: &Prompt,
    tokens: &[LlamaToken],
) -> Option<(PathBuf, usize)> {
    let Prompt::Chat(layout) = prompt else {
        return None;
    };
    let first = layout
        .messages
        .first()
        .filter(|(role, _)| role == "system")?;
    // Cheap bound first: a token is rarely shorter than two characters.
    if first.1.len() < 2 * prefix_store::MIN_TOKENS {
        return None;
    }
    let system = Layout {
        messages: vec![first.clone()],
        open: Open::User,
    };
    let sys = tokenize(model, &Prompt::Chat(system)).ok()?;
    (sys.len() >= prefix_store::MIN_TOKENS && tokens.starts_with(&sys))
        .then(|| (store.path_for(&sys), sys.len()))
}

/// Loads a stored cache into `slot` and cuts it back to what it shares with `tokens` (short of
/// the last token): the tokens now held, or `None` when there is no usable file — the slot is
/// left as it was when there is no file, and empty after a file llama.cpp rejects, which is
/// deleted so that it is rebuilt.
fn load_prefix(
    ctx: &mut LlamaContext,
    slot: &mut Slot,
    path: &std::path::Path,
    tokens: &[LlamaToken],
    n_ctx: u32,
) -> Option<usize> {
    if !path.exists() {
        return None;
    }
    let seq = slot.seq;
    let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
    slot.cached.clear();
    match ctx.state_seq_load_file(path, seq, n_ctx as usize) {
        Ok((loaded, _)) => {
            // At least one token of the prompt is left to decode, for its logits.
            let keep = common_prefix(&loaded, tokens).min(tokens.len() - 1);
            let _ = ctx.clear_kv_cache_seq(Some(seq as u32), Some(keep as u32), None);
            slot.cached = loaded[..keep].to_vec();
            PrefixStore::touch(path);
            tracing::debug!(path = %path.display(), tokens = keep, "KV prefix loaded from disk");
            Some(keep)
        }
        Err(e) => {
            tracing::debug!(path = %path.display(), "KV prefix not loadable ({e}); rebuilding it");
            let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Saves sequence `seq`'s cache (a system message, just decoded: `cached`) to `path` through a
/// temporary file.
fn save_prefix(
    ctx: &LlamaContext,
    seq: i32,
    cached: &[LlamaToken],
    path: &std::path::Path,
    store: &PrefixStore,
) {
    let Some(tmp) = store.prepare(path) else {
        return;
    };
    match ctx.state_seq_save_file(&tmp, seq, cached) {
        Ok(_) => {
            let _ = std::fs::rename(&tmp, path);
        }
        Err(e) => {
            tracing::debug!(path = %path.display(), "KV prefix not saved: {e}");
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Tokens of a continuation (no BOS, special tokens not parsed: an answer's text is plain text).
fn tokenize_piece(model: &LlamaModel, text: &str) -> Vec<LlamaToken> {
    model.vocab().tokenize(text.as_bytes(), false, false)
}

/// `ln softmax(logits)[token]`.
fn log_prob(logits: &[f32], token: LlamaToken) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|l| f64::from(l - max).exp()).sum();
    let t = usize::try_from(token.0).unwrap_or(usize::MAX);
    logits
        .get(t)
        .map_or(f64::NEG_INFINITY, |l| f64::from(l - max) - sum.ln())
}

/// How many leading tokens all candidates share, leaving every one at least one token of its own
/// (none when fewer than two candidates have tokens).
fn shared_start(toks: &[Vec<LlamaToken>]) -> usize {
    let nonempty: Vec<&Vec<LlamaToken>> = toks.iter().filter(|t| !t.is_empty()).collect();
    if nonempty.len() < 2 || nonempty.len() < toks.len() {
        return 0;
    }
    let first = nonempty[0];
    let common = (0..first.len())
        .take_while(|&k| nonempty.iter().all(|t| t.get(k) == Some(&first[k])))
        .count();
    let shortest = nonempty.iter().map(|t| t.len()).min().unwrap_or(0);
    common.min(shortest.saturating_sub(1))
}

/// Feeds `tokens` to sequence `seq` from position `first`, `n_batch` at a time, calling
/// `row(k, logits)` for every token `k` whose logits `want(k)` asks for.
fn feed(
    ctx: &mut LlamaContext,
    batch: &mut LlamaBatch,
    n_batch: usize,
    seq: i32,
    (tokens, first): (&[LlamaToken], usize),
    want: impl Fn(usize) -> bool,
    mut row: impl FnMut(usize, &[f32]),
) -> Result<(), String> {
    for (c, chunk) in tokens.chunks(n_batch).enumerate() {
        batch.clear();
        for (k, t) in chunk.iter().enumerate() {
            let at = c * n_batch + k;
            batch
                .add(*t, (first + at) as i32, &[seq], want(at))
                .map_err(|e| e.to_string())?;
        }
        ctx.decode(batch).map_err(|e| e.to_string())?;
        for k in (0..chunk.len()).filter(|k| want(c * n_batch + k)) {
            row(c * n_batch + k, ctx.get_logits_ith(k as i32));
        }
    }
    Ok(())
}

/// Scores candidate continuations of `tokens` on `slot` at once (between decode steps of the
/// other slots, which keep their caches): decodes the prompt's uncached part, then each
/// candidate teacher-forced (the tokens all candidates start with once), summing the
/// log-probabilities of its tokens. Returns the scores and the number of candidate tokens fed.
/// The slot keeps the prompt cached (the candidates are cut off again), so the next call on the
/// same prompt start decodes only what is new; after a failed decode it holds nothing.
fn score_now(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    slot: &mut Slot,
    tokens: &[LlamaToken],
    candidates: &[String],
    n_batch: usize,
) -> Result<(Vec<f64>, u32), String> {
    let seq = slot.seq;
    let scored = score_all(model, ctx, slot, tokens, candidates, n_batch);
    if scored.is_err() {
        let _ = ctx.clear_kv_cache_seq(Some(seq as u32), None, None);
        slot.cached.clear();
    }
    scored.map_err(|e| format!("llama.cpp decode failed while scoring: {e}"))
}

fn score_all(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    slot: &mut Slot,
    tokens: &[LlamaToken],
    candidates: &[String],
    n_batch: usize,
) -> Result<(Vec<f64>, u32), String> {
    let (seq, start, p) = (slot.seq, slot.cached.len(), tokens.len());
    let mut batch = LlamaBatch::new(n_batch, 1);
    // The prompt: logits only at its last token.
    let mut last_logits: Vec<f32> = Vec::new();
    let new = &tokens[start..];
    feed(
        ctx,
        &mut batch,
        n_batch,
        seq,
        (new, start),
        |k| k + 1 == new.len(),
        |_, logits| last_logits = logits.to_vec(),
    )?;
    slot.cached.extend_from_slice(new);
    let toks: Vec<Vec<LlamaToken>> = candidates
        .iter()
        .map(|c| tokenize_piece(model, c))
        .collect();
    // The tokens every candidate starts with (`{"answer": "` and often more) are decoded once;
    // each candidate keeps at least its last token of its own.
    let shared = shared_start(&toks);
    let mut fed = shared as u32;
    let (mut shared_lp, mut branch) = (0.0, last_logits);
    if shared > 0 {
        let first = &toks[0][..shared];
        shared_lp = log_prob(&branch, first[0]);
        let mut last_row = Vec::new();
        let result = feed(
            ctx,
            &mut batch,
            n_batch,
            seq,
            (first, p),
            |_| true,
            |k, logits| {
                if k + 1 < first.len() {
                    shared_lp += log_prob(logits, first[k + 1]);
                } else {
                    last_row = logits.to_vec();
                }
            },
        );
        // On a failed decode, `score_now` clears the whole sequence.
        result?;
        branch = last_row;
    }
    let at = p + shared;
    let mut scores = Vec::with_capacity(candidates.len());
    for toks in &toks {
        let Some(own) = toks.get(shared..).filter(|t| !t.is_empty()) else {
            scores.push(0.0);
            continue;
        };
        fed += own.len() as u32;
        let mut lp = shared_lp + log_prob(&branch, own[0]);
        // Feed every own token but the last; each row predicts the next one.
        let result = feed(
            ctx,
            &mut batch,
            n_batch,
            seq,
            (&own[..own.len() - 1], at),
            |_| true,
            |k, logits| lp += log_prob(logits, own[k + 1]),
        );
        // Back to the shared start alone for the next candidate.
        let _ = ctx.clear_kv_cache_seq(Some(seq as u32), Some(at as u32), None);
        result?;
        scores.push(lp);
    }
    // The slot keeps the prompt alone.
    let _ = ctx.clear_kv_cache_seq(Some(seq as u32), Some(p as u32), None);
    Ok((scores, fed))
}

/// One decode call over every active slot, then sampling for the slots that reached a logit.
fn step(
    model: &LlamaModel,
    ctx: &mut LlamaContext,
    batch: &mut LlamaBatch,
    slots: &mut [Slot],
    n_batch: usize,
    store: Option<&PrefixStore>,
) {
    batch.clear();
    // (slot index, tokens fed, batch index of the logits row)
    let mut fed: Vec<(usize, usize, Option<i32>)> = Vec::new();
    let mut used = 0usize;
    // Generating slots first (one token each), so long prompts never stall them.
    let mut order: Vec<usize> = (0..slots.len())
        .filter(|i| slots[*i].active.is_some())
        .collect();
    order.sort_by_key(|i| {
        slots[*i]
            .active
            .as_ref()
            .map_or(usize::MAX, |a| a.pending.len())
    });
    for i in order {
        let slot = &slots[i];
        let a = slot.active.as_ref().expect("active");
        let room = n_batch - used;
        if room == 0 {
            break;
        }
        let mut take = a.pending.len().min(room);
        if let Some((_, n_sys)) = &a.store_to {
            if slot.cached.len() < *n_sys {
                take = take.min(n_sys - slot.cached.len());
            }
        }
        let last = take == a.pending.len();
        let base = slot.cached.len();
        let mut logits_at = None;
        for (k, tok) in a.pending[..take].iter().enumerate() {
            let want = last && k + 1 == take;
            if batch
                .add(*tok, (base + k) as i32, &[slot.seq], want)
                .is_err()
            {
                break;
            }
            if want {
                logits_at = Some((used + k) as i32);
            }
        }
        used += take;
        fed.push((i, take, logits_at));
    }
    if fed.is_empty() {
        return;
    }
    if let Err(e) = ctx.decode(batch) {
        for (i, _, _) in fed {
            let slot = &mut slots[i];
            if let Some(a) = slot.active.take() {
                let _ = a.reply.send(Err(format!("llama.cpp decode failed: {e}")));
            }
            let _ = ctx.clear_kv_cache_seq(Some(slot.seq as u32), None, None);
            slot.cached.clear();
        }
        return;
    }
    let vocab = model.vocab();
    for (i, take, logits_at) in fed {
        let slot = &mut slots[i];
        let a = slot.active.as_mut().expect("active");
        slot.cached.extend(a.pending.drain(..take));
        // The system message just decoded in full: into the store (only set when there is one).
        if let Some((path, _)) = a.store_to.take_if(|(_, n)| slot.cached.len() == *n) {
            if let Some(store) = store {
                save_prefix(ctx, slot.seq, &slot.cached, &path, store);
            }
        }
        let Some(idx) = logits_at else { continue };
        let token = match sample(ctx, a, idx) {
            Ok(t) => t,
            Err(e) => {
                let a = slot.active.take().expect("active");
                let _ = a.reply.send(Err(e));
                // The slot's cache holds the prompt and what was generated: still consistent.
                continue;
            }
        };
        if a.first_token.is_none() {
            a.first_token = Some(a.picked_up.elapsed());
        }
        let eog = vocab.is_eog(token);
        let done = eog || a.generated.len() as u32 + 1 >= a.max_tokens;
        if !eog {
            a.generated.push(token);
            a.bytes.extend(vocab.token_to_piece(token, false, None));
            a.pending.push(token);
        }
        if done {
            let a = slot.active.take().expect("active");
            // A token sampled at the very end was never fed, so the cache stays consistent.
            let out = Generated {
                text: String::from_utf8_lossy(&a.bytes).into_owned(),
                prompt_tokens: a.prompt_tokens,
                reused_tokens: a.reused,
                completion_tokens: a.generated.len() as u32,
                hit_limit: !eog,
                time_to_first_token: a.first_token.unwrap_or_default(),
                total: a.picked_up.elapsed(),
                grammar_time: a.grammar_time,
                grammar_fallbacks: a.grammar_fallbacks,
                scores: Vec::new(),
            };
            let _ = a.reply.send(Ok(out));
        }
    }
}

/// Sample first, check the one token against the grammar, and filter the whole vocabulary through
/// the grammar only when that token is refused. `Err` when the grammar allows no token at all: the
/// token is then never handed to the grammar, since llama.cpp's core aborts on a refused token.
fn sample(ctx: &LlamaContext, a: &mut Active, idx: i32) -> Result<LlamaToken, String> {
    let token = a.chain.sample(ctx, idx);
    let Some(grammar) = a.grammar.as_mut() else {
        return Ok(token);
    };
    let start = Instant::now();
    let mut one = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
    grammar.apply(&mut one);
    let token = if one.data[0].logit().is_finite() {
        token
    } else {
        a.grammar_fallbacks += 1;
        let mut all = ctx.token_data_array_ith(idx);
        grammar.apply(&mut all);
        let allowed = |all: &LlamaTokenDataArray, t: LlamaToken| {
            all.data
                .iter()
                .any(|d| d.id() == t && d.logit().is_finite())
        };
        let best = all
            .data
            .iter()
            .filter(|d| d.logit().is_finite())
            .max_by(|x, y| x.logit().total_cmp(&y.logit()))
            .map(|d| d.id());
        let Some(best) = best else {
            a.grammar_time += start.elapsed();
            return Err(
                "the answer grammar allows no next token (the schema cannot be completed with this model's vocabulary)"
                    .into(),
            );
        };
        let filtered = all.clone();
        a.chain.apply(&mut all);
        match all.selected_token() {
            Some(t) if allowed(&filtered, t) => t,
            _ => best,
        }
    };
    grammar.accept(token);
    a.grammar_time += start.elapsed();
    Ok(token)
}

/// Timings of [`plain_generate`].
#[derive(Debug, Clone)]
pub struct PlainTimings {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub prompt_time: Duration,
    pub generation_time: Duration,
}

/// A plain single-sequence decode loop over the same model (its own context, greedy, no batching,
/// no reuse): the baseline `ugst bench embedded` compares the engine against.
pub fn plain_generate(
    path: &std::path::Path,
    prompt: &str,
    max_tokens: u32,
    n_ctx: u32,
) -> Result<PlainTimings, String> {
    let backend = backend()?;
    let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() as i32);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model
        .new_context(backend, params)
        .map_err(|e| format!("cannot create a context: {e}"))?;
    let tokens = model.vocab().tokenize(prompt.as_bytes(), false, true);
    let mut batch = LlamaBatch::new(512, 1);
    let start = Instant::now();
    for (c, chunk) in tokens.chunks(512).enumerate() {
        batch.clear();
        for (k, t) in chunk.iter().enumerate() {
            let pos = c * 512 + k;
            batch
                .add(*t, pos as i32, &[0], pos + 1 == tokens.len())
                .map_err(|e| e.to_string())?;
        }
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
    }
    let mut sampler = LlamaSampler::greedy();
    let mut token = sampler.sample(&ctx, batch.n_tokens() - 1);
    let prompt_time = start.elapsed();
    let vocab = model.vocab();
    let mut n = 0u32;
    let gen_start = Instant::now();
    while n < max_tokens && !vocab.is_eog(token) {
        n += 1;
        batch.clear();
        batch
            .add(token, (tokens.len() + n as usize - 1) as i32, &[0], true)
            .map_err(|e| e.to_string())?;
        ctx.decode(&mut batch).map_err(|e| e.to_string())?;
        token = sampler.sample(&ctx, 0);
    }
    Ok(PlainTimings {
        prompt_tokens: tokens.len() as u32,
        completion_tokens: n,
        prompt_time,
        generation_time: gen_start.elapsed(),
    })
}

/// Renders a chat layout with the model's template (for benchmarks that need the exact text).
pub fn render_with(engine_model: &std::path::Path, layout: &Layout) -> Result<String, String> {
    let backend = backend()?;
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model =
        LlamaModel::load_from_file(backend, engine_model, &params).map_err(|e| e.to_string())?;
    render(&model, layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(seq: i32, tokens: &[i32], last_used: u64) -> Slot {
        Slot {
            seq,
            cached: tokens.iter().map(|t| LlamaToken::new(*t)).collect(),
            active: None,
            last_used,
        }
    }

    fn toks(range: std::ops::Range<i32>) -> Vec<i32> {
        range.collect()
    }

    #[test]
    fn candidates_share_their_common_start_but_keep_a_token_of_their_own() {
        let t = |v: &[i32]| v.iter().map(|x| LlamaToken(*x)).collect::<Vec<_>>();
        assert_eq!(shared_start(&[t(&[1, 2, 3, 4]), t(&[1, 2, 5])]), 2);
        // One candidate is the start of the other: it keeps its last token.
        assert_eq!(shared_start(&[t(&[1, 2]), t(&[1, 2, 3])]), 1);
        assert_eq!(shared_start(&[t(&[7, 2]), t(&[1, 2])]), 0);
        // One candidate alone, or an empty one, shares nothing.
        assert_eq!(shared_start(&[t(&[1, 2, 3])]), 0);
        assert_eq!(shared_start(&[t(&[1, 2]), t(&[])]), 0);
    }

    #[test]
    fn a_role_continues_in_its_own_slot_and_a_new_prompt_takes_a_free_one() {
        // Every prompt starts with the same three template tokens.
        let header = [1, 2, 3];
        let sim: Vec<i32> = header.iter().copied().chain(toks(100..160)).collect();
        let slots = vec![slot(0, &sim, 5), slot(1, &[], 0), slot(2, &header, 3)];
        let tokens =
            |v: &[i32]| -> Vec<LlamaToken> { v.iter().map(|t| LlamaToken::new(*t)).collect() };
        // The simulator's next prompt continues its slot.
        let next: Vec<i32> = sim.iter().copied().chain(toks(500..520)).collect();
        assert_eq!(pick_slot(&slots, &tokens(&next), true), 0);
        // Another role's prompt shares only the header: it takes the empty slot, and does not
        // overwrite the simulator's.
        let agent: Vec<i32> = header.iter().copied().chain(toks(900..1000)).collect();
        assert_eq!(pick_slot(&slots, &tokens(&agent), true), 1);
        // Without reuse, or with no empty slot, the least recently used goes.
        assert_eq!(pick_slot(&slots, &tokens(&next), false), 1);
        let full = vec![slot(0, &sim, 5), slot(1, &header, 4), slot(2, &header, 3)];
        assert_eq!(pick_slot(&full, &tokens(&agent), true), 2);
    }
}
