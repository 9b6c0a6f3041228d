//! Colours as the photographer saw them: every variant is sRGB (what a
//! browser assumes of a JPEG without a profile), so an image with an
//! embedded ICC profile (an iPhone's Display P3, Adobe RGB, ProPhoto) is
//! converted through its profile by `moxcms`, and CMYK is turned into RGB
//! from the ink it holds: through its profile when it has one, else by the
//! plain formula every viewer without colour management uses.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// Whether a JPEG carries an Adobe APP14 segment: its CMYK is then stored
/// inverted (0 = full ink), as Photoshop writes it. Scanned up to the
/// first scan, by the segments' own lengths.
pub fn adobe_marker(jpeg: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= jpeg.len() {
        if jpeg[at] != 0xFF {
            return false;
        }
        let marker = jpeg[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if marker == 0xEE && jpeg.get(at + 4..at + 9) == Some(b"Adobe") {
            return true;
        }
        at += 2 + len;
    }
    false
}

/// CMYK ink (0 = none, 255 = full) to sRGB, 4 bytes in, 3 out.
pub fn cmyk_to_srgb(ink: &[u8], icc: Option<&[u8]>) -> Vec<u8> {
    if let Some(profile) = icc.and_then(|b| ColorProfile::new_from_slice(b).ok())
        && profile.color_space == DataColorSpace::Cmyk
        && let Ok(t) = profile.create_transform_8bit(
            Layout::Rgba,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        )
    {
        let mut out = vec![0u8; ink.len() / 4 * 3];
        if t.transform(ink, &mut out).is_ok() {
            return out;
        }
    }
    ink.chunks_exact(4)
        .flat_map(|p| {
            let k = 255 - u16::from(p[3]);
            [p[0], p[1], p[2]].map(|c| ((255 - u16::from(c)) * k / 255) as u8)
        })
        .collect()
}

/// RGB pixels in the space of `icc` turned into sRGB, in place; left as
/// they are when the profile is not an RGB one this engine reads (a
/// broken profile is no reason to refuse a photo).
pub fn rgb_to_srgb(rgb: &mut [u8], icc: &[u8]) {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if profile.color_space != DataColorSpace::Rgb {
        return;
    }
    let Ok(t) = profile.create_transform_8bit(
        Layout::Rgb,
        &ColorProfile::new_srgb(),
        Layout::Rgb,
        TransformOptions::default(),
    ) else {
        return;
    };
    let mut out = vec![0u8; rgb.len()];
    if t.transform(rgb, &mut out).is_ok() {
        rgb.copy_from_slice(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adobe_marker_is_found_before_the_scan_only() {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xEE, 0x00, 0x0E];
        j.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x01");
        j.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        assert!(adobe_marker(&j));
        let mut later = vec![0xFF, 0xD8, 0xFF, 0xDA, 0, 2];
        later.extend_from_slice(&j[2..]);
        assert!(!adobe_marker(&later));
        assert!(!adobe_marker(&[0xFF, 0xD8]));
        assert!(!adobe_marker(&[0xFF, 0xD8, 0xFF, 0xEE, 0xFF, 0xFF]));
    }

    #[test]
    fn plain_cmyk_is_ink() {
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 0], None), vec![255, 255, 255]);
        assert_eq!(cmyk_to_srgb(&[0, 0, 0, 255], None), vec![0, 0, 0]);
        assert_eq!(cmyk_to_srgb(&[255, 0, 0, 0], None), vec![0, 255, 255]);
    }
}
