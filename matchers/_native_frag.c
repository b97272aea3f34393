/* Fragment fingerprints without numpy passes (see matchers/fragments.py), included
   from _native.c (one translation unit: tokens_u8, mix64, i64vec come from there).

   fragment_select: tokens of a text (chunked exactly as fragments._tokens chunks it),
   their K-gram combinations and the winnowing selection with the "robust" collapse,
   streamed as fragments._Stream computes them; the caller keys (AES) the
   selected combinations. fragment_lookup: the bit-table test and the exact search
   of the surviving fingerprints in the sorted index, as engine._fragments_plain
   does it with numpy. */

#define FRAG_K 5
#define FRAG_W 3

static const uint64_t FRAG_M1[FRAG_K] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL,
                                         0x165667B19E3779F9ULL, 0xD6E8FEB86659FD93ULL,
                                         0xFF51AFD7ED558CCDULL};

/* The narrow value of a plain token of at most 16 units (as plain_value): both lanes
   read and masked without a branch on the length. Needs 16 readable units from s. */
static inline uint64_t plain_value16(const uint8_t *u, Py_ssize_t s, Py_ssize_t len)
{
    uint64_t l0, l1;
    memcpy(&l0, u + s, 8);
    memcpy(&l1, u + s + 8, 8);
    Py_ssize_t r1 = len - 8;
    uint64_t m0 = len >= 8 ? ~0ULL : ((uint64_t)1 << (8 * len)) - 1;
    uint64_t m1 = r1 >= 8 ? ~0ULL : r1 <= 0 ? 0 : ((uint64_t)1 << (8 * r1)) - 1;
    return (l0 & m0) + (l1 & m1) * Q_LANE + (uint64_t)len * LEN_NARROW;
}

/* tokens_u8 of _native.c on bit masks: a token is a run of non-separators; a run of
   word units only (nearly all) is a plain token, any other run goes through
   tokens_general_u8 (as tokens_u8 does). The runs come from 64-unit masks (SSE2) and
   bit scans, not a loop per unit with a branch at every token's end. Needs 16
   readable units after `n` (frag_scan's buffer). Same tokens and values; offsets `pos`
   further.
   The plain tokens are stored through local pointers into room made beforehand (no more
   tokens than half the units, rounded up, as separators part them; fragment_select makes
   that room once for its chunks): through vec_push, each store reloaded the vector's
   length and capacity (an int64 store may change them, for all the compiler knows), 12%
   of fragment_select's time. */
static inline int tok_room(tokvec *out, Py_ssize_t extra)
{
    return vec_room(&out->values, extra) < 0 || vec_room(&out->starts, extra) < 0
                   || vec_room(&out->ends, extra) < 0 ? -1 : 0;
}

/* Tokens [from, len) of out, offsets `by` further (as far as both offset vectors hold). */
static void tok_shift(tokvec *out, Py_ssize_t from, Py_ssize_t by)
{
    for (Py_ssize_t t = from; t < out->starts.len && t < out->ends.len; t++) {
        out->starts.data[t] += by;
        out->ends.data[t] += by;
    }
}

/* The tokens of the run u[j:e] (no separator in it) that holds a joiner or an ignorable,
   offsets pos0 further, as tokens_general_u8 makes them: each token's word units gathered
   (ignorables and joined joiners left out: a joiner joins when the units on both sides of
   it are word units) and valued as a plain token of those units is. The chunk holds no
   complex unit (frag_scan sends such a chunk to the caller's general path). 0 when the run
   is longer than the buffer: tokens_general_u8 then reads it. Nearly every identity code
   (131052-308T), date and hyphenated name is such a run. */
#define JOINED_MAX 240
static int frag_joined_u8(const uint8_t *u, Py_ssize_t n, Py_ssize_t j, Py_ssize_t e,
                          uint64_t seed, Py_ssize_t pos0, tokvec *out)
{
    if (e - j > JOINED_MAX)
        return 0;
    uint8_t buf[JOINED_MAX + 16];
    Py_ssize_t len = 0, start = 0, last = 0;
    for (Py_ssize_t p = j; p <= e; p++) {
        uint8_t c = p < e ? u[p] : U_SEP;
        if (c > U_COMPLEX) {
            start = len ? start : p;
            buf[len++] = c;
            last = p;
            continue;
        }
        if (c == U_IGN || (c == U_JOIN && p > 0 && p + 1 < n && u[p - 1] > U_COMPLEX
                           && u[p + 1] > U_COMPLEX))
            continue;
        if (len) {  /* a separator, or a joiner that joins nothing: the token ends */
            memset(buf + len, 0, 16);
            uint64_t v = len <= 16 ? plain_value16(buf, 0, len) : plain_value(buf, len + 16, 0, len);
            vec_push(&out->values, (int64_t)mix64(v ^ seed));
            vec_push(&out->starts, (int64_t)(start + pos0));
            vec_push(&out->ends, (int64_t)(last + 1 + pos0));
            len = 0;
        }
    }
    return 1;
}

