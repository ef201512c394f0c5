/*
 * libFuzzer target: dmargs_parse() on an argv, then our own options
 * through cfg_parse_args() exactly as the xl-spawned mode hands them on.
 * Input: arguments separated by NUL or newline bytes.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "dmargs.h"

#define FUZZ_MAX_ARGS 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[FUZZ_MAX_ARGS + 1];
    char *own[DMARGS_MAX_OWN + 2];
    char *text = malloc(size + 1);
    struct dmargs *a = malloc(sizeof(*a));
    struct cfg *c = malloc(sizeof(*c));
    char err[DMARGS_ERR_MAX];
    int argc = 0;

    if (!text || !a || !c) {
        goto out;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    argv[argc++] = (char *)"xvm";
    for (size_t i = 0, start = 0; i <= size && argc < FUZZ_MAX_ARGS; i++) {
        if (i == size || text[i] == '\n' || text[i] == '\0') {
            text[i] = '\0';
            argv[argc++] = text + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;
    dmargs_is_qemu_argv(argc, argv);
    if (dmargs_parse(a, argc, argv, err, sizeof(err)) == 0) {
        own[0] = (char *)"xvm";
        for (unsigned i = 0; i < a->nr_own; i++) {
            own[i + 1] = (char *)a->own[i];
        }
        cfg_init(c);
        cfg_parse_args(c, (int)a->nr_own + 1, own, err, sizeof(err));
    }
    /* the same bytes as a config file */
    cfg_init(c);
    cfg_parse_text(c, (const char *)data, size, "fuzz", err, sizeof(err));
out:
    free(c);
    free(a);
    free(text);
    return 0;
}
