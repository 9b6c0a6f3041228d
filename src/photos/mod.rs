//! Photos: what their bytes are, their EXIF, and their variants.

pub mod exif;
pub mod inspect;
pub mod variants;
