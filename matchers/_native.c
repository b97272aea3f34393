/* matchers._native: the per-byte hot loops of the scan engine, in C.
 *
 * Optional: every function here has a numpy equivalent that is used when this
 * module cannot be imported, and the tests check that both give the same
 * results. The functions read buffers (bytes, bytearray, numpy arrays) through
 * the buffer protocol, release the GIL while they loop, and return bytes that
 * the Python side wraps with numpy.frombuffer. Every read is bounds-checked;
 * nothing from the scanned text ever goes into an exception message.
 *
 * hetu_find(codes)            HETU candidates (see matchers/detectors/hetu.py)
 * clean_bytes(...)            the "clean chunk" test of matchers/engine.py
 * fragment_tokens(...)        tokens and token values of matchers/fragments.py
 * fragment_select/lookup      winnowed k-grams and index lookup (_native_frag.c)
 * email_scan(codes)           e-mail anchors (see matchers/detectors/email.py)
 * lower_rows(cp, starts, w)   the e-mail values' rows, lower-cased (email._assemble)
 * utf8_valid(data)            strict UTF-8 validity without decoding (_native_utf8.c)
 *
 * The module is one translation unit: _native_norm.c (normalisation),
 * _native_corr.c (corroboration), _native_phone.c (phone readings), _native_lookup.c
 * (index lookup, CMAC messages) and _native_findings.c (finding objects from columns) are
 * included near the end of this file.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* PyMemberDef: the slots of engine.Finding (_native_findings.c) */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---------------------------------------------------------------------------------- */
/* What the CPU has, asked once: the extension is built for plain x86-64, and its AVX2
   and AVX-512 paths (_native_utf8.c, _native_frag.c) are chosen at run time. */

#define CPU_AVX2 1
#define CPU_AVX512_VBMI2 2 /* with AVX2, AVX-512 F and BW: byte compress */
#define CPU_AVX512_VBMI 4  /* with AVX-512 F and BW: byte permutes */
#define CPU_AVX512_DQ 8    /* with AVX-512 F and VL: 64-bit multiplies */
#define CPU_AVX512_BW 16   /* AVX-512 F and BW: byte compares into 64-bit masks */

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CPU_X86_SIMD 1
static int cpu_features = -1;

static int cpu_has(int feature)
{
    if (cpu_features < 0) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2");
        int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
        cpu_features = (avx2 ? CPU_AVX2 : 0)
                       | (avx2 && avx512 && __builtin_cpu_supports("avx512vbmi2")
                          ? CPU_AVX512_VBMI2 : 0)
                       | (avx512 && __builtin_cpu_supports("avx512vbmi") ? CPU_AVX512_VBMI : 0)
                       | (avx512 && __builtin_cpu_supports("avx512dq")
                          && __builtin_cpu_supports("avx512vl") ? CPU_AVX512_DQ : 0)
                       | (avx512 ? CPU_AVX512_BW : 0);
    }
    return (cpu_features & feature) == feature;
}
#else
static int cpu_has(int feature)
{
    (void)feature;
    return 0;
}
#endif

/* ---------------------------------------------------------------------------------- */
/* growable int64 arrays, used without the GIL (plain malloc) */

typedef struct {
    int64_t *data;
    Py_ssize_t len, cap;
    int failed;
} i64vec;

/* Room for `extra` more in v, which has too little: 0, or -1 when out of memory
   (v->failed then). Out of line: the callers' check of the room inlines alone. */
static __attribute__((noinline)) int vec_grow(i64vec *v, Py_ssize_t extra)
{
    if (v->failed)
        return -1;
    Py_ssize_t cap = v->cap ? v->cap : 256;
    while (cap < v->len + extra)
        cap *= 2;
    int64_t *d = (int64_t *)realloc(v->data, (size_t)cap * sizeof(int64_t));
    if (d == NULL) {
        v->failed = 1;
        return -1;
    }
    v->data = d;
    v->cap = cap;
    return 0;
}

/* Room for `extra` more in v: 0, or -1 when out of memory (or v failed before) */
static inline int vec_room(i64vec *v, Py_ssize_t extra)
{
    if (v->failed)
        return -1;
    return v->len + extra <= v->cap ? 0 : vec_grow(v, extra);
}

/* Inline, with the growth out of line: a call per value was 1% of an all-types scan
   (when the phone scan pushed its five values a candidate this way). `failed` is checked only when the
   vector is full: one that failed is dropped whole by its owner, whatever went in. */
static inline void vec_push(i64vec *v, int64_t x)
{
    if (v->len == v->cap && vec_grow(v, 1) < 0)
        return;
    v->data[v->len++] = x;
}

typedef struct {
    uint8_t *data;
    Py_ssize_t len, cap;
    int failed;
} u8vec;

/* Where n more bytes go at the end of v (room made for them; v->len unchanged), or
 * NULL when out of memory. */
static uint8_t *u8_room(u8vec *v, Py_ssize_t n)
{
    if (v->failed)
        return NULL;
    if (v->len + n > v->cap) {
        Py_ssize_t cap = v->cap ? v->cap : 1024;
        while (cap < v->len + n)
            cap *= 2;
        uint8_t *d = (uint8_t *)realloc(v->data, (size_t)cap);
        if (d == NULL) {
            v->failed = 1;
            return NULL;
        }
        v->data = d;
        v->cap = cap;
    }
    return v->data + v->len;
}

static void u8_append(u8vec *v, const uint8_t *src, Py_ssize_t n)
{
    uint8_t *end = u8_room(v, n);
    if (end == NULL)
        return;
    memcpy(end, src, (size_t)n);
    v->len += n;
}

static PyObject *vec_bytes(const i64vec *v)
{
    return PyBytes_FromStringAndSize((const char *)v->data,
                                     (Py_ssize_t)(v->len * (Py_ssize_t)sizeof(int64_t)));
}

