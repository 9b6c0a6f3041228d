//! Inspection records and their photos as the API shows them, and the
//! checks a reviewer needs (position against the site).

use super::merge::Fields;
use super::{PhotoRow, ReviewStatus, Row};
use crate::clock;
use crate::db::Conn;
use crate::db::schema::{inspections, photos, route_stops, routes, sites, template_versions as tv};
use crate::error::AppResult;
use crate::photos::urls::Signer;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Checks {
    /// Metres from the record's `location` to its site; null without one.
    pub distance_to_site_m: Option<f64>,
    pub within_site_radius: Option<bool>,
    pub photos_off_site: i64,
    pub photos_outside_time_window: i64,
    /// The record names a stop its route no longer has at this site (the
    /// stop was removed or moved after the phone pulled the route).
    pub stop_removed: bool,
    /// The record's route is cancelled or deleted.
    pub route_cancelled: bool,
    /// The record was made against a checklist version older than the one
    /// that was current when it reached the server.
    pub template_outdated: bool,
    /// Required answers, photos (`<path>#photo`) and notes (`<path>#note`)
    /// the record lacks, by answer path (DESIGN "Checklist logic").
    pub missing_required: Vec<String>,
    /// Answered items whose `fail_when` holds.
    pub failed: Vec<String>,
    pub score: super::checklist::Score,
    /// Answers kept although their item is hidden by its conditions.
    pub irrelevant: Vec<String>,
    /// A quick report's closest site of the reporter's group within
    /// 2 km of its position; null beyond, without a position, or for an
    /// inspection (which has its site).
    pub nearest_site: Option<NearestSite>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NearestSite {
    pub site_id: String,
    pub distance_m: f64,
}

/// How far a quick report looks for its nearest site.
pub const NEAREST_SITE_M: f64 = 2000.0;

/// The closest of `sites` (id, lat, lon) to `pos` within
/// [`NEAREST_SITE_M`].
pub fn nearest_site(pos: (f64, f64), sites: &[(String, f64, f64)]) -> Option<NearestSite> {
    sites
        .iter()
        .map(|(id, lat, lon)| (id, distance_m(pos.0, pos.1, *lat, *lon)))
        .filter(|(_, d)| *d <= NEAREST_SITE_M)
        .min_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(b.0)))
        .map(|(id, d)| NearestSite {
            site_id: id.clone(),
            distance_m: (d * 10.0).round() / 10.0,
        })
}

/// Sites by group: (id, lat, lon).
type SitesByGroup = HashMap<String, Vec<(String, f64, f64)>>;

