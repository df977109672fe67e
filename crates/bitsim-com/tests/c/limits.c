/*
 * BITS's limits seen from a plain C program (mingw-w64's bits.h only, like
 * updater.c); scripts/wine-bitsim.sh builds it with
 *
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -o limits.exe limits.c -lole32 -luuid
 *
 * and runs it under Wine against `bitsim service`.
 *
 *   limits.exe notify URL N HOLD_MS
 *       creates N download jobs of URL, each with this program's callback,
 *       and resumes them. Its JobTransferred holds every call HOLD_MS
 *       milliseconds before it calls Complete and returns S_OK, counting
 *       how many calls are in it at once. Prints "JobTransferred calls: K"
 *       and "most at once: M" when every job is ACKNOWLEDGED (BITS makes
 *       at most four notification calls per user at once: M is 4 for N=5).
 *   limits.exe create NAME URL
 *       creates a job called NAME with one file of URL, prints its id as
 *       "job: {GUID}" and leaves it (SUSPENDED) for the next program.
 *   limits.exe see GUID
 *       GetJob of GUID (another user's job: E_ACCESSDENIED, 0x80070005),
 *       then EnumJobs(0), printing each job's display name, then
 *       EnumJobs(BG_JOB_ENUM_ALL_USERS) (administrators only).
 *
 * The user is who the COM server calls as (BITSIM_USER, read by
 * bitsim-com.exe when COM starts it). Exit status 0 when every call it
 * needed succeeded, 2 on a failed call, 3 on a timeout.
 */
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
#include <initguid.h>
#include <bits.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

static int check(const char *what, HRESULT hr)
{
    printf("%s: 0x%08lX\n", what, (unsigned long)hr);
    fflush(stdout);
    return FAILED(hr);
}

/* ---- notify: a callback that holds every call ---- */

typedef struct {
    IBackgroundCopyCallback iface;
    LONG refs;
    DWORD hold_ms;
    LONG now;   /* calls in JobTransferred right now */
    LONG most;  /* the most at once */
    LONG calls; /* JobTransferred calls so far */
    LONG left;  /* jobs not yet completed */
    HANDLE done;
} Holder;

