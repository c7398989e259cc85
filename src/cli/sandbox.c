/* sandbox.c -- confines `scan`, `load` and `dis` before they read hostile
 * bytes (SECURITY.md, "Confinement").
 *
 * Called once the inputs and the output are open. It sets
 * PR_SET_NO_NEW_PRIVS, RLIMIT_CORE 0 (no core file full of hostile data)
 * and loads a seccomp filter (libseccomp) that is an ALLOWLIST: only the
 * system calls the tools make after this point are allowed, most of them
 * with their arguments checked:
 *   - reading already-open descriptors (read, pread, lseek, fstat...),
 *     writing to stdout and stderr only (other descriptors: EBADF);
 *   - memory: mmap/mprotect without PROT_EXEC (else EPERM), munmap,
 *     mremap, brk, madvise;
 *   - threads (scan --jobs): clone with CLONE_THREAD (clone without
 *     CLONE_VM, a fork: EPERM; clone3: ENOSYS so glibc uses clone),
 *     futex, set_robust_list, rseq;
 *   - signals: rt_sigaction/rt_sigprocmask/rt_sigreturn/sigaltstack (the
 *     SIGBUS guard of mapguard.c), kill/tgkill to this process only;
 *   - clock_gettime, getrandom (the SipHash keys), getpid, sysinfo (qsort);
 *   - poll/ppoll (the bounded wait on a FIFO, cli_input_open);
 *   - ioctl TCGETS only (stdio asks whether stdout is a terminal);
 *   - `scan` and `load` only: read-only open/openat (a directory walk, each
 *     file of it, gdbm and sqlite shelves reopening their file by name:
 *     O_WRONLY, O_RDWR, O_CREAT or O_TRUNC get EACCES), getdents64,
 *     stat/lstat/readlink/getcwd (realpath), fcntl's descriptor and lock
 *     queries, access (sqlite).
 * Any other system call -- those that could act on the world (execve,
 * socket, ptrace...) and everything nobody listed -- ends the process by
 * SIGSYS (status 159 in a shell): execve, socket calls, fork and ptrace
 * are killed outright; anything else is trapped first so the process can
 * say which call it was before it dies (a call missing from this list is
 * a bug to report, not an attack to hide).
 *
 * Sanitizer builds (make asan) also allow what ASan and LeakSanitizer need
 * at exit to stop the world (clone of a tracer sharing memory, ptrace of
 * its own threads, wait4, prctl, process_vm_readv, sched_yield, getdents
 * and read-only opens of /proc/self even in `dis`), and there a call on
 * no list fails with EPERM instead of being trapped (the tracer blocks
 * every signal: a trap would kill it silently and hang the process).
 * PICKLEGUARD_NO_SANDBOX=1 or --no-sandbox skips all of this (debugging:
 * gdb, strace -f). PICKLEGUARD_TEST_SANDBOX=execve|socket|open-write|
 * fork|unlisted makes the confined process then try that call (tests). */
#define _GNU_SOURCE 1
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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

/* killed outright, no message: what an attacker would want first */
static const char *const killed[] = {
    "execve", "execveat", "socket", "socketpair", "connect", "bind",
    "listen", "accept", "accept4", "sendto", "sendmsg", "sendmmsg",
    "recvfrom", "recvmsg", "recvmmsg", "fork", "vfork", "mount",
    "umount2", "pivot_root", "chroot", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "unshare",
    "setns", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "personality", "process_vm_writev", "reboot",
    "memfd_create", "open_by_handle_at", NULL};

/* allowed whatever their arguments: they act on this process's own
 * memory, descriptors already open, or read the clock */
static const char *const allowed[] = {
    "read", "readv", "pread64", "preadv", "preadv2", "lseek", "fstat",
    "newfstatat", "statx", "close", "munmap", "mremap", "brk", "madvise",
    "futex", "set_robust_list", "rseq", "exit", "exit_group",
    "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "sigaltstack",
    "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep",
    "nanosleep", "sched_yield", "sched_getaffinity", "getrandom", "getpid",
    "gettid", "getuid", "geteuid", "getgid", "getegid", "sysinfo", "poll",
    "ppoll", "getrlimit", "fadvise64", NULL};

/* scan and load only: the directory walk and its files, realpath, and the
 * shelves (gdbm, sqlite) that reopen their file by name */
static const char *const walking[] = {
    "getdents64", "stat", "lstat", "readlink", "readlinkat", "getcwd",
    "access", "faccessat", "faccessat2", "fstatfs", NULL};

