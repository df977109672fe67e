/*
 * How long one BITS call takes from a Windows program: IBackgroundCopyJob::
 * GetState, called N times on one job, each timed with
 * QueryPerformanceCounter. Prints the median, 90th and 99th percentile in
 * microseconds. scripts/wine-bitsim.sh runs it under Wine against bitsim
 * (bitsim-com.exe + bitsim service) and against Wine's own BITS, side by
 * side; it is a figure, not a test.
 *
 *   bench.exe [N]     (default 2000)
 */
#define COBJMACROS
#include <windows.h>
#include <objbase.h>
/* libuuid has no BITS GUIDs: define the ones bits.h declares here. */
#include <initguid.h>
#include <bits.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    IBackgroundCopyManager *manager = NULL;
    IBackgroundCopyJob *job = NULL;
    LARGE_INTEGER freq, t0, t1;
    BG_JOB_STATE state;
    double *us;
    GUID id;
    int n = argc > 1 ? atoi(argv[1]) : 2000, i;
    HRESULT hr;

    if (n < 10)
        n = 10;
    us = calloc(n, sizeof *us);
    if (!us)
        return 2;
    CoInitializeEx(NULL, COINIT_MULTITHREADED);
    hr = CoCreateInstance(&CLSID_BackgroundCopyManager, NULL, CLSCTX_LOCAL_SERVER,
                          &IID_IBackgroundCopyManager, (void **)&manager);
    if (FAILED(hr)) {
        printf("CoCreateInstance: 0x%08lX\n", (unsigned long)hr);
        return 2;
    }
    hr = IBackgroundCopyManager_CreateJob(manager, L"bitsim bench", BG_JOB_TYPE_DOWNLOAD, &id, &job);
    if (FAILED(hr)) {
        printf("CreateJob: 0x%08lX\n", (unsigned long)hr);
        return 2;
    }
    QueryPerformanceFrequency(&freq);
    for (i = 0; i < 50; i++)
        IBackgroundCopyJob_GetState(job, &state);
    for (i = 0; i < n; i++) {
        QueryPerformanceCounter(&t0);
        hr = IBackgroundCopyJob_GetState(job, &state);
        QueryPerformanceCounter(&t1);
        if (FAILED(hr)) {
            printf("GetState: 0x%08lX\n", (unsigned long)hr);
            return 2;
        }
        us[i] = (double)(t1.QuadPart - t0.QuadPart) * 1e6 / (double)freq.QuadPart;
    }
    qsort(us, n, sizeof *us, cmp);
    printf("GetState x %d: median %.0f us, p90 %.0f us, p99 %.0f us\n", n, us[n / 2],
           us[n * 9 / 10], us[n * 99 / 100]);
    IBackgroundCopyJob_Cancel(job);
    IBackgroundCopyJob_Release(job);
    IBackgroundCopyManager_Release(manager);
    CoUninitialize();
    return 0;
}
