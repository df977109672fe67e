//! Mapping request paths to files under `--root`, refusing anything that
//! could escape it.

use std::path::{Component, Path, PathBuf};

use http::StatusCode;

use crate::error::{E_ACCESSDENIED, Error, Result};

fn bad(path: &str, reason: &'static str) -> Error {
    Error::BadPath {
        path: path.to_string(),
        reason,
    }
}

/// The refusal of a path under the control API's `/_bitsim/` prefix, which
/// nothing can be uploaded to or downloaded from as a file.
pub fn reserved(raw: &str) -> Error {
    bad(raw, "'/_bitsim/' is reserved for the control API")
}

/// Decodes and validates the path part of a request target and returns the
/// relative path components (no `.`/`..`, no empty parts).
///
/// Refused: NUL bytes, backslashes (raw or `%5C`), encoded slashes (`%2F`),
/// `..` in any spelling, non-UTF-8, absolute-looking components (`C:`), and
/// anything under the reserved `/_bitsim/` prefix (also spelled `%5Fbitsim`).
pub fn decode_request_path(raw: &str) -> Result<Vec<String>> {
    if raw.contains('\\') {
        return Err(bad(raw, "backslash in path"));
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(bad(raw, "encoded slash or backslash in path"));
    }
    if !raw.starts_with('/') {
        return Err(bad(raw, "path is not absolute-path form"));
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad(raw, "path is not UTF-8"))?;
    if decoded.contains('\0') {
        return Err(bad(raw, "NUL byte in path"));
    }
    if decoded.contains('\\') {
        return Err(bad(raw, "backslash in path"));
    }
    let mut parts = Vec::new();
    for part in decoded.split('/') {
        // `/%5Fbitsim/x` decodes to the control prefix, which the router
        // matches before decoding: refuse it here rather than create a file
        // that no GET could ever reach.
        if parts.is_empty() && part == "_bitsim" {
            return Err(reserved(raw));
        }
        match part {
            "" | "." => continue,
            ".." => return Err(bad(raw, "'..' in path")),
            p if p.contains(':') => return Err(bad(raw, "':' in path component")),
            p => parts.push(p.to_string()),
        }
    }
    Ok(parts)
}

/// Resolves a request path to a file path under `root` (which must be
/// canonical). `reserved` is a canonical directory (the state dir) that
/// must never be reachable. Symlinks are followed only if their target
/// stays under `root`.
pub fn resolve(root: &Path, reserved: &Path, raw: &str) -> Result<PathBuf> {
    let parts = decode_request_path(raw)?;
    if parts.is_empty() {
        return Err(bad(raw, "path names the root directory"));
    }
    let mut p = root.to_path_buf();
    for part in &parts {
        // decode_request_path already refuses separators; this also refuses
        // anything Path would treat as a root or prefix.
        let comp = Path::new(part);
        if comp.components().count() != 1
            || !matches!(comp.components().next(), Some(Component::Normal(_)))
        {
            return Err(bad(raw, "invalid path component"));
        }
        p.push(part);
    }
    // Symlink check: canonicalise the deepest existing ancestor. An entry
    // that exists but cannot be canonicalised is a symlink that points
    // nowhere (dangling, or a loop), or one that leads through one: refuse
    // it, since where it would lead once its target appears is unknown
    // (and a rename over it would replace the link, not its target).
    let mut probe = p.as_path();
    let canon = loop {
        match probe.canonicalize() {
            Ok(c) => break c,
            Err(_) if probe.symlink_metadata().is_ok() => {
                return Err(Error::protocol(
                    StatusCode::FORBIDDEN,
                    E_ACCESSDENIED,
                    format!("path {raw:?} goes through a symlink that points nowhere"),
                ));
            }
            Err(_) => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Err(bad(raw, "cannot resolve path")),
            },
        }
    };
    if !canon.starts_with(root) {
        return Err(Error::protocol(
            StatusCode::FORBIDDEN,
            E_ACCESSDENIED,
            format!("path {raw:?} resolves outside the root"),
        ));
    }
    let rest = p.strip_prefix(probe).unwrap_or(Path::new(""));
    // `join("")` would append a trailing separator.
    let full = if rest.as_os_str().is_empty() {
        canon
    } else {
        canon.join(rest)
    };
    if full.starts_with(reserved) {
        return Err(Error::protocol(
            StatusCode::FORBIDDEN,
            E_ACCESSDENIED,
            format!("path {raw:?} is reserved"),
        ));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes() {
        for p in [
            "/../etc/passwd",
            "/a/%2e%2e/%2E%2E/etc",
            "/a\\b",
            "/a%5cb",
            "/a%00b",
            "/a%2fb",
            "/C:/x",
            "relative",
            "/%ff",
            "/%5Fbitsim/x",
            "/_bitsim",
        ] {
            assert!(decode_request_path(p).is_err(), "{p} should be refused");
        }
        assert_eq!(
            decode_request_path("/a/./b%20c//d").ok(),
            Some(vec!["a".into(), "b c".into(), "d".into()])
        );
    }

    #[test]
    fn refuses_symlink_out() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path().join("root");
        std::fs::create_dir(&root).expect("mkdir");
        let root = root.canonicalize().expect("canon");
        let reserved = root.join(".bitsim");
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path(), root.join("out")).expect("symlink");
        #[cfg(unix)]
        assert!(resolve(&root, &reserved, "/out/x").is_err());
        // Dangling links, to a file or a directory, inside or outside the
        // root, and loops: refused, also as a directory on the way.
        #[cfg(unix)]
        for (link, target) in [
            ("dangling", d.path().join("nothing")),
            ("dangling_in", root.join("nothing")),
            ("looping", root.join("looping")),
        ] {
            std::os::unix::fs::symlink(&target, root.join(link)).expect("symlink");
            for raw in [format!("/{link}"), format!("/{link}/x/y")] {
                let e = resolve(&root, &reserved, &raw).expect_err(&raw);
                assert_eq!(e.status(), StatusCode::FORBIDDEN, "{raw}: {e}");
                assert!(e.to_string().contains("points nowhere"), "{raw}: {e}");
            }
        }
        assert!(resolve(&root, &reserved, "/.bitsim/x").is_err());
        assert_eq!(
            resolve(&root, &reserved, "/new/dir/f").ok(),
            Some(root.join("new/dir/f"))
        );
    }
}
