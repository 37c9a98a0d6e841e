#ifndef VIREO_CLI_MICROSCOPE_ARGS_H
#define VIREO_CLI_MICROSCOPE_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "microscope/report.h"

enum ms_cmd { MS_CMD_LIVE, MS_CMD_RECORD, MS_CMD_REPORT };

struct microscope_args {
    enum ms_cmd cmd;
    bool help;
    uint64_t interval_ns;   /* bucket width */
    uint64_t duration_ns;   /* 0: until a signal (or COMMAND's exit) */
    uint64_t refresh_ns;    /* live view */
    const char *output;     /* record -o */
    const char *format;     /* record --format, NULL: by the file name */
    char *const *command;   /* record -- COMMAND..., NULL-terminated */
    const char *input;      /* report FILE */
    bool json;
    bool by_vm;             /* live/report --by vm */
    const char *svg;
    struct ms_report_opts rep;
    unsigned top;
};

extern const char microscope_usage[];

/* argv[0] is "microscope".  -1 with err set on bad input. */
int microscope_args_parse(int argc, char *const argv[], struct microscope_args *a, char *err, size_t errlen);

#endif
