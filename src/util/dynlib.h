/* Libraries loaded when a command first needs them, not at every start:
 * libarchive (backups) and libmicrohttpd (metrics --listen) pull in two
 * dozen more libraries (ICU, libxml2, GnuTLS, ...) whose loading and
 * relocation cost every `vireo run` about 4 ms of its start-up. */
#ifndef VIREO_UTIL_DYNLIB_H
#define VIREO_UTIL_DYNLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* dlopen(soname); on failure NULL and a message naming the Debian package
 * that provides it. */
void *dynlib_open(const char *soname, const char *package, char *err, size_t errlen);

/* The address of name in h, or NULL and a message. */
void *dynlib_sym(void *h, const char *soname, const char *name, char *err, size_t errlen);

/* A library's functions with their own types: FNS(X) lists them, X(f)
 * for each.  DYNLIB_STRUCT declares the struct, DYNLIB_LOADER defines
 * `const struct TYPE *FUNC(char *err, size_t errlen)`, which loads SONAME
 * once per process and returns the filled struct, or NULL and a message. */
#define DYNLIB_FIELD(f) __typeof__(&f) f;
#define DYNLIB_STRUCT(TYPE, FNS) \
    struct TYPE {                \
        FNS(DYNLIB_FIELD)        \
    }
#define DYNLIB_LOAD_ONE(f) ok = ok && (lib.f = (__typeof__(&f))dynlib_sym(h, soname, #f, err, errlen)) != NULL;
#define DYNLIB_LOADER(FUNC, TYPE, FNS, SONAME, PACKAGE)                  \
    const struct TYPE *FUNC(char *err, size_t errlen)                      \
    {                                                                      \
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;           \
        static struct TYPE lib;                                            \
        static bool loaded;                                                \
        const char *soname = SONAME;                                       \
        pthread_mutex_lock(&lock);                                         \
        if (!loaded) {                                                     \
            void *h = dynlib_open(soname, PACKAGE, err, errlen);           \
            bool ok = h != NULL;                                           \
            FNS(DYNLIB_LOAD_ONE)                                           \
            loaded = ok;                                                   \
        }                                                                  \
        const struct TYPE *ret = loaded ? &lib : NULL;                     \
        pthread_mutex_unlock(&lock);                                       \
        return ret;                                                        \
    }

#endif
