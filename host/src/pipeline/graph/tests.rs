//! The graph, the barrier and the committer over in-process fake stages.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::pipeline::commit::Committer;
use crate::runtime::{Acks, Checkpoint, ConnectorErrorData, Frame};
use crate::state::{SqliteState, StateBackend};

fn data(rows: u64) -> Frame {
    Frame::Data {
        stream: "s".into(),
        ipc: vec![0; 100],
        rows,
    }
}

fn checkpoint(share: u32, seq: u64, value: String) -> Frame {
    Frame::Checkpoint(Checkpoint {
        key: "s".into(),
        cursor_field: None,
        value,
        share,
        seq,
    })
}

fn fail(kind: FailureKind) -> ConnectorFailure {
    ConnectorFailure {
        connector: "fake".into(),
        stream: Some("s".into()),
        kind,
    }
}

/// A source of `batches` one-row frames with a checkpoint (the rows sent so
/// far) after every `every` frames.
fn source<'a>(share: u32, batches: u64, every: u64) -> StageFn<'a> {
    Box::new(move |ports: Ports| {
        let out = ports.outbox.expect("a source has an outbox");
        let mut seq = 0;
        for i in 1..=batches {
            out.send(data(1))
                .map_err(|e| fail(FailureKind::Cancelled(e)))?;
            if i % every == 0 {
                out.send(checkpoint(share, seq, i.to_string()))
                    .map_err(|e| fail(FailureKind::Cancelled(e)))?;
                seq += 1;
            }
        }
        Ok(StageOutput {
            rows: batches,
            ..StageOutput::default()
        })
    })
}

/// Passes frames on, holding data back until a checkpoint or the end (as a
/// transform that batches does): the barrier property must hold anyway.
fn batching_transform<'a>() -> StageFn<'a> {
    Box::new(|ports: Ports| {
        let (inbox, out) = (ports.inbox.expect("inbox"), ports.outbox.expect("outbox"));
        let mut held = Vec::new();
        let mut rows = 0;
        let cancelled = |e| fail(FailureKind::Cancelled(e));
        while let Some(frame) = inbox.recv().map_err(cancelled)? {
            match frame {
                Frame::Data { .. } => held.push(frame),
                Frame::Checkpoint(_) => {
                    for f in held.drain(..) {
                        rows += 1;
                        out.send(f).map_err(cancelled)?;
                    }
                    out.send(frame).map_err(cancelled)?;
                }
            }
        }
        for f in held.drain(..) {
            rows += 1;
            out.send(f).map_err(cancelled)?;
        }
        Ok(StageOutput {
            rows,
            ..StageOutput::default()
        })
    })
}

/// What the fake sink saw: at each acknowledged checkpoint, the rows
/// written before it.
#[derive(Default)]
struct SinkLog {
    rows: u64,
    acked_at: Vec<(String, u64)>,
}

/// A sink that acknowledges each checkpoint when it asks for the next
/// frame, like a destination; fails after `fail_after` rows if set.
fn sink<'a>(acks: Arc<dyn Acks>, log: Arc<Mutex<SinkLog>>, fail_after: Option<u64>) -> StageFn<'a> {
    Box::new(move |ports: Ports| {
        let inbox = ports.inbox.expect("a sink has an inbox");
        let mut pending: Option<Checkpoint> = None;
        loop {
            if let Some(cp) = pending.take() {
                let mut l = log.lock().unwrap();
                let rows = l.rows;
                l.acked_at.push((cp.value.clone(), rows));
                drop(l);
                acks.ack(cp).map_err(|e| fail(FailureKind::Host(e)))?;
            }
            match inbox.recv().map_err(|e| fail(FailureKind::Cancelled(e)))? {
                Some(Frame::Data { rows, .. }) => {
                    let mut l = log.lock().unwrap();
                    l.rows += rows;
                    if fail_after.is_some_and(|n| l.rows >= n) {
                        return Err(fail(FailureKind::Error(Box::new(ConnectorErrorData {
                            category: "data".into(),
                            code: "disk_full".into(),
                            message: "no space left".into(),
                            retryable: false,
                            details: None,
                        }))));
                    }
                }
                Some(Frame::Checkpoint(cp)) => pending = Some(cp),
                None => break,
            }
        }
        let rows = log.lock().unwrap().rows;
        Ok(StageOutput {
            rows,
            ..StageOutput::default()
        })
    })
}

fn state() -> Arc<dyn StateBackend> {
    Arc::new(SqliteState::in_memory().unwrap())
}

fn saved(state: &Arc<dyn StateBackend>) -> Option<String> {
    state
        .get_cursor("p", "s")
        .unwrap()
        .and_then(|r| r.cursor_value)
}

