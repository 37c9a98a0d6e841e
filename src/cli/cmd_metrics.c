/* `vireo metrics`: every VM's counters and histograms for Prometheus,
 * over HTTP (libmicrohttpd: one thread, each scrape reads every VM) or
 * into a file for node_exporter's textfile collector (written whole and
 * renamed into place, so the collector never reads half of it). */
#include "cli/cmd_top.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/metrics_fmt.h"
#include "cli/mhd_lib.h"
#include "util/duration.h"
#include "util/log.h"

#define METRICS_VM_TIMEOUT_MS 2000
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The exposition of every VM now, in a malloc()ed buffer. */
/* Set before the server starts. */
static const struct mhd_lib *M;

static char *scrape(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    struct vmstat *vms;
    unsigned n, denied, failed;
    char err[512];
    if (vmstat_collect(&vms, &n, &denied, &failed, METRICS_VM_TIMEOUT_MS, err, sizeof(err)) < 0) {
        vlog_err("metrics: %s", err);
        vms = NULL;
        n = 0;
    }
    metrics_write(f, vms, n, denied, failed);
    free(vms);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **state)
{
    (void)cls, (void)version, (void)upload, (void)upload_len, (void)state;
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    const char *type = CONTENT_TYPE;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        static const char msg[] = "only GET\n";
        r = M->MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        type = "text/plain";
    } else if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *body = scrape(&len);
        if (!body)
            return MHD_NO;
        r = M->MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    } else {
        static const char msg[] = "vireo metrics: the metrics are at /metrics\n";
        r = M->MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        code = strcmp(url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK;
        type = "text/plain";
    }
    if (!r)
        return MHD_NO;
    M->MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = M->MHD_queue_response(c, code, r);
    M->MHD_destroy_response(r);
    return ok;
}

/* "127.0.0.1:9177", "[::1]:9177", "0.0.0.0:9177", ":9177" (every address). */
static int parse_listen(const char *s, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    const char *h = s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    if (colon && hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        h = s + 1;
        hl -= 2;
    }
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || hl >= sizeof(host) || !colon[1] || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "--listen %s: expected ADDRESS:PORT, e.g. 127.0.0.1:9177 or [::1]:9177", s);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    memset(ss, 0, sizeof(*ss));
    if (!hl) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        a->sin6_port = htons((uint16_t)port);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
    } else {
        snprintf(err, errlen, "--listen %s: '%s' is not an IPv4 or IPv6 address", s, host);
        return -1;
    }
    return 0;
}

static int serve(const char *listen)
{
    struct sockaddr_storage ss;
    char err[512];
    if (parse_listen(listen, &ss, err, sizeof(err)) < 0) {
        vlog_err("metrics: %s", err);
        return 2;
    }
    if (!(M = mhd_lib(err, sizeof(err)))) {
        vlog_err("metrics: %s", err);
        return 1;
    }
    /* The signals are waited for on this thread: blocked before the
     * server's thread starts, so it inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = M->MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &ss,
                                            MHD_OPTION_CONNECTION_LIMIT, 32U, MHD_OPTION_CONNECTION_TIMEOUT, 30U,
                                            MHD_OPTION_END);
    if (!d) {
        vlog_err("metrics: cannot listen on %s: %s", listen, errno ? strerror(errno) : "libmicrohttpd refused");
        return 1;
    }
    vlog_info("metrics: serving http://%s/metrics", listen);
    int sig = 0;
    sigwait(&set, &sig);
    M->MHD_stop_daemon(d);
    return 0;
}

static int write_textfile(const char *path)
{
    size_t len = 0;
    char *body = scrape(&len);
    if (!body) {
        vlog_err("metrics: out of memory");
        return 1;
    }
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof(tmp)) {
        free(body);
        vlog_err("metrics: --textfile %s: path too long", path);
        return 1;
    }
    FILE *f = fopen(tmp, "we");
    int rc = 0;
    if (!f || fwrite(body, 1, len, f) != len || fflush(f) || fsync(fileno(f)) || fclose(f)) {
        vlog_err("metrics: writing %s: %s", tmp, strerror(errno));
        if (f)
            fclose(f);
        unlink(tmp);
        rc = 1;
    } else if (rename(tmp, path) < 0) {
        vlog_err("metrics: renaming %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        rc = 1;
    }
    free(body);
    return rc;
}

static volatile sig_atomic_t stopped;

static void on_stop(int sig)
{
    stopped = sig;
}

static int textfile(const char *path, double every, bool once)
{
    if (once)
        return write_textfile(path);
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stopped) {
        if (write_textfile(path))
            return 1;
        struct timespec ts = {(time_t)every, (long)((every - (double)(time_t)every) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int cmd_metrics(const struct cli_cmd *self, int argc, char *const argv[])
{
    const char *listen = NULL, *path = NULL;
    double every = 15;
    bool once = false;
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'}, {"textfile", required_argument, NULL, 't'},
        {"interval", required_argument, NULL, 'd'}, {"once", no_argument, NULL, '1'},
        {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    static const char optstring[] = "+d:h";
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case 't': path = optarg; break;
        case '1': once = true; break;
        case 'd': {
            uint64_t ns;
            if (!parse_duration(optarg, &ns) || ns < 1000000000ull || ns > 86400000000000ull) {
                return cli_usage_error(self->name, "--interval %s: expected seconds from 1 to 86400", optarg);
            }
            every = (double)ns / 1e9;
            break;
        }
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (optind != argc)
        return cli_usage_error(self->name, "unexpected argument '%s' (this command takes options only)",
                               argv[optind]);
    if (listen && path)
        return cli_usage_error(self->name, "--listen or --textfile, not both");
    if (once && !path)
        return cli_usage_error(self->name, "--once goes with --textfile");
    if (!listen && !path)
        return cli_usage_error(self->name, "--listen ADDRESS:PORT or --textfile PATH is needed");
    return listen ? serve(listen) : textfile(path, every, once);
}
