/* Phone number readings (matchers/detectors/phone.py `candidates`) in C. Part of the
 * unity build of matchers/_native.c, which includes this file.
 *
 * phone_candidates(cp, cc, national, intl, glued, sep, after_bad, max_groups, max_digits,
 *                  e164_min, e164_max, pad_before[, simd])
 *     The E.164 reading of every digit chain that may start a phone number, for every
 *     cut at a group boundary, exactly as the numpy `candidates` computes them: `cp`
 *     the padded code points (uint8), the region's country code, national and
 *     international prefixes (ASCII digits), and phone.py's tables (glued: 256 x 256,
 *     sep and after_bad: 256). The digit runs are found here, only those that may
 *     start a number and the few after each: a dump's other runs (dates, times, ids)
 *     are never listed.
 *     Returns (starts, ends, values, lengths, groups, ngroups) as bytes: int64 arrays
 *     (groups: the padded start of the chain's first run), and values rows of
 *     e164_max + 1 bytes (zero past each value's length).
 *
 * phone_keep(groups, ngroups, starts, ends, hit)
 *     phone.py `select` as a mask over `hit` (the enrolled readings' indices, repeats
 *     allowed): 1 where hit[i] is a reading to report.
 *
 * phone_fields(cp, firsts, lengths, prefixes, cc, glued, sep, after_bad, packed
 *              [, simd])
 *     phone.py `without_trunk`'s and `glued_to_letters`' runs: the padded start and end
 *     (int64 arrays as bytes) of every digit run with a number's length (lengths: a 0/1
 *     byte per digit count, 16) and first two digits (prefixes: 100 bytes), `firsts` the
 *     10-bit mask of the first digits those prefixes have, that is a whole field (a
 *     mobile number without its 0), or with `packed` one glued to a letter: right
 *     after one, or at a token's start with one right after it (a packed row's phone
 *     column between its name column and its e-mail column).
 */

#define PHONE_MAX_GROUPS 16
#define PHONE_MAX_DIGITS 64

static const char phone_candidates_doc[] =
    "phone_candidates(cp, cc, national, intl, glued, sep, after_bad, max_groups, max_digits, "
    "e164_min, e164_max, pad_before[, simd])\n"
    "Phone readings of digit chains (see matchers/_native_phone.c).";

static inline int phone_digit(uint8_t c)
{
    return (uint8_t)(c - '0') <= 9;
}

/* Is `cp` padded with two non-digits at each end, as every read of a run's
 * neighbours assumes (they stay inside cp)? Else a ValueError naming `who`. */
static int phone_padded(const uint8_t *cp, Py_ssize_t n, const char *who)
{
    if (n >= 4 && !phone_digit(cp[0]) && !phone_digit(cp[1]) && !phone_digit(cp[n - 2])
        && !phone_digit(cp[n - 1]))
        return 1;
    PyErr_Format(PyExc_ValueError, "%s: digits in the padding", who);
    return 0;
}

/* The end of the digit run that starts at p (cp ends in non-digits: it stops there). */
static inline int64_t phone_run_end(const uint8_t *cp, int64_t p)
{
    while (phone_digit(cp[p]))
        p++;
    return p;
}

/* The start of every digit run that may start a number (a "+" or "(" before it, or
 * its first digit the national prefix's or the country code's first; any run when there
 * is none), in order,
 * found 16 bytes at a time with SSE2, or 64 with AVX-512 BW (which alone made
 * phone_candidates 1.2x faster on the 40 MB leak corpus): a dump holds a run every
 * dozen bytes, and most cannot start one. `from`: the first position not yet looked
 * at. */
