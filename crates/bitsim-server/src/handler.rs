//! Request handling: the BITS upload packets, downloads and the control API.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::Instrument;

use crate::body::{self, ResBody, Segment, StreamOpts};
use crate::error::{
    BG_E_HTTP_ERROR_BASE, BG_E_SESSION_NOT_FOUND, BG_E_TOO_LARGE, E_ACCESSDENIED, E_DISK_FULL,
    E_TOO_MANY_SESSIONS, Error,
};
use crate::faults::Effects;
use crate::parse::{self, BitsRequest, PacketType, RangeOutcome};
use crate::paths;
use crate::server::{Ctx, DropConnection, expired, live_after_ms};
use crate::session::{
    Session, SessionCap, SessionRecord, SessionState, now_unix_ms, session_key, write_at,
};

type Res = Result<Response<ResBody>, DropConnection>;

/// Reserved URL prefix of the control API and reply downloads.
pub const CONTROL_PREFIX: &str = "/_bitsim/";

/// Size of the write batches of a fragment body.
const WRITE_BATCH: usize = 256 * 1024;

/// With `fsync`, writeback of a fragment's written bytes is started each
/// time this many have accumulated (see [`start_writeback`]). Measured on
/// the development VM with 8 MiB fragments: 256 KiB ≈ 870 MiB/s, 1 MiB ≈
/// 970 MiB/s, 4 MiB ≈ 800 MiB/s, never ≈ 730 MiB/s.
const WRITEBACK_EVERY: u64 = 1024 * 1024;

pub(crate) async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>, peer: SocketAddr) -> Res {
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
        return Ok(control(&ctx, req, peer, &path).await);
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
        return bits(&ctx, req, peer, &path, &fx).await;
    }
    if method == Method::GET || method == Method::HEAD {
        let file = match paths::resolve(&ctx.root, &ctx.state_dir, &path) {
            Ok(p) => p,
            Err(e) => return Ok(plain_error(&e)),
        };
        return Ok(serve_file(&req, &file, &fx).await);
    }
    Ok(Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header(header::ALLOW, "GET, HEAD, BITS_POST")
        .header(header::CONTENT_LENGTH, "0")
        .body(body::empty())
        .unwrap_or_else(|_| Response::new(body::empty())))
}

