/*
 * A small BITS "updater" in plain C, using only the BITS headers that ship
 * with mingw-w64 (bits.h) and nothing of bitsim: the kind of program
 * bitsim-com.exe serves unchanged. scripts/wine-bitsim.sh builds it with
 *
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -o updater.exe updater.c -lole32 -luuid
 *
 * and runs it under Wine against `bitsim service`.
 *
 *   updater.exe URL LOCAL [poll|callback|stubborn|leave|crash] [WAIT_MS]
 *
 * It creates a download job, adds URL -> LOCAL, and resumes it, then:
 *
 *   poll      polls GetState until the job is TRANSFERRED (then prints
 *             GetTimes and calls Complete) or ERROR (then prints GetError and calls Complete,
 *             which keeps what arrived);
 *   callback  registers an IBackgroundCopyCallback whose JobTransferred
 *             calls Complete and whose JobError prints the error, and waits
 *             for ACKNOWLEDGED or ERROR;
 *   stubborn  its JobError returns E_FAIL twice (BITS calls it again), then
 *             cancels the job and returns S_OK; it waits for CANCELLED;
 *   leave     its JobError returns S_OK and does nothing: the job stays in
 *             ERROR until BITS cancels it after 90 days without a change;
 *   crash     the process exits (status 7) inside JobTransferred, while
 *             BITS waits for the callback's answer.
 *
 * Each state it sees is printed as "state: NAME". Exit status 0 when the
 * job ended ACKNOWLEDGED (poll, callback) or CANCELLED (stubborn, leave),
 * 1 on ERROR, 2 on a failed call, 3 on a timeout.
 */
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
/* libuuid has no BITS GUIDs: define the ones bits.h declares here. */
#include <initguid.h>
#include <bits.h>
#include <stdio.h>
#include <wchar.h>

/* "times: created DATE, transferred DATE" (UTC) from GetTimes. */
static void print_times(IBackgroundCopyJob *job)
{
    BG_JOB_TIMES t;
    SYSTEMTIME c, d;
    HRESULT hr = IBackgroundCopyJob_GetTimes(job, &t);

    if (FAILED(hr) || !FileTimeToSystemTime(&t.CreationTime, &c)
        || !FileTimeToSystemTime(&t.TransferCompletionTime, &d)) {
        printf("GetTimes: 0x%08lX\n", (unsigned long)hr);
        return;
    }
    printf("times: created %04u-%02u-%02u %02u:%02u:%02u, transferred %04u-%02u-%02u %02u:%02u:%02u\n",
           c.wYear, c.wMonth, c.wDay, c.wHour, c.wMinute, c.wSecond, d.wYear, d.wMonth, d.wDay,
           d.wHour, d.wMinute, d.wSecond);
    fflush(stdout);
}

