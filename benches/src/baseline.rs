//! The plain TCP baseline: what one tokio TCP connection does with the same payloads and no actor
//! system around it. Every benchmark runs over it and over `ractor_cluster` in the same run, so the
//! figures of our stack can be given as a ratio to it.
//!
//! # Wire format
//! A frame is a `u32` little-endian body length, then the body. The body starts with a kind byte:
//!
//! | kind | body after the kind byte | answer |
//! | --- | --- | --- |
//! | [`CAST`] | payload | none |
//! | [`CALL`] | `u64` LE call id, payload | [`REPLY`] with the payload's length |
//! | [`COUNT`] | `u64` LE call id | [`REPLY`] with the casts received since the last count |
//! | [`REPLY`] | `u64` LE call id, `u64` LE value | |
//!
//! # What each side does per message
//! The server reads frames through a 64 KiB buffer, copies each payload into a `Vec<u8>` of its own
//! (as a received message would own its payload), and gathers its replies in one buffer that it
//! writes when no complete frame is left to read. The client's casts are encoded straight into
//! 64 KiB chunks; each call encodes its own frame, and one writer task drains the queued frames
//! into a single write. One reader task completes waiting calls by their id.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// A one-way message.
pub const CAST: u8 = 0;
/// A call, answered with the payload's length.
pub const CALL: u8 = 1;
/// The answer to a call.
pub const REPLY: u8 = 2;
/// A call answered with the number of casts received since the previous one.
pub const COUNT: u8 = 3;

/// Size of read buffers and of write batches.
const BATCH_BYTES: usize = 64 * 1024;
/// Largest frame body either side accepts (the same as the node's default).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Accepts connections on `listener` and serves each until it closes.
pub async fn serve(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            if let Err(err) = serve_connection(stream).await {
                if err.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("baseline connection ended: {err}");
                }
            }
        });
    }
}

async fn serve_connection(stream: TcpStream) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(BATCH_BYTES, read);
    let mut replies = Vec::with_capacity(BATCH_BYTES);
    let mut body = Vec::new();
    let mut casts = 0u64;
    loop {
        // Write the gathered replies once no complete frame is left to read (a read may wait).
        if !replies.is_empty() && !holds_complete_frame(read.buffer()) {
            write.write_all(&replies).await?;
            replies.clear();
        }
        read_frame(&mut read, &mut body).await?;
        let Some((&kind, rest)) = body.split_first() else {
            return Err(invalid("empty frame"));
        };
        match kind {
            CAST => {
                let payload = rest.to_vec();
                casts += 1;
                std::hint::black_box(payload);
            }
            CALL => {
                let (id, payload) = split_u64(rest)?;
                let payload = payload.to_vec();
                push_reply(&mut replies, id, payload.len() as u64);
            }
            COUNT => {
                let (id, _) = split_u64(rest)?;
                push_reply(&mut replies, id, casts);
                casts = 0;
            }
            other => return Err(invalid(&format!("unknown frame kind {other}"))),
        }
        if replies.len() >= BATCH_BYTES {
            write.write_all(&replies).await?;
            replies.clear();
        }
    }
}

/// Whether `buf` starts with a whole frame.
fn holds_complete_frame(buf: &[u8]) -> bool {
    match buf.first_chunk::<4>() {
        Some(len) => buf.len() - 4 >= u32::from_le_bytes(*len) as usize,
        None => false,
    }
}

/// Reads one frame's body into `body` (reusing its allocation).
async fn read_frame(read: &mut BufReader<OwnedReadHalf>, body: &mut Vec<u8>) -> io::Result<()> {
    let mut len = [0u8; 4];
    read.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_BODY {
        return Err(invalid("frame too large"));
    }
    body.resize(len, 0);
    read.read_exact(body).await?;
    Ok(())
}

fn split_u64(bytes: &[u8]) -> io::Result<(u64, &[u8])> {
    match bytes.split_first_chunk::<8>() {
        Some((id, rest)) => Ok((u64::from_le_bytes(*id), rest)),
        None => Err(invalid("frame too short")),
    }
}

