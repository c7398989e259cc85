/* mapguard.c -- survives input files that shrink while they are mapped.
 *
 * Reading a page of a MAP_PRIVATE file mapping beyond the file's current
 * end raises SIGBUS, so a file truncated while scan, load or dis reads it
 * (an upload still being written, a hostile writer) used to kill the
 * process (exit 135). Every input mapping is registered here; the SIGBUS
 * handler finds the mapping that holds the faulting address, replaces the
 * rest of it with zero pages (MAP_FIXED anonymous: the faulting read is
 * retried and sees zeros) and marks it. The command then reports an I/O
 * error for that file ("changed while being read") instead of any result
 * computed from the zeros. A SIGBUS anywhere else is not ours: the default
 * action is restored and the fault repeats (a crash, as before).
 *
 * Only the CLI uses this; the library never installs signal handlers. The
 * slot table is the one piece of process-wide state the signal handler
 * needs: lock-free, one slot per mapping in use (at most one per scan
 * worker plus load/dis's single input). */
#define _DEFAULT_SOURCE 1
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_SLOTS 1024

static struct guard_slot {
    atomic_uintptr_t lo;  /* 0: free */
    atomic_uintptr_t hi;  /* page-rounded end */
    atomic_int hit;
} slots[GUARD_SLOTS];

static atomic_int installed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    for (size_t i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t lo = atomic_load(&slots[i].lo);
        uintptr_t hi = atomic_load(&slots[i].hi);
        if (lo && a >= lo && a < hi) {
            long pg = sysconf(_SC_PAGESIZE);
            uintptr_t page = pg > 0 ? (uintptr_t)pg : 4096;
            uintptr_t from = a / page * page;
            /* async-signal-safe in practice: one system call */
            if (mmap((void *)from, hi - from, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
                atomic_store(&slots[i].hit, 1);
                return;
            }
            break;
        }
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

int cli_guard_map(const void *map, size_t len)
{
    if (!atomic_exchange(&installed, 1)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, NULL) < 0)
            return -1;
    }
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t page = pg > 0 ? (uintptr_t)pg : 4096;
    uintptr_t lo = (uintptr_t)map;
    uintptr_t hi = lo + (len + page - 1) / page * page;
    for (int i = 0; i < GUARD_SLOTS; i++) {
        uintptr_t expect = 0;
        /* claim the slot with hi first so the handler never sees lo set
         * with a stale hi */
        if (atomic_load(&slots[i].lo) == 0 &&
            atomic_compare_exchange_strong(&slots[i].hi, &expect, hi)) {
            atomic_store(&slots[i].hit, 0);
            atomic_store(&slots[i].lo, lo);
            return i;
        }
    }
    return -1;
}

int cli_unguard_map(int slot)
{
    if (slot < 0 || slot >= GUARD_SLOTS)
        return 0;
    int hit = atomic_load(&slots[slot].hit);
    atomic_store(&slots[slot].lo, 0);
    atomic_store(&slots[slot].hi, 0);
    return hit;
}

int cli_map_changed(int slot)
{
    if (slot < 0 || slot >= GUARD_SLOTS)
        return 0;
    return atomic_load(&slots[slot].hit);
}

void cli_test_stop(void)
{
    /* tests/test_hostile.py: stop here so the test can truncate the
     * mapped file at a known point (a process stopping itself; harmless) */
    static atomic_int stopped; /* once per process: the first mapping */
    const char *e = getenv("PICKLEGUARD_TEST_STOP_AFTER_MAP");
    if (e && *e == '1' && !atomic_exchange(&stopped, 1))
        raise(SIGSTOP);
}
