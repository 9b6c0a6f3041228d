//! Video variants: poster + thumb + display of a 30 s 1080p H.264 clip as
//! the server makes them (reading the container, ffmpeg in a child under
//! its limits, the poster through the photo pipeline, into the blob
//! store), against the floor: the same two ffmpeg commands run by hand.
//! Time and peak memory (the server's own and its children's).
//!
//! `cargo bench --bench video` (needs Debian's ffmpeg). Figures:
//! docs/PERFORMANCE.md.

use fieldsync::photos::blob::FsStore;
use fieldsync::photos::container::{self, Limits as ContainerLimits};
use fieldsync::photos::ffmpeg::{self, Limits, Scratch};
use fieldsync::photos::video::{self, Settings};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The largest peak RSS of the children waited for so far, MB.
fn children_peak_mb() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    u.ru_maxrss as f64 / 1024.0
}

fn limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(900),
        memory: 2048 << 20,
        threads: 2,
    }
}

/// The server's way, in a process of its own.
fn ours(clip: &Path, runs: usize) {
    let ffmpeg = ffmpeg::find(None).expect("ffmpeg");
    let data = tempfile::tempdir().expect("tempdir");
    let store = FsStore::new(data.path().join("blobs")).expect("store");
    let settings = Settings {
        configured: None,
        limits: limits(),
        workers: 1,
        data_dir: data.path().to_path_buf(),
        container: ContainerLimits {
            max_duration_ms: 600_000,
        },
        heif_convert: None,
    };
    let stop = AtomicBool::new(false);
    let mut best = f64::MAX;
    for i in 0..runs {
        let started = Instant::now();
        let size = std::fs::metadata(clip).expect("clip").len();
        let info = container::probe(
            &mut std::fs::File::open(clip).expect("clip"),
            size,
            settings.container,
        )
        .expect("a video");
        let scratch = Scratch::new(data.path()).expect("scratch");
        // A new name each run: the store keeps variants by hash.
        let sha = format!("{i:02}{}", "0".repeat(62));
        video::make(
            &store,
            &sha,
            (clip, &info),
            &ffmpeg,
            &settings,
            &scratch,
            &stop,
        )
        .expect("variants");
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{:<34} {:>7.2} s (best of {runs})  server peak RSS {:>6.1} MB  ffmpeg peak RSS {:>6.1} MB",
        "fieldsync (probe, poster, display)",
        best,
        vm_hwm_mb(),
        children_peak_mb()
    );
}

/// The same ffmpeg commands by hand: the floor.
fn floor(clip: &Path, runs: usize) {
    let ffmpeg = ffmpeg::find(None).expect("ffmpeg");
    let tmp = tempfile::tempdir().expect("tempdir");
    let l = limits();
    let kind = container::Container::Mp4;
    let mut best = f64::MAX;
    let mut peak = 0u64;
    for _ in 0..runs {
        let started = Instant::now();
        for cmd in [
            ffmpeg::frame_command(&ffmpeg, clip, kind, 500, &tmp.path().join("f.png"), &l),
            ffmpeg::display_command(&ffmpeg, clip, kind, 600, &tmp.path().join("d.mp4"), &l),
        ] {
            let args: Vec<_> = cmd.get_args().map(|a| a.to_os_string()).collect();
            let o = Command::new("/usr/bin/time")
                .arg("-f")
                .arg("%M")
                .arg(cmd.get_program())
                .args(&args)
                .output()
                .expect("ffmpeg");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let kb: u64 = String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            peak = peak.max(kb);
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{:<34} {:>7.2} s (best of {runs})  ffmpeg peak RSS {:>6.1} MB",
        "ffmpeg by hand (the floor)",
        best,
        peak as f64 / 1024.0
    );
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    if let Ok(clip) = std::env::var("VIDEO_BENCH_CLIP") {
        ours(Path::new(&clip), runs);
        return;
    }
    let Some(ffmpeg) = ffmpeg::find(None) else {
        println!("ffmpeg: not installed (apt-get install ffmpeg)");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let clip = tmp.path().join("clip.mp4");
    let ok = Command::new(&ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=1920x1080:rate=30:duration=30")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=30"])
        .args([
            "-c:v", "libx264", "-preset", "fast", "-b:v", "12M", "-pix_fmt", "yuv420p",
        ])
        .args(["-c:a", "aac", "-shortest"])
        .arg(&clip)
        .status()
        .expect("ffmpeg");
    assert!(ok.success());
    let mb = std::fs::metadata(&clip).map_or(0, |m| m.len()) as f64 / 1e6;
    println!(
        "poster + display of a 30 s 1080p30 H.264 clip ({mb:.1} MB), display 1280 wide, threads 2"
    );
    let exe = std::env::current_exe().expect("own path");
    let status = Command::new(exe)
        .env("VIDEO_BENCH_CLIP", &clip)
        .env("BENCH_RUNS", runs.to_string())
        .status()
        .expect("child");
    assert!(status.success());
    floor(&clip, runs);
}
