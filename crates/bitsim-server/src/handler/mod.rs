//! Request handling: the BITS upload packets, downloads and the control API.
//!
//! * [`upload`]: the \[MC-BUP\] packets (Create-Session, Fragment,
//!   Close-Session, Cancel-Session);
//! * [`fragment`]: what a Fragment does given the session's state (a pure
//!   decision, unit-tested without a server);
//! * [`writer`]: streaming a fragment body to the session's data file;
//! * [`commit`]: group commit of fragment data (`durability = "power-cut"`);
//! * [`download`]: `GET`/`HEAD` with ranges and conditional requests;
//! * [`control`]: the control API under [`CONTROL_PREFIX`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use crate::body::{self, ResBody};
use crate::error::{BG_E_HTTP_ERROR_BASE, Error};
use crate::parse;
use crate::paths;
use crate::server::{Ctx, DropConnection};
use crate::session::{SessionRecord, session_key};

mod commit;
mod control;
mod download;
mod fragment;
mod upload;
mod writer;

pub(crate) use commit::GroupSync;
pub(crate) use download::serve_file;

/// Reserved URL prefix of the control API and reply downloads.
pub const CONTROL_PREFIX: &str = "/_bitsim/";

pub(crate) type Res = Result<Response<ResBody>, DropConnection>;

/// The request body until a handler takes it to read it. What is left in
/// it when the answer is ready was never read: [`settle_unread_body`]
/// deals with it so the connection stays usable.
pub(crate) type BodySlot = Option<Incoming>;

/// Handles one request; see [`settle_unread_body`] for what happens to a
/// body the answer did not need.
pub(crate) async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>, peer: SocketAddr) -> Res {
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, ());
    let mut slot = Some(body);
    let res = route(&ctx, &req, &mut slot, peer).await?;
    Ok(settle_unread_body(&ctx, slot, res).await)
}

/// Keep-alive after an early answer. A request answered before its body
/// was read (a 416 gap, a 400, a fault's status, a 413, a refused path…)
/// still has the body on the wire; hyper would then close the connection
/// without saying so, and a client that sends its next request on it gets
/// a reset instead of an answer. So the rest of the body is read and
/// discarded, up to [`Config::max_discard_bytes`](crate::Config) and with
/// the body idle timeout, and the connection stays open; a longer body, or
/// one that stalls or fails, gets `Connection: close` on the answer
/// (RFC 9112 9.6), so the client knows to open a new connection.
async fn settle_unread_body(
    ctx: &Ctx,
    body: BodySlot,
    mut res: Response<ResBody>,
) -> Response<ResBody> {
    use hyper::body::Body as _;
    let Some(body) = body else {
        return res;
    };
    if body.is_end_stream() {
        return res;
    }
    let limit = ctx.cfg.max_discard_bytes;
    let fits = body.size_hint().exact().is_none_or(|n| n <= limit);
    if fits && writer::discard(body, limit, ctx.cfg.body_idle_timeout_secs).await {
        return res;
    }
    tracing::debug!("unread request body not discarded: Connection: close");
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

async fn route(ctx: &Arc<Ctx>, req: &Request<()>, body: &mut BodySlot, peer: SocketAddr) -> Res {
    let ctx = ctx.clone();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let is_bits = parse::is_bits_method(method.as_str().as_bytes(), |n| {
        req.headers().get(n).map(|v| v.as_bytes())
    });
    if path.starts_with(CONTROL_PREFIX) || path == "/_bitsim" {
        if is_bits {
            // A BITS client gets an Ack it understands, as for any path
            // that cannot be uploaded to.
            return Ok(ack_error(&paths::reserved(&path), None));
        }
        return Ok(control::control(&ctx, req, body, peer, &path).await);
    }
    let packet = req
        .headers()
        .get("bits-packet-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fx = ctx.faults.take(
        &path,
        method.as_str(),
        if is_bits { packet.as_deref() } else { None },
    );
    if let Some(d) = fx.delay {
        tokio::time::sleep(d).await;
    }
    if let Some((status, hr)) = fx.status {
        tracing::info!(status, "fault: status override");
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = Response::builder().status(status);
        r = r.header(REASON_HEADER, "status set by a fault rule");
        if is_bits {
            r = r.header("BITS-Packet-Type", "Ack");
            if !status.is_success() {
                let hr = hr.unwrap_or(BG_E_HTTP_ERROR_BASE + u32::from(status.as_u16()));
                r = r
                    .header("BITS-Error-Code", format!("0x{hr:08X}"))
                    .header("BITS-Error-Context", "0x5");
            }
        }
        return Ok(r
            .header(header::CONTENT_LENGTH, "0")
            .body(body::empty())
            .unwrap_or_else(|_| Response::new(body::empty())));
    }
    let dropping_now = fx.drop_after_bytes == Some(0)
        || (fx.drop_after_bytes.is_some()
            && !(method == Method::GET
                || (is_bits
                    && packet
                        .as_deref()
                        .is_some_and(|p| p.trim().eq_ignore_ascii_case("fragment")))));
    if dropping_now {
        return Err(DropConnection("fault: drop".into()));
    }
    if is_bits {
        return upload::bits(&ctx, req, body, peer, &path, &fx).await;
    }
    if method == Method::GET || method == Method::HEAD {
        let file = match paths::resolve(&ctx.root, &ctx.state_dir, &path) {
            Ok(p) => p,
            Err(e) => return Ok(plain_error(&e)),
        };
        return Ok(serve_file(req, &file, &fx).await);
    }
    Ok(Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, "GET, HEAD, BITS_POST")
        .header(header::CONTENT_LENGTH, "0")
        .body(body::empty())
        .unwrap_or_else(|_| Response::new(body::empty())))
}

