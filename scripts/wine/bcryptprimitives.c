/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Rust test binaries under Wine.
 *
 * Rust's standard library (1.78 and later) imports ProcessPrng from bcryptprimitives.dll,
 * which Wine 8.0 (Debian 12) does not ship: every binary then fails to start ("Library
 * bcryptprimitives.dll not found", exit code 53). This DLL's one export fills the buffer
 * from RtlGenRandom (advapi32's SystemFunction036), which Wine has.
 *
 * Built by scripts/test-windows.sh into the Wine prefix's system32:
 *   x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

/* advapi32!SystemFunction036, better known as RtlGenRandom. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* RtlGenRandom takes a ULONG length: fill large buffers in chunks under 2^30 bytes. */
#define CHUNK (1UL << 30)

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > CHUNK ? CHUNK : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
