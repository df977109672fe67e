//! Local file names between the program (Windows paths, under Wine) and
//! the service (Linux paths).
//!
//! The service runs natively on Linux: with `--world http` it writes and
//! reads the job's local files itself, so a name such as
//! `C:\users\me\app.msi` means nothing to it. Under Wine the server hands
//! it the Linux path of the same file instead, as Wine's own
//! `wine_get_unix_file_name` (an export of Wine's `kernel32.dll`) maps it,
//! and gives the program back the Windows path (`wine_get_dos_file_name`)
//! wherever a local name comes back (`GetLocalName`, `GetReplyFileName`).
//!
//! Decisions: the mapping applies in every world, so a run reads the same
//! whatever the service does with the names (in the simulated world they
//! are only names; the model takes absolute paths of both kinds). A name
//! Wine cannot map (a drive it does not have, a directory that is
//! missing) goes to the service as the program gave it, and the service's
//! rules answer it. Where the functions are missing (Windows itself),
//! names pass unchanged.

// FFI: Wine's exports of kernel32, found at run time.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char, c_void};

#[link(name = "kernel32")]
unsafe extern "system" {
    fn GetModuleHandleW(name: *const u16) -> *mut c_void;
    fn GetProcAddress(module: *mut c_void, name: *const c_char) -> *mut c_void;
    fn GetProcessHeap() -> *mut c_void;
    fn HeapFree(heap: *mut c_void, flags: u32, mem: *mut c_void) -> i32;
}

type ToUnix = unsafe extern "C" fn(*const u16) -> *mut c_char;
type ToDos = unsafe extern "C" fn(*const c_char) -> *mut u16;

/// Wine's export `name` of kernel32, if this is Wine.
fn wine_export(name: &CStr) -> Option<*mut c_void> {
    let kernel32: Vec<u16> = "kernel32.dll\0".encode_utf16().collect();
    // SAFETY: NUL-terminated names; kernel32 is loaded in every process.
    unsafe {
        let module = GetModuleHandleW(kernel32.as_ptr());
        if module.is_null() {
            return None;
        }
        let f = GetProcAddress(module, name.as_ptr());
        (!f.is_null()).then_some(f)
    }
}

/// The Linux path of a Windows path, or the path unchanged.
pub fn to_unix(dos: &str) -> String {
    let Some(f) = wine_export(c"wine_get_unix_file_name") else {
        return dos.to_owned();
    };
    // SAFETY: the export has this signature in every Wine since 1.0.
    let f: ToUnix = unsafe { std::mem::transmute::<*mut c_void, ToUnix>(f) };
    let w: Vec<u16> = dos.encode_utf16().chain(std::iter::once(0)).collect();
    // SAFETY: a NUL-terminated wide string; the result is a NUL-terminated
    // string from the process heap, or null.
    unsafe {
        let p = f(w.as_ptr());
        if p.is_null() {
            tracing::debug!(dos, "Wine cannot map this path: passed unchanged");
            return dos.to_owned();
        }
        let unix = CStr::from_ptr(p).to_string_lossy().into_owned();
        HeapFree(GetProcessHeap(), 0, p.cast());
        unix
    }
}

/// The Windows path of a Linux path (one that starts with `/`), or the
/// path unchanged.
pub fn to_dos(unix: &str) -> String {
    if !unix.starts_with('/') {
        return unix.to_owned();
    }
    let Some(f) = wine_export(c"wine_get_dos_file_name") else {
        return unix.to_owned();
    };
    // SAFETY: as in `to_unix`.
    let f: ToDos = unsafe { std::mem::transmute::<*mut c_void, ToDos>(f) };
    let Ok(c) = std::ffi::CString::new(unix) else {
        return unix.to_owned();
    };
    // SAFETY: a NUL-terminated string; the result is a NUL-terminated wide
    // string from the process heap, or null.
    unsafe {
        let p = f(c.as_ptr());
        if p.is_null() {
            return unix.to_owned();
        }
        let mut n = 0;
        while *p.add(n) != 0 {
            n += 1;
        }
        let dos = String::from_utf16_lossy(std::slice::from_raw_parts(p, n));
        HeapFree(GetProcessHeap(), 0, p.cast());
        dos
    }
}
