/* hookcost empty|min OBJ: attaches hookcost.bpf.c's programs of one kind
 * and holds them until SIGINT/SIGTERM; "min" then prints what it counted,
 * so a run that charged nothing shows.  Prints "attached" once they are. */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct total {
    unsigned long long ops, bytes, lat_ns, tid_sum;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "empty") && strcmp(argv[1], "min"))) {
        fprintf(stderr, "usage: hookcost empty|min OBJECT\n");
        return 2;
    }
    const char *kind = argv[1];
    struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
    if (!obj) {
        perror("hookcost: open");
        return 1;
    }
    struct bpf_program *p;
    size_t klen = strlen(kind);
    bpf_object__for_each_program(p, obj)
        bpf_program__set_autoload(p, !strncmp(bpf_program__name(p), kind, klen) &&
                                         bpf_program__name(p)[klen] == '_');
    if (bpf_object__load(obj)) {
        fprintf(stderr, "hookcost: load failed (root? kernel BTF?)\n");
        return 1;
    }
    bpf_object__for_each_program(p, obj) {
        if (bpf_program__autoload(p) && !bpf_program__attach(p)) {
            fprintf(stderr, "hookcost: cannot attach %s\n", bpf_program__name(p));
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("attached\n");
    fflush(stdout);
    while (!stop)
        pause();
    if (!strcmp(kind, "min")) {
        int ncpu = libbpf_num_possible_cpus();
        struct total *t = calloc((size_t)ncpu, sizeof(*t)), sum = {0};
        unsigned key = 0;
        struct bpf_map *m = bpf_object__find_map_by_name(obj, "totals");
        if (t && m && !bpf_map__lookup_elem(m, &key, sizeof(key), t, (size_t)ncpu * sizeof(*t), 0)) {
            for (int i = 0; i < ncpu; i++) {
                sum.ops += t[i].ops;
                sum.bytes += t[i].bytes;
                sum.lat_ns += t[i].lat_ns;
            }
            printf("counted %llu requests, %llu bytes, mean latency %.1f us\n", sum.ops, sum.bytes,
                   sum.ops ? sum.lat_ns / 1e3 / (double)sum.ops : 0.0);
        }
        free(t);
    }
    bpf_object__close(obj);
    return 0;
}
