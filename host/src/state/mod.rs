//! Sync state: cursors and run history, behind [`StateBackend`].

mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

pub use sqlite::SqliteState;

use crate::config::PipelineConfig;
use crate::settings::Settings;

/// Where a pipeline's state lives, as its configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A SQLite file.
    Sqlite(PathBuf),
}

impl StateLocation {
    /// The location `config` names (`state:`), resolved with `settings`.
    pub fn of(config: &PipelineConfig, settings: &Settings) -> Self {
        StateLocation::Sqlite(config.state_path(settings))
    }

    /// For messages: the backend and where it is.
    pub fn describe(&self) -> String {
        match self {
            StateLocation::Sqlite(p) => format!("sqlite ({})", p.display()),
        }
    }
}

/// Opens the state backend at `location`: the one place a backend is
/// chosen.
pub fn open(location: &StateLocation) -> Result<Arc<dyn StateBackend>, StateError> {
    match location {
        StateLocation::Sqlite(path) => Ok(Arc::new(SqliteState::open(path)?)),
    }
}

/// Errors of a state backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed.
    #[error("state database {location}: {source}")]
    Db {
        /// Where the database is.
        location: String,
        /// The driver error.
        source: rusqlite::Error,
    },
    /// The state directory could not be created.
    #[error("cannot create state directory {dir}: {source}")]
    Dir {
        /// The directory.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process is syncing the same stream.
    #[error("stream `{stream}` of pipeline `{pipeline}` is already being synced (run {run_id}, pid {pid}); wait for it or stop it")]
    AlreadyRunning {
        /// Pipeline name.
        pipeline: String,
        /// Stream name.
        stream: String,
        /// The running run's id.
        run_id: i64,
        /// The process that runs it.
        pid: i64,
    },
}

/// A saved cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorRow {
    /// Stream (or state key).
    pub stream: String,
    /// Cursor column, if known.
    pub cursor_field: Option<String>,
    /// The saved value (JSON text).
    pub cursor_value: Option<String>,
    /// When it was saved (UTC, `YYYY-MM-DD HH:MM:SS`).
    pub updated_at: String,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Still going.
    Running,
    /// Finished successfully.
    Completed,
    /// Failed.
    Failed,
    /// Stopped from outside (a signal) after its last committed checkpoint.
    Interrupted,
}

impl RunStatus {
    /// The value stored in `sync_runs.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

/// Counts and outcome recorded when a run ends.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Completed or failed.
    pub status: RunStatus,
    /// Rows the source emitted.
    pub records_read: u64,
    /// Rows the destination wrote.
    pub records_written: u64,
    /// Arrow IPC bytes the source emitted.
    pub bytes_read: u64,
    /// The failure, if any.
    pub error_message: Option<String>,
    /// The failure's category (`network`, `timeout`, `contract`...).
    pub error_category: Option<String>,
    /// The failure's stable code.
    pub error_code: Option<String>,
}

/// A row of `sync_runs`.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Run id.
    pub id: i64,
    /// Stream name.
    pub stream: String,
    /// `running`, `completed` or `failed`.
    pub status: String,
    /// Start time (UTC).
    pub started_at: String,
    /// End time (UTC).
    pub finished_at: Option<String>,
    /// Rows read.
    pub records_read: i64,
    /// Rows written.
    pub records_written: i64,
    /// The failure, if any.
    pub error_message: Option<String>,
    /// The failure's category.
    pub error_category: Option<String>,
    /// The failure's stable code.
    pub error_code: Option<String>,
}

/// Where cursors and run history live.
pub trait StateBackend: Send + Sync {
    /// The saved cursor of `stream`.
    fn get_cursor(&self, pipeline: &str, stream: &str) -> Result<Option<CursorRow>, StateError>;
    /// Saves the cursor of `stream` (committed when this returns).
    fn set_cursor(
        &self,
        pipeline: &str,
        stream: &str,
        cursor_field: Option<&str>,
        value: &str,
    ) -> Result<(), StateError>;
    /// Every saved cursor of `pipeline`.
    fn list_cursors(&self, pipeline: &str) -> Result<Vec<CursorRow>, StateError>;
    /// Deletes the cursor of `stream`, or of every stream; returns how many.
    fn reset(&self, pipeline: &str, stream: Option<&str>) -> Result<usize, StateError>;
    /// Records the start of a run; fails if the stream is being synced.
    fn start_run(&self, pipeline: &str, stream: &str) -> Result<i64, StateError>;
    /// Records the end of run `id`.
    fn finish_run(&self, id: i64, outcome: &RunOutcome) -> Result<(), StateError>;
    /// The latest runs of `pipeline`, newest first.
    fn recent_runs(&self, pipeline: &str, limit: usize) -> Result<Vec<RunRow>, StateError>;
}
