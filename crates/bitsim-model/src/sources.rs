//! The documents every rule cites, by tag; the manual's
//! [sources chapter](crate::manual::sources) lists them.
//!
//! A rule's comment or table row names a tag such as `\[JOBERR\]`;
//! [`source_url`] turns the tag into the page it comes from, so generated
//! explanations can link to it.

/// `(tag, url)` for every source the model cites.
pub const SOURCES: &[(&str, &str)] = &[
    (
        "LC",
        "https://learn.microsoft.com/en-us/windows/win32/bits/life-cycle-of-a-bits-job",
    ),
    (
        "LC-OLD",
        "https://learn.microsoft.com/en-us/windows/win32/bits/life-cycle-of-a-bits-job",
    ),
    (
        "STATE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ne-bits-bg_job_state",
    ),
    (
        "TYPE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ne-bits-bg_job_type",
    ),
    (
        "PRIO",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ne-bits-bg_job_priority",
    ),
    (
        "CTX",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ne-bits-bg_error_context",
    ),
    (
        "RESUME",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-resume",
    ),
    (
        "SUSPEND",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-suspend",
    ),
    (
        "CANCEL",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-cancel",
    ),
    (
        "COMPLETE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-complete",
    ),
    (
        "ADDFILE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-addfile",
    ),
    (
        "ADDFILESET",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-addfileset",
    ),
    (
        "TAKEOWN",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-takeownership",
    ),
    (
        "SETRETRY",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-setminimumretrydelay",
    ),
    (
        "SETNOPROG",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-setnoprogresstimeout",
    ),
    (
        "SETNOTIFY",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-setnotifyflags",
    ),
    (
        "SETNOTIFYIF",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-setnotifyinterface",
    ),
    (
        "SETPRIO",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-setpriority",
    ),
    (
        "GETERROR",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-geterror",
    ),
    (
        "ERRCOUNT",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyjob-geterrorcount",
    ),
    (
        "ERRIF",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nn-bits-ibackgroundcopyerror",
    ),
    (
        "CB",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nn-bits-ibackgroundcopycallback",
    ),
    (
        "JOBXFER",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopycallback-jobtransferred",
    ),
    (
        "JOBERR",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopycallback-joberror",
    ),
    (
        "JOBMOD",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopycallback-jobmodification",
    ),
    (
        "FILEXFER",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits3_0/nf-bits3_0-ibackgroundcopycallback2-filetransferred",
    ),
    (
        "CMDLINE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits1_5/nf-bits1_5-ibackgroundcopyjob2-setnotifycmdline",
    ),
    (
        "REPLYDATA",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits1_5/nf-bits1_5-ibackgroundcopyjob2-getreplydata",
    ),
    (
        "REPLYFILE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits1_5/nf-bits1_5-ibackgroundcopyjob2-setreplyfilename",
    ),
    (
        "REPLYPROG",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits1_5/nf-bits1_5-ibackgroundcopyjob2-getreplyprogress",
    ),
    (
        "REPLYPROGST",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits1_5/ns-bits1_5-bg_job_reply_progress",
    ),
    (
        "SETMAXDL",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits3_0/nf-bits3_0-ibackgroundcopyjob4-setmaximumdownloadtime",
    ),
    (
        "ADDRANGES",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits2_0/nf-bits2_0-ibackgroundcopyjob3-addfilewithranges",
    ),
    (
        "SETREMOTE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits2_0/nf-bits2_0-ibackgroundcopyfile2-setremotename",
    ),
    (
        "REPLPREFIX",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits2_0/nf-bits2_0-ibackgroundcopyjob3-replaceremoteprefix",
    ),
    (
        "PROPID",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits5_0/ne-bits5_0-bits_job_property_id",
    ),
    (
        "CREATEJOB",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopymanager-createjob",
    ),
    (
        "ENUMJOBS",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopymanager-enumjobs",
    ),
    (
        "GETJOB",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopymanager-getjob",
    ),
    (
        "JOBPROG",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ns-bits-bg_job_progress",
    ),
    (
        "FILEPROG",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ns-bits-bg_file_progress",
    ),
    (
        "TIMES",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ns-bits-bg_job_times",
    ),
    (
        "FILEINFO",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/ns-bits-bg_file_info",
    ),
    (
        "GP",
        "https://learn.microsoft.com/en-us/windows/win32/bits/group-policies",
    ),
    (
        "GP-INACT",
        "https://admx.help/?Category=Windows_10_2016&Policy=Microsoft.Policies.BITS::BITS_Job_Timeout",
    ),
    (
        "RETVALS",
        "https://learn.microsoft.com/en-us/windows/win32/bits/bits-return-values",
    ),
    (
        "HANDLEERR",
        "https://learn.microsoft.com/en-us/windows/win32/bits/handling-errors",
    ),
    (
        "SRVAPPERR",
        "https://learn.microsoft.com/en-us/windows/win32/bits/handling-server-application-errors",
    ),
    (
        "USERS",
        "https://learn.microsoft.com/en-us/windows/win32/bits/users-and-network-connections",
    ),
    (
        "BP",
        "https://learn.microsoft.com/en-us/windows/win32/bits/best-practices-when-using-bits",
    ),
    (
        "COMPLCAN",
        "https://learn.microsoft.com/en-us/windows/win32/bits/completing-and-canceling-a-job",
    ),
    (
        "REGCB",
        "https://learn.microsoft.com/en-us/windows/win32/bits/registering-a-com-callback",
    ),
    (
        "REGPROG",
        "https://learn.microsoft.com/en-us/windows/win32/bits/registering-to-execute-a-program",
    ),
    (
        "HTTPREQ",
        "https://learn.microsoft.com/en-us/windows/win32/bits/http-requirements-for-bits-downloads",
    ),
    (
        "NETBW",
        "https://learn.microsoft.com/en-us/windows/win32/bits/network-bandwidth",
    ),
    (
        "MC-BUP",
        "https://learn.microsoft.com/en-us/openspecs/windows_protocols/mc-bup/",
    ),
    (
        "WINE-TJOB",
        "https://github.com/wine-mirror/wine/blob/master/dlls/qmgr/tests/job.c",
    ),
    (
        "WINE-JOB",
        "https://github.com/wine-mirror/wine/blob/master/dlls/qmgr/job.c",
    ),
    (
        "IDL",
        "https://learn.microsoft.com/en-us/windows/win32/bits/bits-reference (bits.idl of the Windows SDK)",
    ),
    (
        "BITSMSG",
        "https://learn.microsoft.com/en-us/windows/win32/bits/bits-return-values (bitsmsg.h of the Windows SDK)",
    ),
    (
        "WINRS",
        "https://microsoft.github.io/windows-docs-rs/doc/windows/Win32/Networking/BackgroundIntelligentTransferService/",
    ),
    (
        "ERR-GETFILE",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyerror-getfile",
    ),
    (
        "ERR-GETPROTO",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits/nf-bits-ibackgroundcopyerror-getprotocol",
    ),
    (
        "TEMPNAME",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits3_0/nf-bits3_0-ibackgroundcopyfile3-gettemporaryname",
    ),
    (
        "W32-IISPROPS",
        "https://learn.microsoft.com/en-us/windows/win32/bits/bits-iis-extension-properties",
    ),
    (
        "DECISIONS",
        "crate::manual::decisions (bitsim's own choice where the docs are silent)",
    ),
    (
        "WINHTTP-ERR",
        "https://learn.microsoft.com/en-us/windows/win32/winhttp/error-messages",
    ),
    (
        "SECFLAGS",
        "https://learn.microsoft.com/en-us/windows/win32/api/bits2_5/nf-bits2_5-ibackgroundcopyjobhttpoptions-setsecurityflags",
    ),
];

