/* UTF-8 validation without decoding (included by _native.c).
 *
 * utf8_valid(data) says whether bytes.decode("utf-8") would succeed, without making the
 * str: the split-file judge (matchers/decode.py's `judge`) needs only the verdict, and
 * the workers decode the ranges they scan themselves. CPython's decoder writes every
 * character out (and a str of 4-byte characters when one emoji is there); this only
 * reads, 16 bytes at a time while they are ASCII.
 *
 * The rules are the strict ones of the Unicode standard (table 3-7), which CPython's
 * decoder follows: no overlong forms (C0, C1, E0 80-9F, F0 80-8F), no surrogates
 * (ED A0-BF), nothing above U+10FFFF (F4 90-BF, F5-FF), no stray or missing
 * continuation bytes. The tests compare it with bytes.decode on generated and random
 * input, both ways below.
 *
 * Two ways, the same verdict. On a CPU with AVX2 (asked at run time: the extension is
 * built for plain x86-64), 32 bytes at a time whatever they hold: the algorithm of
 * Keiser and Lemire ("Validating UTF-8 in less than one instruction per byte", 2021, as in
 * simdjson and simdutf), which looks each byte pair's error classes up in three 16-entry
 * tables and checks the third and fourth bytes of long sequences apart. Finnish prose or a
 * chat log (a non-ASCII letter every 10-20 bytes) went from 0.7-0.9 GB/s byte by byte to
 * several GB/s: it is the parent's serial work when `--jobs` judges a file. Elsewhere, byte
 * by byte, 16 ASCII bytes at a time. */


#ifdef CPU_X86_SIMD
#define UTF8_HAVE_AVX2 1

/* The error classes of a byte pair (prev1, input): each table gives, for a nibble, the
 * classes it may be part of; a pair is wrong when all three agree on one. */
#define U8_TOO_SHORT (1 << 0)      /* a lead byte followed by no continuation */
#define U8_TOO_LONG (1 << 1)       /* ASCII followed by a continuation */
#define U8_OVERLONG_3 (1 << 2)     /* E0 80-9F */
#define U8_TOO_LARGE (1 << 3)      /* F4 90-BF, F5-FF */
#define U8_SURROGATE (1 << 4)      /* ED A0-BF */
#define U8_OVERLONG_2 (1 << 5)     /* C0, C1 */
#define U8_TOO_LARGE_1000 (1 << 6) /* F5-FF 80-8F */
#define U8_OVERLONG_4 (1 << 6)     /* F0 80-8F */
#define U8_TWO_CONTS (1 << 7)      /* two continuations: only right as a 3rd or 4th byte */
#define U8_CARRY (U8_TOO_SHORT | U8_TOO_LONG | U8_TWO_CONTS)

#define U8_TABLE(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p) \
    _mm256_setr_epi8(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, \
                     a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)

/* `input` shifted right by n bytes across lanes, the last n bytes of `prev` coming in. */
#define U8_PREV(input, prev, n) \
    _mm256_alignr_epi8((input), _mm256_permute2x128_si256((prev), (input), 0x21), 16 - (n))

__attribute__((target("avx2"))) static inline __m256i u8_high_nibbles(__m256i v)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