/* 0 when every one of the n indices is in [0, limit); else -1 with ValueError(message). */
static int indices_within(const int64_t *idx, Py_ssize_t n, Py_ssize_t limit,
                          const char *message)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= limit) {
            PyErr_SetString(PyExc_ValueError, message);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* character classes (ASCII; code points >= 256 read as 255, which is in none) */

static uint8_t T_ALNUM[256], T_SIGN[256], T_CHECK_ANY[256], T_SPACE[256];
static int T_CENTURY[256];
static const char CHECK_CHARS[] = "0123456789ABCDEFHJKLMNPRSTUVWXY";

static void init_tables(void)
{
    const char *p;
    for (int c = '0'; c <= '9'; c++)
        T_ALNUM[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++)
        T_ALNUM[c] = T_ALNUM[c + 32] = 1;
    for (p = "-+ABCDEFUVWXYabcdefuvwxy"; *p; p++)
        T_SIGN[(uint8_t)*p] = 1;
    for (p = CHECK_CHARS; *p; p++) {
        T_CHECK_ANY[(uint8_t)*p] = 1;
        if (*p >= 'A' && *p <= 'Z')
            T_CHECK_ANY[(uint8_t)(*p + 32)] = 1;
    }
    for (p = " \t\r\n"; *p; p++)
        T_SPACE[(uint8_t)*p] = 1;
    T_CENTURY['+'] = 1800;
    for (p = "-YXWVU"; *p; p++)
        T_CENTURY[(uint8_t)*p] = 1900;
    for (p = "ABCDEF"; *p; p++)
        T_CENTURY[(uint8_t)*p] = 2000;
}

#define IS_DIGIT(c) ((unsigned)(c) - 48u < 10u)

/* ---------------------------------------------------------------------------------- */
/* hetu_find */

static const int MONTH_DAYS[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* canon: 11 characters (code points clipped to 255); upper-cases it in place and
   tells whether it is a valid HETU (date, individual number >= 2, check char). */
static int hetu_valid(uint8_t *canon)
{
    for (int i = 0; i < 11; i++)
        if (canon[i] >= 'a' && canon[i] <= 'z')
            canon[i] -= 32;
    int d[11];
    for (int i = 0; i < 11; i++)
        d[i] = (int)canon[i] - 48;
    int day = d[0] * 10 + d[1], month = d[2] * 10 + d[3], yy = d[4] * 10 + d[5];
    int ind = d[7] * 100 + d[8] * 10 + d[9];
    int century = T_CENTURY[canon[6]];
    if (century <= 0 || month < 1 || month > 12 || day < 1 || ind < 2)
        return 0;
    int year = century + yy;
    int leap = (year % 4 == 0) && ((year % 100 != 0) || (year % 400 == 0));
    int mdays = MONTH_DAYS[month] + (month == 2 && leap);
    if (day > mdays)
        return 0;
    long number = (((long)day * 100 + month) * 100 + yy) * 1000 + ind;
    return (uint8_t)CHECK_CHARS[number % 31] == canon[10];
}

/* One scanner per element width: a uint8 buffer (bytes, latin-1 code points) or a
   uint32 one (code points). at_*() reads 0 outside the buffer (like the numpy
   padding) and clips code points to 255. */
#define DEFINE_HETU_CANDIDATE(NAME, T)                                                     \
    static inline unsigned at_##NAME(const T *b, Py_ssize_t n, Py_ssize_t k)               \
    {                                                                                      \
        if (k < 0 || k >= n)                                                               \
            return 0;                                                                      \
        unsigned c = (unsigned)b[k];                                                       \
        return c > 255 ? 255 : c;                                                          \
    }                                                                                      \
    static void hetu_candidate_##NAME(const T *b, Py_ssize_t n, Py_ssize_t p,             \
                                      Py_ssize_t q, i64vec *starts, u8vec *canon,          \
                                      i64vec *loose, i64vec *runon)                        \
    {                                                                                      \
        /* [p, q) is a run of exactly six digits: no digit before it, and letters or   \
           punctuation glued to a code do not hide it (see hetu.py) */                   \
        unsigned sign = at_##NAME(b, n, q);                                                \
        unsigned check = at_##NAME(b, n, q + 4);                                           \
        int tight = T_SIGN[sign] && IS_DIGIT(at_##NAME(b, n, q + 1))                       \
                    && IS_DIGIT(at_##NAME(b, n, q + 2))                                    \
                    && IS_DIGIT(at_##NAME(b, n, q + 3)) && T_CHECK_ANY[check];             \
        if (tight) {                                                                       \
            /* a digit check character followed by a digit: a run-on code */              \
            int on = IS_DIGIT(check) && IS_DIGIT(at_##NAME(b, n, q + 5));                  \
            uint8_t row[11];                                                               \
            for (int j = 0; j < 11; j++)                                                   \
                row[j] = (uint8_t)at_##NAME(b, n, p + j);                                  \
            if (hetu_valid(row)) {                                                         \
                if (on)                                                                    \
                    vec_push(runon, (int64_t)starts->len);                                 \
                vec_push(starts, (int64_t)p);                                              \
                u8_append(canon, row, 11);                                                 \
            }                                                                              \
            return;                                                                        \
        }                                                                                  \
        if (T_SPACE[sign] || (T_SIGN[sign] && T_SPACE[at_##NAME(b, n, q + 1)])) {          \
            /* the first non-space within 5 must be a century sign */                     \
            for (int k = 0; k < 5; k++) {                                                  \
                unsigned c = at_##NAME(b, n, q + k);                                       \
                if (!T_SPACE[c]) {                                                         \
                    if (T_SIGN[c])                                                         \
                        vec_push(loose, (int64_t)p);                                       \
                    return;                                                                \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

DEFINE_HETU_CANDIDATE(u8, uint8_t)
DEFINE_HETU_CANDIDATE(u16, uint16_t)
DEFINE_HETU_CANDIDATE(u32, uint32_t)

/* The scanners of wider code points (text beyond latin-1: a str's UCS-2 or UCS-4 data,
   or a uint32 buffer) skip along the digits. */
#define DEFINE_HETU_SCAN(NAME, T)                                                          \
    static void hetu_scan_##NAME(const T *b, Py_ssize_t n, i64vec *starts, u8vec *canon,   \
                                 i64vec *loose, i64vec *runon)                             \
    {                                                                                      \
        Py_ssize_t i = 0;                                                                  \
        /* invariant: i == 0 or b[i - 1] is not a digit; a run of six digits that starts  \
           at or after i and ends in the buffer covers position i + 5 */                   \
        while (i + 5 < n) {                                                                \
            if (!IS_DIGIT(b[i + 5])) {                                                     \
                i += 6;                                                                    \
                continue;                                                                  \
            }                                                                              \
            Py_ssize_t s = i + 5, e = i + 6;                                               \
            while (s > i && IS_DIGIT(b[s - 1]))                                            \
                s--;                                                                       \
            while (e < n && IS_DIGIT(b[e]))                                                \
                e++;                                                                       \
            if (e - s == 6)                                                                \
                hetu_candidate_##NAME(b, n, s, e, starts, canon, loose, runon);            \
            i = e + 1;                                                                     \
        }                                                                                  \
    }

DEFINE_HETU_SCAN(u16, uint16_t)
DEFINE_HETU_SCAN(u32, uint32_t)

/* Bit k of a digit mask: byte from + k is an ASCII digit. */
static uint64_t digit_mask_bounded(const uint8_t *b, Py_ssize_t n, Py_ssize_t from)
{
    uint64_t m = 0;
    for (int k = 0; k < 64; k++) {
        Py_ssize_t j = from + k;
        if (j >= 0 && j < n && IS_DIGIT(b[j]))
            m |= (uint64_t)1 << k;
    }
    return m;
}

static inline uint64_t digit_mask_scalar(const uint8_t *p) /* 64 bytes readable */
{
    uint64_t m = 0;
    for (int k = 0; k < 64; k++)
        m |= (uint64_t)IS_DIGIT(p[k]) << k;
    return m;
}

#if defined(__SSE2__)
static inline uint64_t digit_mask_sse2(const uint8_t *p) /* 64 bytes readable */
{
    /* signed compares: bytes >= 0x80 are negative, so never digits */
    const __m128i lo = _mm_set1_epi8('0' - 1), hi = _mm_set1_epi8('9' + 1);
    uint64_t m = 0;
    for (int j = 0; j < 4; j++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * j));
        __m128i d = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi));
        m |= (uint64_t)(uint32_t)_mm_movemask_epi8(d) << (16 * j);
    }
    return m;
}
#define HAVE_SIMD 1
#else
#define HAVE_SIMD 0
#endif

static inline int ctz64(uint64_t x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int k = 0;
    while (!(x & 1)) {
        x >>= 1;
        k++;
    }
    return k;
#endif
}

/* Runs of exactly six digits, found 56 start positions at a time from a 64-bit digit
   mask of bytes [i - 1, i + 63): bit k (1 <= k <= 56) is a start when bits k..k+5
   are digits and bits k-1 and k+6 are not. Candidates come out in text order. */
static void hetu_scan_u8(const uint8_t *b, Py_ssize_t n, i64vec *starts, u8vec *canon,
                         i64vec *loose, i64vec *runon, int simd)
{
    for (Py_ssize_t i = 0; i < n; i += 56) {
        Py_ssize_t from = i - 1;
        uint64_t m;
        if (from >= 0 && n - from >= 64) {
#if HAVE_SIMD
            m = simd ? digit_mask_sse2(b + from) : digit_mask_scalar(b + from);
#else
            (void)simd;
            m = digit_mask_scalar(b + from);
#endif
        } else {
            m = digit_mask_bounded(b, n, from);
        }
        if (!m)
            continue;
        uint64_t run6 = m & (m >> 1) & (m >> 2) & (m >> 3) & (m >> 4) & (m >> 5);
        uint64_t exact = run6 & ~(m << 1) & ~(m >> 6) & 0x01FFFFFFFFFFFFFEULL;
        while (exact) {
            Py_ssize_t s = from + ctz64(exact);
            exact &= exact - 1;
            hetu_candidate_u8(b, n, s, s + 6, starts, canon, loose, runon);
        }
    }
}

/* Get a C-contiguous buffer of 1- or 4-byte items. */
static int get_codes(PyObject *obj, Py_buffer *view)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    if (view->itemsize != 1 && view->itemsize != 4) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "expected a buffer of 1- or 4-byte items");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(hetu_find_doc,
"hetu_find(codes[, simd]) -> (starts, canon, loose, runon)\n\n"
"HETU candidates in a code-point buffer (uint8 or uint32 items) or a str (read\n"
"where it lies, without a copy into a buffer of code points): `starts`\n"
"(int64 bytes) and `canon` (11 upper-cased bytes each) of the valid codes of\n"
"the tight form DDMMYYCNNNQ not inside a longer run of digits, and `loose`\n"
"(int64 bytes): starts of date parts followed by whitespace and then a\n"
"century sign, for the regular expression, and `runon` (int64 bytes): the\n"
"indices in `starts` of the codes whose digit check character a digit follows\n"
"(reported only when confirmed). Offsets are item indices.");

static PyObject *hetu_find(PyObject *self, PyObject *args)
{
    PyObject *obj;
    int simd = 1; /* 0: the portable loops (for tests) */
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|p", &obj, &simd))
        return NULL;
    /* a str's data, or the buffer's (its code points one per item either way) */
    const void *data;
    Py_ssize_t n;
    int width;
    int is_str = PyUnicode_Check(obj);
    if (is_str) {
        if (PyUnicode_READY(obj) < 0)
            return NULL;
        data = PyUnicode_DATA(obj);
        n = PyUnicode_GET_LENGTH(obj);
        width = PyUnicode_KIND(obj);
    } else {
        if (get_codes(obj, &view) < 0)
            return NULL;
        data = view.buf;
        width = (int)view.itemsize;
        n = view.len / view.itemsize;
    }
    i64vec starts = {0}, loose = {0}, runon = {0};
    u8vec canon = {0};
    /* (a str is immutable, so its data can be read without the GIL too) */
    Py_BEGIN_ALLOW_THREADS
    if (width == 1)
        hetu_scan_u8((const uint8_t *)data, n, &starts, &canon, &loose, &runon, simd);
    else if (width == 2)
        hetu_scan_u16((const uint16_t *)data, n, &starts, &canon, &loose, &runon);
    else
        hetu_scan_u32((const uint32_t *)data, n, &starts, &canon, &loose, &runon);
    Py_END_ALLOW_THREADS
    if (!is_str)
        PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (starts.failed || canon.failed || loose.failed || runon.failed) {
        PyErr_NoMemory();
    } else {
        PyObject *a = vec_bytes(&starts);
        PyObject *b = PyBytes_FromStringAndSize((const char *)canon.data, canon.len);
        PyObject *c = vec_bytes(&loose);
        PyObject *d = vec_bytes(&runon);
        if (a && b && c && d)
            result = PyTuple_Pack(4, a, b, c, d);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        Py_XDECREF(d);
    }
    free(starts.data);
    free(canon.data);
    free(loose.data);
    free(runon.data);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* clean_bytes */

/* the 64-bit word has a zero byte (classic SWAR test; exact when used as a boolean) */
#define HAS_ZERO(x) (((x) - 0x0101010101010101ULL) & ~(x) & 0x8080808080808080ULL)
#define BCAST(c) (0x0101010101010101ULL * (uint64_t)(c))

static inline int word_interesting(uint64_t w, int html, int sql)
{
    if (w & 0x8080808080808080ULL)
        return 1;
    if (HAS_ZERO(w ^ BCAST('&')) || HAS_ZERO(w ^ BCAST('\\')))
        return 1;
    if (html && HAS_ZERO(w ^ BCAST('<')))
        return 1;
    if (sql && HAS_ZERO(w ^ BCAST('\'')))
        return 1;
    return 0;
}

/* One high byte at b[i] (i < n): 1 if it may stay, with *next set past what it
   consumed. UTF-8: only 0xC3 followed by a continuation byte (U+00C0-U+00FF). */
static inline int clean_high(const uint8_t *b, Py_ssize_t n, Py_ssize_t i, int utf8,
                             const uint8_t *special, i64vec *leads, Py_ssize_t *next)
{
    uint8_t c = b[i];
    if (!utf8) {
        *next = i + 1;
        return !special[c];
    }
    if (c != 0xC3 || i + 1 >= n || (b[i + 1] & 0xC0) != 0x80)
        return 0;
    vec_push(leads, (int64_t)i);
    *next = i + 2;
    return 1;
}

static inline int clean_trigger(const uint8_t *b, Py_ssize_t n, Py_ssize_t i, int html,
                                int sql)
{
    uint8_t c = b[i];
    if (c == '&' || c == '\\' || (html && c == '<'))
        return 1;
    return sql && c == '\'' && i + 1 < n && b[i + 1] == '\'';
}

/* 1 clean, 0 not clean; leads collects the 0xC3 positions (UTF-8). */
static int clean_scan(const uint8_t *b, Py_ssize_t n, int utf8, int html, int sql,
                      const uint8_t *special, i64vec *leads, int simd)
{
    Py_ssize_t i = 0, next = 0; /* next: the first byte not consumed by a high byte */
#if HAVE_SIMD
    if (simd) {
        const __m128i amp = _mm_set1_epi8('&'), bsl = _mm_set1_epi8('\\');
        const __m128i lt = _mm_set1_epi8(html ? '<' : '&');
        const __m128i quo = _mm_set1_epi8(sql ? '\'' : '&');
        for (; n - i >= 16; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
            __m128i t = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, amp), _mm_cmpeq_epi8(x, bsl)),
                                     _mm_or_si128(_mm_cmpeq_epi8(x, lt), _mm_cmpeq_epi8(x, quo)));
            unsigned tm = (unsigned)_mm_movemask_epi8(t);
            unsigned hm = (unsigned)_mm_movemask_epi8(x);
            while (tm) {
                Py_ssize_t k = i + ctz64(tm);
                tm &= tm - 1;
                if (clean_trigger(b, n, k, html, sql))
                    return 0;
            }
            while (hm) {
                Py_ssize_t k = i + ctz64(hm);
                hm &= hm - 1;
                if (k >= next && !clean_high(b, n, k, utf8, special, leads, &next))
                    return 0;
            }
        }
    }
#else
    (void)simd;
#endif
    if (i < next)
        i = next;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, b + i, 8);
            if (!word_interesting(w, html, sql)) {
                i += 8;
                continue;
            }
        }
        if (b[i] < 0x80) {
            if (clean_trigger(b, n, i, html, sql))
                return 0;
            i++;
        } else {
            if (!clean_high(b, n, i, utf8, special, leads, &next))
                return 0;
            i = next;
        }
    }
    return 1;
}

