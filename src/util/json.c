#include "util/json.h"

#include <stdint.h>
#include <string.h>

#include "util/printable.h"

void json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        uint32_t cp;
        size_t len;
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, f);
        } else if (c >= 0x80 && (len = utf8_char(p + i, n - i, &cp)) > 0) {
            fwrite(p + i, 1, len, f);
            i += len - 1;
        } else {
            fprintf(f, "\\u%04x", c);
        }
    }
    fputc('"', f);
}
