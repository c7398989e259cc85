/* formats_internal.h -- what the container modules (formats*.c) share.
 *
 * Only formats*.c include this. It declares the pieces the walker in
 * formats.c drives: streamed decompression with an output limit
 * (formats_compress.c), the zip readers (formats_zip.c), the joblib
 * splicer (formats_joblib.c) and the shelf readers (formats_dbm.c). None of
 * them calls back into the walker or keeps state outside what it is given.
 */
#ifndef PKL_FORMATS_INTERNAL_H
#define PKL_FORMATS_INTERNAL_H

#include "internal.h"

/* ---- decompression (formats_compress.c) --------------------------------- */

/* Extra "formats" for zip members: raw deflate without header (method 8),
 * and zip's LZMA (method 14): a 4-byte version/size header, the 5-byte
 * LZMA1 properties, then raw LZMA1 data. */
#define PKLI_RAW_DEFLATE (PKL_FMT__COUNT + 1)
#define PKLI_ZIP_LZMA (PKL_FMT__COUNT + 2)

/* Decompresses in[0..inlen) of format fmt (PKL_FMT_GZIP ... PKL_FMT_ZSTD,
 * PKLI_RAW_DEFLATE or PKLI_ZIP_LZMA) into a buffer allocated with a, never growing it past
 * `limit` bytes: more output is PKL_E_LIMIT_OUTPUT (detail says how much
 * was produced). Concatenated gzip/bz2/xz/zstd members are all read, as
 * Python's modules do. Returns 0 with *out (owned by the caller, free with
 * pkli_free) and *outlen, or -1 with *err (offset: input bytes consumed
 * when the problem was found). On failure *out is NULL, except when the
 * data is truncated, corrupt or over the limit after some output: *out and
 * *outlen then hold the bytes decoded before the problem (the caller
 * frees them), which a streaming reader such as pickle.load(gzip.open(f))
 * would already have acted on. */
int pkli_decompress(int fmt, const uint8_t *in, size_t inlen,
                    const pkl_allocator *a, size_t limit, uint8_t **out,
                    size_t *outlen, pkl_error *err);

/* The first n bytes (or fewer, when the data is shorter) of the same:
 * for a look at a member's header before deciding to inflate it all.
 * Truncated or corrupt data fails as above. */
int pkli_decompress_prefix(int fmt, const uint8_t *in, size_t inlen,
                           const pkl_allocator *a, size_t n, uint8_t **out,
                           size_t *outlen, pkl_error *err);

/* Non-zero when lzma.open (liblzma's auto decoder) takes buf for an
 * LZMA_Alone (.lzma) or lzip (.lz) stream: its header is accepted by
 * liblzma itself. */
int pkli_lzma_alone_sniff(const uint8_t *buf, size_t len);

/* ---- zip (formats_zip.c) ------------------------------------------------ */

typedef struct pkli_zip_entry {
    const uint8_t *name;   /* central directory name (not NUL-terminated) */
    size_t name_len;
    unsigned method;       /* 0 stored, 8 deflate, 12 bzip2, 14 lzma, 93 zstd;
                              others unsupported */
    unsigned flags;        /* general purpose bits (ignored, see formats.md) */
    uint32_t crc;          /* never checked, as PyTorch's miniz build */
    uint64_t comp_size;
    uint64_t uncomp_size;
    uint64_t local_offset; /* of the local header in the buffer, as this
                              entry's reader computes it */
    int local_ok;          /* local_offset is inside the buffer (zipfile's
                              concat shift can make it negative) */
    size_t index;          /* 0-based entry number in its directory */
    int view;              /* PKLI_ZIP_ZIPFILE, PKLI_ZIP_MINIZ, or
                              PKLI_ZIP_LOCAL (found by the local-header
                              fallback walk) */
} pkli_zip_entry;

/* The readers whose views of an archive are scanned (docs/formats.md,
 * "Zip: the two readers"). */
enum { PKLI_ZIP_ZIPFILE = 0, PKLI_ZIP_MINIZ = 1, PKLI_ZIP_LOCAL = 2 };

/* One reader's central directory. */
typedef struct pkli_zip_dir {
    int ok;                /* the reader opens the archive */
    size_t eocd;           /* the end record it takes */
    size_t start;          /* where it reads the directory */
    size_t end;            /* start + size, clamped to the buffer */
    uint64_t size;         /* declared directory size */
    uint64_t offset;       /* declared directory offset */
    uint64_t count;        /* entries it reads */
    int zip64;             /* a zip64 end record was used */
} pkli_zip_dir;

