//! Downloads as the BITS client does them (\[MC-BUP\] 3.6, \[W32-HTTPREQ\]):
//! `HEAD` for the size and `Last-Modified`, then `GET`s with `Range` into
//! the temporary file, resuming from the model's offset.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Instant;

use bitsim_model::{ErrorContext, FileRef, Hresult, TransferError};
use bitsim_wire::parse_content_range;
use bytes::BytesMut;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::http::{body_error, drain, header_str, status_error};
use super::{Ev, Stamp, Task};

/// Restarts of one file in one attempt before the change is reported as
/// `BG_E_REMOTE_FILE_CHANGED` (guards against a server whose
/// `Last-Modified` changes on every response; the docs give no number).
const MAX_RESTARTS: u32 = 3;

/// Batches body bytes into writes of this size.
const WRITE_BATCH: usize = 1 << 20;

fn local_error(e: &std::io::Error, file: FileRef) -> TransferError {
    let code = match e.kind() {
        std::io::ErrorKind::PermissionDenied => Hresult::E_ACCESSDENIED,
        std::io::ErrorKind::NotFound => Hresult::E_FILE_NOT_FOUND_WIN32,
        std::io::ErrorKind::StorageFull => Hresult::E_DISK_FULL,
        _ => Hresult::E_FAIL,
    };
    TransferError::new(code, ErrorContext::LocalFile, Some(file))
}