static void frag_tokens_u8(const uint8_t *u, Py_ssize_t n, Py_ssize_t avail, uint64_t seed,
                           Py_ssize_t pos0, tokvec *out)
{
    Py_ssize_t nb = (n + 63) / 64;
    uint64_t *ns = (uint64_t *)malloc((size_t)(2 * nb + 2) * sizeof(uint64_t));
    if (ns == NULL) {
        out->values.failed = 1;
        return;
    }
    uint64_t *cls = ns + nb + 1;
    const __m128i zero = _mm_setzero_si128(), three = _mm_set1_epi8(U_COMPLEX);
    for (Py_ssize_t b = 0; b < nb; b++) {
        uint64_t z = 0, c = 0;
        for (int q = 0; q < 4; q++) {
            Py_ssize_t at = b * 64 + q * 16;
            __m128i v;
            if (at + 16 <= n) {
                v = _mm_loadu_si128((const __m128i *)(u + at));
            } else { /* the last block: units past n read as separators */
                uint8_t tmp[16] = {0};
                if (at < n)
                    memcpy(tmp, u + at, (size_t)(n - at));
                v = _mm_loadu_si128((const __m128i *)tmp);
            }
            z |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)) << (16 * q);
            c |= (uint64_t)(unsigned)_mm_movemask_epi8(
                     _mm_cmpeq_epi8(_mm_max_epu8(v, three), three)) << (16 * q);
        }
        ns[b] = ~z;
        cls[b] = c & ~z; /* joiners, ignorables, complex units */
    }
    ns[nb] = cls[nb] = 0;
    Py_ssize_t pos = 0;
    if (tok_room(out, (n + 1) / 2) < 0) {
        free(ns);
        return;
    }
    Py_ssize_t len = out->values.len;
    int64_t *tv = out->values.data, *ts = out->starts.data, *te = out->ends.data;
    for (;;) {
        /* j: the next non-separator */
        Py_ssize_t wi = pos >> 6;
        if (wi >= nb)
            break;
        uint64_t w = ns[wi] & (~0ULL << (pos & 63));
        while (!w && ++wi < nb)
            w = ns[wi];
        if (!w)
            break;
        Py_ssize_t j = wi * 64 + __builtin_ctzll(w);
        /* e: the separator (or n) ending its run */
        w = ~ns[wi] & (~0ULL << (j & 63));
        while (!w && ++wi < nb)
            w = ~ns[wi];
        Py_ssize_t e = w ? wi * 64 + __builtin_ctzll(w) : n;
        if (e > n)
            e = n;
        /* any class unit in [j, e)? */
        uint64_t any = 0;
        Py_ssize_t a = j >> 6, z = (e - 1) >> 6;
        if (a == z) {
            any = cls[a] & (~0ULL << (j & 63)) & (~0ULL >> (63 - ((e - 1) & 63)));
        } else {
            any = cls[a] & (~0ULL << (j & 63));
            for (Py_ssize_t q = a + 1; q < z && !any; q++)
                any = cls[q];
            any |= cls[z] & (~0ULL >> (63 - ((e - 1) & 63)));
        }
        if (!any) {
            Py_ssize_t tlen = e - j;
            uint64_t v = tlen <= 16 ? plain_value16(u, j, tlen) : plain_value(u, avail, j, e);
            tv[len] = (int64_t)mix64(v ^ seed);
            ts[len] = (int64_t)(j + pos0);
            te[len] = (int64_t)(e + pos0);
            len++;
        } else {
            out->values.len = out->starts.len = out->ends.len = len;
            if (!frag_joined_u8(u, n, j, e, seed, pos0, out)) {
                tokens_general_u8(u, n, j, e, seed, out);
                tok_shift(out, len, pos0);
            }
            /* room again for the plain tokens after e (the vectors may have moved) */
            if (tok_room(out, (n - e + 1) / 2) < 0)
                break;
            len = out->values.len;
            tv = out->values.data;
            ts = out->starts.data;
            te = out->ends.data;
        }
        pos = e;
    }
    if (!out->values.failed && !out->starts.failed && !out->ends.failed)
        out->values.len = out->starts.len = out->ends.len = len;
    free(ns);
}

/* The winnowing stream of fragments._Stream: tokens arrive a chunk at a time, the
   last K + W - 2 are carried into the next chunk, every window is evaluated once and
   positions at or before the last emitted one are not emitted again; consecutive
   emitted selections of one value collapse to the first. */
