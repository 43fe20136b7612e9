/* A stand-in for Windows' bcryptprimitives.dll, which Wine before 9.0 lacks. Rust's standard
 * library (1.78 and later) loads it for ProcessPrng, its source of randomness; without it every
 * .exe exits with status 53 before main and prints nothing. Wine's advapi32 has RtlGenRandom
 * (exported as SystemFunction036), the same system generator, so the stand-in forwards to it.
 * Used only by .ci/wine-setup for tests under Wine; Windows and Wine >= 9 have the real DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG length: feed it in chunks that fit. */
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
