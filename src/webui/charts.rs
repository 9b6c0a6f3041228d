//! Charts drawn by the server as SVG (no script, no internet): bars by
//! week, horizontal bars, a 100% band. Each is drawn at a phone's width
//! (a 400-unit viewBox, 12-unit text: at 412 px one unit is a pixel) and
//! scales up on a desk; the numbers are always given in a table beside it
//! (see `webui::review::dashboard`). Used by the dashboard and the brief.

use maud::{Markup, html};

/// The drawing's width (viewBox units: about a phone's CSS pixels).
const W: f64 = 400.0;
const FONT: f64 = 12.0;

/// A series' colour.
pub const BLUE: &str = "#1f4e79";
pub const ORANGE: &str = "#d9822b";
pub const GREEN: &str = "#2e7d32";
pub const YELLOW: &str = "#e0a000";
pub const RED: &str = "#c62828";
pub const PURPLE: &str = "#6a1b9a";

/// The ticks of an axis from 0 to `top` (a [`nice_top`]): whole numbers,
/// at most five steps.
pub fn ticks(top: f64) -> Vec<f64> {
    let steps = if top <= 5.0 {
        top.max(1.0) as usize
    } else if (top / 10f64.powf(top.log10().floor()) - 2.0).abs() < 1e-9 {
        4
    } else {
        5
    };
    (0..=steps).map(|k| top * k as f64 / steps as f64).collect()
}

/// A round top for an axis at or above `max` (1, 2 or 5 times a power of ten).
pub fn nice_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|t| *t >= max)
        .unwrap_or(10.0 * p)
}

/// The axis top of stacked columns: the round number above the tallest
/// column's total. `series`: (name, colour, a value per column).
pub fn stacked_top<C>(series: &[(&str, C, Vec<i64>)], n: usize) -> f64 {
    let tallest = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.2.get(i).copied().unwrap_or(0))
                .sum::<i64>()
        })
        .max()
        .unwrap_or(0);
    nice_top(tallest as f64)
}

/// Column `i`'s parts, bottom up: (where it starts, its value, its
/// colour, its series' name); empty parts left out. The SVG and the PDF
/// stack the same way.
pub fn segments<'a, C: Copy>(
    series: &'a [(&'a str, C, Vec<i64>)],
    i: usize,
) -> Vec<(f64, f64, C, &'a str)> {
    let mut base = 0.0;
    let mut out = Vec::new();
    for (name, colour, values) in series {
        let v = values.get(i).copied().unwrap_or(0) as f64;
        if v > 0.0 {
            out.push((base, v, *colour, *name));
        }
        base += v;
    }
    out
}

/// Stacked bars, one per column (`labels`: shown only where not empty),
/// `series`: (name, colour, a value per column).
pub fn stacked_bars(title: &str, labels: &[String], series: &[(&str, &str, Vec<i64>)]) -> Markup {
    let n = labels.len().max(1);
    let (left, top, bottom, h) = (34.0, 22.0, 20.0, 200.0);
    let plot_h = h - top - bottom;
    let max = stacked_top(series, n);
    let step = (W - left - 4.0) / n as f64;
    let bar = (step * 0.8).max(1.0);
    let y = |v: f64| top + plot_h - v / max * plot_h;
    // Each column's parts, bottom up: (x, y, width, height, colour, tip).
    let mut rects = Vec::new();
    for i in 0..n {
        let x = left + i as f64 * step + (step - bar) / 2.0;
        for (base, v, colour, name) in segments(series, i) {
            let label = labels.get(i).map(String::as_str).unwrap_or("");
            let tip = format!("{label} {name} {}", v as i64);
            rects.push((x, y(base + v), bar, y(base) - y(base + v), colour, tip));
        }
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox={ "0 0 " (W) " " (h) }
            role="img" aria-label=(title) font-size=(FONT) {
            title { (title) }
                        @for (i, (name, colour, _)) in series.iter().enumerate() {
                rect x=(fmt(left + i as f64 * 90.0)) y="4" width="10" height="10" fill=(colour) {}
                text x=(fmt(left + 14.0 + i as f64 * 90.0)) y="13" { (name) }
            }
            @for v in ticks(max) {
                line x1=(fmt(left)) x2=(fmt(W)) y1=(fmt(y(v))) y2=(fmt(y(v))) stroke="#e3e7ec" {}
                text x=(fmt(left - 4.0)) y=(fmt(y(v) + 4.0)) text-anchor="end" fill="#5b6676" { (v as i64) }
            }
            @for (x, y0, w, hh, colour, tip) in &rects {
                rect x=(fmt(*x)) y=(fmt(*y0)) width=(fmt(*w)) height=(fmt(*hh)) fill=(colour) { title { (tip) } }
            }
            @for (i, l) in labels.iter().enumerate() {
                @if !l.is_empty() {
                    // Near the right edge a label ends there, not beyond.
                    @if left + i as f64 * step > W - 30.0 {
                        text x=(fmt(W)) y=(fmt(h - 6.0)) text-anchor="end" fill="#5b6676" { (l) }
                    } @else {
                        text x=(fmt(left + i as f64 * step)) y=(fmt(h - 6.0)) fill="#5b6676" { (l) }
                    }
                }
            }
        }
    }
}

