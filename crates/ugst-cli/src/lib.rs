//! The `ugst` command line as a library: argument types ([`args`]), the composition root that
//! turns `[models.*]` tables into backends ([`backends`]), the terminal's progress bars
//! ([`progress`]), atomic file writes ([`fs`]), one module per command ([`commands`]) and the
//! benchmarks ([`bench`]). The binary (`main.rs`) only parses and dispatches.

pub mod args;
pub mod backends;
pub mod bench;
pub mod commands;
pub mod fs;
pub mod progress;
