//! PDFs the server makes itself, without a browser (krilla): a page laid
//! out top to bottom on A4 (headings, wrapped text, two-column tables,
//! horizontal bars, weekly columns), drawn with a CJK font found at run
//! time as ffmpeg is (`FIELDSYNC_PDF_FONT`, else the usual Debian fonts):
//! without one the server works on and answers a PDF request 406 saying
//! what is missing. Used by the period brief (`review::brief::pdf`).

use crate::error::{AppError, AppResult, ErrorCode};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Where Debian's CJK fonts are (fonts-wqy-microhei, fonts-noto-cjk,
/// fonts-wqy-zenhei, fonts-droid-fallback), tried in order.
pub const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
];

/// The font file to use: the configured one, else the first found.
pub fn find_font(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(p) => p.is_file().then(|| p.to_path_buf()),
        None => FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()),
    }
}

type Fonts = Mutex<HashMap<Option<PathBuf>, Option<Font>>>;

/// The font, read once per process and setting (a few MB, shared by every
/// PDF).
fn font(configured: Option<&Path>) -> AppResult<Font> {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    let key = configured.map(Path::to_path_buf);
    let mut fonts = FONTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| AppError::internal("the PDF font cache"))?;
    let f = fonts.entry(key).or_insert_with(|| {
        let path = find_font(configured)?;
        let bytes = std::fs::read(&path).ok()?;
        let f = Font::new(bytes.into(), 0);
        if f.is_none() {
            tracing::warn!(path = %path.display(), "the PDF font could not be read");
        }
        f
    });
    f.clone().ok_or_else(|| {
        AppError::new(
            actix_web::http::StatusCode::NOT_ACCEPTABLE,
            ErrorCode::NotAcceptable,
            "a PDF needs a CJK font: install fonts-wqy-microhei or set FIELDSYNC_PDF_FONT; print the HTML brief instead",
        )
    })
}

/// A colour of the charts (the pages' colours).
pub type Colour = (u8, u8, u8);
pub const BLUE: Colour = (0x1f, 0x4e, 0x79);
pub const ORANGE: Colour = (0xd9, 0x82, 0x2b);
pub const GREEN: Colour = (0x2e, 0x7d, 0x32);
pub const YELLOW: Colour = (0xe0, 0xa0, 0x00);
pub const RED: Colour = (0xc6, 0x28, 0x28);
pub const PURPLE: Colour = (0x6a, 0x1b, 0x9a);
const INK: Colour = (0x1d, 0x24, 0x30);
const GREY: Colour = (0x5b, 0x66, 0x76);
const LINE: Colour = (0xe3, 0xe7, 0xec);

/// What is drawn: text at a baseline, or a filled rectangle.
#[derive(Debug, Clone)]
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
        colour: Colour,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        colour: Colour,
    },
}

const W: f32 = 595.0;
const H: f32 = 842.0;
const MARGIN: f32 = 50.0;

/// A document laid out top to bottom, page by page.
pub struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
}

/// About how wide a text is (a CJK character is a square; Latin letters and
/// digits about half): for wrapping and placing, not for kerning.
fn width(text: &str, size: f32) -> f32 {
    text.chars()
        .map(|c| if c.is_ascii() { 0.55 } else { 1.0 })
        .sum::<f32>()
        * size
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            pages: vec![vec![]],
            y: MARGIN,
        }
    }
}

impl Layout {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(vec![]);
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Room for `h` more points on this page, else a new page.
    fn room(&mut self, h: f32) {
        if self.y + h > H - MARGIN {
            self.pages.push(vec![]);
            self.y = MARGIN;
        }
    }

    fn text(&mut self, x: f32, size: f32, text: &str, colour: Colour) {
        let y = self.y + size;
        self.ops().push(Op::Text {
            x,
            y,
            size,
            text: text.to_string(),
            colour,
        });
    }

    pub fn heading(&mut self, text: &str, size: f32) {
        self.room(size * 2.5);
        self.y += size * 0.6;
        self.text(MARGIN, size, text, INK);
        self.y += size * 1.5;
    }