typedef struct {
    tokvec tok;         /* carried + current tokens (complex_ unused: no complex units) */
    Py_ssize_t base;    /* global token index of tok[0] */
    Py_ssize_t last;    /* global k-gram index of the last selected one, -1 */
    int evaluated, have_prev;
    int simd;           /* the vector kernels where the CPU has them (fragment_select's) */
    uint64_t prev;      /* value of the last selected k-gram */
    uint64_t *g, *mn;
    uint8_t *chosen;
    Py_ssize_t cap;
    /* the output, bytearrays (no copy at the end), grown while holding the GIL:
       16-byte blocks (combination, first token value) as the caller encrypts them,
       starts and ends; m selections so far, room for cap_out */
    PyObject *blocks, *starts, *ends;
    Py_ssize_t m, cap_out;
} fragstream;

#define FRAG_ROOM_FIRST (1 << 20)

/* Room for `extra` more selections (with the GIL held), and when it grows, for at least
   `expected` in all: each growth copies what the arrays hold (a text's selections are
   megabytes; doubling from one chunk's copied 1.7% of an all-types scan's instructions). */
static int frag_room(fragstream *st, Py_ssize_t extra, Py_ssize_t expected)
{
    if (st->m + extra <= st->cap_out)
        return 0;
    Py_ssize_t cap = st->cap_out * 2 > st->m + extra ? st->cap_out * 2 : st->m + extra;
    cap = cap > expected ? cap : expected;
    if (PyByteArray_Resize(st->blocks, cap * 16) < 0 || PyByteArray_Resize(st->starts, cap * 8) < 0
        || PyByteArray_Resize(st->ends, cap * 8) < 0)
        return -1;
    st->cap_out = cap;
    return 0;
}

/* Emit the selected positions of [from, to) (room made by the caller): chosen[i - from]
   says whether i is the minimum of a window; a selection equal to the previous one is
   not emitted again. Branch-free (selections are a coin flip for the branch predictor). */
static void frag_emit(fragstream *st, Py_ssize_t from, Py_ssize_t to, const uint8_t *chosen)
{
    Py_ssize_t m = st->m;
    uint64_t *bo = (uint64_t *)PyByteArray_AS_STRING(st->blocks);
    int64_t *so = (int64_t *)PyByteArray_AS_STRING(st->starts);
    int64_t *eo = (int64_t *)PyByteArray_AS_STRING(st->ends);
    const int64_t *tv = st->tok.values.data, *ts = st->tok.starts.data;
    const int64_t *te = st->tok.ends.data + FRAG_K - 1;
    int have_prev = st->have_prev;
    uint64_t prev = st->prev;
    Py_ssize_t last = st->last;
    for (Py_ssize_t i = from; i < to; i++) {
        uint64_t v = st->g[i];
        int c = chosen[i - from];
        bo[2 * m] = v;
        bo[2 * m + 1] = (uint64_t)tv[i];
        so[m] = ts[i];
        eo[m] = te[i];
        m += c & ((!have_prev) | (v != prev));
        prev = c ? v : prev;
        have_prev |= c;
        last = c ? st->base + i : last;
    }
    st->m = m;
    st->have_prev = have_prev;
    st->prev = prev;
    st->last = last;
}

/* The k-gram combinations g[0:nk] of the token values t, the minimum of each window
   mn[0:nw] (nw = nk - W + 1, or 0 for the combinations alone), and chosen[i - from] for
   the interior positions i in [in0, in1) (all W windows ending at them exist): whether
   g[i] is the minimum of one of them. Plain loops, compiled twice: for plain x86-64, and with AVX-512 F/DQ/VL, where
   gcc makes vectors of them (64-bit multiplies, unsigned minimums and compares, which
   SSE2 lacks); chosen at run time. */
static inline __attribute__((always_inline)) void
frag_kernel_body(const uint64_t *t, uint64_t *g, uint64_t *mn, uint8_t *chosen,
                 Py_ssize_t nk, Py_ssize_t nw, Py_ssize_t from, Py_ssize_t in0, Py_ssize_t in1)
{
    for (Py_ssize_t i = 0; i < nk; i++) {
        uint64_t v = 0;
        for (int j = 0; j < FRAG_K; j++)
            v += t[i + j] * FRAG_M1[j];
        g[i] = v;
    }
    for (Py_ssize_t w = 0; w < nw; w++) {
        uint64_t m = g[w];
        for (int j = 1; j < FRAG_W; j++)
            m = g[w + j] < m ? g[w + j] : m;
        mn[w] = m;
    }
    for (Py_ssize_t i = in0; i < in1; i++) {
        int c = 0;
        for (int j = 0; j < FRAG_W; j++)
            c |= mn[i - j] == g[i];
        chosen[i - from] = (uint8_t)c;
    }
}

#ifdef CPU_X86_SIMD
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void
frag_kernel_avx512(const uint64_t *t, uint64_t *g, uint64_t *mn, uint8_t *chosen,
                   Py_ssize_t nk, Py_ssize_t nw, Py_ssize_t from, Py_ssize_t in0, Py_ssize_t in1)
{
    frag_kernel_body(t, g, mn, chosen, nk, nw, from, in0, in1);
}
#endif

