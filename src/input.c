/* input.c -- the one routine that opens an input by name (issue 19,
 * SECURITY.md "Hostile environments"): `scan` (each file named or found in
 * a walk), `load`, `dis`, a --policy file and pkl_scan_file all come
 * through pkl_input_open.
 *
 * The name is opened O_NONBLOCK (a FIFO with no writer never blocks in
 * open) and the OPENED descriptor is judged by fstat, never the name: a
 * path swapped for a link to /dev/zero or for a FIFO after it was listed
 * is seen for what it is. Regular files are mapped read-only (the caller
 * may guard the mapping against truncation). Anything else -- FIFOs,
 * pipes, character devices -- is read into memory up to max_input bytes,
 * each read waiting at most wait_ms for data (poll): a FIFO whose writer
 * never comes or never writes is an I/O error after that wait, not a
 * hang; a writer that closes ends the input. With PKL_INPUT_NO_SPECIAL
 * (files found in a directory walk) such files are not read at all, with
 * PKL_INPUT_NO_DEVICES (scan's named PATHs) only FIFOs and pipes are;
 * PKL_INPUT_REGULAR_ONLY (policy files) refuses them.
 *
 * Must never: block without bound, read without bound, or follow what the
 * name pointed to before the open. */
#define _GNU_SOURCE 1 /* MAP_POPULATE, madvise */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* files up to this size are mapped with MAP_POPULATE: one call maps every
 * page instead of one fault per page (bigger files are mostly payload a
 * scan skips) */
#define POPULATE_MAX ((size_t)32 << 20)

static const char *special_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO (named pipe)"
         : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Waits up to wait_ms for fd to be readable: 1 ready (data or end), 0
 * timed out, -1 error (errno). */
static int wait_readable(int fd, int wait_ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, wait_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r > 0;
    }
}

int pkl_input_read_fd(int fd, size_t max_input, int wait_ms, pkl_input *in,
                      pkl_error *err)
{
    if (max_input == 0)
        max_input = PKL_INPUT_MAX_DEFAULT;
    int fl = fcntl(fd, F_GETFL);
    if (wait_ms < 0) {
        /* the caller's own pipe (stdin): its writer is the caller's */
        if (fl >= 0 && (fl & O_NONBLOCK))
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    } else if (fl >= 0 && !(fl & O_NONBLOCK)) {
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        goto nomem;
    for (;;) {
        if (len == cap) {
            if (len >= max_input) {
                /* one more byte decides whether it is over */
                uint8_t probe;
                if (wait_ms >= 0 && wait_readable(fd, wait_ms) == 0)
                    goto idle;
                ssize_t got = read(fd, &probe, 1);
                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                    continue;
                if (got == 0)
                    break;
                free(buf);
                if (got < 0)
                    pkli_error_setf(err, PKL_E_IO, len, -1, "read failed: %s",
                                    strerror(errno));
                else
                    pkli_error_setf(err, PKL_E_IO, len, -1,
                                    "input is larger than --max-input (%zu "
                                    "bytes; not a regular file: read into "
                                    "memory)", max_input);
                return -1;
            }
            size_t ncap = cap > max_input / 2 ? max_input : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb)
                goto nomem;
            buf = nb;
            cap = ncap;
        }
        if (wait_ms >= 0) {
            int r = wait_readable(fd, wait_ms);
            if (r < 0) {
                pkli_error_setf(err, PKL_E_IO, len, -1, "poll failed: %s",
                                strerror(errno));
                free(buf);
                return -1;
            }
            if (r == 0)
                goto idle;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            pkli_error_setf(err, PKL_E_IO, len, -1, "read failed: %s",
                            strerror(errno));
            free(buf);
            return -1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    in->heap = buf;
    in->data = buf;
    in->len = len;
    return 0;
idle:
    free(buf);
    pkli_error_setf(err, PKL_E_IO, len, -1,
                    "no data for %d ms after %zu bytes (a FIFO or pipe whose "
                    "writer %s): not read", wait_ms, len,
                    len ? "stopped writing" : "never came or never wrote");
    return -1;
nomem:
    free(buf);
    pkli_error_setf(err, PKL_E_NOMEM, len, -1, "reading a pipe or device");
    return -1;
}

int pkl_input_open(const char *path, unsigned flags, size_t max_input,
                   int wait_ms, pkl_input *in, pkl_error *err)
{
    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->data = (const uint8_t *)"";
    if (err)
        err->code = PKL_OK;
    if (!path) {
        pkli_error_setf(err, PKL_E_INVALID_ARG, 0, -1,
                        "pkl_input_open: NULL path");
        return -1;
    }
    if (wait_ms == 0)
        wait_ms = PKL_INPUT_WAIT_MS_DEFAULT;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        pkli_error_setf(err, PKL_E_IO, 0, -1, "%s", strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        pkli_error_setf(err, PKL_E_IO, 0, -1, "is a directory");
        goto fail;
    }
    in->dev = (uint64_t)st.st_dev;
    in->ino = (uint64_t)st.st_ino;
    if (S_ISREG(st.st_mode)) {
        if (st.st_size > 0) {
            size_t len = (size_t)st.st_size;
            int mflags = MAP_PRIVATE;
#ifdef MAP_POPULATE
            if (len <= POPULATE_MAX)
                mflags |= MAP_POPULATE;
#endif
            void *m = mmap(NULL, len, PROT_READ, mflags, fd, 0);
            if (m == MAP_FAILED) {
                pkli_error_setf(err, PKL_E_IO, 0, -1, "mmap failed: %s",
                                strerror(errno));
                goto fail;
            }
#ifdef MADV_SEQUENTIAL
            madvise(m, len, MADV_SEQUENTIAL);
#endif
            in->map = m;
            in->map_len = len;
            in->data = m;
            in->len = len;
        }
        if (flags & PKL_INPUT_KEEP_FD)
            in->fd = fd;
        else
            close(fd);
        return 0;
    }
    if ((flags & (PKL_INPUT_NO_SPECIAL | PKL_INPUT_REGULAR_ONLY)) ||
        ((flags & PKL_INPUT_NO_DEVICES) && !S_ISFIFO(st.st_mode))) {
        in->special = special_kind(st.st_mode);
        close(fd);
        if (flags & PKL_INPUT_REGULAR_ONLY) {
            pkli_error_setf(err, PKL_E_IO, 0, -1, "not a regular file (%s)",
                            in->special);
            return -1;
        }
        return 0;
    }
    int rc = pkl_input_read_fd(fd, max_input, wait_ms, in, err);
    close(fd);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

void pkl_input_close(pkl_input *in)
{
    if (!in)
        return;
    if (in->map)
        munmap(in->map, in->map_len);
    free(in->heap);
    if (in->fd >= 0)
        close(in->fd);
    memset(in, 0, sizeof *in);
    in->fd = -1;
}
