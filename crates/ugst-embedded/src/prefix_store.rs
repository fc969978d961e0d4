//! Long system prompts' KV cache on disk, shared between processes. A tool-using agent's system
//! message (τ-bench's policy and tool list: ≈ 3 300 tokens) is the same in every conversation of
//! an environment, and every new process used to decode it again before its first answer (about a
//! minute on 2 cores). The engine saves a sequence's cache once such a prompt has been decoded,
//! and a later process loads it instead of decoding the system message.
//!
//! Entries are keyed by the model file (name, size, modification time) and the exact tokens of the
//! system message, so a different model or prompt never loads a foreign cache; a file llama.cpp
//! cannot load is deleted and rebuilt. At most [`MAX_ENTRIES`] files are kept, the least recently
//! used going first. `UGST_NO_KV_STORE=1` turns the store off.

use llama_cpp_2::token::LlamaToken;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A system message shorter than this is cheaper to decode than to load from disk.
pub const MIN_TOKENS: usize = 1024;

/// Files kept in the store (each holds one prompt's keys and values: ≈ 28 KB per token for the
/// 1.5B model, ≈ 100 MB for a τ-bench agent's prompt).
pub const MAX_ENTRIES: usize = 8;

#[derive(Debug, Clone)]
pub struct PrefixStore {
    dir: PathBuf,
    model_tag: String,
}

impl PrefixStore {
    /// The store in `dir` for the model at `model`; `None` when turned off or the model file
    /// cannot be read.
    pub fn new(dir: PathBuf, model: &Path) -> Option<PrefixStore> {
        if std::env::var("UGST_NO_KV_STORE").is_ok_and(|v| !v.is_empty() && v != "0") {
            return None;
        }
        let meta = std::fs::metadata(model).ok()?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let name = model.file_name()?.to_string_lossy();
        Some(PrefixStore {
            dir,
            model_tag: format!("{name}:{}:{modified}", meta.len()),
        })
    }

    /// The file for a system message of these tokens.
    pub fn path_for(&self, prefix: &[LlamaToken]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(self.model_tag.as_bytes());
        for t in prefix {
            h.update(t.0.to_le_bytes());
        }
        self.dir
            .join(format!("{}.kv", hex::encode(&h.finalize()[..16])))
    }

    /// Marks an entry as just used (for eviction).
    pub fn touch(path: &Path) {
        if let Ok(f) = std::fs::File::options().append(true).open(path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// A temporary file next to `path` to write into before renaming, and room for it: the
    /// least recently used entries beyond [`MAX_ENTRIES`] − 1 are deleted.
    pub fn prepare(&self, path: &Path) -> Option<PathBuf> {
        std::fs::create_dir_all(&self.dir).ok()?;
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "kv"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        entries.sort();
        let excess = entries.len().saturating_sub(MAX_ENTRIES - 1);
        for (_, old) in entries.into_iter().take(excess) {
            let _ = std::fs::remove_file(old);
        }
        Some(path.with_extension(format!("kv.{}.tmp", std::process::id())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_model_and_by_prompt_and_the_store_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (m1, m2) = (dir.path().join("a.gguf"), dir.path().join("b.gguf"));
        std::fs::write(&m1, b"model one").unwrap();
        std::fs::write(&m2, b"model two!").unwrap();
        let store = dir.path().join("kv");
        let (s1, s2) = (
            PrefixStore::new(store.clone(), &m1).unwrap(),
            PrefixStore::new(store.clone(), &m2).unwrap(),
        );
        let p = [LlamaToken(1), LlamaToken(2)];
        let q = [LlamaToken(1), LlamaToken(3)];
        assert_eq!(s1.path_for(&p), s1.path_for(&p));
        assert_ne!(s1.path_for(&p), s1.path_for(&q));
        assert_ne!(s1.path_for(&p), s2.path_for(&p));
        for i in 0..MAX_ENTRIES + 3 {
            let path = s1.path_for(&[LlamaToken(i as i32)]);
            let tmp = s1.prepare(&path).unwrap();
            std::fs::write(&tmp, b"kv").unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        }
        let n = std::fs::read_dir(&store).unwrap().count();
        assert_eq!(n, MAX_ENTRIES);
    }
}
