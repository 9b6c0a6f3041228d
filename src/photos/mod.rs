//! Photos: the blob store, what their bytes are, their EXIF, their
//! variants and the jobs that make them.

pub mod blob;
pub mod exif;
pub mod inspect;
pub mod jobs;
pub mod tus;
pub mod upload;
pub mod urls;
pub mod variants;
