//! One stream: source and destination instances on their own threads,
//! joined by a [`ByteChannel`], with the run recorded in the state.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::channel::ByteChannel;
use super::prepare::{Prepared, SelectedStream};
use super::StreamReport;
use crate::runtime::bindings::sync_mode_name;
use crate::runtime::bindings::types::{Partition, ReadRequest, StreamSelection, WriteRequest};
use crate::runtime::{
    ConnectorFailure, DestinationInstance, HostContext, Progress, Role, SourceInstance,
};
use crate::state::{RunOutcome, RunStatus};

struct SideResult {
    rows: u64,
    bytes: u64,
    peak_memory: usize,
}

impl Prepared<'_> {
    /// Runs every selected stream, `resources.parallelism` at a time, and
    /// reports each in selection order.
    pub fn run_all(&self) -> Vec<StreamReport> {
        let n = self.streams.len();
        let queue: Mutex<VecDeque<usize>> = Mutex::new((0..n).collect());
        let results: Mutex<Vec<Option<StreamReport>>> = Mutex::new(vec![None; n]);
        let workers = self.config.spec.resources.parallelism.min(n).max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(i) = next else { break };
                    let report = self.run_stream(&self.streams[i]);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(report);
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .zip(&self.streams)
            .map(|(r, s)| {
                r.unwrap_or_else(|| {
                    failed_report(s, "the stream worker stopped unexpectedly".into())
                })
            })
            .collect()
    }

    fn context(
        &self,
        connector: &str,
        stream: &str,
        role: Role,
        progress: Arc<Progress>,
    ) -> HostContext {
        HostContext {
            pipeline: self.config.spec.pipeline.clone(),
            connector: connector.to_string(),
            stream: Some(stream.to_string()),
            role,
            state: Some(self.state.clone()),
            progress,
        }
    }

    fn source_side(
        &self,
        stream: &SelectedStream,
        channel: Arc<ByteChannel>,
        partition: Option<Partition>,
    ) -> Result<SideResult, ConnectorFailure> {
        let name = &stream.selection.name;
        let selection = StreamSelection {
            partition,
            ..stream.selection.clone()
        };
        let role = Role::Source {
            outbox: channel,
            stream: name.clone(),
            schema: Some(stream.schema.clone()),
            cursor_field: stream.selection.cursor_field.clone(),
        };
        let ctx = self.context(
            &self.source.connector.manifest.name,
            name,
            role,
            Arc::default(),
        );
        let mut src = SourceInstance::new(
            self.runtime,
            &self.source.component,
            &self.source.grant,
            self.limits,
            ctx,
        )?;
        src.init(&self.source.config_json)?;
        let summary = src.read(&ReadRequest {
            streams: vec![selection],
        })?;
        let (rows, bytes) = src.emitted();
        let claimed: u64 = summary.streams.iter().map(|s| s.records).sum();
        if claimed != rows {
            tracing::warn!(stream = %name, claimed, counted = rows, "source summary disagrees with the rows it emitted");
        }
        Ok(SideResult {
            rows,
            bytes,
            peak_memory: src.peak_memory(),
        })
    }

    fn destination_side(
        &self,
        stream: &SelectedStream,
        channel: Arc<ByteChannel>,
        progress: Arc<Progress>,
    ) -> Result<SideResult, ConnectorFailure> {
        let name = &stream.selection.name;
        let role = Role::Destination { inbox: channel };
        let ctx = self.context(
            &self.destination.connector.manifest.name,
            name,
            role,
            progress,
        );
        let mut dst = DestinationInstance::new(
            self.runtime,
            &self.destination.component,
            &self.destination.grant,
            self.limits,
            ctx,
        )?;
        dst.init(&self.destination.config_json)?;
        let summary = dst.write(&WriteRequest {
            stream_name: name.clone(),
            schema: stream.schema_ipc.clone(),
            write_mode: stream.write_mode.clone(),
        })?;
        if summary.records != dst.delivered_rows() {
            tracing::warn!(stream = %name, claimed = summary.records, delivered = dst.delivered_rows(), "destination summary disagrees with the rows it received");
        }
        Ok(SideResult {
            rows: summary.records,
            bytes: summary.bytes,
            peak_memory: dst.peak_memory(),
        })
    }

    /// Runs one stream to completion or failure.
    pub fn run_stream(&self, stream: &SelectedStream) -> StreamReport {
        let name = &stream.selection.name;
        let pipeline = &self.config.spec.pipeline;
        let start = Instant::now();
        let run_id = match self.state.start_run(pipeline, name) {
            Ok(id) => id,
            Err(e) => return failed_report(stream, e.to_string()),
        };
        tracing::info!(pipeline = %pipeline, stream = %name, mode = sync_mode_name(stream.selection.sync_mode), "syncing stream");
        let capacity =
            usize::try_from(self.config.spec.resources.channel_capacity()).unwrap_or(usize::MAX);
        let shares = stream.partitions.max(1);
        let channel = Arc::new(ByteChannel::with_producers(capacity, shares as usize));
        let dst_progress = Arc::new(Progress::default());
        let (src, dst) = std::thread::scope(|s| {
            let dst = {
                let channel = channel.clone();
                let progress = dst_progress.clone();
                s.spawn(move || {
                    let r = self.destination_side(stream, channel.clone(), progress);
                    if let Err(e) = &r {
                        channel.abort(&e.to_string());
                    }
                    r
                })
            };
            let sources: Vec<_> = (0..shares)
                .map(|index| {
                    let channel = channel.clone();
                    let partition = (shares > 1).then_some(Partition {
                        index,
                        count: shares,
                    });
                    s.spawn(move || {
                        let r = self.source_side(stream, channel.clone(), partition);
                        match &r {
                            Ok(_) => channel.finish(),
                            Err(e) => channel.abort(&e.to_string()),
                        }
                        r
                    })
                })
                .collect();
            let src = combine(sources.into_iter().map(join).collect());
            (src, join(dst))
        });
        let error = match (&src, &dst) {
            (Ok(_), Ok(_)) => None,
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Some(e.to_string()),
            (Err(a), Err(b)) => Some(if a.is_cancellation() && !b.is_cancellation() {
                b.to_string()
            } else {
                a.to_string()
            }),
        };
        let src_r = src.as_ref().ok();
        let dst_r = dst.as_ref().ok();
        let report = StreamReport {
            name: name.clone(),
            sync_mode: sync_mode_name(stream.selection.sync_mode).into(),
            records_read: src_r.map(|r| r.rows).unwrap_or(0),
            records_written: dst_r.map(|r| r.rows).unwrap_or(0),
            bytes: src_r.map(|r| r.bytes).unwrap_or(0),
            duration: start.elapsed(),
            peak_memory: (src_r.map(|r| r.peak_memory).unwrap_or(0)
                + dst_r.map(|r| r.peak_memory).unwrap_or(0)) as u64,
            checkpoints: dst_progress.checkpoints.load(Ordering::Relaxed),
            error,
        };
        let outcome = RunOutcome {
            status: if report.error.is_none() {
                RunStatus::Completed
            } else {
                RunStatus::Failed
            },
            records_read: report.records_read,
            records_written: report.records_written,
            bytes_read: report.bytes,
            error_message: report.error.clone(),
        };
        if let Err(e) = self.state.finish_run(run_id, &outcome) {
            tracing::error!(stream = %name, error = %e, "could not record the end of the run");
        }
        match &report.error {
            None => {
                tracing::info!(stream = %name, records = report.records_written, secs = report.duration.as_secs_f64(), "stream complete")
            }
            Some(e) => tracing::error!(stream = %name, "stream failed: {e}"),
        }
        report
    }
}

