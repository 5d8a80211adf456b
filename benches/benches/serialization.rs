//! Serialize + deserialize of derived messages, as a node does on each side of the wire; and the
//! cipher a sealed session runs over what it sends and receives.
//!
//! Run with `cargo bench -p ractor_cluster_benches --bench serialization`.

// criterion's macros generate undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ractor::message::SerializedMessage;
use ractor::Message;
use ractor_cluster_benches::BenchMessage;
use std::hint::black_box;

fn cast_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("cast serialize+deserialize");
    for size in [16usize, 1024, 64 * 1024] {
        let payload = vec![0xA5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &payload, |b, payload| {
            b.iter_batched(
                || BenchMessage::Payload(payload.clone()),
                |message| {
                    let bytes = message.serialize().ok();
                    let back = bytes.map(BenchMessage::deserialize);
                    black_box(back)
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// The two halves of a call that each node does: the caller serializes (filing its reply port),
/// the callee deserializes (getting a typed reply port). Measures what a call costs before and
/// after the wire, including the reply bookkeeping, but not the network.
fn call_round_trip(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let payload = vec![0x5Au8; 16];
    c.bench_function("rpc call serialize+deserialize+reply (16 B)", |b| {
        b.iter(|| {
            let (caller_port, caller_rx) = ractor::concurrency::oneshot();
            let Ok(SerializedMessage::Call { variant, args, .. }) =
                BenchMessage::Echo(payload.clone(), caller_port.into()).serialize()
            else {
                unreachable!("an #[rpc] variant serializes as a call")
            };
            let (bytes_port, bytes_rx) = ractor::concurrency::oneshot();
            let delivered = BenchMessage::deserialize(SerializedMessage::Call {
                variant,
                args,
                reply: bytes_port.into(),
                metadata: None,
            });
            if let Ok(BenchMessage::Echo(data, reply)) = delivered {
                let _ = reply.send(data.len() as u64);
            }
            let reply = runtime.block_on(bytes_rx);
            drop(caller_rx);
            black_box(reply)
        })
    });
}

/// A call serialized and deserialized in one process, as a unit test of a message type does: the
/// target gets the caller's own reply port back, so the answer is neither encoded nor forwarded.
fn local_call_round_trip(c: &mut Criterion) {
    let payload = vec![0x5Au8; 16];
    c.bench_function(
        "rpc call in one process: serialize+deserialize+reply (16 B)",
        |b| {
            b.iter(|| {
                let (caller_port, mut caller_rx) = ractor::concurrency::oneshot();
                let delivered = BenchMessage::Echo(payload.clone(), caller_port.into())
                    .serialize()
                    .and_then(BenchMessage::deserialize);
                if let Ok(BenchMessage::Echo(data, reply)) = delivered {
                    let _ = reply.send(data.len() as u64);
                }
                black_box(caller_rx.try_recv())
            })
        },
    );
}

/// AES-256-GCM as a sealed session runs it (ring, in place, tag apart, the record's length as
/// associated data), over a full record and over one 1 KiB cast's worth: the floor of what
/// sealing adds per byte, on each side, before anything else is counted.
fn record_cipher(c: &mut Criterion) {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let Ok(unbound) = UnboundKey::new(&AES_256_GCM, &[7u8; 32]) else {
        unreachable!("a 32-byte key suits AES-256-GCM")
    };
    let key = LessSafeKey::new(unbound);
    let nonce = || Nonce::assume_unique_for_key([0u8; 12]);
    let mut group = c.benchmark_group("AES-256-GCM record");
    for size in [1024usize, 64 * 1024] {
        let aad = (size as u32 + 16).to_le_bytes();
        group.throughput(Throughput::Bytes(size as u64));
        let mut body = vec![0xA5u8; size];
        group.bench_function(BenchmarkId::new("seal in place", size), |b| {
            b.iter(|| black_box(key.seal_in_place_separate_tag(nonce(), Aad::from(aad), &mut body)))
        });
        let mut sealed = vec![0xA5u8; size];
        let Ok(tag) = key.seal_in_place_separate_tag(nonce(), Aad::from(aad), &mut sealed) else {
            unreachable!("sealing a record within the bound does not fail")
        };
        sealed.extend_from_slice(tag.as_ref());
        // Opening decrypts in place, so each iteration opens a fresh copy of the record, made
        // outside the timed part.
        group.bench_function(BenchmarkId::new("open in place", size), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |record| black_box(key.open_in_place(nonce(), Aad::from(aad), record).is_ok()),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// What the writer task pays to seal a large turn on tokio's blocking pool rather than on its
/// runtime's worker: a job handed from a task on the worker to the pool and awaited back, with
/// nothing to do, on a runtime of one worker as the cluster bench runs.
fn blocking_pool_round_trip(c: &mut Criterion) {
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
    else {
        unreachable!("a runtime of one worker builds")
    };
    c.bench_function("spawn_blocking round trip from a worker task", |b| {
        b.iter_custom(|iters| {
            let task = runtime.spawn(async move {
                let start = std::time::Instant::now();
                for i in 0..iters {
                    let _ = black_box(tokio::task::spawn_blocking(move || i).await);
                }
                start.elapsed()
            });
            runtime.block_on(task).unwrap_or_default()
        })
    });
}

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = cast_round_trip, call_round_trip, local_call_round_trip, record_cipher,
        blocking_pool_round_trip
);
criterion_main!(benches);