static void phone_starts_tail(const uint8_t *cp, Py_ssize_t n, Py_ssize_t from,
                              uint8_t national0, const uint8_t cc2[2], int cc_any,
                              int any_run, i64vec *out)
{
    Py_ssize_t i = from;
#if defined(__SSE2__)
    const __m128i zero = _mm_set1_epi8('0' - 128), span = _mm_set1_epi8(-128 + 9);
    const __m128i cc_0 = _mm_set1_epi8((char)cc2[0]), cc_1 = _mm_set1_epi8((char)cc2[1]);
    const __m128i any1 = _mm_set1_epi8(cc_any ? -1 : 0);
    for (; i + 17 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(cp + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(cp + i - 1));
        __m128i a = _mm_loadu_si128((const __m128i *)(cp + i + 1)); /* (padded: in cp) */
        /* v - '0' <= 9 unsigned, as a signed compare of both sides shifted by 128 */
        unsigned dv = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_sub_epi8(v, zero), span));
        unsigned db = (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_sub_epi8(b, zero), span));
        unsigned starts = ~dv & db & 0xFFFFu; /* a digit after a non-digit */
        if (!starts)
            continue;
        if (!any_run) {
            unsigned lead = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8((char)national0)),
                             _mm_and_si128(_mm_cmpeq_epi8(v, cc_0),
                                           _mm_or_si128(_mm_cmpeq_epi8(a, cc_1), any1))));
            unsigned opens = (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(b, _mm_set1_epi8('+')), _mm_cmpeq_epi8(b, _mm_set1_epi8('('))));
            starts &= lead | opens;
        }
        for (; starts; starts &= starts - 1)
            vec_push(out, (int64_t)(i + __builtin_ctz(starts)));
    }
#endif
    for (; i < n; i++) {
        if (phone_digit(cp[i]) && !phone_digit(cp[i - 1])
            && (any_run || cp[i] == national0
                || (cp[i] == cc2[0] && (cc_any || cp[i + 1] == cc2[1]))
                || cp[i - 1] == '+' || cp[i - 1] == '('))
            vec_push(out, (int64_t)i);
    }
}

/* Appends base + k for every bit k set in `bits`, in order; -1 when out of memory. */
static inline int push_bits(i64vec *out, uint64_t bits, Py_ssize_t base)
{
    if (vec_room(out, __builtin_popcountll(bits)) < 0)
        return -1;
    int64_t *o = out->data + out->len;
    for (; bits; bits &= bits - 1)
        *o++ = (int64_t)(base + __builtin_ctzll(bits));
    out->len = o - out->data;
    return 0;
}

#ifdef CPU_X86_SIMD
/* phone_starts_tail's first part, 64 bytes a step; returns where it stopped. */
__attribute__((target("avx512f,avx512bw"))) static Py_ssize_t
phone_starts_avx512(const uint8_t *cp, Py_ssize_t n, uint8_t national0, const uint8_t cc2[2],
                    int cc_any, int any_run, i64vec *out)
{
    const __m512i zero = _mm512_set1_epi8('0'), nine = _mm512_set1_epi8(9);
    const __m512i lead0 = _mm512_set1_epi8((char)national0);
    const __m512i cc_0 = _mm512_set1_epi8((char)cc2[0]), cc_1 = _mm512_set1_epi8((char)cc2[1]);
    const __m512i plus = _mm512_set1_epi8('+'), open = _mm512_set1_epi8('(');
    Py_ssize_t i = 1;
    for (; i + 65 <= n; i += 64) {
        __m512i v = _mm512_loadu_si512((const void *)(cp + i));
        __m512i a = _mm512_loadu_si512((const void *)(cp + i + 1));
        __m512i b = _mm512_loadu_si512((const void *)(cp + i - 1));
        uint64_t starts = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, zero), nine)
                          & ~_mm512_cmple_epu8_mask(_mm512_sub_epi8(b, zero), nine);
        if (!any_run)
            starts &= _mm512_cmpeq_epi8_mask(v, lead0)
                      | (_mm512_cmpeq_epi8_mask(v, cc_0)
                         & (cc_any ? ~(uint64_t)0 : _mm512_cmpeq_epi8_mask(a, cc_1)))
                      | _mm512_cmpeq_epi8_mask(b, plus) | _mm512_cmpeq_epi8_mask(b, open);
        if (!starts)
            continue;
        if (push_bits(out, starts, i) < 0)
            return n;
    }
    return i;
}
#endif

