//! HEIC/HEIF photos (the iPhone camera's default) decoded by
//! `heif-convert` (Debian's libheif-examples) in a child process under the
//! same limits as ffmpeg: Debian 12's libheif is older than the Rust
//! bindings need, and a child keeps a C decoder's faults out of the
//! server. libheif turns the picture upright by the file's own transforms
//! (`irot`, `imir`); a HEIF's EXIF orientation is ignored, as its
//! specification says.

use super::ffmpeg::{self, Limits, RunError, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// What a photo's object says while its variants wait for the tool.
pub const MISSING: &str = "heif-convert not installed";
/// What its absence costs, in the district's words.
pub const MISSING_EFFECT: &str = "未安装 heif-convert（libheif-examples）：iPhone 的 HEIC 照片照常接收和保存原图，但没有缩略图；安装后自动补做";

/// `FIELDSYNC_HEIF_CONVERT` if set (and there), else `heif-convert` on
/// PATH; looked up each time, so one installed later is found.
pub fn find(configured: Option<&Path>) -> Option<PathBuf> {
    ffmpeg::find_tool(configured, "heif-convert")
}

/// The primary image as a JPEG (quality 95), upright: a JPEG so that a
/// 48-megapixel photo is decoded at a reduced scale like any other.
pub fn to_jpeg(
    tool: &Path,
    heic: &[u8],
    scratch: &Scratch,
    limits: &Limits,
    stop: &AtomicBool,
) -> Result<Vec<u8>, RunError> {
    let input = scratch.path("in.heic");
    std::fs::write(&input, heic).map_err(RunError::Io)?;
    let out = scratch.path("out.jpg");
    let mut cmd = Command::new(tool);
    cmd.args(["-q", "95"]).arg(&input).arg(&out);
    ffmpeg::run(cmd, limits, stop)?;
    // A file of several images is written as out-1.jpg, out-2.jpg...: the
    // first is the primary one.
    let written = if out.exists() {
        out
    } else {
        scratch.path("out-1.jpg")
    };
    std::fs::read(&written).map_err(RunError::Io)
}
