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

impl InputError {
    /// Every problem found in one input, as one error (a line each): the first 20 listed, the
    /// rest counted. `Ok` when there is none.
    pub fn all(mut problems: Vec<String>) -> Result<(), InputError> {
        const MAX_REPORTED: usize = 20;
        if problems.is_empty() {
            return Ok(());
        }
        let extra = problems.len().saturating_sub(MAX_REPORTED);
        problems.truncate(MAX_REPORTED);
        if extra > 0 {
            problems.push(format!("… and {extra} more problem(s)"));
        }
        Err(InputError::new(problems.join("\n")))
    }
}

/// Shorthand for returning an [`InputError`] wrapped in `anyhow`.
#[macro_export]
macro_rules! input_err {
    ($($arg:tt)*) => { anyhow::Error::new($crate::error::InputError(format!($($arg)*))) };
}