/* `wide`: the widest step the CPU has (else SSE2's, as tests ask for) */
static void phone_starts(const uint8_t *cp, Py_ssize_t n, uint8_t national0,
                         const uint8_t cc2[2], int cc_any, int any_run, int wide, i64vec *out)
{
    Py_ssize_t from = 1;
#ifdef CPU_X86_SIMD
    if (wide && cpu_has(CPU_AVX512_BW))
        from = phone_starts_avx512(cp, n, national0, cc2, cc_any, any_run, out);
#endif
    (void)wide;
    phone_starts_tail(cp, n, from, national0, cc2, cc_any, any_run, out);
}

static PyObject *phone_candidates(PyObject *self, PyObject *args)
{
    Py_buffer vcp, vcc, vnat, vintl, vglued, vsep, vbad;
    int max_groups, max_digits, e164_min, e164_max, pad_before, simd = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*iiiii|p", &vcp, &vcc, &vnat, &vintl, &vglued,
                          &vsep, &vbad, &max_groups, &max_digits, &e164_min, &e164_max,
                          &pad_before, &simd))
        return NULL;
    PyObject *result = NULL;
    i64vec o_start = {0}, o_end = {0}, o_len = {0}, o_group = {0}, o_ngroups = {0}, heads = {0};
    u8vec o_values = {0};
    const uint8_t *cp = (const uint8_t *)vcp.buf, *cc = (const uint8_t *)vcc.buf;
    const uint8_t *national = (const uint8_t *)vnat.buf, *intl = (const uint8_t *)vintl.buf;
    const uint8_t *glued = (const uint8_t *)vglued.buf, *sep = (const uint8_t *)vsep.buf;
    const uint8_t *after_bad = (const uint8_t *)vbad.buf;
    Py_ssize_t ncp = vcp.len, ncc = vcc.len, nnat = vnat.len, nintl = vintl.len;
    int width = e164_max + 1;
    if (vglued.len != 65536 || vsep.len != 256 || vbad.len != 256
        || max_groups < 1 || max_groups >= PHONE_MAX_GROUPS || max_digits < 1
        || max_digits > PHONE_MAX_DIGITS || width < 2 || width > 64 || nintl > max_digits) {
        PyErr_SetString(PyExc_ValueError, "phone_candidates: bad arguments");
        goto done;
    }
    if (!phone_padded(cp, ncp, "phone_candidates"))
        goto done;
    if (ncc == 0)
        goto finish;
    /* a run that starts with the country code's first two digits (a one-digit code: its
       digit, then any) may be one read without its "+" */
    const uint8_t cc2[2] = {cc[0], ncc > 1 ? cc[1] : 0};
    const int cc_any = ncc == 1;
    Py_BEGIN_ALLOW_THREADS
    phone_starts(cp, ncp, nnat ? national[0] : 0, cc2, cc_any, nnat == 0, simd, &heads);
    Py_END_ALLOW_THREADS
    const int g = max_groups + 1, k = max_groups;
    for (Py_ssize_t h = 0; h < heads.len; h++) {
        int64_t head = heads.data[h];
        uint8_t before = cp[head - 1];
        int plus = before == '+', paren = before == '(';
        int usual = plus || paren || nnat == 0 || cp[head] == national[0];
        /* a run that starts with the country code is also read with its "+" left out
           ("358401234567"), after the usual reading */
        int bare = !plus;
        for (Py_ssize_t j = 0; bare && j < ncc; j++)
            bare = cp[head + j] == cc[j];
        if (!usual && !bare)
            continue;
        int64_t at = head - plus; /* "(" is a delimiter itself */
        if (at < 2 || glued[cp[at - 1] * 256 + cp[at - 2]])
            continue;
        /* The groups: this run and the runs after it, found one at a time while the
         * chain goes on (most chains end at the first link: a date, a time, a code).
         * Groups past `last` are not reached: they add no digits and no reading. */
        int64_t st[PHONE_MAX_GROUPS], en[PHONE_MAX_GROUPS], ln[PHONE_MAX_GROUPS];
        int g_open[PHONE_MAX_GROUPS], trunk[PHONE_MAX_GROUPS], link[PHONE_MAX_GROUPS];
        int closes[PHONE_MAX_GROUPS];
        uint8_t g0[PHONE_MAX_GROUPS], g1[PHONE_MAX_GROUPS];
#define PHONE_GROUP(i, start)                                                            \
    do {                                                                                 \
        st[i] = (start);                                                                 \
        en[i] = phone_run_end(cp, st[i]);                                                \
        ln[i] = en[i] - st[i];                                                           \
        g_open[i] = cp[st[i] - 1] == '(';                                                \
        g0[i] = cp[en[i]];                                                               \
        g1[i] = cp[en[i] + 1];                                                           \
        trunk[i] = ln[i] == 1 && cp[st[i]] == '0' && g_open[i] && g0[i] == ')';          \
    } while (0)
        PHONE_GROUP(0, head);
        int last = 0;
        for (int i = 0; i + 1 < g; i++) {
            closes[i] = g_open[i] && g0[i] == ')';
            link[i] = 0;
            /* a link needs the next run one or two characters on (cp[en] is no digit) */
            int64_t gap = phone_digit(cp[en[i] + 1]) ? 1
                          : en[i] + 2 < ncp && phone_digit(cp[en[i] + 2]) ? 2 : 0;
            if (gap == 0)
                break;
            PHONE_GROUP(i + 1, en[i] + gap);
            uint8_t a0 = g0[i], a1 = g1[i];
            link[i] = (gap == 1 && (sep[a0] || closes[i])) || (gap == 2 && closes[i] && sep[a1])
                      || (trunk[i + 1] && (gap == 1 || (gap == 2 && a0 == ' ')));
            if (!link[i])
                break;
            last = i + 1;
        }
#undef PHONE_GROUP
        int64_t ndig[PHONE_MAX_GROUPS], capped[PHONE_MAX_GROUPS], sum = 0;
        int valid[PHONE_MAX_GROUPS], any = 0;
        for (int i = 0; i < k; i++) {
            int reach = i <= last;
            sum += reach && !trunk[i] ? ln[i] : 0;
            ndig[i] = sum;
            capped[i] = sum < max_digits ? sum : max_digits;
            valid[i] = reach && !trunk[i] && sum >= 6 && sum <= max_digits
                       && (link[i] || !after_bad[g0[i]]);
            any |= valid[i];
        }
        if (!any)
            continue;
        /* the first max_digits digits of the chain, trunks left out */
        uint8_t digits[PHONE_MAX_DIGITS] = {0};
        for (int i = 0; i < k; i++) {
            int64_t prev = i ? capped[i - 1] : 0, n = capped[i] - prev;
            for (int64_t w = 0; w < n; w++)
                digits[prev + w] = cp[st[i] + w];
        }
        int starts_intl = 1; /* (a loop: memcmp's call cost more than its 2-3 bytes) */
        for (Py_ssize_t j = 0; starts_intl && j < nintl; j++)
            starts_intl = digits[j] == intl[j];
        int has_intl = !plus && starts_intl;
        int nat = !plus && !has_intl;
        int opened = paren && closes[0];
        /* room for the readings of a cut, written in place (a value row is zeroed 64
         * bytes at a time: room for 64 past the last row) */
        if (vec_room(&o_start, 2 * k) < 0 || vec_room(&o_end, 2 * k) < 0
            || vec_room(&o_len, 2 * k) < 0 || vec_room(&o_group, 2 * k) < 0
            || vec_room(&o_ngroups, 2 * k) < 0
            || u8_room(&o_values, (Py_ssize_t)2 * k * width + 64) == NULL)
            break;
/* The chain's reading at every cut: `skip` digits dropped (a national or call prefix),
   then "+" and `head_len - 1` digits of the country code before the rest. */
#define PHONE_READINGS(skip, head_len)                                                   \
    for (int i = 0; i < k; i++) {                                                        \
        if (!valid[i])                                                                   \
            continue;                                                                    \
        int64_t body = ndig[i] - (skip), total = (head_len) + body;                      \
        if (total - 1 < e164_min || total - 1 > e164_max || body <= 0)                   \
            continue;                                                                    \
        uint8_t *value = o_values.data + o_values.len;                                   \
        memset(value, 0, 64);                                                            \
        value[0] = '+';                                                                  \
        for (int64_t c = 1; c < (head_len); c++)                                         \
            value[c] = cc[c - 1];                                                        \
        for (int64_t c = (head_len); c < total; c++)                                     \
            value[c] = digits[(skip) + c - (head_len)];                                  \
        o_values.len += width;                                                           \
        o_start.data[o_start.len++] = head - (plus || (opened && i > 0)) - pad_before;   \
        o_end.data[o_end.len++] = en[i] - pad_before;                                    \
        o_len.data[o_len.len++] = total;                                                 \
        o_group.data[o_group.len++] = head;                                              \
        o_ngroups.data[o_ngroups.len++] = (int64_t)(i + 1);                              \
    }
        if (usual) {
            int64_t skip = has_intl ? nintl : nat ? nnat : 0;
            int64_t head_len = nat ? 1 + ncc : 1;
            PHONE_READINGS(skip, head_len)
        }
        if (bare && !starts_intl) /* read as if after a "+" */
            PHONE_READINGS(0, 1)
#undef PHONE_READINGS
    }