/* The error bits of one 32-byte block, `prev` the block before it. */
__attribute__((target("avx2"))) static inline __m256i u8_block_errors(__m256i input, __m256i prev)
{
    const __m256i byte_1_high_table = U8_TABLE(
        /* 0_______: ASCII */
        U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
        U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
        /* 10______: a continuation */
        U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS, U8_TWO_CONTS,
        /* 1100____, 1101____: a two-byte lead */
        U8_TOO_SHORT | U8_OVERLONG_2, U8_TOO_SHORT,
        /* 1110____: a three-byte lead */
        U8_TOO_SHORT | U8_OVERLONG_3 | U8_SURROGATE,
        /* 1111____: a four-byte lead (or worse) */
        U8_TOO_SHORT | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_OVERLONG_4);
    const __m256i byte_1_low_table = U8_TABLE(
        /* ____0000 */ U8_CARRY | U8_OVERLONG_3 | U8_OVERLONG_2 | U8_OVERLONG_4,
        /* ____0001 */ U8_CARRY | U8_OVERLONG_2,
        /* ____001_ */ U8_CARRY, U8_CARRY,
        /* ____0100 */ U8_CARRY | U8_TOO_LARGE,
        /* ____0101, ____011_, ____1___ */
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        /* ____1101 */ U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_SURROGATE,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000,
        U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000);
    const __m256i byte_2_high_table = U8_TABLE(
        /* ________ 0_______: ASCII */
        U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
        U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT,
        /* ________ 1000____ */
        U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE_1000
            | U8_OVERLONG_4,
        /* ________ 1001____ */
        U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE,
        /* ________ 101_____ */
        U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
        U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
        /* ________ 11______: a lead */
        U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT, U8_TOO_SHORT);
    __m256i prev1 = U8_PREV(input, prev, 1);
    __m256i special = _mm256_and_si256(
        _mm256_and_si256(_mm256_shuffle_epi8(byte_1_high_table, u8_high_nibbles(prev1)),
                         _mm256_shuffle_epi8(byte_1_low_table,
                                             _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
        _mm256_shuffle_epi8(byte_2_high_table, u8_high_nibbles(input)));
    /* a byte two after a three- or four-byte lead, or three after a four-byte one, must
     * be a continuation: those are the two continuations that are right */
    __m256i prev2 = U8_PREV(input, prev, 2), prev3 = U8_PREV(input, prev, 3);
    __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must23_80 = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must23_80, special);
}

/* Whether a block ends inside a sequence: a lead in its last byte, a three- or four-byte
 * lead in the one before, a four-byte lead in the third last. */
__attribute__((target("avx2"))) static inline __m256i u8_incomplete(__m256i input)
{
    const __m256i max = _mm256_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                         -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1),
                                         (char)(0xC0 - 1));
    return _mm256_subs_epu8(input, max);
}

__attribute__((target("avx2"))) static int utf8_valid_avx2(const uint8_t *s, Py_ssize_t n)
{
    __m256i error = _mm256_setzero_si256(), prev = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i input = _mm256_loadu_si256((const __m256i *)(s + i));
        if (!_mm256_movemask_epi8(input)) {  /* ASCII: only a sequence cut before it */
            error = _mm256_or_si256(error, prev_incomplete);
            prev_incomplete = _mm256_setzero_si256();
            prev = input;
            continue;
        }
        error = _mm256_or_si256(error, u8_block_errors(input, prev));
        prev_incomplete = u8_incomplete(input);
        prev = input;
        if ((i & 4095) == 0 && !_mm256_testz_si256(error, error))
            return 0;  /* (looked at now and then: most input is valid) */
    }
    /* the rest, padded with NULs: a sequence cut by the end meets a NUL and is too short */
    uint8_t last[32] = {0};
    memcpy(last, s + i, (size_t)(n - i));
    __m256i input = _mm256_loadu_si256((const __m256i *)last);
    error = _mm256_or_si256(error, u8_block_errors(input, prev));
    return _mm256_testz_si256(error, error);
}
#endif