fn plain_error(e: &Error) -> Response<ResBody> {
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
fn ack(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("BITS-Packet-Type", "Ack")
        .header(header::CONTENT_LENGTH, "0")
}

fn finish(b: http::response::Builder) -> Response<ResBody> {
    b.body(body::empty())
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// Header that says in words why a request was refused. An Ack has no
/// body (\[MC-BUP\] 2.2.3.3 ff.), so without it the reason would be only in
/// the server's log; BITS clients ignore headers they do not know.
pub const REASON_HEADER: &str = "X-Bitsim-Reason";

/// `text` as a header value: printable ASCII only (others become `?`), at
/// most 512 bytes.
fn reason_value(text: &str) -> HeaderValue {
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
fn ack_error(e: &Error, session_id: Option<&str>) -> Response<ResBody> {
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

async fn bits(
    ctx: &Arc<Ctx>,
    req: Request<Incoming>,
    peer: SocketAddr,
    path: &str,
    fx: &Effects,
) -> Res {
    let headers: Vec<(&str, &[u8])> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let parsed = match parse::parse_bits_request(&headers) {
        Ok(p) => p,
        Err(e) => {
            let sid = req
                .headers()
                .get("bits-session-id")
                .and_then(|v| v.to_str().ok());
            return Ok(ack_error(&e, sid));
        }
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| ctx.local_addr.to_string());
    tracing::debug!(packet = parsed.packet.as_str(), "BITS packet");
    match parsed.packet {
        // [MC-BUP] 3.2.5.2.5: Ping has no state; always 200.
        PacketType::Ping => Ok(finish(ack(StatusCode::OK))),
        PacketType::CreateSession => {
            let query = req.uri().query().map(str::to_string);
            Ok(create_session(ctx, peer, path, query, &parsed).await)
        }
        PacketType::Fragment => fragment(ctx, req.into_body(), path, &parsed, fx, &host).await,
        PacketType::CloseSession => Ok(close_session(ctx, path, &parsed, false).await),
        PacketType::CancelSession => Ok(close_session(ctx, path, &parsed, true).await),
    }
}

async fn create_session(
    ctx: &Arc<Ctx>,
    peer: SocketAddr,
    path: &str,
    query: Option<String>,
    p: &BitsRequest,
) -> Response<ResBody> {
    let dest = match paths::resolve(&ctx.root, &ctx.state_dir, path) {
        Ok(d) => d,
        Err(e) => return ack_error(&e, None),
    };
    // [MC-BUP] 2.2.1.2: URL maps to a directory → 400 + 0x80070057.
    if dest.is_dir() {
        return ack_error(&Error::invalid_arg("destination is a directory"), None);
    }
    // Nor can it be published under a file (`/a.bin/x` with `a.bin` a
    // file): refused now, like a directory, rather than at Close-Session
    // after the whole upload.
    if let Some(file) = dest
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(&ctx.root) && *a != ctx.root)
        .find(|a| a.symlink_metadata().is_ok_and(|m| !m.is_dir()))
    {
        let name = file.strip_prefix(&ctx.root).unwrap_or(file);
        return ack_error(
            &Error::invalid_arg(format!("{} is a file, not a directory", name.display())),
            None,
        );
    }
    // [W32-ACKCS] / [W32-IISPROPS] BITSAllowOverwrites=0: existing file → 409.
    if !ctx.cfg.allow_overwrite && dest.exists() {
        return ack_error(
            &Error::protocol(StatusCode::CONFLICT, E_ACCESSDENIED, "destination exists"),
            None,
        );
    }
    let client = peer.ip().to_canonical().to_string();
    let reply_route = ctx
        .cfg
        .reply
        .iter()
        .position(|r| path.starts_with(r.prefix.as_str()));
    // [MC-BUP] 2.2.1.2: session id is a GUID unique per server; Windows
    // servers send it upper case in braces ([MC-BUP] 4.1). uuid v4 draws
    // from the OS CSPRNG (getrandom).
    let id = format!("{{{}}}", uuid::Uuid::new_v4().to_string().to_uppercase());
    let now = now_unix_ms();
    let rec = SessionRecord {
        id: id.clone(),
        url_path: path.to_string(),
        dest,
        total: None,
        received: 0,
        client,
        created_unix_ms: now,
        last_activity_unix_ms: now,
        reply_route,
        reply: None,
        query,
    };
    // [W32-IISPROPS] BITSNumberOfSessionsLimit: per-user session cap.
    // bitsim refuses the new session (503, transient for the client) rather
    // than silently dropping an old one. Expired sessions do not count,
    // swept or not.
    let cap = SessionCap {
        max_per_client: ctx.cfg.max_sessions_per_client,
        live_after_ms: live_after_ms(ctx),
    };
    let c = ctx.clone();
    match blocking(move || c.sessions.create(rec, cap)).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return ack_error(
                &Error::protocol(
                    StatusCode::SERVICE_UNAVAILABLE,
                    E_TOO_MANY_SESSIONS,
                    format!(
                        "per-client session limit reached ({} live sessions)",
                        ctx.cfg.max_sessions_per_client
                    ),
                ),
                None,
            );
        }
        Err(e) => return ack_error(&Error::from_io(&e), None),
    }
    tracing::info!(session = %id, "session created");
    // [MC-BUP] 2.2.3.2 / [W32-ACKCS]: BITS-Protocol, BITS-Session-Id,
    // Accept-Encoding: identity (IIS sends lower case).
    let mut b = ack(StatusCode::OK)
        .header(
            "BITS-Protocol",
            p.protocol.unwrap_or(parse::BITS_1_5_PROTOCOL),
        )
        .header("BITS-Session-Id", id)
        .header(header::ACCEPT_ENCODING, "identity");
    // [W32-ACKCS]: BITS-Host-Id (+ fallback timeout) only when configured.
    if let Some(h) = ctx
        .cfg
        .host_id
        .as_deref()
        .and_then(|h| HeaderValue::from_str(h).ok())
    {
        b = b.header("BITS-Host-Id", h);
        if let Some(t) = ctx.cfg.host_id_fallback_timeout_secs {
            b = b.header("BITS-Host-Id-Fallback-Timeout", t.to_string());
        }
    }
    finish(b)
}

/// Looks the session up and locks it; `Err` is the Ack to send.
/// Finds and locks the session a Fragment, Close-Session or
/// Cancel-Session names, sent to the request path `path`.
async fn lock_session(
    ctx: &Arc<Ctx>,
    id: &str,
    path: &str,
) -> Result<(Arc<Session>, tokio::sync::OwnedMutexGuard<SessionState>), Response<ResBody>> {
    let not_found = || ack_error(&Error::session_not_found(id), Some(id));
    let Some(s) = ctx.sessions.get(id) else {
        return Err(not_found());
    };
    let st = s.state.clone().lock_owned().await;
    if st.gone {
        return Err(not_found());
    }
    // A session belongs to the URL it was created for. [MC-BUP] does not
    // say what a packet naming it at another URL gets (a BITS client never
    // sends one); bitsim's choice (README, "Decisions"): not found, so a
    // client bug cannot publish to the wrong file. Compared decoded, so
    // two spellings of one path are the same URL.
    let same_url = s
        .url_parts
        .as_ref()
        .is_some_and(|url| paths::decode_request_path(path).is_ok_and(|p| p == *url));
    if !same_url {
        return Err(ack_error(
            &Error::protocol(
                StatusCode::INTERNAL_SERVER_ERROR,
                BG_E_SESSION_NOT_FOUND,
                format!(
                    "session {id:?} belongs to {:?}, not to {path:?}",
                    st.rec.url_path
                ),
            ),
            Some(id),
        ));
    }
    if expired(ctx, st.rec.last_activity_unix_ms) {
        let mut st = st;
        st.gone = true;
        remove_session(ctx, &s.key, &st).await;
        return Err(not_found());
    }
    Ok((s, st))
}

async fn remove_session(ctx: &Arc<Ctx>, key: &str, st: &SessionState) {
    let reply = st.rec.reply.as_ref().and_then(|r| r.file.clone());
    let key = key.to_string();
    let c = ctx.clone();
    let _ = blocking(move || {
        c.sessions.remove(&key, reply.as_deref());
        Ok(())
    })
    .await;
}

fn received_ack(status: StatusCode, st: &SessionState) -> http::response::Builder {
    // [W32-ACKFRAG]; [MC-BUP] 2.2.7.2: BITS-Received-Content-Range = next
    // expected byte, a bare decimal, on every fragment Ack (also 416).
    ack(status)
        .header("BITS-Session-Id", st.rec.id.as_str())
        .header("BITS-Received-Content-Range", st.rec.received.to_string())
}

/// An error Ack to a Fragment of a known session: it carries the next
/// expected byte too, like every Fragment Ack.
// [MC-BUP] 2.2.7.2; [W32-ACKFRAG]: BITS-Received-Content-Range on every
// fragment Ack, so the client knows where to resume.
fn frag_error(e: &Error, id: &str, received: u64) -> Response<ResBody> {
    let mut r = ack_error(e, Some(id));
    r.headers_mut()
        .insert("BITS-Received-Content-Range", HeaderValue::from(received));
    r
}

fn with_reply_url(b: http::response::Builder, st: &SessionState) -> http::response::Builder {
    // [MC-BUP] 2.2.7.2: BITS-Reply-URL only in upload-reply mode, on the Ack
    // of the fragment that completes the upload.
    match st.rec.reply.as_ref() {
        Some(r) if st.rec.reply_route.is_some() => b.header("BITS-Reply-URL", r.url.as_str()),
        _ => b,
    }
}

async fn fragment(
    ctx: &Arc<Ctx>,
    body: Incoming,
    path: &str,
    p: &BitsRequest,
    fx: &Effects,
    host: &str,
) -> Res {
    let (Some(id), Some(range)) = (p.session_id.as_deref(), p.range) else {
        return Ok(ack_error(
            &Error::invalid_arg("missing session or range"),
            None,
        ));
    };
    let (sess, mut st) = match lock_session(ctx, id, path).await {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    let span = tracing::info_span!("session", id = %st.rec.id);
    async move {
        // However this fragment ends, its in-flight count ends with it.
        let _reset = ZeroOnDrop(&sess.live.fragment_bytes);
        // [MC-BUP] 2.2.1.2; [W32-FRAG]: the total may not change between fragments.
        if let Some(t) = st.rec.total
            && t != range.total {
                return Ok(frag_error(
                    &Error::invalid_arg("total length changed between fragments"),
                    &st.rec.id,
                    st.rec.received,
                ));
            }
        // [MC-BUP] 2.2.1.2: entity bigger than the server accepts → 500 + BG_E_TOO_LARGE.
        if range.total > ctx.cfg.max_upload_size {
            return Ok(frag_error(
                &Error::protocol(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    BG_E_TOO_LARGE,
                    format!("upload of {} bytes exceeds max_upload_size", range.total),
                ),
                &st.rec.id,
                st.rec.received,
            ));
        }
        // [MC-BUP] 3.1.5.1.7: fragment too big → 413; the client shrinks.
        if ctx.cfg.max_fragment_size.is_some_and(|m| range.len() > m) {
            return Ok(frag_error(
                &Error::protocol(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    BG_E_TOO_LARGE,
                    format!("fragment of {} bytes exceeds max_fragment_size", range.len()),
                ),
                &st.rec.id,
                st.rec.received,
            ));
        }
        let expected = st.rec.received;
        // [MC-BUP] 3.2.5.2.6; [W32-ACKFRAG]: a gap → 416 + the next expected
        // offset. In strict mode any start ≠ expected gets 416.
        if range.start > expected || (ctx.cfg.strict_fragments && range.start != expected) {
            tracing::info!(start = range.start, expected, "fragment out of sync: 416");
            let why = format!(
                "fragment starts at byte {} but the server expects byte {expected}",
                range.start
            );
            return Ok(finish(
                received_ack(StatusCode::RANGE_NOT_SATISFIABLE, &st)
                    .header(REASON_HEADER, reason_value(&why)),
            ));
        }
        let first_fragment = st.rec.total.is_none();
        st.rec.total = Some(range.total);
        if range.end < expected {
            // [W32-FRAG]: full duplicate: re-Ack the current offset. Drain
            // the body so the connection stays usable.
            let _ = drain(body, ctx.cfg.body_idle_timeout_secs).await;
            if let Err(r) = complete_if_done(ctx, &mut st, host).await {
                return Ok(r);
            }
            return Ok(finish(with_reply_url(received_ack(StatusCode::OK, &st), &st)));
        }
        if fx.disk_full {
            // Fault injection: simulated ENOSPC. [MC-BUP] 2.2.1.2: 500 + 0x80070112.
            return Ok(frag_error(
                &Error::protocol(StatusCode::INTERNAL_SERVER_ERROR, E_DISK_FULL, "disk full (fault)"),
                &st.rec.id,
                st.rec.received,
            ));
        }
        // Overlap: [W32-FRAG]: IIS writes only the new tail, e.g. after
        // 0–100 a fragment 50–150 contributes 101–150.
        let skip = expected - range.start;
        let (file, progress) = match open_files(ctx, &sess.key, &mut st).await {
            Ok(f) => f,
            Err(e) => return Ok(frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received)),
        };
        let (offset, last_batch) =
            match stream_to_file(ctx, body, Writer::new(file.clone(), expected, ctx.cfg.fsync), skip, range.len(), fx, &sess.live.fragment_bytes).await {
                Ok(x) => x,
                Err(StreamError::Io(e)) => {
                    return Ok(frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received));
                }
                Err(StreamError::Dropped(why)) => {
                    // The session stays at `expected`: bytes past it on disk are
                    // ignored and will be overwritten by the resent fragment.
                    tracing::info!(why = %why, received = expected, "fragment body incomplete; session unchanged");
                    return Err(DropConnection(why));
                }
            };
        // One trip to the blocking pool: the last batch, fdatasync of the
        // data, then the progress slot. The slot is written only after the
        // bytes it claims are durable, so every version of it that can ever
        // reach the disk is true; it needs no fsync of its own (a power cut
        // may at worst bring back an older slot: the client then resends
        // from that offset, [MC-BUP] 3.1.5.1.4, and no byte is lost). After
        // `kill -9` the page cache keeps the newest slot.
        let mut next = st.rec.clone();
        next.received = range.end + 1;
        next.last_activity_unix_ms = now_unix_ms();
        let seq = st.seq + 1;
        let fsync = ctx.cfg.fsync;
        let rec = next.clone();
        let tail = move || {
            let mut off = offset;
            for b in &last_batch {
                write_at(&file, b, off)?;
                off += b.len() as u64;
            }
            if fsync {
                file.sync_data()?;
            }
            crate::session::write_progress(&progress, seq, &rec, false)
        };
        // Without fsync the tail is at most WRITE_BATCH bytes copied into the
        // page cache (tens of microseconds): doing it on the worker avoids a
        // blocking-pool round trip that cost more than the write itself
        // (64 KiB fragments went from ~260 to ~620 MiB/s in the benchmark).
        // An fdatasync runs on the worker only when `inline_sync` is on and
        // the process's one sync slot is free (see `SyncSlot`), otherwise
        // on the blocking pool.
        let slot = if fsync && ctx.cfg.inline_sync {
            SyncSlot::take(&SYNC_SLOT)
        } else {
            None
        };
        let r = if !fsync || slot.is_some() {
            tail()
        } else {
            // The session lock travels with the sync and comes back with
            // it: if this request is dropped meanwhile (the client went
            // away), the lock is released only after the progress slot is
            // written, so a resent fragment never races this one's slot.
            let id = st.rec.id.clone();
            match blocking(move || Ok((tail(), st))).await {
                Ok((r, back)) => {
                    st = back;
                    r
                }
                Err(e) => return Ok(frag_error(&Error::from_io(&e), &id, expected)),
            }
        };
        drop(slot);
        if let Err(e) = r {
            return Ok(frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received));
        }
        st.rec = next;
        st.seq = seq;
        sess.live.acknowledged(&st.rec);
        if first_fragment {
            tracing::info!(total = range.total, "first fragment");
        }
        tracing::debug!(received = st.rec.received, "fragment stored");
        if let Err(r) = complete_if_done(ctx, &mut st, host).await {
            return Ok(r);
        }
        Ok(finish(with_reply_url(received_ack(StatusCode::OK, &st), &st)))
    }
    .instrument(span)
    .await
}

