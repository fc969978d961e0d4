//! Writing the files a command produces: beside the target, then renamed into place, so a
//! failed write never leaves half a file; and never over a user's file without `--force`.

use anyhow::{Context, Result};
use std::path::Path;

/// Refuses an output path that already exists unless `force`: a user's run, export, report or
/// goal file is never replaced by accident. Called before the work that produces the file.
pub fn may_write(paths: &[&Path], force: bool) -> Result<()> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) if !force => Err(ugst::input_err!(
            "{} already exists; pass --force to replace it, or choose another path",
            p.display()
        )),
        _ => Ok(()),
    }
}

/// Writes `text` to `path` atomically (a temporary file beside it, then a rename).
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
