//! The video variants, made by `ffmpeg` in a child process: decoding
//! untrusted video is the most dangerous thing this server does, so none
//! of it happens in process. The child may open files only (no network
//! protocol), demux only the container the bytes were recognised as, and
//! decode only the codecs a phone records; it runs under an address-space
//! and a CPU limit and is killed at a wall-clock limit, or at once when
//! its job is abandoned (the server stopping). Its scratch files live in
//! a directory of their own under the data directory that goes away on
//! every path.

use super::container::Container;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the server reports while videos wait for it.
pub const MISSING: &str = "ffmpeg not installed";
/// What its absence costs, in the district's words (`/readyz`, `/admin`).
pub const MISSING_EFFECT: &str =
    "未安装 ffmpeg：视频照常接收、核对和播放原件，但没有封面和压缩版；安装后自动补做";

/// The decoders a phone's video may need: nothing else is opened.
const DECODERS: &str = "h264,hevc,vp8,vp9,av1,libdav1d,libaom-av1,mpeg4,h263,\
aac,aac_fixed,mp3,mp3float,opus,libopus,vorbis,libvorbis,amrnb,amrwb,libopencore_amrnb,\
libopencore_amrwb,pcm_s16le,pcm_s16be,alac,flac";
/// The demuxers: ISO BMFF (MP4, MOV, 3GP) and Matroska (WebM).
const FORMATS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm";

/// The ffmpeg this server uses: `FIELDSYNC_FFMPEG` if set (and there),
/// else `ffmpeg` on `PATH`. Looked up each time it is needed, so one
/// installed while the server runs is found without a restart.
pub fn find(configured: Option<&Path>) -> Option<PathBuf> {
    find_tool(configured, "ffmpeg")
}

/// A tool at its configured path, else `name` on PATH.
pub fn find_tool(configured: Option<&Path>, name: &str) -> Option<PathBuf> {
    if let Some(p) = configured {
        return is_executable(p).then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How a child runs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall clock for one run.
    pub timeout: Duration,
    /// Address space (RLIMIT_AS), bytes.
    pub memory: u64,
    /// Threads ffmpeg may use for one run.
    pub threads: u32,
}

#[derive(Debug)]
pub enum RunError {
    /// Killed at the wall-clock limit: worth another try later (a busy
    /// machine), counted, so a file that always hangs gives up.
    TimedOut(Duration),
    /// The server is stopping: the job goes back to the queue.
    Abandoned,
    /// ffmpeg refused or failed on the bytes (its last words).
    Failed(String),
    /// Starting it or reading its output.
    Io(std::io::Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::TimedOut(d) => write!(f, "ffmpeg 运行超过 {} 秒，已终止", d.as_secs()),
            RunError::Abandoned => write!(f, "服务器停止，转码中断"),
            RunError::Failed(m) => write!(f, "ffmpeg 无法处理该视频：{m}"),
            RunError::Io(e) => write!(f, "无法运行 ffmpeg：{e}"),
        }
    }
}

