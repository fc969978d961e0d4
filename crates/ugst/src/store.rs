//! The run store: one SQLite database per run (`<run dir>/run.sqlite`) holding the run's settings,
//! its goals, every conversation's status, every turn with the goal state after it, and the ledger
//! of model calls. Each turn is written in one transaction together with the ledger entries of the
//! calls that produced it, so a killed run never leaves half a turn behind.

pub use crate::model::{ConvStatus, Conversation, RunMeta};
use crate::model::{EndReason, Ending, Goal, TaskOutcome, TurnRecord};
use anyhow::{anyhow, Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use ugst_llm::{CallRole, LedgerEntry};
use ugst_state::GoalState;

pub const DB_FILE: &str = "run.sqlite";
const SCHEMA_VERSION: i64 = 1;

/// Task rewards live in their own table so stores written before environments had rewards
/// open unchanged (the table is created on open when missing).
const REWARDS_TABLE: &str = "CREATE TABLE IF NOT EXISTS rewards (
    goal_id TEXT PRIMARY KEY REFERENCES goals(id), reward REAL NOT NULL, details TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS closings (
    goal_id TEXT PRIMARY KEY REFERENCES goals(id), reasoning TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS similarity (
    goal_id TEXT PRIMARY KEY REFERENCES goals(id), key TEXT NOT NULL, matches TEXT NOT NULL);";

pub struct RunStore {
    conn: Mutex<Connection>,
    pub path: PathBuf,
    /// Held while this process may write the run (see [`RunStore::open_for_writing`]).
    _lock: Option<std::fs::File>,
    /// Opened read-only: the folder cannot be written by this user.
    read_only: bool,
}

/// Whether opening a run failed only because it cannot be written here.
fn is_read_only(e: &anyhow::Error) -> bool {
    use rusqlite::ErrorCode;
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, ErrorCode::ReadOnly | ErrorCode::CannotOpen)
        )
    })
}

/// The lock file beside the database: one writer per run.
pub const LOCK_FILE: &str = "run.lock";

/// Takes the run's write lock, or says which run is busy. The lock is the kernel's (flock), so a
/// killed process never leaves it behind.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(LOCK_FILE);
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            return Err(crate::input_err!(
                "{} cannot be written by this user ({e}); copy the run to a folder you can write",
                dir.display()
            ));
        }
        Err(e) => return Err(anyhow!(e).context(format!("cannot open {}", path.display()))),
    };
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(crate::input_err!(
            "{} is being written by another ugst process; wait for it to finish (or stop it) before resuming this run",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(anyhow!(e).context(format!("cannot lock {}", path.display())))
        }
    }
}

/// The files a run folder holds: the database with SQLite's side files, the lock and the
/// report `ugst demo` writes. Nothing else is ever removed as part of a run.
pub const RUN_FILES: [&str; 6] = [
    DB_FILE,
    "run.sqlite-wal",
    "run.sqlite-shm",
    "run.sqlite-journal",
    LOCK_FILE,
    "report.html",
];

/// Removes the run in `dir` so that a new one can be written there: only the run's own files
/// ([`RUN_FILES`]), under the run's lock (a run another process is writing is refused), and
/// only when the folder holds nothing else — a folder with other files is refused, naming one,
/// and left untouched. An empty folder is left in place.
pub fn remove_run(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name();
        if !RUN_FILES.iter().any(|f| name == *f) {
            return Err(crate::input_err!(
                "{} holds {} besides a run; ugst removes only a run's own files, so move it or choose another folder",
                dir.display(),
                entry.path().display()
            ));
        }
    }
    let _held = lock(dir)?;
    for f in RUN_FILES {
        match std::fs::remove_file(dir.join(f)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow!(e).context(format!("cannot remove {}", dir.join(f).display())))
            }
        }
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("store values serialise")
}

