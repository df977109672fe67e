//! Uploads as the \[MC-BUP\] client (section 3.1): Ping when resuming a
//! session, Create-Session, Fragments whose next offset always comes from
//! `BITS-Received-Content-Range`, Close-Session; and Cancel-Session.

use std::path::Path;

use bitsim_model::{ErrorContext, FileRef, Hresult, TransferError};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use bitsim_wire::{ContentRange, PacketType, header};

use super::http::{ReqBody, USER_AGENT, drain, empty, full, header_str};
use super::{Ev, Task, UploadStamp};

/// The only upload protocol ever defined, "BITS 1.5 Upload Protocol"
/// [MCBUP-1.7.1] \[W32-CS\] (`bitsim_wire::BITS_1_5_PROTOCOL`).
pub const PROTOCOL_GUID: &str = bitsim_wire::BITS_1_5_PROTOCOL;

/// 413 never shrinks a fragment below 5 KB [MCBUP-3.1.5.1.7] [MCBUP-6 <10>].
pub const MIN_FRAGMENT: u64 = 5 * 1024;

/// Fragments in a row whose Acks do not move the server's offset past the
/// best one seen before the attempt fails (guards against a server that
/// keeps answering 200/416 without accepting bytes; the docs give no number).
const MAX_STALLED_FRAGMENTS: u32 = 20;

/// New sessions tried in one attempt after `BG_E_SESSION_NOT_FOUND`
/// before the error is reported (the docs give no number).
const MAX_NEW_SESSIONS: u32 = 3;

const FILE0: FileRef = FileRef::File(0);

/// `BITS_POST` ([MCBUP-2.2.1]).
fn bits_post() -> Method {
    Method::from_bytes(bitsim_wire::packet::BITS_POST.as_bytes()).unwrap_or(Method::POST)
}

fn request(
    url: &str,
    packet: PacketType,
    session: Option<&str>,
    extra: &[(&str, String)],
    body: ReqBody,
    len: u64,
) -> Result<Request<ReqBody>, TransferError> {
    let mut b = Request::builder()
        .method(bits_post())
        .uri(url)
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::ACCEPT, "*/*")
        .header(header::PACKET_TYPE, packet.as_str())
        // [MCBUP-2.2.1]: Content-Length on every request.
        .header(http::header::CONTENT_LENGTH, len.to_string());
    if let Some(s) = session {
        b = b.header(header::SESSION_ID, s);
    }
    for (k, v) in extra {
        b = b.header(*k, v.as_str());
    }
    b.body(body).map_err(|_| {
        TransferError::new(Hresult::E_INVALIDARG, ErrorContext::RemoteFile, Some(FILE0))
    })
}

/// The error an Ack reports: `BITS-Error-Code` (or the spec's
/// `BITS-Error`, [MCBUP-2.2.1.2]) when present, else `0x80190000 +
/// status` \[RETVALS\]; context 0x7 → REMOTE_APPLICATION, else REMOTE_FILE
/// [W32-ACK*] \[BGCTX\].
pub(crate) fn ack_error(resp: &Response<Incoming>, file: FileRef) -> TransferError {
    let h = resp.headers();
    let code = header_str(h, header::ERROR_CODE)
        .or_else(|| header_str(h, header::ERROR))
        .and_then(|v| header::parse_error_code(&v))
        .filter(|c| c.is_failure())
        .unwrap_or_else(|| Hresult::http(resp.status().as_u16()));
    let context = header::parse_error_context(header_str(h, header::ERROR_CONTEXT).as_deref());
    TransferError::new(code, context, Some(file))
}

fn session_not_found(resp: &Response<Incoming>) -> bool {
    ack_error(resp, FILE0).code == Hresult::BG_E_SESSION_NOT_FOUND
}

fn received(resp: &Response<Incoming>) -> Result<u64, TransferError> {
    // [MCBUP-2.2.7.2]: the next expected byte, a bare decimal.
    resp.headers()
        .get(header::RECEIVED_CONTENT_RANGE)
        .and_then(|v| header::parse_received_content_range(v.as_bytes()))
        .ok_or(TransferError::new(
            Hresult::BG_E_INVALID_SERVER_RESPONSE,
            ErrorContext::RemoteFile,
            Some(FILE0),
        ))
}

async fn create_session(t: &Task, url: &str) -> Result<String, TransferError> {
    // [MCBUP-2.2.2.2]: BITS-Supported-Protocols lists the protocol GUID.
    let req = request(
        url,
        PacketType::CreateSession,
        None,
        &[(header::SUPPORTED_PROTOCOLS, PROTOCOL_GUID.to_owned())],
        empty(),
        0,
    )?;
    let resp = t.http.send(req, FILE0).await?;
    let st = resp.status();
    if st != StatusCode::OK && st != StatusCode::CREATED {
        let e = ack_error(&resp, FILE0);
        drain(resp).await;
        return Err(e);
    }
    let id = header_str(resp.headers(), header::SESSION_ID).filter(|s| !s.is_empty());
    drain(resp).await;
    id.ok_or(TransferError::new(
        Hresult::BG_E_INVALID_SERVER_RESPONSE,
        ErrorContext::RemoteFile,
        Some(FILE0),
    ))
}

