//! Progress on the terminal: [`Bar`] implements the library's [`Progress`] with an indicatif bar
//! on stderr (hidden with `--quiet` or when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;
use ugst::progress::{Progress, Quiet};

/// A progress bar that is (re)drawn for each piece of work.
pub struct Bar {
    bar: Mutex<ProgressBar>,
}

impl Bar {
    pub fn new() -> Bar {
        Bar {
            bar: Mutex::new(ProgressBar::hidden()),
        }
    }
    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        f(&self.bar.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&self, total: usize, what: &str) {
        let pb = ProgressBar::new(total as u64);
        pb.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}}) {{msg}}"
            ))
            .expect("valid progress template"),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        *self.bar.lock().unwrap_or_else(|p| p.into_inner()) = pb;
    }
    fn advance(&self, n: u64) {
        self.with(|b| b.inc(n))
    }
    fn status(&self, msg: String) {
        self.with(|b| b.set_message(msg))
    }
    fn finish(&self) {
        self.with(|b| b.finish_and_clear())
    }
    fn note(&self, line: &str) {
        self.with(|b| b.suspend(|| eprintln!("{line}")))
    }
}

/// A bar, or nothing with `quiet`.
pub fn terminal(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Quiet)
    } else {
        Box::new(Bar::new())
    }
}
