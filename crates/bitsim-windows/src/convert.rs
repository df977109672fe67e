//! The tables between the numbers BITS speaks over COM and bitsim's types.
//!
//! Everything here is plain Rust so Linux CI covers it; the COM layer
//! (`cfg(windows)`, feature `real-windows`) only moves raw numbers in and out
//! and calls these functions. The numeric values are the ones of `bits.idl`
//! (\[IDL\]), which the `windows` crate copies into `BG_JOB_STATE(i32)`,
//! `BG_JOB_TYPE(i32)`, `BG_JOB_PRIORITY(i32)`, `BG_ERROR_CONTEXT(i32)` and
//! `HRESULT(i32)`; on Windows a test checks both agree.

use bitsim_model::{
    ErrorContext, Hresult, JobId, JobPriority, JobProgress, JobState, JobType, NotifyFlags,
};

/// `E_UNEXPECTED`: BITS answered with a number outside its own enumeration.
pub const E_UNEXPECTED: Hresult = Hresult(0x8000_FFFF);

fn unexpected(what: &str, raw: i32) -> bitsim_model::Error {
    tracing::warn!("BITS returned {what} {raw}, outside the enumeration");
    bitsim_model::Error::new(E_UNEXPECTED)
}

fn from_raw<T>(
    what: &str,
    raw: i32,
    f: impl Fn(u32) -> Option<T>,
) -> Result<T, bitsim_model::Error> {
    u32::try_from(raw)
        .ok()
        .and_then(f)
        .ok_or_else(|| unexpected(what, raw))
}

/// `BG_JOB_STATE` → [`JobState`]; a value outside 0..=8 is `E_UNEXPECTED`.
pub fn job_state_from_raw(raw: i32) -> Result<JobState, bitsim_model::Error> {
    from_raw("BG_JOB_STATE", raw, JobState::from_u32)
}

/// [`JobState`] → `BG_JOB_STATE`.
pub const fn job_state_to_raw(s: JobState) -> i32 {
    s.as_u32() as i32
}

/// `BG_JOB_TYPE` → [`JobType`].
pub fn job_type_from_raw(raw: i32) -> Result<JobType, bitsim_model::Error> {
    from_raw("BG_JOB_TYPE", raw, JobType::from_u32)
}

/// [`JobType`] → `BG_JOB_TYPE`.
pub const fn job_type_to_raw(t: JobType) -> i32 {
    t.as_u32() as i32
}

/// `BG_JOB_PRIORITY` → [`JobPriority`].
pub fn priority_from_raw(raw: i32) -> Result<JobPriority, bitsim_model::Error> {
    from_raw("BG_JOB_PRIORITY", raw, JobPriority::from_u32)
}

/// [`JobPriority`] → `BG_JOB_PRIORITY`.
pub const fn priority_to_raw(p: JobPriority) -> i32 {
    p.as_u32() as i32
}

/// `BG_ERROR_CONTEXT` → [`ErrorContext`]. A context newer than the model
/// knows becomes [`ErrorContext::Unknown`] rather than an error: the error
/// itself is still worth reporting.
pub fn error_context_from_raw(raw: i32) -> ErrorContext {
    u32::try_from(raw)
        .ok()
        .and_then(ErrorContext::from_u32)
        .unwrap_or(ErrorContext::Unknown)
}

/// [`ErrorContext`] → `BG_ERROR_CONTEXT`.
pub const fn error_context_to_raw(c: ErrorContext) -> i32 {
    c.as_u32() as i32
}

/// `GetNotifyFlags`' DWORD → [`NotifyFlags`] (bits are kept as they are,
/// including ones newer than the model).
pub const fn notify_flags_from_raw(raw: u32) -> NotifyFlags {
    NotifyFlags(raw)
}

/// An HRESULT as the `windows` crate holds it (`HRESULT(i32)`) → [`Hresult`].
pub const fn hresult_from_raw(raw: i32) -> Hresult {
    Hresult::from_i32(raw)
}

/// A failed COM call's HRESULT → the model's error. Success codes never get
/// here (the `windows` crate turns them into `Ok`); if one does, it is
/// reported as `E_UNEXPECTED` rather than as a failure that did not happen.
pub fn error_from_raw(raw: i32) -> bitsim_model::Error {
    let hr = hresult_from_raw(raw);
    if hr.is_success() {
        return bitsim_model::Error::new(E_UNEXPECTED);
    }
    bitsim_model::Error::new(hr)
}

/// The raw HRESULT of `Complete`/`Cancel` → what [`bitsim::JobAccess`]
/// returns: success codes (`S_OK`, `BG_S_PARTIAL_COMPLETE`,
/// `BG_S_UNABLE_TO_DELETE_FILES`) in `Ok`, failures in `Err`.
pub fn status_from_raw(raw: i32) -> Result<Hresult, bitsim_model::Error> {
    let hr = hresult_from_raw(raw);
    if hr.is_success() {
        Ok(hr)
    } else {
        Err(bitsim_model::Error::new(hr))
    }
}

/// `BG_JOB_PROGRESS` fields → [`JobProgress`]. `BytesTotal` stays
/// `BG_SIZE_UNKNOWN` while a size is unknown, as in the model.
pub const fn progress_from_raw(
    bytes_total: u64,
    bytes_transferred: u64,
    files_total: u32,
    files_transferred: u32,
) -> JobProgress {
    JobProgress {
        bytes_total,
        bytes_transferred,
        files_total,
        files_transferred,
    }
}

/// A COM `GUID`'s fields (`data1`, `data2`, `data3`, `data4`) → [`JobId`].
pub fn job_id_from_guid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> JobId {
    JobId(uuid::Uuid::from_fields(data1, data2, data3, &data4))
}

