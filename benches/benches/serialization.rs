//! Serialize + deserialize of derived messages, as a node does on each side of the wire.
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

criterion_group!(
    name = benches;
    config = Criterion::default();
    targets = cast_round_trip, call_round_trip, local_call_round_trip
);
criterion_main!(benches);