/// In upload-reply mode, runs the server application once the last byte
/// is in and no reply exists yet (also on a resent last fragment after an
/// application failure: apps must tolerate duplicate notifications,
/// \[W32-IISPROPS\]).
async fn complete_if_done(
    ctx: &Arc<Ctx>,
    st: &mut SessionState,
    host: &str,
) -> Result<(), Response<ResBody>> {
    let Some(route) = st.rec.reply_route else {
        return Ok(());
    };
    if st.rec.total != Some(st.rec.received) || st.rec.reply.is_some() {
        return Ok(());
    }
    let data = ctx.sessions.data_path(&session_key(&st.rec.id));
    match crate::reply::run_app(ctx, route, &st.rec, &data, host).await {
        Ok(reply) => {
            st.rec.reply = Some(reply);
            if let Err(e) = persist(ctx, &st.rec).await {
                return Err(frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received));
            }
            Ok(())
        }
        Err(e) => Err(frag_error(&e, &st.rec.id, st.rec.received)),
    }
}

async fn persist(ctx: &Arc<Ctx>, rec: &SessionRecord) -> std::io::Result<()> {
    let c = ctx.clone();
    let rec = rec.clone();
    blocking(move || c.sessions.persist(&rec)).await
}

/// Permission to run one fragment's fdatasync on the async worker that
/// handles it instead of on the blocking pool; released on drop.
///
/// BITS allows one outstanding request per session (\[W32-UP\]:
/// the client sends the next fragment only after the Ack), so a fragment's
/// sync, its Ack and the next request are strictly serial. Handing the sync
/// to the blocking pool and back costs two cross-thread wake-ups per
/// fragment: on the development VM (2 vCPUs) the pool took 5–28 % longer
/// per 64 KiB fragment (`examples/config_ab.rs -- inline_sync`; README,
/// server benchmarks). `Config::inline_sync = false` turns this off.
///
/// Blocking a worker stalls the tasks queued behind it (a task in its
/// LIFO slot cannot even be stolen by another worker until the sync ends),
/// so the slot is bounded: one per process ([`SYNC_SLOT`], shared by every
/// server in it), and only on a multi-thread runtime with at least two
/// workers, so another worker always keeps serving. Concurrent fragments
/// find the slot taken and use the blocking pool as before, where their
/// syncs can run in parallel.
struct SyncSlot<'a>(&'a AtomicBool);

