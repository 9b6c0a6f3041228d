//! The sheets people open in a spreadsheet program: every table the server
//! exports (inspections, their repeats' rows, coverage, the departments,
//! sites, the summary) is made once as typed rows ([`Page`]) and written as
//! CSV (UTF-8 with a BOM, the contract's column keys) or as XLSX
//! ([`xlsx`]: Chinese headers, real numbers and dates, a frozen header
//! row). One home for the formula rule too, both ways: what the exports
//! write and what the site import reads back.

pub mod xlsx;

use crate::error::{AppError, AppResult};
use chrono::{DateTime, NaiveDate, Utc};

/// A column: its key (the CSV header, which programs read) and its words
/// (the XLSX header, which people read).
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub key: String,
    pub zh: String,
}

impl Column {
    pub fn new(key: impl Into<String>, zh: impl Into<String>) -> Column {
        Column {
            key: key.into(),
            zh: zh.into(),
        }
    }

    /// Columns from `(key, words)` pairs.
    pub fn list(pairs: &[(&str, &str)]) -> Vec<Column> {
        pairs.iter().map(|(k, z)| Column::new(*k, *z)).collect()
    }
}

/// One cell, typed: a spreadsheet gets numbers it can sum and dates it can
/// sort; the CSV gets the same text it always had.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// Text people typed (names, notes, answers): in CSV a formula-looking
    /// text is kept as text ([`cell`]); XLSX stores it as a string.
    Text(String),
    /// The server's own words (ids, states, keys).
    Code(String),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// An instant, shown in the district's time.
    Time(DateTime<Utc>),
    /// A district day.
    Date(NaiveDate),
}

impl Cell {
    pub fn opt_int(v: Option<i64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Int)
    }

    pub fn opt_time(v: Option<DateTime<Utc>>) -> Cell {
        v.map_or(Cell::Empty, Cell::Time)
    }

    pub fn opt_bool(v: Option<bool>) -> Cell {
        v.map_or(Cell::Empty, Cell::Bool)
    }

    pub fn opt_num(v: Option<f64>) -> Cell {
        v.map_or(Cell::Empty, Cell::Num)
    }

    /// The cell as CSV text.
    pub fn csv(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => cell(s.clone()),
            Cell::Code(s) => s.clone(),
            Cell::Int(n) => n.to_string(),
            Cell::Num(n) => n.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Time(t) => crate::clock::for_reading(*t),
            Cell::Date(d) => d.to_string(),
        }
    }
}

/// One page of a table: its columns, its rows and where the next page
/// starts (None: this was the last).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub head: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub next: Option<String>,
}

/// A page as CSV bytes: on the first page the byte-order mark (spreadsheet
/// programs then read the Chinese right) and the header.
pub fn csv_bytes(page: &Page, first: bool) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    if first {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    {
        let mut w = csv::Writer::from_writer(&mut out);
        if first {
            w.write_record(page.head.iter().map(|c| c.key.as_str()))
                .map_err(AppError::internal)?;
        }
        for row in &page.rows {
            w.write_record(row.iter().map(Cell::csv))
                .map_err(AppError::internal)?;
        }
        w.flush().map_err(AppError::internal)?;
    }
    Ok(out)
}

/// A cell a spreadsheet would run as a formula (`= + - @`, a tab or a
/// carriage return first) is kept as text: a leading `'`. Only text that
/// people typed goes through here; the numbers are the server's own.
pub fn cell(s: String) -> String {
    // A text that already starts with quotes before such a character gets
    // one more, so that `uncell` gives back exactly what was typed.
    if runs_as_formula(s.trim_start_matches('\'')) {
        format!("'{s}")
    } else {
        s
    }
}

fn runs_as_formula(s: &str) -> bool {
    matches!(s.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r'))
}

/// The inverse of [`cell`], for a sheet read back in: exactly the `'` that
/// `cell` adds is dropped (a `'` before anything else is the cell's own).
pub fn uncell(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if runs_as_formula(rest.trim_start_matches('\'')) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// What the export neutralises, the import reads back exactly.
        #[test]
        fn uncell_undoes_cell(s in "['=+@ \\-\\t]{0,2}[a-z排口]{0,4}") {
            let out = cell(s.clone());
            proptest::prop_assert_eq!(uncell(&out), s.as_str());
        }
    }
}
