//! Feeds arbitrary bytes to `ractor_cluster::fuzzing::payload`; see fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ractor_cluster::fuzzing::payload(data);
});
