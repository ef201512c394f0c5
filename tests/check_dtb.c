/*
 * Unit tests: dtb (partial device trees for declared devices), read back
 * with libfdt's own parser.
 */
#include <config.h>

#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "check_common.h"
#include "decl.h"
#include "dtb.h"

static struct disc_dev
dev(uint64_t base, unsigned irq, bool grants)
{
    struct disc_dev d;

    memset(&d, 0, sizeof(d));
    d.kind = DISC_KIND_DECLARED;
    d.base = base;
    d.irq = irq;
    d.device_id = 2;
    d.grants = grants;
    return d;
}

/* Property `name` of node `path` as `n` big-endian cells. */
static void
expect_cells(const void *fdt, const char *path, const char *name,
             const uint32_t *want, int n)
{
    int node = fdt_path_offset(fdt, path);
    const fdt32_t *p;
    int len;

    ck_assert_msg(node >= 0, "no node %s", path);
    p = fdt_getprop(fdt, node, name, &len);
    ck_assert_msg(p != NULL, "%s has no %s", path, name);
    ck_assert_int_eq(len, n * 4);
    for (int i = 0; i < n; i++) {
        ck_assert_uint_eq(fdt32_to_cpu(p[i]), want[i]);
    }
}

static bool
has_prop(const void *fdt, const char *path, const char *name)
{
    int node = fdt_path_offset(fdt, path);

    ck_assert_msg(node >= 0, "no node %s", path);
    return fdt_getprop(fdt, node, name, NULL) != NULL;
}

START_TEST(test_layout)
{
    const struct disc_dev d[2] = { dev(0x2000400, 40, true),
                                   dev(0x2000600, 41, false) };
    static char buf[DTB_MAX_SIZE];
    const uint32_t two = 2, one = 1;
    const uint32_t reg[4] = { 0, 0x2000400, 0, 0x200 };
    const uint32_t irq[3] = { 0, 8, 1 };
    const uint32_t iommus[2] = { DTB_PHANDLE_GRANT_DMA, 0 };
    const uint32_t gic = DTB_PHANDLE_GIC, gdma = DTB_PHANDLE_GRANT_DMA;
    int size = dtb_partial(d, 2, buf, sizeof(buf));
    int node;

    ck_assert_int_gt(size, 0);
    ck_assert_int_eq(fdt_check_header(buf), 0);
    ck_assert_int_eq((int)fdt_totalsize(buf), size);
    expect_cells(buf, "/", "#address-cells", &two, 1);
    expect_cells(buf, "/passthrough", "#size-cells", &two, 1);
    ck_assert(has_prop(buf, "/passthrough", "ranges"));
    node = fdt_path_offset(buf, "/passthrough");
    ck_assert_int_eq(fdt_node_check_compatible(buf, node, "simple-bus"), 0);
    node = fdt_path_offset(buf, "/passthrough/xen-grant-dma");
    ck_assert_int_ge(node, 0);
    ck_assert_int_eq(fdt_node_check_compatible(buf, node, "xen,grant-dma"), 0);
    ck_assert_uint_eq(fdt_get_phandle(buf, node), DTB_PHANDLE_GRANT_DMA);
    expect_cells(buf, "/passthrough/xen-grant-dma", "#iommu-cells", &one, 1);
    node = fdt_path_offset(buf, "/passthrough/virtio@2000400");
    ck_assert_int_eq(fdt_node_check_compatible(buf, node, "virtio,mmio"), 0);
    expect_cells(buf, "/passthrough/virtio@2000400", "reg", reg, 4);
    expect_cells(buf, "/passthrough/virtio@2000400", "interrupts", irq, 3);
    expect_cells(buf, "/passthrough/virtio@2000400", "interrupt-parent", &gic,
                 1);
    expect_cells(buf, "/passthrough/virtio@2000400", "iommus", iommus, 2);
    ck_assert(has_prop(buf, "/passthrough/virtio@2000400", "dma-coherent"));
    /* Grant DMA goes through the node the phandle names. */
    ck_assert_int_eq(fdt_node_offset_by_phandle(buf, gdma),
                     fdt_path_offset(buf, "/passthrough/xen-grant-dma"));
    /* No grants: a plain virtio-mmio node. */
    ck_assert(!has_prop(buf, "/passthrough/virtio@2000600", "iommus"));
    ck_assert(has_prop(buf, "/passthrough/virtio@2000600", "interrupts"));
}
END_TEST

START_TEST(test_no_grants_no_grant_node)
{
    const struct disc_dev d = dev(0x2000000, 33, false);
    static char buf[DTB_MAX_SIZE];
    const uint32_t irq[3] = { 0, 1, 1 };

    ck_assert_int_gt(dtb_partial(&d, 1, buf, sizeof(buf)), 0);
    ck_assert_int_lt(fdt_path_offset(buf, "/passthrough/xen-grant-dma"), 0);
    expect_cells(buf, "/passthrough/virtio@2000000", "interrupts", irq, 3);
}
END_TEST

START_TEST(test_errors)
{
    const struct disc_dev d = dev(0x2000000, 33, true);
    static char buf[DTB_MAX_SIZE];

    ck_assert_int_eq(dtb_partial(&d, 0, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(dtb_partial(&d, 1, buf, 64), -ENOSPC);
}
END_TEST

/* The whole command path: config text -> --device-tree's output. */
START_TEST(test_write_guest)
{
    static const char conf[] =
        "[device g1:0]\ndeclare = yes\ndevice-id = blk\nbase = 0x2000400\n"
        "irq = 40\ngrants = yes\n"
        "[device 3:1]\ndeclare = yes\ndevice-id = blk\nbase = 0x2000600\n"
        "irq = 41\n";
    struct cfg *c = malloc(sizeof(*c));
    char err[CFG_ERR_MAX];
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_ptr_nonnull(c);
    cfg_init(c);
    ck_assert_int_eq(cfg_parse_text(c, conf, strlen(conf), "t", err,
                                    sizeof(err)), 0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(dtb_write_guest(c, "g1", f, err, sizeof(err)), 0);
    fclose(f);
    ck_assert_int_eq(fdt_check_header(out), 0);
    ck_assert_uint_eq(fdt_totalsize(out), len);
    ck_assert_int_ge(fdt_path_offset(out, "/passthrough/virtio@2000400"), 0);
    ck_assert_int_lt(fdt_path_offset(out, "/passthrough/virtio@2000600"), 0);
    free(out);
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(dtb_write_guest(c, "3", f, err, sizeof(err)), 0);
    fclose(f);
    ck_assert_int_ge(fdt_path_offset(out, "/passthrough/virtio@2000600"), 0);
    ck_assert_int_lt(fdt_path_offset(out, "/passthrough/xen-grant-dma"), 0);
    free(out);
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(dtb_write_guest(c, "g2", f, err, sizeof(err)), -ENOENT);
    fclose(f);
    ck_assert_uint_eq(len, 0);
    ck_assert_ptr_nonnull(strstr(err, "no device is declared for guest 'g2'"));
    free(out);
    free(c);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("dtb");

    CHECK_ADD(s, test_layout, 5);
    CHECK_ADD(s, test_no_grants_no_grant_node, 5);
    CHECK_ADD(s, test_errors, 5);
    CHECK_ADD(s, test_write_guest, 5);
    return s;
}

CHECK_MAIN(make_suite)