/// The process's one [`SyncSlot`].
static SYNC_SLOT: AtomicBool = AtomicBool::new(false);

impl<'a> SyncSlot<'a> {
    /// Takes the slot (`flag`) if it is free and the current runtime can
    /// spare a worker; `None` means "use the blocking pool".
    fn take(flag: &'a AtomicBool) -> Option<Self> {
        let rt = tokio::runtime::Handle::try_current().ok()?;
        if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread
            || rt.metrics().num_workers() < 2
        {
            return None;
        }
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        Some(SyncSlot(flag))
    }
}

impl Drop for SyncSlot<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The session's data and progress files, opened once per session.
async fn open_files(
    ctx: &Arc<Ctx>,
    key: &str,
    st: &mut SessionState,
) -> std::io::Result<(Arc<File>, Arc<File>)> {
    if let (Some(f), Some(p)) = (&st.file, &st.progress) {
        return Ok((f.clone(), p.clone()));
    }
    let (data, prog) = (ctx.sessions.data_path(key), ctx.sessions.progress_path(key));
    let (f, p) = blocking(move || {
        let open = |p: PathBuf| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
        };
        Ok((open(data)?, open(prog)?))
    })
    .await?;
    let (f, p) = (Arc::new(f), Arc::new(p));
    st.file = Some(f.clone());
    st.progress = Some(p.clone());
    Ok((f, p))
}