static int utf8_valid_run(const uint8_t *s, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
#if defined(__SSE2__)
        while (i + 16 <= n) {  /* ASCII, 16 bytes at a time */
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            if (_mm_movemask_epi8(v))
                break;
            i += 16;
        }
#endif
        if (i >= n)
            break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xC2)  /* a continuation byte, or C0/C1 (overlong) */
            return 0;
        if (c < 0xE0) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
            continue;
        }
        if (c < 0xF0) {
            if (i + 2 >= n)
                return 0;
            uint8_t c1 = s[i + 1];
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
            uint8_t hi = c == 0xED ? 0x9F : 0xBF;
            if (c1 < lo || c1 > hi || (s[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
            continue;
        }
        if (c > 0xF4 || i + 3 >= n)
            return 0;
        uint8_t c1 = s[i + 1];
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
        if (c1 < lo || c1 > hi || (s[i + 2] & 0xC0) != 0x80 || (s[i + 3] & 0xC0) != 0x80)
            return 0;
        i += 4;
    }
    return 1;
}

PyDoc_STRVAR(utf8_valid_doc,
"utf8_valid(data, simd=True) -> bool: whether data.decode('utf-8') would succeed\n"
"(strict). simd=False: byte by byte even where the CPU has AVX2 (the tests compare both).");

static PyObject *utf8_valid(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int simd = 1;
    if (!PyArg_ParseTuple(args, "y*|p", &buf, &simd))
        return NULL;
    int ok;
    simd = simd && cpu_has(CPU_AVX2);
    Py_BEGIN_ALLOW_THREADS
#ifdef UTF8_HAVE_AVX2
    if (simd)
        ok = utf8_valid_avx2((const uint8_t *)buf.buf, buf.len);
    else
#endif
        ok = utf8_valid_run((const uint8_t *)buf.buf, buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyBool_FromLong(ok);
}

/* ---------------------------------------------------------------------------------- */
/* Decoding text of Latin-1 letters.
 *
 * Finnish and Swedish text in UTF-8 is ASCII with a two-byte letter (C3 xx: ä, ö, å, é)
 * every 10-20 bytes, and CPython's decoder leaves its ASCII fast path at each of them:
 * a chat log decoded at 1 GB/s, the biggest share of decoding in a HETU scan. Such
 * text, and any text of code points up to U+00FF (leads C2 and C3 only), becomes a
 * one-byte str here: the high bytes are checked 32 at a time (every C2/C3 followed by
 * a continuation byte, every continuation byte after one, no other byte from 0x80), then
 * copied 32 at a time where they are ASCII. Anything else (other letters, broken
 * sequences) is left to bytes.decode, which also raises what it raises. */

typedef struct {
    Py_ssize_t highs;  /* bytes >= 0x80 */
    int ok;            /* only C2/C3 leads, each with its one continuation byte */
} latin1_scan;

/* The verdict byte by byte, from i on (`after_lead`: data[i - 1] was a C2/C3 lead). */
static void latin1_tail(const uint8_t *s, Py_ssize_t i, Py_ssize_t n, int after_lead, latin1_scan *r)
{
    for (; i < n; i++) {
        uint8_t c = s[i];
        if (after_lead) {
            if ((c & 0xC0) != 0x80) {
                r->ok = 0;
                return;
            }
            after_lead = 0;
            r->highs++;
        }
        else if (c >= 0x80) {
            if (c != 0xC2 && c != 0xC3) {
                r->ok = 0;
                return;
            }
            after_lead = 1;
            r->highs++;
        }
    }
    r->ok = !after_lead;
}

#ifdef UTF8_HAVE_AVX2
__attribute__((target("avx2"))) static void latin1_check_avx2(const uint8_t *s, Py_ssize_t n, latin1_scan *r)
{
    Py_ssize_t i = 0;
    uint32_t carry = 0;  /* the last block ended with a lead */
    const __m256i c2 = _mm256_set1_epi8((char)0xC2), c3 = _mm256_set1_epi8((char)0xC3);
    const __m256i top2 = _mm256_set1_epi8((char)0xC0), cont = _mm256_set1_epi8((char)0x80);
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        uint32_t high = (uint32_t)_mm256_movemask_epi8(v);
        if (!high && !carry)
            continue;
        uint32_t lead = (uint32_t)_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, c2), _mm256_cmpeq_epi8(v, c3)));
        uint32_t conts = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(_mm256_and_si256(v, top2), cont));
        /* every high byte a lead or a continuation, each continuation right after a lead */
        if ((lead | conts) != high || conts != ((lead << 1) | carry)) {
            r->ok = 0;
            return;
        }
        r->highs += __builtin_popcount(high);
        carry = lead >> 31;
    }
    latin1_tail(s, i, n, (int)carry, r);
}
#endif

