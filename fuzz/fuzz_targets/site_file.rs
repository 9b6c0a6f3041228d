//! A spreadsheet an admin uploads: CSV in any encoding, GeoJSON, or junk.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fieldsync::reference::site_files::count_rows(data);
});