finish:
    if (o_start.failed || o_end.failed || o_len.failed || o_group.failed || o_ngroups.failed
        || o_values.failed || heads.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NNy#NNN)", vec_bytes(&o_start), vec_bytes(&o_end),
                           o_values.data ? (const char *)o_values.data : "", o_values.len,
                           vec_bytes(&o_len), vec_bytes(&o_group), vec_bytes(&o_ngroups));
done:
    free(o_start.data);
    free(o_end.data);
    free(o_len.data);
    free(o_group.data);
    free(o_ngroups.data);
    free(o_values.data);
    free(heads.data);
    PyBuffer_Release(&vcp);
    PyBuffer_Release(&vcc);
    PyBuffer_Release(&vnat);
    PyBuffer_Release(&vintl);
    PyBuffer_Release(&vglued);
    PyBuffer_Release(&vsep);
    PyBuffer_Release(&vbad);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* phone_keep: which enrolled readings are reported */

typedef struct {
    int64_t a, b, c; /* sort keys, compared in that order */
} key3;

static int key3_cmp(const void *x, const void *y)
{
    const key3 *p = (const key3 *)x, *q = (const key3 *)y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    return (p->c > q->c) - (p->c < q->c);
}

static int i64_cmp(const void *x, const void *y)
{
    int64_t p = *(const int64_t *)x, q = *(const int64_t *)y;
    return (p > q) - (p < q);
}