PyDoc_STRVAR(clean_bytes_doc,
"clean_bytes(data, start, end, utf8, html, sql, special[, simd]) -> bytes | None\n\n"
"Is data[start:end] clean (see matchers.engine)? None when not; else the\n"
"positions (relative to start, int64 bytes) of its 0xC3 lead bytes (UTF-8;\n"
"empty for cp1252). `special` is a 256-byte table: high bytes that make a\n"
"cp1252 text unclean.");

static PyObject *clean_bytes(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t start, end;
    int utf8, html, sql, simd = 1;
    Py_buffer view, table;
    (void)self;
    if (!PyArg_ParseTuple(args, "Onnpppy*|p", &obj, &start, &end, &utf8, &html, &sql, &table,
                          &simd))
        return NULL;
    if (table.len != 256) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "special must be 256 bytes");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&table);
        return NULL;
    }
    if (start < 0)
        start = 0;
    if (end > view.len)
        end = view.len;
    if (end < start)
        end = start;
    i64vec leads = {0};
    int clean;
    Py_BEGIN_ALLOW_THREADS
    clean = clean_scan((const uint8_t *)view.buf + start, end - start, utf8, html, sql,
                       (const uint8_t *)table.buf, &leads, simd);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyBuffer_Release(&table);
    PyObject *result;
    if (leads.failed) {
        result = PyErr_NoMemory();
    } else if (!clean) {
        result = Py_NewRef(Py_None);
    } else {
        result = vec_bytes(&leads);
    }
    free(leads.data);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* fragment_tokens: tokens and their keyed values (see matchers/fragments.py) */

