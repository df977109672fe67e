//! The HTTP client of the real-time transport: hyper 1.x over plain TCP,
//! with the BITS mapping of connection failures to HRESULTs.

use std::time::Duration;

use bitsim_model::{ErrorContext, FileRef, Hresult, TransferError};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::early_answer::EarlyAnswer;

/// The body type every request uses.
pub(crate) type ReqBody = BoxBody<Bytes, std::convert::Infallible>;

/// `User-Agent` sent on every request (the Windows client sends
/// `Microsoft BITS/<qmgr version>` [MCBUP-4.1]).
pub(crate) const USER_AGENT: &str = concat!("bitsim/", env!("CARGO_PKG_VERSION"));

/// Redirects followed before giving up (the docs give no number; WinHTTP's
/// default is 10).
const MAX_REDIRECTS: usize = 10;

/// A cloneable HTTP/1.1 client with a per-request timeout.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client<EarlyAnswer<HttpConnector>, ReqBody>,
    timeout: Duration,
}

/// An empty request body.
pub(crate) fn empty() -> ReqBody {
    Empty::new().boxed()
}

/// A request body holding `b`.
pub(crate) fn full(b: Bytes) -> ReqBody {
    Full::new(b).boxed()
}

impl Http {
    /// A client whose requests time out after `timeout` (the \[MC-BUP\] 3.6.2
    /// request/response timers are 5 minutes each).
    pub(crate) fn new(timeout: Duration) -> Http {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let client = Client::builder(TokioExecutor::new()).build(EarlyAnswer(connector));
        Http { client, timeout }
    }

    /// Sends one request; transport failures become the BITS codes.
    pub(crate) async fn send(
        &self,
        req: Request<ReqBody>,
        file: FileRef,
    ) -> Result<Response<Incoming>, TransferError> {
        match tokio::time::timeout(self.timeout, self.client.request(req)).await {
            Err(_) => Err(transport(Hresult::WININET_E_TIMEOUT, file)),
            Ok(Err(e)) => Err(transport(connect_code(&e), file)),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// `HEAD`/`GET` following redirects; returns the response and the URL
    /// that answered (\[W32-HTTPREQ\]: BITS follows redirects; the later
    /// ranged GETs go to the final URL).
    pub(crate) async fn get_following(
        &self,
        method: Method,
        url: &str,
        range: Option<(u64, u64)>,
        file: FileRef,
    ) -> Result<(Response<Incoming>, String), TransferError> {
        let mut url = url.to_owned();
        for _ in 0..=MAX_REDIRECTS {
            let uri: Uri = url.parse().map_err(|_| bad_url(file))?;
            let mut b = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header(http::header::USER_AGENT, USER_AGENT)
                .header(http::header::ACCEPT, "*/*");
            if let Some((s, e)) = range {
                b = b.header(http::header::RANGE, bitsim_wire::range::format_range(s, e));
            }
            let req = b.body(empty()).map_err(|_| bad_url(file))?;
            let resp = self.send(req, file).await?;
            if resp.status().is_redirection()
                && let Some(loc) = header_str(resp.headers(), "location")
            {
                // RFC 9110 10.2.2: Location may be relative to the
                // request's URL; one that does not resolve is an invalid
                // answer.
                drain(resp).await;
                url = bitsim_wire::resolve::resolve(&url, &loc).map_err(|_| {
                    TransferError::new(
                        Hresult::BG_E_INVALID_SERVER_RESPONSE,
                        ErrorContext::RemoteFile,
                        Some(file),
                    )
                })?;
                continue;
            }
            return Ok((resp, url));
        }
        Err(TransferError::new(
            Hresult::http(310),
            ErrorContext::RemoteFile,
            Some(file),
        ))
    }
}

/// A connection-level failure: transient, context GENERAL_TRANSPORT
/// (the BITS codes for these in \[RETVALS\]; the model classifies them
/// transient, decision A5).
pub(crate) fn transport(code: Hresult, file: FileRef) -> TransferError {
    TransferError::new(code, ErrorContext::GeneralTransport, Some(file))
}

fn bad_url(file: FileRef) -> TransferError {
    TransferError::new(Hresult::E_INVALIDARG, ErrorContext::RemoteFile, Some(file))
}

fn connect_code(e: &hyper_util::client::legacy::Error) -> Hresult {
    if e.is_connect() {
        let text = format!("{e:?}");
        if text.contains("dns error") || text.contains("failed to lookup") {
            return Hresult::WININET_E_NAME_NOT_RESOLVED;
        }
        if text.contains("unsupported scheme") || text.contains("invalid URL") {
            return Hresult::E_INVALIDARG;
        }
        return Hresult::BG_E_CONNECT_FAILURE;
    }
    Hresult::WININET_E_CONNECTION_RESET
}

/// A body read failure mid-transfer (connection dropped or reset).
pub(crate) fn body_error(file: FileRef) -> TransferError {
    transport(Hresult::WININET_E_CONNECTION_RESET, file)
}

/// An HTTP status as a BITS error: `BG_E_HTTP_ERROR_xxx` = 0x80190000 +
/// status \[RETVALS\]; the model classifies it (3xx/4xx/5xx rule of
/// \[SRVAPPERR\], decision A5).
pub(crate) fn status_error(status: StatusCode, file: FileRef) -> TransferError {
    TransferError::http(status.as_u16(), file)
}

/// A header's value as text.
pub(crate) fn header_str(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// Reads and discards a body (keeps the connection reusable).
pub(crate) async fn drain(resp: Response<Incoming>) {
    let mut body = resp.into_body();
    while let Some(Ok(_)) = body.frame().await {}
}

/// Resolves `reference` against `base` with `bitsim_wire::resolve`
/// (dot segments removed, `\` → `/`, braces percent-encoded: IIS sends
/// reply URLs like `BITS-Sessions\Replies\{C85B…}\responsefile.bin`
/// [MCBUP-4.2]). Callers pass references already checked by the transfer
/// tasks; one that still does not resolve is returned as given.
pub(crate) fn resolve(base: &str, reference: &str) -> String {
    bitsim_wire::resolve::resolve(base, reference).unwrap_or_else(|_| reference.to_owned())
}
