/* sandbox.c -- confines `scan`, `load` and `dis` before they read hostile
 * bytes (SECURITY.md, "Confinement").
 *
 * Called once the inputs and the output are open. It sets
 * PR_SET_NO_NEW_PRIVS, RLIMIT_CORE 0 (no core file full of hostile data)
 * and loads a seccomp filter (libseccomp) that default-allows the
 * system calls the tools need (read, mmap, futex, fstat...) and refuses
 * everything that could act on the world:
 *   - killed on the spot: execve/execveat, every socket call, ptrace,
 *     fork/vfork, mount, module, BPF, keyring, namespace and io_uring
 *     calls; a killed sandbox exits by SIGSYS (status 159 in a shell);
 *   - refused with an errno: opening anything for writing (O_WRONLY,
 *     O_RDWR, O_CREAT, O_TRUNC), creating, renaming, linking, removing or
 *     changing files, write()s to any descriptor but stdout/stderr,
 *     new processes (clone without CLONE_VM), signals to other
 *     processes (clone without CLONE_VM), executable memory;
 *   - `dis` opens nothing after it starts, so open() is refused there too.
 * Read-only opens stay allowed for `scan` (it opens each file of a
 * directory walk itself) and `load` (gdbm and sqlite shelves reopen their
 * file by name).
 *
 * Sanitizer builds (make asan) also allow what LeakSanitizer needs at exit
 * to stop the world (ptrace of its own threads, process_vm_readv, and
 * read-only opens of /proc/self/task even in `dis`).
 * PICKLEGUARD_NO_SANDBOX=1 or --no-sandbox skips all of this (debugging:
 * gdb, strace -f). PICKLEGUARD_TEST_SANDBOX=execve|socket|open-write|
 * write-fd makes the confined process then try that call (tests). */
#define _GNU_SOURCE 1
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static const char *const killed[] = {
    "execve", "execveat", "socket", "socketpair", "connect", "bind",
    "listen", "accept", "accept4", "sendto", "sendmsg", "sendmmsg",
    "recvfrom", "recvmsg", "recvmmsg", "fork", "vfork", "mount",
    "umount2", "pivot_root", "chroot", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "unshare",
    "setns", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "personality", "process_vm_writev", "reboot",
    "swapon", "swapoff", "acct", "setuid", "setgid", "setreuid",
    "setregid", "setresuid", "setresgid", "setgroups", "memfd_create",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "inotify_init", "inotify_init1", "quotactl", "syslog", NULL};

static const char *const killed_unsanitized[] = {
    "ptrace", "process_vm_readv", NULL};

static const char *const refused[] = {
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat",
    "chmod", "fchmod", "fchmodat", "chown", "fchown", "lchown", "fchownat",
    "truncate", "ftruncate", "mknod", "mknodat", "utime", "utimes",
    "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "openat2", "clone3",
    "fallocate", "setrlimit", "prlimit64", "settimeofday", "clock_settime",
    "sethostname", "setdomainname", "chdir", "fchdir", NULL};

/* SCMP_An() spelled out: clang's -Wmissing-field-initializers rejects the
 * two-argument forms */