/// [`JobId`] → a COM `GUID`'s fields; the inverse of [`job_id_from_guid`].
pub fn job_id_to_guid(id: JobId) -> (u32, u16, u16, [u8; 8]) {
    let (d1, d2, d3, d4) = id.0.as_fields();
    (d1, d2, d3, *d4)
}

/// A Rust string → a NUL-terminated UTF-16 string for a `PCWSTR` argument.
/// An interior NUL would silently truncate the string on the COM side, so
/// it is refused with `E_INVALIDARG`.
pub fn to_wide(s: &str) -> Result<Vec<u16>, bitsim_model::Error> {
    if s.contains('\0') {
        return Err(bitsim_model::Error::new(Hresult::E_INVALIDARG));
    }
    Ok(s.encode_utf16().chain(std::iter::once(0)).collect())
}

/// UTF-16 from a `PWSTR` result (without its NUL) → a Rust string;
/// unpaired surrogates become U+FFFD.
pub fn from_wide(w: &[u16]) -> String {
    let end = w.iter().position(|&c| c == 0).unwrap_or(w.len());
    String::from_utf16_lossy(&w[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_with_the_idl_numbers() {
        let idl = [
            (0, JobState::Queued),
            (1, JobState::Connecting),
            (2, JobState::Transferring),
            (3, JobState::Suspended),
            (4, JobState::Error),
            (5, JobState::TransientError),
            (6, JobState::Transferred),
            (7, JobState::Acknowledged),
            (8, JobState::Cancelled),
        ];
        for (raw, s) in idl {
            assert_eq!(job_state_from_raw(raw), Ok(s));
            assert_eq!(job_state_to_raw(s), raw);
        }
        assert_eq!(job_state_from_raw(9).unwrap_err().code, E_UNEXPECTED);
        assert_eq!(job_state_from_raw(-1).unwrap_err().code, E_UNEXPECTED);
    }

    #[test]
    fn types_priorities_and_contexts_use_the_idl_numbers() {
        assert_eq!(job_type_from_raw(0), Ok(JobType::Download));
        assert_eq!(job_type_from_raw(1), Ok(JobType::Upload));
        assert_eq!(job_type_from_raw(2), Ok(JobType::UploadReply));
        assert!(job_type_from_raw(3).is_err());
        for t in JobType::ALL {
            assert_eq!(job_type_from_raw(job_type_to_raw(*t)), Ok(*t));
        }
        assert_eq!(priority_from_raw(0), Ok(JobPriority::Foreground));
        assert_eq!(priority_from_raw(3), Ok(JobPriority::Low));
        assert!(priority_from_raw(4).is_err());
        for p in JobPriority::ALL {
            assert_eq!(priority_from_raw(priority_to_raw(*p)), Ok(*p));
        }
        assert_eq!(error_context_from_raw(5), ErrorContext::RemoteFile);
        assert_eq!(error_context_from_raw(7), ErrorContext::RemoteApplication);
        assert_eq!(error_context_from_raw(42), ErrorContext::Unknown);
        for c in ErrorContext::ALL {
            assert_eq!(error_context_from_raw(error_context_to_raw(*c)), *c);
        }
    }

    #[test]
    fn hresults_keep_their_bits_and_split_success_from_failure() {
        // BG_E_INVALID_STATE as the windows crate's i32.
        let raw = 0x8020_0002_u32 as i32;
        assert_eq!(raw, -2_145_386_494);
        assert_eq!(error_from_raw(raw).code, Hresult::BG_E_INVALID_STATE);
        assert_eq!(error_from_raw(0).code, E_UNEXPECTED);
        assert_eq!(status_from_raw(0), Ok(Hresult::S_OK));
        assert_eq!(
            status_from_raw(0x0020_0017),
            Ok(Hresult::BG_S_PARTIAL_COMPLETE)
        );
        assert_eq!(
            status_from_raw(0x8019_0194_u32 as i32).unwrap_err().code,
            Hresult::http(404)
        );
        // Every row of the model's table survives the i32 trip.
        for row in bitsim_model::HRESULT_TABLE {
            assert_eq!(hresult_from_raw(row.value.as_i32()), row.value);
        }
    }

    #[test]
    fn guids_round_trip_in_com_field_order() {
        // {5CE34C0D-0DC9-4C1F-897C-DAA1B78CEE7C}: IID_IBackgroundCopyManager.
        let id = job_id_from_guid(
            0x5ce3_4c0d,
            0x0dc9,
            0x4c1f,
            [0x89, 0x7c, 0xda, 0xa1, 0xb7, 0x8c, 0xee, 0x7c],
        );
        assert_eq!(id.to_string(), "{5CE34C0D-0DC9-4C1F-897C-DAA1B78CEE7C}");
        let (d1, d2, d3, d4) = job_id_to_guid(id);
        assert_eq!(job_id_from_guid(d1, d2, d3, d4), id);
    }

    #[test]
    fn wide_strings_are_nul_terminated_and_refuse_interior_nuls() {
        assert_eq!(to_wide("C:\\a").unwrap(), [67, 58, 92, 97, 0]);
        assert_eq!(to_wide("a\0b").unwrap_err().code, Hresult::E_INVALIDARG);
        assert_eq!(from_wide(&[104, 105, 0, 120]), "hi");
        assert_eq!(
            from_wide(&"Ünïcødé".encode_utf16().collect::<Vec<_>>()),
            "Ünïcødé"
        );
    }

    #[test]
    fn progress_keeps_size_unknown() {
        let p = progress_from_raw(bitsim_model::BG_SIZE_UNKNOWN, 0, 1, 0);
        assert_eq!(p.bytes_total, u64::MAX);
        assert_eq!(notify_flags_from_raw(0x3), NotifyFlags::DEFAULT);
    }
}
