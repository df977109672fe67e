//! Who calls: the user of the program whose COM call the server is
//! serving, read from that program's environment (`BITSIM_USER`,
//! `BITSIM_ADMIN`).
//!
//! Under Wine every process runs as the same Unix user, so bitsim tells
//! Windows users apart by `BITSIM_USER`. One server process serves every
//! program of the Wine session (`REGCLS_MULTIPLEUSE`), and its own
//! environment is the first program's; so when a program creates its
//! manager (`IClassFactory::CreateInstance`), the server asks RPC for the
//! calling process (`I_RpcBindingInqLocalClientPID`) and reads that
//! process's environment block (its PEB's process parameters), as a
//! Windows service would impersonate its caller to learn its user. The
//! manager, and every job and file reached through it, then call the
//! service on a connection of that user.
//!
//! When the caller cannot be read (a call from inside the server, or a
//! system that refuses to read another process's memory), the server's
//! own environment decides, as before.
#![allow(unsafe_code)]

use std::ffi::c_void;
use windows::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
use windows::Win32::Foundation::{CloseHandle, HANDLE};
use windows::Win32::System::Diagnostics::Debug::ReadProcessMemory;
use windows::Win32::System::Rpc::{I_RpcBindingInqLocalClientPID, RPC_S_OK};
use windows::Win32::System::Threading::{OpenProcess, PROCESS_QUERY_INFORMATION, PROCESS_VM_READ};

/// `PROCESS_BASIC_INFORMATION` on x86-64: ExitStatus (padded), the PEB's
/// address, then four more pointer-sized fields.
#[repr(C)]
#[derive(Default)]
struct BasicInformation {
    exit_status: usize,
    peb: usize,
    _rest: [usize; 4],
}

/// Offset of `ProcessParameters` in the x86-64 PEB.
const PEB_PROCESS_PARAMETERS: usize = 0x20;
/// Offset of `Environment` in the x86-64 `RTL_USER_PROCESS_PARAMETERS`.
const PARAMETERS_ENVIRONMENT: usize = 0x80;
/// The most of an environment block read (UTF-16 units).
const MAX_ENVIRONMENT_UNITS: usize = 256 * 1024;

/// The id of the process whose COM call this thread is serving.
pub fn calling_process() -> Option<u32> {
    let mut pid = 0u32;
    // SAFETY: NULL asks for the binding of the call this thread serves.
    let st = unsafe { I_RpcBindingInqLocalClientPID(std::ptr::null_mut(), &mut pid) };
    (st == RPC_S_OK && pid != 0).then_some(pid)
}

/// The environment block of process `pid`, as UTF-16 units
/// (`NAME=VALUE\0...\0\0`), or `None` when it cannot be read.
pub fn environment_of(pid: u32) -> Option<Vec<u16>> {
    // SAFETY: an ordinary handle request; closed below.
    let h = unsafe { OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, false, pid) }.ok()?;
    let block = read_environment(h);
    // SAFETY: the handle OpenProcess returned.
    let _ = unsafe { CloseHandle(h) };
    block
}

fn read_environment(h: HANDLE) -> Option<Vec<u16>> {
    let mut info = BasicInformation::default();
    let mut len = 0u32;
    // SAFETY: the buffer and its size are passed together.
    let st = unsafe {
        NtQueryInformationProcess(
            h,
            ProcessBasicInformation,
            (&raw mut info).cast::<c_void>(),
            u32::try_from(size_of::<BasicInformation>()).ok()?,
            &mut len,
        )
    };
    if st.is_err() || info.peb == 0 {
        return None;
    }
    let params: usize = read_value(h, info.peb + PEB_PROCESS_PARAMETERS)?;
    let env: usize = read_value(h, params + PARAMETERS_ENVIRONMENT)?;
    if env == 0 {
        return None;
    }
    // Page by page up to the block's end (two NULs): a read across the
    // end of the mapping fails, so never more than a page at a time.
    let mut units: Vec<u16> = Vec::new();
    let mut at = env;
    while units.len() < MAX_ENVIRONMENT_UNITS {
        let to_page_end = 4096 - (at % 4096);
        let mut chunk = vec![0u8; to_page_end];
        read_bytes(h, at, &mut chunk)?;
        units.extend(
            chunk
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]])),
        );
        at += to_page_end;
        if units.windows(2).any(|w| w == [0, 0]) {
            return Some(units);
        }
    }
    None
}

fn read_bytes(h: HANDLE, at: usize, buf: &mut [u8]) -> Option<()> {
    let mut got = 0usize;
    // SAFETY: `buf` is writable for its length.
    unsafe {
        ReadProcessMemory(
            h,
            at as *const c_void,
            buf.as_mut_ptr().cast(),
            buf.len(),
            Some(&mut got),
        )
    }
    .ok()?;
    (got == buf.len()).then_some(())
}

fn read_value(h: HANDLE, at: usize) -> Option<usize> {
    let mut b = [0u8; 8];
    read_bytes(h, at, &mut b)?;
    Some(usize::from_le_bytes(b))
}