#define U_SEP 0
#define U_JOIN 1
#define U_IGN 2
#define U_COMPLEX 3
#define Q_LANE 0x9E3779B97F4A7C15ULL
#define LEN_NARROW 0xC2B2AE3D27D4EB4FULL
#define LEN_WIDE 0x165667B19E3779F9ULL

static inline uint64_t mix64(uint64_t x)
{
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 29;
    return x;
}

typedef struct {
    i64vec values, starts, ends, complex_;
} tokvec;

/* Units of one chunk (uint8 or uint32 items; 0 separator, 1 joiner, 2 ignorable,
   3 complex, else a folded word character). A joiner joins when both neighbours
   are word or complex units (else it separates); joined joiners and ignorables are
   left out of tokens, so a token spans from its first to its last word unit. A
   token's value: the polynomial over its 64-bit lanes (8 units of 8 bits, or, when
   any unit is beyond 0xFF, 2 units of 32 bits), plus its length times a constant,
   xor the seed, mixed. Tokens with complex units are listed for the caller. */
#define DEFINE_TOKENS(NAME, T)                                                             \
    static void NAME(const T *u, Py_ssize_t n, Py_ssize_t from, Py_ssize_t to,            \
                     uint64_t seed, tokvec *out)                                           \
    {                                                                                      \
        int in_tok = 0, cx = 0, wide = 0;                                                  \
        Py_ssize_t start = 0, last = 0, len = 0;                                           \
        uint64_t vn = 0, ln = 0, qn = 1; /* narrow: value, lane, Q power */                \
        uint64_t vw = 0, lw = 0, qw = 1; /* wide */                                        \
        for (Py_ssize_t j = from; j <= to; j++) {                                          \
            uint32_t c = j < to ? (uint32_t)u[j] : U_SEP;                                  \
            if (c == U_IGN)                                                                \
                continue;                                                                  \
            if (c == U_JOIN) {                                                             \
                if (j > 0 && j + 1 < n && (uint32_t)u[j - 1] >= U_COMPLEX                  \
                    && (uint32_t)u[j + 1] >= U_COMPLEX)                                    \
                    continue;                                                              \
                c = U_SEP;                                                                 \
            }                                                                              \
            if (c == U_SEP) {                                                              \
                if (in_tok) {                                                              \
                    uint64_t v;                                                            \
                    if (wide) {                                                            \
                        if (len & 1)                                                       \
                            vw += lw * qw;                                                 \
                        v = vw + (uint64_t)len * LEN_WIDE;                                 \
                    } else {                                                               \
                        if (len & 7)                                                       \
                            vn += ln * qn;                                                 \
                        v = vn + (uint64_t)len * LEN_NARROW;                               \
                    }                                                                      \
                    if (cx)                                                                \
                        vec_push(&out->complex_, (int64_t)out->values.len);                \
                    vec_push(&out->values, (int64_t)mix64(v ^ seed));                      \
                    vec_push(&out->starts, (int64_t)start);                                \
                    vec_push(&out->ends, (int64_t)last + 1);                               \
                    in_tok = 0;                                                            \
                }                                                                          \
                continue;                                                                  \
            }                                                                              \
            if (!in_tok) {                                                                 \
                in_tok = 1;                                                                \
                start = j;                                                                 \
                cx = wide = 0;                                                             \
                len = 0;                                                                   \
                vn = ln = vw = lw = 0;                                                     \
                qn = qw = 1;                                                               \
            }                                                                              \
            cx |= c == U_COMPLEX;                                                          \
            wide |= c > 0xFF;                                                              \
            ln |= (uint64_t)(c & 0xFF) << (8 * (len & 7));                                 \
            lw |= (uint64_t)c << (32 * (len & 1));                                         \
            len++;                                                                         \
            if (!(len & 7)) {                                                              \
                vn += ln * qn;                                                             \
                qn *= Q_LANE;                                                              \
                ln = 0;                                                                    \
            }                                                                              \
            if (!(len & 1)) {                                                              \
                vw += lw * qw;                                                             \
                qw *= Q_LANE;                                                              \
                lw = 0;                                                                    \
            }                                                                              \
            last = j;                                                                      \
        }                                                                                  \
    }

