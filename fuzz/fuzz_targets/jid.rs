//! Fuzz target `jid`: see `allium::fuzzing::jid` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    allium::fuzzing::jid(data);
});
