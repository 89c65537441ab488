//! Connector instances: a store with its limits and one world's exports,
//! and the classification of everything that can go wrong in a call.

use std::fmt;
use std::time::Duration;

use wasmtime::{Store, Trap};

use super::bindings::types::{
    Catalog, ConnectorError, ReadRequest, ReadSummary, ValidationResult, WriteRequest, WriteSummary,
};
use super::exports::{ControlExports, DestinationWorld, SourceWorld, World};
use super::host_impl::{escape, HostContext, HostState};
use super::sandbox::Grant;
use super::write_errors::StorageError;
use super::{Code, InstanceLimits, LoadedComponent, Runtime, EPOCH_TICK};

/// How a connector call failed.
#[derive(Debug, Clone)]
pub enum FailureKind {
    /// The connector returned a structured error.
    Error(Box<ConnectorErrorData>),
    /// The host caught a contract violation (malformed frame...).
    Fault {
        /// Stable code (`bad_frame`, `state_too_large`...).
        code: String,
        /// What was wrong.
        message: String,
    },
    /// The connector ran past its time limit.
    Timeout(Duration),
    /// The connector asked for more memory than its cap.
    Memory(usize),
    /// The connector held more handles (files, sockets, streams) than its
    /// cap.
    Handles(usize),
    /// The connector panicked.
    Panic(String),
    /// The run was aborted because the other side failed.
    Cancelled(String),
    /// Any other trap.
    Trap(String),
    /// The sandbox could not be set up or the component not instantiated.
    Setup(String),
    /// The host itself failed (a stage panicked, the state database...).
    Host(String),
}

/// A connector's `connector-error`, as the host keeps it (every text
/// escaped and capped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorErrorData {
    /// Category name (`config`, `auth`, `network`, `rate-limit`, `data`,
    /// `schema`, `internal`).
    pub category: String,
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Whether the connector says a retry may succeed.
    pub retryable: bool,
    /// Extra detail the connector attached (JSON text, by convention).
    pub details: Option<String>,
}

/// A failed connector call, naming connector and stream.
#[derive(Debug, Clone)]
pub struct ConnectorFailure {
    /// Connector name.
    pub connector: String,
    /// Stream, when the call served one.
    pub stream: Option<String>,
    /// What happened.
    pub kind: FailureKind,
}

/// Longest error message kept from a connector, in bytes.
const MAX_ERROR_BYTES: usize = 4096;

/// A failure as data: what the run summary, `sync_runs` and `--json`
/// output record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorInfo {
    /// What failed: `connector_error`, `contract`, `timeout`, `memory`,
    /// `panic`, `trap`, `cancelled`, `setup` or `host`.
    pub kind: String,
    /// The category: the connector's (`config`, `auth`, `network`,
    /// `rate-limit`, `data`, `schema`, `internal`), or the kind for host
    /// detected failures.
    pub category: String,
    /// A stable code.
    pub code: String,
    /// The whole message, naming connector and stream.
    pub message: String,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// The connector's details, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl ErrorInfo {
    /// A failure of the host itself (state database, a stage thread...).
    pub fn host(code: &str, message: String) -> Self {
        ErrorInfo {
            kind: "host".into(),
            category: "internal".into(),
            code: code.into(),
            message,
            retryable: false,
            details: None,
        }
    }
}

impl ConnectorFailure {
    /// This failure as data.
    pub fn info(&self) -> ErrorInfo {
        let (kind, category, code, retryable, details) = match &self.kind {
            FailureKind::Error(e) => (
                "connector_error",
                e.category.as_str(),
                e.code.as_str(),
                e.retryable,
                e.details.clone(),
            ),
            FailureKind::Fault { code, .. } => ("contract", "contract", code.as_str(), false, None),
            FailureKind::Timeout(_) => ("timeout", "timeout", "time_limit", true, None),
            FailureKind::Memory(_) => ("memory", "memory", "memory_limit", false, None),
            FailureKind::Handles(_) => ("handles", "handles", "handle_limit", false, None),
            FailureKind::Panic(_) => ("panic", "panic", "panic", false, None),
            FailureKind::Cancelled(_) => ("cancelled", "cancelled", "cancelled", false, None),
            FailureKind::Trap(_) => ("trap", "trap", "trap", false, None),
            FailureKind::Setup(_) => ("setup", "setup", "setup", false, None),
            FailureKind::Host(_) => ("host", "internal", "host_error", false, None),
        };
        ErrorInfo {
            kind: kind.into(),
            category: category.into(),
            code: code.into(),
            message: self.to_string(),
            retryable,
            details,
        }
    }

