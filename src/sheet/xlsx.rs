//! A table as an Excel workbook (what district offices open): the same
//! columns as the CSV with Chinese headers, numbers as numbers, times as
//! Excel dates in the district's time, the header row frozen. Written in
//! rust_xlsxwriter's constant-memory mode: each row goes to a temporary
//! file as it is written, so a district's years of records cost the disk,
//! not the memory, and the finished file is written straight to the
//! answer ([`Xlsx::finish`] takes any writer).

use super::{Cell, Column};
use crate::error::{AppError, AppResult};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

/// The content type of an XLSX answer.
pub const CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Excel's last row (0-based): a longer table goes on in a second sheet,
/// with the header again.
const MAX_ROW: u32 = 1_048_575;

/// Excel's longest text in a cell (characters).
const MAX_TEXT: usize = 32_767;

/// A workbook being written, a page of rows at a time.
pub struct Xlsx {
    book: Workbook,
    head: Vec<Column>,
    /// The sheet being written (its index) and its next row.
    sheet: usize,
    row: u32,
    time: Format,
    date: Format,
    header: Format,
}

fn failed(e: XlsxError) -> AppError {
    AppError::internal(e)
}

impl Xlsx {
    pub fn new(head: &[Column]) -> AppResult<Xlsx> {
        let mut x = Xlsx {
            book: Workbook::new(),
            head: head.to_vec(),
            sheet: 0,
            row: 0,
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            header: Format::new().set_bold(),
        };
        x.new_sheet(0)?;
        Ok(x)
    }

    fn new_sheet(&mut self, index: usize) -> AppResult<()> {
        let (head, header) = (self.head.clone(), self.header.clone());
        let ws = self
            .book
            .add_worksheet_with_constant_memory()
            .map_err(failed)?;
        if index > 0 {
            ws.set_name(format!("续{index}")).map_err(failed)?;
        }
        for (i, c) in head.iter().enumerate() {
            let col = u16::try_from(i).map_err(AppError::internal)?;
            // Wide enough for the header's Chinese (two columns each) and
            // for a time.
            let width = (c.zh.chars().count() * 2 + 2).clamp(10, 40);
            ws.set_column_width(col, width as f64).map_err(failed)?;
            ws.write_string_with_format(0, col, &c.zh, &header)
                .map_err(failed)?;
        }
        ws.set_freeze_panes(1, 0).map_err(failed)?;
        self.sheet = index;
        self.row = 1;
        Ok(())
    }

    fn sheet(&mut self) -> AppResult<&mut Worksheet> {
        self.book.worksheet_from_index(self.sheet).map_err(failed)
    }

    /// Appends rows.
    pub fn rows(&mut self, rows: &[Vec<Cell>]) -> AppResult<()> {
        for r in rows {
            if self.row > MAX_ROW {
                self.new_sheet(self.sheet + 1)?;
            }
            let (row, time, date) = (self.row, self.time.clone(), self.date.clone());
            let offset = crate::clock::district_offset();
            let ws = self.sheet()?;
            for (i, cell) in r.iter().enumerate() {
                let col = u16::try_from(i).map_err(AppError::internal)?;
                match cell {
                    Cell::Empty => continue,
                    Cell::Text(s) | Cell::Code(s) => ws.write_string(row, col, clip(s)),
                    Cell::Int(n) => ws.write_number(row, col, *n as f64),
                    Cell::Num(n) if n.is_finite() => ws.write_number(row, col, *n),
                    Cell::Num(_) => continue,
                    Cell::Bool(b) => ws.write_boolean(row, col, *b),
                    Cell::Time(t) => ws.write_datetime_with_format(
                        row,
                        col,
                        t.with_timezone(&offset).naive_local(),
                        &time,
                    ),
                    Cell::Date(d) => ws.write_datetime_with_format(row, col, *d, &date),
                }
                .map_err(failed)?;
            }
            self.row += 1;
        }
        Ok(())
    }

    /// Writes the finished workbook to `out`.
    pub fn finish<W: std::io::Write + Send>(mut self, out: W) -> AppResult<()> {
        self.book.save_to_writer(out).map_err(failed)
    }
}

/// A text cut to what one Excel cell holds (on a character boundary).
fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx as Read};

    #[test]
    fn types_survive_and_the_header_is_chinese() {
        let head = Column::list(&[("n", "数量"), ("t", "时间"), ("s", "名称"), ("b", "通过")]);
        let mut x = Xlsx::new(&head).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T15:30:00Z")
            .unwrap()
            .to_utc();
        x.rows(&[vec![
            Cell::Int(7),
            Cell::Time(at),
            Cell::Text("=1+1".into()),
            Cell::Bool(true),
        ]])
        .unwrap();
        let mut out = Vec::new();
        x.finish(&mut out).unwrap();
        let mut book: Read<_> = Read::new(std::io::Cursor::new(out)).unwrap();
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.get((0, 0)), Some(&Data::String("数量".into())));
        assert_eq!(range.get((1, 0)), Some(&Data::Float(7.0)));
        let Some(Data::DateTime(t)) = range.get((1, 1)) else {
            panic!("{:?}", range.get((1, 1)))
        };
        // 15:30 UTC is 23:30 in the district: that day.
        assert_eq!(t.as_datetime().unwrap().to_string(), "2026-03-01 23:30:00");
        assert_eq!(range.get((1, 2)), Some(&Data::String("=1+1".into())));
        assert_eq!(range.get((1, 3)), Some(&Data::Bool(true)));
        assert_eq!(clip(&"排".repeat(40_000)).chars().count(), MAX_TEXT);
    }
}