static void frag_kernel_plain(const uint64_t *t, uint64_t *g, uint64_t *mn, uint8_t *chosen,
                              Py_ssize_t nk, Py_ssize_t nw, Py_ssize_t from, Py_ssize_t in0,
                              Py_ssize_t in1)
{
    frag_kernel_body(t, g, mn, chosen, nk, nw, from, in0, in1);
}

static void frag_kernel(int simd, const uint64_t *t, uint64_t *g, uint64_t *mn,
                        uint8_t *chosen, Py_ssize_t nk, Py_ssize_t nw, Py_ssize_t from,
                        Py_ssize_t in0, Py_ssize_t in1)
{
#ifdef CPU_X86_SIMD
    if (simd && cpu_has(CPU_AVX512_DQ)) {
        frag_kernel_avx512(t, g, mn, chosen, nk, nw, from, in0, in1);
        return;
    }
#endif
    (void)simd;
    frag_kernel_plain(t, g, mn, chosen, nk, nw, from, in0, in1);
}

/* Room for the combinations of nk k-grams. */
static int frag_reserve(fragstream *st, Py_ssize_t nk)
{
    if (nk > st->cap) {
        free(st->g);
        free(st->mn);
        free(st->chosen);
        st->cap = nk * 2;
        st->g = (uint64_t *)malloc((size_t)st->cap * sizeof(uint64_t));
        st->mn = (uint64_t *)malloc((size_t)st->cap * sizeof(uint64_t));
        st->chosen = (uint8_t *)malloc((size_t)st->cap);
        if (st->g == NULL || st->mn == NULL || st->chosen == NULL)
            return -1;
    }
    return 0;
}

static int frag_feed(fragstream *st)
{
    Py_ssize_t nt = st->tok.values.len, nk = nt - FRAG_K + 1;
    if (nk < FRAG_W)
        return 0;
    if (frag_reserve(st, nk) < 0)
        return -1;
    const uint64_t *g = st->g;
    Py_ssize_t nw = nk - FRAG_W + 1;
    Py_ssize_t from = st->last - st->base + 1;
    if (from < 0)
        from = 0;
    /* i is chosen when it is the minimum of a window w in [i - W + 1, i], 0 <= w < nw;
       in the interior all W windows exist (the kernel's loop of constant length), at
       the edges fewer */
    Py_ssize_t in0 = from > FRAG_W - 1 ? from : FRAG_W - 1, in1 = nw < nk ? nw : nk;
    if (in1 < in0)
        in1 = in0;
    frag_kernel(st->simd, (const uint64_t *)st->tok.values.data, st->g, st->mn, st->chosen,
                nk, nw, from, in0, in1);
    for (Py_ssize_t i = from; i < nk; i++) {
        if (i == in0)
            i = in1;
        if (i >= nk)
            break;
        Py_ssize_t w0 = i - FRAG_W + 1 > 0 ? i - FRAG_W + 1 : 0;
        Py_ssize_t w1 = i < nw - 1 ? i : nw - 1;
        int chosen = 0;
        for (Py_ssize_t w = w0; w <= w1; w++)
            chosen |= st->mn[w] == g[i];
        st->chosen[i - from] = (uint8_t)chosen;
    }
    if (from < nk)
        frag_emit(st, from, nk, st->chosen);
    st->evaluated = 1;
    Py_ssize_t drop = nk - FRAG_W + 1, keep = nt - drop;
    memmove(st->tok.values.data, st->tok.values.data + drop, (size_t)keep * 8);
    memmove(st->tok.starts.data, st->tok.starts.data + drop, (size_t)keep * 8);
    memmove(st->tok.ends.data, st->tok.ends.data + drop, (size_t)keep * 8);
    st->tok.values.len = st->tok.starts.len = st->tok.ends.len = keep;
    st->base += drop;
    return 0;
}

static int frag_finish(fragstream *st)
{
    Py_ssize_t nk = st->tok.values.len - FRAG_K + 1;
    if (st->evaluated || nk < 1)
        return 0;
    if (frag_reserve(st, nk) < 0)
        return -1;
    /* fewer than W k-grams (else a feed evaluated them): their combinations alone */
    frag_kernel(st->simd, (const uint64_t *)st->tok.values.data, st->g, st->mn, st->chosen,
                nk, 0, 0, 0, 0);
    Py_ssize_t best = nk - 1; /* the rightmost minimum */
    for (Py_ssize_t i = nk - 2; i >= 0; i--)
        if (st->g[i] < st->g[best])
            best = i;
    uint8_t one = 1;
    frag_emit(st, best, best + 1, &one);
    return 0;
}

/* u[j] = table[d[j]] for j < n: the latin-1 unit table over a chunk of UCS1 text.
   Left to itself gcc 12 "vectorises" this loop by assembling 16 looked-up bytes in
   two general registers, storing them and loading them back as one vector: a
   store-forwarding stall every 16 bytes, a fifth of fragment_select's time on the
   20 MB leak corpus. With AVX-512 VBMI the 256-byte table is four registers and 64
   units take two byte permutes and a blend; without it a plain loop (no vectors). */
