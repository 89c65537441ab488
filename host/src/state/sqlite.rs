//! The SQLite state backend (WAL mode), with the spec's schema.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use super::{CursorRow, RunOutcome, RunRow, StateBackend, StateError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sync_cursors (
    pipeline     TEXT NOT NULL,
    stream       TEXT NOT NULL,
    cursor_field TEXT,
    cursor_value TEXT,
    updated_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (pipeline, stream)
);
CREATE TABLE IF NOT EXISTS sync_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline        TEXT NOT NULL,
    stream          TEXT NOT NULL,
    status          TEXT NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    records_read    INTEGER DEFAULT 0,
    records_written INTEGER DEFAULT 0,
    bytes_read      INTEGER DEFAULT 0,
    error_message   TEXT,
    pid             INTEGER,
    error_category  TEXT,
    error_code      TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_running_sync
    ON sync_runs (pipeline, stream)
    WHERE status = 'running';
";

/// State in one SQLite file.
pub struct SqliteState {
    conn: Mutex<Connection>,
    location: String,
}

impl SqliteState {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Dir {
                dir: dir.display().to_string(),
                source,
            })?;
        }
        let location = path.display().to_string();
        let db = |source| StateError::Db {
            location: location.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        migrate(&conn).map_err(db)?;
        Ok(SqliteState {
            conn: Mutex::new(conn),
            location,
        })
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Self, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Db {
            location: ":memory:".into(),
            source,
        })?;
        conn.execute_batch(SCHEMA)
            .map_err(|source| StateError::Db {
                location: ":memory:".into(),
                source,
            })?;
        Ok(SqliteState {
            conn: Mutex::new(conn),
            location: ":memory:".into(),
        })
    }

    /// Where the database lives.
    pub fn location(&self) -> PathBuf {
        PathBuf::from(&self.location)
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StateError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|source| StateError::Db {
            location: self.location.clone(),
            source,
        })
    }
}

/// Brings a database made by an earlier version up to [`SCHEMA`]: columns
/// added since are added here, once.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let mut st = conn.prepare("SELECT name FROM pragma_table_info('sync_runs')")?;
    let columns: Vec<String> = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for (name, ty) in [("error_category", "TEXT"), ("error_code", "TEXT")] {
        if !columns.iter().any(|c| c == name) {
            conn.execute_batch(&format!("ALTER TABLE sync_runs ADD COLUMN {name} {ty}"))?;
        }
    }
    Ok(())
}

fn process_alive(pid: i64) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

fn cursor_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CursorRow> {
    Ok(CursorRow {
        stream: r.get(0)?,
        cursor_field: r.get(1)?,
        cursor_value: r.get(2)?,
        updated_at: r.get(3)?,
    })
}

