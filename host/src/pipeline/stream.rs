//! One stream: its stage graph (source shares, destination), the committer
//! at its end, and the run recorded in the state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::commit::{Committer, PipelineState};
use super::graph::{Graph, Ports, StageFn, StageOutput};
use super::interrupt::Interrupt;
use super::prepare::{Prepared, SelectedStream};
use super::StreamReport;
use crate::runtime::bindings::sync_mode_name;
use crate::runtime::bindings::types::{Partition, ReadRequest, StreamSelection, WriteRequest};
use crate::runtime::{
    Acks, ConnectorFailure, DestinationInstance, ErrorInfo, FailureKind, HostContext, Inbox,
    Outbox, Progress, Role, SourceInstance,
};
use crate::state::{RunOutcome, RunStatus};

impl Prepared<'_> {
    /// Runs every selected stream, `resources.parallelism` at a time, and
    /// reports each in selection order.
    pub fn run_all(&self, interrupt: &Interrupt) -> Vec<StreamReport> {
        let n = self.streams.len();
        let queue: Mutex<VecDeque<usize>> = Mutex::new((0..n).collect());
        let results: Mutex<Vec<Option<StreamReport>>> = Mutex::new(vec![None; n]);
        let workers = self.config.spec.resources.parallelism.min(n).max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                    let Some(i) = next else { break };
                    let report = if interrupt.signal().is_some() {
                        let mut r = failed_report(
                            &self.streams[i],
                            format!("not started: {}", interrupt.reason()),
                        );
                        r.interrupted = true;
                        r
                    } else {
                        self.run_stream(&self.streams[i], interrupt)
                    };
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
        let pipeline = &self.config.spec.pipeline;
        HostContext {
            pipeline: pipeline.clone(),
            connector: connector.to_string(),
            stream: Some(stream.to_string()),
            role,
            state: Some(Arc::new(PipelineState::new(self.state.clone(), pipeline))),
            progress,
        }
    }

    fn source_side(
        &self,
        stream: &SelectedStream,
        outbox: Arc<dyn Outbox>,
        partition: Option<Partition>,
    ) -> Result<StageOutput, ConnectorFailure> {
        let name = &stream.selection.name;
        let selection = StreamSelection {
            partition,
            ..stream.selection.clone()
        };
        let role = Role::Source {
            outbox,
            stream: name.clone(),
            schema: Some(stream.schema.clone()),
            cursor_field: stream.selection.cursor_field.clone(),
            share: partition.map(|p| p.index).unwrap_or(0),
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
        Ok(StageOutput {
            rows,
            bytes,
            peak_memory: src.peak_memory(),
        })
    }

    fn destination_side(
        &self,
        stream: &SelectedStream,
        inbox: Arc<dyn Inbox>,
        acks: Arc<dyn Acks>,
    ) -> Result<StageOutput, ConnectorFailure> {
        let name = &stream.selection.name;
        let role = Role::Destination { inbox, acks };
        let ctx = self.context(
            &self.destination.connector.manifest.name,
            name,
            role,
            Arc::default(),
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
        Ok(StageOutput {
            rows: summary.records,
            bytes: summary.bytes,
            peak_memory: dst.peak_memory(),
        })
    }

    /// Runs one stream to completion, failure or interruption.
    pub fn run_stream(&self, stream: &SelectedStream, interrupt: &Interrupt) -> StreamReport {
        let name = &stream.selection.name;
        let pipeline = &self.config.spec.pipeline;
        let start = Instant::now();
        let run_id = match self.state.start_run(pipeline, name) {
            Ok(id) => id,
            Err(e) => {
                // Logged like any stream failure, so it reaches stderr (and
                // the JSON log), not only the summary on stdout.
                tracing::error!(stream = %name, "stream not started: {e}");
                return failed_report(stream, e.to_string());
            }
        };
        tracing::info!(pipeline = %pipeline, stream = %name, mode = sync_mode_name(stream.selection.sync_mode), "syncing stream");
        let capacity =
            usize::try_from(self.config.spec.resources.channel_capacity()).unwrap_or(usize::MAX);
        let shares = stream.partitions.max(1);
        let committer = Arc::new(Committer::new(self.state.clone(), pipeline, 1));
        let sources: Vec<StageFn> = (0..shares)
            .map(|index| {
                let partition = (shares > 1).then_some(Partition {
                    index,
                    count: shares,
                });
                Box::new(move |ports: Ports| {
                    let outbox = ports.outbox.ok_or_else(|| missing_port(stream))?;
                    self.source_side(stream, outbox, partition)
                }) as StageFn
            })
            .collect();
        let acks: Arc<dyn Acks> = committer.clone();
        let destination: StageFn = Box::new(move |ports: Ports| {
            let inbox = ports.inbox.ok_or_else(|| missing_port(stream))?;
            self.destination_side(stream, inbox, acks)
        });
        let outcome = Graph::new(name, capacity)
            .then(&self.source.connector.manifest.name, sources)
            .then(&self.destination.connector.manifest.name, vec![destination])
            .interruptible(interrupt)
            .run();
        let mut failure = outcome.failure().map(|f| f.info());
        let interrupted = failure.is_some() && interrupt.signal().is_some();
        if interrupted {
            failure = Some(ErrorInfo {
                kind: "interrupted".into(),
                category: "interrupted".into(),
                code: "interrupted".into(),
                message: format!(
                    "{}; {} checkpoint(s) of stream `{name}` were committed, a rerun resumes from the last",
                    interrupt.reason(),
                    committer.committed()
                ),
                retryable: true,
                details: None,
            });
        }
        let src_r = outcome.layer(0);
        let dst_r = outcome.layer(1);
        let report = StreamReport {
            name: name.clone(),
            sync_mode: sync_mode_name(stream.selection.sync_mode).into(),
            records_read: src_r.map(|r| r.rows).unwrap_or(0),
            records_written: dst_r.map(|r| r.rows).unwrap_or(0),
            bytes: src_r.map(|r| r.bytes).unwrap_or(0),
            duration: start.elapsed(),
            peak_memory: (src_r.map(|r| r.peak_memory).unwrap_or(0)
                + dst_r.map(|r| r.peak_memory).unwrap_or(0)) as u64,
            checkpoints: committer.committed(),
            error: failure.as_ref().map(|f| f.message.clone()),
            failure,
            interrupted,
        };
        let outcome = RunOutcome {
            status: if report.error.is_none() {
                RunStatus::Completed
            } else if report.interrupted {
                RunStatus::Interrupted
            } else {
                RunStatus::Failed
            },
            records_read: report.records_read,
            records_written: report.records_written,
            bytes_read: report.bytes,
            error_message: report.error.clone(),
            error_category: report.failure.as_ref().map(|f| f.category.clone()),
            error_code: report.failure.as_ref().map(|f| f.code.clone()),
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

fn missing_port(stream: &SelectedStream) -> ConnectorFailure {
    ConnectorFailure {
        connector: "host".into(),
        stream: Some(stream.selection.name.clone()),
        kind: FailureKind::Host("a stage was wired without its channel".into()),
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
        failure: Some(ErrorInfo::host("stream_setup", error.clone())),
        error: Some(error),
        interrupted: false,
    }
}
