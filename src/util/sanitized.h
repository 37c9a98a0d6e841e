/* SANITIZED: 1 in builds with AddressSanitizer (the tests' -Db_sanitize
 * builds, GCC or clang), else 0.  Code that limits or filters the process
 * (address-space limits, seccomp, the jail) must leave the sanitizer's
 * runtime what it needs: shadow memory, stderr, /proc at exit. */
#ifndef VIREO_UTIL_SANITIZED_H
#define VIREO_UTIL_SANITIZED_H

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#endif