enum StreamError {
    Io(std::io::Error),
    Dropped(String),
}

/// Writes batches of body frames at increasing offsets with at most one
/// batch in flight on the blocking pool, so reading the network and
/// writing the disk overlap. Frames are written as received (no copy).
struct Writer {
    file: Arc<File>,
    offset: u64,
    /// Start writeback early (with `fsync`): see [`WRITEBACK_EVERY`].
    writeback: bool,
    /// Start of the written bytes whose writeback has not been started.
    unflushed_from: u64,
    inflight: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Writer {
    /// Writes to `file` from `offset` on; `writeback` as [`Writer::writeback`].
    fn new(file: Arc<File>, offset: u64, writeback: bool) -> Self {
        Writer {
            file,
            offset,
            writeback,
            unflushed_from: offset,
            inflight: None,
        }
    }

    async fn wait(&mut self) -> std::io::Result<()> {
        match self.inflight.take() {
            Some(h) => h.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    async fn push(&mut self, batch: Vec<Bytes>) -> std::io::Result<()> {
        self.wait().await?;
        let len: u64 = batch.iter().map(|b| b.len() as u64).sum();
        if len == 0 {
            return Ok(());
        }
        let (f, mut off) = (self.file.clone(), self.offset);
        self.offset += len;
        let flush = (self.writeback && self.offset - self.unflushed_from >= WRITEBACK_EVERY)
            .then(|| (self.unflushed_from, self.offset - self.unflushed_from));
        if flush.is_some() {
            self.unflushed_from = self.offset;
        }
        self.inflight = Some(tokio::task::spawn_blocking(move || {
            for b in &batch {
                write_at(&f, b, off)?;
                off += b.len() as u64;
            }
            if let Some((start, n)) = flush {
                start_writeback(&f, start, n);
            }
            Ok(())
        }));
        Ok(())
    }
}

/// Asks the kernel to start writing `len` bytes at `off` to the disk now,
/// without waiting for it (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`;
/// man 2 sync_file_range). The fdatasync before the Ack then finds most of
/// a large fragment already on its way to the disk instead of flushing all
/// of it after the last byte arrived: disk and network overlap. It changes
/// no durability guarantee (the fdatasync still decides), so it is a hint
/// only: errors are ignored (the fdatasync reports real ones), and on
/// other systems it does nothing.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn start_writeback(f: &File, off: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(len)) = (i64::try_from(off), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the fd is
    // open for the duration of the call because `f` is borrowed.
    let _ = unsafe { libc::sync_file_range(f.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_f: &File, _off: u64, _len: u64) {}

/// Streams a fragment body to the data file with positional writes in
/// batches of [`WRITE_BATCH`] bytes: memory stays flat in the upload size.
/// Returns the offset after the written batches and the last, unwritten
/// batch (at most [`WRITE_BATCH`] bytes).
/// Every exit path waits for the in-flight write, so no stale write can
/// land after the session lock is released; only a request dropped while
/// a batch is in flight (the client went away) can leave one running, and
/// it writes the bytes a resend carries at the offsets it writes them to,
/// never the progress slot.
async fn stream_to_file(
    ctx: &Arc<Ctx>,
    body: Incoming,
    mut w: Writer,
    skip: u64,
    expect_len: u64,
    fx: &Effects,
    seen_now: &AtomicU64,
) -> Result<(u64, Vec<Bytes>), StreamError> {
    let r = stream_batches(ctx, body, &mut w, skip, expect_len, fx, seen_now).await;
    let done = w.wait().await;
    let last = r?;
    done.map_err(StreamError::Io)?;
    Ok((w.offset, last))
}

async fn stream_batches(
    ctx: &Arc<Ctx>,
    mut body: Incoming,
    w: &mut Writer,
    mut skip: u64,
    expect_len: u64,
    fx: &Effects,
    seen_now: &AtomicU64,
) -> Result<Vec<Bytes>, StreamError> {
    let idle = Duration::from_secs(ctx.cfg.body_idle_timeout_secs.max(1));
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batch_len = 0usize;
    let mut seen: u64 = 0;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(StreamError::Dropped("request body stalled".into())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(StreamError::Dropped(format!("body error: {e}"))),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if let Some(limit) = fx.drop_after_bytes {
            let left = limit.saturating_sub(seen);
            if (data.len() as u64) >= left {
                data.truncate(usize::try_from(left).unwrap_or(0));
                // Write what arrived (as a real drop would) and then drop.
                batch.push(skip_prefix(data, &mut skip));
                w.push(batch).await.map_err(StreamError::Io)?;
                return Err(StreamError::Dropped(
                    "fault: connection dropped mid-body".into(),
                ));
            }
        }
        seen += data.len() as u64;
        seen_now.store(seen, Ordering::Relaxed);
        if let Some(bps) = fx.bandwidth_bps {
            body::throttle(data.len() as u64, bps).await;
        }
        let data = skip_prefix(data, &mut skip);
        batch_len += data.len();
        batch.push(data);
        if batch_len >= WRITE_BATCH {
            w.push(std::mem::take(&mut batch))
                .await
                .map_err(StreamError::Io)?;
            batch_len = 0;
        }
    }
    if seen != expect_len {
        return Err(StreamError::Dropped(format!(
            "body ended after {seen} of {expect_len} bytes"
        )));
    }
    // The caller writes the last batch together with the progress record.
    Ok(batch)
}

/// Sets a counter to 0 when dropped.
struct ZeroOnDrop<'a>(&'a AtomicU64);

impl Drop for ZeroOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

fn skip_prefix(mut data: Bytes, skip: &mut u64) -> Bytes {
    if *skip == 0 {
        return data;
    }
    let n = usize::try_from((*skip).min(data.len() as u64)).unwrap_or(data.len());
    *skip -= n as u64;
    data.split_off(n)
}

async fn drain(mut body: Incoming, idle_secs: u64) -> Result<(), ()> {
    let idle = Duration::from_secs(idle_secs.max(1));
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(_))) => {}
            _ => return Err(()),
        }
    }
}

