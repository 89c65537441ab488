//! A byte-bounded channel from one or more source instances (the shares of
//! a partitioned read) to one destination.
//!
//! `send` blocks while the frames in flight exceed the capacity (a single
//! frame larger than the capacity still passes when the channel is empty),
//! so memory stays flat whatever the row width. Either side can abort;
//! the other side then gets the reason instead of data.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use std::time::Instant;

use crate::runtime::{ChannelError, Frame, Inbox, Outbox};

#[derive(Default)]
struct Inner {
    queue: VecDeque<Frame>,
    bytes: usize,
    finished: bool,
    producers_left: usize,
    aborted: Option<String>,
    peak_bytes: usize,
}

/// The channel.
pub struct ByteChannel {
    inner: Mutex<Inner>,
    changed: Condvar,
    capacity: usize,
}

impl ByteChannel {
    /// A channel holding at most `capacity` bytes of frames, fed by one
    /// producer.
    pub fn new(capacity: usize) -> Self {
        Self::with_producers(capacity, 1)
    }

    /// A channel fed by `producers` producers, each calling
    /// [`ByteChannel::finish`] when done.
    pub fn with_producers(capacity: usize, producers: usize) -> Self {
        ByteChannel {
            inner: Mutex::new(Inner {
                producers_left: producers.max(1),
                ..Inner::default()
            }),
            changed: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One producer is done; when all are, the consumer gets `None` after
    /// the last frame.
    pub fn finish(&self) {
        let mut g = self.lock();
        g.producers_left = g.producers_left.saturating_sub(1);
        g.finished = g.producers_left == 0;
        drop(g);
        self.changed.notify_all();
    }

    /// Stops both sides with `reason` (the first reason wins).
    pub fn abort(&self, reason: &str) {
        let mut g = self.lock();
        if g.aborted.is_none() {
            g.aborted = Some(reason.to_string());
        }
        g.queue.clear();
        g.bytes = 0;
        drop(g);
        self.changed.notify_all();
    }

    /// Whether every frame was taken and the producer finished.
    pub fn drained(&self) -> bool {
        let g = self.lock();
        g.finished && g.queue.is_empty() && g.aborted.is_none()
    }

    /// The most bytes that were in flight at once.
    pub fn peak_bytes(&self) -> usize {
        self.lock().peak_bytes
    }
}

impl ByteChannel {
    /// Waits on the condition variable, until `deadline` if one is given;
    /// `Err` once it has passed.
    fn wait<'g>(
        &self,
        g: std::sync::MutexGuard<'g, Inner>,
        deadline: Option<Instant>,
    ) -> Result<std::sync::MutexGuard<'g, Inner>, ChannelError> {
        match deadline {
            None => Ok(self.changed.wait(g).unwrap_or_else(|p| p.into_inner())),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(ChannelError::TimedOut);
                }
                let (g, _) = self
                    .changed
                    .wait_timeout(g, left)
                    .unwrap_or_else(|p| p.into_inner());
                Ok(g)
            }
        }
    }
}

impl Outbox for ByteChannel {
    fn send(&self, frame: Frame) -> Result<(), String> {
        self.send_until(frame, None).map_err(|e| match e {
            ChannelError::Aborted(r) => r,
            ChannelError::TimedOut => "timed out".into(),
        })
    }

    fn send_until(&self, frame: Frame, deadline: Option<Instant>) -> Result<(), ChannelError> {
        let weight = frame.weight();
        let mut g = self.lock();
        loop {
            if let Some(r) = &g.aborted {
                return Err(ChannelError::Aborted(r.clone()));
            }
            if g.queue.is_empty() || g.bytes + weight <= self.capacity {
                break;
            }
            g = self.wait(g, deadline)?;
        }
        g.bytes += weight;
        g.peak_bytes = g.peak_bytes.max(g.bytes);
        g.queue.push_back(frame);
        drop(g);
        self.changed.notify_all();
        Ok(())
    }
}

impl Inbox for ByteChannel {
    fn recv(&self) -> Result<Option<Frame>, String> {
        self.recv_until(None).map_err(|e| match e {
            ChannelError::Aborted(r) => r,
            ChannelError::TimedOut => "timed out".into(),
        })
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<Option<Frame>, ChannelError> {
        let mut g = self.lock();
        loop {
            if let Some(r) = &g.aborted {
                return Err(ChannelError::Aborted(r.clone()));
            }
            if let Some(frame) = g.queue.pop_front() {
                g.bytes -= frame.weight();
                drop(g);
                self.changed.notify_all();
                return Ok(Some(frame));
            }
            if g.finished {
                return Ok(None);
            }
            g = self.wait(g, deadline)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn data(n: usize) -> Frame {
        Frame::Data {
            stream: "s".into(),
            ipc: vec![0; n],
            rows: 1,
        }
    }

    #[test]
    fn bounds_bytes_in_flight() {
        let ch = Arc::new(ByteChannel::new(100));
        let producer = {
            let ch = ch.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    ch.send(data(40)).unwrap();
                }
                ch.finish();
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let mut got = 0;
        while let Some(_f) = ch.recv().unwrap() {
            got += 1;
        }
        producer.join().unwrap();
        assert_eq!(got, 50);
        assert!(ch.peak_bytes() <= 100, "peak {}", ch.peak_bytes());
        assert!(ch.drained());
    }

    #[test]
    fn oversized_frame_passes_alone() {
        let ch = ByteChannel::new(10);
        ch.send(data(1000)).unwrap();
        ch.finish();
        assert!(ch.recv().unwrap().is_some());
        assert!(ch.recv().unwrap().is_none());
    }

    #[test]
    fn ends_when_every_producer_finished() {
        let ch = Arc::new(ByteChannel::with_producers(1000, 3));
        let producers: Vec<_> = (0..3)
            .map(|_| {
                let ch = ch.clone();
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        ch.send(data(30)).unwrap();
                    }
                    ch.finish();
                })
            })
            .collect();
        let mut got = 0;
        while ch.recv().unwrap().is_some() {
            got += 1;
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(
            got, 60,
            "no frame is cut off by the first producer to finish"
        );
    }

    #[test]
    fn waits_end_at_the_deadline() {
        let ch = ByteChannel::new(10);
        let start = Instant::now();
        let soon = Some(start + Duration::from_millis(100));
        assert_eq!(ch.recv_until(soon).unwrap_err(), ChannelError::TimedOut);
        ch.send(data(10)).unwrap();
        assert_eq!(
            ch.send_until(data(10), soon).unwrap_err(),
            ChannelError::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Before the deadline, frames pass as usual.
        let later = Some(Instant::now() + Duration::from_secs(5));
        assert!(ch.recv_until(later).unwrap().is_some());
    }

    #[test]
    fn abort_wakes_both_sides() {
        let ch = Arc::new(ByteChannel::new(10));
        ch.send(data(10)).unwrap();
        let blocked = {
            let ch = ch.clone();
            std::thread::spawn(move || ch.send(data(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        ch.abort("destination failed");
        assert_eq!(blocked.join().unwrap().unwrap_err(), "destination failed");
        assert_eq!(ch.recv().unwrap_err(), "destination failed");
        assert!(!ch.drained());
    }
}
