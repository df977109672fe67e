//! The control API under [`CONTROL_PREFIX`]: fault rules, sessions,
//! health, and reply downloads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;

use super::{BodySlot, CONTROL_PREFIX, serve_file};
use crate::body::{self, ResBody};
use crate::server::{Ctx, expired};

fn json(status: StatusCode, v: &serde_json::Value) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body::full(v.to_string()))
        .unwrap_or_else(|_| Response::new(body::empty()))
}

/// The control API under [`CONTROL_PREFIX`].
pub(super) async fn control(
    ctx: &Arc<Ctx>,
    req: &Request<()>,
    body: &mut BodySlot,
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
            Some(f) => serve_file(req, &f, &fx).await,
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
            let Some(b) = body.take() else {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": "no body"}),
                );
            };
            let limited = http_body_util::Limited::new(b, 64 * 1024);
            let bytes = match limited.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    // What is left of the body is unread: close.
                    let mut r = json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": e.to_string()}),
                    );
                    r.headers_mut()
                        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                    return r;
                }
            };
            let added = serde_json::from_slice::<crate::faults::FaultRule>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|rule| {
                    if rule.tls_cert.is_some() && !ctx.tls_faults {
                        Err("tls_cert needs a server with a self-signed certificate \
                             (--tls-self-signed)"
                            .to_string())
                    } else {
                        Ok(rule)
                    }
                })
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
}
