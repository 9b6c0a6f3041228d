//! The variant pipeline, a pure function from bytes to resized JPEGs:
//! decode (JPEG at a reduced scale when the display size allows it),
//! turn upright after the reduction (cheaper than on the full image),
//! resize with `fast_image_resize`, encode with `jpeg-encoder` (4:2:0).
//! The output carries no metadata at all: no EXIF, no GPS, no camera.

use super::inspect::{self, Format, Refusal};
use super::{colour, exif};
use crate::error::ErrorCode;
use chrono::FixedOffset;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage};
use std::io::Cursor;

pub const THUMB: u32 = 320;
pub const DISPLAY: u32 = 1600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Thumb,
    Display,
}

impl Variant {
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "thumb" => Some(Variant::Thumb),
            "display" => Some(Variant::Display),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Thumb => "thumb",
            Variant::Display => "display",
        }
    }
}

pub struct Variants {
    pub thumb: Vec<u8>,
    pub display: Vec<u8>,
    /// The original's size, upright.
    pub width: u32,
    pub height: u32,
    pub exif: exif::Info,
}

/// Limits on what is decoded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pixels: u64,
}

fn fail(e: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        422,
        ErrorCode::CorruptImage,
        format!("the image cannot be decoded: {e}"),
    )
}

/// Size that fits `long` on the longer edge, never enlarging.
pub fn fit(w: u32, h: u32, long: u32) -> (u32, u32) {
    let m = w.max(h);
    if m <= long {
        return (w, h);
    }
    let scale = f64::from(long) / f64::from(m);
    (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    )
}

/// An RGB picture and the ICC profile its pixels are in, still to be
/// converted to sRGB: after resizing, on a quarter of the pixels or fewer
/// (as thumbnailers do). CMYK is converted while decoding.
type Decoded = (RgbImage, Option<Vec<u8>>);

/// Decodes a JPEG at the smallest of 1/1, 1/2, 1/4, 1/8 that still covers
/// `long` pixels on its longer edge.
fn decode_jpeg(bytes: &[u8], long: u32) -> Result<Decoded, Refusal> {
    let mut d = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    d.read_info().map_err(fail)?;
    let info = d.info().ok_or_else(|| fail("no frame"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let (rw, rh) = fit(w, h, long);
    let (ow, oh) = d
        .scale(rw.min(65535) as u16, rh.min(65535) as u16)
        .map_err(fail)?;
    let pixels = d.decode().map_err(fail)?;
    let info = d.info().ok_or_else(|| fail("no frame"))?;
    let icc = d.icc_profile();
    let (ow, oh) = (u32::from(ow), u32::from(oh));
    let mut rgb_icc = None;
    let rgb = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            rgb_icc = icc;
            pixels
        }
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        jpeg_decoder::PixelFormat::CMYK32 => {
            // jpeg-decoder hands out 255 minus what is stored (for CMYK,
            // and for YCCK after its YCC step): the ink itself for Adobe's
            // inverted form, its complement for plain CMYK.
            let mut ink = pixels;
            if !colour::adobe_marker(bytes) {
                ink.iter_mut().for_each(|v| *v = 255 - *v);
            }
            colour::cmyk_to_srgb(&ink, icc.as_deref())
        }
        jpeg_decoder::PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
    };
    let img = RgbImage::from_raw(ow, oh, rgb).ok_or_else(|| fail("short pixel buffer"))?;
    Ok((img, rgb_icc))
}

fn decode_other(bytes: &[u8], format: Format, max_pixels: u64) -> Result<Decoded, Refusal> {
    let max_pixels = inspect::pixel_limit(format, max_pixels);
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(fail)?;
    let mut limits = image::Limits::default();
    let side = u32::try_from(max_pixels).unwrap_or(u32::MAX);
    limits.max_image_width = Some(side);
    limits.max_image_height = Some(side);
    // RGBA at 16 bits per channel is the most a decoder may ask for.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(fail)?;
    let icc = image::ImageDecoder::icc_profile(&mut decoder)
        .ok()
        .flatten();
    let img = DynamicImage::from_decoder(decoder).map_err(fail)?;
    // 16-bit and grey images come down to 8-bit RGB here.
    let rgb = if img.color().has_alpha() {
        on_white(&img.into_rgba8())
    } else {
        // `into_rgb8` reuses an RGB8 buffer instead of copying it.
        img.into_rgb8()
    };
    Ok((rgb, icc))
}

