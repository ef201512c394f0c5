/*
 * xen-vhost-master: entry point.  Parses arguments, initialises, runs the
 * loop and tears down; everything else lives in its own module.
 *
 * Three ways to start:
 *  - `--service`: the dom0 service, watching xenstore for every guest;
 *  - by libxl as `device_model_override` (a QEMU-style argv): serves one
 *    guest's virtio= devices and answers libxl's QMP;
 *  - `--check-config`: parse the settings, print them, exit;
 *  - `--status [--json]`: ask running instances over their control
 *    sockets (ctl.h) and print what they serve.
 * Bad arguments exit with status 2 after one line naming the bad value.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

#ifdef HAVE_JSONC
#include "ctl.h"
#endif

#ifdef HAVE_XEN
#include "dm.h"
#include "service.h"
#endif
#include "dmargs.h"
#ifdef HAVE_LIBFDT
#include "dtb.h"
#endif

#define MAIN_EXIT_USAGE 2

static void
main_usage(FILE *out)
{
    fprintf(out,
            "Usage: xen-vhost-master --service [OPTIONS]\n"
            "       xen-vhost-master --check-config [OPTIONS]\n"
            "       xen-vhost-master --device-tree=GUEST -c FILE > GUEST.dtb\n"
            "       xen-vhost-master --status [--json] [--backend-dir=DIR]\n"
            "       (or started by libxl as device_model_override)\n"
            "Serve Xen guests virtio-mmio devices backed by vhost-user "
            "daemons.\n"
            "\n"
            "  --service             watch xenstore and serve every guest\n"
            "  --check-config        print the effective settings and exit\n"
            "  --device-tree=GUEST   write the partial device tree of GUEST's\n"
            "                        declared devices (name or domid) for\n"
            "                        xl's device_tree= option, and exit\n"
            "  --status              show the running instances' devices and\n"
            "                        counters (exit 1: nothing running)\n"
            "  --json                with --status: print JSON\n"
            "  -c, --config=FILE     read settings from FILE\n"
            "  --backend-dir=DIR     default socket directory (%s)\n"
            "  --mode=MODE           relay mode: auto, shadow, zero-copy\n"
            "  --queue-size=N        virtqueue size offered (power of two)\n"
            "  --bounce-kib=N        shadow bounce pool per queue, KiB\n"
            "  --timeout-ms=N        bound on each backend request\n"
            "  --mapcache-mib=N      bound on foreign-mapped guest RAM\n"
            "  --user=USER[:GROUP]   workers drop to this user (default %s,\n"
            "                        else %s; root: stay root)\n"
            "  --domid=N             serve only guest N\n"
            "  --qsd=PATH            qemu-storage-daemon binary (%s)\n"
            "  --spawn-qsd=yes|no    start qemu-storage-daemon for virtio\n"
            "                        disks that have no backend socket\n"
            "  --log-level=LEVEL     err, warn, info, debug (-d: debug)\n"
            "  -h, --help            show this help and exit\n"
            "  -V, --version         show the version and exit\n"
            "\n"
            "Sockets: <dir>/<domid>-<devid>.sock for one device, else "
            "<dir>/<type>.sock\n"
            "(blk.sock, fs.sock, ...) for a backend shared by every guest.\n",
            CFG_DEFAULT_DIR, CFG_DEFAULT_USER, CFG_FALLBACK_USER,
            CFG_DEFAULT_QSD);
}

#ifndef HAVE_XEN
static int
main_no_xen(const char *what)
{
    fprintf(stderr, "xen-vhost-master: %s needs Xen support, and this "
            "binary was built --without-xen (simulator only)\n", what);
    return MAIN_EXIT_USAGE;
}
#endif

int
main(int argc, char **argv)
{
    char err[CFG_ERR_MAX];
    struct cfg *c;
    int rc;

    if (dmargs_is_qemu_argv(argc, argv)) {
#ifdef HAVE_XEN
        return dm_main(argc, argv);
#else
        return main_no_xen("running as a libxl device model");
#endif
    }
    c = malloc(sizeof(*c));
    if (!c) {
        fprintf(stderr, "xen-vhost-master: out of memory\n");
        return 1;
    }
    rc = cfg_setup(c, argc, argv, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "xen-vhost-master: %s\n", err);
        free(c);
        return MAIN_EXIT_USAGE;
    }
    log_set_level(c->log_level);
    if ((c->run == CFG_RUN_SERVICE || c->run == CFG_RUN_CHECK) &&
        cfg_worker_user(c, CFG_DEFAULT_USER, CFG_FALLBACK_USER, err,
                        sizeof(err))) {
        fprintf(stderr, "xen-vhost-master: %s\n", err);
        free(c);
        return MAIN_EXIT_USAGE;
    }
    switch (c->run) {
    case CFG_RUN_HELP:
        main_usage(stdout);
        rc = 0;
        break;
    case CFG_RUN_VERSION:
        printf("%s\n", PACKAGE_STRING);
        rc = 0;
        break;
    case CFG_RUN_CHECK:
        cfg_dump(c, stdout);
        rc = 0;
        break;
    case CFG_RUN_DEVICE_TREE:
#ifdef HAVE_LIBFDT
        rc = dtb_write_guest(c, c->dt_guest, stdout, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "xen-vhost-master: %s\n", err);
        }
        rc = rc ? 1 : 0;
#else
        fprintf(stderr, "xen-vhost-master: --device-tree needs libfdt, and "
                "this binary was built without it\n");
        rc = MAIN_EXIT_USAGE;
#endif
        break;
    case CFG_RUN_STATUS:
#ifdef HAVE_JSONC
        rc = ctl_status_main(c->backend_dir, c->status_json, stdout, stderr);
#else
        fprintf(stderr, "xen-vhost-master: --status needs json-c, and this "
                "binary was built without it\n");
        rc = MAIN_EXIT_USAGE;
#endif
        break;
    case CFG_RUN_SERVICE:
#ifdef HAVE_XEN
        rc = service_main(c);
#else
        rc = main_no_xen("--service");
#endif
        break;
    default:
        main_usage(stderr);
        rc = MAIN_EXIT_USAGE;
        break;
    }
    free(c);
    return rc;
}
