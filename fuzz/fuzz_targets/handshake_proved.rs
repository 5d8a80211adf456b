//! Feeds arbitrary bytes to `ractor_cluster::fuzzing::handshake_proved`; see fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ractor_cluster::fuzzing::handshake_proved(data);
});