/* data[0:n] (checked) as n - highs / 2 one-byte characters at out. */
static void latin1_write(const uint8_t *s, Py_ssize_t n, Py_UCS1 *out)
{
    Py_ssize_t i = 0;
    while (i < n) {
        if (i + 16 <= n) {
            uint64_t a, b;
            memcpy(&a, s + i, 8);
            memcpy(&b, s + i + 8, 8);
            if (!((a | b) & 0x8080808080808080ULL)) {
                memcpy(out, s + i, 16);
                out += 16;
                i += 16;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            *out++ = c;
            i++;
        }
        else {  /* C2 80-BF: U+0080-U+00BF; C3 80-BF: U+00C0-U+00FF */
            *out++ = (Py_UCS1)(((c & 0x03) << 6) | (s[i + 1] & 0x3F));
            i += 2;
        }
    }
}

#ifdef UTF8_HAVE_AVX2

/* The Latin-1 characters of the 64 bytes at s (v) up to `stop` (a sequence's start; 64:
 * all), which hold ASCII and C2/C3 sequences only: each lead folded with its continuation
 * into one character in the lead's place, the continuation bytes squeezed out (vpcompressb
 * into a register: the store form is slow on some CPUs), packed at the vector's start.
 * *count: how many; *step: the bytes they came from (a last byte that leads starts the
 * next block). */
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static inline __m512i
latin1_block64(const uint8_t *s, __m512i v, Py_ssize_t stop, Py_ssize_t *count, Py_ssize_t *step)
{
    __mmask64 high = _mm512_movepi8_mask(v);
    __mmask64 lead = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)0xC2))
                     | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8((char)0xC3));
    __mmask64 keep = ~(high & ~lead);  /* all but the continuation bytes */
    *step = stop;
    if (stop < 64)  /* (a lead before `stop` has its continuation before it) */
        keep &= (1ULL << stop) - 1;
    else if (lead >> 63) {
        keep &= ~(1ULL << 63);
        *step = 63;
    }
    /* lead C2/C3 + continuation: ((lead & 3) << 6) | (cont & 0x3F) */
    __m512i next = _mm512_loadu_si512((const void *)(s + 1));
    __m512i folded = _mm512_or_si512(
        _mm512_and_si512(_mm512_slli_epi16(v, 6), _mm512_set1_epi8((char)0xC0)),
        _mm512_and_si512(next, _mm512_set1_epi8(0x3F)));
    *count = __builtin_popcountll(keep);
    return _mm512_maskz_compress_epi8(keep, _mm512_mask_blend_epi8(lead, v, folded));
}

/* latin1_write 64 bytes at a time (latin1_block64). Returns how far it went; latin1_write
 * does the rest. */
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static Py_ssize_t
latin1_write_vbmi2(const uint8_t *s, Py_ssize_t n, Py_UCS1 **outp, const Py_UCS1 *out_end)
{
    Py_UCS1 *out = *outp;
    Py_ssize_t i = 0, count, step;
    while (i + 65 <= n && out + 64 <= out_end) {
        __m512i v = _mm512_loadu_si512((const void *)(s + i));
        if (!_mm512_movepi8_mask(v)) {  /* ASCII */
            _mm512_storeu_si512((void *)out, v);
            out += 64;
            i += 64;
            continue;
        }
        _mm512_storeu_si512((void *)out, latin1_block64(s + i, v, 64, &count, &step));
        out += count;
        i += step;
    }
    *outp = out;
    return i;
}
#endif

