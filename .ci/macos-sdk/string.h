/* Stand-in for the SDK's string.h: the declarations ring's C code uses (see
 * TargetConditionals.h here). */
#ifndef STRING_STANDIN_H
#define STRING_STANDIN_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
#endif
