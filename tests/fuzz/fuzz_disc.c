/*
 * libFuzzer target: disc_parse_entry() and disc_split_path().
 * Input: "key=value" lines; the first line is also tried as a watch path.
 * Both entry kinds are parsed from the same lines.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disc.h"

#define FUZZ_MAX_KEYS 64

struct fuzz_entry {
    unsigned n;
    const char *key[FUZZ_MAX_KEYS];
    const char *value[FUZZ_MAX_KEYS];
};

static int
fuzz_get(void *opaque, const char *key, char *buf, size_t len)
{
    const struct fuzz_entry *e = opaque;

    for (unsigned i = 0; i < e->n; i++) {
        if (!strcmp(e->key[i], key)) {
            size_t n = strlen(e->value[i]);

            if (n >= len) {
                return -E2BIG;
            }
            memcpy(buf, e->value[i], n + 1);
            return 0;
        }
    }
    return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_entry e = { .n = 0 };
    struct disc_dev *d = malloc(sizeof(*d));
    char *text = malloc(size + 1);
    char err[DISC_ERR_MAX];
    char *line, *save = NULL;
    enum disc_kind kind;
    uint32_t domid, devid;
    const char *rest;

    if (!d || !text) {
        goto out;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    for (line = strtok_r(text, "\n", &save); line && e.n < FUZZ_MAX_KEYS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');

        if (e.n == 0) {
            disc_split_path(line, &kind, &domid, &devid, &rest);
        }
        if (!eq) {
            continue;
        }
        *eq = '\0';
        e.key[e.n] = line;
        e.value[e.n] = eq + 1;
        e.n++;
    }
    disc_parse_entry(d, DISC_KIND_VIRTIO, 1, 0, fuzz_get, &e, err,
                     sizeof(err));
    disc_parse_entry(d, DISC_KIND_DISK, 1, 51712, fuzz_get, &e, err,
                     sizeof(err));
out:
    free(text);
    free(d);
    return 0;
}
