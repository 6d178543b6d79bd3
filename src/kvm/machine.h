/* machine.h — one pscivm virtual machine on KVM/arm64: guest RAM, vCPU threads, vGICv3,
 * the MMIO bus with its devices, PSCI (pscivm's core in user mode, KVM's in kernel mode), the
 * system-event policy and the event stream. cmd_run.c builds one from run_options and runs it.
 *
 * Threads: one per vCPU (runs KVM_RUN and handles that vCPU's exits), the caller of
 * machine_run() (waits for the end: system event, timeout, signal, error; then joins the vCPU
 * threads and either restarts the VM in-process or returns), a stdin reader feeding the UART,
 * and a signal thread (SIGINT/SIGTERM). vCPU threads are kicked out of KVM_RUN with
 * run->immediate_exit + SIGUSR1. */
#ifndef PSCIVM_KVM_MACHINE_H
#define PSCIVM_KVM_MACHINE_H

#include "vmm/run_options.h"

/* Build the machine described by opts, run it until it ends, tear it down. Returns the process
 * exit status (exit_status.h); errors have been printed to stderr. */
int machine_run_options(const struct run_options *opts);

#endif
