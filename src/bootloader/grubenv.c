/* GRUB's environment block (grubenv, written by grub-editenv and
 * grub-set-default): "# GRUB Environment Block\n", then NAME=VALUE lines
 * with '\' escaping the next character (a newline, a backslash), padded
 * with '#' to 1 KiB. */
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"

#define SIGNATURE "# GRUB Environment Block\n"

static bool wanted(const char *name, char **only, unsigned nonly)
{
    if (!nonly)
        return true;
    for (unsigned i = 0; i < nonly; i++)
        if (!strcmp(only[i], name))
            return true;
    return false;
}

int genv_load(struct gctx *c, const char *buf, size_t len, char **only, unsigned nonly)
{
    size_t sl = strlen(SIGNATURE);
    if (len < sl || memcmp(buf, SIGNATURE, sl)) {
        gwarn(c, "grubenv is not a GRUB environment block: ignored");
        return 1;
    }
    char *val = malloc(len + 1);
    if (!val)
        return gerr(c, "out of memory");
    size_t p = sl;
    while (p < len) {
        if (buf[p] == '#' || buf[p] == '\n') {   /* padding, or an empty line */
            const char *nl = memchr(buf + p, '\n', len - p);
            p = nl ? (size_t)(nl - buf) + 1 : len;
            continue;
        }
        const char *eq = NULL;
        size_t q = p;
        while (q < len && buf[q] != '=' && buf[q] != '\n')
            q++;
        if (q < len && buf[q] == '=')
            eq = buf + q;
        if (!eq) {   /* no '=': not a setting */
            const char *nl = memchr(buf + p, '\n', len - p);
            p = nl ? (size_t)(nl - buf) + 1 : len;
            continue;
        }
        size_t namelen = (size_t)(eq - (buf + p));
        char name[129];
        bool name_ok = gvar_name_ok(buf + p, namelen);
        if (name_ok) {
            memcpy(name, buf + p, namelen);
            name[namelen] = 0;
        }
        size_t vl = 0;
        q++;
        while (q < len && buf[q] != '\n') {
            if (buf[q] == '\\' && q + 1 < len)
                q++;
            val[vl++] = buf[q++];
        }
        val[vl] = 0;
        p = q + 1;
        if (!name_ok || !wanted(name, only, nonly))
            continue;
        if (!strcmp(name, "next_entry")) {
            /* grub-reboot's one-time choice: GRUB clears it with save_env as
             * it boots; vireo never writes the guest's disk, so honouring it
             * would make it permanent. */
            gwarn(c, "grubenv's next_entry='%.64s' (grub-reboot) is ignored: vireo does not write the guest's disk, "
                     "so it could not clear it", val);
            continue;
        }
        if (gvars_set(c, c->vars, name, val) < 0) {
            free(val);
            return -1;
        }
    }
    free(val);
    return 0;
}