#ifdef CPU_X86_SIMD
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) static void
frag_translate_vbmi(const uint8_t *d, Py_ssize_t n, const uint8_t *table, uint8_t *u)
{
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    Py_ssize_t j = 0;
    for (; j < n; j += 64) {
        __mmask64 k = n - j >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - j)) - 1;
        __m512i idx = _mm512_maskz_loadu_epi8(k, d + j);
        /* bits 0-6 pick a byte of (t0, t1) or (t2, t3); bit 7 picks the pair */
        __m512i low = _mm512_permutex2var_epi8(t0, idx, t1);
        __m512i high = _mm512_permutex2var_epi8(t2, idx, t3);
        __m512i out = _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high);
        _mm512_mask_storeu_epi8(u + j, k, out);
    }
}
#endif

__attribute__((optimize("no-tree-vectorize"))) static void
frag_translate_plain(const uint8_t *d, Py_ssize_t n, const uint8_t *table, uint8_t *u)
{
    for (Py_ssize_t j = 0; j < n; j++)
        u[j] = table[d[j]];
}

static void frag_translate(const uint8_t *d, Py_ssize_t n, const uint8_t *table, uint8_t *u,
                           int simd)
{
#ifdef CPU_X86_SIMD
    if (simd && cpu_has(CPU_AVX512_VBMI)) {
        frag_translate_vbmi(d, n, table, u);
        return;
    }
#endif
    (void)simd;
    frag_translate_plain(d, n, table, u);
}

/* Units of text[pos:pos+n] (kind 1, 2 or 4) into `units`: 1 byte each through the
   latin-1 table when every character is below 256 (returns 1), else 4 bytes each
   through the BMP table (returns 4); 0 when a character is beyond the BMP (the
   caller's general path handles those). */
#define FRAG_UNITS(NAME, T)                                                                \
    static int NAME(const T *d, Py_ssize_t n, const uint8_t *latin1, const uint32_t *bmp,  \
                    void *units)                                                           \
    {                                                                                      \
        uint32_t top = 0;                                                                  \
        for (Py_ssize_t j = 0; j < n; j++)                                                 \
            top |= d[j];                                                                   \
        if (top < 256) {                                                                   \
            uint8_t *u = (uint8_t *)units;                                                 \
            for (Py_ssize_t j = 0; j < n; j++)                                             \
                u[j] = latin1[d[j]];                                                       \
            memset(u + n, 0, 16);                                                          \
            return 1;                                                                      \
        }                                                                                  \
        uint32_t *u = (uint32_t *)units, utop = 0;                                         \
        for (Py_ssize_t j = 0; j < n; j++) {                                               \
            if (d[j] > 0xFFFF)                                                             \
                return 0;                                                                  \
            u[j] = bmp[d[j]];                                                              \
            utop |= u[j];                                                                  \
        }                                                                                  \
        if (utop < 256) {                                                                  \
            /* wide characters, but all of them separators: narrow units (in place,     \
               forwards: byte j is in a unit already read) */                             \
            uint8_t *b = (uint8_t *)units;                                                 \
            for (Py_ssize_t j = 0; j < n; j++)                                             \
                b[j] = (uint8_t)u[j];                                                      \
            memset(b + n, 0, 16);                                                          \
            return 1;                                                                      \
        }                                                                                  \
        memset(u + n, 0, 16);                                                              \
        return 4;                                                                          \
    }

FRAG_UNITS(frag_units_ucs2, Py_UCS2)
FRAG_UNITS(frag_units_ucs4, Py_UCS4)

/* Units of text[pos:pos+n] into `units`: 1 byte each through the latin-1 table when
   every character is below 256 (returns 1, as fragments._chunk_units), else 4 bytes
   each through the BMP table (returns 4), or 1 byte each when all those units are
   below 256 (characters beyond latin-1 that are all separators, such as dashes and
   quotes: the u32 tokeniser gives such units the same tokens and narrow values as
   the u8 one); 0 when a character is beyond the BMP (the caller's general path
   handles those). */
static int frag_units(int kind, const void *data, Py_ssize_t pos, Py_ssize_t n,
                      const uint8_t *latin1, const uint32_t *bmp, void *units, int simd)
{
    if (kind == PyUnicode_2BYTE_KIND)
        return frag_units_ucs2((const Py_UCS2 *)data + pos, n, latin1, bmp, units);
    if (kind == PyUnicode_4BYTE_KIND)
        return frag_units_ucs4((const Py_UCS4 *)data + pos, n, latin1, bmp, units);
    uint8_t *u = (uint8_t *)units;
    frag_translate((const uint8_t *)data + pos, n, latin1, u, simd);
    memset(u + n, 0, 16);
    return 1;
}

