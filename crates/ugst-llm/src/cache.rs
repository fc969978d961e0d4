//! SQLite response cache keyed by a content hash of (model identity, request); the identity is
//! what [`crate::Backend::cache_identity`] says identifies the weights and the settings that
//! shape the answer to that request.
//!
//! Only answers that passed validation are stored, so a cached answer is always usable.

use crate::{ChatRequest, ChatResponse, LlmError};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;

pub struct Cache {
    conn: Option<Mutex<Connection>>,
}

impl Cache {
    /// Opens (or creates) the cache database at `path`.
    pub fn open(path: &Path) -> Result<Cache, LlmError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| LlmError::Cache(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| LlmError::Cache(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn, &path.display().to_string())
    }

    /// A cache that lives only as long as the process.
    pub fn in_memory() -> Cache {
        Self::init(
            Connection::open_in_memory().expect("in-memory sqlite"),
            ":memory:",
        )
        .expect("in-memory cache schema")
    }

    /// A cache that never hits.
    pub fn disabled() -> Cache {
        Cache { conn: None }
    }

    fn init(conn: Connection, name: &str) -> Result<Cache, LlmError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .and_then(|_| {
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn.execute_batch(
                    "CREATE TABLE IF NOT EXISTS responses (
                        key TEXT PRIMARY KEY,
                        response TEXT NOT NULL,
                        created INTEGER NOT NULL
                    )",
                )
            })
            .map_err(|e| LlmError::Cache(format!("cannot prepare {name}: {e}")))?;
        Ok(Cache {
            conn: Some(Mutex::new(conn)),
        })
    }

    /// The content hash of one call.
    pub fn key(identity: &str, req: &ChatRequest) -> String {
        let payload = serde_json::json!({"identity": identity, "request": req});
        hex::encode(Sha256::digest(payload.to_string().as_bytes()))
    }

    pub fn get(&self, key: &str) -> Result<Option<ChatResponse>, LlmError> {
        let Some(conn) = &self.conn else {
            return Ok(None);
        };
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let row: Option<String> = conn
            .query_row(
                "SELECT response FROM responses WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| LlmError::Cache(e.to_string()))?;
        // A row we cannot read back is treated as a miss and overwritten later.
        Ok(row.and_then(|s| serde_json::from_str(&s).ok()))
    }

    pub fn put(&self, key: &str, resp: &ChatResponse) -> Result<(), LlmError> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let text = serde_json::to_string(resp).map_err(|e| LlmError::Cache(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT OR REPLACE INTO responses (key, response, created) VALUES (?1, ?2, ?3)",
            params![key, text, now],
        )
        .map_err(|e| LlmError::Cache(e.to_string()))?;
        Ok(())
    }
}
