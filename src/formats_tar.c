/* formats_tar.c -- a read-only tar reader for the walker.
 *
 * torch.load still reads its pre-1.0 tar format (members `sys_info`,
 * `pickle`, `storages`, `tensors`, all unpickled) before anything else, and
 * models travel as .tar.gz: every regular member is handed to the walker
 * like a zip member. Headers are accepted when their checksum is right, as
 * Python's tarfile does (ustar, GNU and v7); GNU long names ('L') and pax
 * `path=` records name the next member. It must never read outside the
 * buffer or trust a size before comparing it with what remains.
 */
#include "formats_internal.h"

#define BLOCK 512u

/* Octal (or GNU base-256) number field. -1 when it is not a number. */
static int field_num(const uint8_t *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    if (n && (f[0] & 0x80)) { /* base-256: big-endian, top bit a flag */
        if (f[0] & 0x40)
            return -1; /* negative */
        for (i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    while (i < n && (f[i] == ' ' || f[i] == '\0'))
        i++;
    int digits = 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return digits ? 0 : (n ? 0 : -1);
}

static int checksum_ok(const uint8_t *h)
{
    uint64_t want;
    if (field_num(h + 148, 8, &want) < 0)
        return 0;
    uint64_t u = 0;
    int64_t s = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];
        u += c;
        s += (int8_t)c;
    }
    return want == u || (int64_t)want == s;
}

static int zero_block(const uint8_t *h)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (h[i])
            return 0;
    return 1;
}

int pkli_tar_sniff(const uint8_t *buf, size_t len)
{
    return len >= BLOCK && buf[0] != 0 && !zero_block(buf) && checksum_ok(buf);
}

void pkli_tar_open(pkli_tar *t, const uint8_t *buf, size_t len)
{
    memset(t, 0, sizeof *t);
    t->buf = buf;
    t->len = len;
}

/* Finds "path=" in a pax extended header's records. */
static void pax_path(pkli_tar *t, const uint8_t *d, size_t n)
{
    size_t p = 0;
    while (p < n) {
        uint64_t rl = 0;
        size_t q = p;
        while (q < n && d[q] >= '0' && d[q] <= '9' && rl < n)
            rl = rl * 10 + (uint64_t)(d[q++] - '0');
        if (q >= n || d[q] != ' ' || rl == 0 || rl > n - p)
            return;
        const uint8_t *kv = d + q + 1;
        size_t kvlen = (size_t)rl - (q + 1 - p);
        if (kvlen > 6 && memcmp(kv, "path=", 5) == 0) {
            t->long_name = kv + 5;
            t->long_len = kvlen - 6; /* without the trailing '\n' */
        }
        p += (size_t)rl;
    }
}

int pkli_tar_next(pkli_tar *t, pkli_tar_entry *e, pkl_error *err)
{
    for (;;) {
        if (t->pos >= t->len || t->len - t->pos < BLOCK)
            return 0;
        const uint8_t *h = t->buf + t->pos;
        if (zero_block(h))
            return 0;
        if (!checksum_ok(h)) {
            pkli_error_setf(err, PKL_E_FORMAT, t->pos, -1,
                            "tar: header at offset %zu has a wrong checksum",
                            t->pos);
            return -1;
        }
        uint64_t size;
        if (field_num(h + 124, 12, &size) < 0) {
            pkli_error_setf(err, PKL_E_FORMAT, t->pos + 124, -1,
                            "tar: size field at offset %zu is not a number",
                            t->pos + 124);
            return -1;
        }
        size_t hdr = t->pos;
        size_t data = hdr + BLOCK;
        size_t avail = t->len - data;
        size_t have = size < avail ? (size_t)size : avail;
        uint64_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
        t->pos = padded > avail ? t->len : data + (size_t)padded;
        uint8_t type = h[156];
        if (type == 'L') { /* GNU long name of the next member */
            t->long_name = t->buf + data;
            t->long_len = have;
            continue;
        }
        if (type == 'x') {
            pax_path(t, t->buf + data, have);
            continue;
        }
        if (type != '0' && type != '\0' && type != '7') {
            /* directories, links, devices, global headers: no content */
            t->long_name = NULL;
            continue;
        }
        memset(e, 0, sizeof *e);
        const uint8_t *nm;
        size_t nl;
        if (t->long_name) {
            nm = t->long_name;
            nl = t->long_len;
        } else {
            nm = h;
            nl = strnlen((const char *)h, 100);
            /* ustar prefix */
            if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
                size_t pl = strnlen((const char *)h + 345, 155);
                memcpy(e->name, h + 345, pl);
                e->name[pl] = '/';
                e->name_len = pl + 1;
            }
        }
        while (nl && nm[nl - 1] == '\0')
            nl--;
        if (nl > sizeof e->name - 1 - e->name_len)
            nl = sizeof e->name - 1 - e->name_len;
        memcpy(e->name + e->name_len, nm, nl);
        e->name_len += nl;
        e->name[e->name_len] = '\0';
        t->long_name = NULL;
        e->data = t->buf + data;
        e->size = have;
        e->declared = size;
        e->header_offset = hdr;
        t->next++;
        return 1;
    }
}