/// The live sites of the groups of `rows`' quick reports, by group.
fn report_sites(c: &mut Conn, rows: &[Row]) -> AppResult<SitesByGroup> {
    let mut groups: Vec<&String> = rows
        .iter()
        .filter(|r| r.kind == super::RecordKind::Report.as_str())
        .map(|r| &r.group_id)
        .collect();
    if groups.is_empty() {
        return Ok(HashMap::new());
    }
    groups.sort_unstable();
    groups.dedup();
    let mut out: SitesByGroup = HashMap::new();
    for (id, g, lat, lon) in sites::table
        .filter(sites::group_id.eq_any(groups))
        .filter(sites::deleted.eq(false))
        .select((sites::id, sites::group_id, sites::lat, sites::lon))
        .load::<(String, String, f64, f64)>(c)?
    {
        out.entry(g).or_default().push((id, lat, lon));
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PhotoChecks {
    pub distance_to_site_m: Option<f64>,
    pub within_site_radius: Option<bool>,
    pub within_time_window: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Photo {
    pub id: String,
    pub inspection_id: String,
    pub sha256: String,
    pub bytes: i64,
    pub content_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub caption: String,
    pub taken_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<Object>)]
    pub location: Option<Value>,
    pub deleted: bool,
    pub status: super::PhotoStatus,
    #[schema(value_type = Option<Object>)]
    pub exif: Option<Value>,
    pub checks: PhotoChecks,
    /// Signed variant URLs, once the photo's bytes are stored.
    #[schema(value_type = Option<Object>)]
    pub urls: Option<Value>,
    /// The version of the photo's metadata: a phone's `base_version` when
    /// it edits the caption, time or position.
    pub version: i64,
    /// The checklist item it proves (its answer path), if any.
    pub item_key: Option<String>,
    pub kind: crate::photos::PhotoKind,
    /// The department's response it is evidence of, if any (such a photo
    /// is shown with the response, not among the record's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// A video's length (null until its container is read; absent for
    /// photos).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// A video's track: `{codec, width, height, rotation}`, `width` and
    /// `height` upright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoTrack>,
    /// Why a video's variants are not there yet (`"ffmpeg not installed"`,
    /// or the last try's failure); absent once they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants_pending: Option<String>,
    /// When retention dropped the original (`display` stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_dropped_at: Option<DateTime<Utc>>,
}

/// A video's track as its container describes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct VideoTrack {
    /// `h264`, `hevc`, `vp8`, `vp9`, `av1`, `mpeg4`, `h263`, or the
    /// sample entry's own four letters.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Clockwise degrees: 0, 90, 180 or 270.
    pub rotation: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Inspection {
    pub id: String,
    pub version: i64,
    pub group_id: String,
    pub inspector_id: String,
    /// `inspection` (at a site, with a checklist) or `report` (seen on the
    /// way: no site, route or checklist).
    pub kind: super::RecordKind,
    /// Null for a quick report.
    pub site_id: Option<String>,
    pub route_id: Option<String>,
    pub stop_id: Option<String>,
    /// Null for a quick report.
    pub template_id: Option<String>,
    pub template_version: Option<i32>,
    pub deleted: bool,
    #[schema(value_type = Object)]
    pub fields: Fields,
    pub photos: Vec<Photo>,
    pub review_status: ReviewStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub checks: Checks,
}

/// Great-circle distance in metres (haversine on a sphere of the mean
/// Earth radius: well within a GPS fix's error at site scale).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

/// `(lat, lon)` of a location value, if it has one.
pub fn position(v: Option<&Value>) -> Option<(f64, f64)> {
    let v = v?;
    Some((v.get("lat")?.as_f64()?, v.get("lon")?.as_f64()?))
}

type SiteGeo = (f64, f64, f64);

fn site_checks(pos: Option<(f64, f64)>, site: Option<&SiteGeo>) -> (Option<f64>, Option<bool>) {
    match (pos, site) {
        (Some((lat, lon)), Some((slat, slon, radius))) => {
            let d = distance_m(lat, lon, *slat, *slon);
            (Some((d * 10.0).round() / 10.0), Some(d <= *radius))
        }
        _ => (None, None),
    }
}

/// A time field of a record (`started_at`, `finished_at`), if it is one.
pub fn time_field(fields: &Fields, path: &str) -> Option<DateTime<Utc>> {
    fields
        .get(path)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// When a record's photos should have been taken: from its `started_at`
/// to its `finished_at` with half an hour either side, or six hours either
/// side of one of them or of its location's `captured_at`.
pub fn time_window(fields: &Fields) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = (
        time_field(fields, "started_at"),
        time_field(fields, "finished_at"),
    );
    let six = chrono::Duration::hours(6);
    let half_hour = chrono::Duration::minutes(30);
    match (start, end) {
        (Some(a), Some(b)) => Some((a.min(b) - half_hour, a.max(b) + half_hour)),
        (Some(a), None) | (None, Some(a)) => Some((a - six, a + six)),
        (None, None) => {
            let t = fields
                .get("location")
                .and_then(|l| l.get("captured_at"))
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))?;
            Some((t - six, t + six))
        }
    }
}

type Window = Option<(DateTime<Utc>, DateTime<Utc>)>;

