//! Maps without internet: sites drawn as SVG on a Web Mercator plane with
//! a scale bar, and on real tiles when `FIELDSYNC_MAP_TILES` names a tile
//! server. The view is a plain value (centre and scale), so a click on the
//! map image of a form (`<input type=image>`, no script) turns back into a
//! position on the server.

use maud::{Markup, html};

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 400.0;
/// The closest a map comes: zoom level 22.
const MAX_SCALE: f64 = TILE * 4_194_304.0;
/// Tile size of the usual slippy-map servers.
const TILE: f64 = 256.0;
/// The equator's length in metres (Web Mercator's sphere).
const EARTH_M: f64 = 40_075_016.686;

/// Lon/lat to the unit square of Web Mercator (x east, y south).
pub fn project(lat: f64, lon: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.0511, 85.0511).to_radians();
    let x = (lon + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    (x, y)
}

pub fn unproject(x: f64, y: f64) -> (f64, f64) {
    let lon = x * 360.0 - 180.0;
    let n = std::f64::consts::PI * (1.0 - 2.0 * y);
    let lat = n.sinh().atan().to_degrees();
    (lat, lon)
}

/// What part of the world a map shows: its centre in the unit square and
/// pixels per unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    pub cx: f64,
    pub cy: f64,
    pub scale: f64,
}

impl View {
    /// The view that shows all these positions with a margin; on tiles,
    /// the scale is a whole zoom level so tiles are drawn at their size.
    pub fn fit(points: impl Iterator<Item = (f64, f64)>, tiles: bool) -> View {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (lat, lon) in points {
            let (x, y) = project(lat, lon);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        if x0 > x1 {
            // Nothing to show: the district's part of China.
            (x0, y0) = project(30.2, 106.8);
            (x1, y1) = project(29.6, 107.4);
        }
        // At least ~1 km across, so one site is not drawn at street level.
        let min_span = 1.0 / 40_000.0;
        let (w, h) = ((x1 - x0).max(min_span), (y1 - y0).max(min_span));
        let mut scale = (WIDTH * 0.85 / w).min(HEIGHT * 0.85 / h);
        if tiles {
            let z = (scale / TILE).log2().floor().clamp(0.0, 19.0);
            scale = TILE * 2f64.powf(z);
        }
        View {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            scale,
        }
    }

    pub fn to_px(&self, lat: f64, lon: f64) -> (f64, f64) {
        let (x, y) = project(lat, lon);
        (
            (x - self.cx) * self.scale + WIDTH / 2.0,
            (y - self.cy) * self.scale + HEIGHT / 2.0,
        )
    }

    /// The position under a pixel of the map.
    pub fn to_latlon(&self, px: f64, py: f64) -> (f64, f64) {
        unproject(
            self.cx + (px - WIDTH / 2.0) / self.scale,
            self.cy + (py - HEIGHT / 2.0) / self.scale,
        )
    }

    /// Metres per pixel at the centre.
    fn metres_per_px(&self) -> f64 {
        let (lat, _) = unproject(self.cx, self.cy);
        EARTH_M * lat.to_radians().cos() / self.scale
    }

    /// For a URL or hidden fields: `cx,cy,scale`.
    pub fn encode(&self) -> String {
        format!("{:.9},{:.9},{:.3}", self.cx, self.cy, self.scale)
    }

    pub fn decode(s: &str) -> Option<View> {
        let mut it = s.split(',').map(|p| p.trim().parse::<f64>().ok());
        let v = View {
            cx: it.next()??,
            cy: it.next()??,
            scale: it.next()??,
        };
        // A view comes back from a form: only what a map can show (near
        // the unit square, the whole world down to a street) is taken.
        ((-1.0..=2.0).contains(&v.cx)
            && (-1.0..=2.0).contains(&v.cy)
            && (1.0..=MAX_SCALE).contains(&v.scale))
        .then_some(v)
    }
}

/// A scale bar of a round length (1, 2 or 5 times a power of ten) about
/// 100 pixels long: its length in pixels and its label.
fn scale_bar(v: &View) -> (f64, String) {
    let m = v.metres_per_px() * 100.0;
    let p = 10f64.powf(m.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|k| k * p)
        .rfind(|l| *l <= m)
        .unwrap_or(p);
    let label = if nice >= 1000.0 {
        format!("{} 公里", nice / 1000.0)
    } else {
        format!("{nice} 米")
    };
    (nice / v.metres_per_px(), label)
}

/// Tiles covering the view: (x, y, z, left, top) in pixels.
fn tiles(v: &View) -> Vec<(i64, i64, u32, f64, f64)> {
    let z = (v.scale / TILE).log2().round().clamp(0.0, 22.0) as u32;
    let n = 2f64.powi(z as i32);
    let size = v.scale / n;
    let left = v.cx * n - WIDTH / 2.0 / size;
    let top = v.cy * n - HEIGHT / 2.0 / size;
    // At most a few tiles across, whatever view a form sent back.
    let cols = ((WIDTH / size).ceil() as i64 + 1).clamp(1, 8);
    let rows = ((HEIGHT / size).ceil() as i64 + 1).clamp(1, 8);
    let (x0, y0) = (left.floor() as i64, top.floor() as i64);
    let mut out = Vec::new();
    for ty in y0..y0 + rows {
        for tx in x0..x0 + cols {
            if ty < 0 || ty as f64 >= n {
                continue;
            }
            let wrapped = tx.rem_euclid(n as i64);
            out.push((
                wrapped,
                ty,
                z,
                (tx as f64 - left) * size,
                (ty as f64 - top) * size,
            ));
        }
    }
    out
}

/// The origin (`scheme://host[:port]`) of a tile URL template, for the
/// page's Content-Security-Policy.
pub fn tile_origin(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let host = rest.split('/').next()?;
    (matches!(scheme, "http" | "https")
        && !host.is_empty()
        && !host.contains(['{', '}', '"', ' ', ';']))
    .then(|| format!("{scheme}://{host}"))
}

/// Pin colours by class (attributes, so the SVG is right as an image too,
/// where no stylesheet reaches it).
fn colour(class: &str) -> &'static str {
    match class {
        "fresh" => "#2e7d32",
        "due" => "#e0a000",
        "stale" => "#c62828",
        "never" => "#6a1b9a",
        "chosen" => "#1565c0",
        _ => "#546e7a",
    }
}

