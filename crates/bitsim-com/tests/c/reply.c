/*
 * An upload-reply client in plain C (mingw-w64's bits.h only, like
 * updater.c); scripts/wine-bitsim.sh builds it with
 *
 *   x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -o reply.exe reply.c -lole32 -luuid
 *
 * and runs it under Wine against `bitsim service --world http`, with
 * `bitsim serve` as the server (an echo application under the URL).
 *
 *   reply.exe URL LOCAL [WAIT_MS]
 *
 * Writes a short text into LOCAL, creates a BG_JOB_TYPE_UPLOAD_REPLY job
 * uploading LOCAL to URL, resumes it and polls until TRANSFERRED, then
 * reads the reply with IBackgroundCopyJob2::GetReplyData and prints it
 * ("reply: N bytes: TEXT"), its GetReplyFileName, and calls Complete.
 * Exit status 0 when the reply is the upload (the echo application's
 * answer), 1 when it differs or the job ends in ERROR, 2 on a failed call,
 * 3 on a timeout.
 */
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
#include <initguid.h>
#include <bits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BODY[] = "hello from a Windows program, through bitsim";

static int check(const char *what, HRESULT hr)
{
    printf("%s: 0x%08lX\n", what, (unsigned long)hr);
    fflush(stdout);
    return FAILED(hr);
}

int main(int argc, char **argv)
{
    IBackgroundCopyManager *manager = NULL;
    IBackgroundCopyJob *job = NULL;
    IBackgroundCopyJob2 *job2 = NULL;
    WCHAR url[1024], local[1024];
    BG_JOB_STATE state, last = (BG_JOB_STATE)-1;
    GUID id;
    int wait_ms, waited = 0;
    HANDLE f;
    DWORD written;

    if (argc < 3) {
        fprintf(stderr, "usage: reply.exe URL LOCAL [WAIT_MS]\n");
        return 2;
    }
    MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, url, 1024);
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, local, 1024);
    wait_ms = argc > 3 ? atoi(argv[3]) : 60000;

    f = CreateFileW(local, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (f == INVALID_HANDLE_VALUE || !WriteFile(f, BODY, sizeof BODY - 1, &written, NULL)) {
        printf("cannot write %s: %lu\n", argv[2], (unsigned long)GetLastError());
        return 2;
    }
    CloseHandle(f);

    if (check("CoInitializeEx", CoInitializeEx(NULL, COINIT_MULTITHREADED)) ||
        check("CoCreateInstance(CLSID_BackgroundCopyManager, CLSCTX_LOCAL_SERVER)",
              CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                               &IID_IBackgroundCopyManager, (void **)&manager)) ||
        check("CreateJob(UPLOAD_REPLY)",
              IBackgroundCopyManager_CreateJob(manager, L"bitsim reply", BG_JOB_TYPE_UPLOAD_REPLY,
                                               &id, &job)) ||
        check("QueryInterface(IBackgroundCopyJob2)",
              IBackgroundCopyJob_QueryInterface(job, &IID_IBackgroundCopyJob2, (void **)&job2)) ||
        check("AddFile", IBackgroundCopyJob_AddFile(job, url, local)) ||
        check("Resume", IBackgroundCopyJob_Resume(job)))
        return 2;

    for (;;) {
        HRESULT hr = IBackgroundCopyJob_GetState(job, &state);
        if (FAILED(hr))
            return check("GetState", hr) + 1;
        if (state != last) {
            printf("state: %d\n", (int)state);
            fflush(stdout);
            last = state;
        }
        if (state == BG_JOB_STATE_TRANSFERRED)
            break;
        if (state == BG_JOB_STATE_ERROR) {
            IBackgroundCopyError *err = NULL;
            BG_ERROR_CONTEXT ctx;
            HRESULT code;
            if (SUCCEEDED(IBackgroundCopyJob_GetError(job, &err)) &&
                SUCCEEDED(IBackgroundCopyError_GetError(err, &ctx, &code)))
                printf("error: context %d code 0x%08lX\n", (int)ctx, (unsigned long)code);
            return 1;
        }
        if (waited >= wait_ms) {
            printf("timeout in state %d\n", (int)state);
            return 3;
        }
        Sleep(50);
        waited += 50;
    }

    {
        BYTE *data = NULL;
        UINT64 size = 0;
        LPWSTR name = NULL;
        int same;
        if (check("GetReplyData", IBackgroundCopyJob2_GetReplyData(job2, &data, &size)))
            return 2;
        printf("reply: %llu bytes: %.*s\n", (unsigned long long)size, (int)size, (const char *)data);
        same = size == sizeof BODY - 1 && memcmp(data, BODY, (size_t)size) == 0;
        CoTaskMemFree(data);
        if (SUCCEEDED(IBackgroundCopyJob2_GetReplyFileName(job2, &name)) && name) {
            printf("reply file: %ls\n", name);
            CoTaskMemFree(name);
        }
        if (check("Complete", IBackgroundCopyJob_Complete(job)))
            return 2;
        printf("the reply is the upload: %s\n", same ? "yes" : "no");
        fflush(stdout);
        IBackgroundCopyJob2_Release(job2);
        IBackgroundCopyJob_Release(job);
        IBackgroundCopyManager_Release(manager);
        CoUninitialize();
        return same ? 0 : 1;
    }
}
