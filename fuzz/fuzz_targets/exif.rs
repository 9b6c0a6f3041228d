//! EXIF as cameras and phones write it (and as they should not).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let offset = chrono::FixedOffset::east_opt(8 * 3600).expect("offset");
    let _ = fieldsync::photos::exif::read(data, offset);
});