impl RunStore {
    /// Creates a new run in `dir` (which must not already hold one).
    pub fn create(dir: &Path, meta: &RunMeta, goals: &[Goal]) -> Result<RunStore> {
        let path = dir.join(DB_FILE);
        if path.exists() {
            return Err(crate::input_err!(
                "{} already holds a run; add --resume to finish it, or choose another --out",
                dir.display()
            ));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let lock = lock(dir)?;
        let conn =
            Connection::open(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Self::pragmas(&conn)?;
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE goals (idx INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, goal TEXT NOT NULL);
             CREATE TABLE conversations (
                goal_id TEXT PRIMARY KEY REFERENCES goals(id),
                status TEXT NOT NULL,
                end_reason TEXT, error TEXT,
                initial_state TEXT, final_state TEXT,
                turns INTEGER NOT NULL DEFAULT 0,
                updated INTEGER NOT NULL);
             CREATE TABLE turns (
                goal_id TEXT NOT NULL, idx INTEGER NOT NULL, record TEXT NOT NULL,
                PRIMARY KEY (goal_id, idx));
             CREATE TABLE ledger (
                id INTEGER PRIMARY KEY, goal_id TEXT, turn INTEGER, role TEXT NOT NULL,
                backend TEXT NOT NULL, model TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
                latency_ms INTEGER NOT NULL, retries INTEGER NOT NULL, repaired INTEGER NOT NULL,
                cache_hit INTEGER NOT NULL, ok INTEGER NOT NULL, error TEXT);
             CREATE INDEX ledger_goal ON ledger(goal_id);",
        )
        .and_then(|_| conn.execute_batch(REWARDS_TABLE))
        .and_then(|_| add_engine_columns(&conn))
        .context("cannot create the run store's tables")?;
        let store = RunStore {
            conn: Mutex::new(conn),
            path,
            _lock: Some(lock),
            read_only: false,
        };
        {
            let mut conn = store.lock();
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO meta VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
            tx.execute("INSERT INTO meta VALUES ('settings', ?1)", [to_json(meta)])?;
            let t = now() as i64;
            for (i, g) in goals.iter().enumerate() {
                tx.execute(
                    "INSERT INTO goals VALUES (?1, ?2, ?3)",
                    params![i as i64, g.id, to_json(g)],
                )?;
                tx.execute(
                    "INSERT INTO conversations (goal_id, status, updated) VALUES (?1, 'pending', ?2)",
                    params![g.id, t],
                )?;
            }
            tx.commit()?;
        }
        Ok(store)
    }

    /// Opens an existing run directory to read it.
    pub fn open(dir: &Path) -> Result<RunStore> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(crate::input_err!(
                "{} holds no run ({} is missing); pass the directory given to `ugst run --out`",
                dir.display(),
                DB_FILE
            ));
        }
        match Self::open_writable(&path) {
            Ok(store) => Ok(store),
            // A run in a folder this user cannot write (archived, shared, a read-only mount) is
            // still read: as it is, without journal or migration (review finding 10).
            Err(e) if is_read_only(&e) => Self::open_read_only(&path),
            Err(e) => Err(e),
        }
    }

    fn open_writable(path: &Path) -> Result<RunStore> {
        let conn =
            Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Self::pragmas(&conn)?;
        Self::check_version(&conn, path)?;
        conn.execute_batch(REWARDS_TABLE)
            .and_then(|_| add_engine_columns(&conn))
            .with_context(|| format!("cannot add the newer tables to {}", path.display()))?;
        Ok(RunStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            _lock: None,
            read_only: false,
        })
    }

    /// The run opened read-only and immutable: nothing is written, not even a journal; writes
    /// that only cache (goal similarity) are skipped.
    fn open_read_only(path: &Path) -> Result<RunStore> {
        use rusqlite::OpenFlags;
        // In a URI '%', '?' and '#' would start an escape, the query or a fragment.
        let file = path
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3f")
            .replace('#', "%23");
        let uri = format!("file:{file}?immutable=1");
        let conn = Connection::open_with_flags(
            &uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
        .with_context(|| format!("cannot open {} read-only", path.display()))?;
        Self::check_version(&conn, path)?;
        Ok(RunStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            _lock: None,
            read_only: true,
        })
    }

    fn check_version(conn: &Connection, path: &Path) -> Result<()> {
        let version: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .with_context(|| format!("{} is not a ugst run store", path.display()))?;
        if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            return Err(crate::input_err!(
                "{}: store schema version {:?} is not the supported {SCHEMA_VERSION}",
                path.display(),
                version
            ));
        }
        Ok(())
    }

    /// Opens an existing run to add to it (resume, retry): takes the run's write lock, so a
    /// second process cannot resume the same run and delete this one's turns. Reading a run
    /// (eval, export, report) needs no lock.
    pub fn open_for_writing(dir: &Path) -> Result<RunStore> {
        let lock = lock(dir)?;
        let mut store = Self::open(dir)?;
        if store.read_only {
            return Err(crate::input_err!(
                "{} cannot be written by this user; copy the run to a folder you can write",
                dir.display()
            ));
        }
        store._lock = Some(lock);
        Ok(store)
    }

    fn pragmas(conn: &Connection) -> Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn meta(&self) -> Result<RunMeta> {
        let s: String =
            self.lock()
                .query_row("SELECT value FROM meta WHERE key = 'settings'", [], |r| {
                    r.get(0)
                })?;
        serde_json::from_str(&s).context("the run's settings are unreadable")
    }

    pub fn goals(&self) -> Result<Vec<Goal>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT goal FROM goals ORDER BY idx")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
    }

    /// Adds goals after the run was created (reruns), each with a pending conversation.
    pub fn add_goals(&self, goals: &[Goal]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let next: i64 = tx.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM goals", [], |r| {
            r.get(0)
        })?;
        let t = now() as i64;
        for (i, g) in goals.iter().enumerate() {
            tx.execute(
                "INSERT INTO goals VALUES (?1, ?2, ?3)",
                params![next + i as i64, g.id, to_json(g)],
            )?;
            tx.execute(
                "INSERT INTO conversations (goal_id, status, updated) VALUES (?1, 'pending', ?2)",
                params![g.id, t],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Goals whose conversation has not reached `finished` or `failed`.
    pub fn unfinished(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT c.goal_id FROM conversations c JOIN goals g ON g.id = c.goal_id
             WHERE c.status IN ('pending', 'running') ORDER BY g.idx",
        )?;
        let ids = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    /// Marks failed conversations pending again (for `--retry-failed`).
    pub fn requeue_failed(&self) -> Result<usize> {
        Ok(self.lock().execute(
            "UPDATE conversations SET status = 'pending' WHERE status = 'failed'",
            [],
        )?)
    }

    /// Starts (or restarts) a conversation: drops anything a killed attempt left, stores S0.
    pub fn start(&self, goal_id: &str, s0: &GoalState, ledger: &[LedgerEntry]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM turns WHERE goal_id = ?1", [goal_id])?;
        tx.execute("DELETE FROM rewards WHERE goal_id = ?1", [goal_id])?;
        tx.execute("DELETE FROM closings WHERE goal_id = ?1", [goal_id])?;
        tx.execute("DELETE FROM ledger WHERE goal_id = ?1", [goal_id])?;
        tx.execute(
            "UPDATE conversations SET status = 'running', end_reason = NULL, error = NULL,
             initial_state = ?2, final_state = NULL, turns = 0, updated = ?3 WHERE goal_id = ?1",
            params![goal_id, to_json(s0), now() as i64],
        )?;
        insert_ledger(&tx, goal_id, 0, ledger)?;
        tx.commit()?;
        Ok(())
    }

    /// Stores one finished turn and the ledger of the calls that made it, atomically. A turn
    /// stored again (the tracker's closing pass changed its state) replaces the record.
    pub fn commit_turn(
        &self,
        goal_id: &str,
        rec: &TurnRecord,
        ledger: &[LedgerEntry],
    ) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO turns (goal_id, idx, record) VALUES (?1, ?2, ?3)
             ON CONFLICT (goal_id, idx) DO UPDATE SET record = excluded.record",
            params![goal_id, rec.index, to_json(rec)],
        )?;
        tx.execute(
            "UPDATE conversations SET turns = ?2, updated = ?3 WHERE goal_id = ?1",
            params![goal_id, rec.index, now() as i64],
        )?;
        insert_ledger(&tx, goal_id, rec.index, ledger)?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a conversation finished with its final state and task reward, atomically.
    pub fn finish(&self, goal_id: &str, ending: &Ending, ledger: &[LedgerEntry]) -> Result<()> {
        self.close(goal_id, ConvStatus::Finished, None, Some(ending), ledger)
    }

    pub fn fail(&self, goal_id: &str, error: &str, ledger: &[LedgerEntry]) -> Result<()> {
        self.close(goal_id, ConvStatus::Failed, Some(error), None, ledger)
    }

    fn close(
        &self,
        goal_id: &str,
        status: ConvStatus,
        error: Option<&str>,
        ending: Option<&Ending>,
        ledger: &[LedgerEntry],
    ) -> Result<()> {
        let end = ending.map_or(EndReason::Error, |e| e.end).as_str();
        let final_state = ending.map(|e| &e.state);
        let reward = ending.and_then(|e| e.reward.as_ref());
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM rewards WHERE goal_id = ?1", [goal_id])?;
        tx.execute("DELETE FROM closings WHERE goal_id = ?1", [goal_id])?;
        if let Some(r) = ending.and_then(|e| e.closing_reasoning.as_deref()) {
            tx.execute(
                "INSERT INTO closings (goal_id, reasoning) VALUES (?1, ?2)",
                params![goal_id, r],
            )?;
        }
        if let Some(r) = reward {
            tx.execute(
                "INSERT INTO rewards (goal_id, reward, details) VALUES (?1, ?2, ?3)",
                params![goal_id, r.reward, to_json(&r.details)],
            )?;
        }
        let turns: i64 = tx.query_row(
            "SELECT turns FROM conversations WHERE goal_id = ?1",
            [goal_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE conversations SET status = ?2, end_reason = ?3, error = ?4, final_state = ?5, updated = ?6
             WHERE goal_id = ?1",
            params![goal_id, status.as_str(), end, error, final_state.map(to_json), now() as i64],
        )?;
        insert_ledger(&tx, goal_id, turns as u32, ledger)?;
        tx.commit()?;
        Ok(())
    }

    /// Every conversation with its turns, in goal order.
    pub fn conversations(&self) -> Result<Vec<Conversation>> {
        let goals = self.goals()?;
        let conn = self.lock();
        let mut conv = conn.prepare(
            "SELECT status, end_reason, error, initial_state, final_state FROM conversations WHERE goal_id = ?1",
        )?;
        let mut turns = conn.prepare("SELECT record FROM turns WHERE goal_id = ?1 ORDER BY idx")?;
        let mut rewards = conn.prepare("SELECT reward, details FROM rewards WHERE goal_id = ?1")?;
        let mut closings = conn.prepare("SELECT reasoning FROM closings WHERE goal_id = ?1")?;
        let mut out = Vec::with_capacity(goals.len());
        for goal in goals {
            let (status, end_reason, error, s0, sn) = conv.query_row([&goal.id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let parse_state = |s: Option<String>| -> Result<Option<GoalState>> {
                s.map(|s| serde_json::from_str(&s).context("a stored goal state is unreadable"))
                    .transpose()
            };
            let recs = turns
                .query_map([&goal.id], |r| r.get::<_, String>(0))?
                .map(|r| Ok(serde_json::from_str(&r?)?))
                .collect::<Result<Vec<TurnRecord>>>()?;
            let task_reward = rewards
                .query_row([&goal.id], |r| {
                    Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?
                .map(|(reward, details)| -> Result<TaskOutcome> {
                    Ok(TaskOutcome {
                        reward,
                        details: serde_json::from_str(&details)
                            .context("a stored task reward is unreadable")?,
                    })
                })
                .transpose()?;
            let closing_reasoning = closings
                .query_row([&goal.id], |r| r.get::<_, String>(0))
                .optional()?;
            out.push(Conversation {
                task_reward,
                closing_reasoning,
                status: status
                    .parse()
                    .map_err(|e| anyhow!("in the run store: {e}"))?,
                end_reason: end_reason
                    .map(|e| e.parse::<EndReason>())
                    .transpose()
                    .map_err(|e| anyhow!("in the run store: {e}"))?,
                error,
                initial_state: parse_state(s0)?,
                final_state: parse_state(sn)?,
                turns: recs,
                goal,
            });
        }
        Ok(out)
    }

    /// Stored goal-similarity matches by conversation: (key of the texts and encoder, matches).
    pub fn similarities(&self) -> Result<std::collections::HashMap<String, (String, String)>> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT goal_id, key, matches FROM similarity")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Stores goal-similarity matches `(conversation, key, matches)`, replacing older ones.
    pub fn put_similarities(&self, rows: &[(&str, &str, String)]) -> Result<()> {
        if self.read_only {
            // Only a cache: a run that cannot be written is read without it.
            return Ok(());
        }
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        {
            let mut st = tx.prepare("INSERT OR REPLACE INTO similarity VALUES (?1, ?2, ?3)")?;
            for (id, key, m) in rows {
                st.execute(params![id, key, m])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every ledger entry with its conversation id.
    pub fn ledger(&self) -> Result<Vec<(Option<String>, LedgerEntry)>> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT goal_id, role, backend, model, prompt_tokens, completion_tokens, latency_ms, retries,
                    repaired, cache_hit, ok, error, cached_tokens, first_token_ms, grammar_ms,
                    reasoning_tokens
             FROM ledger ORDER BY id",
        )?;
        let rows = st.query_map([], |r| {
            let role: String = r.get(1)?;
            Ok((
                r.get::<_, Option<String>>(0)?,
                LedgerEntry {
                    role: CallRole::parse(&role).unwrap_or(CallRole::Judge),
                    backend: r.get(2)?,
                    model: r.get(3)?,
                    prompt_tokens: r.get::<_, i64>(4)? as u64,
                    completion_tokens: r.get::<_, i64>(5)? as u64,
                    reasoning_tokens: r.get::<_, Option<i64>>(15)?.unwrap_or(0) as u64,
                    latency_ms: r.get::<_, i64>(6)? as u64,
                    retries: r.get::<_, i64>(7)? as u32,
                    repaired: r.get(8)?,
                    cache_hit: r.get(9)?,
                    ok: r.get(10)?,
                    error: r.get(11)?,
                    engine: match r.get::<_, Option<i64>>(12)? {
                        None => None,
                        Some(cached) => Some(ugst_llm::EngineFacts {
                            cached_tokens: cached as u64,
                            first_token_ms: r.get::<_, Option<i64>>(13)?.unwrap_or(0) as u64,
                            grammar_ms: r.get::<_, Option<i64>>(14)?.unwrap_or(0) as u64,
                        }),
                    },
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// The local engine's figures per call and the thinking tokens (columns added after the first
/// stores were written, so an older store gains them when opened).
fn add_engine_columns(conn: &Connection) -> rusqlite::Result<()> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('ledger')")?;
    let have: Vec<String> = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for col in [
        "cached_tokens",
        "first_token_ms",
        "grammar_ms",
        "reasoning_tokens",
    ] {
        if !have.iter().any(|h| h == col) {
            conn.execute_batch(&format!("ALTER TABLE ledger ADD COLUMN {col} INTEGER"))?;
        }
    }
    Ok(())
}

fn insert_ledger(
    tx: &rusqlite::Transaction,
    goal_id: &str,
    turn: u32,
    entries: &[LedgerEntry],
) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO ledger (goal_id, turn, role, backend, model, prompt_tokens, completion_tokens, latency_ms,
                             retries, repaired, cache_hit, ok, error, cached_tokens, first_token_ms,
                             grammar_ms, reasoning_tokens)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    for e in entries {
        st.execute(params![
            goal_id,
            turn,
            e.role.as_str(),
            e.backend,
            e.model,
            e.prompt_tokens as i64,
            e.completion_tokens as i64,
            e.latency_ms as i64,
            e.retries,
            e.repaired,
            e.cache_hit,
            e.ok,
            e.error,
            e.engine.map(|f| f.cached_tokens as i64),
            e.engine.map(|f| f.first_token_ms as i64),
            e.engine.map(|f| f.grammar_ms as i64),
            e.reasoning_tokens as i64,
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Goal, RunMeta, Settings};

    #[test]
    fn a_run_is_read_read_only_from_a_folder_whose_name_looks_like_a_uri() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("runs 50% ?a#b");
        let meta = RunMeta::new(Settings::default(), "none", serde_json::json!({}));
        let goals = [Goal::new("g1", "Book a hotel.")];
        drop(RunStore::create(&dir, &meta, &goals).unwrap());
        let store = RunStore::open_read_only(&dir.join(DB_FILE)).unwrap();
        assert!(store.read_only);
        assert_eq!(store.goals().unwrap().len(), 1);
    }
}