static HRESULT STDMETHODCALLTYPE h_qi(IBackgroundCopyCallback *This, REFIID riid, void **out)
{
    if (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IBackgroundCopyCallback)) {
        *out = This;
        IBackgroundCopyCallback_AddRef(This);
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE h_addref(IBackgroundCopyCallback *This)
{
    return InterlockedIncrement(&((Holder *)This)->refs);
}

static ULONG STDMETHODCALLTYPE h_release(IBackgroundCopyCallback *This)
{
    return InterlockedDecrement(&((Holder *)This)->refs);
}

static HRESULT STDMETHODCALLTYPE h_transferred(IBackgroundCopyCallback *This, IBackgroundCopyJob *job)
{
    Holder *h = (Holder *)This;
    LONG at_once = InterlockedIncrement(&h->now);
    LONG most = h->most;
    HRESULT hr;
    InterlockedIncrement(&h->calls);
    while (at_once > most) {
        LONG seen = InterlockedCompareExchange(&h->most, at_once, most);
        if (seen == most)
            break;
        most = seen;
    }
    printf("callback: JobTransferred, %ld at once\n", (long)at_once);
    fflush(stdout);
    Sleep(h->hold_ms);
    hr = IBackgroundCopyJob_Complete(job);
    InterlockedDecrement(&h->now);
    if (FAILED(hr)) {
        printf("callback: Complete: 0x%08lX\n", (unsigned long)hr);
        fflush(stdout);
    }
    if (InterlockedDecrement(&h->left) == 0)
        SetEvent(h->done);
    return S_OK;
}

static HRESULT STDMETHODCALLTYPE h_error(IBackgroundCopyCallback *This, IBackgroundCopyJob *job,
                                         IBackgroundCopyError *err)
{
    (void)This; (void)job; (void)err;
    printf("callback: JobError\n");
    fflush(stdout);
    return S_OK;
}

static HRESULT STDMETHODCALLTYPE h_modification(IBackgroundCopyCallback *This, IBackgroundCopyJob *job,
                                                DWORD reserved)
{
    (void)This; (void)job; (void)reserved;
    return S_OK;
}

static IBackgroundCopyCallbackVtbl holder_vtbl = {
    h_qi, h_addref, h_release, h_transferred, h_error, h_modification,
};

#define MAX_JOBS 16

static int notify(IBackgroundCopyManager *manager, const WCHAR *url, int n, DWORD hold_ms)
{
    Holder holder = { { &holder_vtbl }, 1, hold_ms, 0, 0, 0, n, NULL };
    IBackgroundCopyJob *jobs[MAX_JOBS];
    WCHAR local[64];
    GUID id;
    int i;
    DWORD w;
    holder.done = CreateEventW(NULL, TRUE, FALSE, NULL);
    for (i = 0; i < n; i++) {
        if (check("CreateJob", IBackgroundCopyManager_CreateJob(manager, L"bitsim limits",
                                                                BG_JOB_TYPE_DOWNLOAD, &id, &jobs[i])))
            return 2;
        swprintf(local, 64, L"C:\\Updates\\limits-%d.msi", i);
        if (check("AddFile", IBackgroundCopyJob_AddFile(jobs[i], url, local)) ||
            check("SetNotifyInterface",
                  IBackgroundCopyJob_SetNotifyInterface(jobs[i], (IUnknown *)&holder.iface)) ||
            check("SetNotifyFlags",
                  IBackgroundCopyJob_SetNotifyFlags(jobs[i], BG_NOTIFY_JOB_TRANSFERRED)))
            return 2;
    }
    for (i = 0; i < n; i++)
        if (check("Resume", IBackgroundCopyJob_Resume(jobs[i])))
            return 2;
    printf("waiting\n");
    fflush(stdout);
    w = WaitForSingleObject(holder.done, 120000);
    printf("JobTransferred calls: %ld\n", (long)holder.calls);
    printf("most at once: %ld\n", (long)holder.most);
    for (i = 0; i < n; i++) {
        BG_JOB_STATE s;
        if (SUCCEEDED(IBackgroundCopyJob_GetState(jobs[i], &s)) && s != BG_JOB_STATE_ACKNOWLEDGED)
            printf("job %d not ACKNOWLEDGED: state %d\n", i, (int)s);
        IBackgroundCopyJob_Release(jobs[i]);
    }
    fflush(stdout);
    return w == WAIT_OBJECT_0 ? 0 : 3;
}

/* ---- create / see: two users ---- */

static int create(IBackgroundCopyManager *manager, const WCHAR *name, const WCHAR *url)
{
    IBackgroundCopyJob *job = NULL;
    WCHAR guid[64];
    GUID id;
    if (check("CreateJob", IBackgroundCopyManager_CreateJob(manager, name, BG_JOB_TYPE_DOWNLOAD,
                                                            &id, &job)) ||
        check("AddFile", IBackgroundCopyJob_AddFile(job, url, L"C:\\Updates\\users.msi")))
        return 2;
    StringFromGUID2(&id, guid, 64);
    printf("job: %ls\n", guid);
    IBackgroundCopyJob_Release(job);
    return 0;
}

static void list(IBackgroundCopyManager *manager, DWORD flags, const char *what)
{
    IEnumBackgroundCopyJobs *jobs = NULL;
    IBackgroundCopyJob *next = NULL;
    ULONG count = 0;
    HRESULT hr = IBackgroundCopyManager_EnumJobs(manager, flags, &jobs);
    if (FAILED(hr)) {
        printf("%s: 0x%08lX\n", what, (unsigned long)hr);
        return;
    }
    IEnumBackgroundCopyJobs_GetCount(jobs, &count);
    printf("%s: %lu job(s)\n", what, (unsigned long)count);
    while (IEnumBackgroundCopyJobs_Next(jobs, 1, &next, NULL) == S_OK) {
        LPWSTR name = NULL;
        if (SUCCEEDED(IBackgroundCopyJob_GetDisplayName(next, &name))) {
            printf("%s: job named %ls\n", what, name);
            CoTaskMemFree(name);
        }
        IBackgroundCopyJob_Release(next);
    }
    IEnumBackgroundCopyJobs_Release(jobs);
}

static int see(IBackgroundCopyManager *manager, const WCHAR *text)
{
    IBackgroundCopyJob *job = NULL;
    GUID id;
    HRESULT hr;
    if (check("IIDFromString", IIDFromString(text, &id)))
        return 2;
    hr = IBackgroundCopyManager_GetJob(manager, &id, &job);
    printf("GetJob of the other user's job: 0x%08lX\n", (unsigned long)hr);
    if (SUCCEEDED(hr))
        IBackgroundCopyJob_Release(job);
    list(manager, 0, "EnumJobs(0)");
    list(manager, BG_JOB_ENUM_ALL_USERS, "EnumJobs(BG_JOB_ENUM_ALL_USERS)");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    IBackgroundCopyManager *manager = NULL;
    WCHAR a[1024], b[1024];
    int status;

    if (argc < 3) {
        fprintf(stderr, "usage: limits.exe notify URL N HOLD_MS | create NAME URL | see GUID\n");
        return 2;
    }
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, a, 1024);
    MultiByteToWideChar(CP_UTF8, 0, argc > 3 ? argv[3] : "", -1, b, 1024);
    if (check("CoInitializeEx", CoInitializeEx(NULL, COINIT_MULTITHREADED)))
        return 2;
    if (check("CoCreateInstance(CLSID_BackgroundCopyManager, CLSCTX_LOCAL_SERVER)",
              CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                               &IID_IBackgroundCopyManager, (void **)&manager)))
        return 2;
    if (strcmp(argv[1], "notify") == 0 && argc == 5) {
        int n = atoi(argv[3]);
        if (n < 1 || n > MAX_JOBS) {
            fprintf(stderr, "N: 1 to %d\n", MAX_JOBS);
            return 2;
        }
        status = notify(manager, a, n, (DWORD)atoi(argv[4]));
    } else if (strcmp(argv[1], "create") == 0 && argc == 4) {
        status = create(manager, a, b);
    } else if (strcmp(argv[1], "see") == 0 && argc == 3) {
        status = see(manager, a);
    } else {
        fprintf(stderr, "usage: limits.exe notify URL N HOLD_MS | create NAME URL | see GUID\n");
        status = 2;
    }
    IBackgroundCopyManager_Release(manager);
    CoUninitialize();
    return status;
}