/* ---------------------------------------------------------------------------------- */
/* Decoding text of Latin-1 letters and a few wider characters.
 *
 * Finnish prose or a paste is Latin-1 text but for a dash, a euro sign or a zero-width
 * space every few kB: a two-byte str. CPython's decoder then writes it character by
 * character (about 0.5 GB/s on prose), where the blocks between the wide characters are
 * what latin1_write_vbmi2 reads 64 bytes at a time. So they are decoded here as there,
 * each byte widened to two, and only the sequences of other leads (C4-DF, E0-EF) one by
 * one. The input is validated first (utf8_valid_*): the writers trust it. A four-byte
 * sequence (an emoji: a four-byte str) is left to bytes.decode. */

/* Valid UTF-8 s[i:end) of one- to three-byte sequences as UCS-2 at *outp; returns where
 * it stopped: end, or past it when a sequence starting before end ends after it. */
static Py_ssize_t bmp_write(const uint8_t *s, Py_ssize_t i, Py_ssize_t end, Py_UCS2 **outp)
{
    Py_UCS2 *out = *outp;
    while (i < end) {
        uint8_t c = s[i];
        if (c < 0x80) {
            *out++ = c;
            i++;
        }
        else if (c < 0xE0) {
            *out++ = (Py_UCS2)(((c & 0x1F) << 6) | (s[i + 1] & 0x3F));
            i += 2;
        }
        else {
            *out++ = (Py_UCS2)(((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F));
            i += 3;
        }
    }
    *outp = out;
    return i;
}

/* What a valid UTF-8 text holds: its continuation bytes, and whether it has a lead of
 * a character above U+00FF (C4-EF) or of a four-byte one (F0-F4). */
typedef struct {
    Py_ssize_t conts;
    int wide, four;
} utf8_census;

static void utf8_count(const uint8_t *s, Py_ssize_t n, utf8_census *r)
{
    Py_ssize_t i = 0;
    r->conts = 0;
    r->wide = r->four = 0;
#if defined(__SSE2__)
    const __m128i top2 = _mm_set1_epi8((char)0xC0), cont = _mm_set1_epi8((char)0x80);
    const __m128i c4 = _mm_set1_epi8((char)0xC4), f0 = _mm_set1_epi8((char)0xF0);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        if (!_mm_movemask_epi8(v))
            continue;
        r->conts += __builtin_popcount(
            (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, top2), cont)));
        /* unsigned v >= k: max(v, k) == v */
        r->wide |= _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, c4), v)) != 0;
        r->four |= _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, f0), v)) != 0;
    }
#endif
    for (; i < n; i++) {
        r->conts += (s[i] & 0xC0) == 0x80;
        r->wide |= s[i] >= 0xC4;
        r->four |= s[i] >= 0xF0;
    }
}

#ifdef UTF8_HAVE_AVX2
/* bmp_write 64 bytes at a time: up to a block's first lead of a wider character as
 * latin1_block64 reads it, each character then widened to two bytes; that sequence goes
 * through bmp_write. Returns how far it went; bmp_write does the rest. */
__attribute__((target("avx512f,avx512bw,avx512vbmi2"))) static Py_ssize_t
bmp_write_vbmi2(const uint8_t *s, Py_ssize_t n, Py_UCS2 **outp, const Py_UCS2 *out_end)
{
    Py_UCS2 *out = *outp;
    Py_ssize_t i = 0, count, step;
    const __m512i c4 = _mm512_set1_epi8((char)0xC4);
    while (i + 65 <= n && out + 64 <= out_end) {
        __m512i v = _mm512_loadu_si512((const void *)(s + i));
        /* leads of wider characters: C4 and up (in valid UTF-8 no F0-F4 is left here) */
        __mmask64 other = _mm512_cmpge_epu8_mask(v, c4);
        Py_ssize_t stop = other ? __builtin_ctzll(other) : 64;
        if (stop == 0) {  /* the block starts with one: that sequence alone */
            i = bmp_write(s, i, i + 1, &out);
            continue;
        }
        __m512i chars = v;  /* ASCII: as it is */
        count = step = stop;
        if (_mm512_movepi8_mask(v))
            chars = latin1_block64(s + i, v, stop, &count, &step);
        _mm512_storeu_si512((void *)out, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(chars)));
        _mm512_storeu_si512((void *)(out + 32), _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(chars, 1)));
        out += count;
        i += step;
    }
    *outp = out;
    return i;
}
#endif

