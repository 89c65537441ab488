//! A stream's pipeline as a graph of stages joined by byte-bounded
//! channels.
//!
//! A graph is a list of layers: the source layer (one stage, or one per
//! partition share), then any number of middle layers (transforms, taps),
//! then the sink layer (the destination). Each stage runs on its own
//! thread and sees only its [`Ports`]: the channel it reads and the channel
//! it writes. Checkpoints travel in the channels behind the data they
//! cover, so a middle stage passes a checkpoint on only after everything
//! before it; the sink acknowledges it to the committer
//! ([`super::commit::Committer`]), which stores it.
//!
//! When a stage fails or panics, every channel of the graph is aborted with
//! its reason: upstream stages stop at their next send, downstream stages
//! at their next receive, and nothing is committed after the failure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::channel::ByteChannel;
use super::interrupt::Interrupt;
use crate::ipc::guarded;
use crate::runtime::{ConnectorFailure, FailureKind, Inbox, Outbox};

/// The channels a stage runs with.
pub struct Ports {
    /// Frames from the layer before (none for the source layer).
    pub inbox: Option<Arc<dyn Inbox>>,
    /// Where this stage's frames go (none for the sink layer).
    pub outbox: Option<Arc<dyn Outbox>>,
}

/// What a stage reports when it ends well.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOutput {
    /// Rows it produced (a source, a transform) or wrote (a sink).
    pub rows: u64,
    /// Bytes of those rows.
    pub bytes: u64,
    /// Largest memory the stage's instance reached, in bytes.
    pub peak_memory: usize,
}

/// One stage: run once, on its own thread, with its ports.
pub type StageFn<'a> = Box<dyn FnOnce(Ports) -> Result<StageOutput, ConnectorFailure> + Send + 'a>;

/// Stages that read the same channel and write the same channel (the
/// shares of a partitioned read; or a single stage).
pub struct Layer<'a> {
    /// Who runs this layer (a connector name, or `host` for host stages),
    /// for errors.
    pub name: String,
    /// The stages, at least one.
    pub stages: Vec<StageFn<'a>>,
}

/// The stages of one stream.
pub struct Graph<'a> {
    stream: String,
    capacity: usize,
    layers: Vec<Layer<'a>>,
    interrupt: Option<Interrupt>,
}

/// How often a running graph looks at its [`Interrupt`].
const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// How every stage of a graph ended, layer by layer.
pub struct GraphOutcome {
    /// One entry per layer, one result per stage.
    pub layers: Vec<Vec<Result<StageOutput, ConnectorFailure>>>,
}

impl GraphOutcome {
    /// The failure that explains the run: the first that is not only a
    /// cancellation caused by another, in graph order.
    pub fn failure(&self) -> Option<&ConnectorFailure> {
        let mut errors = self
            .layers
            .iter()
            .flatten()
            .filter_map(|r| r.as_ref().err());
        let first = errors.clone().next()?;
        Some(errors.find(|e| !e.is_cancellation()).unwrap_or(first))
    }

    /// A layer's outputs added up, if all its stages ended well.
    pub fn layer(&self, i: usize) -> Option<StageOutput> {
        let mut total = StageOutput::default();
        for r in self.layers.get(i)? {
            let r = r.as_ref().ok()?;
            total.rows += r.rows;
            total.bytes += r.bytes;
            total.peak_memory += r.peak_memory;
        }
        Some(total)
    }
}

impl<'a> Graph<'a> {
    /// An empty graph for `stream` whose channels hold at most `capacity`
    /// bytes each.
    pub fn new(stream: &str, capacity: usize) -> Self {
        Graph {
            stream: stream.to_string(),
            capacity,
            layers: Vec::new(),
            interrupt: None,
        }
    }

    /// Stops the graph when `interrupt` is triggered: every channel is
    /// aborted with the interrupt's reason, so stages stop at their next
    /// send or receive and nothing after that point is acknowledged.
    pub fn interruptible(mut self, interrupt: &Interrupt) -> Self {
        self.interrupt = Some(interrupt.clone());
        self
    }

    /// Appends a layer run by `name`.
    pub fn then(mut self, name: &str, stages: Vec<StageFn<'a>>) -> Self {
        self.layers.push(Layer {
            name: name.to_string(),
            stages,
        });
        self
    }

    /// Runs every stage to its end and reports how each ended. Returns once
    /// all stage threads have finished, whatever they did.
    pub fn run(self) -> GraphOutcome {
        let n = self.layers.len();
        let channels: Vec<Arc<ByteChannel>> = self
            .layers
            .iter()
            .take(n.saturating_sub(1))
            .map(|l| Arc::new(ByteChannel::with_producers(self.capacity, l.stages.len())))
            .collect();
        let stream = self.stream.as_str();
        let channels_ref = &channels;
        let done = AtomicBool::new(false);
        let interrupt = self.interrupt.clone();
        let layers = std::thread::scope(|s| {
            if let Some(interrupt) = &interrupt {
                let done = &done;
                s.spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        if interrupt.signal().is_some() {
                            let reason = interrupt.reason();
                            for c in channels_ref {
                                c.abort(&reason);
                            }
                            return;
                        }
                        std::thread::sleep(INTERRUPT_POLL);
                    }
                });
            }
            let handles: Vec<Vec<_>> = self
                .layers
                .into_iter()
                .enumerate()
                .map(|(i, layer)| {
                    let name = layer.name;
                    layer
                        .stages
                        .into_iter()
                        .map(|stage| {
                            let inbox = i.checked_sub(1).map(|j| channels_ref[j].clone());
                            let outbox = channels_ref.get(i).cloned();
                            let name = name.clone();
                            s.spawn(move || {
                                run_stage(stage, &name, stream, inbox, outbox, channels_ref)
                            })
                        })
                        .collect()
                })
                .collect();
            let joined: Vec<Vec<_>> = handles
                .into_iter()
                .map(|layer| {
                    layer
                        .into_iter()
                        .map(|h| {
                            h.join().unwrap_or_else(|_| {
                                Err(host_failure(stream, "a stage thread ended unexpectedly"))
                            })
                        })
                        .collect()
                })
                .collect();
            done.store(true, Ordering::Relaxed);
            joined
        });
        GraphOutcome { layers }
    }
}

fn host_failure(stream: &str, message: &str) -> ConnectorFailure {
    ConnectorFailure {
        connector: "host".into(),
        stream: Some(stream.to_string()),
        kind: FailureKind::Host(message.to_string()),
    }
}

fn run_stage(
    stage: StageFn<'_>,
    name: &str,
    stream: &str,
    inbox: Option<Arc<ByteChannel>>,
    outbox: Option<Arc<ByteChannel>>,
    all: &[Arc<ByteChannel>],
) -> Result<StageOutput, ConnectorFailure> {
    let ports = Ports {
        inbox: inbox.map(|c| c as Arc<dyn Inbox>),
        outbox: outbox.clone().map(|c| c as Arc<dyn Outbox>),
    };
    let result = match guarded(|| stage(ports)) {
        Ok(r) => r,
        Err(panic) => {
            tracing::error!(stage = %name, stream = %stream, "a stage panicked: {panic}");
            Err(ConnectorFailure {
                connector: name.to_string(),
                stream: Some(stream.to_string()),
                kind: FailureKind::Host(format!("internal error: the stage panicked: {panic}")),
            })
        }
    };
    match &result {
        Ok(_) => {
            if let Some(out) = &outbox {
                out.finish();
            }
        }
        Err(e) => {
            let reason = e.to_string();
            for c in all {
                c.abort(&reason);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests;
