//! Manual probe: `cargo run -p ugst-embedded --example gen -- MODEL.gguf [schema.json]`.
use std::path::PathBuf;
use ugst_embedded::chat::{Layout, Open};
use ugst_embedded::engine::{Engine, EngineOptions, GenParams, Prompt};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("model path"));
    let schema = args.next().map(|p| std::fs::read_to_string(p).unwrap());
    let prompt = args.next().unwrap_or_else(|| "Split this goal into parts as JSON: You are Ana. You want to book a hotel for 2 nights. You prefer cheap.".into());
    let engine = Engine::start(EngineOptions::new(path)).unwrap();
    let grammar = schema.map(|s| {
        ugst_embedded::grammar::schema_to_gbnf(&serde_json::from_str(&s).unwrap()).unwrap()
    });
    if let Some(g) = &grammar {
        eprintln!("grammar:\n{g}");
    }
    let layout = Layout {
        messages: vec![("user".into(), prompt)],
        open: Open::Assistant,
    };
    let t = std::time::Instant::now();
    let out = engine
        .generate_blocking(
            Prompt::Chat(layout),
            GenParams {
                temperature: 0.0,
                top_p: 0.95,
                seed: 0,
                max_tokens: 300,
                grammar,
                score: Vec::new(),
            },
        )
        .unwrap();
    println!(
        "{}\n---\n{:?} prompt={} gen={} ttft={:?}",
        out.text,
        t.elapsed(),
        out.prompt_tokens,
        out.completion_tokens,
        out.time_to_first_token
    );
}