    /// Whether the connector rejected its configuration.
    pub fn is_config_error(&self) -> bool {
        matches!(&self.kind, FailureKind::Error(e) if e.category == "config")
    }

    /// Whether this failure only echoes a failure elsewhere.
    pub fn is_cancellation(&self) -> bool {
        matches!(self.kind, FailureKind::Cancelled(_))
            || matches!(&self.kind, FailureKind::Error(e) if e.code == "cancelled")
    }
}

impl fmt::Display for ConnectorFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connector `{}`", self.connector)?;
        if let Some(s) = &self.stream {
            write!(f, " (stream `{s}`)")?;
        }
        match &self.kind {
            FailureKind::Error(e) => {
                write!(f, " failed: {} [{}/{}]", e.message, e.category, e.code)
            }
            FailureKind::Fault { message, .. } => write!(f, " broke the contract: {message}"),
            FailureKind::Timeout(d) => {
                write!(
                    f,
                    " was stopped: it exceeded its time limit of {:.1}s (resources.timeout)",
                    d.as_secs_f64()
                )
            }
            FailureKind::Memory(cap) => write!(
                f,
                " was stopped: it exceeded its memory limit of {} MiB; raise resources.max_memory, or for wide rows lower resources.max_batch_bytes (or the connector's batch_rows)",
                cap >> 20
            ),
            FailureKind::Handles(cap) => write!(
                f,
                " was stopped: it held more than {cap} open handles (files, sockets, streams) at once; raise resources.max_handles if it really needs more"
            ),
            FailureKind::Panic(m) => write!(f, " crashed: {m}"),
            FailureKind::Cancelled(m) => write!(f, " was cancelled: {m}"),
            FailureKind::Trap(m) => write!(f, " crashed: {m}"),
            FailureKind::Setup(m) => write!(f, " could not start: {m}"),
            FailureKind::Host(m) => write!(f, " failed inside the host: {m}"),
        }
    }
}

impl std::error::Error for ConnectorFailure {}

struct Instance {
    store: Store<HostState>,
    connector: String,
    stream: Option<String>,
    timeout: Duration,
}

impl Instance {
    fn new(
        runtime: &Runtime,
        code: &Code,
        grant: &Grant,
        limits: InstanceLimits,
        ctx: HostContext,
    ) -> Result<Self, ConnectorFailure> {
        let connector = ctx.connector.clone();
        let stream = ctx.stream.clone();
        let deadline = std::time::Instant::now().checked_add(limits.timeout);
        let (wasi, module_state) =
            code.wasi_for(grant, deadline, limits.max_handles)
                .map_err(|m| ConnectorFailure {
                    connector: connector.clone(),
                    stream: stream.clone(),
                    kind: FailureKind::Setup(m),
                })?;
        let mut state = HostState::new(wasi, limits, ctx);
        state.deadline = deadline;
        state.lookup = super::name_lookup::LookupGrant {
            names: grant.names.clone(),
            denied: grant.denied.clone(),
        };
        state.wasmedge = module_state;
        state.http_gate = super::http_gate::HttpGate::new(&grant.http, grant.denied.clone())
            .map_err(|m| ConnectorFailure {
                connector: connector.clone(),
                stream: stream.clone(),
                kind: FailureKind::Setup(m),
            })?;
        let mut store = Store::new(runtime.engine(), state);
        store.limiter(|s| &mut s.limiter);
        let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
        Ok(Instance {
            store,
            connector,
            stream,
            timeout: limits.timeout,
        })
    }

    fn failure(&self, kind: FailureKind) -> ConnectorFailure {
        ConnectorFailure {
            connector: self.connector.clone(),
            stream: self.stream.clone(),
            kind,
        }
    }

