/* base64_runs: where a text may hold base64 blobs (matchers/base64_blobs.py).
 * Included by _native.c. */

/* 1: a character of base64 or base64url (and '=' padding); 2: a line end */
static uint8_t b64_class[256];

static void init_b64_class(void)
{
    for (int c = 'A'; c <= 'Z'; c++)
        b64_class[c] = 1;
    for (int c = 'a'; c <= 'z'; c++)
        b64_class[c] = 1;
    for (int c = '0'; c <= '9'; c++)
        b64_class[c] = 1;
    b64_class['+'] = b64_class['/'] = b64_class['-'] = b64_class['_'] = b64_class['='] = 1;
    b64_class['\r'] = b64_class['\n'] = 2;
}

#if HAVE_SIMD
/* Where a line of L (1..64) characters of the alphabet may begin, from i on: the start
 * of the first 64 bytes holding one, or reaching into them from the bytes before (then
 * where those ones begin). A mask of the alphabet's bytes is made 16 at a time with SSE2
 * (16 compares), and a run of L ones in it is found with shifts: text, whose runs are
 * words, is passed over at several GB/s. n - 64 or more when there is none. */
static Py_ssize_t b64_skip(const uint8_t *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t L)
{
    const __m128i up_lo = _mm_set1_epi8('A' - 1), up_hi = _mm_set1_epi8('Z' + 1);
    const __m128i lo_lo = _mm_set1_epi8('a' - 1), lo_hi = _mm_set1_epi8('z' + 1);
    const __m128i dg_lo = _mm_set1_epi8('0' - 1), dg_hi = _mm_set1_epi8('9' + 1);
    const __m128i plus = _mm_set1_epi8('+'), slash = _mm_set1_epi8('/');
    const __m128i minus = _mm_set1_epi8('-'), under = _mm_set1_epi8('_');
    const __m128i equal = _mm_set1_epi8('=');
    Py_ssize_t carry = 0; /* ones at the end of the bytes before i */
    for (; i + 64 <= n; i += 64) {
        uint64_t m = 0;
        for (int k = 0; k < 4; k++) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(d + i + 16 * k));
            /* (bytes over 0x7F are negative: no signed range below holds them) */
            __m128i c = _mm_and_si128(_mm_cmpgt_epi8(x, up_lo), _mm_cmplt_epi8(x, up_hi));
            c = _mm_or_si128(c, _mm_and_si128(_mm_cmpgt_epi8(x, lo_lo), _mm_cmplt_epi8(x, lo_hi)));
            c = _mm_or_si128(c, _mm_and_si128(_mm_cmpgt_epi8(x, dg_lo), _mm_cmplt_epi8(x, dg_hi)));
            c = _mm_or_si128(c, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, plus),
                                                          _mm_cmpeq_epi8(x, slash)),
                                             _mm_or_si128(_mm_cmpeq_epi8(x, minus),
                                                          _mm_cmpeq_epi8(x, under))));
            c = _mm_or_si128(c, _mm_cmpeq_epi8(x, equal));
            m |= (uint64_t)(unsigned)_mm_movemask_epi8(c) << (16 * k);
        }
        if (m == ~(uint64_t)0) {
            carry += 64;
            if (carry >= L)
                return i + 64 - carry;
            continue;
        }
        Py_ssize_t lead = (Py_ssize_t)ctz64(~m); /* ones at the start of these 64 */
        if (carry + lead >= L)
            return i - carry;
        uint64_t y = m; /* bit b set: bytes b .. b + L - 1 all of the alphabet */
        for (Py_ssize_t s = 1; s < L;) {
            Py_ssize_t t = s < L - s ? s : L - s;
            y &= y >> t;
            s += t;
        }
        if (y)
            return i;
        carry = (Py_ssize_t)__builtin_clzll(~m); /* ones at the end of these 64 */
    }
    return i - carry;
}
#endif

PyDoc_STRVAR(base64_runs_doc,
"base64_runs(data, min_line) -> bytes\n\n"
"The runs of data (int64 start, end pairs) of base64 characters and line ends that hold\n"
"a line of at least min_line such characters; a run's line ends at its edges are left\n"
"out. Ordinary text breaks runs at every space and most punctuation.");

static PyObject *base64_runs(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t min_line;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &min_line))
        return NULL;
    const uint8_t *d = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    i64vec out = {0};
    Py_BEGIN_ALLOW_THREADS
    /* A run is found by a line of min_line characters in it: look at the last byte of
       each window of min_line; text has a space or punctuation every few bytes, so most
       windows are given up after a short look back, and the next starts past it. */
    Py_ssize_t i = 0, L = min_line > 0 ? min_line : 1;
#if HAVE_SIMD
    Py_ssize_t passed = 0; /* the scalar look below goes on to here before a skip again */
#endif
    while (i + L <= n) {
#if HAVE_SIMD
        if (L <= 64 && i >= passed) {
            i = b64_skip(d, n, i, L);
            passed = i + 128;
            if (i + L > n)
                break;
        }
#endif
        Py_ssize_t q = i + L - 1;
        while (q >= i && b64_class[d[q]] == 1)
            q--;
        if (q >= i) {
            i = q + 1;
            continue;
        }
        /* d[i, i + L) is a line of the alphabet: its run reaches back and on through
           line ends, from and to a character of the alphabet */
        Py_ssize_t start = i, end = i + L;
        while (start > 0 && b64_class[d[start - 1]])
            start--;
        while (b64_class[d[start]] != 1)
            start++;
        while (end < n && b64_class[d[end]])
            end++;
        while (b64_class[d[end - 1]] != 1)
            end--;
        vec_push(&out, (int64_t)start);
        vec_push(&out, (int64_t)end);
        i = end;
        while (i < n && b64_class[d[i]])
            i++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (out.failed) {
        free(out.data);
        return PyErr_NoMemory();
    }
    PyObject *result = vec_bytes(&out);
    free(out.data);
    return result;
}

#define BASE64_METHODS {"base64_runs", base64_runs, METH_VARARGS, base64_runs_doc},
