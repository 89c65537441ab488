//! The seven host functions, and the per-instance state behind them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_schema::SchemaRef;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::source::rapidbyte::connector::host::Host;
use super::bindings::types::{Batch, ConnectorError, ErrorCategory, Frame as WitFrame, LogLevel};
use super::limits::{InstanceLimits, MemoryLimiter};

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

/// A source's saved position, travelling behind the data it covers: the
/// committer stores it only once every sink has acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// State key, already scoped to the stream by the host.
    pub key: String,
    /// Cursor column of the stream, if any.
    pub cursor_field: Option<String>,
    /// JSON text.
    pub value: String,
    /// The source instance (partition share) that saved it.
    pub share: u32,
    /// Its order among that instance's checkpoints, from 0.
    pub seq: u64,
}

/// Largest state value a connector may save, in bytes.
pub const MAX_STATE_BYTES: usize = 1 << 20;

/// Where a sink's acknowledgements go: a checkpoint is acknowledged once
/// the sink has durably handled every frame before it.
pub trait Acks: Send + Sync {
    /// Acknowledges `checkpoint`; `Err` if it could not be recorded.
    fn ack(&self, checkpoint: Checkpoint) -> Result<(), String>;
}

/// The saved state one stream's instances can see, under keys the host
/// has already scoped to the stream.
pub trait StreamState: Send + Sync {
    /// The value saved under `key`.
    fn get(&self, key: &str) -> Result<Option<String>, String>;
    /// Saves `value` under `key` at once (a destination's own state).
    fn put(&self, key: &str, value: &str) -> Result<(), String>;
}

/// The key under which stream `stream` stores the state a connector saves
/// as `key`: the stream's own name maps to itself, any other key is kept
/// under the stream (`<stream>/<key>`), so no stream can read or overwrite
/// another's cursor.
pub fn scoped_key(stream: Option<&str>, key: &str) -> String {
    match stream {
        Some(s) if s == key => key.to_string(),
        Some(s) => format!("{s}/{key}"),
        None => key.to_string(),
    }
}

/// The stream a stored state key belongs to: the inverse of
/// [`scoped_key`] and of the `destination:` prefix a destination's keys get.
pub fn stream_of_key(stored: &str) -> &str {
    let key = stored.strip_prefix(DESTINATION_PREFIX).unwrap_or(stored);
    key.split('/').next().unwrap_or(key)
}

/// The prefix of a destination's stored state keys.
const DESTINATION_PREFIX: &str = "destination:";

/// Why a wait on a channel ended without a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// The run was aborted, for this reason.
    Aborted(String),
    /// The deadline passed first.
    TimedOut,
}

/// Where a source's frames go. `Err` carries why the run was aborted.
pub trait Outbox: Send + Sync {
    /// Sends a frame, blocking while the pipeline is full.
    fn send(&self, frame: Frame) -> Result<(), String>;

    /// Like [`Outbox::send`], but gives up at `deadline`. The default never
    /// blocks long enough to need it.
    fn send_until(&self, frame: Frame, deadline: Option<Instant>) -> Result<(), ChannelError> {
        let _ = deadline;
        self.send(frame).map_err(ChannelError::Aborted)
    }
}

/// Where a destination's frames come from.
pub trait Inbox: Send + Sync {
    /// The next frame, `Ok(None)` at the end, `Err` if the run was aborted.
    fn recv(&self) -> Result<Option<Frame>, String>;

    /// Like [`Inbox::recv`], but gives up at `deadline`.
    fn recv_until(&self, deadline: Option<Instant>) -> Result<Option<Frame>, ChannelError> {
        let _ = deadline;
        self.recv().map_err(ChannelError::Aborted)
    }
}

