//! MTLD and HD-D against the reference implementation in the PyPI package `lexicalrichness`
//! (pinned; installed by this test with pip into Cargo's test scratch folder on first use).
//! Both sides see the same token lists, so only the measures are compared: our tokenisation is
//! documented in `evaluate::diversity` and differs from the package's own (it keeps digits and
//! apostrophes).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use ugst::evaluate::diversity::{hdd, mtld, tokens};

const PACKAGE: &str = "lexicalrichness==0.5.1";

/// The folder holding `lexicalrichness` and its dependencies, installed when missing.
fn reference() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("py-lexicalrichness-0.5.1");
    if dir.join("lexicalrichness").is_dir() && dir.join(".complete").exists() {
        return dir;
    }
    let o = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--target")
        .arg(&dir)
        .arg(PACKAGE)
        .output()
        .expect("python3 is needed to install the reference package (scripts/deps.sh installs it)");
    assert!(
        o.status.success(),
        "cannot install {PACKAGE} from PyPI into {}: {}",
        dir.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(dir.join(".complete"), PACKAGE).unwrap();
    dir
}

const SCRIPT: &str = r#"
import json, sys
from lexicalrichness import LexicalRichness
out = []
for toks in json.load(sys.stdin):
    lr = LexicalRichness(toks, preprocessor=None, tokenizer=None)
    out.append([lr.mtld(threshold=0.72), lr.hdd(draws=42) if len(toks) >= 42 else None])
json.dump(out, sys.stdout)
"#;

/// A seeded stream of words drawn from a skewed vocabulary, so factors of every length occur.
fn skewed(n: usize, vocab: usize, seed: u64) -> Vec<String> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((x >> 33) as f64) / (1u64 << 31) as f64;
            // Squaring skews the draw towards the first words of the vocabulary.
            format!("w{}", (u * u * vocab as f64) as usize)
        })
        .collect()
}

#[test]
fn mtld_and_hdd_match_lexicalrichness() {
    let texts = [
        "Hi, I'd like to book a table for two at an Italian place in the centre tonight.",
        "I need a hotel in the north with free parking. It doesn't need to have free wifi, but \
         I'd prefer a guesthouse. Actually, could you check the price first? I'm travelling \
         for work, so the price matters a lot, and I can't pay more than I said. Thanks, that's \
         all for the hotel; now I need a train to London on Friday, leaving after 9am.",
        "yes yes yes no no yes maybe yes no",
        "one two three four five six",
    ];
    let mut streams: Vec<Vec<String>> = texts.iter().map(|t| tokens(t)).collect();
    streams.push(skewed(500, 60, 7));
    streams.push(skewed(2_000, 400, 11));
    streams.push(skewed(43, 10, 3));
    streams.push(skewed(3_000, 1_000, 5));

    let dir = reference();
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("PYTHONPATH", &dir)
        .env("MPLBACKEND", "Agg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &streams).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the reference failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let want: Vec<(f64, Option<f64>)> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(want.len(), streams.len());
    for (i, (toks, (m, h))) in streams.iter().zip(&want).enumerate() {
        let ours = mtld(toks).unwrap();
        assert!(
            (ours - m).abs() < 1e-6,
            "text {i} ({} tokens): MTLD {ours} vs lexicalrichness {m}",
            toks.len()
        );
        match (hdd(toks), h) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() < 1e-6,
                "text {i} ({} tokens): HD-D {a} vs lexicalrichness {b}",
                toks.len()
            ),
            (None, None) => {}
            (a, b) => panic!("text {i}: HD-D {a:?} vs lexicalrichness {b:?}"),
        }
    }
}
