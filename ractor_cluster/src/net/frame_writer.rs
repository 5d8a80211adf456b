//! Writing frames to the write half of a connection: the last hop of the hot path.
//!
//! Senders encode a frame (header and body, see `protocol::frame::encode_frame`) into a `Vec<u8>`
//! and hand it to a [`WriterHandle`]; one task per connection owns the write half, takes every frame
//! that is ready, and writes them with as few calls as it can. Under load, hundreds of small
//! frames go out in one write; when idle, a frame goes out as soon as it is queued.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BoxWrite;

/// Frames are copied together until the batch reaches this size, then written in one call.
const BATCH_BYTES: usize = 64 * 1024;

/// Frames at least this large are written straight from their own buffer: copying them into the
/// batch would cost more than the extra write call saves.
const DIRECT_WRITE_MIN: usize = 16 * 1024;

/// Starts the task that writes frames to `write`, and returns the handle to queue frames with.
///
/// The task ends, reporting why in its [`WriterExit`]:
/// * when every [`WriterHandle`] has been dropped: it writes what is still queued, then shuts the
///   write half down (a TCP FIN, or a TLS close_notify then FIN);
/// * on the first failed write: frames still queued are dropped, and [`WriterHandle::send`]
///   fails from then on.
///
/// A write waits for the peer to read (the socket's buffer is full otherwise). To stop the task
/// without waiting, abort the returned `JoinHandle`.
#[allow(dead_code)] // used by the node layer, landing next
pub(crate) fn spawn_writer(write: BoxWrite) -> (WriterHandle, JoinHandle<WriterExit>) {
    // Unbounded for now: the handle counts the queued bytes, which is where backpressure (or a
    // limit that ends a session whose peer does not read) will plug in.
    let (frames_in, frames_out) = mpsc::unbounded_channel();
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let handle = WriterHandle {
        frames: frames_in,
        queued_bytes: Arc::clone(&queued_bytes),
    };
    let task = tokio::spawn(run_writer(write, frames_out, queued_bytes));
    (handle, task)
}

/// Queues frames for a connection's writer task. Cheap to clone: every clone feeds the same task.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes queued but not yet written to the transport.
    queued_bytes: Arc<AtomicUsize>,
}

impl fmt::Debug for WriterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriterHandle")
            .field("queued_bytes", &self.queued_bytes())
            .field("closed", &self.is_closed())
            .finish()
    }
}

#[allow(dead_code)] // used by the node layer, landing next
impl WriterHandle {
    /// Queues one encoded frame (length prefix and body). Frames are written in the order they
    /// are queued, across all clones of the handle.
    ///
    /// Fails only if the writer task has ended (write error, or aborted); the frame is dropped.
    pub(crate) fn send(&self, frame: Vec<u8>) -> Result<(), WriterClosed> {
        let len = frame.len();
        // Counted before it is queued, so the task can never subtract bytes not yet added.
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        self.frames.send(frame).map_err(|_| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            WriterClosed
        })
    }

    /// Bytes queued and not yet written to the transport: the seam for backpressure.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Ordering::Relaxed)
    }

    /// Whether the writer task has ended, so that [`send`](Self::send) fails.
    pub(crate) fn is_closed(&self) -> bool {
        self.frames.is_closed()
    }
}

/// The writer task has ended; nothing more can be sent on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterClosed;

impl fmt::Display for WriterClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the connection's writer has stopped")
    }
}

impl std::error::Error for WriterClosed {}

/// Why a writer task ended.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum WriterExit {
    /// Every handle was dropped; all queued frames were written and the write half shut down.
    Finished,
    /// Writing, flushing or shutting down the transport failed.
    Failed(io::Error),
}

impl fmt::Display for WriterExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterExit::Finished => f.write_str("all frames written, connection shut down"),
            WriterExit::Failed(err) => write!(f, "cannot write to the connection: {err}"),
        }
    }
}

async fn run_writer(
    mut write: BoxWrite,
    mut frames: mpsc::UnboundedReceiver<Vec<u8>>,
    queued_bytes: Arc<AtomicUsize>,
) -> WriterExit {
    let mut batch = BatchWriter {
        write: &mut write,
        buf: Vec::with_capacity(BATCH_BYTES),
        queued_bytes: &queued_bytes,
    };
    // `recv` returns `None` once every handle is dropped and the queue is empty.
    while let Some(first) = frames.recv().await {
        let mut next = Some(first);
        // Take everything that is ready without waiting, then write it out.
        while let Some(frame) = next {
            if let Err(err) = batch.push(frame).await {
                return WriterExit::Failed(err);
            }
            next = frames.try_recv().ok();
        }
        if let Err(err) = batch.write_out().await {
            return WriterExit::Failed(err);
        }
    }
    match write.shutdown().await {
        Ok(()) => WriterExit::Finished,
        Err(err) => WriterExit::Failed(err),
    }
}

/// Coalesces small frames into one buffer, and writes large ones from their own.
struct BatchWriter<'a> {
    write: &'a mut BoxWrite,
    buf: Vec<u8>,
    queued_bytes: &'a AtomicUsize,
}

impl BatchWriter<'_> {
    /// Adds a frame, writing when the batch is full or the frame is large.
    async fn push(&mut self, frame: Vec<u8>) -> io::Result<()> {
        if frame.len() >= DIRECT_WRITE_MIN {
            // Keep the order: what is batched goes first.
            self.write_batch().await?;
            self.write.write_all(&frame).await?;
            self.report_written(frame.len());
        } else {
            self.buf.extend_from_slice(&frame);
            if self.buf.len() >= BATCH_BYTES {
                self.write_batch().await?;
            }
        }
        Ok(())
    }

    /// Writes the batch and flushes the transport: called when the queue is empty.
    async fn write_out(&mut self) -> io::Result<()> {
        self.write_batch().await?;
        // A no-op for TCP; pushes out buffered records for transports that buffer.
        self.write.flush().await
    }

    async fn write_batch(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.write.write_all(&self.buf).await?;
        let written = self.buf.len();
        // Keeps the capacity (at most a batch and one frame below `DIRECT_WRITE_MIN`) for reuse.
        self.buf.clear();
        self.report_written(written);
        Ok(())
    }

    /// Written bytes are no longer queued.
    fn report_written(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}