DEFINE_TOKENS(tokens_general_u8, uint8_t)
DEFINE_TOKENS(tokens_u32, uint32_t)

/* The narrow value of the plain token u[s:e] (only word units, 8 bits each): its
   lanes are unaligned 8-byte reads, masked to the token (avail: readable units). */
static inline uint64_t plain_value(const uint8_t *u, Py_ssize_t avail, Py_ssize_t s,
                                   Py_ssize_t e)
{
    uint64_t v = 0, q = 1;
    for (Py_ssize_t p = s; p < e; p += 8) {
        uint64_t lane = 0;
        Py_ssize_t rem = e - p;
        if (avail - p >= 8)
            memcpy(&lane, u + p, 8);
        else
            memcpy(&lane, u + p, (size_t)(avail - p));
        if (rem < 8)
            lane &= ((uint64_t)1 << (8 * rem)) - 1;
        v += lane * q;
        q *= Q_LANE;
    }
    return v + (uint64_t)(e - s) * LEN_NARROW;
}

/* Latin-1 units: tokens made only of word units and ended by a separator (nearly
   all) are cut out a word at a time; a token touching a joiner, ignorable or
   complex unit goes through tokens_general_u8 from its start to its end. */
static void tokens_u8(const uint8_t *u, Py_ssize_t n, Py_ssize_t avail, uint64_t seed,
                      tokvec *out)
{
    Py_ssize_t j = 0;
    while (j < n) {
        /* skip separators, 8 at a time */
        while (n - j >= 8) {
            uint64_t w;
            memcpy(&w, u + j, 8);
            if (w)
                break;
            j += 8;
        }
        while (j < n && u[j] == U_SEP)
            j++;
        if (j >= n)
            break;
        /* j: a non-separator after a separator (or at 0); the first unit < 4 from it */
        Py_ssize_t k = j;
        while (k < n && u[k] > U_COMPLEX)
            k++;
        if (k == n || u[k] == U_SEP) {
            uint64_t v = plain_value(u, avail, j, k);
            vec_push(&out->values, (int64_t)mix64(v ^ seed));
            vec_push(&out->starts, (int64_t)j);
            vec_push(&out->ends, (int64_t)k);
            j = k;
            continue;
        }
        /* The general rules from j (after a separator: no token open) to the next
           separator, which ends whatever token is open (a joiner next to it, on
           either side, does not join). */
        Py_ssize_t e = k;
        while (e < n && u[e] != U_SEP)
            e++;
        tokens_general_u8(u, n, j, e, seed, out);
        j = e;
    }
}

PyDoc_STRVAR(fragment_tokens_doc,
"fragment_tokens(units, n, seed) -> (values, starts, ends, complex)\n\n"
"Tokens of units[:n] (uint8 or uint32 items, see matchers.fragments): keyed,\n"
"mixed 64-bit values (uint64 bytes), start and end unit offsets (int64 bytes)\n"
"and the indices of the tokens holding complex units (int64 bytes), whose\n"
"values the caller computes itself.");