async fn close_session(
    ctx: &Arc<Ctx>,
    path: &str,
    p: &BitsRequest,
    cancel: bool,
) -> Response<ResBody> {
    let Some(id) = p.session_id.as_deref() else {
        return ack_error(&Error::invalid_arg("missing BITS-Session-Id"), None);
    };
    let (sess, st) = match lock_session(ctx, id, path).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let span = tracing::info_span!("session", id = %st.rec.id);
    close_locked(ctx, path, cancel, sess, st)
        .instrument(span)
        .await
}

async fn close_locked(
    ctx: &Arc<Ctx>,
    path: &str,
    cancel: bool,
    sess: Arc<Session>,
    mut st: tokio::sync::OwnedMutexGuard<SessionState>,
) -> Response<ResBody> {
    let complete = st.rec.total.is_some_and(|t| t == st.rec.received);
    let publish = !cancel
        && complete
        && match (&st.rec.reply_route, &st.rec.reply) {
            // Simple upload: publish. [MC-BUP] 3.2.5.2.7.
            (None, _) => true,
            // Upload-reply: only with BITS-Copy-File-To-Destination. [W32-NOTIFY].
            (Some(_), Some(r)) => r.copy_to_destination,
            (Some(_), None) => false,
        };
    if publish {
        // Re-check the destination: a symlink may have appeared since Create-Session.
        let dest = match paths::resolve(&ctx.root, &ctx.state_dir, path) {
            Ok(d) if d == st.rec.dest => d,
            Ok(_) => st.rec.dest.clone(),
            Err(e) => return ack_error(&e, Some(&st.rec.id)),
        };
        st.file = None;
        let data = ctx.sessions.data_path(&sess.key);
        let overwrite = ctx.cfg.allow_overwrite;
        let fsync = ctx.cfg.fsync;
        let tmp_name = format!(".bitsim-publish-{}", sess.key);
        let r = blocking(move || publish_file(&data, &dest, overwrite, fsync, &tmp_name)).await;
        if let Err(e) = r {
            let err = if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::protocol(StatusCode::CONFLICT, E_ACCESSDENIED, "destination exists")
            } else {
                Error::from_io(&e)
            };
            return ack_error(&err, Some(&st.rec.id));
        }
        tracing::info!(dest = %st.rec.dest.display(), bytes = st.rec.received, "upload published");
    } else if !cancel {
        // [W32-CLOSE]: Close before all bytes → temp data deleted, nothing published.
        tracing::info!(complete, "session closed without publishing");
    } else {
        // [MC-BUP] 3.2.5.2.8; [W32-CANCEL]: delete entity, reply and state.
        tracing::info!("session cancelled");
    }
    st.gone = true;
    remove_session(ctx, &sess.key, &st).await;
    finish(ack(StatusCode::OK).header("BITS-Session-Id", st.rec.id.as_str()))
}

