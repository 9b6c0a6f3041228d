//! Photos: the blob store, what their bytes are, their EXIF, their
//! variants and the jobs that make them.

pub mod blob;
pub mod exif;
pub mod inspect;
pub mod jobs;
pub mod s3;
pub mod tus;
pub mod upload;
pub mod urls;
pub mod variants;

/// The real photos in `../shared/fixtures/photos`, for unit tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/fixtures/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