static const char phone_keep_doc[] =
    "phone_keep(groups, ngroups, starts, ends, hit) -> bytes\n"
    "phone.select as a 0/1 mask over hit (see matchers/_native_phone.c).";

/* What select does, in its order: the distinct hits; per chain start (group) the one
 * with the most groups (the lowest index among equals); those by start (ties: as they
 * came); then none that starts inside the one kept before it. Candidates come ordered
 * by (group, ngroups), so each step is usually a check that nothing needs sorting. */
static PyObject *phone_keep(PyObject *self, PyObject *args)
{
    Py_buffer vg, vng, vs, ve, vh;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &vg, &vng, &vs, &ve, &vh))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t nc = vg.len / 8, nh = vh.len / 8, nu = 0, nk = 0;
    const int64_t *groups = (const int64_t *)vg.buf, *ngroups = (const int64_t *)vng.buf;
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const int64_t *hit = (const int64_t *)vh.buf;
    int64_t *u = NULL;
    key3 *keys = NULL;
    uint8_t *chosen = NULL;
    if (vng.len != vg.len || vs.len != vg.len || ve.len != vg.len || vg.len % 8
        || vh.len % 8) {
        PyErr_SetString(PyExc_ValueError, "phone_keep: bad arguments");
        goto done;
    }
    if (indices_within(hit, nh, nc, "phone_keep: a hit outside the candidates") < 0)
        goto done;
    u = (int64_t *)malloc((size_t)(nh ? nh : 1) * sizeof(int64_t));
    keys = (key3 *)malloc((size_t)(nh ? nh : 1) * sizeof(key3));
    chosen = (uint8_t *)calloc((size_t)(nc ? nc : 1), 1);
    result = PyBytes_FromStringAndSize(NULL, nh);
    if (u == NULL || keys == NULL || chosen == NULL || result == NULL) {
        Py_XDECREF(result);
        result = NULL;
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    /* the distinct hits, ascending */
    int sorted = 1;
    for (Py_ssize_t i = 0; i < nh; i++) {
        u[i] = hit[i];
        sorted &= i == 0 || hit[i] > hit[i - 1];
    }
    nu = nh;
    if (!sorted) {
        qsort(u, (size_t)nh, sizeof(int64_t), i64_cmp);
        nu = nh ? 1 : 0;
        for (Py_ssize_t i = 1; i < nh; i++)
            if (u[i] != u[nu - 1])
                u[nu++] = u[i];
    }
    /* by (group, most groups first, index); the first of each group */
    int ordered = 1; /* (group, ngroups) ascending: the last of each group is its best */
    for (Py_ssize_t i = 1; i < nu && ordered; i++) {
        int64_t g0 = groups[u[i - 1]], g1 = groups[u[i]];
        ordered = g1 > g0 || (g1 == g0 && ngroups[u[i]] > ngroups[u[i - 1]]);
    }
    if (ordered) {
        for (Py_ssize_t i = 0; i < nu; i++) {
            if (i + 1 == nu || groups[u[i + 1]] != groups[u[i]]) {
                keys[nk] = (key3){starts[u[i]], nk, u[i]};
                nk++;
            }
        }
    } else {
        for (Py_ssize_t i = 0; i < nu; i++)
            keys[i] = (key3){groups[u[i]], -ngroups[u[i]], u[i]};
        qsort(keys, (size_t)nu, sizeof(key3), key3_cmp);
        int64_t group = 0;
        for (Py_ssize_t i = 0; i < nu; i++) { /* keys[nk] is written over: nk <= i */
            if (i == 0 || keys[i].a != group) {
                int64_t c = keys[i].c;
                group = keys[i].a;
                keys[nk] = (key3){starts[c], nk, c};
                nk++;
            }
        }
    }
    /* by start, stable (b: the order they came in) */
    for (Py_ssize_t i = 1; i < nk; i++) {
        if (keys[i].a < keys[i - 1].a) {
            qsort(keys, (size_t)nk, sizeof(key3), key3_cmp);
            break;
        }
    }
    int64_t last_end = INT64_MIN;
    for (Py_ssize_t i = 0; i < nk; i++) {
        int64_t c = keys[i].c;
        if (starts[c] >= last_end) {
            chosen[c] = 1;
            last_end = ends[c];
        }
    }
    uint8_t *mask = (uint8_t *)PyBytes_AS_STRING(result);
    for (Py_ssize_t i = 0; i < nh; i++)
        mask[i] = chosen[hit[i]];
done:
    free(u);
    free(keys);
    free(chosen);
    PyBuffer_Release(&vg);
    PyBuffer_Release(&vng);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vh);
    return result;
}