/// A scratch directory that is removed with its owner.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(data_dir: &Path) -> std::io::Result<Scratch> {
        let dir = data_dir
            .join("scratch")
            .join(format!("video-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes what a server killed mid-run left in the scratch directory.
pub fn clear_scratch(data_dir: &Path) {
    let _ = std::fs::remove_dir_all(data_dir.join("scratch"));
}

fn input_args(cmd: &mut Command, input: &Path, container: Container, limits: &Limits) {
    cmd.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args(["-threads", &limits.threads.to_string()])
        .args(["-protocol_whitelist", "file"])
        .args(["-format_whitelist", FORMATS])
        .args(["-codec_whitelist", DECODERS])
        .args(["-f", container.demuxer()])
        .arg("-i")
        .arg(input);
}

/// Long edge at most 1280, even sizes (H.264 4:2:0), never enlarged;
/// ffmpeg turns the picture upright first (its display matrix).
const SCALE: &str = "scale=w='min(1280,iw)':h='min(1280,ih)':force_original_aspect_ratio=decrease:force_divisible_by=2";

/// One frame at `at_ms`, upright, long edge at most 1280, as a PNG.
pub fn frame(
    ffmpeg: &Path,
    input: &Path,
    container: Container,
    at_ms: u64,
    out: &Path,
    limits: &Limits,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    run(
        frame_command(ffmpeg, input, container, at_ms, out, limits),
        limits,
        stop,
    )
}

/// The command `frame` runs (the benchmark runs it by hand as the floor).
pub fn frame_command(
    ffmpeg: &Path,
    input: &Path,
    container: Container,
    at_ms: u64,
    out: &Path,
    limits: &Limits,
) -> Command {
    let mut cmd = Command::new(ffmpeg);
    // Seeking before the input: ffmpeg jumps to the nearest key frame
    // before `at_ms` and decodes from there only.
    cmd.args(["-ss", &format!("{}.{:03}", at_ms / 1000, at_ms % 1000)]);
    input_args(&mut cmd, input, container, limits);
    cmd.args(["-map", "0:v:0", "-frames:v", "1", "-vf", SCALE])
        .args(["-map_metadata", "-1", "-f", "image2", "-c:v", "png"])
        .arg(out);
    cmd
}

/// The `display` variant: H.264 (main) and AAC in MP4 with its index at
/// the front, long edge at most 1280, no metadata.
pub fn display(
    ffmpeg: &Path,
    input: &Path,
    container: Container,
    max_secs: u64,
    out: &Path,
    limits: &Limits,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    run(
        display_command(ffmpeg, input, container, max_secs, out, limits),
        limits,
        stop,
    )
}

/// The command `display` runs.
pub fn display_command(
    ffmpeg: &Path,
    input: &Path,
    container: Container,
    max_secs: u64,
    out: &Path,
    limits: &Limits,
) -> Command {
    let mut cmd = Command::new(ffmpeg);
    input_args(&mut cmd, input, container, limits);
    cmd.args(["-map", "0:v:0", "-map", "0:a:0?", "-vf", SCALE])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "26"])
        .args(["-profile:v", "main", "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "96k", "-ac", "2"])
        .args(["-map_metadata", "-1", "-map_chapters", "-1"])
        .args(["-movflags", "+faststart", "-t", &max_secs.to_string()])
        .args(["-f", "mp4"])
        .arg(out);
    cmd
}

/// Runs the child to its end under the limits.
pub(super) fn run(mut cmd: Command, limits: &Limits, stop: &AtomicBool) -> Result<(), RunError> {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // A group of its own: whatever it starts is killed with it.
        .process_group(0);
    let (memory, cpu) = (
        limits.memory,
        limits.timeout.as_secs().saturating_mul(4).max(10),
    );
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setrlimit), with values computed before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let set = |what, value: u64| {
                let l = libc::rlimit {
                    rlim_cur: value as libc::rlim_t,
                    rlim_max: value as libc::rlim_t,
                };
                if libc::setrlimit(what, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            };
            set(libc::RLIMIT_AS, memory)?;
            // A backstop only: CPU seconds count every thread, so the wall
            // clock below is the limit that binds an honest transcode.
            set(libc::RLIMIT_CPU, cpu)?;
            set(libc::RLIMIT_CORE, 0)?;
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(RunError::Io)?;
    let mut child = Killed(child);
    // Its errors, read on a thread of their own (a full pipe would stall
    // it), the last 2 KB kept.
    let mut stderr = child.0.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.take(1 << 20).read_to_end(&mut out);
        }
        let from = out.len().saturating_sub(2048);
        String::from_utf8_lossy(&out[from..]).trim().to_string()
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.0.try_wait().map_err(RunError::Io)? {
            break s;
        }
        if stop.load(Ordering::SeqCst) {
            return Err(RunError::Abandoned);
        }
        if started.elapsed() >= limits.timeout {
            return Err(RunError::TimedOut(limits.timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = reader.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        let last = said.lines().last().unwrap_or("").to_string();
        Err(RunError::Failed(if last.is_empty() {
            format!("exit {status}")
        } else {
            last
        }))
    }
}

/// A child that is killed and reaped when dropped, on every path.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait()
            && let Ok(pid) = i32::try_from(self.0.id())
        {
            // SAFETY: a plain syscall on the child's own process group.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_path_must_exist_and_run() {
        assert_eq!(find(Some(Path::new("/nonexistent/ffmpeg"))), None);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("ffmpeg");
        std::fs::write(&plain, "not a program").unwrap();
        std::fs::set_permissions(&plain, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        assert_eq!(find(Some(&plain)), None, "not executable");
        assert_eq!(
            find(Some(Path::new("/bin/sh"))),
            Some(PathBuf::from("/bin/sh"))
        );
    }

    #[test]
    fn a_hung_child_is_killed_at_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("ffmpeg");
        std::fs::write(&fake, "#!/bin/sh\nsleep 30\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let limits = Limits {
            timeout: Duration::from_millis(300),
            memory: 1 << 30,
            threads: 1,
        };
        let t = Instant::now();
        let stop = AtomicBool::new(false);
        let r = display(
            &fake,
            Path::new("/dev/null"),
            Container::Mp4,
            10,
            &dir.path().join("out.mp4"),
            &limits,
            &stop,
        );
        assert!(matches!(r, Err(RunError::TimedOut(_))), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
        // A stopping server abandons it at once.
        let stop = AtomicBool::new(true);
        let limits = Limits {
            timeout: Duration::from_secs(60),
            ..limits
        };
        let r = display(
            &fake,
            Path::new("/dev/null"),
            Container::Mp4,
            10,
            &dir.path().join("out.mp4"),
            &limits,
            &stop,
        );
        assert!(matches!(r, Err(RunError::Abandoned)), "{r:?}");
    }

    #[test]
    fn scratch_goes_away_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let s = Scratch::new(dir.path()).unwrap();
        std::fs::write(s.path("x"), b"1").unwrap();
        let p = s.path("x");
        drop(s);
        assert!(!p.exists());
    }
}