static PyObject *fragment_tokens(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t n;
    unsigned long long seed;
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnK", &obj, &n, &seed))
        return NULL;
    if (get_codes(obj, &view) < 0)
        return NULL;
    Py_ssize_t avail = view.len / view.itemsize;
    if (n < 0 || n > avail)
        n = n < 0 ? 0 : avail;
    tokvec out;
    memset(&out, 0, sizeof(out));
    Py_BEGIN_ALLOW_THREADS
    if (view.itemsize == 1)
        tokens_u8((const uint8_t *)view.buf, n, avail, (uint64_t)seed, &out);
    else
        tokens_u32((const uint32_t *)view.buf, n, 0, n, (uint64_t)seed, &out);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (out.values.failed || out.starts.failed || out.ends.failed || out.complex_.failed) {
        PyErr_NoMemory();
    } else {
        PyObject *a = PyByteArray_FromStringAndSize(
            (const char *)out.values.data, out.values.len * (Py_ssize_t)sizeof(int64_t));
        PyObject *b = vec_bytes(&out.starts);
        PyObject *c = vec_bytes(&out.ends);
        PyObject *d = vec_bytes(&out.complex_);
        if (a && b && c && d)
            result = PyTuple_Pack(4, a, b, c, d);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
        Py_XDECREF(d);
    }
    free(out.values.data);
    free(out.starts.data);
    free(out.ends.data);
    free(out.complex_.data);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* email_scan: the anchors of matchers/detectors/email.py, sorted into sure and unsure */

/* Classes as email.py has them: local-part characters, domain-run characters,
   ASCII letters, and what Python's re takes as \s among code points < 128. */
static uint8_t T_LOCAL[256], T_DOMAIN[256], T_ALPHA[256], T_RE_SPACE[256];

static void init_email_tables(void)
{
    const char *p;
    for (int c = 0; c < 256; c++) {
        T_ALPHA[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        T_LOCAL[c] = T_DOMAIN[c] = T_ALNUM[c];
    }
    for (p = "._%+-'"; *p; p++)
        T_LOCAL[(uint8_t)*p] = 1;
    T_DOMAIN['.'] = T_DOMAIN['-'] = 1;
    for (int c = 9; c <= 13; c++)
        T_RE_SPACE[c] = 1;
    for (int c = 28; c <= 32; c++)
        T_RE_SPACE[c] = 1;
}

/* "at" or "ät" (Finnish for "@") in any case: x | 0x20 is 'a' for 'A' and 'a' only, 0xe4
   for 0xc4 ("Ä") and 0xe4 ("ä") only (code points past 255 read as 255) */
#define AT_WORD(c1, c2) ((((c1) | 0x20) == 'a' || ((c1) | 0x20) == 0xe4) && ((c2) | 0x20) == 't')
#define EM_NONE 0 /* no address at this anchor */
#define EM_SURE 1 /* the plain shape: *start, *end are the address */
#define EM_UNSURE 2 /* anything unusual: the caller asks email._match_anchor */

/* The domain part b[p:e] of the plain shape: labels of 1-63 letters, digits and
   inner hyphens, separated by single dots, at least two, the last of 2-24 letters. */
#define DEFINE_EMAIL(NAME, T)                                                              \
    static int domain_plain_##NAME(const T *b, Py_ssize_t n, Py_ssize_t p, Py_ssize_t e)  \
    {                                                                                      \
        int labels = 0;                                                                    \
        Py_ssize_t s = p;                                                                  \
        while (s < e) {                                                                    \
            Py_ssize_t q = s, alpha = 1;                                                   \
            while (q < e && at_##NAME(b, n, q) != '.') {                                   \
                alpha &= T_ALPHA[at_##NAME(b, n, q)];                                      \
                q++;                                                                       \
            }                                                                              \
            Py_ssize_t len = q - s;                                                        \
            if (len < 1 || len > 63 || at_##NAME(b, n, s) == '-'                           \
                || at_##NAME(b, n, q - 1) == '-')                                          \
                return 0;                                                                  \
            labels++;                                                                      \
            if (q == e) /* the top-level label */                                          \
                return labels >= 2 && alpha && len >= 2 && len <= 24;                      \
            s = q + 1;                                                                     \
        }                                                                                  \
        return 0; /* empty, or a dot at the end */                                         \
    }                                                                                      \
                                                                                           \
    /* The "@" at a (see email._match_anchor, whose result EM_SURE reproduces). */        \
    static int email_at_##NAME(const T *b, Py_ssize_t n, Py_ssize_t a, Py_ssize_t *start,  \
                               Py_ssize_t *end)                                            \
    {                                                                                      \
        unsigned c = at_##NAME(b, n, a - 1);                                               \
        if (c == ' ' || c == '\t')                                                         \
            return EM_NONE; /* "x @ y" */                                                  \
        if (c == '.' || c == '\'')                                                         \
            return EM_UNSURE; /* stripped from the local part: value not contiguous */   \
        Py_ssize_t k = a;                                                                  \
        while (k > 0 && a - k < 64 && T_LOCAL[at_##NAME(b, n, k - 1)])                     \
            k--;                                                                           \
        if (k == a)                                                                        \
            return EM_NONE;                                                                \
        if (k > 0) {                                                                       \
            c = at_##NAME(b, n, k - 1);                                                    \
            if (T_LOCAL[c])                                                                \
                return EM_NONE; /* longer than 64 */                                       \
            if (c >= 128)                                                                  \
                return EM_UNSURE; /* maybe a letter (str.isalnum) */                       \
        }                                                                                  \
        while (at_##NAME(b, n, k) == '.' || at_##NAME(b, n, k) == '\'')                    \
            k++; /* ends before a: b[a - 1] is neither */                                  \
        for (Py_ssize_t i = k; i + 1 < a; i++)                                             \
            if (at_##NAME(b, n, i) == '.' && at_##NAME(b, n, i + 1) == '.')                \
                return EM_NONE;                                                            \
        Py_ssize_t p = a + 1;                                                              \
        c = at_##NAME(b, n, p);                                                            \
        if (T_RE_SPACE[c] || c >= 128)                                                     \
            return EM_UNSURE;                                                              \
        if (!T_ALNUM[c])                                                                   \
            return EM_NONE;                                                                \
        Py_ssize_t e = p;                                                                  \
        while (T_DOMAIN[at_##NAME(b, n, e)])                                               \
            e++;                                                                           \
        /* What follows the run must end the address for sure: not a word character,  \
           and no "[dot]" / " dot " that could continue it. */                             \
        unsigned t = at_##NAME(b, n, e);                                                   \
        if (t == '_' || t == '[' || t == '(' || t == '{' || t >= 128)                      \
            return EM_UNSURE;                                                              \
        if (T_RE_SPACE[t]) {                                                               \
            Py_ssize_t q = e;                                                              \
            while (T_RE_SPACE[at_##NAME(b, n, q)])                                         \
                q++;                                                                       \
            unsigned d = at_##NAME(b, n, q);                                               \
            if (d == '[' || d == '(' || d == '{' || d == 'd' || d == 'D' || d == 'p'       \
                || d == 'P' || d >= 128)                                                   \
                return EM_UNSURE;                                                          \
        }                                                                                  \
        if (at_##NAME(b, n, e - 1) == '.')                                                 \
            e--; /* one trailing dot ends a sentence */                                    \
        if (!domain_plain_##NAME(b, n, p, e))                                              \
            return EM_UNSURE;                                                              \
        *start = k;                                                                        \
        *end = e;                                                                          \
        return EM_SURE;                                                                    \
    }                                                                                      \
                                                                                           \
    /* Can the domain expression of email._AT_DOMAIN match after a spelled-out anchor   \
       ending before q? A necessary condition only (1: maybe, 0: surely not): a label, \
       then a dot in one of its spellings. Code points >= 128 always answer maybe. */    \
    static int spelled_maybe_##NAME(const T *b, Py_ssize_t n, Py_ssize_t q)               \
    {                                                                                      \
        while (T_RE_SPACE[at_##NAME(b, n, q)])                                             \
            q++;                                                                           \
        unsigned c = at_##NAME(b, n, q);                                                   \
        if (c >= 128)                                                                      \
            return 1;                                                                      \
        if (!T_ALNUM[c])                                                                   \
            return 0;                                                                      \
        while (T_ALNUM[at_##NAME(b, n, q)] || at_##NAME(b, n, q) == '-')                   \
            q++;                                                                           \
        c = at_##NAME(b, n, q);                                                            \
        if (c >= 128 || c == '[' || c == '(' || c == '{')                                  \
            return 1;                                                                      \
        if (c == '.') {                                                                    \
            c = at_##NAME(b, n, q + 1);                                                    \
            return c >= 128 || T_ALNUM[c];                                                 \
        }                                                                                  \
        if (!T_RE_SPACE[c])                                                                \
            return 0;                                                                      \
        while (T_RE_SPACE[at_##NAME(b, n, q)])                                             \
            q++;                                                                           \
        c = at_##NAME(b, n, q);                                                            \
        return c >= 128 || c == '[' || c == '(' || c == '{' || c == 'd' || c == 'D'        \
               || c == 'p' || c == 'P'; /* "dot", "piste" */                               \
    }                                                                                      \
                                                                                           \
    /* The position i: an anchor? Then sort it into sure / unsure. */                     \
    static void email_at_pos_##NAME(const T *b, Py_ssize_t n, Py_ssize_t i, i64vec *sure,  \
                                    i64vec *unsure)                                        \
    {                                                                                      \
        unsigned c = at_##NAME(b, n, i);                                                   \
        if (c == '@') {                                                                    \
            Py_ssize_t s = 0, e = 0;                                                       \
            int r = email_at_##NAME(b, n, i, &s, &e);                                      \
            if (r == EM_SURE) {                                                            \
                vec_push(sure, (int64_t)i);                                                \
                vec_push(sure, (int64_t)s);                                                \
                vec_push(sure, (int64_t)e);                                                \
            } else if (r == EM_UNSURE) {                                                   \
                vec_push(unsure, (int64_t)i);                                              \
            }                                                                              \
            return;                                                                        \
        }                                                                                  \
        if (c == '%') { /* "%40", an "@" percent-encoded (a URL, a log of them) */       \
            if (at_##NAME(b, n, i + 1) == '4' && at_##NAME(b, n, i + 2) == '0'             \
                && spelled_maybe_##NAME(b, n, i + 3))                                      \
                vec_push(unsure, (int64_t)i);                                              \
            return;                                                                        \
        }                                                                                  \
        if (c == ' ') { /* " at " or " ät " in any case */                                \
            if (AT_WORD(at_##NAME(b, n, i + 1), at_##NAME(b, n, i + 2))                    \
                && at_##NAME(b, n, i + 3) == ' ' && spelled_maybe_##NAME(b, n, i + 4))     \
                vec_push(unsure, (int64_t)i);                                              \
            return;                                                                        \
        }                                                                                  \
        /* "[", "(" or "{": "at" or "ät" in any case, or "@", up to two spaces either     \
           side, and the matching bracket (email._bracketed) */                            \
        Py_ssize_t q = i + 1;                                                              \
        for (int k = 0; k < 2 && at_##NAME(b, n, q) == ' '; k++)                           \
            q++;                                                                           \
        unsigned d = at_##NAME(b, n, q);                                                   \
        if (d == '@')                                                                      \
            q += 1;                                                                        \
        else if (AT_WORD(d, at_##NAME(b, n, q + 1)))                                      \
            q += 2;                                                                        \
        else                                                                               \
            return;                                                                        \
        for (int k = 0; k < 2 && at_##NAME(b, n, q) == ' '; k++)                           \
            q++;                                                                           \
        if (at_##NAME(b, n, q) == (c == '[' ? (unsigned)']' : c == '(' ? (unsigned)')'     \
                                                                  : (unsigned)'}')         \
            && spelled_maybe_##NAME(b, n, q + 1))                                          \
            vec_push(unsure, (int64_t)i);                                                  \
    }

DEFINE_EMAIL(u8, uint8_t)
DEFINE_EMAIL(u32, uint32_t)

static void email_scan_u8(const uint8_t *b, Py_ssize_t n, i64vec *sure, i64vec *unsure,
                          int simd)
{
    Py_ssize_t i = 0;
#if HAVE_SIMD
    if (simd) {
        /* 16 positions at a time: an "@", a "[", "(" or "{" (defanged "[@]", "[ at ]"), a
           "%" ("%40"), or a " " with "t" or "T" two on */
        const __m128i v_at = _mm_set1_epi8('@'), v_sp = _mm_set1_epi8(' ');
        const __m128i v_pct = _mm_set1_epi8('%');
        const __m128i v_sq = _mm_set1_epi8('['), v_par = _mm_set1_epi8('(');
        const __m128i v_brace = _mm_set1_epi8('{');
        const __m128i v_t = _mm_set1_epi8('t'), v_T = _mm_set1_epi8('T');
        for (; n - i >= 18; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
            __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i + 2));
            __m128i bracket = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, v_sq),
                                                        _mm_cmpeq_epi8(x, v_par)),
                                           _mm_or_si128(_mm_cmpeq_epi8(x, v_brace),
                                                        _mm_cmpeq_epi8(x, v_pct)));
            __m128i tt = _mm_or_si128(_mm_cmpeq_epi8(y, v_t), _mm_cmpeq_epi8(y, v_T));
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, v_at), bracket),
                                       _mm_and_si128(_mm_cmpeq_epi8(x, v_sp), tt));
            unsigned m = (unsigned)_mm_movemask_epi8(hit);
            while (m) {
                email_at_pos_u8(b, n, i + ctz64(m), sure, unsure);
                m &= m - 1;
            }
        }
    }
#else
    (void)simd;
#endif
    for (; i < n; i++) {
        uint8_t c = b[i];
        if (c == '@' || c == ' ' || c == '[' || c == '(' || c == '{' || c == '%')
            email_at_pos_u8(b, n, i, sure, unsure);
    }
}

static void email_scan_u32(const uint32_t *b, Py_ssize_t n, i64vec *sure, i64vec *unsure)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = b[i];
        if (c == '@' || c == ' ' || c == '[' || c == '(' || c == '{' || c == '%')
            email_at_pos_u32(b, n, i, sure, unsure);
    }
}

PyDoc_STRVAR(email_scan_doc,
"email_scan(codes[, simd]) -> (sure, unsure)\n\n"
"E-mail anchors in a code-point buffer (uint8 or uint32 items), see\n"
"matchers/detectors/email.py. `sure` (int64 bytes, triples): the \"@\"s of\n"
"plain addresses, with the address's start and end; `unsure` (int64 bytes):\n"
"the other \"@\"s and the spelled-out, defanged and percent-encoded anchors (\" at \",\n"
"\"[at]\", \"[@]\", \"%40\" ...) that may start an address, for email._match_anchor. Anchors that surely start\n"
"none are left out. Both lists are in text order.");

static PyObject *email_scan(PyObject *self, PyObject *args)
{
    PyObject *obj;
    int simd = 1; /* 0: the portable loop (for tests) */
    Py_buffer view;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|p", &obj, &simd))
        return NULL;
    if (get_codes(obj, &view) < 0)
        return NULL;
    Py_ssize_t n = view.len / view.itemsize;
    i64vec sure = {0}, unsure = {0};
    Py_BEGIN_ALLOW_THREADS
    if (view.itemsize == 1)
        email_scan_u8((const uint8_t *)view.buf, n, &sure, &unsure, simd);
    else
        email_scan_u32((const uint32_t *)view.buf, n, &sure, &unsure);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = NULL;
    if (sure.failed || unsure.failed) {
        PyErr_NoMemory();
    } else {
        PyObject *a = vec_bytes(&sure);
        PyObject *b = vec_bytes(&unsure);
        if (a && b)
            result = PyTuple_Pack(2, a, b);
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    free(sure.data);
    free(unsure.data);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* lower_rows: the e-mail values of email._assemble */

PyDoc_STRVAR(lower_rows_doc,
"lower_rows(cp, starts, width) -> bytes\n\n"
"detectors._common.rows_at(cp, starts, width) with A-Z lower-cased, as rows of\n"
"`width` bytes: row i holds cp[starts[i]:starts[i] + width] (past the end of cp, its\n"
"last byte), each of A-Z plus 32. cp uint8, starts int64 (each in cp).");

static PyObject *lower_rows(PyObject *self, PyObject *args)
{
    Py_buffer vcp, vs;
    Py_ssize_t width;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*n", &vcp, &vs, &width))
        return NULL;
    PyObject *result = NULL;
    const uint8_t *cp = (const uint8_t *)vcp.buf;
    const int64_t *starts = (const int64_t *)vs.buf;
    Py_ssize_t n = vs.len / 8, ncp = vcp.len;
    if (vs.len % 8 || width < 1 || (n > 0 && width > PY_SSIZE_T_MAX / n)) {
        PyErr_SetString(PyExc_ValueError, "lower_rows: bad arguments");
        goto done;
    }
    if (indices_within(starts, n, ncp, "lower_rows: a start outside the text") < 0)
        goto done;
    result = PyBytes_FromStringAndSize(NULL, n * width);
    if (result == NULL)
        goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    uint8_t last = ncp ? cp[ncp - 1] : 0;
    last += (uint8_t)(last - 'A') < 26 ? 32 : 0;
    for (Py_ssize_t i = 0; i < n; i++, out += width) {
        Py_ssize_t have = ncp - starts[i] < width ? ncp - starts[i] : width;
        const uint8_t *src = cp + starts[i];
        for (Py_ssize_t c = 0; c < have; c++)
            out[c] = (uint8_t)(src[c] + ((uint8_t)(src[c] - 'A') < 26 ? 32 : 0));
        if (have < width)
            memset(out + have, last, (size_t)(width - have));
    }
done:
    PyBuffer_Release(&vcp);
    PyBuffer_Release(&vs);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* The other source files of this module (one translation unit: they share the helpers). */

#include "_native_norm.c"
#include "_native_corr.c"
#include "_native_phone.c"
#include "_native_lookup.c"
#include "_native_findings.c"
#include "_native_frag.c"
#include "_native_json.c"
#include "_native_utf8.c"
#include "_native_base64.c"
#include "_native_strings.c"

/* ---------------------------------------------------------------------------------- */

static PyMethodDef methods[] = {
    {"hetu_find", hetu_find, METH_VARARGS, hetu_find_doc},
    {"clean_bytes", clean_bytes, METH_VARARGS, clean_bytes_doc},
    {"fragment_tokens", fragment_tokens, METH_VARARGS, fragment_tokens_doc},
    {"lower_rows", lower_rows, METH_VARARGS, lower_rows_doc},
    {"email_scan", email_scan, METH_VARARGS, email_scan_doc},
    NORM_METHODS
    CORR_METHODS
    PHONE_METHODS
    LOOKUP_METHODS
    FINDINGS_METHODS
    FRAG_METHODS
    JSON_METHODS
    UTF8_METHODS
    BASE64_METHODS
    STRINGS_METHODS
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "matchers._native",
    "Native hot loops of the scan engine (optional; numpy fallbacks exist).", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    init_tables();
    init_email_tables();
    init_b64_class();
    if (init_finding_keys() < 0)
        return NULL;
    return PyModule_Create(&module);
}