/// Sends a packet without body and returns the response status and the
/// error it carried.
async fn simple_packet(
    t: &Task,
    url: &str,
    packet: PacketType,
    session: &str,
) -> Result<(StatusCode, TransferError), TransferError> {
    let req = request(url, packet, Some(session), &[], empty(), 0)?;
    let resp = t.http.send(req, FILE0).await?;
    let st = resp.status();
    let e = ack_error(&resp, FILE0);
    drain(resp).await;
    Ok((st, e))
}

fn local_error(e: &std::io::Error) -> TransferError {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => Hresult::E_FILE_NOT_FOUND_WIN32,
        std::io::ErrorKind::PermissionDenied => Hresult::E_ACCESSDENIED,
        _ => Hresult::E_FAIL,
    };
    TransferError::new(code, ErrorContext::LocalFile, Some(FILE0))
}

fn stamp_of(path: &Path) -> Result<UploadStamp, TransferError> {
    let m = std::fs::metadata(path).map_err(|e| local_error(&e))?;
    let mtime_ms = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64);
    Ok(UploadStamp {
        size: m.len(),
        mtime_ms,
    })
}

async fn read_at(path: &Path, offset: u64, len: u64) -> Result<Bytes, TransferError> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&path)?;
        f.seek(std::io::SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf)?;
        Ok::<_, std::io::Error>(Bytes::from(buf))
    })
    .await
    .map_err(|_| TransferError::new(Hresult::E_FAIL, ErrorContext::LocalFile, Some(FILE0)))?
    .map_err(|e| local_error(&e))
}

/// What the upload of file 0 ended with.
pub(crate) struct Uploaded {
    /// `BITS-Reply-URL` of the last Ack (upload-reply jobs).
    pub reply_url: Option<String>,
}

/// Tells the driver the server lost the session: no session id is kept
/// and the file's progress starts again from 0 (its size is unchanged).
fn forget_session(t: &Task, size: u64) {
    t.send(Ev::Session(None));
    t.send(Ev::FileReset(FILE0));
    t.send(Ev::Size(FILE0, size));
}

