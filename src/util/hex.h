/* One hexadecimal digit's value, for the parsers that read hex (xl.cfg
 * escapes and MACs, --net mac=, JSON \u escapes in recordings). */
#ifndef VIREO_UTIL_HEX_H
#define VIREO_UTIL_HEX_H

/* 0-15, or -1 if c is not a hex digit. */
static inline int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
