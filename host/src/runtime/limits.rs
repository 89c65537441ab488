//! Per-instance memory and time limits.

use std::time::Duration;

/// Limits applied to one connector instance.
#[derive(Debug, Clone, Copy)]
pub struct InstanceLimits {
    /// Largest linear memory (and table growth) allowed, in bytes.
    pub max_memory: usize,
    /// Wall time the instance may run, counted from instantiation.
    pub timeout: Duration,
    /// Handles the instance may hold at once: open files and directories,
    /// sockets, streams and pollables (entries of its WASI resource table).
    /// Keeps one connector from using up the process's file descriptors.
    pub max_handles: usize,
}

impl Default for InstanceLimits {
    fn default() -> Self {
        InstanceLimits {
            max_memory: 256 << 20,
            timeout: Duration::from_secs(24 * 3600),
            max_handles: 1024,
        }
    }
}

/// Longest a control call (`init`, `discover`, `validate`: no data moves)
/// may run, whatever the pipeline's `resources.timeout`.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);

impl InstanceLimits {
    /// These limits for a control instance: the time limit is at most
    /// [`CONTROL_TIMEOUT`], so `discover` or `check` cannot hang for the
    /// length of a sync.
    pub fn for_control(self) -> Self {
        InstanceLimits {
            timeout: self.timeout.min(CONTROL_TIMEOUT),
            ..self
        }
    }
}

/// Refuses memory growth past the cap and remembers the peak.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    pub(crate) max: usize,
    pub(crate) peak: usize,
    pub(crate) exceeded: Option<usize>,
}

impl MemoryLimiter {
    pub(crate) fn new(max: usize) -> Self {
        MemoryLimiter {
            max,
            peak: 0,
            exceeded: None,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.exceeded = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory limit exceeded: wanted {desired} bytes, the cap is {} bytes",
                self.max
            )));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
