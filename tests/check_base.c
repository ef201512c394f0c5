/* Unit tests: log, loop, hv (bank checks) and hv_sim. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "check_common.h"
#include "hv.h"
#include "hv_sim.h"
#include "log.h"
#include "loop.h"

START_TEST(test_log_levels)
{
    enum log_level l;

    ck_assert_int_eq(log_parse_level("debug", &l), 0);
    ck_assert_int_eq(l, LOG_LVL_DEBUG);
    ck_assert_int_eq(log_parse_level("loud", &l), -EINVAL);
    errno = 1234;
    log_debug("not shown at the default level");
    log_err("errno survives logging");
    ck_assert_int_eq(errno, 1234);
}
END_TEST

START_TEST(test_log_ratelimit)
{
    struct log_ratelimit rl = { .burst = 3, .interval_ms = 60000, .tokens = 3 };
    int ok = 0;

    for (int i = 0; i < 100; i++) {
        ok += log_ratelimit_ok(&rl);
    }
    ck_assert_int_eq(ok, 3);
    ck_assert_uint_eq(rl.suppressed, 97);
}
END_TEST

/* Run f with stderr going to a buffer; returns what was written. */
static char *
capture_stderr(void (*f)(struct log_ratelimit *), struct log_ratelimit *rl)
{
    static char buf[8192];
    FILE *tmp = tmpfile();
    int saved = dup(2);
    size_t n;

    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_ge(saved, 0);
    fflush(stderr);
    ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
    f(rl);
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    rewind(tmp);
    n = fread(buf, 1, sizeof(buf) - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    return buf;
}

static void
flood(struct log_ratelimit *rl)
{
    for (int i = 0; i < 50; i++) {
        log_rl(rl, LOG_LVL_WARN, "bad thing %d", i);
    }
}

static void
resume(struct log_ratelimit *rl)
{
    rl->last_ns -= 2ULL * rl->interval_ms * 1000000ULL; /* two refills due */
    log_rl(rl, LOG_LVL_WARN, "bad thing again");
    log_rl(rl, LOG_LVL_WARN, "and again");
}

/* Checklist 32: dropped lines are counted in the next line let through. */
START_TEST(test_log_rl_counts_suppressed)
{
    struct log_ratelimit rl = { .burst = 3, .interval_ms = 1000, .tokens = 3 };
    char *out;

    out = capture_stderr(flood, &rl);
    ck_assert_ptr_nonnull(strstr(out, "bad thing 2\n"));
    ck_assert_ptr_null(strstr(out, "bad thing 3"));
    ck_assert_ptr_null(strstr(out, "suppressed"));
    ck_assert_uint_eq(rl.suppressed, 47);
    out = capture_stderr(resume, &rl);
    ck_assert_msg(strstr(out, "bad thing again [47 more like this "
                              "suppressed]\n"), "got: %s", out);
    /* Counted once: the next line carries no count. */
    ck_assert_msg(strstr(out, "and again\n"), "got: %s", out);
    ck_assert_ptr_null(strstr(out, "and again ["));
}
END_TEST

START_TEST(test_layout_bounds)
{
    struct hv_layout l = { 0 };
    unsigned bank;
    uint64_t off;

    ck_assert_int_eq(hv_layout_add(&l, 0x40000000, 0x1000000), 0);
    ck_assert_int_eq(hv_layout_add(&l, 0x200000000ULL, 0x100000), 0);
    ck_assert_int_eq(hv_layout_add(&l, 0x100000, 0x1000), -EINVAL); /* order */
    ck_assert_int_eq(hv_layout_add(&l, UINT64_MAX - 10, 100), -EINVAL);

    ck_assert_int_eq(hv_layout_find(&l, 0x40000000, 16, &bank, &off), 0);
    ck_assert_uint_eq(bank, 0);
    ck_assert_uint_eq(off, 0);
    ck_assert_int_eq(hv_layout_find(&l, 0x40fffff0, 16, &bank, &off), 0);
    ck_assert_uint_eq(off, 0xfffff0);
    /* straddling the end of bank 0 */
    ck_assert_int_eq(hv_layout_find(&l, 0x40fffff0, 17, &bank, &off), -EFAULT);
    /* in the hole between banks */
    ck_assert_int_eq(hv_layout_find(&l, 0x80000000ULL, 1, &bank, &off), -EFAULT);
    /* below RAM, and a length that wraps 2^64 */
    ck_assert_int_eq(hv_layout_find(&l, 0x3ffffff0, 0x20, &bank, &off), -EFAULT);
    ck_assert_int_eq(hv_layout_find(&l, 0x40000010, UINT64_MAX, &bank, &off),
                     -EFAULT);
    ck_assert_int_eq(hv_layout_find(&l, UINT64_MAX, 2, &bank, &off), -EFAULT);
    ck_assert_int_eq(hv_layout_find(&l, 0x200000000ULL + 0xffff0, 16, &bank, &off),
                     0);
    ck_assert_uint_eq(bank, 1);
}
END_TEST

static void
count_mmio(void *opaque, uint64_t off, unsigned size, bool is_write,
           uint64_t *val)
{
    uint64_t *calls = opaque;

    (*calls)++;
    if (!is_write) {
        *val = off + size;
    }
}

START_TEST(test_sim_memory_and_mmio)
{
    struct hv_sim_config cfg = { .ram0_len = 1 << 20, .ram1_len = 1 << 20 };
    struct hv_sim *sim;
    struct hv *hv;
    struct hv_region reg[4];
    uint64_t calls = 0, v = 0, gen;
    uint32_t x = 0;
    uint8_t *p;

    ck_assert_int_eq(hv_sim_new(&sim, &cfg), 0);
    hv = hv_sim_hv(sim);
    ck_assert_int_eq(hv_write_le32(hv, HV_ARM_RAM1_GPA + 8, 0xdeadbeef), 0);
    ck_assert_int_eq(hv_read_le32(hv, HV_ARM_RAM1_GPA + 8, &x), 0);
    ck_assert_uint_eq(x, 0xdeadbeef);
    p = hv_sim_ram(sim, HV_ARM_RAM1_GPA + 8, 4);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p[0], 0xef);
    ck_assert_int_eq(hv_write_le32(hv, HV_ARM_RAM0_GPA + (1 << 20) - 2, 1),
                     -EFAULT);
    hv_sim_fail_mem(sim, 1);
    ck_assert_int_eq(hv_read_le32(hv, HV_ARM_RAM0_GPA, &x), -EFAULT);
    ck_assert_int_eq(hv_read_le32(hv, HV_ARM_RAM0_GPA, &x), 0);

    /* Direct pointers: the same bank check, none while a fault is
     * injected, and a new map_gen whenever earlier ones may be stale. */
    gen = hv->map_gen;
    ck_assert_ptr_eq(hv_mem_ptr(hv, HV_ARM_RAM1_GPA + 8, 4), p);
    ck_assert_ptr_null(hv_mem_ptr(hv, HV_ARM_RAM0_GPA + (1 << 20) - 2, 4));
    ck_assert_ptr_null(hv_mem_ptr(hv, 0x1000, 4));
    hv_sim_fail_mem(sim, 1);
    ck_assert_uint_gt(hv->map_gen, gen);
    gen = hv->map_gen;
    ck_assert_ptr_null(hv_mem_ptr(hv, HV_ARM_RAM0_GPA, 4));
    ck_assert_int_eq(hv_read_le32(hv, HV_ARM_RAM0_GPA, &x), -EFAULT);
    ck_assert_uint_gt(hv->map_gen, gen);
    ck_assert_ptr_nonnull(hv_mem_ptr(hv, HV_ARM_RAM0_GPA, 4));
    hv_sim_set_hole(sim, HV_ARM_RAM0_GPA + 4096, 4096);
    ck_assert_ptr_null(hv_mem_ptr(hv, HV_ARM_RAM0_GPA, 8192));
    ck_assert_ptr_nonnull(hv_mem_ptr(hv, HV_ARM_RAM0_GPA, 4096));
    hv_sim_set_hole(sim, 0, 0);

    ck_assert_int_eq(hv_mem_regions(hv, reg, 4), 2);
    ck_assert_uint_eq(reg[1].fd_off, 1 << 20);

    ck_assert_int_eq(hv_mmio_add(hv, 0x2000000, 0x200, count_mmio, &calls), 0);
    ck_assert_int_eq(hv_mmio_add(hv, 0x2000100, 0x200, count_mmio, &calls),
                     -EEXIST);
    ck_assert_int_eq(hv_sim_mmio(sim, 0x2000010, 4, false, &v), 0);
    ck_assert_uint_eq(v, 0x14);
    ck_assert_int_eq(hv_sim_mmio(sim, 0x3000000, 4, false, &v), -ENODEV);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_uint_eq(hv_sim_mmio_windows(sim), 1);
    hv_mmio_del(hv, 0x2000000);
    ck_assert_uint_eq(hv_sim_mmio_windows(sim), 0);

    hv_irq_set(hv, 33, true);
    hv_irq_set(hv, 33, true);
    hv_irq_set(hv, 33, false);
    hv_irq_set(hv, 33, true);
    ck_assert_uint_eq(hv_sim_irq_edges(sim, 33), 2);
    ck_assert(hv_sim_irq_level(sim, 33));
    hv_free(hv);
}
END_TEST

