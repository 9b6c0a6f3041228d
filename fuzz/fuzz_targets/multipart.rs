//! A multipart push body, read by the server's own reader (parts counted,
//! names checked, photo parts spooled to temporary files).
#![no_main]

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use fieldsync::photos::blob::{BlobStore, FsStore};
use fieldsync::photos::upload::{self, Limits};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn store() -> Arc<dyn BlobStore> {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    Arc::new(FsStore::new(dir.path()).expect("store"))
}

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=fuzz"),
    );
    let body = actix_web::web::Bytes::copy_from_slice(data);
    let stream = futures_util::stream::once(async move {
        Ok::<_, actix_web::error::PayloadError>(body)
    });
    let form = actix_multipart::Multipart::new(&headers, stream);
    let limits = Limits {
        max_json: 1 << 16,
        max_photo: 1 << 16,
        max_total: 1 << 20,
    };
    let store = store();
    actix_web::rt::System::new().block_on(async move {
        let _ = upload::read(form, store, &limits).await;
    });
});