    /// Classifies the outcome of an export call.
    fn settle<T>(
        &mut self,
        outcome: wasmtime::Result<Result<T, ConnectorError>>,
    ) -> Result<T, ConnectorFailure> {
        let data = self.store.data_mut();
        if let Some((code, message)) = data.fault.take() {
            return Err(self.failure(FailureKind::Fault { code, message }));
        }
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                let mut error = ConnectorErrorData {
                    category: category_name(e.category).to_string(),
                    code: escape(&e.code, 100),
                    message: escape(&e.message, MAX_ERROR_BYTES),
                    retryable: e.retryable,
                    details: e.details.map(|d| escape(&d, MAX_ERROR_BYTES)),
                };
                if let Some(seen) = data.storage_error {
                    name_storage_error(&mut error, seen);
                }
                Err(self.failure(FailureKind::Error(Box::new(error))))
            }
            Err(trap) => {
                let data = self.store.data_mut();
                let kind = if data.limiter.exceeded.is_some() {
                    FailureKind::Memory(data.limiter.max)
                } else if handles_exhausted(&trap) {
                    FailureKind::Handles(data.max_handles)
                } else if data.timed_out
                    || matches!(trap.downcast_ref::<Trap>(), Some(Trap::Interrupt))
                {
                    FailureKind::Timeout(self.timeout)
                } else if let Some(reason) = data.cancelled.take() {
                    FailureKind::Cancelled(reason)
                } else if let Some(p) = data.panic_message.take() {
                    FailureKind::Panic(p)
                } else if let Some(kind) = bad_pointer(&trap) {
                    kind
                } else {
                    // A `Trap` displays as "wasm trap: ..."; any other error
                    // by its root cause, not "error while executing at wasm
                    // backtrace".
                    let msg = match trap.downcast_ref::<Trap>() {
                        Some(t) => t.to_string(),
                        None => trap.root_cause().to_string(),
                    };
                    FailureKind::Trap(escape(&msg, MAX_ERROR_BYTES))
                };
                Err(self.failure(kind))
            }
        }
    }
}

/// The I/O error a connector reported, corrected with what the host's
/// file system said: wasi-libc reports every failed stream write as EIO, so
/// a full disk reaches the connector as "input/output error". Only the
/// SDK's `io_error` code is rewritten (its generic text replaced); any
/// other error gets the host's observation appended.
fn name_storage_error(error: &mut ConnectorErrorData, seen: StorageError) {
    const SDK_EIO_TEXT: &str =
        "input/output error (through WASI a full disk can show this way too)";
    if error.code == "io_error" {
        error.code = seen.code().to_string();
        if error.message.contains(SDK_EIO_TEXT) {
            error.message = error.message.replace(SDK_EIO_TEXT, seen.text());
            return;
        }
    }
    error.message = format!(
        "{} (the host's file system reported: {})",
        error.message,
        seen.text()
    );
}

/// A call whose arguments point outside the guest's linear memory (or are
/// misaligned): the connector broke the canonical ABI. The runtime (for a
/// component) or the shim's flat ABI (for a core module) refused to read
/// them.
fn bad_pointer(trap: &wasmtime::Error) -> Option<FailureKind> {
    let root = trap.root_cause().to_string();
    let bad = [
        "out of bounds of memory",
        "outside the guest memory",
        "not aligned",
    ]
    .iter()
    .any(|s| root.contains(s));
    bad.then(|| FailureKind::Fault {
        code: "bad_pointer".into(),
        message: escape(
            &format!(
                "it handed the host a string or list outside its memory ({root}); this is a bug in the connector or its bindings"
            ),
            MAX_ERROR_BYTES,
        ),
    })
}

/// Whether `trap` says the instance's resource table is full (the handle
/// cap of [`InstanceLimits::max_handles`]).
fn handles_exhausted(trap: &wasmtime::Error) -> bool {
    trap.chain().any(|e| {
        matches!(
            e.downcast_ref::<wasmtime::component::ResourceTableError>(),
            Some(wasmtime::component::ResourceTableError::Full)
        )
    })
}

impl Instance {
    fn setup_failed(&self, e: wasmtime::Error) -> ConnectorFailure {
        self.failure(FailureKind::Setup(format!("instantiation failed: {e:#}")))
    }
}

/// A connector instance of world `W` ([`SourceWorld`], [`DestinationWorld`]):
/// its store, limits and failure handling, whatever the world and whatever
/// the code (component or WasmEdge-style module).
pub struct ConnectorInstance<W: World> {
    inner: Instance,
    exports: Box<W::Exports>,
}

