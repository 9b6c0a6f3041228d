//! Any bytes given to the video container reader end in a video or a
//! refusal, quickly, never a panic or an allocation past its limits.
#![no_main]

use fieldsync::photos::container::{Limits, probe, sniff};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
    let _ = probe(
        &mut std::io::Cursor::new(data),
        data.len() as u64,
        Limits {
            max_duration_ms: 600_000,
        },
    );
});