/// A photo as the API shows it. `record_deleted`: its inspection is
/// deleted, and a photo lives and dies with its record.
fn photo_view(
    mut p: PhotoRow,
    record_deleted: bool,
    site: Option<&SiteGeo>,
    window: Window,
    signer: &Signer,
) -> AppResult<Photo> {
    p.deleted |= record_deleted;
    let status = super::PhotoStatus::parse(&p.status)?;
    let kind = crate::photos::PhotoKind::parse(&p.kind)?;
    let location: Option<Value> = p
        .location
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let exif: Option<Value> = p.exif.as_deref().and_then(|s| serde_json::from_str(s).ok());
    // The photo's own position: where its EXIF says, else where the phone
    // said it was taken.
    let pos = position(exif.as_ref()).or_else(|| position(location.as_ref()));
    let (distance_to_site_m, within_site_radius) = site_checks(pos, site);
    let exif_time = exif
        .as_ref()
        .and_then(|e| e.get("taken_at"))
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let within_time_window = match (exif_time, window) {
        (Some(t), Some((a, b))) => Some(a <= t && t <= b),
        _ => None,
    };
    let urls = (status != super::PhotoStatus::Missing && !p.deleted).then(|| {
        signer.urls(
            &p.id,
            kind == crate::photos::PhotoKind::Video,
            Utc::now().timestamp(),
        )
    });
    Ok(Photo {
        id: p.id,
        inspection_id: p.inspection_id,
        sha256: p.sha256,
        bytes: p.bytes,
        content_type: p.content_type,
        width: p.width,
        height: p.height,
        caption: p.caption,
        taken_at: p.taken_at.map(clock::utc),
        location,
        deleted: p.deleted,
        status,
        exif,
        checks: PhotoChecks {
            distance_to_site_m,
            within_site_radius,
            within_time_window,
        },
        urls,
        version: p.version,
        item_key: p.item_key,
        kind,
        response_id: p.response_id,
        duration_ms: p.duration_ms,
        video: p
            .video
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        variants_pending: p.variants_pending,
        original_dropped_at: p.original_dropped_at.map(clock::utc),
    })
}

fn sites_geo(c: &mut Conn, ids: Vec<&String>) -> AppResult<HashMap<String, SiteGeo>> {
    Ok(sites::table
        .filter(sites::id.eq_any(ids))
        .select((sites::id, sites::lat, sites::lon, sites::radius_m))
        .load::<(String, f64, f64, f64)>(c)?
        .into_iter()
        .map(|(id, lat, lon, r)| (id, (lat, lon, r)))
        .collect())
}

/// What an admin's edits since a record was made did to the plan it was
/// made under: read for a page of records in three queries.
struct PlanChecks {
    /// Live stops: id -> (route id, site id).
    stops: HashMap<String, (String, String)>,
    /// Routes that are cancelled or deleted.
    cancelled: std::collections::HashSet<String>,
    /// Checklist versions: template id -> [(version, created_at)].
    versions: HashMap<String, Vec<(i32, chrono::NaiveDateTime)>>,
    /// The items of each version the records were filled against.
    items: HashMap<(String, i32), Vec<crate::reference::templates::Item>>,
}

