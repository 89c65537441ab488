//! WasmEdge-style command modules (`_start`), run under the sandbox.
//!
//! [`run_command`] runs a `wasm32-wasip1` core module to completion the way
//! `wasmedge prog.wasm args...` would: WASI preview 1 from wasmtime-wasi,
//! WasmEdge's socket imports from [`super::sockets`], the grant's directory
//! and endpoints only, stdout and stderr captured, and a time limit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::{Engine, Linker, Module, Store, Trap};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::I32Exit;

use super::sockets::{self, SocketTable};
use crate::runtime::sandbox::{self, Grant};
use crate::runtime::EPOCH_TICK;

/// The most stdout (and, separately, stderr) a command may write; writing
/// more traps.
pub const MAX_OUTPUT: usize = 16 << 20;

/// What a command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit status: 0 when `_start` returned, else what it passed to
    /// `proc_exit`.
    pub exit_code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

/// Why a command could not run to an exit status.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The file is unreadable or not a valid core module.
    #[error("cannot load {path}: {message}")]
    Compile {
        /// The module file.
        path: PathBuf,
        /// wasmtime's message.
        message: String,
    },
    /// The module imports functions the host does not provide.
    #[error("{path} imports what the host does not provide: {}", .imports.join(", "))]
    UnknownImports {
        /// The module file.
        path: PathBuf,
        /// Every unsatisfied import, as `module::name`.
        imports: Vec<String>,
    },
    /// The sandbox or the linker could not be set up, or instantiation
    /// failed (a start function trapped, an import has the wrong type, the
    /// module has no `_start`).
    #[error("cannot start {path}: {message}")]
    Setup {
        /// The module file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The command ran past its time limit.
    #[error("{path} timed out after {timeout:?}")]
    Timeout {
        /// The module file.
        path: PathBuf,
        /// The limit.
        timeout: Duration,
        /// What it wrote before it was stopped.
        output: CommandOutput,
    },
    /// The command trapped.
    #[error("{path} failed: {message}")]
    Trap {
        /// The module file.
        path: PathBuf,
        /// The trap (`wasm trap: ...`) or host error.
        message: String,
        /// What it wrote before it trapped.
        output: CommandOutput,
    },
}

/// The store's data: WASI preview 1 and the sockets.
struct CommandState {
    wasi: WasiP1Ctx,
    sockets: SocketTable,
}

/// Runs the command module at `wasm` with `args` (after `argv[0]`, which
/// is the file's name) under `grant`, for at most `timeout`.
///
/// `engine` must have epoch interruption on and a thread advancing its
/// epoch every [`EPOCH_TICK`], as [`crate::runtime::Runtime::engine`] does.
/// Time spent blocked in a host socket call is not interrupted (see
/// [`super::sockets`]).
pub fn run_command(
    engine: &Engine,
    wasm: &Path,
    grant: &Grant,
    args: &[&str],
    timeout: Duration,
) -> Result<CommandOutput, CommandError> {
    let path = wasm.to_path_buf();
    let setup = |message: String| CommandError::Setup {
        path: path.clone(),
        message,
    };
    let module = Module::from_file(engine, wasm).map_err(|e| CommandError::Compile {
        path: path.clone(),
        message: format!("{e:#}"),
    })?;

    let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
    let stderr = MemoryOutputPipe::new(MAX_OUTPUT);
    let argv0 = wasm
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "main.wasm".to_string());
    let mut builder = sandbox::wasi_builder(grant).map_err(&setup)?;
    builder
        .arg(argv0)
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    let mut sockets =
        SocketTable::new(grant.endpoints.clone(), grant.denied.clone()).with_names(&grant.names);
    if let Some(deadline) = std::time::Instant::now().checked_add(timeout) {
        sockets.set_deadline(deadline);
    }
    let state = CommandState {
        wasi: builder.build_p1(),
        sockets,
    };
    let mut store = Store::new(engine, state);
    let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_trap();

    let mut linker: Linker<CommandState> = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut CommandState| &mut s.wasi)
        .map_err(|e| setup(format!("{e:#}")))?;
    sockets::add_to_linker(&mut linker, &mut store, |s: &mut CommandState| {
        &mut s.sockets
    })
    .map_err(|e| setup(format!("{e:#}")))?;

    let unknown: Vec<String> = module
        .imports()
        .filter(|i| linker.get_by_import(&mut store, i).is_none())
        .map(|i| format!("{}::{}", i.module(), i.name()))
        .collect();
    if !unknown.is_empty() {
        return Err(CommandError::UnknownImports {
            path,
            imports: unknown,
        });
    }

    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| setup(format!("{e:#}")))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| setup(format!("no `_start` command entry point: {e:#}")))?;
    let outcome = start.call(&mut store, ());
    drop(store);
    let output = |exit_code| CommandOutput {
        exit_code,
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
    };
    match outcome {
        Ok(()) => Ok(output(0)),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return Ok(output(exit.0));
            }
            if matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
                return Err(CommandError::Timeout {
                    path,
                    timeout,
                    output: output(-1),
                });
            }
            let message = match e.downcast_ref::<Trap>() {
                Some(t) => t.to_string(),
                None => format!("{e:#}"),
            };
            tracing::debug!(path = %path.display(), %message, "command trapped");
            Err(CommandError::Trap {
                path,
                message,
                output: output(-1),
            })
        }
    }
}
