#include "block/image_format.h"

#include <string.h>

int img_format_parse(const char *s, enum img_format *out)
{
    if (!strcmp(s, "raw"))
        *out = IMG_FORMAT_RAW;
    else if (!strcmp(s, "qcow2"))
        *out = IMG_FORMAT_QCOW2;
    else
        return -1;
    return 0;
}

const char *img_format_name(enum img_format f)
{
    switch (f) {
    case IMG_FORMAT_RAW: return "raw";
    case IMG_FORMAT_QCOW2: return "qcow2";
    default: return "none";
    }
}
