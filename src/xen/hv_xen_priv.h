/*
 * hv_xen_priv: the state of one hv_xen instance, shared by hv_xen.c
 * (start-up, ioreq service, teardown) and hv_xen_privcmd.c (kernel
 * ioeventfds and irqfds, zero-copy regions, privilege drop).  Private to
 * hv_xen*.c.
 */
#ifndef XVM_HV_XEN_PRIV_H
#define XVM_HV_XEN_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>

#include "hv_xen.h"
#include "hv_xen_ioreq.h"
#include "hv_xen_mem.h"
#include "log.h"
#include "privfd.h"

#define HV_XEN_MAX_IOEVENTFD 64

/* The kernel ioeventfd matches base + this offset (virtio-mmio QueueNotify). */
#define HV_XEN_QUEUE_NOTIFY_OFF 0x50u

/* Start-up advances one stage at a time; teardown unwinds from any. */
enum hv_xen_stage {
    HV_XEN_ST_NONE = 0,
    HV_XEN_ST_HANDLES,  /* library handles and privcmd fd open */
    HV_XEN_ST_LAYOUT,   /* vcpus and RAM layout known, mapcache ready */
    HV_XEN_ST_SERVER,   /* ioreq server created */
    HV_XEN_ST_PAGE,     /* its ioreq page mapped */
    HV_XEN_ST_ENABLED,  /* server enabled: vp_eports are valid */
    HV_XEN_ST_PORTS,    /* one event channel bound per vcpu */
    HV_XEN_ST_SERVING,  /* event channel fd in the loop */
};

/* A kernel ioeventfd registered through privcmd. */
struct hv_xen_kick {
    uint64_t addr;      /* QueueNotify address the guest writes */
    uint32_t vq;
    int fd;             /* caller's eventfd (not owned) */
    bool used;
};

/* A kernel irqfd registered through privcmd. */
struct hv_xen_irqfd {
    unsigned irq;
    int fd;             /* caller's eventfd (not owned) */
    bool used;
};

/* Kernel ioeventfd (irqfd) support, probed on first use. */
enum hv_xen_kern {
    HV_XEN_KERN_UNKNOWN = 0,
    HV_XEN_KERN_YES,
    HV_XEN_KERN_NO,
};

struct hv_xen {
    struct hv hv;                    /* first: container_of by cast */
    enum hv_xen_stage stage;
    struct loop *loop;
    struct hv_xen_opts opts;

    xendevicemodel_handle *dm;
    xenforeignmemory_handle *fmem;
    xenevtchn_handle *xce;
    int evtchn_fd;                   /* owned by xce; -1 when not in loop */
    const struct privfd_ops *priv;   /* opts.privcmd, or the real device */
    int privcmd_fd;                  /* our own: kernel ioeventfds */
    int share_fd;                    /* restricted to the guest: copies go
                                      * to zero-copy backends */
    int gnt_fd;                      /* /dev/xen/gntdev, attached for grant
                                      * devices only; -1: none */
    int gnt_share_fd;                /* a second gntdev of the guest's:
                                      * copies go to zero-copy backends;
                                      * -1: none */

    unsigned nr_vcpus;
    ioservid_t ioservid;
    xenforeignmemory_resource_handle *ioreq_res;
    struct ioreq *slots;             /* nr_vcpus slots in the ioreq page */
    uint32_t *local_port;            /* per vcpu, valid below nr_bound */
    struct hv_xen_slot_watch *watch; /* per vcpu: stuck requests */
    unsigned nr_bound;
    bool answered_any;               /* the first answer was logged */

    struct hv_xen_window win[HV_XEN_MAX_WINDOWS];
    struct hv_xen_ioreq_ctx ioreq;
    struct hv_xen_mapcache mc;

    enum hv_xen_kern kern;
    struct hv_xen_kick kick[HV_XEN_MAX_IOEVENTFD];
    enum hv_xen_kern irqfd_kern;
    struct hv_xen_irqfd irqfd[HV_XEN_MAX_IOEVENTFD];
    int busy_timer;                  /* loop timer rescanning slots, 0 = none */
    int watch_timer;                 /* loop timer looking for stuck slots */
    struct log_ratelimit rl;         /* event-channel trouble */
};

static inline struct hv_xen *
hv_xen_of(struct hv *hv)
{
    return (struct hv_xen *)hv;
}

/* hv_xen.c: the ops table (tests build a struct hv_xen around it). */
extern const struct hv_ops hv_xen_ops;
/*
 * IOREQ_TYPE_INVALIDATE: drop the guest mappings (pinned ones retire) and
 * move map_gen, so holders of direct pointers take new ones.
 */
void hv_xen_invalidate(void *opaque);

/* hv_xen_privcmd.c: the optional ops and the teardown they need. */
int hv_xen_ioeventfd_add(struct hv *hv, uint64_t addr, uint32_t datamatch,
                         int fd);
void hv_xen_ioeventfd_del(struct hv *hv, uint64_t addr, int fd);
/* Deassign every kernel ioeventfd (before the ioreq page goes). */
void hv_xen_ioeventfd_clear(struct hv_xen *x);
int hv_xen_irqfd_add(struct hv *hv, unsigned irq, int fd);
void hv_xen_irqfd_del(struct hv *hv, unsigned irq, int fd);
/* Deassign every kernel irqfd. */
void hv_xen_irqfd_clear(struct hv_xen *x);
int hv_xen_mem_regions(struct hv *hv, struct hv_region *out, unsigned max);
int hv_xen_mem_share(struct hv *hv);
/*
 * Open our own privcmd fd (optional: without it, no kernel ioeventfd)
 * and the guest's share fd (without it, no zero-copy); both -1 on
 * failure, with a warning saying what is lost.
 */
void hv_xen_privcmd_open(struct hv_xen *x);

#endif
