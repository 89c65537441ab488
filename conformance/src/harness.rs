//! Instances of the connector under test, wired to recording stand-ins for
//! the other side of a pipeline.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_schema::SchemaRef;
use rapidbyte_host::pipeline::commit::{Committer, PipelineState};
use rapidbyte_host::registry::ConnectorRef;
use rapidbyte_host::runtime::bindings::types::{
    ReadRequest, ReadSummary, StreamSelection, ValidationResult, WriteRequest, WriteSummary,
};
use rapidbyte_host::runtime::sandbox::{self, Grant};
use rapidbyte_host::runtime::{
    ConnectorFailure, DestinationInstance, Frame, HostContext, Inbox, InstanceLimits,
    LoadedComponent, Outbox, Progress, Role, Runtime, SourceInstance,
};
use rapidbyte_host::state::{self, StateBackend, StateLocation};

/// What a probe of `validate` (or `init`) came to.
pub enum Probe {
    /// The host refused the config before the connector ran (a missing
    /// required key, a directory that is not a string...).
    HostRejected(String),
    /// The connector answered.
    Answered(ValidationResult),
    /// The connector failed (an error, or a trap).
    Failed(ConnectorFailure),
}

/// The connector under test, loaded once.
pub struct Harness<'a> {
    pub runtime: &'a Runtime,
    pub connector: &'a ConnectorRef,
    pub component: LoadedComponent,
    pub config: serde_json::Value,
    pub project_dir: PathBuf,
    pub limits: InstanceLimits,
    pub state: Arc<dyn StateBackend>,
    /// Socket operations the sandbox refused, over every instance.
    pub denied: Arc<AtomicU64>,
    _state_dir: tempfile::TempDir,
}

/// A source read's outcome and what the host saw of it.
pub struct ReadOutcome {
    pub result: Result<ReadSummary, ConnectorFailure>,
    /// (rows, IPC bytes) of each data frame the host accepted.
    pub frames: Vec<(u64, usize)>,
    /// Rows the host counted.
    pub emitted: u64,
    /// The last `report-progress` row count.
    pub progress: u64,
    /// Frames the recorder refused (a cancelled read).
    pub refused: usize,
    /// The frames' IPC bytes, when asked to keep them.
    pub kept: Vec<Vec<u8>>,
    pub peak_memory: usize,
}

/// A destination write's outcome.
pub struct WriteOutcome {
    pub result: Result<WriteSummary, ConnectorFailure>,
    pub delivered: u64,
    pub checkpoints: u64,
    pub peak_memory: usize,
}

/// Records frames like a destination that makes everything durable at
/// once: checkpoints commit to the state immediately. With `fail_after`,
/// refuses data frames after that many, as a run being cancelled does.
pub struct Recorder {
    frames: Mutex<Vec<(u64, usize)>>,
    state: Arc<dyn StateBackend>,
    pipeline: String,
    fail_after: Option<usize>,
    refused: std::sync::atomic::AtomicUsize,
    /// Keep the IPC bytes (for reading data back).
    keep: bool,
    kept: Mutex<Vec<Vec<u8>>>,
}

/// The reason a cancelled read is given.
pub const CANCELLED: &str = "cancelled by the conformance suite";

impl Outbox for Recorder {
    fn send(&self, frame: Frame) -> Result<(), String> {
        match frame {
            Frame::Data { rows, ipc, .. } => {
                let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
                if self.fail_after.is_some_and(|n| frames.len() >= n) {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(CANCELLED.into());
                }
                frames.push((rows, ipc.len()));
                if self.keep {
                    self.kept
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(ipc);
                }
                Ok(())
            }
            Frame::Checkpoint(cp) => self
                .state
                .set_cursor(
                    &self.pipeline,
                    &cp.key,
                    cp.cursor_field.as_deref(),
                    &cp.value,
                )
                .map_err(|e| e.to_string()),
        }
    }
}

/// Hands a destination a fixed list of frames.
pub struct Feed(Mutex<VecDeque<Frame>>);

impl Feed {
    pub fn new(frames: Vec<Frame>) -> Self {
        Feed(Mutex::new(frames.into()))
    }
}

impl Inbox for Feed {
    fn recv(&self) -> Result<Option<Frame>, String> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).pop_front())
    }
}

impl<'a> Harness<'a> {
    pub fn new(
        runtime: &'a Runtime,
        connector: &'a ConnectorRef,
        config: serde_json::Value,
        project_dir: PathBuf,
        limits: InstanceLimits,
    ) -> Result<Self, String> {
        let component = runtime
            .load(&connector.wasm)
            .map_err(|e| format!("{}: {e}", connector.wasm.display()))?;
        let state_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let state = state::open(&StateLocation::Sqlite(state_dir.path().join("state.db")))
            .map_err(|e| e.to_string())?;
        Ok(Harness {
            runtime,
            connector,
            component,
            config,
            project_dir,
            limits,
            state,
            denied: Arc::default(),
            _state_dir: state_dir,
        })
    }

    fn name(&self) -> &str {
        &self.connector.manifest.name
    }