impl PlanChecks {
    fn read(c: &mut Conn, rows: &[Row]) -> AppResult<PlanChecks> {
        let stop_ids: Vec<&String> = rows.iter().filter_map(|r| r.stop_id.as_ref()).collect();
        let route_ids: Vec<&String> = rows.iter().filter_map(|r| r.route_id.as_ref()).collect();
        let mut template_ids: Vec<&String> =
            rows.iter().filter_map(|r| r.template_id.as_ref()).collect();
        template_ids.sort();
        template_ids.dedup();
        let stops = route_stops::table
            .filter(route_stops::id.eq_any(stop_ids))
            .select((route_stops::id, route_stops::route_id, route_stops::site_id))
            .load::<(String, String, String)>(c)?
            .into_iter()
            .map(|(id, route, site)| (id, (route, site)))
            .collect();
        let cancelled =
            routes::table
                .filter(routes::id.eq_any(route_ids))
                .filter(routes::deleted.eq(true).or(
                    routes::status.eq(crate::reference::routes::RouteStatus::Cancelled.as_str()),
                ))
                .select(routes::id)
                .load::<String>(c)?
                .into_iter()
                .collect();
        let mut versions: HashMap<String, Vec<(i32, chrono::NaiveDateTime)>> = HashMap::new();
        for (t, v, at) in tv::table
            .filter(tv::template_id.eq_any(&template_ids))
            .select((tv::template_id, tv::version, tv::created_at))
            .load::<(String, i32, chrono::NaiveDateTime)>(c)?
        {
            versions.entry(t).or_default().push((v, at));
        }
        let used: std::collections::HashSet<(&str, i32)> =
            rows.iter().filter_map(Row::checklist).collect();
        let mut wanted: Vec<i32> = used.iter().map(|(_, v)| *v).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut items = HashMap::new();
        for (t, v, text) in tv::table
            .filter(tv::template_id.eq_any(&template_ids))
            .filter(tv::version.eq_any(wanted))
            .select((tv::template_id, tv::version, tv::items))
            .load::<(String, i32, String)>(c)?
        {
            if used.contains(&(t.as_str(), v)) {
                items.insert((t, v), serde_json::from_str(&text)?);
            }
        }
        Ok(PlanChecks {
            stops,
            cancelled,
            versions,
            items,
        })
    }

    /// `(stop_removed, route_cancelled, template_outdated)` of one record.
    fn of(&self, r: &Row) -> (bool, bool, bool) {
        let stop_removed = r.stop_id.as_ref().is_some_and(|s| {
            self.stops.get(s).is_none_or(|(route, site)| {
                Some(route) != r.route_id.as_ref() || Some(site) != r.site_id.as_ref()
            })
        });
        let route_cancelled = r
            .route_id
            .as_ref()
            .is_some_and(|route| self.cancelled.contains(route));
        let template_outdated = r.checklist().is_some_and(|(t, version)| {
            self.versions
                .get(t)
                .is_some_and(|vs| vs.iter().any(|(v, at)| *v > version && *at <= r.created_at))
        });
        (stop_removed, route_cancelled, template_outdated)
    }
}