static const char *state_name(BG_JOB_STATE s)
{
    static const char *names[] = {
        "QUEUED", "CONNECTING", "TRANSFERRING", "SUSPENDED", "ERROR",
        "TRANSIENT_ERROR", "TRANSFERRED", "ACKNOWLEDGED", "CANCELLED",
    };
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static int check(const char *what, HRESULT hr)
{
    printf("%s: 0x%08lX\n", what, (unsigned long)hr);
    fflush(stdout);
    return FAILED(hr);
}

static void print_error(IBackgroundCopyError *err)
{
    BG_ERROR_CONTEXT ctx;
    HRESULT code;
    LPWSTR text = NULL;
    HRESULT hr;
    if (SUCCEEDED(IBackgroundCopyError_GetError(err, &ctx, &code))) {
        printf("error: context %d code 0x%08lX\n", (int)ctx, (unsigned long)code);
    }
    hr = IBackgroundCopyError_GetErrorDescription(err, 0x409, &text);
    if (SUCCEEDED(hr)) {
        printf("error description: %ls\n", text);
        CoTaskMemFree(text);
    } else {
        printf("error description: 0x%08lX\n", (unsigned long)hr);
    }
    hr = IBackgroundCopyError_GetErrorContextDescription(err, 0x409, &text);
    if (SUCCEEDED(hr)) {
        printf("error context: %ls\n", text);
        CoTaskMemFree(text);
    } else {
        printf("error context: 0x%08lX\n", (unsigned long)hr);
    }
    fflush(stdout);
}

/* ---- the callback object ---- */

typedef struct {
    IBackgroundCopyCallback iface;
    LONG refs;
    HANDLE done; /* set when the job reached its end */
    int mode;    /* MODE_* */
    LONG errors; /* JobError calls so far */
} Callback;

enum { MODE_POLL, MODE_CALLBACK, MODE_STUBBORN, MODE_LEAVE, MODE_CRASH };

static HRESULT STDMETHODCALLTYPE cb_qi(IBackgroundCopyCallback *This, REFIID riid, void **out)
{
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IBackgroundCopyCallback)) {
        *out = This;
        IBackgroundCopyCallback_AddRef(This);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE cb_addref(IBackgroundCopyCallback *This)
{
    return InterlockedIncrement(&((Callback *)This)->refs);
}

static ULONG STDMETHODCALLTYPE cb_release(IBackgroundCopyCallback *This)
{
    return InterlockedDecrement(&((Callback *)This)->refs);
}

static HRESULT STDMETHODCALLTYPE cb_transferred(IBackgroundCopyCallback *This, IBackgroundCopyJob *job)
{
    HRESULT hr;
    if (((Callback *)This)->mode == MODE_CRASH) {
        printf("callback: JobTransferred, exiting mid-notification\n");
        fflush(stdout);
        ExitProcess(7);
    }
    hr = IBackgroundCopyJob_Complete(job);
    printf("callback: JobTransferred, Complete: 0x%08lX\n", (unsigned long)hr);
    fflush(stdout);
    SetEvent(((Callback *)This)->done);
    return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_error(IBackgroundCopyCallback *This, IBackgroundCopyJob *job,
                                          IBackgroundCopyError *err)
{
    Callback *cb = (Callback *)This;
    LONG n = InterlockedIncrement(&cb->errors);
    HRESULT hr;
    printf("callback: JobError #%ld\n", (long)n);
    print_error(err);
    if (cb->mode == MODE_STUBBORN && n < 3) {
        printf("callback: JobError #%ld returns E_FAIL\n", (long)n);
        fflush(stdout);
        return E_FAIL;
    }
    if (cb->mode == MODE_STUBBORN) {
        hr = IBackgroundCopyJob_Cancel(job);
        printf("callback: JobError #%ld cancels: 0x%08lX\n", (long)n, (unsigned long)hr);
        fflush(stdout);
    }
    SetEvent(cb->done);
    return S_OK;
}

static HRESULT STDMETHODCALLTYPE cb_modification(IBackgroundCopyCallback *This, IBackgroundCopyJob *job,
                                                 DWORD reserved)
{
    (void)This; (void)job; (void)reserved;
    return S_OK;
}

static IBackgroundCopyCallbackVtbl callback_vtbl = {
    cb_qi, cb_addref, cb_release, cb_transferred, cb_error, cb_modification,
};

int main(int argc, char **argv)
{
    IBackgroundCopyManager *manager = NULL;
    IBackgroundCopyJob *job = NULL;
    Callback callback = { { &callback_vtbl }, 1, NULL, MODE_POLL, 0 };
    WCHAR url[1024], local[1024], guid[64];
    BG_JOB_STATE state, last = (BG_JOB_STATE)-1;
    GUID id;
    int use_callback, mode = MODE_POLL, wait_ms, waited = 0;
    HRESULT hr;

    if (argc < 3) {
        fprintf(stderr, "usage: updater.exe URL LOCAL [poll|callback|stubborn|leave|crash] [WAIT_MS]\n");
        return 2;
    }
    MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, url, 1024);
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, local, 1024);
    if (argc > 3 && strcmp(argv[3], "callback") == 0)
        mode = MODE_CALLBACK;
    else if (argc > 3 && strcmp(argv[3], "stubborn") == 0)
        mode = MODE_STUBBORN;
    else if (argc > 3 && strcmp(argv[3], "leave") == 0)
        mode = MODE_LEAVE;
    else if (argc > 3 && strcmp(argv[3], "crash") == 0)
        mode = MODE_CRASH;
    use_callback = mode != MODE_POLL;
    callback.mode = mode;
    wait_ms = argc > 4 ? atoi(argv[4]) : 60000;

    if (check("CoInitializeEx", CoInitializeEx(NULL, COINIT_MULTITHREADED)))
        return 2;
    if (check("CoCreateInstance(CLSID_BackgroundCopyManager, CLSCTX_LOCAL_SERVER)",
               CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                                &IID_IBackgroundCopyManager, (void **)&manager)))
        return 2;
    if (check("CreateJob", IBackgroundCopyManager_CreateJob(manager, L"bitsim updater",
                                                            BG_JOB_TYPE_DOWNLOAD, &id, &job)))
        return 2;
    StringFromGUID2(&id, guid, 64);
    printf("job: %ls\n", guid);
    {
        LPWSTR name = NULL;
        hr = IBackgroundCopyJob_GetDisplayName(job, &name);
        if (SUCCEEDED(hr)) {
            printf("display name: %ls\n", name);
            CoTaskMemFree(name);
        } else {
            printf("GetDisplayName: 0x%08lX\n", (unsigned long)hr);
        }
        hr = IBackgroundCopyManager_GetErrorDescription(manager, 0x80190194, 0x409, &name);
        if (SUCCEEDED(hr)) {
            printf("description of 0x80190194: %ls\n", name);
            CoTaskMemFree(name);
        } else {
            printf("GetErrorDescription: 0x%08lX\n", (unsigned long)hr);
        }
    }
    if (check("AddFile", IBackgroundCopyJob_AddFile(job, url, local)))
        return 2;
    {
        /* The job as GetJob, EnumJobs and EnumFiles show it. */
        IBackgroundCopyJob *again = NULL, *next = NULL;
        IEnumBackgroundCopyJobs *jobs = NULL;
        IEnumBackgroundCopyFiles *files = NULL;
        IBackgroundCopyFile *file = NULL;
        ULONG count = 0, fetched = 0;
        GUID other;
        int found = 0;
        LPWSTR remote = NULL;
        if (SUCCEEDED(IBackgroundCopyManager_GetJob(manager, &id, &again)) &&
            SUCCEEDED(IBackgroundCopyJob_GetId(again, &other)))
            printf("GetJob: same id: %s\n", IsEqualGUID(&id, &other) ? "yes" : "no");
        if (again)
            IBackgroundCopyJob_Release(again);
        if (SUCCEEDED(IBackgroundCopyManager_EnumJobs(manager, 0, &jobs))) {
            IEnumBackgroundCopyJobs_GetCount(jobs, &count);
            while (IEnumBackgroundCopyJobs_Next(jobs, 1, &next, &fetched) == S_OK) {
                if (SUCCEEDED(IBackgroundCopyJob_GetId(next, &other)) && IsEqualGUID(&id, &other))
                    found = 1;
                IBackgroundCopyJob_Release(next);
            }
            printf("EnumJobs: %lu jobs, ours among them: %s\n", (unsigned long)count,
                   found ? "yes" : "no");
            IEnumBackgroundCopyJobs_Release(jobs);
        }
        if (SUCCEEDED(IBackgroundCopyJob_EnumFiles(job, &files))) {
            IEnumBackgroundCopyFiles_GetCount(files, &count);
            if (IEnumBackgroundCopyFiles_Next(files, 1, &file, NULL) == S_OK) {
                if (SUCCEEDED(IBackgroundCopyFile_GetRemoteName(file, &remote))) {
                    printf("EnumFiles: %lu file(s), the first from %ls\n", (unsigned long)count, remote);
                    CoTaskMemFree(remote);
                }
                IBackgroundCopyFile_Release(file);
            }
            IEnumBackgroundCopyFiles_Release(files);
        }
        fflush(stdout);
    }
    if (use_callback) {
        callback.done = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (check("SetNotifyInterface", IBackgroundCopyJob_SetNotifyInterface(job, (IUnknown *)&callback.iface)))
            return 2;
        if (check("SetNotifyFlags", IBackgroundCopyJob_SetNotifyFlags(
                      job, BG_NOTIFY_JOB_TRANSFERRED | BG_NOTIFY_JOB_ERROR)))
            return 2;
    }
    if (check("Resume", IBackgroundCopyJob_Resume(job)))
        return 2;
    {
        /* No error yet: BG_E_ERROR_INFORMATION_UNAVAILABLE (0x8020000F). */
        IBackgroundCopyError *none = NULL;
        hr = IBackgroundCopyJob_GetError(job, &none);
        printf("GetError before any error: 0x%08lX\n", (unsigned long)hr);
        if (SUCCEEDED(hr))
            IBackgroundCopyError_Release(none);
    }
    printf("waiting\n");
    fflush(stdout);

    for (;;) {
        hr = IBackgroundCopyJob_GetState(job, &state);
        if (FAILED(hr)) {
            check("GetState", hr);
            return 2;
        }
        if (state != last) {
            printf("state: %s\n", state_name(state));
            fflush(stdout);
            last = state;
        }
        if (state == BG_JOB_STATE_ACKNOWLEDGED) {
            BG_JOB_PROGRESS p;
            if (SUCCEEDED(IBackgroundCopyJob_GetProgress(job, &p)))
                printf("progress: %llu/%llu bytes, %lu/%lu files\n",
                       (unsigned long long)p.BytesTransferred, (unsigned long long)p.BytesTotal,
                       (unsigned long)p.FilesTransferred, (unsigned long)p.FilesTotal);
            printf("done\n");
            return 0;
        }
        if (state == BG_JOB_STATE_TRANSFERRED && !use_callback) {
            print_times(job);
            if (check("Complete", IBackgroundCopyJob_Complete(job)))
                return 2;
            continue;
        }
        if (state == BG_JOB_STATE_CANCELLED && (mode == MODE_STUBBORN || mode == MODE_LEAVE)) {
            printf("JobError calls: %ld\n", (long)callback.errors);
            printf("done\n");
            return 0;
        }
        if (state == BG_JOB_STATE_ERROR && (mode == MODE_POLL || mode == MODE_CALLBACK)) {
            IBackgroundCopyError *err = NULL;
            if (SUCCEEDED(IBackgroundCopyJob_GetError(job, &err))) {
                print_error(err);
                IBackgroundCopyError_Release(err);
            }
            if (use_callback)
                WaitForSingleObject(callback.done, 5000);
            /* Nothing arrived: Complete keeps what was transferred and says
             * so with a success code, BG_S_PARTIAL_COMPLETE (0x00200017). */
            hr = IBackgroundCopyJob_Complete(job);
            printf("Complete in ERROR: 0x%08lX\n", (unsigned long)hr);
            if (SUCCEEDED(IBackgroundCopyJob_GetState(job, &state)))
                printf("state: %s\n", state_name(state));
            return 1;
        }
        if (waited >= wait_ms) {
            printf("timeout in state %s\n", state_name(state));
            return 3;
        }
        Sleep(20);
        waited += 20;
    }
}
