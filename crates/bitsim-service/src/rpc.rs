//! JSON-RPC 2.0, one message per line: parsing what a peer sent and
//! writing what the service sends.
//!
//! Batches (a JSON array) are refused with `-32600`: the protocol is one
//! message per line, and a batch would let one line hold a notification
//! answer and a new call at once.

use serde_json::{Value, json};

/// `-32700`: the line is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// `-32600`: JSON, but not a JSON-RPC 2.0 message.
pub const INVALID_REQUEST: i64 = -32600;
/// `-32601`: no such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// `-32602`: the params do not fit the method.
pub const INVALID_PARAMS: i64 = -32602;
/// `-32001`: a call other than `session.hello` before `session.hello`.
pub const NO_SESSION: i64 = -32001;
/// `-32002`: `session.hello` a second time on one connection.
pub const SESSION_EXISTS: i64 = -32002;
/// `-32003`: a call the service cannot take now (a clock call from inside
/// a notification handler, while virtual time waits for that very handler).
pub const NOT_NOW: i64 = -32003;

/// `-32004`: a clock call (`clock.advance`, `clock.run_until`,
/// `clock.run_until_idle`) on a service whose clock is real or scaled.
pub const CLOCK_NOT_VIRTUAL: i64 = -32004;
/// `-32005`: a method only an administrator session may call (`shutdown`).
pub const ACCESS_DENIED: i64 = -32005;
/// `-32006`: a `world.*` control the service's world does not take: with
/// `--world http` the network and the server are real (`world.fault`,
/// `world.clear_faults`, `world.network`: use the server's fault API) and
/// the service restart is a restart of the process (`world.restart_service`).
pub const NOT_IN_THIS_WORLD: i64 = -32006;

/// A JSON-RPC error object: protocol misuse, never a BITS failure (those
/// are results carrying their HRESULT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// The code (`-32700`..`-32600`, or the service's own `-32001`..).
    pub code: i64,
    /// What was wrong, naming the method, field or value at fault.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

/// One message a peer sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A call (`id` absent: a JSON-RPC notification, answered with nothing).
    Request {
        /// The id to answer with.
        id: Option<Value>,
        /// The method.
        method: String,
        /// The params (absent: none).
        params: Option<Value>,
    },
    /// An answer to a request the service sent (a callback notification).
    Response {
        /// The id of the service's request.
        id: Value,
        /// The result, or the peer's error object.
        result: Result<Value, RpcError>,
    },
}

/// Parses one line. On failure, the id to answer with (`null` when the
/// message had none that could be read) and the error.
pub fn parse(line: &str) -> Result<Incoming, (Value, RpcError)> {
    let v: Value = serde_json::from_str(line).map_err(|e| {
        (
            Value::Null,
            RpcError::new(PARSE_ERROR, format!("parse error: {e}")),
        )
    })?;
    let Value::Object(mut m) = v else {
        let what = if v.is_array() {
            "batches (JSON arrays) are not supported: send one message per line"
        } else {
            "a JSON-RPC message must be a JSON object"
        };
        return Err((Value::Null, RpcError::new(INVALID_REQUEST, what)));
    };
    let id = m.remove("id");
    let reply_id = id.clone().unwrap_or(Value::Null);
    let invalid = |msg: String| (reply_id.clone(), RpcError::new(INVALID_REQUEST, msg));
    match m.get("jsonrpc") {
        Some(Value::String(s)) if s == "2.0" => {}
        Some(other) => return Err(invalid(format!("\"jsonrpc\" must be \"2.0\", not {other}"))),
        None => return Err(invalid("missing \"jsonrpc\": \"2.0\"".into())),
    }
    if let Some(id) = &id
        && !(id.is_string() || id.is_number() || id.is_null())
    {
        return Err((
            Value::Null,
            RpcError::new(
                INVALID_REQUEST,
                format!("\"id\" must be a string or a number, not {id}"),
            ),
        ));
    }
    if let Some(method) = m.remove("method") {
        let Value::String(method) = method else {
            return Err(invalid(format!(
                "\"method\" must be a string, not {method}"
            )));
        };
        return Ok(Incoming::Request {
            id,
            method,
            params: m.remove("params"),
        });
    }
    let Some(id) = id else {
        return Err(invalid(
            "a message needs \"method\" (a call) or \"id\" with \"result\"/\"error\" (an answer)"
                .into(),
        ));
    };
    let result = match (m.remove("result"), m.remove("error")) {
        (Some(r), None) => Ok(r),
        (None, Some(e)) => Err(RpcError::new(
            e.get("code").and_then(Value::as_i64).unwrap_or(0),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)"),
        )),
        _ => {
            return Err(invalid(
                "an answer has exactly one of \"result\" and \"error\"".into(),
            ));
        }
    };
    Ok(Incoming::Response { id, result })
}

/// The line answering request `id`.
pub fn response(id: Value, result: Result<Value, RpcError>) -> String {
    match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id,
                         "error": {"code": e.code, "message": e.message}}),
    }
    .to_string()
}

/// The line of a request the service sends (a callback notification).
pub fn request(id: &str, method: &str, params: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misuse_is_named() {
        let e = parse("{").unwrap_err().1;
        assert_eq!(e.code, PARSE_ERROR);
        let e = parse("[]").unwrap_err().1;
        assert!(e.message.contains("batches"), "{e:?}");
        let e = parse(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#).unwrap_err();
        assert_eq!((e.0, e.1.code), (json!(1), INVALID_REQUEST));
        assert!(e.1.message.contains("\"2.0\""));
        let e = parse(r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#)
            .unwrap_err()
            .1;
        assert!(e.message.contains("\"id\""), "{e:?}");
        let e = parse(r#"{"jsonrpc":"2.0","id":1,"method":3}"#)
            .unwrap_err()
            .1;
        assert!(e.message.contains("\"method\""), "{e:?}");
    }

    #[test]
    fn requests_and_answers_are_told_apart() {
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":"a","method":"clock.now"}"#).unwrap(),
            Incoming::Request {
                id: Some(json!("a")),
                method: "clock.now".into(),
                params: None
            }
        );
        assert_eq!(
            parse(r#"{"jsonrpc":"2.0","id":"n1","result":"S_OK"}"#).unwrap(),
            Incoming::Response {
                id: json!("n1"),
                result: Ok(json!("S_OK"))
            }
        );
        let r = parse(r#"{"jsonrpc":"2.0","id":"n1","error":{"code":1,"message":"boom"}}"#);
        assert!(matches!(r, Ok(Incoming::Response { result: Err(_), .. })));
    }
}