typedef struct pkli_zip_cursor {
    size_t pos;            /* next directory record */
    uint64_t total;        /* zipfile: declared bytes consumed */
    size_t index;          /* entries read */
} pkli_zip_cursor;

typedef struct pkli_zip {
    const uint8_t *buf;
    size_t len;
    pkli_zip_dir dir[2];   /* [PKLI_ZIP_ZIPFILE], [PKLI_ZIP_MINIZ] */
    int view;              /* the directory being walked */
    pkli_zip_cursor cur;   /* in dir[view] */
    pkli_zip_cursor twin;  /* in dir[ZIPFILE] while walking dir[MINIZ]:
                              a miniz entry equal to the zipfile entry of
                              the same index is not returned again */
    int done;              /* no more entries */
    int local_mode;        /* no reader opens it: walk local headers */
    size_t local_pos;
    size_t next;           /* entries returned, all views */
    size_t stored;         /* bytes of stored members handed out in this
                              view: never more than the archive in a sane
                              zip (the walker's guard against overlapping
                              entries; reset for each view) */
} pkli_zip;

/* Non-zero when buf starts with a local header or ends with an end of
 * central directory record within the last 64 KiB + 22 bytes. */
int pkli_zip_sniff(const uint8_t *buf, size_t len);
/* Opens the archive as CPython's zipfile and as PyTorch's miniz read it.
 * Returns 0 when at least one of them does (a reader that refuses the
 * archive loads nothing from it); 1 when neither does but buf starts with
 * a local header, so entries come from the local headers (*err says why
 * the readers refuse it: the caller reports it); or -1 with *err. */
int pkli_zip_open(pkli_zip *z, const uint8_t *buf, size_t len, pkl_error *err);
/* Next entry: the zipfile view's entries, then the miniz view's that differ
 * from them. 1, 0 at the end (z->done set), -1 with *err. */
int pkli_zip_next(pkli_zip *z, pkli_zip_entry *e, pkl_error *err);
/* Locates an entry's compressed bytes through its local header. *avail is
 * what exists in the buffer (may be less than comp_size: truncated; the
 * caller reports that). Returns 0 or -1 with *err. */
int pkli_zip_data(const pkli_zip *z, const pkli_zip_entry *e,
                  const uint8_t **data, size_t *avail, pkl_error *err);

/* ---- tar (formats_tar.c) ------------------------------------------------ */

/* A member as tarfile names and sizes it. */
typedef struct pkli_tar_entry {
    uint8_t name[512];     /* TarInfo.name (after GNU 'L' / pax path),
                              NUL-terminated; cut at 511 (name_cut) */
    size_t name_len;
    int name_cut;
    uint8_t link[512];     /* TarInfo.linkname, cut at 511 */
    size_t link_len;
    uint8_t type;          /* header type byte ('5' for v7 directories) */
    int sparse;            /* GNU sparse: data holds the stored bytes, holes
                              not rebuilt */
    int64_t size_field;    /* TarInfo.size (may be negative or huge) */
    int64_t stored;        /* size in the header itself */
    const uint8_t *data;   /* what extractfile() reads, NULL for links,
                              directories and devices */
    size_t size;           /* bytes present (may be less than declared) */
    uint64_t declared;     /* bytes extractfile() would read */
    size_t header_offset;  /* TarInfo.offset: first header of the member */
    size_t data_offset;    /* TarInfo.offset_data */
    /* TarInfo.sparse, where tarfile takes it from (pkli_tar_sparse) */
    int sparse_kind;       /* PKLI_SPARSE_* */
    const uint8_t *sp_src; /* OLD: the header; PAX00: the pax block; PAX01:
                              the GNU.sparse.map value; PAX10: the map at
                              the old data offset */
    size_t sp_len;         /* PAX00/PAX01/PAX10: bytes at sp_src */
    size_t sp_ext;         /* OLD: extension blocks after the header */
} pkli_tar_entry;

enum { PKLI_SPARSE_NONE, PKLI_SPARSE_OLD, PKLI_SPARSE_PAX00,
       PKLI_SPARSE_PAX01, PKLI_SPARSE_PAX10,
       PKLI_SPARSE_NESTED, /* several levels set the map: not followed */
       PKLI_SPARSE_BAD };  /* tarfile raises reading the map */

/* The pax keywords that change a member's name, link or size. */
enum { PKLI_PAX_PATH, PKLI_PAX_SIZE, PKLI_PAX_LINKPATH, PKLI_PAX_SPNAME,
       PKLI_PAX_SPSIZE, PKLI_PAX_SPREALSIZE, PKLI_PAX_SPMAP,
       PKLI_PAX_SPMAJOR, PKLI_PAX_SPMINOR, PKLI_PAX_N };