/// Uploads `local` to `url` from `offset`, reusing `session` if the last
/// attempt left one. For upload-reply jobs the session stays open (the
/// reply must be downloaded before Close-Session \[W32-CLOSE\]).
pub(crate) async fn upload(
    t: &Task,
    url: &str,
    local: &Path,
    offset: u64,
    mut session: Option<String>,
    stamp: Option<UploadStamp>,
    reply_mode: bool,
) -> Result<Uploaded, TransferError> {
    let now_stamp = stamp_of(local)?;
    // [CONSIST] [RETVALS]: the upload source must not change during the
    // transfer → BG_E_LOCAL_FILE_CHANGED (fatal).
    if stamp.is_some_and(|s| s != now_stamp) {
        return Err(TransferError::new(
            Hresult::BG_E_LOCAL_FILE_CHANGED,
            ErrorContext::LocalFile,
            Some(FILE0),
        ));
    }
    t.send(Ev::UploadStamp(now_stamp));
    let size = now_stamp.size;
    let content_name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    t.send(Ev::Size(FILE0, size));

    let mut new_sessions = 0u32;
    let mut next = offset.min(size);
    if let Some(s) = session.as_deref() {
        // [MCBUP-6 <9>]: Windows PINGs whenever it resumes an interrupted session.
        let (st, e) = simple_packet(t, url, PacketType::Ping, s).await?;
        if st != StatusCode::OK {
            return Err(e);
        }
    }
    'session: loop {
        let sid = match session.clone() {
            Some(s) => s,
            None => {
                let s = create_session(t, url).await?;
                t.send(Ev::Session(Some(s.clone())));
                s
            }
        };
        t.send(Ev::Connected);
        let mut frag = t.cfg.upload_fragment.max(MIN_FRAGMENT);
        let mut reply_url = None;
        // After a crash between the last Ack and FileDone the model may
        // already count every byte: resend the last byte so the server
        // Acks again (with the reply URL in upload-reply mode).
        if size > 0 && next >= size {
            next = size - 1;
        }
        let mut best = next;
        let mut stalled = 0u32;
        while next < size {
            if stalled > MAX_STALLED_FRAGMENTS {
                return Err(TransferError::new(
                    Hresult::BG_E_INVALID_SERVER_RESPONSE,
                    ErrorContext::RemoteFile,
                    Some(FILE0),
                ));
            }
            stalled += 1;
            let len = frag.min(size - next);
            let data = read_at(local, next, len).await?;
            let req = request(
                url,
                PacketType::Fragment,
                Some(&sid),
                &[
                    // [W32-FRAG]: bytes S-E/T, end inclusive, T the whole size.
                    (
                        "content-range",
                        ContentRange {
                            start: next,
                            end: next + len - 1,
                            total: size,
                        }
                        .to_string(),
                    ),
                    (header::CONTENT_NAME, content_name.clone()),
                ],
                full(data),
                len,
            )?;
            let resp = t.http.send(req, FILE0).await?;
            match resp.status() {
                StatusCode::OK | StatusCode::CREATED => {
                    // [MCBUP-3.1.5.1.4]: on 200 the next offset is
                    // BITS-Received-Content-Range, whatever we sent.
                    next = received(&resp)?.min(size);
                    if next > best {
                        best = next;
                        stalled = 0;
                    }
                    reply_url = header_str(resp.headers(), header::REPLY_URL);
                    drain(resp).await;
                    t.send(Ev::Progress(FILE0, next, size));
                }
                StatusCode::RANGE_NOT_SATISFIABLE => {
                    // [MCBUP-3.1.5.2.4] [W32-ACKFRAG]: on 416 too.
                    next = received(&resp)?.min(size);
                    drain(resp).await;
                }
                StatusCode::PAYLOAD_TOO_LARGE if frag > MIN_FRAGMENT => {
                    // [MCBUP-3.1.5.1.7]: 413 → smaller fragments, never below 5 KB.
                    drain(resp).await;
                    frag = (frag / 2).max(MIN_FRAGMENT);
                    tracing::info!(frag, "413: fragment halved");
                }
                _ if session_not_found(&resp) && new_sessions < MAX_NEW_SESSIONS => {
                    // [MCBUP-2.2.1.2]: BG_E_SESSION_NOT_FOUND → restart with
                    // a new Create-Session; the server kept nothing.
                    drain(resp).await;
                    new_sessions += 1;
                    (session, next) = (None, 0);
                    forget_session(t, size);
                    continue 'session;
                }
                _ => {
                    let e = ack_error(&resp, FILE0);
                    drain(resp).await;
                    return Err(e);
                }
            }
        }
        if reply_mode {
            // [MCBUP-3.1.5.2.4]: upload-reply with no BITS-Reply-URL on the
            // final Ack is an error.
            let Some(r) = reply_url else {
                tracing::warn!(
                    %url,
                    "upload-reply: the server's last Ack carries no BITS-Reply-URL, so it \
                     passed the upload to no application; is the URL routed to one? \
                     (bitsim serve: a [[reply]] prefix in its --config)"
                );
                return Err(TransferError::new(
                    Hresult::BG_E_INVALID_SERVER_RESPONSE,
                    ErrorContext::RemoteFile,
                    Some(FILE0),
                ));
            };
            // [MCBUP-2.2.7.2]: the reply URL may be relative to the upload
            // URL; one that does not resolve is an invalid answer.
            let r = bitsim_wire::resolve::resolve(url, &r).map_err(|e| {
                tracing::warn!(%url, reply_url = %r, "BITS-Reply-URL does not resolve: {e}");
                TransferError::new(
                    Hresult::BG_E_INVALID_SERVER_RESPONSE,
                    ErrorContext::RemoteFile,
                    Some(FILE0),
                )
            })?;
            return Ok(Uploaded { reply_url: Some(r) });
        }
        let (st, e) = simple_packet(t, url, PacketType::CloseSession, &sid).await?;
        if st.is_success() {
            t.send(Ev::Session(None));
            return Ok(Uploaded { reply_url: None });
        }
        if e.code == Hresult::BG_E_SESSION_NOT_FOUND && new_sessions < MAX_NEW_SESSIONS {
            // The session vanished before it was published: start over.
            new_sessions += 1;
            (session, next) = (None, 0);
            forget_session(t, size);
            continue 'session;
        }
        // [W32-ACKCLOSE]: 5xx is retried (transient by the model's rule).
        return Err(e);
    }
}

/// Close-Session after the reply was downloaded \[W32-CLOSE\].
pub(crate) async fn close(t: &Task, url: &str, session: &str) -> Result<(), TransferError> {
    let (st, e) = simple_packet(t, url, PacketType::CloseSession, session).await?;
    // [W32-ACKCLOSE]: BG_E_SESSION_NOT_FOUND is not retried: the reply is
    // already here, so the job is done.
    if st.is_success() || e.code == Hresult::BG_E_SESSION_NOT_FOUND {
        return Ok(());
    }
    Err(e)
}

/// Cancel-Session \[W32-CANCEL\]. \[W32-ACKCANCEL\]: retried on 5xx unless
/// the error is `BG_E_SESSION_NOT_FOUND`, never on 1xx-4xx; here up to 3
/// tries one second apart (the docs give no number), then only logged.
pub(crate) async fn cancel(t: &Task, url: &str, session: &str) {
    for attempt in 1..=3 {
        match simple_packet(t, url, PacketType::CancelSession, session).await {
            Ok((st, e)) if st.is_server_error() && e.code != Hresult::BG_E_SESSION_NOT_FOUND => {
                tracing::warn!(status = %st, attempt, "Cancel-Session failed; retrying");
            }
            Ok((st, _)) => {
                tracing::info!(status = %st, "Cancel-Session acknowledged");
                return;
            }
            Err(e) => tracing::warn!(code = %e.code, attempt, "Cancel-Session failed"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
