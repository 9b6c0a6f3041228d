//! `?limit=&cursor=` lists answered as `{items, next_cursor}`. The cursor
//! is the last id of the page (ids are UUIDv7, so id order is creation
//! order), wrapped so clients treat it as opaque.

use crate::error::{AppError, AppResult};
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

fn decode(cursor: &str) -> AppResult<String> {
    let bad = || AppError::bad_request("invalid_cursor", "the cursor is not one this server made");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    s.strip_prefix("id:").map(str::to_string).ok_or_else(bad)
}

pub fn encode(last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{last_id}"))
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
