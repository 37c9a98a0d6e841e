#include "util/dynlib.h"

#include <dlfcn.h>

#include "util/err.h"

void *dynlib_open(const char *soname, const char *package, char *err, size_t errlen)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        err_fail(err, errlen, "cannot load %s (Debian package %s): %s", soname, package, dlerror());
    return h;
}

void *dynlib_sym(void *h, const char *soname, const char *name, char *err, size_t errlen)
{
    void *p = dlsym(h, name);
    if (!p)
        err_fail(err, errlen, "%s has no %s: an incompatible version", soname, name);
    return p;
}
