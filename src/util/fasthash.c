#include "util/fasthash.h"

#include <string.h>

/* Odd 64-bit constants with well-mixed bits (from the golden ratio and
 * similar irrationals), as multiply-rotate hashes use. */
#define K1 0x9E3779B97F4A7C15ULL
#define K2 0xC2B2AE3D27D4EB4FULL
#define K3 0x165667B19E3779F9ULL
#define K4 0xD6E8FEB86659FD93ULL

static uint64_t rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

static uint64_t lane(uint64_t acc, uint64_t w)
{
    acc += w * K2;
    acc = rotl(acc, 31);
    return acc * K1;
}

static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= K2;
    h ^= h >> 29;
    h *= K3;
    h ^= h >> 32;
    return h;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

void fasthash128(const void *data, size_t len, uint8_t out[FASTHASH_LEN])
{
    const uint8_t *p = data;
    /* Four independent lanes keep the multipliers busy in parallel. */
    uint64_t v[4] = {K1 + K2, K2, 0, (uint64_t)0 - K1};
    size_t i = 0;
    for (; i + 32 <= len; i += 32)
        for (int l = 0; l < 4; l++)
            v[l] = lane(v[l], load64(p + i + 8 * l));
    uint8_t tail[32] = {0};
    memcpy(tail, p + i, len - i);
    tail[31] ^= (uint8_t)(len - i);   /* a short tail of zeroes differs from none */
    for (int l = 0; l < 4; l++)
        v[l] = lane(v[l], load64(tail + 8 * l));
    uint64_t h1 = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18) + (uint64_t)len * K4;
    uint64_t h2 = rotl(v[3], 3) ^ rotl(v[2], 11) ^ (v[1] * K3) ^ (v[0] * K4) ^ (uint64_t)len;
    h1 = avalanche(h1 ^ rotl(h2, 17));
    h2 = avalanche(h2 + h1 * K1);
    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
}