fn join<T>(
    h: std::thread::ScopedJoinHandle<'_, Result<T, ConnectorFailure>>,
) -> Result<T, ConnectorFailure> {
    h.join().unwrap_or_else(|_| {
        Err(ConnectorFailure {
            connector: "host".into(),
            stream: None,
            kind: crate::runtime::FailureKind::Trap(
                "internal error: a stream thread panicked".into(),
            ),
        })
    })
}

/// The partitions of one read as one side: counts added up, or the error
/// that caused the others' cancellation.
fn combine(
    parts: Vec<Result<SideResult, ConnectorFailure>>,
) -> Result<SideResult, ConnectorFailure> {
    let mut total = SideResult {
        rows: 0,
        bytes: 0,
        peak_memory: 0,
    };
    let mut error: Option<ConnectorFailure> = None;
    for part in parts {
        match part {
            Ok(r) => {
                total.rows += r.rows;
                total.bytes += r.bytes;
                total.peak_memory += r.peak_memory;
            }
            Err(e) => {
                let replace = error
                    .as_ref()
                    .is_none_or(|prev| prev.is_cancellation() && !e.is_cancellation());
                if replace {
                    error = Some(e);
                }
            }
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn failed_report(stream: &SelectedStream, error: String) -> StreamReport {
    StreamReport {
        name: stream.selection.name.clone(),
        sync_mode: sync_mode_name(stream.selection.sync_mode).into(),
        records_read: 0,
        records_written: 0,
        bytes: 0,
        duration: std::time::Duration::ZERO,
        peak_memory: 0,
        checkpoints: 0,
        error: Some(error),
    }
}