static struct scmp_arg_cmp argcmp(unsigned arg, enum scmp_compare op,
                                  scmp_datum_t a, scmp_datum_t b)
{
    struct scmp_arg_cmp c = {arg, op, a, b};
    return c;
}

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
                unsigned n, const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int build(scmp_filter_ctx ctx, int opens_files)
{
    int rc = 0;
    for (size_t i = 0; killed[i]; i++)
        rc |= rule(ctx, SCMP_ACT_KILL_PROCESS, killed[i], 0, NULL);
    if (!SANITIZED)
        for (size_t i = 0; killed_unsanitized[i]; i++)
            rc |= rule(ctx, SCMP_ACT_KILL_PROCESS, killed_unsanitized[i], 0, NULL);
    for (size_t i = 0; refused[i]; i++)
        rc |= rule(ctx, SCMP_ACT_ERRNO(strcmp(refused[i], "clone3") == 0 ||
                                       strcmp(refused[i], "openat2") == 0
                                           ? ENOSYS : EPERM),
                   refused[i], 0, NULL);

    /* opens: read-only, or none at all */
    static const unsigned long wflags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC};
    for (size_t k = 0; k < sizeof wflags / sizeof wflags[0]; k++) {
        struct scmp_arg_cmp c1 = argcmp(1, SCMP_CMP_MASKED_EQ, wflags[k], wflags[k]);
        struct scmp_arg_cmp c2 = argcmp(2, SCMP_CMP_MASKED_EQ, wflags[k], wflags[k]);
        if (opens_files) {
            rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "open", 1, &c1);
            rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "openat", 1, &c2);
        }
    }
    if (!opens_files && !SANITIZED) { /* LSan reads /proc/self/task */
        rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "open", 0, NULL);
        rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "openat", 0, NULL);
    }

    /* writes: stdout and stderr only */
    static const char *const writes[] = {"write", "pwrite64", "writev",
                                         "pwritev", "pwritev2", "sendfile",
                                         "copy_file_range", "splice",
                                         "tee", "vmsplice", NULL};
    struct scmp_arg_cmp hi = argcmp(0, SCMP_CMP_GT, 2, 0);
    for (size_t i = 0; writes[i]; i++)
        rc |= rule(ctx, SCMP_ACT_ERRNO(EBADF), writes[i], 1, &hi);

    /* threads (scan --jobs; LeakSanitizer's tracer) share the address
     * space; fork() does not: no new processes */
    struct scmp_arg_cmp novm = argcmp(0, SCMP_CMP_MASKED_EQ, CLONE_VM, 0);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 1, &novm);
    /* signals: only to this process */
    struct scmp_arg_cmp other = argcmp(0, SCMP_CMP_NE, (scmp_datum_t)getpid(), 0);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "kill", 1, &other);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "tgkill", 1, &other);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "tkill", 0, NULL);

    /* no executable memory */
    struct scmp_arg_cmp exec2 = argcmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "mmap", 1, &exec2);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "mprotect", 1, &exec2);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "pkey_mprotect", 1, &exec2);
    return rc;
}

/* The test hook: one forbidden call after confinement. */
static void test_hook(void)
{
    const char *t = getenv("PICKLEGUARD_TEST_SANDBOX");
    if (!t || !*t)
        return;
    if (strcmp(t, "execve") == 0) {
        char *argv[] = {(char *)"/bin/true", NULL};
        execve("/bin/true", argv, environ);
        cli_errorf("sandbox test: execve returned: %s", strerror(errno));
    } else if (strcmp(t, "socket") == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        cli_errorf("sandbox test: socket returned %d", s);
    } else if (strcmp(t, "open-write") == 0) {
        int fd = open("/tmp/pickleguard-sandbox-test", O_WRONLY | O_CREAT, 0600);
        cli_errorf("sandbox test: open for writing: %s",
                   fd < 0 ? strerror(errno) : "allowed");
        if (fd >= 0)
            close(fd);
    } else if (strcmp(t, "fork") == 0) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        cli_errorf("sandbox test: fork returned %d", (int)p);
    }
}

int cli_sandbox_enter(int opens_files)
{
    const char *off = getenv("PICKLEGUARD_NO_SANDBOX");
    if (off && *off && strcmp(off, "0") != 0)
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        cli_errorf("sandbox: PR_SET_NO_NEW_PRIVS: %s (PICKLEGUARD_NO_SANDBOX=1 "
                   "runs unconfined)", strerror(errno));
        return -1;
    }
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        cli_errorf("sandbox: seccomp_init failed");
        return -1;
    }
    int rc = build(ctx, opens_files);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        cli_errorf("sandbox: cannot load the seccomp filter: %s "
                   "(PICKLEGUARD_NO_SANDBOX=1 runs unconfined)", strerror(-rc));
        return -1;
    }
    test_hook();
    return 0;
}