/// The sections of [MC-BUP] (BITS Upload Protocol) that bitsim's code
/// cites, with what each says; all are chapters of the specification at
/// the `MC-BUP` tag's address.
pub const MCBUP_SECTIONS: &[(&str, &str)] = &[
    (
        "1.7.1",
        "versioning: the protocol GUIDs a client offers and a server picks",
    ),
    (
        "1.7.2",
        "downloads: which HTTP features a BITS download server must support",
    ),
    ("2.2.1", "the request packets and their common headers"),
    (
        "2.2.1.2",
        "header syntax: BITS-Error-Code, BITS-Error-Context, Content-Range",
    ),
    ("2.2.2.2", "Create-Session: BITS-Supported-Protocols"),
    (
        "2.2.3.2",
        "Ack for Create-Session: BITS-Protocol, BITS-Session-Id, Accept-Encoding",
    ),
    ("2.2.3.3", "Ack for Fragment: BITS-Received-Content-Range"),
    ("2.2.7.2", "Ack for Fragment, upload-reply: BITS-Reply-URL"),
    ("2.2.12", "the server application's notification request"),
    ("3.1", "the client role: its state machine"),
    (
        "3.1.5.1.2",
        "client: Ping when resuming an interrupted session",
    ),
    (
        "3.1.5.1.4",
        "client: sending fragments, resuming from the received range",
    ),
    (
        "3.1.5.1.7",
        "client: handling error Acks (413, unknown session, retries)",
    ),
    (
        "3.1.5.2.4",
        "client: the final Ack of an upload-reply carries the reply URL",
    ),
    (
        "3.2.1.1",
        "server: the server application and how it is notified",
    ),
    ("3.2.2.1", "server: session timeout"),
    ("3.2.5.2.3", "server: errors, Content-Length on every Ack"),
    ("3.2.5.2.4", "server: Create-Session"),
    ("3.2.5.2.5", "server: Ping"),
    (
        "3.2.5.2.6",
        "server: Fragment (gaps, overlaps, the last fragment)",
    ),
    ("3.2.5.2.7", "server: Close-Session (publishing the upload)"),
    ("3.2.5.2.8", "server: Cancel-Session"),
    ("3.2.6.1", "server: the session timer"),
    ("3.3.2", "server application: its timeout"),
    ("3.3.6", "server application: its errors (context 0x7)"),
    (
        "3.5.5",
        "download server: Last-Modified, Content-Length, ranges",
    ),
    ("3.6", "the download client"),
    ("3.6.2", "download client: request and response timers"),
    (
        "3.6.5.2.4.2",
        "download client: Range requests and a 200 to a partial range",
    ),
    ("4.1", "example: a simple upload"),
    ("4.2", "example: an upload-reply"),
    (
        "6",
        "appendix: Windows behaviour notes (`<9>`, `<10>`, `<16>`, ...)",
    ),
];