/// A source connector instance.
pub type SourceInstance = ConnectorInstance<SourceWorld>;

/// A destination connector instance.
pub type DestinationInstance = ConnectorInstance<DestinationWorld>;

impl<W: World> ConnectorInstance<W> {
    /// Instantiates `component` under `grant` and `limits`.
    pub fn new(
        runtime: &Runtime,
        component: &LoadedComponent,
        grant: &Grant,
        limits: InstanceLimits,
        ctx: HostContext,
    ) -> Result<Self, ConnectorFailure> {
        let mut inner = Instance::new(runtime, &component.code, grant, limits, ctx)?;
        let exports = W::instantiate(&component.code, runtime, &mut inner.store)
            .map_err(|e| inner.setup_failed(e))?;
        Ok(ConnectorInstance { inner, exports })
    }

    /// `init(config)`.
    pub fn init(&mut self, config: &str) -> Result<(), ConnectorFailure> {
        let r = self.exports.init(&mut self.inner.store, config);
        self.inner.settle(r)
    }

    /// `validate(config)`.
    pub fn validate(&mut self, config: &str) -> Result<ValidationResult, ConnectorFailure> {
        let r = self.exports.validate(&mut self.inner.store, config);
        self.inner.settle(r)
    }

    /// Largest linear memory the instance reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.inner.store.data().limiter.peak
    }
}

impl ConnectorInstance<SourceWorld> {
    /// `discover()`.
    pub fn discover(&mut self) -> Result<Catalog, ConnectorFailure> {
        let r = self.exports.discover(&mut self.inner.store);
        self.inner.settle(r)
    }

    /// `read(request)`.
    pub fn read(&mut self, request: &ReadRequest) -> Result<ReadSummary, ConnectorFailure> {
        let r = self.exports.read(&mut self.inner.store, request);
        self.inner.settle(r)
    }

    /// Rows and IPC bytes the host accepted from this instance.
    pub fn emitted(&self) -> (u64, u64) {
        let d = self.inner.store.data();
        (d.emitted_rows, d.emitted_bytes)
    }
}

impl ConnectorInstance<DestinationWorld> {
    /// `write(request)`, then commits the last acknowledged checkpoint. Fails
    /// if the destination returned before the end of the stream.
    pub fn write(&mut self, request: &WriteRequest) -> Result<WriteSummary, ConnectorFailure> {
        let r = self.exports.write(&mut self.inner.store, request);
        let summary = self.inner.settle(r)?;
        let data = self.inner.store.data_mut();
        if !data.saw_end {
            return Err(self.inner.failure(FailureKind::Fault {
                code: "early_return".into(),
                message: "write returned before receiving the end of the stream".into(),
            }));
        }
        if let Err(e) = data.ack_pending() {
            return Err(self.inner.failure(FailureKind::Setup(format!(
                "could not commit the final checkpoint: {e}"
            ))));
        }
        Ok(summary)
    }

    /// Rows the host delivered to this instance.
    pub fn delivered_rows(&self) -> u64 {
        self.inner.store.data().delivered_rows
    }
}

fn category_name(c: super::bindings::types::ErrorCategory) -> &'static str {
    use super::bindings::types::ErrorCategory as C;
    match c {
        C::Config => "config",
        C::Auth => "auth",
        C::Network => "network",
        C::RateLimit => "rate-limit",
        C::Data => "data",
        C::Schema => "schema",
        C::Internal => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> ConnectorErrorData {
        ConnectorErrorData {
            category: "data".into(),
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    #[test]
    fn the_sdk_eio_text_becomes_the_host_seen_cause() {
        let mut e = error(
            "io_error",
            "writing /out/rows.csv: input/output error (through WASI a full disk can show this way too)",
        );
        name_storage_error(&mut e, StorageError::NoSpace);
        assert_eq!(e.code, "no_space");
        assert_eq!(e.message, "writing /out/rows.csv: no space left on device");
    }

    #[test]
    fn other_errors_get_the_cause_appended() {
        let mut e = error("write_failed", "could not write the batch");
        name_storage_error(&mut e, StorageError::QuotaExceeded);
        assert_eq!(e.code, "write_failed");
        assert_eq!(
            e.message,
            "could not write the batch (the host's file system reported: disk quota exceeded)"
        );
    }
}
