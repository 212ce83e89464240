//! Fuzz target `stanza`: see `allium::fuzzing::stanza` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    allium::fuzzing::stanza(data);
});