fn push_reply(out: &mut Vec<u8>, id: u64, value: u64) {
    out.extend_from_slice(&17u32.to_le_bytes());
    out.push(REPLY);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a cast frame carrying `payload` to `out`.
pub fn push_cast(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len() + 1).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.push(CAST);
    out.extend_from_slice(payload);
}

fn call_frame(kind: u8, id: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len() + 9).unwrap_or(u32::MAX);
    let mut frame = Vec::with_capacity(4 + 9 + payload.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(&id.to_le_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<u64>>>>;

/// The client side of one baseline connection. Cheap to clone; every clone shares the connection.
#[derive(Debug, Clone)]
pub struct BaselineClient {
    frames: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
}

impl BaselineClient {
    /// Connects to a baseline server and starts the writer and reader tasks (they end when the
    /// connection does, or when every clone of the client is dropped).
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let (frames, queued) = mpsc::unbounded_channel();
        let pending = Pending::default();
        tokio::spawn(write_frames(write, queued));
        tokio::spawn(read_replies(read, Arc::clone(&pending)));
        Ok(Self {
            frames,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Sends already encoded cast frames (see [`push_cast`]), as one chunk.
    pub fn send_chunk(&self, chunk: Vec<u8>) -> io::Result<()> {
        self.frames
            .send(chunk)
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }

    /// Calls with `payload`; answered with its length.
    pub async fn call(&self, payload: &[u8]) -> io::Result<u64> {
        self.request(CALL, payload).await
    }

    /// The number of casts the server received since the previous count.
    pub async fn count(&self) -> io::Result<u64> {
        self.request(COUNT, &[]).await
    }

    async fn request(&self, kind: u8, payload: &[u8]) -> io::Result<u64> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, reply);
        self.send_chunk(call_frame(kind, id, payload))?;
        answer
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::ConnectionAborted))
    }
}

async fn write_frames(mut write: OwnedWriteHalf, mut queued: mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    while let Some(first) = queued.recv().await {
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if batch.is_empty() && frame.len() >= BATCH_BYTES {
                // A whole chunk of casts: write it as it is.
                if write.write_all(&frame).await.is_err() {
                    return;
                }
            } else {
                batch.extend_from_slice(&frame);
            }
            if batch.len() >= BATCH_BYTES {
                break;
            }
            next = queued.try_recv().ok();
        }
        if !batch.is_empty() {
            if write.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    }
}

async fn read_replies(read: OwnedReadHalf, pending: Pending) {
    let mut read = BufReader::with_capacity(BATCH_BYTES, read);
    let mut body = Vec::new();
    while read_frame(&mut read, &mut body).await.is_ok() {
        let Some((&REPLY, rest)) = body.split_first() else {
            break;
        };
        let Ok((id, rest)) = split_u64(rest) else {
            break;
        };
        let Ok((value, _)) = split_u64(rest) else {
            break;
        };
        let waiting = pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(waiting) = waiting {
            let _ = waiting.send(value);
        }
    }
    // The connection is gone: fail every call still waiting.
    pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn casts_then_count_and_calls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener));
        let client = BaselineClient::connect(addr).await.unwrap();
        let mut chunk = Vec::new();
        for _ in 0..1000 {
            push_cast(&mut chunk, &[7u8; 100]);
        }
        client.send_chunk(chunk).unwrap();
        assert_eq!(client.count().await.unwrap(), 1000);
        assert_eq!(client.call(&[1u8; 16]).await.unwrap(), 16);
        assert_eq!(client.count().await.unwrap(), 0);
    }

    #[test]
    fn complete_frame_detection() {
        assert!(!holds_complete_frame(&[1, 0, 0]));
        assert!(!holds_complete_frame(&[2, 0, 0, 0, 9]));
        assert!(holds_complete_frame(&[1, 0, 0, 0, 9]));
    }
}
