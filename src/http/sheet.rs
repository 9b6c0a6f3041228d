//! A table ([`crate::sheet::Page`]s) answered as CSV or XLSX: the one way
//! every export goes out, so a CSV always has its XLSX beside it.
//!
//! CSV streams page by page (`streaming::pages`). XLSX cannot be sent
//! before its last row (a zip's directory comes last), so the pages are
//! read one short read transaction at a time, written row by row to the
//! workbook's temporary file off the executor, and the finished file is
//! written straight into the answer through a channel: memory stays at a
//! page of rows and a buffer, whatever the size.

use crate::db::{Conn, Db};
use crate::error::AppResult;
use crate::sheet::{Page, csv_bytes, xlsx::Xlsx};
use actix_web::{HttpResponse, web};

/// A table's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// Bytes of the finished workbook handed to the answer at a time.
const CHUNK: usize = 64 * 1024;

/// Answers the table `page` makes (it takes the cursor of the page to read,
/// None: the first) as `stem.csv` or `stem.xlsx`. The first page is read
/// before the status is sent, so an error there is a proper error answer.
pub async fn answer<F>(db: Db, format: Format, stem: &str, page: F) -> AppResult<HttpResponse>
where
    F: Fn(&mut Conn, Option<String>) -> AppResult<Page> + Clone + Send + 'static,
{
    let filename = format!("{stem}.{}", format.ext());
    match format {
        Format::Csv => {
            crate::http::streaming::pages(
                db,
                "text/csv; charset=utf-8",
                Some(filename),
                move |c, cursor| {
                    let first = cursor.is_none();
                    let p = page(c, cursor)?;
                    Ok((csv_bytes(&p, first)?, p.next))
                },
            )
            .await
        }
        Format::Xlsx => xlsx(db, filename, page).await,
    }
}

async fn xlsx<F>(db: Db, filename: String, page: F) -> AppResult<HttpResponse>
where
    F: Fn(&mut Conn, Option<String>) -> AppResult<Page> + Clone + Send + 'static,
{
    let p = page.clone();
    let first = db.read(move |c| p(c, None)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<web::Bytes>>(4);
    actix_web::rt::spawn(async move {
        let failed = tx.clone();
        if let Err(e) = build(db, first, page, tx).await {
            // The status is sent: the answer is cut short, so the file is
            // visibly broken rather than quietly incomplete.
            tracing::warn!(error = %e, "an XLSX export stopped mid-way");
            let _ = failed.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(crate::sheet::xlsx::CONTENT_TYPE)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(body))
}

async fn build<F>(
    db: Db,
    first: Page,
    page: F,
    tx: tokio::sync::mpsc::Sender<std::io::Result<web::Bytes>>,
) -> AppResult<()>
where
    F: Fn(&mut Conn, Option<String>) -> AppResult<Page> + Clone + Send + 'static,
{
    let mut next = first.next.clone();
    let mut book = web::block(move || -> AppResult<Xlsx> {
        let mut x = Xlsx::new(&first.head)?;
        x.rows(&first.rows)?;
        Ok(x)
    })
    .await??;
    while let Some(cursor) = next {
        let p = page.clone();
        let more = db.read(move |c| p(c, Some(cursor))).await?;
        next = more.next.clone();
        book = web::block(move || -> AppResult<Xlsx> {
            book.rows(&more.rows)?;
            Ok(book)
        })
        .await??;
    }
    web::block(move || book.finish(Pipe::new(tx))).await?
}

/// A writer into the answer: bytes go out in chunks as the workbook is
/// saved (on a blocking thread, so it may wait for the client).
struct Pipe {
    tx: tokio::sync::mpsc::Sender<std::io::Result<web::Bytes>>,
    buf: Vec<u8>,
}

impl Pipe {
    fn new(tx: tokio::sync::mpsc::Sender<std::io::Result<web::Bytes>>) -> Pipe {
        Pipe {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // The client went away: stop writing the workbook.
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for Pipe {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
