//! Downloads: `GET`/`HEAD` of files under the root, with ranges and
//! conditional requests.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};

use super::finish;
use crate::body::{self, ResBody, Segment, StreamOpts};
use crate::faults::Effects;
use crate::parse::{self, RangeOutcome};

/// Serves a file (GET/HEAD) with Range support.
// [W32-HTTPREQ]; [MC-BUP] 3.5.5: Content-Length, Last-Modified on 200/206,
// single ranges → 206 + Content-Range, several → 206 multipart/byteranges;
// HEAD headers equal GET headers.
pub(crate) async fn serve_file<B>(
    req: &Request<B>,
    file: &Path,
    fx: &Effects,
) -> Response<ResBody> {
    let meta = match tokio::fs::metadata(file).await {
        Ok(m) if m.is_file() => m,
        _ => {
            return Response::builder()
                .status(StatusCode::NOT_FOUND)
                .header(header::CONTENT_LENGTH, "0")
                .body(body::empty())
                .unwrap_or_else(|_| Response::new(body::empty()));
        }
    };
    let len = meta.len();
    // An HTTP date covers 1970 to 9999 (httpdate panics outside it): a file
    // stamped before or after is served with the nearest date.
    let latest = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let mtime = mtime
        .checked_add(Duration::from_secs(fx.last_modified_shift.unwrap_or(0)))
        .unwrap_or(latest)
        .clamp(UNIX_EPOCH, latest);
    let nanos = mtime
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{nanos:x}\"");
    let last_modified = httpdate::fmt_http_date(mtime);
    // Conditional requests (RFC 9110 13): not used by BITS itself (which
    // compares Last-Modified on its own, [CONSIST]) but by curl, browsers
    // and download managers resuming a file.
    let mtime_secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let range_ok = match parse::preconditions(
        |n| req.headers().get(n).map(|v| v.as_bytes()),
        &etag,
        mtime_secs,
    ) {
        parse::Precondition::Proceed { range_ok } => range_ok,
        parse::Precondition::NotModified => {
            // RFC 9110 15.4.5: 304 repeats the validators, has no body.
            return finish(
                Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .header(header::LAST_MODIFIED, last_modified)
                    .header(header::ETAG, etag),
            );
        }
        parse::Precondition::Failed => {
            return finish(
                Response::builder()
                    .status(StatusCode::PRECONDITION_FAILED)
                    .header(header::CONTENT_LENGTH, "0"),
            );
        }
    };
    let outcome = if fx.ignore_range || !range_ok {
        RangeOutcome::Full
    } else {
        match parse::resolve_range(req.headers().get(header::RANGE).map(|v| v.as_bytes()), len) {
            RangeOutcome::Multi(_) if fx.single_range_only => RangeOutcome::Full,
            o => o,
        }
    };
    let mut b = Response::builder()
        .header(header::LAST_MODIFIED, last_modified)
        .header(header::ETAG, etag);
    if !fx.ignore_range {
        b = b.header(header::ACCEPT_RANGES, "bytes");
    }
    let (status, count, segments) = match outcome {
        RangeOutcome::Full => {
            b = b.header(header::CONTENT_TYPE, OCTET_STREAM);
            (StatusCode::OK, len, vec![Segment::File { start: 0, len }])
        }
        RangeOutcome::Partial(a, z) => {
            b = b
                .header(header::CONTENT_TYPE, OCTET_STREAM)
                .header(header::CONTENT_RANGE, format!("bytes {a}-{z}/{len}"));
            let n = z - a + 1;
            (
                StatusCode::PARTIAL_CONTENT,
                n,
                vec![Segment::File { start: a, len: n }],
            )
        }
        RangeOutcome::Multi(parts) => {
            let (content_type, count, segments) = multipart_byteranges(&parts, len);
            b = b.header(header::CONTENT_TYPE, content_type);
            (StatusCode::PARTIAL_CONTENT, count, segments)
        }
        RangeOutcome::Unsatisfiable => {
            return b
                .header(header::CONTENT_TYPE, OCTET_STREAM)
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .header(header::CONTENT_LENGTH, "0")
                .body(body::empty())
                .unwrap_or_else(|_| Response::new(body::empty()));
        }
    };
    b = b.status(status);
    if !fx.omit_content_length {
        b = b.header(header::CONTENT_LENGTH, count.to_string());
    }
    let body = if req.method() == Method::HEAD {
        body::empty()
    } else {
        body::segments_body(
            file.to_path_buf(),
            segments,
            StreamOpts {
                bandwidth_bps: fx.bandwidth_bps,
                drop_after_bytes: fx.drop_after_bytes,
            },
        )
    };
    b.body(body)
        .unwrap_or_else(|_| Response::new(body::empty()))
}

const OCTET_STREAM: &str = "application/octet-stream";

/// The `Content-Type`, exact length and body segments of a
/// `multipart/byteranges` response for `parts` of a file of `len` bytes.
// RFC 9110 14.6 and 15.3.7.2: each part carries its own Content-Type and
// Content-Range; the parts are sent in the order requested. [W32-HTTPREQ]:
// BITS accepts part headers of Content-Range, Content-Type and at most 180
// further bytes, and at most two CRLFs between the response headers and the
// first boundary: bitsim sends no preamble and no other part header.
fn multipart_byteranges(parts: &[(u64, u64)], len: u64) -> (String, u64, Vec<Segment>) {
    // A fresh boundary per response (RFC 2046 5.1.1: it must not occur in
    // the content; 122 random bits make that practically certain).
    let boundary = format!("bitsim-{}", uuid::Uuid::new_v4().simple());
    let mut segments = Vec::with_capacity(parts.len() * 2 + 1);
    let mut count = 0u64;
    for (i, (a, z)) in parts.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {OCTET_STREAM}\r\nContent-Range: bytes {a}-{z}/{len}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" }
        );
        count += head.len() as u64 + (z - a + 1);
        segments.push(Segment::Bytes(Bytes::from(head)));
        segments.push(Segment::File {
            start: *a,
            len: z - a + 1,
        });
    }
    let close = format!("\r\n--{boundary}--\r\n");
    count += close.len() as u64;
    segments.push(Segment::Bytes(Bytes::from(close)));
    (
        format!("multipart/byteranges; boundary={boundary}"),
        count,
        segments,
    )
}