/* Tokens of the text chunk by chunk, as fragments._tokens cuts it (chunks of `chunk`
   characters, each cut just after its last separator within `cut_search` of its end
   unless final), fed to the stream; called with the GIL, released while it works.
   Returns 1 when a unit is complex or a character lies beyond the BMP (the caller
   then takes the general path), -1 on memory failure, -2 when Python set an error,
   else 0. */
static int frag_scan(int kind, const void *data, Py_ssize_t n_text, const uint8_t *latin1,
                     const uint32_t *bmp, Py_ssize_t chunk, Py_ssize_t cut_search,
                     uint64_t seed, int simd, fragstream *st)
{
    void *units = malloc((size_t)chunk * 4 + 16);
    if (units == NULL)
        return -1;
    Py_ssize_t pos = 0;
    int status = 0;
    while (pos < n_text && status == 0) {
        Py_ssize_t n = n_text - pos < chunk ? n_text - pos : chunk;
        int final = pos + n >= n_text;
        Py_ssize_t cut = n;
        PyThreadState *save = PyEval_SaveThread();
        int width = frag_units(kind, data, pos, n, latin1, bmp, units, simd);
        if (width == 0)
            status = 1;
        Py_ssize_t lo = n - cut_search > 0 ? n - cut_search : 0;
        if (width == 1) {
            const uint8_t *u = (const uint8_t *)units;
            if (memchr(u, U_COMPLEX, (size_t)n) != NULL)
                status = 1;
            for (Py_ssize_t i = n - 1; !status && !final && i >= lo; i--)
                if (u[i] == U_SEP) {
                    cut = i + 1;
                    break;
                }
        } else if (width == 4) {
            const uint32_t *u = (const uint32_t *)units;
            for (Py_ssize_t i = 0; i < n && !status; i++)
                status = u[i] == U_COMPLEX;
            for (Py_ssize_t i = n - 1; !status && !final && i >= lo; i--)
                if (u[i] == U_SEP) {
                    cut = i + 1;
                    break;
                }
        }
        if (status == 0) {
            Py_ssize_t first = st->tok.values.len;
            if (width == 1)  /* (which makes the offsets itself) */
                frag_tokens_u8((const uint8_t *)units, cut, n + 8 + ((-n) & 7), seed, pos,
                               &st->tok);
            else
                tokens_u32((const uint32_t *)units, cut, 0, cut, seed, &st->tok);
            if (st->tok.values.failed || st->tok.starts.failed || st->tok.ends.failed)
                status = -1;
            else if (width != 1)
                tok_shift(&st->tok, first, pos);
        }
        PyEval_RestoreThread(save);
        /* a feed selects at most one per token it holds; the whole text, from the start
           one for 8 characters (leak text has one for 12-15; up to a million: 32 MB), then
           about as many as so far for each character read (an eighth more), but not more
           than 4 times what is needed now (a text's head may be denser than its tail) */
        Py_ssize_t need = st->m + st->tok.values.len, expected;
        if (pos == 0)
            expected = n_text / 8 < FRAG_ROOM_FIRST ? n_text / 8 : FRAG_ROOM_FIRST;
        else {
            double projected = (double)st->m * (double)n_text / (double)pos * 1.125;
            expected = projected < 4.0 * (double)need ? (Py_ssize_t)projected : 4 * need;
        }
        if (status == 0 && frag_room(st, st->tok.values.len, expected) < 0)
            status = -2; /* a Python error is set */
        if (status == 0) {
            save = PyEval_SaveThread();
            if (frag_feed(st) < 0)
                status = -1;
            PyEval_RestoreThread(save);
        }
        pos += cut;
    }
    free(units);
    if (status == 0 && frag_room(st, 1, 0) < 0)
        status = -2;
    if (status == 0 && frag_finish(st) < 0)
        status = -1;
    return status;
}

PyDoc_STRVAR(fragment_select_doc,
"fragment_select(text, latin1, bmp, seed, chunk, cut_search, simd=True)\n"
"    -> (blocks, starts, ends) | None\n\n"
"The winnowed k-grams of a text as matchers.fragments computes them: their\n"
"16-byte blocks (combination, first token value; uint64 pairs, to be keyed by\n"
"the caller), start and end character offsets (int64), in text order, as\n"
"bytearrays. `latin1`: the\n"
"256-byte unit table, `bmp`: the uint32 unit table of the BMP. None when the text\n"
"holds a complex unit or a character beyond the BMP (the caller's general path\n"
"handles those). `simd` False: the latin-1 units looked up one by one and the\n"
"windows' minimums found without vectors, as without AVX-512 VBMI and DQ (for the\n"
"tests).");

