//! The fuzz targets' committed inputs: a small seed corpus per target (`fuzz/seeds/<target>/`),
//! made of genuine messages so that libFuzzer starts past the first checks, and every input that
//! once broke a target (`fuzz/regressions/<target>/`). Each file replays through its target's entry
//! point on every `cargo test`; the seeds are written anew, from the messages below, by
//! `cargo test -p ractor_cluster --lib fuzz_seeds -- --ignored`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::message::tests::{handshake_golden, session_golden};
use super::proptests::fuzz_twin::{self, fresh, fuzz_config, Tree};
use crate::protocol::codec;
use crate::protocol::fragment;
use crate::protocol::frame::{parse_frame, HANDSHAKE_MAX_FRAME};
use crate::protocol::handshake::{ClientDriver, HandshakeProgress, ServerDriver};
use crate::protocol::hot_frames::encode_fragment_frame;
use crate::protocol::message::{
    ControlMessage, FrameProtection, HandshakeMessage, ProtocolVersion, SessionMessage,
    PROTOCOL_VERSION,
};
use crate::protocol::reference::WireReference;

/// A fuzz target's entry point.
type EntryPoint = fn(&[u8]);

/// Every target, by its name in `fuzz/Cargo.toml`, with its entry point.
const TARGETS: [(&str, EntryPoint); 8] = [
    ("frame", fuzz_twin::frame),
    ("session_message", fuzz_twin::session_message),
    ("handshake_client", fuzz_twin::handshake_client),
    ("handshake_server", fuzz_twin::handshake_server),
    ("handshake_proved", fuzz_twin::handshake_proved),
    ("record", fuzz_twin::record),
    ("fragments", fuzz_twin::fragments),
    ("payload", fuzz_twin::payload),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn committed_seeds_and_regressions_replay_through_their_targets() {
    for (target, run) in TARGETS {
        let seeds = files_in(&fuzz_dir().join("seeds").join(target));
        assert!(!seeds.is_empty(), "fuzz target {target} has no seeds");
        let regressions = files_in(&fuzz_dir().join("regressions").join(target));
        for file in seeds.iter().chain(&regressions) {
            let bytes = std::fs::read(file).unwrap();
            let replay = std::panic::catch_unwind(|| run(&bytes));
            assert!(replay.is_ok(), "{} broke {target}", file.display());
        }
    }
}

#[test]
fn every_target_is_in_the_fuzz_manifest() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml lacks {target}"
        );
        let source = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        assert!(source.exists(), "{} is missing", source.display());
    }
}

/// Frames `body` as a peer would.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn body_of(message: &SessionMessage) -> Vec<u8> {
    codec::encode_to_vec(message).unwrap()
}