/// Downloads `url` into `temp` from `offset`. `stamp` is what the last
/// attempt saw (size, `Last-Modified`); a difference restarts the file
/// \[CONSIST\]. Sends Connected, FileSize, Progress, FileReset, Book and at
/// last FileDone (or ReplyProgress for the reply) to the driver.
pub(crate) async fn download(
    t: &Task,
    file: FileRef,
    url: &str,
    temp: PathBuf,
    offset: u64,
    mut stamp: Option<Stamp>,
) -> Result<u64, TransferError> {
    let mut offset = offset;
    let mut restarts = 0u32;
    'attempt: loop {
        // [MC-BUP] 3.6 STATE_SIZE: HEAD → DATA_LENGTH = Content-Length,
        // DATA_TIMESTAMP = Last-Modified.
        let (resp, final_url) = t.http.get_following(Method::HEAD, url, None, file).await?;
        if !resp.status().is_success() {
            return Err(status_error(resp.status(), file));
        }
        // [RETVALS] [W32-HTTPREQ]: no Content-Length → BG_E_MISSING_FILE_SIZE.
        let Some(size) = header_str(resp.headers(), "content-length").and_then(|v| v.parse().ok())
        else {
            return Err(TransferError::new(
                Hresult::BG_E_MISSING_FILE_SIZE,
                ErrorContext::RemoteFile,
                Some(file),
            ));
        };
        let last_modified = header_str(resp.headers(), "last-modified");
        drain(resp).await;
        let now_stamp = Stamp {
            size,
            last_modified: last_modified.clone(),
        };
        // [CONSIST]: consistency is size + timestamp; a change restarts
        // the file from byte 0 [FILEPROG].
        if stamp.as_ref().is_some_and(|s| *s != now_stamp) && offset > 0 {
            tracing::info!(%url, "remote file changed since the last attempt: restart");
            offset = 0;
            t.send(Ev::FileReset(file));
        }
        t.send(Ev::Stamp(file, now_stamp));
        t.send(Ev::Connected);
        t.send(Ev::Size(file, size));

        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&temp)
            .await
            .map_err(|e| local_error(&e, file))?;
        let len = f.metadata().await.map_err(|e| local_error(&e, file))?.len();
        if len < offset {
            // The temp file lost bytes the model counted (crash before
            // the data reached the disk): start over.
            offset = 0;
            t.send(Ev::FileReset(file));
            t.send(Ev::Size(file, size));
        }
        f.set_len(offset).await.map_err(|e| local_error(&e, file))?;
        t.send(Ev::Progress(file, offset, size));

        while offset < size {
            let end = (offset + t.cfg.download_fragment.max(1)).min(size) - 1;
            // [MC-BUP] 3.6.5.2.4.2: GET with Range for the next fragment.
            // Decision: the Range header is sent on every GET, also for
            // the whole file, so a server that ignores ranges is found
            // at once (as BITS reports for proxies that strip them).
            let (resp, _) = t
                .http
                .get_following(Method::GET, &final_url, Some((offset, end)), file)
                .await?;
            let status = resp.status();
            if status == StatusCode::OK {
                // [MC-BUP] 3.6.5.2.4.2: 200 when a range was asked → error;
                // [RETVALS] BG_E_INSUFFICIENT_RANGE_SUPPORT.
                return Err(TransferError::new(
                    Hresult::BG_E_INSUFFICIENT_RANGE_SUPPORT,
                    ErrorContext::RemoteFile,
                    Some(file),
                ));
            }
            if status != StatusCode::PARTIAL_CONTENT {
                return Err(status_error(status, file));
            }
            let lm = header_str(resp.headers(), "last-modified");
            // RFC 9110 14.4: the 206's Content-Range names the part sent.
            let cr = resp
                .headers()
                .get(http::header::CONTENT_RANGE)
                .and_then(|v| parse_content_range(v.as_bytes()).ok());
            let changed = lm != last_modified || cr.is_some_and(|r| r.total != size);
            if changed {
                // [MC-BUP] 3.6.5.2.4.2: Last-Modified differs from the
                // remembered value → restart the file from scratch
                // [CONSIST].
                drain(resp).await;
                restarts += 1;
                if restarts > MAX_RESTARTS {
                    return Err(TransferError::new(
                        Hresult::BG_E_REMOTE_FILE_CHANGED,
                        ErrorContext::RemoteFile,
                        Some(file),
                    ));
                }
                tracing::info!(%url, "Last-Modified changed mid-download: restart the file");
                offset = 0;
                stamp = None;
                t.send(Ev::FileReset(file));
                continue 'attempt;
            }
            if cr.is_none_or(|r| r.start != offset || r.end != end) {
                // [MC-BUP] 3.6.5.2.4.2: Content-Range/length mismatch → error.
                drain(resp).await;
                return Err(TransferError::new(
                    Hresult::BG_E_INVALID_SERVER_RESPONSE,
                    ErrorContext::RemoteFile,
                    Some(file),
                ));
            }
            f.seek(SeekFrom::Start(offset))
                .await
                .map_err(|e| local_error(&e, file))?;
            let mut body = resp.into_body();
            let mut buf = BytesMut::with_capacity(WRITE_BATCH);
            let mut got = offset;
            let mut last_report = Instant::now();
            let want = end + 1;
            loop {
                let frame = match body.frame().await {
                    None => break,
                    Some(Err(_)) => {
                        // Keep what arrived: the next attempt resumes there.
                        write_out(&mut f, &mut buf, file).await?;
                        t.send(Ev::Progress(file, got, size));
                        return Err(body_error(file));
                    }
                    Some(Ok(fr)) => fr,
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let room = want.saturating_sub(got) as usize;
                let take = data.len().min(room);
                buf.extend_from_slice(&data[..take]);
                got += take as u64;
                if buf.len() >= WRITE_BATCH {
                    write_out(&mut f, &mut buf, file).await?;
                    if last_report.elapsed() >= t.cfg.progress_interval {
                        t.send(Ev::Progress(file, got, size));
                        last_report = Instant::now();
                    }
                }
            }
            write_out(&mut f, &mut buf, file).await?;
            if got < want {
                t.send(Ev::Progress(file, got, size));
                return Err(body_error(file));
            }
            offset = got;
            t.send(Ev::Progress(file, offset, size));
        }
        f.sync_all().await.map_err(|e| local_error(&e, file))?;
        return Ok(size);
    }
}

async fn write_out(
    f: &mut tokio::fs::File,
    buf: &mut BytesMut,
    file: FileRef,
) -> Result<(), TransferError> {
    if buf.is_empty() {
        return Ok(());
    }
    f.write_all(buf).await.map_err(|e| local_error(&e, file))?;
    buf.clear();
    Ok(())
}