/// A picture with transparency (a signature drawn on the phone, a PNG
/// screenshot) laid on white: a JPEG variant has no transparency, and
/// dropping it would show transparent pixels as black.
fn on_white(src: &image::RgbaImage) -> RgbImage {
    let mut out = RgbImage::new(src.width(), src.height());
    for (o, p) in out.pixels_mut().zip(src.pixels()) {
        let a = u16::from(p[3]);
        let mix = |c: u8| ((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        *o = image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])]);
    }
    out
}

fn resize(src: &RgbImage, w: u32, h: u32) -> Result<RgbImage, Refusal> {
    if (src.width(), src.height()) == (w, h) {
        return Ok(src.clone());
    }
    // Borrowed, not copied: the source may be the whole decoded photo.
    let from =
        ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3).map_err(fail)?;
    let mut to = Image::new(w, h, PixelType::U8x3);
    Resizer::new()
        .resize(
            &from,
            &mut to,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3)),
        )
        .map_err(fail)?;
    RgbImage::from_raw(w, h, to.into_vec()).ok_or_else(|| fail("resize produced a short buffer"))
}

fn encode(img: &RgbImage, quality: u8) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity((img.width() * img.height()) as usize / 4);
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    let (w, h) = (
        u16::try_from(img.width()).map_err(fail)?,
        u16::try_from(img.height()).map_err(fail)?,
    );
    enc.encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(fail)?;
    Ok(out)
}

