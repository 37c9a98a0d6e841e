#include "net/mac.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"

int mac_parse(const char *s, uint8_t mac[6], char *err, size_t errlen)
{
    uint8_t m[6];
    /* Strictly two digits per octet: "1:2:3:4:5:6" is more often a typo
     * than a wish, and one spelling keeps MACs greppable in configs. */
    bool ok = strlen(s) == 17;
    for (int i = 0; ok && i < 6; i++) {
        int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            ok = false;
        else
            m[i] = (uint8_t)(hi << 4 | lo);
    }
    if (!ok) {
        snprintf(err, errlen, "invalid MAC '%s': expected six hex octets like 52:54:00:ab:cd:ef", s);
        return -1;
    }
    if (m[0] & 1) {
        snprintf(err, errlen, "invalid MAC '%s': it is a multicast address (the first octet is odd); "
                 "a NIC needs a unicast one, e.g. 02:...", s);
        return -1;
    }
    static const uint8_t zero[6];
    if (!memcmp(m, zero, 6)) {
        snprintf(err, errlen, "invalid MAC '%s': the all-zero address is not a NIC's address", s);
        return -1;
    }
    memcpy(mac, m, 6);
    return 0;
}

void mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/*
 * The scheme, which must never change (guests key their network
 * configuration, and DHCP servers their leases, on the address):
 *   h = 64-bit FNV-1a over the seed's bytes, then one 0x00 byte (so that
 *       seed "ab"+index 1 cannot collide with seed "a"+...), then the
 *       index as 4 little-endian bytes;
 *   h ^= h >> 29; h *= 0xbf58476d1ce4e5b9; h ^= h >> 32  (FNV-1a alone
 *       barely stirs the high bits with the last bytes, i.e. the index);
 *   octet i = byte i of h (i = 0..5, least significant first), then
 *   octet 0 = (octet 0 & 0xfc) | 0x02: locally administered, unicast.
 * 46 random bits: two VMs on one bridge collide with odds ~ n^2 / 2^47.
 */
void mac_derive(const char *seed, unsigned index, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ull;
    const uint64_t prime = 0x100000001b3ull;
    for (const char *p = seed ? seed : ""; *p; p++) {
        h ^= (uint8_t)*p;
        h *= prime;
    }
    h *= prime;   /* the 0x00 separator: h ^= 0 leaves h as it is */
    for (int i = 0; i < 4; i++) {
        h ^= (index >> (8 * i)) & 0xff;
        h *= prime;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * i));
    mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
}
