/*
 * bcryptprimitives.dll for Wine < 8.13: only ProcessPrng.
 *
 * Rust's standard library (1.78 and later) takes its random bytes from
 * ProcessPrng in bcryptprimitives.dll. Wine added that export in 8.13;
 * Debian 12 ships Wine 8.0, where every Rust .exe stops at start-up
 * (status 53, the DLL cannot be loaded). This DLL exports ProcessPrng and
 * fills the buffer with RtlGenRandom (advapi32's SystemFunction036), which
 * Wine 8.0 has. scripts/windows-on-linux.sh builds it with mingw-w64 and
 * copies it into a fresh WINEPREFIX's system32; `bitsim wine install`
 * carries this source and does the same when a prefix's Wine needs it.
 *
 * ProcessPrng: https://learn.microsoft.com/en-us/windows/win32/seccng/processprng
 * RtlGenRandom: https://learn.microsoft.com/en-us/windows/win32/api/ntsecapi/nf-ntsecapi-rtlgenrandom
 */
#include <windows.h>

/* RtlGenRandom is exported by advapi32 under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Always TRUE, like the real one; RtlGenRandom takes a ULONG length, so
 * larger requests go in pieces. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
