//! Where the tests find `shared/data`: `$UGST_SHARED_DATA`, else beside the repository.

use std::path::PathBuf;

pub fn shared_data() -> PathBuf {
    match std::env::var_os("UGST_SHARED_DATA") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}
