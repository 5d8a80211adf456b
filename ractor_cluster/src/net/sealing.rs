//! Sealing a writer turn into records and writing them: the sealed half of the writer task.
//!
//! A turn's bytes are sealed where they were queued ([`Sealer::seal_in_place`]) and written as
//! header, ciphertext and tag slices of one vectored write; a transport without vectored writes
//! gets the records copied into one buffer instead ([`Sealer::seal`]).
//!
//! Turns up to a megabyte (a call, a reply, a heartbeat, most turns of a flood of casts) are sealed
//! on the writer task itself: such a seal costs less than handing it to another thread and back,
//! and a call's latency stays what it was. A turn of more than [`OFFLOAD_ABOVE`] bytes is sealed on
//! tokio's blocking pool (`spawn_blocking`) while the writer task awaits it: the cipher then runs
//! beside the runtime's worker instead of on it, so the actors and tasks that share the worker
//! (the proxies feeding this queue, the sender behind them) keep running during the seal.
//!
//! Records stay in counter order: the writer hands its one sealer to the job and gets it back with
//! the sealed buffers before it writes or seals anything else. If the job is lost (the runtime is
//! shutting down and no longer runs blocking tasks), the writer ends with an error, as after a
//! failed write; if the writer task is dropped while it waits, the job finishes and its buffers
//! and sealer are dropped with it. A seal is bounded by the turn, which the queue's limit bounds.
//! The pool is the application's too: on a runtime whose blocking threads
//! (`max_blocking_threads`, 512 by default) are all taken by long jobs, a large turn waits for
//! one.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::BoxWrite;
use crate::protocol::record::{Envelope, RecordError, Sealer, MAX_RECORD_PLAINTEXT};

/// Buffers that grew past this during a burst are given back once empty (the writer's
/// queue buffers, and the buffer records are copied into).
const KEEP_CAPACITY: usize = 1024 * 1024;

/// A turn with more bytes to seal than this (sixteen full records) is sealed off the runtime's
/// worker.
///
/// The hand-off costs more CPU than it saves until a turn is large: sealing costs about 0.14 µs
/// per KiB and a job handed from a worker task to the blocking pool and back 22 to 33 µs (the
/// serialization bench's `AES-256-GCM record` and `spawn_blocking round trip` rows, on three
/// 2-core VMs), so at 64 KiB the hand-off cost three to four times the seal it moved. Floods of
/// 1 KiB casts make turns of that size all the time: with the bound at 64 KiB the sending process
/// spent 0.2 to 0.5 µs more CPU per sealed cast, and sealed ÷ plaintext (cluster bench, alternated
/// runs in one sitting, 2026-12-04) was 0.69, 0.81, 0.88, 0.91 and 0.80; sealing every turn on the
/// worker, 0.86, 0.89, 0.85 and 0.89; with this bound, 0.90 and 1.00. Above 1 MiB a seal holds the
/// worker for 140 µs or more, four times the hand-off, and the tasks sharing the worker are then
/// worth the thread switch. Calls, replies and heartbeats make turns far smaller than this.
pub(super) const OFFLOAD_ABOVE: usize = 16 * MAX_RECORD_PLAINTEXT;

/// The sealer of a sealed session's outgoing stream, with what it reuses from turn to turn: the
/// envelopes of a turn's records (sealed in place), and for a transport without vectored writes
/// the buffer the records are copied into. Kept across turns, so sealing allocates nothing in the
/// steady state.
pub(super) struct Sealing {
    sealer: Sealer,
    envelopes: Vec<Envelope>,
    records: Vec<u8>,
}

