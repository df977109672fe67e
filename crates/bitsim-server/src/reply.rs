//! Upload-reply: running the server application once an upload is complete.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::body::{self, StreamOpts};
use crate::config::{NotifyBy, ReplyApp};
use crate::error::{
    BG_E_HTTP_ERROR_BASE, CONTEXT_REMOTE_APPLICATION, E_DISK_FULL, E_FAIL, E_INVALIDARG, Error,
    Result,
};
use crate::handler::{CONTROL_PREFIX, blocking, reply_path};
use crate::server::Ctx;
use crate::session::{ReplyState, SessionRecord, session_key};

/// Longest reply URL accepted from an application.
// [MC-BUP] 2.2.1.2: reply URL from the app > 2,200 chars → 400 + 0x80070057.
const MAX_REPLY_URL: usize = 2200;

fn app_error(status: StatusCode, hresult: u32, message: impl Into<String>) -> Error {
    Error::Protocol {
        status,
        hresult,
        context: CONTEXT_REMOTE_APPLICATION,
        message: message.into(),
    }
}

fn own_reply_url(host: &str, rec: &SessionRecord) -> String {
    format!(
        "http://{host}{CONTROL_PREFIX}replies/{}",
        session_key(&rec.id)
    )
}

/// Runs route `route`'s application for a completed upload.
pub(crate) async fn run_app(
    ctx: &Arc<Ctx>,
    route: usize,
    rec: &SessionRecord,
    data: &Path,
    host: &str,
) -> Result<ReplyState> {
    let Some(app) = ctx.cfg.reply.get(route).map(|r| r.app.clone()) else {
        return Err(app_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            E_FAIL,
            "reply route vanished",
        ));
    };
    let out = reply_path(ctx, rec);
    let (builtin, copy_to_destination): (BuiltinApp, bool) = match app {
        ReplyApp::Echo {
            copy_to_destination,
        } => (echo_reply, copy_to_destination),
        ReplyApp::Sha256 {
            copy_to_destination,
        } => (sha256_reply, copy_to_destination),
        ReplyApp::Notify {
            url,
            by,
            timeout_ms,
        } => {
            let fut = notify(ctx, &url, by, rec, data, &out, host);
            return match tokio::time::timeout(Duration::from_millis(timeout_ms), fut).await {
                Ok(r) => r,
                // [MC-BUP] 3.3.6: notification timeout → 408 + 0x80070112, context 0x7.
                Err(_) => Err(app_error(
                    StatusCode::REQUEST_TIMEOUT,
                    E_DISK_FULL,
                    "server application timed out",
                )),
            };
        }
    };
    let (d, o) = (data.to_path_buf(), out.clone());
    blocking(move || builtin(&d, &o))
        .await
        .map_err(|e| Error::from_io(&e))?;
    Ok(ReplyState {
        url: own_reply_url(host, rec),
        file: Some(out),
        copy_to_destination,
    })
}

/// A built-in server application: writes the reply for the upload `data`
/// to `out` (blocking I/O).
type BuiltinApp = fn(&Path, &Path) -> std::io::Result<()>;

/// Built-in app: the reply is the upload itself (a hard link, else a copy).
fn echo_reply(data: &Path, out: &Path) -> std::io::Result<()> {
    let _ = std::fs::remove_file(out);
    std::fs::hard_link(data, out).or_else(|_| std::fs::copy(data, out).map(|_| ()))
}

/// Built-in app: the reply is the lower-case hex SHA-256 of the upload.
fn sha256_reply(data: &Path, out: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::open(data)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    std::fs::write(out, hex::encode(h.finalize()))
}

/// Resolves a configured notification URL against the upload URL
/// `http://{host}{upload_path}` (RFC 3986 5.2, dot segments removed,
/// fragment dropped; `bitsim_wire::resolve`).
// [W32-IISPROPS] BITSServerNotificationURL: a relative value is resolved
// against the upload URL. bitsim takes the authority from the upload's Host
// header, as the client addressed it, so a relative URL works behind a
// reverse proxy that routes the application's path; the client chooses
// that header, so configure an absolute URL where clients are not trusted.
pub(crate) fn resolve_notification_url(
    url: &str,
    host: &str,
    upload_path: &str,
) -> Result<String, bitsim_wire::Error> {
    bitsim_wire::resolve::resolve(&format!("http://{host}{upload_path}"), url)
}

