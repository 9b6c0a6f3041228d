//! The checks made on photo bytes before anything is decoded: the format
//! from the bytes, the size from the header, the pixel limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldsync::photos::inspect::sniff(data);
    let _ = fieldsync::photos::inspect::check(data, 64_000_000);
});