static PyObject *fragment_select(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer latin1, bmp;
    unsigned long long seed;
    Py_ssize_t chunk, cut_search;
    (void)self;
    int simd = 1;
    if (!PyArg_ParseTuple(args, "Uy*y*Knn|p", &text, &latin1, &bmp, &seed, &chunk, &cut_search,
                          &simd))
        return NULL;
    PyObject *result = NULL;
    if (latin1.len != 256 || bmp.len != 0x10000 * 4 || chunk < 1 || cut_search < 0) {
        PyErr_SetString(PyExc_ValueError, "fragment_select: bad tables or chunk size");
        goto done;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n_text = PyUnicode_GET_LENGTH(text);
    fragstream st;
    memset(&st, 0, sizeof(st));
    st.last = -1;
    st.simd = simd;
    st.blocks = PyByteArray_FromStringAndSize(NULL, 0);
    st.starts = PyByteArray_FromStringAndSize(NULL, 0);
    st.ends = PyByteArray_FromStringAndSize(NULL, 0);
    int status = -2;
    /* the tokens' room for a chunk and the carried k-grams, made once (frag_tokens_u8) */
    Py_ssize_t most = (n_text < chunk ? n_text : chunk) / 2 + FRAG_K + FRAG_W;
    if (tok_room(&st.tok, most) < 0)
        status = -1;
    else if (st.blocks && st.starts && st.ends)
        status = frag_scan(kind, data, n_text, (const uint8_t *)latin1.buf,
                           (const uint32_t *)bmp.buf, chunk, cut_search, (uint64_t)seed,
                           simd, &st);
    if (status == 0 && (PyByteArray_Resize(st.blocks, st.m * 16) < 0
                        || PyByteArray_Resize(st.starts, st.m * 8) < 0
                        || PyByteArray_Resize(st.ends, st.m * 8) < 0))
        status = -2;
    if (status == -1) {
        PyErr_NoMemory();
    } else if (status > 0) {
        result = Py_None;
        Py_INCREF(result);
    } else if (status == 0) {
        result = PyTuple_Pack(3, st.blocks, st.starts, st.ends);
    }
    Py_XDECREF(st.blocks);
    Py_XDECREF(st.starts);
    Py_XDECREF(st.ends);
    free(st.g);
    free(st.mn);
    free(st.chosen);
    free(st.tok.values.data);
    free(st.tok.starts.data);
    free(st.tok.ends.data);
    free(st.tok.complex_.data);
done:
    PyBuffer_Release(&latin1);
    PyBuffer_Release(&bmp);
    return result;
}

PyDoc_STRVAR(fragment_lookup_doc,
"fragment_lookup(table, shift, fp_sorted, buckets, bucket_shift, hashes)\n"
"    -> (keep, lo, hi)\n\n"
"The fingerprints of `hashes` (uint64) the sorted index `fp_sorted` (uint64)\n"
"holds: their positions in `hashes` (ascending) and the left and right insertion\n"
"points in `fp_sorted` (all int64 bytes). `table`: a bit set over the top\n"
"64 - shift bits (little-endian bit order) that holds every indexed value's;\n"
"it rules most fingerprints out before any search. `buckets` (int64): where the\n"
"values with each top 64 - bucket_shift bits start in `fp_sorted` (one more entry\n"
"at the end: its length); a search looks only there.");

static PyObject *fragment_lookup(PyObject *self, PyObject *args)
{
    Py_buffer table, fps, buckets, hashes;
    int shift, bucket_shift;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*iy*y*iy*", &table, &shift, &fps, &buckets, &bucket_shift,
                          &hashes))
        return NULL;
    PyObject *result = NULL;
    if (shift < 3 || shift > 63 || bucket_shift < 1 || bucket_shift > 63 || fps.len % 8
        || hashes.len % 8
        || table.len < (Py_ssize_t)(((uint64_t)1 << (64 - shift)) >> 3)
        || buckets.len != (Py_ssize_t)((((uint64_t)1 << (64 - bucket_shift)) + 1) * 8)
        || ((const int64_t *)buckets.buf)[buckets.len / 8 - 1] != fps.len / 8) {
        PyErr_SetString(PyExc_ValueError, "fragment_lookup: bad table or arrays");
        goto done;
    }
    const uint8_t *tb = (const uint8_t *)table.buf;
    const uint64_t *f = (const uint64_t *)fps.buf;
    const int64_t *bk = (const int64_t *)buckets.buf;
    const uint64_t *h = (const uint64_t *)hashes.buf;
    Py_ssize_t nh = hashes.len / 8;
    i64vec keep = {0}, lo = {0}, hi = {0};
    Py_BEGIN_ALLOW_THREADS
    /* Pass 1, branch-free: the candidates the bit table lets through (the loads are
       independent, so many cache misses overlap). Pass 2: their exact searches. */
    int64_t *cand = (int64_t *)malloc((size_t)(nh ? nh : 1) * sizeof(int64_t));
    Py_ssize_t nc = 0;
    if (cand == NULL)
        keep.failed = 1;
    for (Py_ssize_t i = 0; cand != NULL && i < nh; i++) {
        if (i + 64 < nh) /* the table is 16 MB: its lines are fetched well ahead */
            __builtin_prefetch(tb + ((h[i + 64] >> shift) >> 3));
        uint64_t top = h[i] >> shift;
        cand[nc] = i;
        nc += (tb[top >> 3] >> (top & 7)) & 1;
    }
    for (Py_ssize_t c = 0; c < nc; c++) {
        /* two stages ahead: the bucket's start, then the index entries there */
        if (c + 16 < nc)
            __builtin_prefetch(bk + (h[cand[c + 16]] >> bucket_shift));
        if (c + 4 < nc)
            __builtin_prefetch(f + bk[h[cand[c + 4]] >> bucket_shift]);
        Py_ssize_t i = (Py_ssize_t)cand[c];
        uint64_t x = h[i];
        uint64_t bucket = x >> bucket_shift;
        Py_ssize_t a = (Py_ssize_t)bk[bucket], b = (Py_ssize_t)bk[bucket + 1];
        Py_ssize_t end = b; /* first f[a] >= x, within the bucket */
        while (a < b) {
            Py_ssize_t mid = a + (b - a) / 2;
            if (f[mid] < x)
                a = mid + 1;
            else
                b = mid;
        }
        if (a == end || f[a] != x)
            continue;
        Py_ssize_t e = a + 1;
        while (e < end && f[e] == x)
            e++;
        vec_push(&keep, i);
        vec_push(&lo, a);
        vec_push(&hi, e);
    }
    free(cand);
    Py_END_ALLOW_THREADS
    if (keep.failed || lo.failed || hi.failed) {
        PyErr_NoMemory();
    } else {
        PyObject *a = vec_bytes(&keep), *b = vec_bytes(&lo), *c = vec_bytes(&hi);
        if (a && b && c)
            result = PyTuple_Pack(3, a, b, c);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
    }
    free(keep.data);
    free(lo.data);
    free(hi.data);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&fps);
    PyBuffer_Release(&buckets);
    PyBuffer_Release(&hashes);
    return result;
}

