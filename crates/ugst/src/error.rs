//! Error kinds the binary maps to exit codes: bad input (exit 2) versus everything else (exit 1).

/// A problem with what the user gave us (a file, a flag, a config value). The message names the
/// place and says how to fix it. The binary exits with code 2 on these.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl InputError {
    pub fn new(msg: impl Into<String>) -> Self {
        InputError(msg.into())
    }
}

/// Shorthand for returning an [`InputError`] wrapped in `anyhow`.
#[macro_export]
macro_rules! input_err {
    ($($arg:tt)*) => { anyhow::Error::new($crate::error::InputError(format!($($arg)*))) };
}
