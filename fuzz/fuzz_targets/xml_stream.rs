//! Fuzz target `xml_stream`: see `allium::fuzzing::xml_stream` for the input format and invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    allium::fuzzing::xml_stream(data);
});