/* Records of a pax header (values point into the archive); seq keeps the
 * order of first insertion, as a Python dict does. */
typedef struct pkli_pax {
    const uint8_t *v[PKLI_PAX_N];
    size_t n[PKLI_PAX_N];
    unsigned seq[PKLI_PAX_N];
    uint8_t has[PKLI_PAX_N];
    unsigned nseq;
} pkli_pax;

typedef struct pkli_tar {
    const uint8_t *buf;
    size_t len;
    size_t pos;            /* TarFile.offset: next header */
    size_t next;           /* members returned */
    int ended;
    size_t end_junk;       /* non-zero: tarfile stops at an invalid header
                              at this offset and reads nothing after it */
    pkli_pax glob;         /* TarFile.pax_headers (global 'g' records) */
    size_t links;          /* torch-member links resolved (the walker's
                              bound: each one rereads the archive) */
} pkli_tar;

/* tarfile.open(mode="r:") accepts buf: its first 512 bytes are a header
 * TarInfo.frombuf reads (checksum and every number field). */
int pkli_tar_sniff(const uint8_t *buf, size_t len);
void pkli_tar_open(pkli_tar *t, const uint8_t *buf, size_t len);
/* Next member, of any type (TarFile.next): 1; 0 at the end (a zero block,
 * the end of data, or an invalid header where tarfile silently stops:
 * end_junk); -1 with *err when tarfile raises ReadError (an invalid header
 * after an extended one) or reads something we do not follow: stop. */
int pkli_tar_next(pkli_tar *t, pkli_tar_entry *e, pkl_error *err);
/* The content TarFile.makefile writes for a sparse member (extract():
 * zeros of TarInfo.size bytes, each (offset, numbytes) of the map written
 * in order from the bytes read on from offset_data, later chunks over
 * earlier ones). Allocates *out (at most `limit` bytes, zeros past what
 * the map writes). Returns 0, or a PKL_E_* code with *err: PKL_E_LIMIT_OUTPUT
 * (the first `limit` bytes are in *out), PKL_E_TRUNCATED (the archive ends
 * inside a chunk: extract() raises ReadError; *out holds what exists),
 * PKL_E_FORMAT_UNSUPPORTED (a map the walker does not follow: *out NULL),
 * PKL_E_NOMEM. *ordered is 1 when the chunks are sorted and do not
 * overlap: extractfile() then reads the same bytes (_FileInFile's map),
 * else it reads them differently. */
int pkli_tar_sparse(const pkli_tar *t, const pkli_tar_entry *e,
                    pkl_allocator *a, size_t limit, uint8_t **out,
                    size_t *outlen, int *ordered, pkl_error *err);
/* The same member as extractfile() reads it (tarfile._FileInFile: the map
 * of data blocks and holes, searched from the last block used, wrapping
 * once), for maps out of order or overlapping. Same returns as
 * pkli_tar_sparse; PKL_E_FORMAT_UNSUPPORTED also for a map of more than
 * PKLI_TAR_STREAM_BLOCKS entries, or a position no block covers (read()
 * would loop forever). */
#define PKLI_TAR_STREAM_BLOCKS 4096
int pkli_tar_sparse_stream(const pkli_tar *t, const pkli_tar_entry *e,
                           pkl_allocator *a, size_t limit, uint8_t **out,
                           size_t *outlen, pkl_error *err);
/* posixpath.normpath of p[0..n) into out (room for n + 1 bytes); returns
 * the length. */
size_t pkli_tar_normpath(const uint8_t *p, size_t n, uint8_t *out);

/* ---- joblib (formats_joblib.c) ------------------------------------------ */

/* One piece of a joblib file after splicing. */
typedef struct pkli_joblib_part {
    size_t offset;         /* in the input */
    size_t len;
    int is_pickle;         /* 1: pickle opcodes of the main stream, 2: a
                              whole nested pickle (object array), 0: raw
                              array bytes */
} pkli_joblib_part;

/* A side file a pre-0.10 wrapper makes joblib read (NDArrayWrapper:
 * numpy.load(allow_pickle=True); ZNDArrayWrapper: read_zfile). */
typedef struct pkli_joblib_side {
    size_t offset;         /* the BUILD that reads it */
    int zfile;             /* ZNDArrayWrapper */
    int known;             /* 0: the name is not a str the follower kept */
    int outside;           /* absolute, or a '..' component */
    char name[65];         /* known: the name (not NUL-terminated) */
    size_t namelen;
} pkli_joblib_side;

