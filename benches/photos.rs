//! Photo variant benchmark: both variants (thumb 320, display 1600) of a
//! 12-megapixel phone JPEG, on one worker and on every core, with peak
//! memory, against libvips' `vipsthumbnail` doing the same job on the same
//! file when it is installed (Debian package `libvips-tools`); then the
//! same photo tagged with an Adobe RGB profile (colord-data's), which both
//! convert to sRGB (colour management on).
//!
//! `cargo bench --bench photos`. Figures: docs/PERFORMANCE.md.

use chrono::FixedOffset;
use fieldsync::photos::variants::{self, Limits};
use std::process::Command;
use std::time::Instant;

const PHOTO: &str = "xiaomi_IMG_20191224_234846.jpg";

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn path() -> String {
    std::env::var("PHOTO_BENCH_FILE").unwrap_or_else(|_| {
        format!(
            "{}/../shared/fixtures/photos/{PHOTO}",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

const ADOBE_RGB: &str = "/usr/share/color/icc/colord/AdobeRGB1998.icc";

/// The photo with an ICC profile in an APP2 segment after its SOI: what a
/// camera set to Adobe RGB writes.
fn tagged(photo: &[u8], icc: &[u8]) -> Vec<u8> {
    let mut seg = b"ICC_PROFILE\0\x01\x01".to_vec();
    seg.extend_from_slice(icc);
    let len = u16::try_from(seg.len() + 2).expect("a profile under 64 KB");
    let mut out = photo[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seg);
    out.extend_from_slice(&photo[2..]);
    out
}

/// One mode in a child process of its own, so its peak memory is its own.
fn child(mode: &str, workers: usize, n: usize) {
    let bytes = std::fs::read(path()).expect("fixture");
    let limits = Limits {
        max_pixels: 64_000_000,
    };
    let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
    let base = rss_mb();
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let bytes = &bytes;
            s.spawn(move || {
                for _ in (w..n).step_by(workers) {
                    let v = variants::make(bytes, limits, offset).expect("variants");
                    assert!(v.display.len() > 1000 && v.thumb.len() > 100);
                }
            });
        }
    });
    let took = started.elapsed().as_secs_f64();
    println!(
        "{mode:<28} {:>7.1} ms/photo  {:>6.2} photos/s  peak RSS {:>6.1} MB (baseline {:.1} MB, {:.1} MB per worker)",
        took * 1000.0 / n as f64,
        n as f64 / took,
        peak_rss_mb(),
        base,
        (peak_rss_mb() - base) / workers as f64
    );
}

fn vips(n: usize, file: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut max_rss_kb = 0u64;
    let started = Instant::now();
    for i in 0..n {
        for (size, q) in [(1600, 82), (320, 78)] {
            let out = tmp.path().join(format!("{i}-{size}.jpg"));
            let o = Command::new("/usr/bin/time")
                .args([
                    "-f",
                    "%M",
                    "vipsthumbnail",
                    file,
                    "-s",
                    &format!("{size}x{size}"),
                    "-o",
                ])
                .arg(format!("{}[Q={q},strip]", out.display()))
                .output()
                .expect("vipsthumbnail");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let kb: u64 = String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            max_rss_kb = max_rss_kb.max(kb);
        }
    }
    let took = started.elapsed().as_secs_f64();
    println!(
        "{:<28} {:>7.1} ms/photo  {:>6.2} photos/s  peak RSS {:>6.1} MB (both sizes, one process each)",
        "vipsthumbnail (reference)",
        took * 1000.0 / n as f64,
        n as f64 / took,
        max_rss_kb as f64 / 1024.0
    );
}

fn main() {
    let n: usize = std::env::var("BENCH_PHOTOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    if let Ok(mode) = std::env::var("PHOTO_BENCH_MODE") {
        let workers: usize = mode.parse().unwrap_or(1);
        child(&format!("fieldsync, {workers} worker(s)"), workers, n);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |c| c.get());
    let exe = std::env::current_exe().expect("own path");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut files = vec![(path(), "no profile")];
    match std::fs::read(ADOBE_RGB) {
        Ok(icc) => {
            let f = tmp.path().join("adobe-rgb.jpg");
            std::fs::write(&f, tagged(&std::fs::read(path()).expect("fixture"), &icc))
                .expect("write");
            files.push((
                f.display().to_string(),
                "Adobe RGB profile, converted to sRGB",
            ));
        }
        Err(_) => println!("{ADOBE_RGB}: not there (apt-get install colord-data)"),
    }
    let vips_here = Command::new("vipsthumbnail")
        .arg("--version")
        .output()
        .is_ok();
    for (file, what) in files {
        println!(
            "\nphoto variants of {PHOTO} (4000x3000, 6.3 MB; {what}), thumb 320 + display 1600, {n} photos per run"
        );
        for workers in [1, cores] {
            let status = Command::new(&exe)
                .env("PHOTO_BENCH_MODE", workers.to_string())
                .env("BENCH_PHOTOS", n.to_string())
                .env("PHOTO_BENCH_FILE", &file)
                .status()
                .expect("child");
            assert!(status.success());
        }
        if vips_here {
            vips(n, &file);
        } else {
            println!("vipsthumbnail: not installed (apt-get install libvips-tools)");
        }
    }
}
