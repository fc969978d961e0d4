//! `ugst report` end to end: two mock runs, the HTML report, and the report opened in headless
//! Chromium (Debian `chromium`; `scripts/deps.sh --browser` installs it) to check that the
//! comparison table and a conversation render with no script or console errors.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use ugst_mock::Faults;

/// The browser: `$UGST_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("UGST_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if o.status.success() && !p.is_empty() {
                return PathBuf::from(p);
            }
        }
    }
    panic!(
        "this test opens the report in headless Chromium and none was found: run \
         `bash scripts/deps.sh --browser` (installs the Debian package `chromium`) or set \
         UGST_CHROMIUM to a Chromium binary"
    );
}

/// The DOM after the page's scripts ran, and the browser's log lines that carry console output.
fn open(page: &Path, fragment: &str, profile: &Path) -> (String, Vec<String>) {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}{fragment}", page.display()))
        .output()
        .expect("cannot start Chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "Chromium failed: {stderr}");
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).to_string(), console)
}

#[test]
fn report_renders_table_and_conversations_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let url = start_mock(Faults::default());
    let cfg = write_config(dir.path(), &url, "");
    let goals = demo_goals(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for (run, mode) in [(&a, "prompt"), (&b, "goal-state")] {
        run_cmd(
            &["--quiet", "--max-turns", "4", "--mode", mode],
            &cfg,
            Some(&goals),
            run,
        )
        .assert()
        .success();
    }
    let page = dir.path().join("report.html");
    let o = ugst()
        .arg("report")
        .arg(&a)
        .arg(&b)
        .args(["--label", "plain prompt", "--label", "state-steered"])
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "the report must be self-contained"
    );

    // The second run's third conversation, straight from the store, is what the browser must show.
    let store = ugst::store::RunStore::open(&b).unwrap();
    let convs = store.conversations().unwrap();
    let shown = &convs[2];
    let (dom, console) = open(&page, "#conv=1/2", &dir.path().join("profile"));
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(!dom.contains("data-error"), "a script failed: {dom}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the scripts did not finish"
    );

    // The comparison table: one row per run, labels as given, best cells marked.
    let table = section(&dom, "id=\"alignment-table\"", "</table>");
    assert_eq!(table.matches("<tr>").count(), 3, "header + 2 runs: {table}");
    assert!(table.contains("plain prompt") && table.contains("state-steered"));
    assert!(table.contains("class=\"best\""), "{table}");

    // The conversation: its goal, every turn's user message, the goal state beside each turn.
    let view = section(&dom, "id=\"conv-view\"", "</section>");
    assert!(view.contains(&shown.goal.id), "{view}");
    for t in &shown.turns {
        assert!(
            view.contains(&format!("data-turn=\"{}\"", t.index)),
            "turn {} is missing",
            t.index
        );
        let first_words: String = t.user.chars().take(30).collect();
        assert!(
            view.contains(&html_escape(&first_words)),
            "turn {}'s user message is missing: {first_words}",
            t.index
        );
    }
    let items = shown.turns.len() * shown.turns[0].state.components.len();
    assert!(
        view.matches("<details class=\"comp").count() >= items,
        "a goal state beside every turn"
    );
    assert!(
        view.contains("comp success changed") || view.contains("comp fail changed"),
        "status changes are highlighted"
    );
    // The conversation list holds every conversation of the run.
    let list = section(&dom, "id=\"conv-list\"", "id=\"conv-view\"");
    assert_eq!(list.matches("class=\"item").count(), convs.len());
}

fn section<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let i = dom
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in the page"));
    let rest = &dom[i..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
