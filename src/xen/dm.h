/*
 * dm: the xl-spawned mode (Xen builds only): started by libxl as the
 * guest's `device_model_override`, with QEMU's argv (see dmargs.h).
 *
 * Probe run (no -xen-domid): answer QMP on the inherited socket, exit
 * after `quit`.  Real run: listen on the QMP sockets, write
 * /local/domain/0/device-model/<domid>/state = running (not under
 * -xen-domid-restrict, where libxl asks query-status instead), serve
 * the guest's virtio devices in-process (the service's worker code), and
 * on SIGHUP/SIGTERM or the guest's death tear them down, write state 6
 * for each backend entry and exit 0.
 */
#ifndef XVM_DM_H
#define XVM_DM_H

/* Returns the process exit status (2 for a bad argv). */
int dm_main(int argc, char **argv);

#endif