PyDoc_STRVAR(fragment_tables_doc,
"fragment_tables(fp_sorted, shift, bucket_shift) -> (table, buckets) or None\n\n"
"fragment_lookup's `table` and `buckets` for the sorted index `fp_sorted` (uint64),\n"
"in one pass (bytes; None when fp_sorted is not sorted; shift from 30 and bucket_shift\n"
"from 36: tables of at most 2 GiB each). numpy took ten passes and\n"
"63 ms for 2.4 million fingerprints in a new process: every fragment scan's start-up.");

static PyObject *fragment_tables(PyObject *self, PyObject *args)
{
    Py_buffer fps;
    int shift, bucket_shift;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*ii", &fps, &shift, &bucket_shift))
        return NULL;
    if (shift < 30 || shift > 63 || bucket_shift < 36 || bucket_shift > 63 || fps.len % 8) {
        PyBuffer_Release(&fps);
        PyErr_SetString(PyExc_ValueError, "fragment_tables: bad shifts or array");
        return NULL;
    }
    const uint64_t *f = (const uint64_t *)fps.buf;
    Py_ssize_t n = fps.len / 8;
    Py_ssize_t table_len = (Py_ssize_t)((((uint64_t)1) << (64 - shift)) >> 3);
    Py_ssize_t nb = ((Py_ssize_t)1 << (64 - bucket_shift)) + 1;
    PyObject *table = PyBytes_FromStringAndSize(NULL, table_len);
    PyObject *buckets = table ? PyBytes_FromStringAndSize(NULL, nb * 8) : NULL;
    if (buckets == NULL) {
        Py_XDECREF(table);
        PyBuffer_Release(&fps);
        return NULL;
    }
    uint8_t *t = (uint8_t *)PyBytes_AS_STRING(table);
    int64_t *bk = (int64_t *)PyBytes_AS_STRING(buckets);
    int sorted = 1;
    Py_BEGIN_ALLOW_THREADS
    memset(t, 0, (size_t)table_len);
    Py_ssize_t b = 0;  /* buckets before b have their start written */
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t x = f[i];
        if (i && x < f[i - 1]) {
            sorted = 0;
            break;
        }
        uint64_t top = x >> shift;
        t[top >> 3] |= (uint8_t)(1u << (top & 7));
        /* a bucket starts at the first value whose top bits reach it */
        for (Py_ssize_t bucket = (Py_ssize_t)(x >> bucket_shift); b <= bucket; b++)
            bk[b] = i;
    }
    for (; b < nb; b++)
        bk[b] = n;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&fps);
    if (!sorted) {
        Py_DECREF(table);
        Py_DECREF(buckets);
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(NN)", table, buckets);
}

#define FRAG_METHODS                                                                       \
    {"fragment_tables", fragment_tables, METH_VARARGS, fragment_tables_doc},               \
    {"fragment_select", fragment_select, METH_VARARGS, fragment_select_doc},               \
    {"fragment_lookup", fragment_lookup, METH_VARARGS, fragment_lookup_doc},