/// Horizontal bars, one row each: (label, value, colour). Labels longer
/// than ten characters are cut (the table beside has them whole).
pub fn bars(title: &str, rows: &[(String, f64, &str)], unit: &str) -> Markup {
    let (label_w, row_h, value_w) = (130.0, 22.0, 56.0);
    let h = (rows.len().max(1) as f64) * row_h + 8.0;
    let max = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let span = W - label_w - value_w;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox={ "0 0 " (W) " " (fmt(h)) }
            role="img" aria-label=(title) font-size=(FONT) {
            title { (title) }
            @if rows.is_empty() {
                text x="0" y="16" fill="#5b6676" { "本期没有数据" }
            }
            @for (i, (label, value, colour)) in rows.iter().enumerate() {
                @let y = 4.0 + i as f64 * row_h;
                text x=(fmt(label_w - 6.0)) y=(fmt(y + 14.0)) text-anchor="end" { (cut(label, 10)) }
                rect x=(fmt(label_w)) y=(fmt(y + 3.0)) width=(fmt((value / max * span).max(1.0))) height="14" fill=(colour) {
                    title { (label) " " (number(*value)) (unit) }
                }
                text x=(fmt(label_w + (value / max * span).max(1.0) + 4.0)) y=(fmt(y + 14.0)) fill="#1d2430" { (number(*value)) (unit) }
            }
        }
    }
}

/// One bar split into parts that add up to a whole: (name, value, colour).
pub fn band(title: &str, parts: &[(&str, i64, &str)]) -> Markup {
    let total: i64 = parts.iter().map(|p| p.1).sum();
    let h = 30.0 + 20.0 * parts.len().div_ceil(2) as f64;
    let mut x = 0.0;
    let mut shapes = Vec::new();
    for (name, v, colour) in parts {
        let w = if total > 0 {
            *v as f64 / total as f64 * W
        } else {
            0.0
        };
        shapes.push((x, w, *name, *v, *colour));
        x += w;
    }
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox={ "0 0 " (W) " " (fmt(h)) }
            role="img" aria-label=(title) font-size=(FONT) {
            title { (title) }
            @if total == 0 {
                rect x="0" y="2" width=(W) height="20" fill="#e3e7ec" {}
            }
            @for (x, w, name, v, colour) in &shapes {
                @if *w > 0.0 {
                    rect x=(fmt(*x)) y="2" width=(fmt(*w)) height="20" fill=(colour) {
                        title { (name) " " (v) }
                    }
                }
            }
            @for (i, (_, _, name, v, colour)) in shapes.iter().enumerate() {
                @let lx = if i % 2 == 0 { 0.0 } else { W / 2.0 };
                @let ly = 40.0 + 20.0 * (i / 2) as f64;
                rect x=(fmt(lx)) y=(fmt(ly - 10.0)) width="10" height="10" fill=(colour) {}
                text x=(fmt(lx + 14.0)) y=(fmt(ly)) { (name) " " (v) @if total > 0 { " (" (percent(*v as f64 / total as f64)) ")" } }
            }
        }
    }
}

/// A share as a percentage with one decimal (`75.0%`).
pub fn percent(r: f64) -> String {
    format!("{:.1}%", r * 100.0)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_whole_numbers() {
        assert_eq!(ticks(1.0), vec![0.0, 1.0]);
        assert_eq!(ticks(2.0), vec![0.0, 1.0, 2.0]);
        assert_eq!(ticks(10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(20.0), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(ticks(50.0), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        for top in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 5000.0] {
            assert!(ticks(top).iter().all(|t| t.fract() == 0.0), "{top}");
        }
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_top(0.0), 1.0);
        assert_eq!(nice_top(7.0), 10.0);
        assert_eq!(nice_top(13.0), 20.0);
        assert_eq!(nice_top(40.0), 50.0);
        assert_eq!(nice_top(100.0), 100.0);
        assert_eq!(nice_top(1234.0), 2000.0);
    }

    #[test]
    fn charts_are_svg_with_their_title_and_numbers() {
        let svg = stacked_bars(
            "每周记录",
            &["3月".into(), String::new()],
            &[("巡查", BLUE, vec![3, 1]), ("随手拍", ORANGE, vec![1, 0])],
        )
        .into_string();
        assert!(svg.starts_with("<svg") && svg.contains("<title>每周记录</title>"));
        assert!(svg.contains("3月 巡查 3"));
        let svg = bars("问题", &[("水体颜色发黑的排口".into(), 2.0, RED)], "次").into_string();
        assert!(svg.contains("水体颜色发黑的排口 2次"));
        let svg = band("覆盖", &[("7 天内", 3, GREEN), ("从未", 1, PURPLE)]).into_string();
        assert!(svg.contains("75.0%"));
    }
}
