//! Byte counts of a connection: wrappers around its read and write halves that add what passes
//! through them to a counter (the session's figures, see `node::stats`). One relaxed add per
//! read or write call, not per frame.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{BoxRead, BoxWrite};

/// `read`, counting the bytes read into `count`.
pub(crate) fn counting_read(read: BoxRead, count: Arc<AtomicU64>) -> BoxRead {
    Box::new(CountingRead { inner: read, count })
}

/// `write`, counting the bytes written into `count`.
pub(crate) fn counting_write(write: BoxWrite, count: Arc<AtomicU64>) -> BoxWrite {
    Box::new(CountingWrite {
        inner: write,
        count,
    })
}

struct CountingRead {
    inner: BoxRead,
    count: Arc<AtomicU64>,
}

impl AsyncRead for CountingRead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let read = buf.filled().len().saturating_sub(before);
            self.count.fetch_add(read as u64, Ordering::Relaxed);
        }
        poll
    }
}

struct CountingWrite {
    inner: BoxWrite,
    count: Arc<AtomicU64>,
}

impl AsyncWrite for CountingWrite {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = &poll {
            self.count.fetch_add(*written as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(written)) = &poll {
            self.count.fetch_add(*written as u64, Ordering::Relaxed);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
