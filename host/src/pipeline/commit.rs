//! The end of the checkpoint barrier: the committer stores a source's
//! position in the state backend once every sink of the graph has
//! acknowledged it, and the stream-scoped view of the state that instances
//! read. Host functions never touch the state backend themselves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::runtime::{Acks, Checkpoint, StreamState};
use crate::state::StateBackend;

/// Commits checkpoints of one stream when all of its `sinks` acknowledged
/// them. Sinks see checkpoints in the order sources sent them (channels
/// keep order), so commits follow that order too.
pub struct Committer {
    state: Arc<dyn StateBackend>,
    pipeline: String,
    sinks: usize,
    waiting: Mutex<HashMap<(u32, u64), usize>>,
    committed: AtomicU64,
}

impl Committer {
    /// A committer for a graph with `sinks` sinks (at least one).
    pub fn new(state: Arc<dyn StateBackend>, pipeline: &str, sinks: usize) -> Self {
        Committer {
            state,
            pipeline: pipeline.to_string(),
            sinks: sinks.max(1),
            waiting: Mutex::new(HashMap::new()),
            committed: AtomicU64::new(0),
        }
    }

    /// Checkpoints committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Checkpoints some sinks acknowledged and others not yet.
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Acks for Committer {
    fn ack(&self, cp: Checkpoint) -> Result<(), String> {
        if self.sinks > 1 {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let seen = waiting.entry((cp.share, cp.seq)).or_insert(0);
            *seen += 1;
            if *seen < self.sinks {
                return Ok(());
            }
            waiting.remove(&(cp.share, cp.seq));
        }
        self.state
            .set_cursor(
                &self.pipeline,
                &cp.key,
                cp.cursor_field.as_deref(),
                &cp.value,
            )
            .map_err(|e| e.to_string())?;
        self.committed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pipeline = %self.pipeline, key = %cp.key, seq = cp.seq, "checkpoint committed");
        Ok(())
    }
}

/// The state of one pipeline as instances see it (keys arrive scoped to
/// their stream by the host).
pub struct PipelineState {
    state: Arc<dyn StateBackend>,
    pipeline: String,
}

impl PipelineState {
    /// A view of `pipeline`'s state in `state`.
    pub fn new(state: Arc<dyn StateBackend>, pipeline: &str) -> Self {
        PipelineState {
            state,
            pipeline: pipeline.to_string(),
        }
    }
}

impl StreamState for PipelineState {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        self.state
            .get_cursor(&self.pipeline, key)
            .map(|row| row.and_then(|r| r.cursor_value))
            .map_err(|e| e.to_string())
    }

    fn put(&self, key: &str, value: &str) -> Result<(), String> {
        self.state
            .set_cursor(&self.pipeline, key, None, value)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SqliteState;

    fn cp(share: u32, seq: u64, value: &str) -> Checkpoint {
        Checkpoint {
            key: "s".into(),
            cursor_field: Some("id".into()),
            value: value.into(),
            share,
            seq,
        }
    }

    fn saved(state: &Arc<dyn StateBackend>) -> Option<String> {
        state
            .get_cursor("p", "s")
            .unwrap()
            .and_then(|r| r.cursor_value)
    }

    #[test]
    fn one_sink_commits_each_ack() {
        let state: Arc<dyn StateBackend> = Arc::new(SqliteState::in_memory().unwrap());
        let c = Committer::new(state.clone(), "p", 1);
        c.ack(cp(0, 0, "1")).unwrap();
        assert_eq!(saved(&state).as_deref(), Some("1"));
        c.ack(cp(0, 1, "2")).unwrap();
        assert_eq!(saved(&state).as_deref(), Some("2"));
        assert_eq!(c.committed(), 2);
    }

    #[test]
    fn two_sinks_commit_only_when_both_acked() {
        let state: Arc<dyn StateBackend> = Arc::new(SqliteState::in_memory().unwrap());
        let c = Committer::new(state.clone(), "p", 2);
        c.ack(cp(0, 0, "1")).unwrap();
        assert_eq!(saved(&state), None, "one sink is not enough");
        assert_eq!(c.waiting(), 1);
        c.ack(cp(0, 1, "2")).unwrap();
        c.ack(cp(0, 0, "1")).unwrap();
        assert_eq!(saved(&state).as_deref(), Some("1"));
        c.ack(cp(0, 1, "2")).unwrap();
        assert_eq!(saved(&state).as_deref(), Some("2"));
        assert_eq!((c.committed(), c.waiting()), (2, 0));
    }

    #[test]
    fn pipeline_state_reads_and_writes_one_pipeline() {
        let state: Arc<dyn StateBackend> = Arc::new(SqliteState::in_memory().unwrap());
        let a = PipelineState::new(state.clone(), "a");
        let b = PipelineState::new(state, "b");
        a.put("k", "1").unwrap();
        assert_eq!(a.get("k").unwrap().as_deref(), Some("1"));
        assert_eq!(b.get("k").unwrap(), None);
    }
}