/// The seeds of every target, as `(target, file name, bytes)`.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let session: Vec<(SessionMessage, Vec<u8>)> = session_golden()
        .into_iter()
        .map(|(message, _)| {
            let body = body_of(&message);
            (message, body)
        })
        .collect();

    // One body per variant of every session message.
    for (index, (message, body)) in session.iter().enumerate() {
        let name = format!("{index:02}-{}", message.kind());
        seeds.push(("session_message", name, body.clone()));
    }

    // Frames: all session samples in one stream under a limit they fit; the handshake samples;
    // a stream cut inside a frame, and a frame over the limit.
    let mut all = vec![0xFF];
    for (_, body) in &session {
        all.extend(framed(body));
    }
    seeds.push(("frame", "session-messages".into(), all.clone()));
    let mut handshake = vec![0xFF];
    for (message, _) in handshake_golden() {
        handshake.extend(framed(&codec::encode_to_vec(&message).unwrap()));
    }
    seeds.push(("frame", "handshake-messages".into(), handshake));
    seeds.push(("frame", "cut-short".into(), all[..all.len() - 3].to_vec()));
    seeds.push(("frame", "over-the-limit".into(), vec![1, 0, 1, 0, 0, 7]));

    // Handshakes: the genuine exchange between the two roles as the targets configure them, so
    // each target's input completes its handshake; and each rejection.
    let (to_server, to_client) = genuine_handshake();
    seeds.push(("handshake_server", "genuine".into(), to_server.clone()));
    seeds.push(("handshake_client", "genuine".into(), to_client.clone()));
    for (index, (message, _)) in handshake_golden().into_iter().enumerate() {
        let frame = framed(&codec::encode_to_vec(&message).unwrap());
        let name = format!("{index:02}-{}", message.kind());
        seeds.push(("handshake_server", name.clone(), frame.clone()));
        seeds.push(("handshake_client", name, frame));
    }

    // Proved handshakes: a hello for each role, sealed or plaintext, one with a weak key share.
    let hello_to_server = first_body(&to_server);
    let hello_to_client = first_body(&to_client);
    seeds.push((
        "handshake_proved",
        "client-hello".into(),
        [&[0u8][..], &hello_to_server[..]].concat(),
    ));
    seeds.push((
        "handshake_proved",
        "server-hello".into(),
        [&[1u8][..], &hello_to_client[..]].concat(),
    ));
    if let Ok(HandshakeMessage::ClientHello(mut hello)) = HandshakeMessage::decode(&hello_to_server)
    {
        hello.frames = FrameProtection::Plaintext;
        hello.protocol = ProtocolVersion {
            major: PROTOCOL_VERSION.major,
            minor: 0,
        };
        let plaintext =
            codec::encode_to_vec(&HandshakeMessage::ClientHello(hello.clone())).unwrap();
        seeds.push((
            "handshake_proved",
            "plaintext-client".into(),
            [&[0u8][..], &plaintext[..]].concat(),
        ));
        // The client role's target is "fuzz-client": the hello must name another node.
        hello.node.name = "weak-peer".to_owned();
        hello.key_share = [0; 32];
        let weak = codec::encode_to_vec(&HandshakeMessage::ServerHello(hello)).unwrap();
        seeds.push((
            "handshake_proved",
            "weak-key-share".into(),
            [&[1u8][..], &weak[..]].concat(),
        ));
    }

    // Records: session frames as the input the target seals and opens, at two piece sizes.
    let stream: Vec<u8> = session
        .iter()
        .take(8)
        .flat_map(|(_, body)| framed(body))
        .collect();
    seeds.push((
        "record",
        "session-frames".into(),
        [&[0x07u8][..], &stream[..]].concat(),
    ));
    seeds.push(("record", "short".into(), vec![0x20, 1, 2, 3, 4, 5, 6, 7, 8]));

    // Fragments: a message in three pieces with a heartbeat between them; a fragment inside a
    // fragment; pieces over the limit.
    let mut pieces = vec![0x40];
    let cast = framed(&body_of(&SessionMessage::Cast {
        to: 9,
        args: b"a message cut into pieces".to_vec(),
    }));
    for (more, chunk) in fragment::pieces_of(&cast, 11) {
        encode_fragment_frame(more, chunk, u32::MAX, &mut pieces).unwrap();
        pieces.extend(framed(&body_of(&SessionMessage::Control(
            ControlMessage::Heartbeat,
        ))));
    }
    seeds.push(("fragments", "three-pieces".into(), pieces));
    let inner = framed(&body_of(&SessionMessage::Fragment {
        more: false,
        chunk: vec![1, 2, 3],
    }));
    let mut nested = vec![0x40];
    encode_fragment_frame(false, &inner[4..], u32::MAX, &mut nested).unwrap();
    seeds.push(("fragments", "nested".into(), nested));
    let mut over = vec![0x00];
    for _ in 0..3 {
        encode_fragment_frame(true, &[7; 12], u32::MAX, &mut over).unwrap();
    }
    seeds.push(("fragments", "over-the-limit".into(), over));

    // Payloads: a variant name, then a tree of each kind of container, bytes, a hand-written
    // type's bytes and a reference; and a tree nested past the depth limit.
    let tree = Tree::Map(BTreeMap::from([
        ("leaf".to_owned(), Tree::Leaf(7)),
        (
            "node".to_owned(),
            Tree::Node(vec![
                Tree::Text("text".to_owned()),
                Tree::Maybe(Some(Box::new(Tree::Leaf(1)))),
                Tree::Maybe(None),
                Tree::Pair(Box::new((Tree::Leaf(2), Tree::Leaf(3)))),
            ]),
        ),
    ]));
    let reference = Some(WireReference {
        node: 0x0102_0304_0506_0708,
        incarnation: 3,
        pid: 42,
    });
    let mut payload = codec::encode_to_vec("Job").unwrap();
    payload.extend(codec::encode_to_vec(&tree).unwrap());
    codec::write_byte_string(b"raw bytes", &mut payload);
    codec::write_byte_string(b"hand-written", &mut payload);
    payload.extend(codec::encode_to_vec(&reference).unwrap());
    seeds.push(("payload", "every-tier".into(), payload));
    let mut deep = codec::encode_to_vec("Deep").unwrap();
    // `Maybe(Some(` 200 times: tag 3, then `Some`.
    deep.extend([3u8, 1].repeat(200));
    deep.extend([0u8, 0]);
    seeds.push(("payload", "too-deep".into(), deep));

    seeds
}

