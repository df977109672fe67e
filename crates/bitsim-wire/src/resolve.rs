//! Relative URL resolution for reply URLs (`BITS-Reply-URL`), redirects
//! (`Location`) and notification URLs, on the `url` crate.

use crate::{Error, Result};

/// Resolves `reference` against the absolute URL `base` (RFC 3986 5.2,
/// as browsers do it: the WHATWG URL Standard the `url` crate follows).
///
/// * dot segments are removed (`../reply` cannot climb above the root);
/// * in an `http`/`https` URL a backslash is a path separator and `{`/`}`
///   are percent-encoded: IIS sends reply URLs such as
///   `BITS-Sessions\Replies\{C85B…}\responsefile.bin` (\[MC-BUP\] 4.2);
/// * a fragment (`#…`) is dropped: it is never part of a request
///   (RFC 9110 7.1).
///
/// An error names what could not be parsed.
pub fn resolve(base: &str, reference: &str) -> Result<String> {
    let base = url::Url::parse(base).map_err(|e| Error::new(format!("bad URL {base:?}: {e}")))?;
    let mut out = base
        .join(reference)
        .map_err(|e| Error::new(format!("bad URL reference {reference:?}: {e}")))?;
    out.set_fragment(None);
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn resolves_like_a_browser() {
        let r = |b, x| resolve(b, x).expect("resolves");
        assert_eq!(r("http://h/a/b", "http://x/y"), "http://x/y");
        assert_eq!(r("http://h:1/a/b", "/c"), "http://h:1/c");
        assert_eq!(r("http://h/a/b?q", "c"), "http://h/a/c");
        assert_eq!(
            r("http://h/up/f.bin", r"BITS-Sessions\Replies\{C8}\r.bin"),
            "http://h/up/BITS-Sessions/Replies/%7BC8%7D/r.bin"
        );
        assert_eq!(r("http://h", "c"), "http://h/c");
        // Dot segments never climb above the root.
        assert_eq!(r("http://h/a/b/c", "../../../../x"), "http://h/x");
        assert_eq!(r("http://h/a/b", "./x/../y"), "http://h/a/y");
        assert_eq!(r("http://h/a/b", "//o:9/p"), "http://o:9/p");
        assert_eq!(r("http://h/a/b", "?q#f"), "http://h/a/b?q");
        assert!(resolve("not a url", "x").is_err());
        assert!(resolve("http://h/", "http://[::1").is_err());
    }

    #[test]
    fn notification_urls_resolve_against_the_upload_url() {
        // (configured URL, upload path, expected URL without the host part
        // when it starts with '/', else in full)
        const H: &str = "http://bits.example:8080";
        let up = "/uploads/2026/in.bin";
        let cases = [
            ("http://app:9/n", up, "http://app:9/n"),
            ("HTTP://app:9/n", up, "http://app:9/n"),
            ("http://app:9", up, "http://app:9/"),
            ("http://app:9?q", up, "http://app:9/?q"),
            ("http://app/a/../b/./c", up, "http://app/b/c"),
            ("//app:9/n", up, "http://app:9/n"),
            ("//app/x/../n?q", up, "http://app/n?q"),
            ("http://app/n?a=1#f", up, "http://app/n?a=1"),
            ("n.asp#f", up, "/uploads/2026/n.asp"),
            ("?x=1", up, "/uploads/2026/in.bin?x=1"),
            ("", up, "/uploads/2026/in.bin"),
            ("/app/n.asp", up, "/app/n.asp"),
            ("n.asp", up, "/uploads/2026/n.asp"),
            ("./n.asp?a=1", up, "/uploads/2026/n.asp?a=1"),
            ("../app/n", up, "/uploads/app/n"),
            ("../../../../n", up, "/n"),
            ("..", up, "/uploads/"),
            ("a/./b/../c", "/in.bin", "/a/c"),
        ];
        for (url, upload, want) in cases {
            let want = if want.starts_with('/') {
                format!("{H}{want}")
            } else {
                want.to_string()
            };
            assert_eq!(
                resolve(&format!("{H}{upload}"), url).as_deref(),
                Ok(want.as_str()),
                "{url:?}"
            );
        }
    }
}