struct loop_probe {
    struct loop *loop;
    int fd_a, fd_b;
    int hits_a, hits_b, timers;
};

static void
on_a(void *opaque, uint32_t events)
{
    struct loop_probe *p = opaque;
    uint64_t v;

    ck_assert(events & EPOLLIN);
    ck_assert_int_eq(read(p->fd_a, &v, sizeof(v)), 8);
    p->hits_a++;
    /* Removing another ready fd from inside a callback must be safe. */
    loop_del_fd(p->loop, p->fd_b);
}

static void
on_b(void *opaque, uint32_t events)
{
    struct loop_probe *p = opaque;

    p->hits_b++;
    loop_del_fd(p->loop, p->fd_a);
}

static void
on_timer(void *opaque)
{
    ((struct loop_probe *)opaque)->timers++;
}

START_TEST(test_loop_dispatch)
{
    struct loop_probe p = { 0 };
    uint64_t one = 1;
    int id;

    p.loop = loop_new();
    ck_assert_ptr_nonnull(p.loop);
    p.fd_a = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p.fd_b = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ck_assert_int_eq(loop_add_fd(p.loop, p.fd_a, EPOLLIN, on_a, &p), 0);
    ck_assert_int_eq(loop_add_fd(p.loop, p.fd_a, EPOLLIN, on_a, &p), -EEXIST);
    ck_assert_int_eq(loop_add_fd(p.loop, p.fd_b, EPOLLIN, on_b, &p), 0);
    ck_assert_int_eq(write(p.fd_a, &one, 8), 8);
    ck_assert_int_eq(write(p.fd_b, &one, 8), 8);
    ck_assert_int_eq(loop_run_once(p.loop, 1000), 1);
    ck_assert_int_eq(p.hits_a + p.hits_b, 1);

    id = loop_add_timer(p.loop, 5, on_timer, &p);
    ck_assert_int_gt(id, 0);
    loop_cancel_timer(p.loop, loop_add_timer(p.loop, 1, on_timer, &p));
    while (p.timers == 0) {
        ck_assert_int_ge(loop_run_once(p.loop, 1000), 0);
    }
    ck_assert_int_eq(p.timers, 1);
    ck_assert_int_eq(loop_run_once(p.loop, 20), 0);
    close(p.fd_a);
    close(p.fd_b);
    loop_free(p.loop);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("base");

    CHECK_ADD(s, test_log_levels, 10);
    CHECK_ADD(s, test_log_ratelimit, 10);
    CHECK_ADD(s, test_log_rl_counts_suppressed, 10);
    CHECK_ADD(s, test_layout_bounds, 10);
    CHECK_ADD(s, test_sim_memory_and_mmio, 10);
    CHECK_ADD(s, test_loop_dispatch, 10);
    return s;
}

CHECK_MAIN(make_suite)