/* sanitizer builds: ASan/LeakSanitizer stop the world at exit with a
 * tracer thread (clone sharing memory, ptrace, process_vm_readv, wait4)
 * and read /proc/self */
static const char *const sanitizer[] = {
    "ptrace", "process_vm_readv", "wait4", "waitid", "prctl", "getppid",
    "getdents", "getdents64", "readlink", "readlinkat", "mincore",
    "sched_getparam",
    "getrusage", "pipe", "pipe2", "dup", "dup2", "dup3", NULL};

/* SCMP_An() spelled out: clang's -Wmissing-field-initializers rejects the
 * two-argument forms */
static struct scmp_arg_cmp argcmp(unsigned arg, enum scmp_compare op,
                                  scmp_datum_t a, scmp_datum_t b)
{
    struct scmp_arg_cmp c = {arg, op, a, b};
    return c;
}

/* What a call on no list gets: trapped (a message, then SIGSYS). Sanitizer
 * builds: LeakSanitizer's tracer runs with every signal blocked, so a trap
 * would kill it silently and leave the process spinning; there an unlisted
 * call fails with EPERM instead. */
#define DEFAULT_ACTION (SANITIZED ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_TRAP)

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
                unsigned n, const struct scmp_arg_cmp *cmp)
{
    if (action == DEFAULT_ACTION)
        return 0; /* libseccomp refuses a rule that repeats the default */
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not on this architecture */
    return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int rules(scmp_filter_ctx ctx, uint32_t action,
                 const char *const *names)
{
    int rc = 0;
    for (size_t i = 0; names[i]; i++)
        rc |= rule(ctx, action, names[i], 0, NULL);
    return rc;
}

/* One rule per (mask, value) pair of argument `arg`: action when
 * (arg & mask) == value. */
static int masked(scmp_filter_ctx ctx, uint32_t action, const char *name,
                  unsigned arg, scmp_datum_t mask, scmp_datum_t value)
{
    struct scmp_arg_cmp c = argcmp(arg, SCMP_CMP_MASKED_EQ, mask, value);
    return rule(ctx, action, name, 1, &c);
}

static int build(scmp_filter_ctx ctx, int opens_files)
{
    int rc = rules(ctx, SCMP_ACT_KILL_PROCESS, killed);
    if (!SANITIZED)
        rc |= rule(ctx, SCMP_ACT_KILL_PROCESS, "ptrace", 0, NULL);
    rc |= rules(ctx, SCMP_ACT_ALLOW, allowed);
    if (opens_files)
        rc |= rules(ctx, SCMP_ACT_ALLOW, walking);
    if (SANITIZED)
        rc |= rules(ctx, SCMP_ACT_ALLOW, sanitizer);
    /* glibc falls back to clone when clone3 is missing; nothing uses
     * openat2 */
    rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    rc |= rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL);

    /* opens: read-only (scan, load; LeakSanitizer reads /proc/self/task),
     * else refused */
    const scmp_datum_t wmask = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC;
    if (opens_files || SANITIZED) {
        rc |= masked(ctx, SCMP_ACT_ALLOW, "open", 1, wmask, 0);
        rc |= masked(ctx, SCMP_ACT_ALLOW, "openat", 2, wmask, 0);
        static const scmp_datum_t wflags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC};
        for (size_t k = 0; k < sizeof wflags / sizeof wflags[0]; k++) {
            rc |= masked(ctx, SCMP_ACT_ERRNO(EACCES), "open", 1, wflags[k], wflags[k]);
            rc |= masked(ctx, SCMP_ACT_ERRNO(EACCES), "openat", 2, wflags[k], wflags[k]);
        }
    } else {
        rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "open", 0, NULL);
        rc |= rule(ctx, SCMP_ACT_ERRNO(EACCES), "openat", 0, NULL);
    }
    if (opens_files) {
        /* fcntl: flags, descriptor flags and (sqlite) advisory locks */
        static const scmp_datum_t cmds[] = {F_GETFD, F_SETFD, F_GETFL,
                                            F_SETFL, F_GETLK, F_SETLK,
                                            F_SETLKW, F_OFD_GETLK,
                                            F_OFD_SETLK, F_OFD_SETLKW};
        for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
            struct scmp_arg_cmp c = argcmp(1, SCMP_CMP_EQ, cmds[k], 0);
            rc |= rule(ctx, SCMP_ACT_ALLOW, "fcntl", 1, &c);
        }
    }

    /* writes: stdout and stderr only */
    static const char *const writes[] = {"write", "writev", "pwrite64",
                                         "pwritev", "pwritev2", NULL};
    struct scmp_arg_cmp lo = argcmp(0, SCMP_CMP_LE, 2, 0);
    struct scmp_arg_cmp hi = argcmp(0, SCMP_CMP_GT, 2, 0);
    for (size_t i = 0; writes[i]; i++) {
        rc |= rule(ctx, SCMP_ACT_ALLOW, writes[i], 1, &lo);
        rc |= rule(ctx, SCMP_ACT_ERRNO(EBADF), writes[i], 1, &hi);
    }

    /* threads (scan --jobs) share the address space and the thread group;
     * a fork (no CLONE_VM) fails; LeakSanitizer's tracer shares memory
     * without joining the thread group */
    rc |= masked(ctx, SCMP_ACT_ALLOW, "clone", 0,
                 SANITIZED ? CLONE_VM : CLONE_VM | CLONE_THREAD,
                 SANITIZED ? CLONE_VM : CLONE_VM | CLONE_THREAD);
    rc |= masked(ctx, SCMP_ACT_ERRNO(EPERM), "clone", 0, CLONE_VM, 0);

    /* signals: only to this process (raise, abort, the SIGSTOP test hook) */
    scmp_datum_t me = (scmp_datum_t)getpid();
    struct scmp_arg_cmp self = argcmp(0, SCMP_CMP_EQ, me, 0);
    struct scmp_arg_cmp other = argcmp(0, SCMP_CMP_NE, me, 0);
    rc |= rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &self);
    rc |= rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "kill", 1, &other);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "tgkill", 1, &other);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "tkill", 0, NULL);

    /* memory: never executable */
    static const char *const prot[] = {"mmap", "mprotect", "pkey_mprotect", NULL};
    for (size_t i = 0; prot[i]; i++) {
        rc |= masked(ctx, SCMP_ACT_ALLOW, prot[i], 2, PROT_EXEC, 0);
        rc |= masked(ctx, SCMP_ACT_ERRNO(EPERM), prot[i], 2, PROT_EXEC, PROT_EXEC);
    }

    /* stdio asks whether a stream is a terminal; nothing else */
    struct scmp_arg_cmp tcgets = argcmp(1, SCMP_CMP_EQ, TCGETS, 0);
    struct scmp_arg_cmp nottcgets = argcmp(1, SCMP_CMP_NE, TCGETS, 0);
    rc |= rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &tcgets);
    rc |= rule(ctx, SCMP_ACT_ERRNO(ENOTTY), "ioctl", 1, &nottcgets);

    /* resource limits may be read, not changed */
    struct scmp_arg_cmp getonly = argcmp(2, SCMP_CMP_EQ, 0, 0);
    struct scmp_arg_cmp setting = argcmp(2, SCMP_CMP_NE, 0, 0);
    rc |= rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, &getonly);
    rc |= rule(ctx, SCMP_ACT_ERRNO(EPERM), "prlimit64", 1, &setting);
    return rc;
}

