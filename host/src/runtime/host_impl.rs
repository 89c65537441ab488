//! The seven host functions, and the per-instance state behind them.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_ipc::reader::StreamReader;
use arrow_schema::SchemaRef;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::source::rapidbyte::connector::host::Host;
use super::bindings::types::{Batch, ConnectorError, ErrorCategory, Frame as WitFrame, LogLevel};
use super::limits::MemoryLimiter;
use crate::state::StateBackend;

/// A unit travelling from a source to a destination.
#[derive(Debug)]
pub enum Frame {
    /// One validated Arrow IPC batch.
    Data {
        /// Stream name.
        stream: String,
        /// The IPC bytes, as the source sent them.
        ipc: Vec<u8>,
        /// Rows in the batch.
        rows: u64,
    },
    /// A source's `set-state`: commit once everything before it is durable.
    Checkpoint(Checkpoint),
}

impl Frame {
    /// Bytes this frame occupies in a channel.
    pub fn weight(&self) -> usize {
        match self {
            Frame::Data { ipc, .. } => ipc.len(),
            Frame::Checkpoint(c) => c.value.len() + c.key.len(),
        }
    }
}

/// A state value waiting for the destination to catch up.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// State key (the stream name, by convention).
    pub key: String,
    /// Cursor column of the stream, if any.
    pub cursor_field: Option<String>,
    /// JSON text.
    pub value: String,
}

/// Where a source's frames go. `Err` carries why the run was aborted.
pub trait Outbox: Send + Sync {
    /// Sends a frame, blocking while the pipeline is full.
    fn send(&self, frame: Frame) -> Result<(), String>;
}

/// Where a destination's frames come from.
pub trait Inbox: Send + Sync {
    /// The next frame, `Ok(None)` at the end, `Err` if the run was aborted.
    fn recv(&self) -> Result<Option<Frame>, String>;
}

/// Live counters of one instance, readable from other threads.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows so far (as reported or counted).
    pub records: AtomicU64,
    /// Bytes so far.
    pub bytes: AtomicU64,
    /// Checkpoints committed.
    pub checkpoints: AtomicU64,
}

/// What an instance is for.
pub enum Role {
    /// `init`/`discover`/`validate` only: no data flows.
    Control,
    /// A source reading one stream.
    Source {
        /// Where batches go.
        outbox: Arc<dyn Outbox>,
        /// The stream it may emit.
        stream: String,
        /// The schema from the catalog; every batch must match it.
        schema: Option<SchemaRef>,
        /// Cursor column (recorded with checkpoints).
        cursor_field: Option<String>,
    },
    /// A destination writing one stream.
    Destination {
        /// Where frames come from.
        inbox: Arc<dyn Inbox>,
    },
}

/// Who an instance is, for logs, state and errors.
pub struct HostContext {
    /// Pipeline name (keys the state).
    pub pipeline: String,
    /// Connector name.
    pub connector: String,
    /// Stream name, when the instance serves one.
    pub stream: Option<String>,
    /// What it does.
    pub role: Role,
    /// The state database.
    pub state: Option<Arc<dyn StateBackend>>,
    /// Live counters.
    pub progress: Arc<Progress>,
}

impl HostContext {
    /// A context for `init`/`discover`/`validate` only: no stream, no
    /// state, no data.
    pub fn control(pipeline: &str, connector: &str) -> Self {
        HostContext {
            pipeline: pipeline.to_string(),
            connector: connector.to_string(),
            stream: None,
            role: Role::Control,
            state: None,
            progress: Arc::new(Progress::default()),
        }
    }
}

/// Store data of one connector instance.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) ctx: HostContext,
    /// A contract violation the host detected (malformed frame...).
    pub(crate) fault: Option<String>,
    /// Why a blocked call was cancelled.
    pub(crate) cancelled: Option<String>,
    /// The panic message the SDK logged before trapping.
    pub(crate) panic_message: Option<String>,
    /// Destination: a checkpoint delivered but not yet acknowledged.
    pub(crate) pending_ack: Option<Checkpoint>,
    /// Destination: the end of the stream was delivered.
    pub(crate) saw_end: bool,
    /// Source: rows and bytes emitted (counted by the host).
    pub(crate) emitted_rows: u64,
    pub(crate) emitted_bytes: u64,
    /// Destination: rows delivered.
    pub(crate) delivered_rows: u64,
    /// WASI preview 1 and sockets, for a WasmEdge-style core module.
    pub(crate) wasmedge: Option<Box<super::wasmedge::ModuleState>>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn host_error(category: ErrorCategory, code: &str, message: String) -> ConnectorError {
    ConnectorError {
        category,
        code: code.into(),
        message,
        retryable: false,
        details: None,
    }
}

