/* hashtab.c -- the one hash table: open addressing with linear probing,
 * a power-of-two capacity kept at most half full, keys and values in two
 * parallel arrays (yyjson's and zstd's tables are laid out the same way:
 * no per-entry allocation, no pointers to chase).
 *
 * A table maps a 64-bit key to a non-zero 32-bit value (0 marks an empty
 * slot); callers that keep richer entries store them in an array of their
 * own and put the index + 1 here. Keys chosen by the input are hashed with
 * SipHash-1-3 under a per-scan key (PKLI_HT_SIPHASH), so colliding inputs
 * cannot be precomputed; keys no input chooses (addresses) take a cheap
 * mix (PKLI_HT_MIX); keys that are already keyed hashes of text
 * (PKLI_HT_HASHED) are used as they are and told apart by the caller's
 * equality test.
 *
 * It must never: grow without a caller's limit check (callers bound
 * `count` before inserting), recurse, or keep global state.
 */
#include "internal.h"

static size_t slot_of(const pkli_htab *t, uint64_t key)
{
    switch (t->mode) {
    case PKLI_HT_SIPHASH:
        return (size_t)pkli_siphash_u64(&t->hk, key);
    case PKLI_HT_MIX:
        /* half of MurmurHash3's fmix64: spreads addresses well enough,
         * and nodes allocated one after another (a decoded tree's) stay
         * near each other in the table, which keeps lookups in cache
         * (the full finalizer made the JSON writer 15% slower) */
        key ^= key >> 33;
        key *= 0xff51afd7ed558ccdULL;
        key ^= key >> 33;
        return (size_t)key;
    default:
        return (size_t)key;
    }
}

void pkli_htab_init(pkli_htab *t, const pkl_allocator *a, pkli_htab_mode mode,
                    const pkli_hkey *hk)
{
    memset(t, 0, sizeof *t);
    t->alloc = a;
    t->mode = mode;
    if (hk)
        t->hk = *hk;
}

/* The capacity the next add needs: the current one while the table stays
 * at most half full, else double it (first size 16); 0 on overflow. */
static size_t next_cap(const pkli_htab *t)
{
    if (t->count + 1 <= t->cap / 2)
        return t->cap;
    size_t ncap = t->cap ? 2 * t->cap : 16;
    return ncap > SIZE_MAX / 2 / sizeof(pkli_hslot) ? 0 : ncap;
}

size_t pkli_htab_grow_bytes(const pkli_htab *t)
{
    size_t ncap = next_cap(t);
    if (ncap == t->cap)
        return 0;
    return ncap ? ncap * sizeof(pkli_hslot) : SIZE_MAX;
}

/* Doubles the table and re-inserts every entry. */
static int grow(pkli_htab *t)
{
    size_t ncap = next_cap(t);
    if (!ncap)
        return -1;
    pkli_hslot *ns = pkli_malloc(t->alloc, ncap * sizeof *ns);
    if (!ns)
        return -1;
    memset(ns, 0, ncap * sizeof *ns);
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].val)
            continue;
        size_t j = slot_of(t, t->slots[i].key) & (ncap - 1);
        while (ns[j].val)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    pkli_free(t->alloc, t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

pkli_hslot *pkli_htab_find_eq(const pkli_htab *t, uint64_t key,
                              pkli_htab_eq eq, const void *ctx)
{
    if (!t->cap)
        return NULL;
    size_t m = t->cap - 1;
    for (size_t i = slot_of(t, key) & m; t->slots[i].val; i = (i + 1) & m)
        if (t->slots[i].key == key && (!eq || eq(ctx, &t->slots[i])))
            return &t->slots[i];
    return NULL;
}

pkli_hslot *pkli_htab_find(const pkli_htab *t, uint64_t key)
{
    return pkli_htab_find_eq(t, key, NULL, NULL);
}

pkli_hslot *pkli_htab_add(pkli_htab *t, uint64_t key, uint32_t val)
{
    if (!ALWAYS(val != 0))
        return NULL;
    if (next_cap(t) != t->cap && grow(t) < 0)
        return NULL;
    size_t m = t->cap - 1;
    size_t i = slot_of(t, key) & m;
    while (t->slots[i].val)
        i = (i + 1) & m;
    t->slots[i].key = key;
    t->slots[i].val = val;
    t->slots[i].aux = 0;
    t->count++;
    return &t->slots[i];
}

pkli_hslot *pkli_htab_insert(pkli_htab *t, uint64_t key, uint32_t val,
                             int *added)
{
    pkli_hslot *v = pkli_htab_find(t, key);
    if (added)
        *added = !v;
    return v ? v : pkli_htab_add(t, key, val);
}

void pkli_htab_clear(pkli_htab *t)
{
    if (t->count)
        memset(t->slots, 0, t->cap * sizeof *t->slots);
    t->count = 0;
}

void pkli_htab_free(pkli_htab *t)
{
    pkli_free(t->alloc, t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}