/* A system call off the allowlist: say which (async-signal-safe: write
 * only), then die by SIGSYS as a killed call would. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char msg[200], num[24];
    int n = si->si_syscall, k = 0;
    unsigned u = n < 0 ? 0u : (unsigned)n;
    do
        num[k++] = (char)('0' + u % 10);
    while ((u /= 10) && k < 20);
    size_t m = 0;
    static const char pre[] = "pickleguard: sandbox: system call ";
    static const char post[] = " is not on the allowlist (src/cli/sandbox.c);"
                               " stopping (PICKLEGUARD_NO_SANDBOX=1 runs "
                               "unconfined)\n";
    memcpy(msg, pre, sizeof pre - 1);
    m = sizeof pre - 1;
    while (k > 0)
        msg[m++] = num[--k];
    memcpy(msg + m, post, sizeof post - 1);
    m += sizeof post - 1;
    ssize_t w = write(STDERR_FILENO, msg, m);
    (void)w;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
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
    } else if (strcmp(t, "unlisted") == 0) {
        /* on no list of the old denylist filter, harmless in itself:
         * pidfd_open(2) of this process (uname(2) where it is missing) */
#ifdef SYS_pidfd_open
        long r = syscall(SYS_pidfd_open, (long)getpid(), 0L);
#else
        long r = syscall(SYS_uname, NULL);
#endif
        cli_errorf("sandbox test: an unlisted system call returned %ld", r);
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
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSYS, &sa, NULL);
    scmp_filter_ctx ctx = seccomp_init(DEFAULT_ACTION);
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
