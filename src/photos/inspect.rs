//! What the bytes are, read from the bytes: the format by its magic
//! number, the dimensions from the header, before anything is decoded.

use crate::error::ErrorCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Heic,
    Avif,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Heic => "image/heic",
            Format::Avif => "image/avif",
        }
    }

    /// Whether this server can decode it (and so make variants).
    pub fn decodable(self) -> bool {
        // HEIC through heif-convert (`heif`); AVIF not at all yet.
        matches!(
            self,
            Format::Jpeg | Format::Png | Format::Webp | Format::Heic
        )
    }
}

/// A refusal of a photo's bytes, with the status it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(status: u16, code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }
}

/// The format, from the first bytes.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Format::Jpeg);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Format::Png);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Format::Webp);
    }
    if bytes.len() >= 16 && &bytes[4..8] == b"ftyp" {
        // The major brand, then the compatible ones.
        let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let end = size.clamp(16, bytes.len().min(256));
        let brands: Vec<&[u8]> = std::iter::once(&bytes[8..12])
            .chain(bytes[16..end].chunks_exact(4))
            .collect();
        if brands.iter().any(|b| matches!(*b, b"avif" | b"avis")) {
            return Some(Format::Avif);
        }
        if brands.iter().any(|b| {
            matches!(
                *b,
                b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1"
            )
        }) {
            return Some(Format::Heic);
        }
    }
    None
}

/// Width and height as stored (before orientation), from the header only:
/// nothing is decoded, so a decompression bomb costs nothing to refuse.
pub fn dimensions(format: Format, bytes: &[u8]) -> Result<(u32, u32), Refusal> {
    if !format.decodable() {
        return Err(undecodable(format));
    }
    let size = imagesize::blob_size(bytes).map_err(|e| {
        Refusal::new(
            422,
            ErrorCode::CorruptImage,
            format!("cannot read the image header: {e}"),
        )
    })?;
    let w = u32::try_from(size.width).unwrap_or(u32::MAX);
    let h = u32::try_from(size.height).unwrap_or(u32::MAX);
    Ok((w, h))
}

pub fn undecodable(format: Format) -> Refusal {
    Refusal::new(
        415,
        ErrorCode::UnsupportedMediaType,
        format!(
            "{} photos cannot be decoded by this server; send JPEG, PNG, WebP or HEIC",
            format.content_type()
        ),
    )
}

/// Most pixels of an image that is not a JPEG. A JPEG is decoded at a
/// reduced scale (a few megapixels whatever its size); PNG and WebP are
/// decoded whole, at up to 8 bytes a pixel (16-bit RGBA) plus 3 for the
/// RGB copy: 20 MP keeps one decode under the 256 MiB a photo worker may
/// use (docs/PERFORMANCE.md measures it).
pub const MAX_OTHER_PIXELS: u64 = 20_000_000;

/// The pixel limit for a format, under the configured `max_pixels`.
pub fn pixel_limit(format: Format, max_pixels: u64) -> u64 {
    match format {
        // A HEIC comes back from heif-convert as a JPEG, decoded scaled.
        Format::Jpeg | Format::Heic => max_pixels,
        _ => max_pixels.min(MAX_OTHER_PIXELS),
    }
}

/// Checks bytes before they are kept: what they are, how large, and that
/// decoding them would stay within the pixel limit of their format.
pub fn check(bytes: &[u8], max_pixels: u64) -> Result<(Format, u32, u32), Refusal> {
    let format = sniff(bytes).ok_or_else(|| {
        Refusal::new(
            415,
            ErrorCode::UnsupportedMediaType,
            "the bytes are not a JPEG, PNG, WebP, HEIC or AVIF image",
        )
    })?;
    if !format.decodable() {
        return Err(undecodable(format));
    }
    let (w, h) = dimensions(format, bytes)?;
    if w == 0 || h == 0 {
        return Err(Refusal::new(
            422,
            ErrorCode::CorruptImage,
            "the image has no pixels",
        ));
    }
    let limit = pixel_limit(format, max_pixels);
    if u64::from(w) * u64::from(h) > limit {
        return Err(Refusal::new(
            413,
            ErrorCode::TooManyPixels,
            format!(
                "{w}x{h} is over the limit of {limit} pixels for {}",
                format.content_type()
            ),
        ));
    }
    Ok((format, w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::photos::fixture;

    #[test]
    fn formats_are_read_from_the_bytes() {
        assert_eq!(
            sniff(&fixture("canon_sx530_IMG_1054.jpg")),
            Some(Format::Jpeg)
        );
        assert_eq!(sniff(&fixture("d-debian.png")), Some(Format::Png));
        assert_eq!(sniff(&fixture("sdl2_sample.webp")), Some(Format::Webp));
        assert_eq!(sniff(&fixture("mimetype_avif.avif")), Some(Format::Avif));
        assert_eq!(sniff(b"%PDF-1.7 not an image"), None);
    }

    #[test]
    fn header_dimensions_and_limits() {
        let jpg = fixture("canon_sx530_IMG_1054.jpg");
        assert_eq!(check(&jpg, 10_000_000).unwrap(), (Format::Jpeg, 1280, 960));
        assert_eq!(check(&jpg, 1000).unwrap_err().status, 413);
        assert_eq!(
            check(&fixture("d-debian.png"), 10_000_000).unwrap(),
            (Format::Png, 800, 600)
        );
        assert_eq!(
            check(&fixture("mimetype_avif.avif"), 10_000_000)
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(check(b"hello", 10).unwrap_err().status, 415);
        assert_eq!(check(&jpg[..100], 10_000_000).unwrap_err().status, 422);
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        // A PNG header claiming 100000 x 100000 pixels, with no data.
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&100_000u32.to_be_bytes());
        chunk.extend_from_slice(&100_000u32.to_be_bytes());
        chunk.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut crc = flate2::Crc::new();
        crc.update(&chunk);
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d".to_vec();
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc.sum().to_be_bytes());
        let r = check(&png, 64_000_000);
        assert_eq!(r.unwrap_err().status, 413);
    }
}
