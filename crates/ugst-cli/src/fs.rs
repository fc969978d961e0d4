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

/// Writes `text` to `path` atomically: a new temporary file beside it (a random name opened
/// with O_EXCL, so a planted symlink is never followed), synced to disk, then renamed into
/// place (review finding 19: a fixed `.partial` name, no fsync).
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d,
        None => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".ugst-")
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_lands_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out/report.txt");
        write_file(&target, "first").unwrap();
        write_file(&target, "second").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "second");
        let left: Vec<_> = std::fs::read_dir(target.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        // The old fixed temporary name, planted as a symlink, is never written through.
        #[cfg(unix)]
        {
            let victim = dir.path().join("victim.txt");
            std::fs::write(&victim, "keep").unwrap();
            let planted = dir.path().join("out/report.txt.partial");
            std::os::unix::fs::symlink(&victim, &planted).unwrap();
            write_file(&target, "third").unwrap();
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "third");
        }
    }
}