/* ---------------------------------------------------------------------------------- */
/* phone_fields: mobile numbers kept as numbers (phone.py `without_trunk`) */

static const char phone_fields_doc[] =
    "phone_fields(cp, firsts, lengths, prefixes, cc, glued, sep, after_bad, packed"
    "[, simd])\n"
    "Digit runs shaped like a phone number: whole fields, or after a letter "
    "(see matchers/_native_phone.c).";

/* A letter of the padded code points (Latin-1; any code point over 255 reads 255, and
 * most of those are letters). */
static inline int phone_letter(uint8_t c)
{
    return (uint8_t)((c | 0x20) - 'a') <= 25 || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
}

/* Is the run that starts at i (a digit after a non-digit, its first digit one of
 * `firsts`) of the shape asked for, a whole field or (`packed`) one glued to a
 * letter? Its end in *end. */
static inline int phone_field_at(const uint8_t *cp, int64_t i, const uint8_t *lengths,
                                 const uint8_t *prefixes, const uint8_t *cc, Py_ssize_t ncc,
                                 const uint8_t *glued, const uint8_t *sep,
                                 const uint8_t *after_bad, int packed, int64_t *end)
{
    int64_t e = phone_run_end(cp, i), n = e - i;
    if (n > 15 || !lengths[n] || !prefixes[(cp[i] - '0') * 10 + (cp[i + 1] - '0')])
        return 0;
    uint8_t b1 = cp[i - 1], b2 = cp[i - 2], a0 = cp[e], a1 = cp[e + 1];
    if (sep[a0] && phone_digit(a1))
        return 0; /* a chain's first group */
    if (a0 == '.' && phone_digit(a1) && (a1 != '0' || phone_digit(cp[e + 2])))
        return 0; /* a decimal; but "401234567.0" is an integer written as a float */
    *end = e;
    if (packed && phone_letter(b1))
        return 1;
    if (glued[b1 * 256 + b2] || b1 == '+' || b1 == '(' || b1 == ')'
        || (sep[b1] && phone_digit(b2)))
        return 0; /* glued to a token, or the next group of a chain ("+358 40...") */
    if (packed) /* or at a token's start, with a letter right after it */
        return phone_letter(a0);
    if (after_bad[a0])
        return 0;
    int with_cc = n >= ncc && ncc > 0;
    for (Py_ssize_t j = 0; with_cc && j < ncc; j++)
        with_cc = cp[i + j] == cc[j];
    return !with_cc; /* a run with the country code is read without its "+" instead */
}