impl HostState {
    pub(crate) fn new(wasi: WasiCtx, max_memory: usize, ctx: HostContext) -> Self {
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(max_memory),
            ctx,
            fault: None,
            cancelled: None,
            panic_message: None,
            pending_ack: None,
            saw_end: false,
            emitted_rows: 0,
            emitted_bytes: 0,
            delivered_rows: 0,
            wasmedge: None,
        }
    }

    fn stream_label(&self) -> &str {
        self.ctx.stream.as_deref().unwrap_or("-")
    }

    fn fault(&mut self, code: &str, message: String) -> ConnectorError {
        if self.fault.is_none() {
            self.fault = Some(message.clone());
        }
        host_error(ErrorCategory::Data, code, message)
    }

    /// Destinations keep their own state apart from the source's cursors.
    fn state_key(&self, key: &str) -> String {
        match self.ctx.role {
            Role::Destination { .. } => format!("destination:{key}"),
            _ => key.to_string(),
        }
    }

    /// Commits the acknowledged checkpoint, if any.
    pub(crate) fn commit_pending(&mut self) -> Result<(), String> {
        let Some(cp) = self.pending_ack.take() else {
            return Ok(());
        };
        let state = self.ctx.state.as_ref().ok_or("no state backend")?;
        state
            .set_cursor(
                &self.ctx.pipeline,
                &cp.key,
                cp.cursor_field.as_deref(),
                &cp.value,
            )
            .map_err(|e| e.to_string())?;
        self.ctx
            .progress
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        tracing::debug!(pipeline = %self.ctx.pipeline, stream = %cp.key, "checkpoint committed");
        Ok(())
    }

    /// Decodes and checks a frame; returns its row count.
    fn validate_frame(&self, ipc: &[u8], expected: Option<&SchemaRef>) -> Result<u64, String> {
        let mut reader = StreamReader::try_new(Cursor::new(ipc), None)
            .map_err(|e| format!("malformed Arrow IPC frame: {e}"))?;
        let schema = reader.schema();
        if let Some(expected) = expected {
            let same = schema.fields().len() == expected.fields().len()
                && schema
                    .fields()
                    .iter()
                    .zip(expected.fields())
                    .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
            if !same {
                return Err(format!(
                    "batch schema {schema} does not match the discovered schema {expected}"
                ));
            }
        }
        let mut rows = 0u64;
        let mut batches = 0;
        for batch in reader.by_ref() {
            let batch = batch.map_err(|e| format!("malformed Arrow IPC batch: {e}"))?;
            rows += batch.num_rows() as u64;
            batches += 1;
        }
        if batches > 1 {
            return Err(format!(
                "a frame must hold one record batch, this one holds {batches}"
            ));
        }
        Ok(rows)
    }
}

impl Host for HostState {
    fn emit_batch(
        &mut self,
        stream_name: String,
        ipc: Vec<u8>,
    ) -> wasmtime::Result<Result<(), ConnectorError>> {
        let (outbox, stream, schema) = match &self.ctx.role {
            Role::Source {
                outbox,
                stream,
                schema,
                ..
            } => (outbox.clone(), stream.clone(), schema.clone()),
            _ => {
                let e = self.fault(
                    "emit_not_allowed",
                    "emit-batch called outside of read".into(),
                );
                return Ok(Err(e));
            }
        };
        if let Some(reason) = &self.cancelled {
            return Ok(Err(host_error(
                ErrorCategory::Internal,
                "cancelled",
                reason.clone(),
            )));
        }
        if stream_name != stream {
            let e = self.fault(
                "unknown_stream",
                format!("emitted a batch for stream `{stream_name}` while reading `{stream}`"),
            );
            return Ok(Err(e));
        }
        let rows = match self.validate_frame(&ipc, schema.as_ref()) {
            Ok(rows) => rows,
            Err(msg) => return Ok(Err(self.fault("bad_frame", msg))),
        };
        if rows == 0 {
            return Ok(Ok(()));
        }
        let bytes = ipc.len() as u64;
        match outbox.send(Frame::Data {
            stream: stream_name,
            ipc,
            rows,
        }) {
            Ok(()) => {
                self.emitted_rows += rows;
                self.emitted_bytes += bytes;
                Ok(Ok(()))
            }
            Err(reason) => {
                self.cancelled = Some(reason.clone());
                Ok(Err(host_error(
                    ErrorCategory::Internal,
                    "cancelled",
                    reason,
                )))
            }
        }
    }