impl StateBackend for SqliteState {
    fn get_cursor(&self, pipeline: &str, stream: &str) -> Result<Option<CursorRow>, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT stream, cursor_field, cursor_value, updated_at FROM sync_cursors WHERE pipeline = ?1 AND stream = ?2",
                params![pipeline, stream],
                cursor_row,
            )
            .optional()
        })
    }

    fn set_cursor(
        &self,
        pipeline: &str,
        stream: &str,
        cursor_field: Option<&str>,
        value: &str,
    ) -> Result<(), StateError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sync_cursors (pipeline, stream, cursor_field, cursor_value, updated_at)
                 VALUES (?1, ?2, ?3, ?4, CURRENT_TIMESTAMP)
                 ON CONFLICT (pipeline, stream) DO UPDATE SET
                   cursor_field = excluded.cursor_field,
                   cursor_value = excluded.cursor_value,
                   updated_at = excluded.updated_at",
                params![pipeline, stream, cursor_field, value],
            )
            .map(|_| ())
        })
    }

    fn list_cursors(&self, pipeline: &str) -> Result<Vec<CursorRow>, StateError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT stream, cursor_field, cursor_value, updated_at FROM sync_cursors WHERE pipeline = ?1 ORDER BY stream",
            )?;
            let rows = st.query_map(params![pipeline], cursor_row)?;
            rows.collect()
        })
    }

    fn reset(&self, pipeline: &str, stream: Option<&str>) -> Result<usize, StateError> {
        self.with(|c| match stream {
            Some(s) => c.execute(
                "DELETE FROM sync_cursors WHERE pipeline = ?1 AND stream = ?2",
                params![pipeline, s],
            ),
            None => c.execute(
                "DELETE FROM sync_cursors WHERE pipeline = ?1",
                params![pipeline],
            ),
        })
    }

    fn start_run(&self, pipeline: &str, stream: &str) -> Result<i64, StateError> {
        let pid = std::process::id() as i64;
        let insert = |c: &Connection| {
            c.execute(
                "INSERT INTO sync_runs (pipeline, stream, status, started_at, pid)
                 VALUES (?1, ?2, 'running', CURRENT_TIMESTAMP, ?3)",
                params![pipeline, stream, pid],
            )
            .map(|_| c.last_insert_rowid())
        };
        let is_unique_violation = |e: &rusqlite::Error| matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation);
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let db = |source| StateError::Db {
            location: self.location.clone(),
            source,
        };
        match insert(&conn) {
            Ok(id) => Ok(id),
            Err(e) if is_unique_violation(&e) => {
                let (run_id, owner): (i64, Option<i64>) = conn
                    .query_row(
                        "SELECT id, pid FROM sync_runs WHERE pipeline = ?1 AND stream = ?2 AND status = 'running'",
                        params![pipeline, stream],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(db)?;
                let owner = owner.unwrap_or(0);
                if owner != pid && process_alive(owner) {
                    return Err(StateError::AlreadyRunning {
                        pipeline: pipeline.into(),
                        stream: stream.into(),
                        run_id,
                        pid: owner,
                    });
                }
                // The process that started it is gone (crash, kill -9): close it.
                conn.execute(
                    "UPDATE sync_runs SET status = 'failed', finished_at = CURRENT_TIMESTAMP,
                     error_message = 'abandoned: the process running it exited' WHERE id = ?1",
                    params![run_id],
                )
                .map_err(db)?;
                insert(&conn).map_err(db)
            }
            Err(e) => Err(db(e)),
        }
    }

    fn finish_run(&self, id: i64, o: &RunOutcome) -> Result<(), StateError> {
        self.with(|c| {
            c.execute(
                "UPDATE sync_runs SET status = ?2, finished_at = CURRENT_TIMESTAMP,
                 records_read = ?3, records_written = ?4, bytes_read = ?5, error_message = ?6,
                 error_category = ?7, error_code = ?8
                 WHERE id = ?1",
                params![
                    id,
                    o.status.as_str(),
                    o.records_read as i64,
                    o.records_written as i64,
                    o.bytes_read as i64,
                    o.error_message,
                    o.error_category,
                    o.error_code
                ],
            )
            .map(|_| ())
        })
    }

    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRow>, StateError> {
        self.with(|c| {
            let mut st = c.prepare(
                "SELECT id, stream, status, started_at, finished_at, records_read, records_written, error_message,
                        error_category, error_code
                 FROM sync_runs WHERE pipeline = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![pipeline, limit as i64], |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    stream: r.get(1)?,
                    status: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    records_read: r.get(5)?,
                    records_written: r.get(6)?,
                    error_message: r.get(7)?,
                    error_category: r.get(8)?,
                    error_code: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::RunStatus;
    use super::*;

    #[test]
    fn cursors_round_trip_and_reset() {
        let s = SqliteState::in_memory().unwrap();
        assert!(s.get_cursor("p", "a").unwrap().is_none());
        s.set_cursor("p", "a", Some("id"), "1").unwrap();
        s.set_cursor("p", "a", Some("id"), "2").unwrap();
        let row = s.get_cursor("p", "a").unwrap().unwrap();
        assert_eq!(row.cursor_value.as_deref(), Some("2"));
        assert_eq!(s.list_cursors("p").unwrap().len(), 1);
        assert_eq!(s.reset("p", Some("a")).unwrap(), 1);
        assert!(s.get_cursor("p", "a").unwrap().is_none());
    }

    #[test]
    fn one_running_sync_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteState::open(&dir.path().join("state.db")).unwrap();
        let id = s.start_run("p", "a").unwrap();
        // Same process: a leftover run is closed and replaced.
        let id2 = s.start_run("p", "a").unwrap();
        assert_ne!(id, id2);
        // A live foreign owner blocks: pretend pid 1 (always alive) owns it.
        s.with(|c| c.execute("UPDATE sync_runs SET pid = 1 WHERE id = ?1", params![id2]))
            .unwrap();
        let err = s.start_run("p", "a").unwrap_err();
        assert!(matches!(err, StateError::AlreadyRunning { .. }), "{err}");
        s.finish_run(
            id2,
            &RunOutcome {
                status: RunStatus::Completed,
                records_read: 3,
                records_written: 3,
                bytes_read: 10,
                error_category: None,
                error_code: None,
                error_message: None,
            },
        )
        .unwrap();
        s.start_run("p", "a").unwrap();
        let runs = s.recent_runs("p", 10).unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, "running");
        assert_eq!(runs[1].status, "completed");
        assert_eq!(runs[2].status, "failed");
    }

    #[test]
    fn an_older_database_gains_the_error_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE sync_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, pipeline TEXT NOT NULL,
                 stream TEXT NOT NULL, status TEXT NOT NULL, started_at TIMESTAMP NOT NULL,
                 finished_at TIMESTAMP, records_read INTEGER DEFAULT 0, records_written INTEGER DEFAULT 0,
                 bytes_read INTEGER DEFAULT 0, error_message TEXT, pid INTEGER);",
            )
            .unwrap();
        }
        let s = SqliteState::open(&path).unwrap();
        let id = s.start_run("p", "a").unwrap();
        s.finish_run(
            id,
            &RunOutcome {
                status: RunStatus::Failed,
                records_read: 0,
                records_written: 0,
                bytes_read: 0,
                error_message: Some("boom".into()),
                error_category: Some("network".into()),
                error_code: Some("connect_failed".into()),
            },
        )
        .unwrap();
        let run = &s.recent_runs("p", 1).unwrap()[0];
        assert_eq!(run.error_category.as_deref(), Some("network"));
        assert_eq!(run.error_code.as_deref(), Some("connect_failed"));
        drop(s);
        // Opening again finds the columns and adds nothing.
        SqliteState::open(&path).unwrap();
    }
}