    /// Text wrapped to the page's width.
    pub fn paragraph(&mut self, text: &str, size: f32, grey: bool) {
        let mut line = String::new();
        let mut lines = Vec::new();
        for c in text.chars() {
            line.push(c);
            if width(&line, size) > W - 2.0 * MARGIN {
                let last = line.pop().unwrap_or(' ');
                lines.push(std::mem::take(&mut line));
                line.push(last);
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        for l in lines {
            self.room(size * 1.6);
            self.text(MARGIN, size, &l, if grey { GREY } else { INK });
            self.y += size * 1.6;
        }
        self.y += size * 0.4;
    }

    /// Rows of (name, value), a rule under each.
    pub fn table(&mut self, rows: &[(String, String)], size: f32) {
        for (k, v) in rows {
            self.room(size * 1.8);
            self.text(MARGIN, size, k, GREY);
            self.text(MARGIN + 200.0, size, v, INK);
            self.y += size * 1.6;
            let y = self.y;
            self.ops().push(Op::Rect {
                x: MARGIN,
                y,
                w: W - 2.0 * MARGIN,
                h: 0.5,
                colour: LINE,
            });
            self.y += size * 0.2;
        }
        self.y += size;
    }

    /// Horizontal bars: a label, the bar, the value with its unit.
    pub fn bars(&mut self, rows: &[(String, f64, Colour)], unit: &str) {
        let size = 10.0;
        if rows.is_empty() {
            self.paragraph("本期没有数据", size, true);
            return;
        }
        let max = rows.iter().map(|r| r.1).fold(0.0, f64::max).max(1e-9);
        let (label_w, value_w) = (150.0, 60.0);
        let span = W - 2.0 * MARGIN - label_w - value_w;
        for (label, v, colour) in rows {
            self.room(18.0);
            let mut l: String = label.chars().take(12).collect();
            if label.chars().count() > 12 {
                l.push('…');
            }
            self.text(MARGIN + label_w - 6.0 - width(&l, size), size, &l, INK);
            let w = ((v / max) as f32 * span).max(1.0);
            let y = self.y + 1.5;
            self.ops().push(Op::Rect {
                x: MARGIN + label_w,
                y,
                w,
                h: 10.0,
                colour: *colour,
            });
            let value = if v.fract() == 0.0 {
                format!("{}{unit}", *v as i64)
            } else {
                format!("{v:.1}{unit}")
            };
            self.text(MARGIN + label_w + w + 4.0, size, &value, INK);
            self.y += 18.0;
        }
        self.y += 8.0;
    }

    /// Columns by week, stacked: `labels` under some, `series` (name,
    /// colour, a value per column).
    pub fn columns(&mut self, labels: &[String], series: &[(&str, Colour, Vec<i64>)]) {
        let (h, size) = (150.0, 9.0);
        self.room(h + 40.0);
        // The legend.
        let mut x = MARGIN;
        for (name, colour, _) in series {
            let y = self.y + 1.0;
            self.ops().push(Op::Rect {
                x,
                y,
                w: 8.0,
                h: 8.0,
                colour: *colour,
            });
            self.text(x + 12.0, size, name, INK);
            x += 80.0;
        }
        self.y += 16.0;
        let n = labels.len().max(1);
        let top = crate::webui::charts::stacked_top(series, n);
        let left = MARGIN + 30.0;
        let plot_w = W - MARGIN - left;
        let step = plot_w / n as f32;
        let base = self.y + h;
        for t in crate::webui::charts::ticks(top) {
            let y = base - (t / top) as f32 * h;
            self.ops().push(Op::Rect {
                x: left,
                y,
                w: plot_w,
                h: 0.5,
                colour: LINE,
            });
            let label = (t as i64).to_string();
            self.ops().push(Op::Text {
                x: left - 4.0 - width(&label, size),
                y: y + 3.0,
                size,
                text: label,
                colour: GREY,
            });
        }
        for i in 0..n {
            for (from, v, colour, _) in crate::webui::charts::segments(series, i) {
                let y1 = base - ((from + v) / top) as f32 * h;
                let y0 = base - (from / top) as f32 * h;
                self.ops().push(Op::Rect {
                    x: left + i as f32 * step + step * 0.1,
                    y: y1,
                    w: (step * 0.8).max(0.5),
                    h: y0 - y1,
                    colour,
                });
            }
            if let Some(l) = labels.get(i).filter(|l| !l.is_empty()) {
                let x = (left + i as f32 * step).min(W - MARGIN - width(l, size));
                self.ops().push(Op::Text {
                    x,
                    y: base + 12.0,
                    size,
                    text: l.clone(),
                    colour: GREY,
                });
            }
        }
        self.y = base + 26.0;
    }

    /// The document as PDF bytes, with the font found at run time.
    pub fn render(self, configured_font: Option<&Path>) -> AppResult<Vec<u8>> {
        let font = font(configured_font)?;
        let mut doc = Document::new();
        let settings =
            PageSettings::from_wh(W, H).ok_or_else(|| AppError::internal("A4 page settings"))?;
        let count = self.pages.len();
        for (n, ops) in self.pages.into_iter().enumerate() {
            let mut page = doc.start_page_with(settings.clone());
            let mut surface = page.surface();
            for op in ops {
                match op {
                    Op::Rect { x, y, w, h, colour } => {
                        let Some(rect) = Rect::from_xywh(x, y, w.max(0.1), h.max(0.1)) else {
                            continue;
                        };
                        let mut pb = PathBuilder::new();
                        pb.push_rect(rect);
                        if let Some(path) = pb.finish() {
                            surface.set_fill(Some(fill(colour)));
                            surface.draw_path(&path);
                        }
                    }
                    Op::Text {
                        x,
                        y,
                        size,
                        text,
                        colour,
                    } => {
                        surface.set_fill(Some(fill(colour)));
                        surface.draw_text(
                            Point::from_xy(x, y),
                            font.clone(),
                            size,
                            &text,
                            false,
                            TextDirection::Auto,
                        );
                    }
                }
            }
            // The page's number at its foot.
            surface.set_fill(Some(fill(GREY)));
            surface.draw_text(
                Point::from_xy(W / 2.0 - 20.0, H - 25.0),
                font.clone(),
                9.0,
                &format!("第 {} 页 / 共 {count} 页", n + 1),
                false,
                TextDirection::Auto,
            );
            surface.finish();
            page.finish();
        }
        doc.finish()
            .map_err(|e| AppError::internal(format!("writing a PDF: {e:?}")))
    }
}

fn fill((r, g, b): Colour) -> Fill {
    Fill {
        paint: rgb::Color::new(r, g, b).into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_and_pages_break() {
        let mut l = Layout::default();
        l.paragraph(&"长寿区政协委员巡查".repeat(40), 12.0, false);
        assert!(l.pages[0].len() > 5, "wrapped into lines");
        for _ in 0..60 {
            l.heading("一节", 14.0);
        }
        assert!(l.pages.len() > 1, "a new page when the last is full");
        assert!(width("ab", 10.0) < width("排口", 10.0));
    }
}