#ifdef CPU_X86_SIMD
/* The run starts whose first digit is one of `firsts`, 64 bytes a step; returns where
 * it stopped (the scalar loop of phone_fields goes on from there). */
__attribute__((target("avx512f,avx512bw"))) static Py_ssize_t
phone_fields_avx512(const uint8_t *cp, Py_ssize_t n, unsigned firsts, int shortest,
                    i64vec *heads)
{
    const __m512i zero = _mm512_set1_epi8('0'), nine = _mm512_set1_epi8(9);
    /* byte k of each 16-byte lane: 0xFF when digit k may start a field */
    uint8_t lane[16] = {0};
    for (int k = 0; k < 10; k++)
        lane[k] = (firsts >> k) & 1 ? 0xFF : 0;
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)lane));
    Py_ssize_t i = 2;
    for (; i + 128 <= n; i += 64) {
        __m512i v = _mm512_sub_epi8(_mm512_loadu_si512((const void *)(cp + i)), zero);
        __m512i b = _mm512_sub_epi8(_mm512_loadu_si512((const void *)(cp + i - 1)), zero);
        uint64_t dv = _mm512_cmple_epu8_mask(v, nine);
        uint64_t starts = dv & ~_mm512_cmple_epu8_mask(b, nine);
        if (!starts)
            continue;
        __m512i allowed = _mm512_shuffle_epi8(table, v); /* by each byte's low nibble */
        starts &= _mm512_test_epi8_mask(allowed, allowed);
        if (!starts)
            continue;
        /* and at least `shortest` digits long (most runs of a dump are shorter): the
         * digits k on, from this block's digit mask and the next one's */
        uint64_t dn = _mm512_cmple_epu8_mask(
            _mm512_sub_epi8(_mm512_loadu_si512((const void *)(cp + i + 64)), zero), nine);
        for (int k = 1; k < shortest; k++)
            starts &= (dv >> k) | (dn << (64 - k));
        if (!starts)
            continue;
        if (push_bits(heads, starts, i) < 0)
            return n;
    }
    return i;
}
#endif