pub(crate) fn plain_error(e: &Error) -> Response<ResBody> {
    let status = match e {
        Error::BadPath { .. } => StatusCode::BAD_REQUEST,
        other => other.status(),
    };
    tracing::info!(error = %e, "refused");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        // The body says it too, but a HEAD answer has none.
        .header(REASON_HEADER, reason_value(&e.reason()))
        .body(body::full(format!("{e}\n")))
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// An Ack builder: `BITS-Packet-Type: Ack`, `Content-Length: 0`.
// [MC-BUP] 2.2.1.2: responses always carry BITS-Packet-Type: Ack;
// [MC-BUP] 2.2.3.3 … 2.2.11.3: Ack bodies empty, Content-Length: 0.
pub(crate) fn ack(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("BITS-Packet-Type", "Ack")
        .header(header::CONTENT_LENGTH, "0")
}

pub(crate) fn finish(b: http::response::Builder) -> Response<ResBody> {
    b.body(body::empty())
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// Header that says in words why a request was refused. An Ack has no
/// body (\[MC-BUP\] 2.2.3.3 ff.), so without it the reason would be only in
/// the server's log; BITS clients ignore headers they do not know.
pub const REASON_HEADER: &str = "X-Bitsim-Reason";

/// `text` as a header value: printable ASCII only (others become `?`), at
/// most 512 bytes.
pub(crate) fn reason_value(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .take(512)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("refused"))
}

/// An error Ack with `BITS-Error-Code`, `BITS-Error-Context` and
/// [`REASON_HEADER`].
// [W32-ACK*]: header name BITS-Error-Code, hex HRESULT; context hex.
pub(crate) fn ack_error(e: &Error, session_id: Option<&str>) -> Response<ResBody> {
    tracing::info!(error = %e, "BITS error");
    let mut b = ack(e.status())
        .header("BITS-Error-Code", format!("0x{:08X}", e.hresult()))
        .header("BITS-Error-Context", format!("0x{:X}", e.context()))
        .header(REASON_HEADER, reason_value(&e.reason()));
    if let Some(id) = session_id.and_then(|s| HeaderValue::from_str(s).ok()) {
        b = b.header("BITS-Session-Id", id);
    }
    finish(b)
}

/// Runs blocking I/O on tokio's blocking pool; a panicked task is an I/O
/// error.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// Reply file path for a session.
pub(crate) fn reply_path(ctx: &Ctx, rec: &SessionRecord) -> PathBuf {
    ctx.replies_dir
        .join(format!("{}.reply", session_key(&rec.id)))
}