/// Publishes `data` at `dest` atomically: a rename (overwrite allowed) or a
/// hard link + unlink (fails with `AlreadyExists` instead of replacing).
/// Across file systems the data is first copied next to `dest`.
fn publish_file(
    data: &Path,
    dest: &Path,
    overwrite: bool,
    fsync: bool,
    tmp_name: &str,
) -> std::io::Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    if fsync {
        File::open(data)?.sync_all()?;
    }
    let place = |src: &Path| -> std::io::Result<()> {
        if overwrite {
            std::fs::rename(src, dest)
        } else {
            std::fs::hard_link(src, dest)?;
            std::fs::remove_file(src)
        }
    };
    match place(data) {
        Ok(()) => {}
        // EXDEV: the state dir is on another file system.
        Err(e) if e.raw_os_error() == Some(18) => {
            let tmp = parent.join(tmp_name);
            std::fs::copy(data, &tmp)?;
            if fsync {
                File::open(&tmp)?.sync_all()?;
            }
            let r = place(&tmp);
            let _ = std::fs::remove_file(&tmp);
            r?;
            let _ = std::fs::remove_file(data);
        }
        Err(e) => return Err(e),
    }
    if fsync {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

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

fn json(status: StatusCode, v: &serde_json::Value) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(v.to_string()))
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// The control API under [`CONTROL_PREFIX`].
async fn control(
    ctx: &Arc<Ctx>,
    req: Request<Incoming>,
    peer: SocketAddr,
    path: &str,
) -> Response<ResBody> {
    let rest = path.strip_prefix(CONTROL_PREFIX).unwrap_or("");
    let method = req.method().clone();
    // Reply downloads are for every client, like IIS's BITS-Sessions\Replies.
    if let Some(key) = rest.strip_prefix("replies/") {
        if method != Method::GET && method != Method::HEAD {
            return json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "GET or HEAD"}),
            );
        }
        let fx = ctx.faults.take(path, method.as_str(), None);
        if let Some(d) = fx.delay {
            tokio::time::sleep(d).await;
        }
        let file = match ctx.sessions.get(key) {
            Some(s) => {
                let st = s.state.lock().await;
                // [W32-IISPROPS] BITSSessionTimeout: a session that timed
                // out takes its reply with it, swept yet or not.
                if st.gone || expired(ctx, st.rec.last_activity_unix_ms) {
                    None
                } else {
                    st.rec.reply.as_ref().and_then(|r| r.file.clone())
                }
            }
            None => None,
        };
        return match file {
            Some(f) => serve_file(&req, &f, &fx).await,
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "no such reply"}),
            ),
        };
    }
    if ctx.cfg.control.disabled {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "control API disabled"}),
        );
    }
    if !ctx.cfg.control.allow_remote && !is_loopback_peer(peer) {
        return json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({"error": "control API is loopback-only"}),
        );
    }
    match (method.as_str(), rest) {
        ("GET", "health") => json(StatusCode::OK, &serde_json::json!({"ok": true})),
        ("GET", "sessions") => {
            let mut out = Vec::new();
            for s in ctx.sessions.all() {
                match s.state.try_lock() {
                    Ok(st) if !st.gone => out.push(serde_json::json!({
                        "id": st.rec.id,
                        "path": st.rec.url_path,
                        "total": st.rec.total,
                        "received": st.rec.received,
                        "fragment_bytes": 0,
                        "client": st.rec.client,
                        "created_unix_ms": st.rec.created_unix_ms,
                        "last_activity_unix_ms": st.rec.last_activity_unix_ms,
                        "reply_url": st.rec.reply.as_ref().map(|r| r.url.clone()),
                        "busy": false,
                    })),
                    Ok(_) => {}
                    // A request holds the session (a fragment arriving, a
                    // publish): what it has not committed is read from the
                    // lock-free copies; the record fields that need the lock
                    // are left out.
                    Err(_) => out.push(serde_json::json!({
                        "id": s.live.id,
                        "path": s.live.url_path,
                        "total": s.live.total(),
                        "received": s.live.received.load(Ordering::Relaxed),
                        "fragment_bytes": s.live.fragment_bytes.load(Ordering::Relaxed),
                        "client": s.client,
                        "busy": true,
                    })),
                }
            }
            json(StatusCode::OK, &serde_json::Value::Array(out))
        }
        ("GET", "faults") => json(
            StatusCode::OK,
            &serde_json::to_value(ctx.faults.list()).unwrap_or_default(),
        ),
        ("POST", "faults") => {
            let limited = http_body_util::Limited::new(req.into_body(), 64 * 1024);
            let bytes = match limited.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": e.to_string()}),
                    );
                }
            };
            let added = serde_json::from_slice::<crate::faults::FaultRule>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|rule| ctx.faults.add(rule).map_err(|e| e.to_string()));
            match added {
                Ok(id) => {
                    tracing::info!(id, "fault added");
                    json(StatusCode::CREATED, &serde_json::json!({"id": id}))
                }
                Err(e) => json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": e})),
            }
        }
        ("DELETE", "faults") => {
            ctx.faults.clear();
            json(StatusCode::OK, &serde_json::json!({"cleared": true}))
        }
        ("DELETE", r) if r.starts_with("faults/") => {
            let id = r.trim_start_matches("faults/").parse::<u64>().ok();
            if id.is_some_and(|id| ctx.faults.remove(id)) {
                json(StatusCode::OK, &serde_json::json!({"removed": id}))
            } else {
                json(
                    StatusCode::NOT_FOUND,
                    &serde_json::json!({"error": "no such fault"}),
                )
            }
        }
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "unknown control endpoint"}),
        ),
    }
}