static PyObject *phone_fields(PyObject *self, PyObject *args)
{
    Py_buffer vcp, vlen, vpre, vcc, vglued, vsep, vbad;
    unsigned firsts;
    int packed, simd = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*Iy*y*y*y*y*y*p|p", &vcp, &firsts, &vlen, &vpre, &vcc,
                          &vglued, &vsep, &vbad, &packed, &simd))
        return NULL;
    PyObject *result = NULL;
    i64vec heads = {0}, o_start = {0}, o_end = {0};
    const uint8_t *cp = (const uint8_t *)vcp.buf;
    Py_ssize_t n = vcp.len;
    if (vlen.len != 16 || vpre.len != 100 || vglued.len != 65536 || vsep.len != 256
        || vbad.len != 256 || ((const uint8_t *)vlen.buf)[0] || ((const uint8_t *)vlen.buf)[1]) {
        PyErr_SetString(PyExc_ValueError, "phone_fields: bad arguments");
        goto done;
    }
    if (!phone_padded(cp, n, "phone_fields"))
        goto done;
    const uint8_t *lengths = (const uint8_t *)vlen.buf;
    int shortest = 2;
    while (shortest < 15 && !lengths[shortest])
        shortest++;
    Py_ssize_t from = 2;
#ifdef CPU_X86_SIMD
    if (simd && cpu_has(CPU_AVX512_BW))
        from = phone_fields_avx512(cp, n, firsts, shortest, &heads);
#endif
    for (Py_ssize_t i = from; i < n - 2; i++)
        if (phone_digit(cp[i]) && !phone_digit(cp[i - 1]) && (firsts >> (cp[i] - '0')) & 1)
            vec_push(&heads, (int64_t)i);
    for (Py_ssize_t h = 0; h < heads.len; h++) {
        int64_t end;
        if (phone_field_at(cp, heads.data[h], lengths,
                           (const uint8_t *)vpre.buf, (const uint8_t *)vcc.buf, vcc.len,
                           (const uint8_t *)vglued.buf, (const uint8_t *)vsep.buf,
                           (const uint8_t *)vbad.buf, packed, &end)) {
            vec_push(&o_start, heads.data[h]);
            vec_push(&o_end, end);
        }
    }
    if (heads.failed || o_start.failed || o_end.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NN)", vec_bytes(&o_start), vec_bytes(&o_end));
done:
    free(heads.data);
    free(o_start.data);
    free(o_end.data);
    PyBuffer_Release(&vcp);
    PyBuffer_Release(&vlen);
    PyBuffer_Release(&vpre);
    PyBuffer_Release(&vcc);
    PyBuffer_Release(&vglued);
    PyBuffer_Release(&vsep);
    PyBuffer_Release(&vbad);
    return result;
}

#define PHONE_METHODS {"phone_candidates", phone_candidates, METH_VARARGS, phone_candidates_doc}, \
    {"phone_keep", phone_keep, METH_VARARGS, phone_keep_doc}, \
    {"phone_fields", phone_fields, METH_VARARGS, phone_fields_doc},