/// The manual's sources chapter, generated from [`SOURCES`] and
/// [`MCBUP_SECTIONS`] (a test keeps `src/manual/sources.md` equal to it).
pub fn sources_chapter() -> String {
    let mut s = String::from(
        "# Sources\n\nEvery rule in bitsim cites where it comes from by a tag in square\nbrackets, e.g. `[JOBERR]`. This is the list of tags (generated from\n`bitsim_model::sources::SOURCES`; `bitsim explain` links the same way).\n\n| tag | document |\n|---|---|\n",
    );
    for (tag, url) in SOURCES {
        if let Some((link, note)) = url.split_once(' ') {
            s.push_str(&format!("| `[{tag}]` | <{link}> {note} |\n"));
        } else if url.starts_with("http") {
            s.push_str(&format!("| `[{tag}]` | <{url}> |\n"));
        } else {
            s.push_str(&format!("| `[{tag}]` | {url} |\n"));
        }
    }
    s.push_str("\n## [MC-BUP] sections cited\n\nCited as `[MC-BUP] 3.2.5.2.6` or `[MCBUP-3.2.5.2.6]`.\n\n| section | what bitsim takes from it |\n|---|---|\n");
    for (sec, what) in MCBUP_SECTIONS {
        s.push_str(&format!("| {sec} | {what} |\n"));
    }
    s
}

/// The URL for a source tag such as `"JOBERR"` (brackets optional).
pub fn source_url(tag: &str) -> Option<&'static str> {
    let tag = tag.trim_matches(|c| c == '[' || c == ']');
    SOURCES.iter().find(|(t, _)| *t == tag).map(|(_, u)| *u)
}

#[cfg(test)]
mod tests {
    /// Every tag in square brackets that the model's code and manual cite
    /// is in [`super::SOURCES`].
    #[test]
    fn every_cited_tag_is_listed() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("read src").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs" || x == "md") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut files,
        );
        let mut missing = std::collections::BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            for (i, _) in text.match_indices('[') {
                let rest = &text[i + 1..];
                let Some(end) = rest.find(']') else { continue };
                let tag = rest[..end].trim_end_matches('\\');
                let is_tag = tag.len() >= 2
                    && tag.starts_with(|c: char| c.is_ascii_uppercase())
                    && tag
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
                if is_tag && super::source_url(tag).is_none() && !tag.starts_with("MCBUP-") {
                    missing.insert(format!("{tag} ({})", f.display()));
                }
            }
        }
        assert!(missing.is_empty(), "cited but not in SOURCES: {missing:?}");
    }

    /// `src/manual/sources.md` is generated; `BITSIM_UPDATE=1 cargo test -p
    /// bitsim-model` rewrites it.
    #[test]
    fn the_sources_chapter_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/manual/sources.md");
        let want = super::sources_chapter();
        if std::env::var_os("BITSIM_UPDATE").is_some() {
            std::fs::write(path, &want).expect("write sources.md");
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "src/manual/sources.md is stale: run BITSIM_UPDATE=1 cargo test -p bitsim-model"
        );
    }
}
