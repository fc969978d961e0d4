//! How long work tells its caller where it stands. The library reports through [`Progress`] and
//! never prints; the command line implements it with progress bars, tests and servers use
//! [`Quiet`].

/// A sink for progress of one piece of work (a batch of conversations, goals, judge calls).
pub trait Progress: Send + Sync {
    /// Work of `total` items called `what` begins.
    fn start(&self, _total: usize, _what: &str) {}
    /// `n` more items are done.
    fn advance(&self, _n: u64) {}
    /// A short status beside the bar (e.g. how many failed so far).
    fn status(&self, _msg: String) {}
    /// The work is over; clear what was shown.
    fn finish(&self) {}
    /// A line worth showing the user (what is about to happen, a warning).
    fn note(&self, _line: &str) {}
}

/// Reports nothing.
pub struct Quiet;

impl Progress for Quiet {}