/// The API view of each of `rows`, with photos and checks, in a few queries.
pub fn views(c: &mut Conn, rows: Vec<Row>, signer: &Signer) -> AppResult<Vec<Inspection>> {
    let plan = PlanChecks::read(c, &rows)?;
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    // A record's own photos; its follow-ups' evidence is theirs.
    let photo_rows: Vec<PhotoRow> = photos::table
        .filter(photos::inspection_id.eq_any(&ids))
        .filter(photos::response_id.is_null())
        .order(photos::id)
        .select(PhotoRow::as_select())
        .load(c)?;
    let geo = sites_geo(c, rows.iter().filter_map(|r| r.site_id.as_ref()).collect())?;
    let near = report_sites(c, &rows)?;
    // Each record's fields, parsed once.
    let parsed: Vec<Fields> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.fields))
        .collect::<Result<_, _>>()?;
    let of: HashMap<&str, (&str, bool, Window)> = rows
        .iter()
        .zip(&parsed)
        .map(|(r, f)| {
            (
                r.id.as_str(),
                (
                    r.site_id.as_deref().unwrap_or_default(),
                    r.deleted,
                    time_window(f),
                ),
            )
        })
        .collect();
    let mut by_inspection: HashMap<String, Vec<Photo>> = HashMap::new();
    for p in photo_rows {
        let (site, record_deleted, window) = of
            .get(p.inspection_id.as_str())
            .copied()
            .unwrap_or(("", true, None));
        by_inspection
            .entry(p.inspection_id.clone())
            .or_default()
            .push(photo_view(
                p,
                record_deleted,
                geo.get(site),
                window,
                signer,
            )?);
    }
    drop(of);
    let compiled: HashMap<(&str, i32), super::checklist::Compiled<'_>> = plan
        .items
        .iter()
        .map(|((t, v), items)| ((t.as_str(), *v), super::checklist::Compiled::new(items)))
        .collect();
    rows.into_iter()
        .zip(parsed)
        .map(|(r, fields)| {
            let photos = by_inspection.remove(&r.id).unwrap_or_default();
            let (distance_to_site_m, within_site_radius) = site_checks(
                position(fields.get("location")),
                r.site_id.as_ref().and_then(|s| geo.get(s)),
            );
            let live = photos.iter().filter(|p| !p.deleted);
            let photos_off_site = live
                .clone()
                .filter(|p| p.checks.within_site_radius == Some(false))
                .count() as i64;
            let photos_outside_time_window = live
                .filter(|p| p.checks.within_time_window == Some(false))
                .count() as i64;
            let (stop_removed, route_cancelled, template_outdated) = plan.of(&r);
            let linked: std::collections::HashSet<String> = photos
                .iter()
                .filter(|p| !p.deleted)
                .filter_map(|p| p.item_key.clone())
                .collect();
            let list = compiled
                .get(&r.checklist().unwrap_or_default())
                .map(|c| c.checks(&fields, &linked))
                .unwrap_or_default();
            let kind = r.kind()?;
            let nearest = match (kind, position(fields.get("location"))) {
                (super::RecordKind::Report, Some(pos)) => near
                    .get(&r.group_id)
                    .and_then(|sites| nearest_site(pos, sites)),
                _ => None,
            };
            Ok(Inspection {
                review_status: r.review_status()?,
                kind,
                id: r.id,
                version: r.version,
                group_id: r.group_id,
                inspector_id: r.inspector_id,
                site_id: r.site_id,
                route_id: r.route_id,
                stop_id: r.stop_id,
                template_id: r.template_id,
                template_version: r.template_version,
                deleted: r.deleted,
                fields,
                photos,
                created_at: clock::utc(r.created_at),
                updated_at: clock::utc(r.updated_at),
                checks: Checks {
                    distance_to_site_m,
                    within_site_radius,
                    photos_off_site,
                    photos_outside_time_window,
                    stop_removed,
                    route_cancelled,
                    missing_required: list.missing_required,
                    failed: list.failed,
                    score: list.score,
                    irrelevant: list.irrelevant,
                    template_outdated,
                    nearest_site: nearest,
                },
            })
        })
        .collect()
}

/// Photo views by id (for pull), each with its inspection's site checks.
pub fn photo_views(c: &mut Conn, ids: &[String], signer: &Signer) -> AppResult<Vec<Photo>> {
    let mut rows: Vec<(PhotoRow, Option<String>, String, bool)> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(
            photos::table
                .inner_join(inspections::table)
                .filter(photos::id.eq_any(chunk))
                .select((
                    PhotoRow::as_select(),
                    inspections::site_id,
                    inspections::fields,
                    inspections::deleted,
                ))
                .load::<(PhotoRow, Option<String>, String, bool)>(c)?,
        );
    }
    let geo = sites_geo(
        c,
        rows.iter().filter_map(|(_, s, _, _)| s.as_ref()).collect(),
    )?;
    rows.into_iter()
        .map(|(p, site, fields, record_deleted)| {
            let fields: Fields = serde_json::from_str(&fields)?;
            photo_view(
                p,
                record_deleted,
                site.as_ref().and_then(|s| geo.get(s)),
                time_window(&fields),
                signer,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_site_is_the_closest_within_two_kilometres() {
        let sites = vec![
            ("far".to_string(), 29.88, 107.08),
            ("near".to_string(), 29.858, 107.081),
            ("nearer".to_string(), 29.8572, 107.0812),
        ];
        let n = nearest_site((29.8571, 107.0812), &sites).unwrap();
        assert_eq!(n.site_id, "nearer");
        assert!(n.distance_m < 20.0);
        assert_eq!(nearest_site((30.5, 107.0), &sites), None, "beyond 2 km");
        assert_eq!(nearest_site((29.8571, 107.0812), &[]), None);
    }

    #[test]
    fn distance_is_sane() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m(29.0, 107.0, 30.0, 107.0);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert!(distance_m(29.857, 107.081, 29.857, 107.081) < 1e-6);
    }
}
