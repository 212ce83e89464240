//! Fuzz target `config`: see `allium::fuzzing::config` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    allium::fuzzing::config(data);
});