/* data[0:n] as a two-byte str when it is valid UTF-8 holding a character above U+00FF
 * and none above U+FFFF; NULL with no error set otherwise. */
static PyObject *utf8_bmp(const uint8_t *s, Py_ssize_t n, int simd)
{
    int ok;
    utf8_census r;
    Py_BEGIN_ALLOW_THREADS
#ifdef UTF8_HAVE_AVX2
    if (simd)
        ok = utf8_valid_avx2(s, n);
    else
#endif
        ok = utf8_valid_run(s, n);
    if (ok)
        utf8_count(s, n, &r);
    Py_END_ALLOW_THREADS
    if (!ok || !r.wide || r.four)
        return NULL;
    /* valid, no four-byte sequence, a lead from C4: a character above U+00FF (no overlong
     * form), none above U+FFFF: a two-byte str is the canonical one */
    Py_ssize_t chars = n - r.conts;
    PyObject *out = PyUnicode_New(chars, 0xFFFF);
    if (out == NULL)
        return NULL;
    Py_UCS2 *dst = PyUnicode_2BYTE_DATA(out);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t done = 0;
#ifdef UTF8_HAVE_AVX2
    if (simd)
        done = bmp_write_vbmi2(s, n, &dst, PyUnicode_2BYTE_DATA(out) + chars);
#endif
    bmp_write(s, done, n, &dst);
    Py_END_ALLOW_THREADS
    return out;
}

PyDoc_STRVAR(utf8_narrow_doc,
"utf8_narrow(data, simd=True) -> str or None: data.decode('utf-8') when that is a str of\n"
"one or two bytes a character (code points up to U+FFFF) holding a non-ASCII one, else\n"
"None (ASCII, which bytes.decode copies as fast; a character above U+FFFF; not UTF-8).\n"
"None too where the CPU lacks AVX-512 VBMI2; simd=False: byte by byte (for the tests).");

static PyObject *utf8_narrow(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int simd = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*|p", &buf, &simd))
        return NULL;
    const uint8_t *s = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    latin1_scan r = {0, 1};
    if (simd && !cpu_has(CPU_AVX512_VBMI2)) {
        /* byte by byte this is no faster than bytes.decode: leave it that */
        PyBuffer_Release(&buf);
        Py_RETURN_NONE;
    }
    Py_BEGIN_ALLOW_THREADS
#ifdef UTF8_HAVE_AVX2
    if (simd)
        latin1_check_avx2(s, n, &r);
    else
#endif
        latin1_tail(s, 0, n, 0, &r);
    Py_END_ALLOW_THREADS
    PyObject *out = NULL;
    if (!r.ok) {  /* a wider character, or no UTF-8 */
        out = utf8_bmp(s, n, simd);
        PyBuffer_Release(&buf);
        if (out == NULL && !PyErr_Occurred())
            Py_RETURN_NONE;
        return out;
    }
    if (!r.highs) {  /* ASCII */
        PyBuffer_Release(&buf);
        Py_RETURN_NONE;
    }
    Py_ssize_t chars = n - r.highs / 2;
    out = PyUnicode_New(chars, 255);
    if (out != NULL) {
        Py_UCS1 *dst = PyUnicode_1BYTE_DATA(out);
        Py_ssize_t done = 0;
        Py_BEGIN_ALLOW_THREADS
#ifdef UTF8_HAVE_AVX2
        if (simd)
            done = latin1_write_vbmi2(s, n, &dst, PyUnicode_1BYTE_DATA(out) + chars);
#endif
        latin1_write(s + done, n - done, dst);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&buf);
    return out;
}

#define UTF8_METHODS {"utf8_valid", utf8_valid, METH_VARARGS, utf8_valid_doc}, \
    {"utf8_narrow", utf8_narrow, METH_VARARGS, utf8_narrow_doc},