/// Whether a peer is on this host: 127.0.0.0/8, `::1`, or an IPv4
/// loopback address seen through a dual-stack socket (`::ffff:127.0.0.1`,
/// what a `--listen [::]:PORT` server sees for `curl http://127.0.0.1:PORT`).
fn is_loopback_peer(peer: SocketAddr) -> bool {
    peer.ip().to_canonical().is_loopback()
}

/// Reply file path for a session.
pub(crate) fn reply_path(ctx: &Ctx, rec: &SessionRecord) -> PathBuf {
    ctx.replies_dir
        .join(format!("{}.reply", session_key(&rec.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_peers_include_v4_mapped_addresses() {
        for (addr, local) in [
            ("127.0.0.1:1", true),
            ("127.8.9.10:1", true),
            ("[::1]:1", true),
            ("[::ffff:127.0.0.1]:1", true),
            ("10.0.0.1:1", false),
            ("[::ffff:10.0.0.1]:1", false),
            ("[fe80::1]:1", false),
            ("[::]:1", false),
        ] {
            let peer: SocketAddr = addr.parse().unwrap();
            assert_eq!(is_loopback_peer(peer), local, "{addr}");
        }
    }

    #[test]
    fn sync_slot_is_lent_once_and_only_by_a_multi_thread_runtime() {
        let flag = AtomicBool::new(false);
        // No runtime, or one that has no worker to spare: blocking pool.
        assert!(SyncSlot::take(&flag).is_none());
        let one = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        one.block_on(async { assert!(SyncSlot::take(&flag).is_none()) });
        let single = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        single.block_on(async { assert!(SyncSlot::take(&flag).is_none()) });
        assert!(!flag.load(Ordering::SeqCst));

        let two = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        two.block_on(async {
            let slot = SyncSlot::take(&flag).expect("free slot");
            // Taken: a concurrent fragment goes to the blocking pool.
            assert!(SyncSlot::take(&flag).is_none());
            drop(slot);
            // Released on drop, also when the sync failed or panicked.
            let r = std::panic::catch_unwind(|| {
                let _slot = SyncSlot::take(&flag).expect("free again");
                panic!("sync panicked");
            });
            assert!(r.is_err());
            assert!(SyncSlot::take(&flag).is_some());
        });
        assert!(!flag.load(Ordering::SeqCst));
    }
}
