/*
 * Unit tests: hv_sim_gnt, the simulator's grant table shared with a
 * backend through the guest's memfd, and the zero-copy region and fd
 * hv_gnt gives for it (rust-vmm's GRANT layout).  The backend's side is
 * exercised in a child process, as xvm-test-blkd uses it.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_common.h"
#include "hv_gnt.h"
#include "hv_sim.h"
#include "hv_sim_gnt.h"

#define RAM0 HV_ARM_RAM0_GPA
#define PAGE 4096u
#define DOMID 7u

static struct hv_sim *
new_sim(void)
{
    struct hv_sim_config c = { .name = "sgnt", .ram0_len = 1u << 20,
                               .domid = DOMID };
    struct hv_sim *sim;

    ck_assert_int_eq(hv_sim_new(&sim, &c), 0);
    return sim;
}

/* The region a zero-copy backend gets, and its fd: what rust-vmm expects. */
START_TEST(test_grant_region_layout)
{
    struct hv_sim *sim = new_sim();
    struct hv *gnt;
    struct hv_region reg[HV_MAX_BANKS];
    struct hv_sim_gnt view;
    int fd;

    ck_assert_int_eq(hv_gnt_new(&gnt, hv_sim_hv(sim)), 0);
    ck_assert_int_eq(hv_mem_regions(gnt, reg, HV_MAX_BANKS), 1);
    ck_assert_uint_eq(reg[0].gpa, HV_GNT_ADDR_BIT);
    ck_assert_uint_eq(reg[0].len, (uint64_t)HV_GNT_MAX_REFS << 12);
    ck_assert_uint_eq(reg[0].fd_off, 0);
    ck_assert_uint_eq(reg[0].xen_mmap_flags, 0x2u | 0x8u);
    ck_assert_uint_eq(reg[0].xen_domid, DOMID);
    fd = hv_mem_share(gnt);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(hv_sim_gnt_open(&view, fd, DOMID), 0);
    hv_sim_gnt_close(&view);
    /* Another guest's domid is not this table's. */
    ck_assert_int_eq(hv_sim_gnt_open(&view, fd, DOMID + 1), -EPERM);
    close(fd);
    hv_free(gnt);
    hv_sim_free(sim);
}
END_TEST

/* A file that is not a simulator grant table is refused. */
START_TEST(test_open_refuses_other_fds)
{
    struct hv_sim_gnt view;
    int pfd[2];
    FILE *f = tmpfile();

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(hv_sim_gnt_open(&view, fileno(f), 0), -EINVAL);
    ck_assert_int_eq(ftruncate(fileno(f), 1 << 20), 0);
    ck_assert_int_eq(hv_sim_gnt_open(&view, fileno(f), 0), -EINVAL);
    fclose(f);
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(hv_sim_gnt_open(&view, pfd[0], 0), -EINVAL);
    close(pfd[0]);
    close(pfd[1]);
}
END_TEST

/*
 * Another process maps grants through the shared fd: it sees the guest's
 * bytes, writes reach the guest, read-only and ungranted refs fail, and
 * while it holds a mapping the guest cannot revoke the ref.
 */
START_TEST(test_backend_process_maps)
{
    struct hv_sim *sim = new_sim();
    struct hv *gnt;
    uint8_t *ram = hv_sim_ram(sim, RAM0, 8 * PAGE);
    int fd, go[2], done[2], st;
    char c = 0;
    pid_t pid;

    ck_assert_int_eq(hv_gnt_new(&gnt, hv_sim_hv(sim)), 0);
    fd = hv_mem_share(gnt);
    ck_assert_int_ge(fd, 0);
    memset(ram + 5 * PAGE, 0xa5, PAGE);
    ck_assert_int_eq(hv_sim_grant(sim, 20, RAM0 + 5 * PAGE, false), 0);
    ck_assert_int_eq(hv_sim_grant(sim, 21, RAM0 + 2 * PAGE, false), 0);
    ck_assert_int_eq(hv_sim_grant(sim, 22, RAM0 + 3 * PAGE, true), 0);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct hv_sim_gnt g;
        uint8_t *p;
        void *q;
        int bad = 0;

        bad |= hv_sim_gnt_open(&g, fd, DOMID) != 0;
        bad |= hv_sim_gnt_map(&g, 20, 2, true, &q) != 0;
        p = q;
        bad |= p[0] != 0xa5 || p[PAGE - 1] != 0xa5;
        p[PAGE] = 0x5a; /* ref 21: guest page 2 */
        bad |= hv_sim_gnt_map(&g, 22, 1, true, &q) != -EFAULT;
        bad |= hv_sim_gnt_map(&g, 23, 1, false, &q) != -EFAULT;
        bad |= hv_sim_gnt_map(&g, 21, 3, false, &q) != -EFAULT;
        bad = write(done[1], bad ? "1" : "0", 1) != 1 || bad;
        /* Hold the mapping until the guest tried to revoke. */
        bad |= read(go[0], &c, 1) != 1;
        hv_sim_gnt_unmap(&g, p, 20, 2);
        hv_sim_gnt_close(&g);
        _exit(bad);
    }
    ck_assert_int_eq(read(done[0], &c, 1), 1);
    ck_assert_int_eq(c, '0');
    ck_assert_uint_eq(ram[2 * PAGE], 0x5a);
    ck_assert_uint_eq(hv_sim_gnt_mapped(sim), 2);
    ck_assert_int_eq(hv_sim_revoke(sim, 20), -EBUSY);
    ck_assert_int_eq(hv_sim_revoke(sim, 22), 0);
    ck_assert_int_eq(write(go[1], "x", 1), 1);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ck_assert_uint_eq(hv_sim_gnt_mapped(sim), 0);
    ck_assert_int_eq(hv_sim_revoke(sim, 20), 0);
    ck_assert_int_eq(hv_sim_revoke(sim, 21), 0);
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(go[i]);
        close(done[i]);
    }
    hv_free(gnt);
    hv_sim_free(sim);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("hv_sim_gnt");

    CHECK_ADD(s, test_grant_region_layout, 10);
    CHECK_ADD(s, test_open_refuses_other_fds, 10);
    CHECK_ADD(s, test_backend_process_maps, 10);
    return s;
}

CHECK_MAIN(make_suite)