#[test]
fn checkpoints_commit_behind_the_data_they_cover() {
    let st = state();
    let committer = Arc::new(Committer::new(st.clone(), "p", 1));
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let outcome = Graph::new("s", 350)
        .then("source", vec![source(0, 1000, 10)])
        .then("transform", vec![batching_transform()])
        .then("sink", vec![sink(committer.clone(), log.clone(), None)])
        .run();
    assert!(outcome.failure().is_none());
    assert_eq!(outcome.layer(0).unwrap().rows, 1000);
    assert_eq!(outcome.layer(2).unwrap().rows, 1000);
    let log = log.lock().unwrap();
    assert_eq!(log.acked_at.len(), 100);
    for (value, rows_before) in &log.acked_at {
        assert_eq!(
            value.parse::<u64>().unwrap(),
            *rows_before,
            "a checkpoint is acknowledged only after every row before it"
        );
    }
    assert_eq!(committer.committed(), 100);
    assert_eq!(saved(&st).as_deref(), Some("1000"));
}

#[test]
fn a_failing_sink_stops_the_source_and_nothing_after_it_commits() {
    let st = state();
    let committer = Arc::new(Committer::new(st.clone(), "p", 1));
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let start = Instant::now();
    let outcome = Graph::new("s", 350)
        .then("source", vec![source(0, 100_000, 10)])
        .then("sink", vec![sink(committer, log.clone(), Some(55))])
        .run();
    assert!(start.elapsed() < Duration::from_secs(10));
    let failure = outcome.failure().unwrap();
    assert!(failure.to_string().contains("no space left"), "{failure}");
    assert!(
        outcome.layers[0][0].as_ref().unwrap_err().is_cancellation(),
        "the source was cancelled, and that is not what the run reports"
    );
    assert_eq!(
        saved(&st).as_deref(),
        Some("50"),
        "the last checkpoint before the failure"
    );
}

#[test]
fn a_panicking_stage_aborts_the_graph_and_names_the_stream() {
    let st = state();
    let committer = Arc::new(Committer::new(st, "p", 1));
    let log = Arc::new(Mutex::new(SinkLog::default()));
    crate::ipc::install_panic_hook();
    let panicking: StageFn = Box::new(|ports: Ports| {
        let inbox = ports.inbox.unwrap();
        inbox.recv().unwrap();
        panic!("bug in a transform");
    });
    let start = Instant::now();
    let outcome = Graph::new("orders", 350)
        .then("source", vec![source(0, 1_000_000, 10)])
        .then("host", vec![panicking])
        .then("sink", vec![sink(committer, log, None)])
        .run();
    assert!(start.elapsed() < Duration::from_secs(10), "no hang");
    let failure = outcome.failure().unwrap().to_string();
    assert!(failure.contains("stream `orders`"), "{failure}");
    assert!(
        failure.contains("panicked: bug in a transform"),
        "{failure}"
    );
    assert!(outcome.layers[0][0].is_err() && outcome.layers[2][0].is_err());
}

#[test]
fn shares_of_a_partitioned_read_end_the_stream_together() {
    let st = state();
    let committer = Arc::new(Committer::new(st, "p", 1));
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let outcome = Graph::new("s", 1000)
        .then(
            "source",
            vec![source(0, 300, 50), source(1, 200, 50), source(2, 1, 50)],
        )
        .then("sink", vec![sink(committer.clone(), log.clone(), None)])
        .run();
    assert!(outcome.failure().is_none());
    assert_eq!(outcome.layer(0).unwrap().rows, 501);
    assert_eq!(
        log.lock().unwrap().rows,
        501,
        "no frame cut off by the first share to end"
    );
    assert_eq!(committer.committed(), 10);
}

#[test]
fn a_failing_source_fails_the_stream_with_its_own_error() {
    let st = state();
    let committer = Arc::new(Committer::new(st.clone(), "p", 1));
    let log = Arc::new(Mutex::new(SinkLog::default()));
    let broken: StageFn = Box::new(|ports: Ports| {
        let out = ports.outbox.unwrap();
        out.send(data(1)).unwrap();
        Err(fail(FailureKind::Fault {
            code: "bad_frame".into(),
            message: "malformed Arrow IPC frame".into(),
        }))
    });
    let outcome = Graph::new("s", 1000)
        .then("source", vec![broken])
        .then("sink", vec![sink(committer, log, None)])
        .run();
    let failure = outcome.failure().unwrap().to_string();
    assert!(failure.contains("broke the contract"), "{failure}");
    assert_eq!(saved(&st), None);
}