/// The frames each side of a genuine handshake sends, the sides configured as the targets
/// configure theirs: `(client to server, server to client)`.
fn genuine_handshake() -> (Vec<u8>, Vec<u8>) {
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    let mut client =
        ClientDriver::start(fuzz_config("fuzz-client"), fresh(1), &mut to_server).unwrap();
    let mut server = ServerDriver::start(fuzz_config("fuzz-server"), fresh(2)).unwrap();
    let (hello, _) = parse_frame(&to_server, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let hello = hello.to_vec();
    server.receive(&hello, &mut to_client).unwrap();
    let (server_hello, _) = parse_frame(&to_client, HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let server_hello = server_hello.to_vec();
    let proof_at = to_server.len();
    client.receive(&server_hello, &mut to_server).unwrap();
    let (proof, _) = parse_frame(&to_server[proof_at..], HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let proof = proof.to_vec();
    let server_proof_at = to_client.len();
    let done = server.receive(&proof, &mut to_client).unwrap();
    assert!(matches!(done, HandshakeProgress::Done(_)));
    let (server_proof, _) = parse_frame(&to_client[server_proof_at..], HANDSHAKE_MAX_FRAME)
        .unwrap()
        .unwrap();
    let done = client.receive(server_proof, &mut Vec::new()).unwrap();
    assert!(matches!(done, HandshakeProgress::Done(_)));
    (to_server, to_client)
}

/// The body of the first frame of `stream`.
fn first_body(stream: &[u8]) -> Vec<u8> {
    let (body, _) = parse_frame(stream, HANDSHAKE_MAX_FRAME).unwrap().unwrap();
    body.to_vec()
}

#[test]
fn the_seeds_are_small_and_each_replays() {
    let seeds = seeds();
    let total: usize = seeds.iter().map(|(_, _, bytes)| bytes.len()).sum();
    assert!(total < 100 * 1024, "seed corpora of {total} bytes");
    for (target, name, bytes) in &seeds {
        let (_, run) = TARGETS.iter().find(|(known, _)| known == target).unwrap();
        let replay = std::panic::catch_unwind(|| run(bytes));
        assert!(replay.is_ok(), "seed {target}/{name} broke its target");
    }
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand after changing the messages"]
fn write_fuzz_seeds() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("seeds").join(target);
        for old in files_in(&dir) {
            std::fs::remove_file(old).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (target, name, bytes) in seeds() {
        std::fs::write(fuzz_dir().join("seeds").join(target).join(name), bytes).unwrap();
    }
}