    fn next_batch(&mut self) -> wasmtime::Result<Option<WitFrame>> {
        let inbox = match &self.ctx.role {
            Role::Destination { inbox } => inbox.clone(),
            _ => {
                self.fault =
                    Some("next-batch called by a connector that is not a destination".into());
                return Err(wasmtime::Error::msg(
                    "next-batch is only available to destinations",
                ));
            }
        };
        if let Err(e) = self.commit_pending() {
            let msg = format!("could not commit the checkpoint to the state database: {e}");
            self.cancelled = Some(msg.clone());
            return Err(wasmtime::Error::msg(msg));
        }
        match inbox.recv() {
            Ok(Some(Frame::Data { stream, ipc, rows })) => {
                self.delivered_rows += rows;
                Ok(Some(WitFrame::Data(Batch {
                    stream_name: stream,
                    ipc,
                })))
            }
            Ok(Some(Frame::Checkpoint(cp))) => {
                self.pending_ack = Some(cp);
                Ok(Some(WitFrame::Checkpoint))
            }
            Ok(None) => {
                self.saw_end = true;
                Ok(None)
            }
            Err(reason) => {
                // Abort the destination without letting it finalize partial data.
                self.cancelled = Some(reason.clone());
                Err(wasmtime::Error::msg(format!("cancelled: {reason}")))
            }
        }
    }

    fn get_state(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        let key = self.state_key(&key);
        let Some(state) = &self.ctx.state else {
            return Ok(None);
        };
        match state.get_cursor(&self.ctx.pipeline, &key) {
            Ok(row) => Ok(row.and_then(|r| r.cursor_value)),
            Err(e) => {
                let msg = format!("state database unavailable: {e}");
                self.cancelled = Some(msg.clone());
                Err(wasmtime::Error::msg(msg))
            }
        }
    }

    fn set_state(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), ConnectorError>> {
        if serde_json::from_str::<serde::de::IgnoredAny>(&value).is_err() {
            return Ok(Err(self.fault(
                "bad_state",
                format!("state for `{key}` is not valid JSON"),
            )));
        }
        match &self.ctx.role {
            Role::Source {
                outbox,
                cursor_field,
                ..
            } => {
                let cp = Checkpoint {
                    key,
                    cursor_field: cursor_field.clone(),
                    value,
                };
                match outbox.send(Frame::Checkpoint(cp)) {
                    Ok(()) => Ok(Ok(())),
                    Err(reason) => {
                        self.cancelled = Some(reason.clone());
                        Ok(Err(host_error(
                            ErrorCategory::Internal,
                            "cancelled",
                            reason,
                        )))
                    }
                }
            }
            Role::Destination { .. } => {
                let key = self.state_key(&key);
                let Some(state) = &self.ctx.state else {
                    return Ok(Ok(()));
                };
                match state.set_cursor(&self.ctx.pipeline, &key, None, &value) {
                    Ok(()) => Ok(Ok(())),
                    Err(e) => Ok(Err(host_error(
                        ErrorCategory::Internal,
                        "state",
                        e.to_string(),
                    ))),
                }
            }
            Role::Control => Ok(Err(host_error(
                ErrorCategory::Internal,
                "state_not_allowed",
                "set-state is only available while reading or writing".into(),
            ))),
        }
    }

    fn log(
        &mut self,
        level: LogLevel,
        message: String,
        fields: Option<String>,
    ) -> wasmtime::Result<()> {
        if matches!(level, LogLevel::Error) && message.starts_with("connector panicked") {
            self.panic_message = Some(message.clone());
        }
        let connector = self.ctx.connector.as_str();
        let stream = self.stream_label();
        let fields = fields.as_deref();
        match level {
            LogLevel::Trace => {
                tracing::trace!(target: "connector", connector, stream, fields, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "connector", connector, stream, fields, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "connector", connector, stream, fields, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "connector", connector, stream, fields, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "connector", connector, stream, fields, "{message}")
            }
        }
        Ok(())
    }

    fn emit_metric(
        &mut self,
        name: String,
        value: f64,
        labels: Option<String>,
    ) -> wasmtime::Result<()> {
        tracing::debug!(
            target: "connector.metric",
            connector = %self.ctx.connector,
            stream = self.stream_label(),
            metric = %name,
            value,
            labels = labels.as_deref().unwrap_or(""),
        );
        Ok(())
    }

    fn report_progress(&mut self, records: u64, bytes: u64) -> wasmtime::Result<()> {
        self.ctx.progress.records.store(records, Ordering::Relaxed);
        self.ctx.progress.bytes.store(bytes, Ordering::Relaxed);
        Ok(())
    }
}

impl super::bindings::source::rapidbyte::connector::types::Host for HostState {}