impl Sealing {
    pub(super) fn new(sealer: Sealer) -> Self {
        Self {
            sealer,
            envelopes: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Seals `urgent` then `data` as the next records: in place, with their envelopes kept, if
    /// `vectored`; else copied into `records`.
    fn seal(
        &mut self,
        urgent: &mut [u8],
        data: &mut [u8],
        vectored: bool,
    ) -> Result<(), RecordError> {
        if vectored {
            // Urgent and data frames are two buffers, so a turn with both is two records (one
            // more seal, 20 more bytes).
            self.envelopes.clear();
            for part in [urgent, data] {
                for body in part.chunks_mut(MAX_RECORD_PLAINTEXT) {
                    let envelope = self.sealer.seal_in_place(body)?;
                    self.envelopes.push(envelope);
                }
            }
            Ok(())
        } else {
            self.records.clear();
            self.sealer.seal(&[urgent, data], &mut self.records)
        }
    }
}

/// The bytes of a turn while they are sealed: the two buffers the writer took from its queue,
/// and how many bytes at the front of `urgent` go out in the clear (the handshake's last frames).
#[derive(Default)]
pub(super) struct TurnBytes {
    pub(super) urgent: Vec<u8>,
    pub(super) plain: usize,
    pub(super) data: Vec<u8>,
}

impl TurnBytes {
    fn sealed_len(&self) -> usize {
        self.urgent.len().saturating_sub(self.plain) + self.data.len()
    }

    /// The two parts to seal, in the order they go out.
    fn parts_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let urgent = self.urgent.get_mut(self.plain..).unwrap_or_default();
        (urgent, &mut self.data)
    }

    fn parts(&self) -> [&[u8]; 2] {
        [
            self.urgent.get(self.plain..).unwrap_or_default(),
            &self.data,
        ]
    }
}

/// Seals what `turn` holds behind its clear prefix and writes it as records, in order. `sealing`
/// is `None` only if an earlier offloaded seal was lost; the writer ends then, so this says so.
pub(super) async fn write_sealed(
    write: &mut BoxWrite,
    sealing: &mut Option<Box<Sealing>>,
    turn: &mut TurnBytes,
) -> io::Result<()> {
    let vectored = write.is_write_vectored();
    let bytes = turn.sealed_len();
    if bytes == 0 {
        return Ok(());
    }
    if bytes > OFFLOAD_ABOVE {
        seal_off_worker(sealing, turn, vectored).await?;
    } else {
        let sealer = sealing.as_deref_mut().ok_or_else(lost)?;
        let (urgent, data) = turn.parts_mut();
        sealer
            .seal(urgent, data, vectored)
            .map_err(io::Error::other)?;
    }
    let sealer = sealing.as_deref_mut().ok_or_else(lost)?;
    if vectored {
        write_records(write, turn.parts(), &sealer.envelopes).await
    } else {
        let written = write.write_all(&sealer.records).await;
        release(&mut sealer.records);
        written
    }
}

fn lost() -> io::Error {
    io::Error::other("the sealing job of an earlier turn was lost")
}

/// Seals `turn` on the blocking pool and takes the sealer and buffers back.
async fn seal_off_worker(
    sealing: &mut Option<Box<Sealing>>,
    turn: &mut TurnBytes,
    vectored: bool,
) -> io::Result<()> {
    let mut sealer = sealing.take().ok_or_else(lost)?;
    // Moved to the job and back: the job must own what it seals.
    let mut bytes = std::mem::take(turn);
    let job = tokio::task::spawn_blocking(move || {
        let (urgent, data) = bytes.parts_mut();
        let sealed = sealer.seal(urgent, data, vectored);
        (sealer, bytes, sealed)
    });
    // A `JoinError` is a cancelled job (the runtime is shutting down) or a panic in it, which the
    // sealer's fallible API leaves no room for: either way the sealer is gone, and so is the
    // session's outgoing stream.
    let (sealer, bytes, sealed) = job
        .await
        .map_err(|err| io::Error::other(format!("sealing job lost: {err}")))?;
    *sealing = Some(sealer);
    *turn = bytes;
    sealed.map_err(io::Error::other)
}

/// Records per vectored write: three slices each, well under any system's limit on slices per
/// call (1024 on Linux).
const RECORDS_PER_WRITE: usize = 32;

/// Writes the records sealed in place in `parts` (cut as [`Sealing::seal`] cut them) with their
/// `envelopes`, in order, each as header, ciphertext and tag, with as few vectored writes as the
/// transport takes.
///
/// The slices of a write are laid out anew in each poll, on the stack of that poll, rather than
/// kept in the future across its waits: an array of `3 * RECORDS_PER_WRITE` slices held across
/// an await made every session's writer task 1.5 KiB larger (a tenth of what a peer cost a
/// node of 128 in heap, heaptrack and `-Zprint-type-sizes`), for a layout that costs a few
/// dozen stores to redo when the socket was full.
async fn write_records(
    write: &mut BoxWrite,
    parts: [&[u8]; 2],
    envelopes: &[Envelope],
) -> io::Result<()> {
    let [urgent, data] = parts;
    let urgent_records = urgent.len().div_ceil(MAX_RECORD_PLAINTEXT);
    let body = |record: usize| {
        let (part, index) = match record.checked_sub(urgent_records) {
            None => (urgent, record),
            Some(index) => (data, index),
        };
        let start = index * MAX_RECORD_PLAINTEXT;
        part.get(start..part.len().min(start + MAX_RECORD_PLAINTEXT))
            .unwrap_or_default()
    };
    for (batch, envelopes) in envelopes.chunks(RECORDS_PER_WRITE).enumerate() {
        // Bytes of this batch already written.
        let mut done = 0;
        let total: usize = envelopes
            .iter()
            .enumerate()
            .map(|(record, envelope)| {
                envelope.header.len()
                    + body(batch * RECORDS_PER_WRITE + record).len()
                    + envelope.tag.len()
            })
            .sum();
        while done < total {
            let written = poll_fn(|cx| {
                let mut slices = [io::IoSlice::new(&[]); 3 * RECORDS_PER_WRITE];
                for ((record, envelope), slots) in
                    envelopes.iter().enumerate().zip(slices.chunks_exact_mut(3))
                {
                    let body = body(batch * RECORDS_PER_WRITE + record);
                    for (slot, bytes) in slots.iter_mut().zip([
                        envelope.header.as_slice(),
                        body,
                        envelope.tag.as_slice(),
                    ]) {
                        *slot = io::IoSlice::new(bytes);
                    }
                }
                let mut pending = slices.get_mut(..3 * envelopes.len()).unwrap_or_default();
                io::IoSlice::advance_slices(&mut pending, done);
                Pin::new(&mut *write).poll_write_vectored(cx, pending)
            })
            .await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += written;
        }
    }
    Ok(())
}

/// Empties a buffer that was written, giving back what a burst grew it to.
pub(super) fn release(buffer: &mut Vec<u8>) {
    buffer.clear();
    if buffer.capacity() > KEEP_CAPACITY {
        buffer.shrink_to(KEEP_CAPACITY / 16);
    }
}
