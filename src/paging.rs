//! `?limit=&cursor=` lists answered as `{items, next_cursor}`. The cursor
//! is the last id of the page (ids are UUIDv7, so id order is creation
//! order), wrapped so clients treat it as opaque.

use crate::error::{AppError, AppResult, ErrorCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (default 50, max 500).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> AppResult<PageRequest> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode(c)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// The one cursor codec: a kind's prefix and its parts joined by `.`, in
/// base64url. Opaque to clients, and checked when it comes back: a cursor
/// of another kind, or not one this server made, is 400 `invalid_cursor`.
/// (Lists: `id:<last id>`; pull: `p1.<seq>.<epoch>.<user>`; the review
/// queue: `q1.<micros>.<id>`. A format a phone may hold across an upgrade
/// never changes under the same prefix.)
pub fn seal(prefix: &str, parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(format!("{prefix}{}", parts.join(".")))
}

/// The `n` parts of a cursor sealed with `prefix` (the last part keeps any
/// `.` it holds).
pub fn open(cursor: &str, prefix: &str, n: usize) -> AppResult<Vec<String>> {
    let bad = || {
        AppError::bad_request(
            ErrorCode::InvalidCursor,
            "the cursor is not one this server made",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let rest = s.strip_prefix(prefix).ok_or_else(bad)?;
    let parts: Vec<String> = rest.splitn(n, '.').map(str::to_string).collect();
    if parts.len() == n && parts.iter().all(|p| !p.is_empty()) {
        Ok(parts)
    } else {
        Err(bad())
    }
}

fn decode(cursor: &str) -> AppResult<String> {
    Ok(open(cursor, "id:", 1)?.remove(0))
}

pub fn encode(last_id: &str) -> String {
    seal("id:", &[last_id])
}

/// Every item of a paged list, page by page, at most `cap` of them: for
/// screens that show a bounded whole (a district's groups, users,
/// checklists, a window of routes).
pub fn collect<T>(
    cap: usize,
    mut page: impl FnMut(&PageRequest) -> AppResult<Page<T>>,
    id: impl Fn(&T) -> &str,
) -> AppResult<Vec<T>> {
    let mut out = Vec::new();
    let mut req = PageRequest {
        limit: MAX_LIMIT,
        after: None,
    };
    loop {
        let p = page(&req)?;
        req.after = p.items.last().map(|x| id(x).to_string());
        out.extend(p.items);
        if p.next_cursor.is_none() || out.len() >= cap {
            out.truncate(cap);
            return Ok(out);
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra one only says that
    /// there is more.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, id: impl Fn(&T) -> &str) -> Page<T> {
        let more = rows.len() as i64 > req.limit;
        rows.truncate(req.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode(id(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// What is sealed opens to the same parts, under its own prefix
        /// only (the last part may hold dots).
        #[test]
        fn a_cursor_opens_to_what_was_sealed(
            a in "[0-9a-f-]{1,12}",
            b in "[0-9a-z.]{1,12}",
        ) {
            let c = seal("q1.", &[&a, &b]);
            proptest::prop_assert_eq!(open(&c, "q1.", 2).ok(), Some(vec![a.clone(), b.clone()]));
            proptest::prop_assert!(open(&c, "p1.", 2).is_err());
        }
    }

    #[test]
    fn a_list_cursor_keeps_its_format() {
        // Cursors phones and pages hold stay readable across an upgrade.
        assert_eq!(encode("abc"), URL_SAFE_NO_PAD.encode("id:abc"));
        assert_eq!(
            decode(&URL_SAFE_NO_PAD.encode("id:abc")).ok().as_deref(),
            Some("abc")
        );
        assert!(decode("not base64!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("id:")).is_err());
    }
}
