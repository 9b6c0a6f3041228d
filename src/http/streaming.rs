//! Answers of any size (reports, exports): written page by page, each page
//! read in its own short read transaction, so memory stays bounded and no
//! reader holds the database for minutes.

use crate::db::Conn;
use crate::db::Db;
use crate::error::AppResult;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;

/// Streams the pages `page` makes: it takes the cursor of the page to
/// write (None: the first) and answers its bytes and the next cursor.
/// The first page is read before the status is sent, so an error there is
/// still a proper error answer.
pub async fn pages<F>(
    db: Db,
    content_type: &'static str,
    filename: Option<String>,
    page: F,
) -> AppResult<HttpResponse>
where
    F: Fn(&mut Conn, Option<String>) -> AppResult<(Vec<u8>, Option<String>)>
        + Clone
        + Send
        + 'static,
{
    let p = page.clone();
    let (first, next) = db.read(move |c| p(c, None)).await?;
    let rest = futures_util::stream::unfold(next, move |cursor| {
        let (db, page) = (db.clone(), page.clone());
        async move {
            let cursor = cursor?;
            match db.read(move |c| page(c, Some(cursor))).await {
                Ok((bytes, next)) => Some((Ok(web::Bytes::from(bytes)), next)),
                Err(e) => {
                    // The status is sent: all that is left is to cut the
                    // answer short, so the file is visibly incomplete.
                    tracing::warn!(error = %e, "a report stopped mid-way");
                    Some((Err(actix_web::error::ErrorInternalServerError(e)), None))
                }
            }
        }
    });
    let body =
        futures_util::stream::once(
            async move { Ok::<_, actix_web::Error>(web::Bytes::from(first)) },
        )
        .chain(rest);
    let mut res = HttpResponse::Ok();
    res.content_type(content_type);
    if let Some(name) = filename {
        res.insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ));
    }
    Ok(res.streaming(body))
}