/// Sends the notification (\[W32-NOTIFY\]; \[MC-BUP\] 2.2.12, 2.2.13, 3.4.5.2).
async fn notify(
    ctx: &Arc<Ctx>,
    url: &str,
    by: NotifyBy,
    rec: &SessionRecord,
    data: &Path,
    out: &PathBuf,
    host: &str,
) -> Result<ReplyState> {
    let original = match &rec.query {
        Some(q) => format!("http://{host}{}?{q}", rec.url_path),
        None => format!("http://{host}{}", rec.url_path),
    };
    let url = resolve_notification_url(url, host, &rec.url_path).map_err(|e| {
        app_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            E_INVALIDARG,
            format!("bad notification URL: {e}"),
        )
    })?;
    // [W32-IISPROPS] BITSServerNotificationURL: a query string on the
    // upload URL is appended to the notification URL.
    let url = match &rec.query {
        Some(q) if url.contains('?') => format!("{url}&{q}"),
        Some(q) => format!("{url}?{q}"),
        None => url.to_string(),
    };
    let len = rec.total.unwrap_or(0);
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(url.as_str())
        // [MC-BUP] 4.2: Windows sends User-Agent: BITSExts 1.5.
        .header(header::USER_AGENT, "BITSExts 1.5")
        .header("BITS-Original-Request-URL", original);
    let body = match by {
        NotifyBy::Reference => {
            // [W32-NOTIFY]: by reference, file paths in headers, empty body.
            b = b
                .header("BITS-Request-DataFile-Name", data.display().to_string())
                .header("BITS-Response-DataFile-Name", out.display().to_string())
                .header(header::CONTENT_LENGTH, "0");
            body::empty()
        }
        NotifyBy::Value => {
            // [W32-NOTIFY]: by value, the upload is the POST body.
            b = b.header(header::CONTENT_LENGTH, len.to_string());
            body::file_body(data.to_path_buf(), 0, len, StreamOpts::default())
        }
    };
    let req = b.body(body).map_err(|e| {
        app_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            E_INVALIDARG,
            format!("bad notification URL: {e}"),
        )
    })?;
    let resp = ctx.client.request(req).await.map_err(|e| {
        app_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            E_FAIL,
            format!("server application unreachable: {e}"),
        )
    })?;
    let status = resp.status();
    if status != StatusCode::OK {
        // [W32-APPERR]: non-200 from the app is reported with context 0x7;
        // bitsim passes the app's status through with BG_E_HTTP_ERROR_xxx.
        return Err(app_error(
            status,
            BG_E_HTTP_ERROR_BASE + u32::from(status.as_u16()),
            format!("server application answered {status}"),
        ));
    }
    // [W32-NOTIFY]: BITS-Copy-File-To-Destination (any value) → also publish.
    let copy = resp.headers().contains_key("bits-copy-file-to-destination");
    if let Some(v) = resp.headers().get("bits-static-response-url") {
        // [W32-NOTIFY]: use that URL as the reply; no body, no reply file.
        let s = v.to_str().unwrap_or("").trim().to_string();
        if s.is_empty() || s.len() > MAX_REPLY_URL {
            return Err(app_error(
                StatusCode::BAD_REQUEST,
                E_INVALIDARG,
                "invalid BITS-Static-Response-URL",
            ));
        }
        return Ok(ReplyState {
            url: s,
            file: None,
            copy_to_destination: copy,
        });
    }
    let io_err = |e: std::io::Error| Error::from_io(&e);
    match by {
        NotifyBy::Value => {
            // Reply = response body, streamed to the reply file.
            let mut f = tokio::fs::File::create(out).await.map_err(io_err)?;
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| {
                    app_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        E_FAIL,
                        format!("reading app reply: {e}"),
                    )
                })?;
                if let Ok(d) = frame.into_data() {
                    f.write_all(&d).await.map_err(io_err)?;
                }
            }
            f.flush().await.map_err(io_err)?;
        }
        NotifyBy::Reference => {
            // The app wrote the reply at BITS-Response-DataFile-Name; if it
            // wrote nothing the reply is empty (bitsim's choice).
            if tokio::fs::metadata(out).await.is_err() {
                tokio::fs::write(out, b"").await.map_err(io_err)?;
            }
        }
    }
    Ok(ReplyState {
        url: own_reply_url(host, rec),
        file: Some(out.clone()),
        copy_to_destination: copy,
    })
}

#[cfg(test)]
mod tests {
    use super::resolve_notification_url as resolve;

    // The resolution itself is tested in bitsim-wire; this pins the base
    // the server builds from the Host header and the upload path.
    #[test]
    fn relative_notification_urls_resolve_against_the_upload_url() {
        let r = |u, p| resolve(u, "bits.example:8080", p).expect("resolves");
        assert_eq!(
            r("n.asp", "/up/in.bin"),
            "http://bits.example:8080/up/n.asp"
        );
        assert_eq!(r("../../n", "/up/in.bin"), "http://bits.example:8080/n");
        assert_eq!(r("http://app:9/n#f", "/up/in.bin"), "http://app:9/n");
        assert!(resolve("n", "bad host", "/x").is_err());
    }
}