    /// The sandbox grant for `config`, sharing the denial counter.
    pub fn grant(&self, config: &serde_json::Value) -> Result<Grant, String> {
        self.connector.manifest.check_config(config, "config")?;
        let mut g = sandbox::grant(
            &self.connector.manifest,
            config,
            "config",
            &self.project_dir,
        )?;
        g.denied = self.denied.clone();
        Ok(g)
    }

    fn context(
        &self,
        pipeline: &str,
        stream: Option<&str>,
        role: Role,
        progress: Arc<Progress>,
    ) -> HostContext {
        HostContext {
            pipeline: pipeline.to_string(),
            connector: self.name().to_string(),
            stream: stream.map(str::to_string),
            role,
            state: Some(Arc::new(PipelineState::new(self.state.clone(), pipeline))),
            progress,
        }
    }

    /// `validate(config)` on a fresh instance of whichever world this is.
    pub fn validate(&self, config: &serde_json::Value) -> Probe {
        let grant = match self.grant(config) {
            Ok(g) => g,
            Err(e) => return Probe::HostRejected(e),
        };
        let json = grant.config.to_string();
        let ctx = HostContext::control("conformance", self.name());
        let result = match self.component.kind {
            rapidbyte_host::registry::ConnectorKind::Destination => {
                DestinationInstance::new(self.runtime, &self.component, &grant, self.limits, ctx)
                    .and_then(|mut d| d.validate(&json))
            }
            _ => SourceInstance::new(self.runtime, &self.component, &grant, self.limits, ctx)
                .and_then(|mut s| s.validate(&json)),
        };
        match result {
            Ok(v) => Probe::Answered(v),
            Err(f) => Probe::Failed(f),
        }
    }

    /// `init(config)` then `discover()` on a source.
    pub fn discover(
        &self,
    ) -> Result<rapidbyte_host::runtime::bindings::types::Catalog, ConnectorFailure> {
        let grant = self.grant(&self.config).map_err(|e| self.host_failure(e))?;
        let ctx = HostContext::control("conformance", self.name());
        let mut s = SourceInstance::new(self.runtime, &self.component, &grant, self.limits, ctx)?;
        s.init(&grant.config.to_string())?;
        s.discover()
    }

    fn host_failure(&self, message: String) -> ConnectorFailure {
        ConnectorFailure {
            connector: self.name().to_string(),
            stream: None,
            kind: rapidbyte_host::runtime::FailureKind::Setup(message),
        }
    }

    /// Reads one stream into a [`Recorder`] under `pipeline` (which keys
    /// the saved state).
    pub fn read(
        &self,
        pipeline: &str,
        selection: StreamSelection,
        schema: SchemaRef,
        fail_after: Option<usize>,
        keep: bool,
    ) -> ReadOutcome {
        let recorder = Arc::new(Recorder {
            frames: Mutex::default(),
            state: self.state.clone(),
            pipeline: pipeline.to_string(),
            fail_after,
            refused: Default::default(),
            keep,
            kept: Mutex::default(),
        });
        let progress = Arc::new(Progress::default());
        let role = Role::Source {
            outbox: recorder.clone(),
            stream: selection.name.clone(),
            schema: Some(schema),
            cursor_field: selection.cursor_field.clone(),
            share: 0,
        };
        let ctx = self.context(pipeline, Some(&selection.name), role, progress.clone());
        let mut emitted = 0;
        let mut peak_memory = 0;
        let result = (|| {
            let grant = self.grant(&self.config).map_err(|e| self.host_failure(e))?;
            let mut s =
                SourceInstance::new(self.runtime, &self.component, &grant, self.limits, ctx)?;
            s.init(&grant.config.to_string())?;
            let r = s.read(&ReadRequest {
                streams: vec![selection.clone()],
            });
            emitted = s.emitted().0;
            peak_memory = s.peak_memory();
            r
        })();
        let frames = recorder
            .frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let kept = std::mem::take(&mut *recorder.kept.lock().unwrap_or_else(|p| p.into_inner()));
        ReadOutcome {
            result,
            frames,
            emitted,
            progress: progress.records.load(Ordering::Relaxed),
            refused: recorder.refused.load(Ordering::Relaxed),
            kept,
            peak_memory,
        }
    }

    /// Writes `frames` as one stream with `config` (the good one, or a
    /// paired source's for read-back).
    pub fn write(&self, pipeline: &str, request: WriteRequest, frames: Vec<Frame>) -> WriteOutcome {
        let progress = Arc::new(Progress::default());
        let committer = Arc::new(Committer::new(self.state.clone(), pipeline, 1));
        let role = Role::Destination {
            inbox: Arc::new(Feed::new(frames)),
            acks: committer.clone(),
        };
        let ctx = self.context(pipeline, Some(&request.stream_name), role, progress.clone());
        let mut delivered = 0;
        let mut peak_memory = 0;
        let result = (|| {
            let grant = self.grant(&self.config).map_err(|e| self.host_failure(e))?;
            let mut d =
                DestinationInstance::new(self.runtime, &self.component, &grant, self.limits, ctx)?;
            d.init(&grant.config.to_string())?;
            let r = d.write(&request);
            delivered = d.delivered_rows();
            peak_memory = d.peak_memory();
            r
        })();
        WriteOutcome {
            result,
            delivered,
            checkpoints: committer.committed(),
            peak_memory,
        }
    }
}