/// One thing drawn on a map.
pub struct Pin<'a> {
    pub lat: f64,
    pub lon: f64,
    pub label: &'a str,
    /// A CSS class: the colour (`fresh`, `due`, `stale`, `never`, `chosen`,
    /// `site`).
    pub class: &'a str,
    pub href: Option<String>,
    /// Drawn with its label (for a few pins; many get a tooltip only).
    pub named: bool,
}

/// What a map is drawn on.
#[derive(Debug, Clone, Copy)]
pub enum Backdrop<'a> {
    /// A plain plane with a grid (no internet needed).
    Plane,
    /// Tiles from this URL template.
    Tiles(&'a str),
    /// Nothing: an overlay for a map drawn underneath.
    Clear,
}

impl<'a> Backdrop<'a> {
    pub fn of(tiles: Option<&'a str>) -> Backdrop<'a> {
        tiles.map_or(Backdrop::Plane, Backdrop::Tiles)
    }
}

/// The map as SVG markup (inline in a page, or as an image).
pub fn svg(v: &View, pins: &[Pin], backdrop: Backdrop) -> Markup {
    let (bar, bar_label) = scale_bar(v);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="map" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
            width=(WIDTH) height=(HEIGHT) role="img" aria-label="点位地图" {
            @if !matches!(backdrop, Backdrop::Clear) {
                rect class="plane" x="0" y="0" width=(WIDTH) height=(HEIGHT) fill="#eef2ea" {}
            }
            @match backdrop {
                Backdrop::Clear => {}
                Backdrop::Tiles(t) => {
                    @for (x, y, z, left, top) in tiles(v) {
                        @let size = v.scale / 2f64.powi(z as i32);
                        image href=(t.replace("{z}", &z.to_string()).replace("{x}", &x.to_string()).replace("{y}", &y.to_string()))
                            x=(format!("{left:.1}")) y=(format!("{top:.1}"))
                            width=(format!("{size:.1}")) height=(format!("{size:.1}")) {}
                    }
                }
                Backdrop::Plane => {
                    // A light grid, a cell per scale bar length.
                    @let step = bar.max(20.0);
                    @for i in 1..((WIDTH / step) as i32 + 1) {
                        line class="grid" stroke="#d5dccf" x1=(format!("{:.1}", f64::from(i) * step)) y1="0" x2=(format!("{:.1}", f64::from(i) * step)) y2=(HEIGHT) {}
                    }
                    @for i in 1..((HEIGHT / step) as i32 + 1) {
                        line class="grid" stroke="#d5dccf" x1="0" y1=(format!("{:.1}", f64::from(i) * step)) x2=(WIDTH) y2=(format!("{:.1}", f64::from(i) * step)) {}
                    }
                }
            }
            @for p in pins {
                @let (x, y) = v.to_px(p.lat, p.lon);
                @if (-10.0..WIDTH + 10.0).contains(&x) && (-10.0..HEIGHT + 10.0).contains(&y) {
                    @let dot = html! {
                        circle class={ "pin " (p.class) } fill=(colour(p.class)) stroke="#fff" stroke-width="1.5" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="6" { title { (p.label) } }
                        @if p.named {
                            text class="pin-label" font-size="12" fill="#1d2430" x=(format!("{:.1}", x + 8.0)) y=(format!("{:.1}", y + 4.0)) { (p.label) }
                        }
                    };
                    @match &p.href {
                        Some(h) => { a href=(h) { (dot) } }
                        None => { (dot) }
                    }
                }
            }
            @if !matches!(backdrop, Backdrop::Clear) { g class="scale" {
                rect class="bar-bg" fill="#fff" fill-opacity="0.8" x="8" y=(HEIGHT - 30.0) width=(bar + 70.0) height="22" {}
                line class="bar" stroke="#1d2430" stroke-width="3" x1="14" y1=(HEIGHT - 14.0) x2=(format!("{:.1}", 14.0 + bar)) y2=(HEIGHT - 14.0) {}
                text class="bar-label" font-size="12" x=(format!("{:.1}", 20.0 + bar)) y=(HEIGHT - 14.0) { (bar_label) }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pixel_turns_back_into_its_position() {
        let v = View::fit([(29.85, 107.08), (29.9, 107.12)].into_iter(), false);
        for (lat, lon) in [(29.85, 107.08), (29.9, 107.12), (29.87, 107.1)] {
            let (x, y) = v.to_px(lat, lon);
            assert!((0.0..=WIDTH).contains(&x) && (0.0..=HEIGHT).contains(&y));
            let (la, lo) = v.to_latlon(x, y);
            assert!((la - lat).abs() < 1e-9 && (lo - lon).abs() < 1e-9);
        }
        assert_eq!(
            View::decode(&v.encode()).map(|w| w.to_px(29.85, 107.08).0.round()),
            Some(v.to_px(29.85, 107.08).0.round())
        );
        assert!(
            View::decode("1,2").is_none()
                && View::decode("a,b,c").is_none()
                && View::decode("0,0,0").is_none()
        );
    }

    #[test]
    fn the_scale_bar_is_round_and_true() {
        let v = View::fit([(29.85, 107.08), (29.9, 107.12)].into_iter(), false);
        let (px, label) = scale_bar(&v);
        assert!((50.0..=100.0).contains(&px), "{px}");
        let metres = px * v.metres_per_px();
        let first = metres.to_string().chars().next().unwrap();
        assert!(matches!(first, '1' | '2' | '5'), "{metres} {label}");
    }

    #[test]
    fn tiles_cover_the_view_at_a_whole_zoom() {
        let v = View::fit([(29.85, 107.08), (29.9, 107.12)].into_iter(), true);
        let t = tiles(&v);
        assert!(!t.is_empty() && t.len() <= 20, "{}", t.len());
        let z = t[0].2;
        assert!((v.scale - TILE * 2f64.powi(z as i32)).abs() < 1e-6);
        assert!(t.iter().any(|(_, _, _, l, tp)| *l <= 0.0 && *tp <= 0.0));
        assert_eq!(
            tile_origin("https://t.example.org:8443/{z}/{x}/{y}.png").as_deref(),
            Some("https://t.example.org:8443")
        );
        assert_eq!(tile_origin("javascript:alert(1)"), None);
    }
}
