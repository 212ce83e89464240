//! Fuzz target `sasl`: see `allium::fuzzing::sasl` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    allium::fuzzing::sasl(data);
});
