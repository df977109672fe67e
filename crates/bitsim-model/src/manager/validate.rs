//! Argument validation of the API calls.

use super::*;

pub(super) fn validate_remote(remote: &str, job_type: JobType) -> Result<()> {
    // URL ≤ 2,200 characters; http(s) for every job, file/UNC for downloads
    // only (SMB not for uploads) [FILEINFO] [SETREMOTE].
    let lower = remote.to_ascii_lowercase();
    let http = (lower.starts_with("http://") || lower.starts_with("https://"))
        && remote.len() > lower.find("//").unwrap_or(0) + 2;
    let smb = lower.starts_with("file://") || remote.starts_with("\\\\");
    if remote.chars().count() > MAX_URL
        || remote.contains('\0')
        || !(http || (smb && !job_type.is_upload()))
    {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    Ok(())
}

pub(super) fn validate_local(local: &str) -> Result<()> {
    // A full path, no wildcards, no NUL [FILEINFO].
    let b = local.as_bytes();
    let windows_abs = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    let absolute = local.starts_with('/') || local.starts_with("\\\\") || windows_abs;
    if !absolute || local.contains(['*', '?', '\0']) || local.chars().count() > 32_767 {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    Ok(())
}

pub(super) fn validate_ranges(ranges: &[ByteRange], max: u32, admin: bool) -> Result<()> {
    if ranges.is_empty() {
        return Err(Error::new(Hresult::E_INVALIDARG));
    }
    if !admin && ranges.len() as u64 > u64::from(max) {
        return Err(Error::new(Hresult::BG_E_TOO_MANY_RANGES_IN_FILE));
    }
    let mut sorted: Vec<ByteRange> = ranges.to_vec();
    sorted.sort_by_key(|r| r.offset);
    for r in &sorted {
        if r.length == 0
            || (r.length != BG_LENGTH_TO_EOF && r.offset.checked_add(r.length).is_none())
        {
            return Err(Error::new(Hresult::BG_E_INVALID_RANGE));
        }
    }
    for w in sorted.windows(2) {
        let end = if w[0].length == BG_LENGTH_TO_EOF {
            u64::MAX
        } else {
            w[0].offset + w[0].length
        };
        if end > w[1].offset {
            return Err(Error::new(Hresult::BG_E_OVERLAPPING_RANGES));
        }
    }
    Ok(())
}
