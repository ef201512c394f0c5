/*
 * xen-vhost-master: entry point.  Parses arguments, initialises, runs the
 * loop and tears down; everything else lives in its own module.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: xen-vhost-master [OPTIONS]\n"
            "Serve Xen guests virtio-mmio devices backed by vhost-user daemons.\n"
            "\n"
            "  -h, --help       show this help and exit\n"
            "  -V, --version    show the version and exit\n");
}

int
main(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("%s\n", PACKAGE_STRING);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "xen-vhost-master: unknown argument '%s' (see --help)\n",
                argv[1]);
        return 2;
    }
    usage(stderr);
    return 2;
}