/// Makes both variants of a photo's bytes.
pub fn make(
    bytes: &[u8],
    limits: Limits,
    default_offset: FixedOffset,
) -> Result<Variants, Refusal> {
    let (format, w, h) = inspect::check(bytes, limits.max_pixels)?;
    let info = exif::read(bytes, default_offset);
    let (mut img, icc) = match format {
        Format::Jpeg => decode_jpeg(bytes, DISPLAY)?,
        f => decode_other(bytes, f, limits.max_pixels)?,
    };
    if info.orientation != 1
        && let Some(o) = image::metadata::Orientation::from_exif(info.orientation)
    {
        let mut dynamic = DynamicImage::ImageRgb8(img);
        dynamic.apply_orientation(o);
        img = dynamic.to_rgb8();
    }
    let (width, height) = if info.orientation >= 5 {
        (h, w)
    } else {
        (w, h)
    };
    let (dw, dh) = fit(img.width(), img.height(), DISPLAY);
    let mut display = resize(&img, dw, dh)?;
    drop(img);
    if let Some(icc) = &icc {
        colour::rgb_to_srgb(&mut display, icc);
    }
    let (tw, th) = fit(dw, dh, THUMB);
    let thumb = resize(&display, tw, th)?;
    Ok(Variants {
        display: encode(&display, 82)?,
        thumb: encode(&thumb, 78)?,
        width,
        height,
        exif: info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparency_is_laid_on_white_not_black() {
        let mut src = image::RgbaImage::new(2, 1);
        src.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
        src.put_pixel(1, 0, image::Rgba([0, 0, 0, 255]));
        let out = on_white(&src);
        assert_eq!(out.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(1, 0).0, [0, 0, 0]);
        let half = on_white(&image::RgbaImage::from_pixel(
            1,
            1,
            image::Rgba([0, 0, 0, 128]),
        ));
        assert_eq!(half.get_pixel(0, 0).0, [127, 127, 127]);
    }

    use crate::photos::fixture;

    fn limits() -> Limits {
        Limits {
            max_pixels: 64_000_000,
        }
    }

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn size(jpeg: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(jpeg).unwrap();
        (img.width(), img.height())
    }

    #[test]
    fn sizes_fit_the_long_edge() {
        assert_eq!(fit(4000, 3000, 1600), (1600, 1200));
        assert_eq!(fit(3000, 4000, 320), (240, 320));
        assert_eq!(fit(100, 50, 320), (100, 50));
    }

    #[test]
    fn a_phone_photo_makes_both_variants_without_exif() {
        let v = make(&fixture("xiaomi_IMG_20191224_234846.jpg"), limits(), cst()).unwrap();
        assert_eq!((v.width, v.height), (4000, 3000));
        assert_eq!(size(&v.display), (1600, 1200));
        assert_eq!(size(&v.thumb), (320, 240));
        for out in [&v.display, &v.thumb] {
            assert_eq!(inspect::sniff(out), Some(Format::Jpeg));
            assert_eq!(
                exif::read(out, cst()),
                exif::Info {
                    orientation: 1,
                    ..Default::default()
                }
            );
            assert!(!out.windows(4).any(|w| w == b"Exif"), "no EXIF segment");
        }
    }

    #[test]
    fn orientation_is_applied() {
        // The synthetic files are stored sideways or upside down with a
        // mark in their top-left corner when viewed upright.
        for (name, stored, upright) in [
            ("synthetic_orientation_3.jpg", (50, 70), (50, 70)),
            ("synthetic_orientation_6.jpg", (70, 50), (50, 70)),
            ("synthetic_orientation_8.jpg", (70, 50), (50, 70)),
        ] {
            let bytes = fixture(name);
            assert_eq!(inspect::dimensions(Format::Jpeg, &bytes).unwrap(), stored);
            let v = make(&bytes, limits(), cst()).unwrap();
            assert_eq!((v.width, v.height), upright, "{name}");
            assert_eq!(size(&v.display), upright, "{name}");
        }
    }

    #[test]
    fn png_and_webp_work_and_broken_bytes_fail_cleanly() {
        let v = make(&fixture("d-debian.png"), limits(), cst()).unwrap();
        assert_eq!(size(&v.thumb), (320, 240));
        let v = make(&fixture("sdl2_sample.webp"), limits(), cst()).unwrap();
        assert_eq!(size(&v.display), (23, 42));
        let jpg = fixture("canon_sx530_IMG_1054.jpg");
        let r = make(&jpg[..jpg.len() / 3], limits(), cst());
        assert!(r.is_err() || r.is_ok(), "a truncated JPEG never panics");
        assert_eq!(
            make(&jpg[..200], limits(), cst()).err().map(|e| e.status),
            Some(422)
        );
    }
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    fn colour_fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/colour/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// sRGB (0-255) to CIE L*a*b* (D65).
    fn lab(rgb: [f64; 3]) -> [f64; 3] {
        let lin = rgb.map(|c| {
            let c = c / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        let x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
        let y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
        let z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        let (fx, fy, fz) = (f(x), f(y), f(z));
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
    }

    fn delta_e(a: [f64; 3], b: [f64; 3]) -> f64 {
        let (a, b) = (lab(a), lab(b));
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    fn mean(jpeg: &[u8]) -> [f64; 3] {
        let img = image::load_from_memory(jpeg).unwrap().to_rgb8();
        let n = f64::from(img.width() * img.height());
        let mut m = [0.0; 3];
        for p in img.pixels() {
            for i in 0..3 {
                m[i] += f64::from(p[i]) / n;
            }
        }
        m
    }

    /// Each fixture's display variant against the mean colour LittleCMS
    /// (Pillow's ImageCms) gives it (tests/fixtures/colour/make.py).
    #[test]
    fn variants_keep_the_colours_a_managed_viewer_shows() {
        let reference: std::collections::BTreeMap<String, [f64; 3]> =
            serde_json::from_slice(&colour_fixture("reference.json")).unwrap();
        let limits = Limits {
            max_pixels: 64_000_000,
        };
        let utc = chrono::Offset::fix(&chrono::Utc);
        for name in [
            "adobergb.jpg",
            "adobergb.png",
            "prophoto.jpg",
            "prophoto.png",
            "cmyk_adobe.jpg",
            "cmyk_plain.jpg",
            "grey.jpg",
            "grey.png",
            "grey16.png",
            "srgb.jpg",
        ] {
            let v = make(&colour_fixture(name), limits, utc).unwrap();
            let got = mean(&v.display);
            let de = delta_e(got, reference[name]);
            assert!(
                de < 3.0,
                "{name}: ΔE {de:.2} ({got:?} vs {:?})",
                reference[name]
            );
            assert_eq!((v.width, v.height), (240, 160), "{name}");
        }
        // The test has teeth: the profiles' pixels shown as sRGB are off.
        for name in ["adobergb", "prophoto"] {
            let de = delta_e(
                reference[&format!("{name}.unmanaged")],
                reference[&format!("{name}.jpg")],
            );
            assert!(de > 3.0, "{name} unmanaged is only ΔE {de:.2} off");
        }
    }
}