typedef struct pkli_joblib {
    pkli_joblib_part *parts;
    size_t nparts;
    size_t cap;
    size_t arrays;         /* NumpyArrayWrapper BUILDs followed */
    pkli_joblib_side *sides;
    size_t nsides, capsides;
    size_t unsafe;         /* wrappers whose dtype flags disagree with the
                            * type (dtype_info), the first one's BUILD at */
    size_t unsafe_at;
} pkli_joblib;

/* Follows the first pickle of buf[0..len) with a small symbolic stack,
 * cutting out the bytes joblib's NumpyUnpickler reads directly after each
 * NumpyArrayWrapper BUILD. Returns 0 with the parts (free with
 * pkli_joblib_free; the main-stream parts end with the pickle's STOP), or
 * -1 with *err: PKL_E_FORMAT_UNSUPPORTED when the pickle uses something the
 * follower cannot track, malformed codes from the reader, PKL_E_NOMEM.
 * 1 with the parts and *err when joblib.load would fail (stack, mark or
 * reader error, no STOP) after reading an array: the last part then runs
 * from where the load resumed to the end of buf. In every case but
 * PKL_E_NOMEM, out->sides lists the side files the pre-0.10 wrappers
 * (NDArrayWrapper, ZNDArrayWrapper) make joblib read before the pickle
 * ends or fails: free them with pkli_joblib_free even after -1. */
int pkli_joblib_split(const uint8_t *buf, size_t len, const pkl_allocator *a,
                      pkli_joblib *out, pkl_error *err);
void pkli_joblib_free(pkli_joblib *j, const pkl_allocator *a);

/* ---- shelves (formats_dbm.c) -------------------------------------------- */

/* Called per shelf value: key as display text (Python repr-like, ASCII),
 * value bytes valid during the call. Non-zero stops the iteration. */
typedef int (*pkli_dbm_value_fn)(void *ctx, const char *key_repr,
                                 const uint8_t *value, size_t len);
/* Called per problem found inside the shelf. Non-zero stops. */
typedef int (*pkli_dbm_problem_fn)(void *ctx, const pkl_error *problem);

/* Non-zero when buf is a dbm.dumb .dir index (every line `'key', (pos,
 * size)`). */
int pkli_dumb_dir_sniff(const uint8_t *buf, size_t len);
/* Reads a dbm.dumb pair: dir/dat are the two files' bytes. Each value is
 * dat[pos..pos+size). Returns 0, or -1 on out of memory / stop. */
int pkli_dumb_walk(const uint8_t *dir, size_t dirlen, const uint8_t *dat,
                   size_t datlen, size_t max_members, const pkl_allocator *a,
                   pkli_dbm_value_fn fn, pkli_dbm_problem_fn pfn, void *ctx,
                   pkl_error *err);
/* dbm.sqlite3: reads `SELECT key, value FROM Dict` from an in-memory copy,
 * read-only. Same return convention. */
int pkli_sqlite_walk(const uint8_t *buf, size_t len, size_t max_members,
                     const pkl_allocator *a, pkli_dbm_value_fn fn,
                     pkli_dbm_problem_fn pfn, void *ctx, pkl_error *err);
/* Non-zero when buf starts with a GNU dbm magic number (either order). */
int pkli_gdbm_sniff(const uint8_t *buf, size_t len);
/* GNU dbm: opened read-only from fs_path (libgdbm reads files only). */
int pkli_gdbm_walk(const char *fs_path, size_t max_members,
                   pkli_dbm_value_fn fn, pkli_dbm_problem_fn pfn, void *ctx,
                   pkl_error *err);

/* Non-zero when buf starts like a Berkeley DB file (hash or btree meta
 * page, either byte order): dbm.ndbm on Debian (formats_bdb.c). */
int pkli_bdb_sniff(const uint8_t *buf, size_t len);
/* Berkeley DB hash database read from memory: every key/value pair of
 * every hash page (overflow chains followed). Btree, big-endian and
 * duplicate keys are problems. Same return convention as the others. */
int pkli_bdb_walk(const uint8_t *buf, size_t len, size_t max_members,
                  const pkl_allocator *a, pkli_dbm_value_fn fn,
                  pkli_dbm_problem_fn pfn, void *ctx, pkl_error *err);

/* Appends printable-ASCII text for bytes s[0..n) to b: printable ASCII as
 * is except '\\' and '!', everything else as \xNN, so a member name cannot
 * forge a path separator or corrupt a terminal. */
int pkli_fmt_put_name(pkli_buf *b, const uint8_t *s, size_t n);

#endif /* PKL_FORMATS_INTERNAL_H */