/// Live counters of one instance, readable from other threads.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows so far (as reported or counted).
    pub records: AtomicU64,
    /// Bytes so far.
    pub bytes: AtomicU64,
    /// Checkpoints acknowledged.
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
        /// Which share of a partitioned read this instance is (0 if one).
        share: u32,
    },
    /// A destination writing one stream.
    Destination {
        /// Where frames come from.
        inbox: Arc<dyn Inbox>,
        /// Where acknowledged checkpoints go.
        acks: Arc<dyn Acks>,
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
    /// The stream's saved state.
    pub state: Option<Arc<dyn StreamState>>,
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
    /// The cap on `table` (and on the shim's tables).
    pub(crate) max_handles: usize,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) ctx: HostContext,
    /// The names this instance may look up.
    pub(crate) lookup: super::name_lookup::LookupGrant,
    /// A contract violation the host detected: its code and message.
    pub(crate) fault: Option<(String, String)>,
    /// Why a blocked call was cancelled.
    pub(crate) cancelled: Option<String>,
    /// When the instance's time limit ends; host waits end there too.
    pub(crate) deadline: Option<Instant>,
    /// A host wait reached the deadline.
    pub(crate) timed_out: bool,
    /// The panic message the SDK logged before trapping.
    pub(crate) panic_message: Option<String>,
    /// Why a file write failed, as the host's file system said it (the
    /// guest's libc only sees an I/O error).
    pub(crate) storage_error: Option<super::write_errors::StorageError>,
    /// Destination: a checkpoint delivered but not yet acknowledged.
    pub(crate) pending_ack: Option<Checkpoint>,
    /// Destination: the end of the stream was delivered.
    pub(crate) saw_end: bool,
    /// Source: checkpoints sent so far.
    pub(crate) checkpoints_sent: u64,
    /// Source: rows and bytes emitted (counted by the host).
    pub(crate) emitted_rows: u64,
    pub(crate) emitted_bytes: u64,
    /// Destination: rows delivered.
    pub(crate) delivered_rows: u64,
    /// Metrics refused (non-finite values, bad names).
    pub(crate) dropped_metrics: u64,
    /// WASI preview 1 and sockets, for a WasmEdge-style core module.
    pub(crate) wasmedge: Option<Box<super::wasmedge::ModuleState>>,
    /// `wasi:http` state, and the hooks that send only what the grant allows.
    pub(crate) http: WasiHttpCtx,
    pub(crate) http_gate: super::http_gate::HttpGate,
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http_gate,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
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
    pub(crate) fn new(wasi: WasiCtx, limits: InstanceLimits, ctx: HostContext) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(limits.max_handles);
        HostState {
            wasi,
            table,
            max_handles: limits.max_handles,
            limiter: MemoryLimiter::new(limits.max_memory),
            ctx,
            lookup: Default::default(),
            fault: None,
            cancelled: None,
            deadline: None,
            timed_out: false,
            panic_message: None,
            storage_error: None,
            pending_ack: None,
            saw_end: false,
            checkpoints_sent: 0,
            emitted_rows: 0,
            emitted_bytes: 0,
            delivered_rows: 0,
            dropped_metrics: 0,
            wasmedge: None,
            http: WasiHttpCtx::new(),
            http_gate: super::http_gate::HttpGate::closed(),
        }
    }

    /// The trap for a host wait that reached the instance's deadline.
    fn time_up(&mut self) -> wasmtime::Error {
        self.timed_out = true;
        wasmtime::Error::msg("the time limit ended while waiting for the pipeline")
    }

    fn stream_label(&self) -> &str {
        self.ctx.stream.as_deref().unwrap_or("-")
    }

    fn fault(&mut self, code: &str, message: String) -> ConnectorError {
        let message = escape(&message, 4096);
        if self.fault.is_none() {
            self.fault = Some((code.to_string(), message.clone()));
        }
        host_error(ErrorCategory::Data, code, message)
    }

    /// The stored key for a connector's `key`: scoped to the stream, and
    /// apart from the source's cursors for a destination.
    fn state_key(&self, key: &str) -> String {
        let key = scoped_key(self.ctx.stream.as_deref(), key);
        match self.ctx.role {
            Role::Destination { .. } => format!("{DESTINATION_PREFIX}{key}"),
            _ => key,
        }
    }

    /// Hands the checkpoint the destination has now acknowledged (by asking
    /// for more, or by finishing) to the committer.
    pub(crate) fn ack_pending(&mut self) -> Result<(), String> {
        let Some(cp) = self.pending_ack.take() else {
            return Ok(());
        };
        let Role::Destination { acks, .. } = &self.ctx.role else {
            return Ok(());
        };
        acks.ack(cp)?;
        self.ctx
            .progress
            .checkpoints
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Checks a frame's IPC headers against its bytes and the stream's
    /// schema, without decoding it; returns its row count.
    fn validate_frame(&self, ipc: &[u8], expected: Option<&SchemaRef>) -> Result<u64, String> {
        crate::ipc::check_frame(ipc, expected.map(|s| s.as_ref()))
            .map(|info| info.rows)
            .map_err(|e| format!("malformed Arrow IPC frame: {e}"))
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
        match outbox.send_until(
            Frame::Data {
                stream: stream_name,
                ipc,
                rows,
            },
            self.deadline,
        ) {
            Ok(()) => {
                self.emitted_rows += rows;
                self.emitted_bytes += bytes;
                Ok(Ok(()))
            }
            Err(ChannelError::TimedOut) => Err(self.time_up()),
            Err(ChannelError::Aborted(reason)) => {
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
            Role::Destination { inbox, .. } => inbox.clone(),
            _ => {
                self.fault = Some((
                    "next_batch_not_allowed".into(),
                    "next-batch called by a connector that is not a destination".into(),
                ));
                return Err(wasmtime::Error::msg(
                    "next-batch is only available to destinations",
                ));
            }
        };
        if let Err(e) = self.ack_pending() {
            let msg = format!("could not commit the checkpoint to the state database: {e}");
            self.cancelled = Some(msg.clone());
            return Err(wasmtime::Error::msg(msg));
        }
        match inbox.recv_until(self.deadline) {
            Err(ChannelError::TimedOut) => Err(self.time_up()),
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
            Err(ChannelError::Aborted(reason)) => {
                // Abort the destination without letting it finalize partial data.
                self.cancelled = Some(reason.clone());
                Err(wasmtime::Error::msg(format!("cancelled: {reason}")))
            }
        }
    }

    fn get_state(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if key.len() > MAX_STATE_KEY_BYTES {
            return Ok(None);
        }
        let key = self.state_key(&key);
        let Some(state) = &self.ctx.state else {
            return Ok(None);
        };
        match state.get(&key) {
            Ok(value) => Ok(value),
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
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
            return Ok(Err(self.fault(
                "bad_state",
                format!(
                    "a state key must be 1 to {MAX_STATE_KEY_BYTES} bytes, this one has {}",
                    key.len()
                ),
            )));
        }
        if value.len() > MAX_STATE_BYTES {
            return Ok(Err(self.fault(
                "state_too_large",
                format!(
                    "state for `{}` is {} bytes; a state value may hold at most {} KiB",
                    escape(&key, 200),
                    value.len(),
                    MAX_STATE_BYTES >> 10
                ),
            )));
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&value).is_err() {
            return Ok(Err(self.fault(
                "bad_state",
                format!("state for `{}` is not valid JSON", escape(&key, 200)),
            )));
        }
        let key = self.state_key(&key);
        match &self.ctx.role {
            Role::Source {
                outbox,
                cursor_field,
                share,
                ..
            } => {
                let cp = Checkpoint {
                    key,
                    cursor_field: cursor_field.clone(),
                    value,
                    share: *share,
                    seq: self.checkpoints_sent,
                };
                match outbox.send_until(Frame::Checkpoint(cp), self.deadline) {
                    Ok(()) => {
                        self.checkpoints_sent += 1;
                        Ok(Ok(()))
                    }
                    Err(ChannelError::TimedOut) => Err(self.time_up()),
                    Err(ChannelError::Aborted(reason)) => {
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
                let Some(state) = &self.ctx.state else {
                    return Ok(Ok(()));
                };
                match state.put(&key, &value) {
                    Ok(()) => Ok(Ok(())),
                    Err(e) => Ok(Err(host_error(ErrorCategory::Internal, "state", e))),
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
            self.panic_message = Some(escape(&message, MAX_LOG_BYTES));
        }
        let message = escape(&message, MAX_LOG_BYTES);
        let fields = fields.map(|f| escape(&f, MAX_LOG_BYTES));
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
        if !value.is_finite() || name.is_empty() || name.len() > MAX_METRIC_NAME_BYTES {
            self.dropped_metrics += 1;
            if self.dropped_metrics == 1 {
                tracing::warn!(
                    connector = %self.ctx.connector,
                    stream = self.stream_label(),
                    metric = %escape(&name, MAX_METRIC_NAME_BYTES),
                    "dropped a metric: names are 1 to {MAX_METRIC_NAME_BYTES} bytes and values finite (further drops are not logged)"
                );
            }
            return Ok(());
        }
        let labels = labels.map(|l| escape(&l, MAX_METRIC_LABELS_BYTES));
        tracing::debug!(
            target: "connector.metric",
            connector = %self.ctx.connector,
            stream = self.stream_label(),
            metric = %escape(&name, MAX_METRIC_NAME_BYTES),
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

/// Longest state key a connector may use, in bytes.
pub const MAX_STATE_KEY_BYTES: usize = 1024;
/// Longest log message (and fields text) kept from a connector; the rest is
/// cut with a note of how much was dropped.
pub const MAX_LOG_BYTES: usize = 16 << 10;
/// Longest metric name, in bytes.
pub const MAX_METRIC_NAME_BYTES: usize = 200;
/// Longest metric labels text, in bytes.
pub const MAX_METRIC_LABELS_BYTES: usize = 2048;

/// Text a connector supplied, made safe for one log line or one summary
/// row: control characters (newlines included) are escaped, and anything
/// past `max` bytes is cut with a note of how much was dropped.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    let mut used = 0;
    for (i, c) in text.char_indices() {
        if used >= max {
            out.push_str(&format!("… ({} more bytes)", text.len() - i));
            return out;
        }
        if c.is_control() {
            for e in c.escape_default() {
                out.push(e);
            }
            used += 2;
        } else {
            out.push(c);
            used += c.len_utf8();
        }
    }
    out
}

impl super::bindings::source::rapidbyte::connector::types::Host for HostState {}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn stream_of_key_inverts_the_scoping() {
        for (stream, key) in [("orders", "orders"), ("orders", "page"), ("a", "b/c")] {
            let stored = scoped_key(Some(stream), key);
            assert_eq!(stream_of_key(&stored), stream);
            assert_eq!(
                stream_of_key(&format!("{DESTINATION_PREFIX}{stored}")),
                stream
            );
        }
    }
}
