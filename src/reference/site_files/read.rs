//! Reading a sites file: its text (UTF-8 with or without BOM, or GBK),
//! its columns by their Chinese or English names, its rows from CSV or
//! GeoJSON, each kept as given until it is checked.

use super::*;

/// The columns a file may have, and the names they go by (compared
/// without case, spaces or brackets' contents style differences).
const COLUMNS: [(Col, &[&str]); 9] = [
    (Col::Id, &["id", "点位id", "系统编号"]),
    (
        Col::Code,
        &["code", "site_code", "编码", "点位编码", "编号", "点位编号"],
    ),
    (Col::Name, &["name", "名称", "点位名称", "点位"]),
    (Col::Kind, &["kind", "type", "类型", "类别", "点位类型"]),
    (Col::Address, &["address", "地址", "位置", "详细地址"]),
    (Col::Lat, &["lat", "latitude", "纬度"]),
    (Col::Lon, &["lon", "lng", "long", "longitude", "经度"]),
    (
        Col::Radius,
        &[
            "radius_m",
            "radius",
            "半径",
            "半径米",
            "半径(米)",
            "半径（米）",
            "半径m",
        ],
    ),
    (
        Col::Group,
        &[
            "group",
            "group_id",
            "group_name",
            "联络组",
            "所属联络组",
            "组",
            "片区",
        ],
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Col {
    Id,
    Code,
    Name,
    Kind,
    Address,
    Lat,
    Lon,
    Radius,
    Group,
}

fn column(header: &str) -> Option<Col> {
    let h: String = header
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    COLUMNS
        .iter()
        .find(|(_, names)| names.contains(&h.as_str()))
        .map(|(c, _)| *c)
}

/// Turns a file's bytes into text: UTF-8 (a BOM is dropped), else GBK
/// (read as GB18030, its superset).
pub fn decode(bytes: &[u8]) -> AppResult<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_string());
    }
    let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(AppError::invalid(
            "file",
            "is neither UTF-8 nor GBK text; save the sheet as CSV (UTF-8) and try again",
        ));
    }
    Ok(text.into_owned())
}

/// A file's rows, as read: GeoJSON when it starts with `{`, else CSV.
pub(super) fn read_file(bytes: &[u8]) -> AppResult<Vec<Raw>> {
    let text = decode(bytes)?;
    let raws = if text.trim_start().starts_with('{') {
        read_geojson(&text)?
    } else {
        read_csv(&text)?
    };
    if raws.is_empty() {
        return Err(AppError::invalid("file", "has no rows"));
    }
    Ok(raws)
}

/// How many rows a file has, or why it cannot be read (for the fuzzer:
/// any bytes at all must give one or the other).
pub fn count_rows(bytes: &[u8]) -> AppResult<usize> {
    read_file(bytes).map(|r| r.len())
}

/// One row of a file, as read (before it is checked).
#[derive(Debug, Clone, Default)]
pub(super) struct Raw {
    pub(super) line: usize,
    pub(super) cells: HashMap<Col, String>,
    /// GeoJSON gives numbers as numbers.
    pub(super) lat: Option<f64>,
    pub(super) lon: Option<f64>,
}

fn read_csv(text: &str) -> AppResult<Vec<Raw>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| AppError::invalid("file", format!("cannot read the header row: {e}")))?
        .clone();
    let cols: Vec<Option<Col>> = headers.iter().map(column).collect();
    for need in [Col::Name, Col::Lat, Col::Lon] {
        if !cols.contains(&Some(need)) {
            return Err(AppError::invalid(
                "file",
                format!(
                    "the header row needs a {} column (名称, 纬度, 经度 or name, lat, lon)",
                    match need {
                        Col::Name => "name",
                        Col::Lat => "latitude",
                        _ => "longitude",
                    }
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for rec in r.records() {
        let rec =
            rec.map_err(|e| AppError::invalid("file", format!("cannot read the CSV: {e}")))?;
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let mut raw = Raw {
            line,
            ..Raw::default()
        };
        // Every column of the header is in every row (a short row's
        // missing cells are empty): a column the sheet lacks is absent.
        for (i, c) in cols.iter().enumerate() {
            if let Some(c) = c {
                let v = rec.get(i).unwrap_or_default();
                raw.cells.insert(*c, crate::sheet::uncell(v).to_string());
            }
        }
        out.push(raw);
        if out.len() > MAX_ROWS {
            return Err(AppError::invalid(
                "file",
                format!("at most {MAX_ROWS} rows"),
            ));
        }
    }
    Ok(out)
}

fn read_geojson(text: &str) -> AppResult<Vec<Raw>> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| AppError::invalid("file", format!("not valid GeoJSON: {e}")))?;
    let features = doc
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(|| AppError::invalid("file", "a GeoJSON FeatureCollection is expected"))?;
    if features.len() > MAX_ROWS {
        return Err(AppError::invalid(
            "file",
            format!("at most {MAX_ROWS} features"),
        ));
    }
    Ok(features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut raw = Raw {
                line: i + 1,
                ..Raw::default()
            };
            if let Some(props) = f.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    let Some(c) = column(k) else { continue };
                    let text = match v {
                        Value::String(s) => crate::sheet::uncell(s.trim()).to_string(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    raw.cells.insert(c, text);
                }
            }
            let point = f
                .get("geometry")
                .filter(|g| g.get("type").and_then(Value::as_str) == Some("Point"))
                .and_then(|g| g.get("coordinates"))
                .and_then(Value::as_array);
            if let Some(p) = point {
                raw.lon = p.first().and_then(Value::as_f64);
                raw.lat = p.get(1).and_then(Value::as_f64);
            }
            raw
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_either_language() {
        assert_eq!(column("名称"), Some(Col::Name));
        assert_eq!(column(" Latitude "), Some(Col::Lat));
        assert_eq!(column("\u{feff}编码"), Some(Col::Code));
        assert_eq!(column("半径（米）"), Some(Col::Radius));
        assert_eq!(column("所属联络组"), Some(Col::Group));
        assert_eq!(column("备注"), None);
    }

    #[test]
    fn gbk_and_bom_are_read() {
        let (gbk, _, _) = encoding_rs::GBK.encode("名称,纬度,经度\n桃花河排污口,29.8,107.0\n");
        assert_eq!(
            decode(&gbk).unwrap(),
            "名称,纬度,经度\n桃花河排污口,29.8,107.0\n"
        );
        assert_eq!(decode("\u{feff}名称".as_bytes()).unwrap(), "名称");
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn a_csv_without_coordinates_is_refused_whole() {
        assert!(read_csv("名称,地址\n甲,乙\n").is_err());
        let rows = read_csv("名称,纬度,经度,备注\n甲,29.8,107.0,x\n乙,1,2,\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (2, 3));
        assert_eq!(rows[0].cells[&Col::Name], "甲");
        // Rows with every cell empty (a blank line, or `,,,`) are skipped.
        let rows = read_csv("名称,纬度,经度\n甲,29.8,107.0\n\n,,\n乙,1,2\n").unwrap();
        assert_eq!(rows.len(), 2);
    }
}
