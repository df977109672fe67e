//! The \[MC-BUP\] packets: Create-Session, Fragment, Close-Session and
//! Cancel-Session.

use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use tracing::Instrument;

use super::fragment::{self, Decision};
use super::writer::{StreamError, Writer, ZeroOnDrop, drain, open_files, stream_to_file};
use super::{BodySlot, REASON_HEADER, Res, ack, ack_error, blocking, finish, reason_value};
use crate::body::ResBody;
use crate::error::{BG_E_SESSION_NOT_FOUND, E_ACCESSDENIED, E_TOO_MANY_SESSIONS, Error};
use crate::faults::Effects;
use crate::parse::{self, BitsRequest, PacketType};
use crate::paths;
use crate::server::{Ctx, DropConnection, expired, live_after_ms};
use crate::session::{
    Session, SessionCap, SessionRecord, SessionState, now_unix_ms, session_key, write_at,
};

pub(super) async fn bits(
    ctx: &Arc<Ctx>,
    req: &Request<()>,
    body: &mut BodySlot,
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
        PacketType::Fragment => fragment(ctx, body, path, &parsed, fx, &host).await,
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
    body: &mut BodySlot,
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
        let expected = st.rec.received;
        let at = fragment::Progress {
            total: st.rec.total,
            received: expected,
        };
        let limits = fragment::Limits {
            max_upload_size: ctx.cfg.max_upload_size,
            max_fragment_size: ctx.cfg.max_fragment_size,
            strict: ctx.cfg.strict_fragments,
        };
        let skip = match fragment::decide(at, range, limits, fx.disk_full) {
            Decision::Refuse(e) => return Ok(frag_error(&e, &st.rec.id, expected)),
            Decision::Gap { start, expected } => {
                tracing::info!(start, expected, "fragment out of sync: 416");
                let why =
                    format!("fragment starts at byte {start} but the server expects byte {expected}");
                return Ok(finish(
                    received_ack(StatusCode::RANGE_NOT_SATISFIABLE, &st)
                        .header(REASON_HEADER, reason_value(&why)),
                ));
            }
            Decision::Duplicate => {
                st.rec.total = Some(range.total);
                // Drain the body so the connection stays usable.
                if let Some(b) = body.take() {
                    let _ = drain(b, ctx.cfg.body_idle_timeout_secs).await;
                }
                if let Err(r) = complete_if_done(ctx, &mut st, host).await {
                    return Ok(r);
                }
                return Ok(finish(with_reply_url(received_ack(StatusCode::OK, &st), &st)));
            }
            Decision::Write { skip } => skip,
        };
        let first_fragment = st.rec.total.is_none();
        st.rec.total = Some(range.total);
        let (file, progress) = match open_files(ctx, &sess.key, &mut st).await {
            Ok(f) => f,
            Err(e) => return Ok(frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received)),
        };
        let Some(body) = body.take() else {
            return Err(DropConnection("request body already taken".into()));
        };
        let (offset, last_batch) =
            match stream_to_file(ctx, body, Writer::new(file.clone(), expected, ctx.cfg.durability.syncs()), skip, range.len(), fx, &sess.live.fragment_bytes).await {
                Ok(x) => x,
                Err(StreamError::Io(e)) => {
                    // The rest of the body is gone with the stream: the
                    // connection cannot carry another request.
                    let mut r = frag_error(&Error::from_io(&e), &st.rec.id, st.rec.received);
                    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                    return Ok(r);
                }
                Err(StreamError::Dropped(why)) => {
                    // The session stays at `expected`: bytes past it on disk are
                    // ignored and will be overwritten by the resent fragment.
                    tracing::info!(why = %why, received = expected, "fragment body incomplete; session unchanged");
                    return Err(DropConnection(why));
                }
            };
        // The last batch (at most WRITE_BATCH bytes, a page-cache copy of
        // tens of microseconds: cheaper on the worker than a trip to the
        // blocking pool), then, with `durability = "power-cut"`, the data
        // sync (group commit), then the progress slot. The slot is written
        // only after the bytes it claims are written (and, with power-cut,
        // durable), so every version of it that can reach the disk is true;
        // it needs no sync of its own (a power cut may at worst bring back
        // an older slot: the client then resends from that offset,
        // [MC-BUP] 3.1.5.1.4). After `kill -9` the page cache keeps the
        // newest slot. If the client goes away during the sync, this
        // future is dropped before the slot is written and the session
        // stays at `expected`.
        let mut next = st.rec.clone();
        next.received = range.end + 1;
        next.last_activity_unix_ms = now_unix_ms();
        let seq = st.seq + 1;
        let write_tail = || -> std::io::Result<()> {
            let mut off = offset;
            for b in &last_batch {
                write_at(&file, b, off)?;
                off += b.len() as u64;
            }
            Ok(())
        };
        if let Err(e) = write_tail() {
            return Ok(frag_error(&Error::from_io(&e), &st.rec.id, expected));
        }
        if ctx.cfg.durability.syncs()
            && let Err(e) = ctx.group_sync.sync(file.clone()).await
        {
            return Ok(frag_error(&Error::from_io(&e), &st.rec.id, expected));
        }
        if let Err(e) = crate::session::write_progress(&progress, seq, &next, false) {
            return Ok(frag_error(&Error::from_io(&e), &st.rec.id, expected));
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
        let fsync = ctx.cfg.durability.syncs();
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
