/* Corroboration (names and birth dates near a hit, matchers/engine.py) in C. Part of
 * the unity build of matchers/_native.c, which includes this file: the helpers
 * defined there (i64vec, u8vec, ...) are in scope.
 *
 * corr_values(texts, text_of, bounds, want_names, want_dates, word_cache, canonical_word)
 *     For every hit, the canonical names and birth dates of the two spans of its
 *     window (before and after the identifier), each span read on its own, as
 *     matchers.detectors.name.candidate_values and birth_date.find read a text.
 *     Hit i reads texts[text_of[i]] (int64) at bounds[4 i:4 i + 4] (int64: window
 *     start, hit start, hit end, window end).
 *     Returns (names, dates), each None or (blob, offsets, ptr, ids): the unique
 *     values as UTF-8 in blob between offsets[k] and offsets[k + 1], and for hit
 *     i the value ids ids[ptr[i]:ptr[i + 1]] (int64 arrays as bytes). Only values
 *     that some hit has are in blob. Text shared by overlapping windows is read
 *     once (see "Reading shared text once" below).
 * corr_member(ptr, keys, people, ptr_hits, ids, value_keys)
 *     Per hit: does one of its values' keys belong to its person's sorted keys
 *     keys[ptr[p]:ptr[p + 1]]? One byte (0/1) per hit.
 *
 * A word of Latin-1 letters is case-folded here; any other word is canonicalised by
 * `canonical_word` (NFKC, case folding: Python's own), memoised in `word_cache`.
 */

/* ---------------------------------------------------------------------------------- */
/* Python's re classes for str patterns, as the expressions of name.py and
 * birth_date.py use them: \w, \d, \s and [^\W\d_] (a "letter"). */

static uint8_t C_LETTER[256], C_WORD[256], C_DECIMAL[256], C_SPACE[256], C_DATE_CUT[256];
static int corr_tables_ready = 0;

static void corr_init_tables(void)
{
    for (Py_UCS4 c = 0; c < 256; c++) {
        int alnum = Py_UNICODE_ISALNUM(c);
        C_DECIMAL[c] = (uint8_t)Py_UNICODE_ISDECIMAL(c);
        C_WORD[c] = (uint8_t)(alnum || c == '_');
        C_LETTER[c] = (uint8_t)(alnum && !C_DECIMAL[c] && c != '_');
        C_SPACE[c] = (uint8_t)Py_UNICODE_ISSPACE(c);
    }
    /* After c, a cut for dates (see date_cut_k): never (0), always (1), or when no
     * digit follows (2). */
    for (Py_ssize_t c = 0; c < 256; c++)
        C_DATE_CUT[c] = c == '.' || c == '-' || c == '/' || C_DECIMAL[c] || C_SPACE[c] ? 0
                        : C_WORD[c] ? 2 : 1;
    corr_tables_ready = 1;
}

static inline int is_letter(Py_UCS4 c)
{
    if (c < 256)
        return C_LETTER[c];
    return Py_UNICODE_ISALNUM(c) && !Py_UNICODE_ISDECIMAL(c);
}

static inline int is_word(Py_UCS4 c)
{
    return c < 256 ? C_WORD[c] : Py_UNICODE_ISALNUM(c);
}

static inline int is_decimal(Py_UCS4 c)
{
    return c < 256 ? C_DECIMAL[c] : Py_UNICODE_ISDECIMAL(c);
}

static inline int is_space(Py_UCS4 c)
{
    return c < 256 ? C_SPACE[c] : Py_UNICODE_ISSPACE(c);
}

typedef struct {
    int kind;
    const void *data;
} utext;

#define CH(t, i) PyUnicode_READ((t)->kind, (t)->data, (i))

/* ---------------------------------------------------------------------------------- */
/* unique values: a blob of UTF-8 strings and an open-addressing hash set over them */

/* A slot: a value's hash and id (-1: empty), side by side (one cache miss a probe). */
typedef struct {
    uint64_t hash;
    int64_t id;
} vslot;

typedef struct {
    u8vec blob;
    i64vec offs;  /* offs[k] = start of value k; one more at the end when returned */
    vslot *slots;
    Py_ssize_t nslots, count;
    int failed;
} vset;

static uint64_t bytes_hash(const uint8_t *p, Py_ssize_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n, v;  /* 8 bytes at a time */
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
    }
    v = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

static int vset_grow(vset *s)
{
    Py_ssize_t n = s->nslots ? s->nslots * 2 : 4096;
    vslot *slots = (vslot *)malloc((size_t)n * sizeof(vslot));
    if (slots == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++)
        slots[i].id = -1;
    for (Py_ssize_t i = 0; i < s->nslots; i++) {
        if (s->slots[i].id < 0)
            continue;
        Py_ssize_t j = (Py_ssize_t)(s->slots[i].hash & (uint64_t)(n - 1));
        while (slots[j].id >= 0)
            j = (j + 1) & (n - 1);
        slots[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = n;
    return 0;
}

/* The slot of value p[0:n] (hash h): its own, or the empty one where it would go. */
static Py_ssize_t vset_probe(const vset *s, const uint8_t *p, Py_ssize_t n, uint64_t h)
{
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(s->nslots - 1));
    for (;;) {
        int64_t id = s->slots[j].id;
        if (id < 0)
            return j;
        if (s->slots[j].hash == h) {
            int64_t a = s->offs.data[id];
            int64_t b = id + 1 < s->offs.len ? s->offs.data[id + 1] : (int64_t)s->blob.len;
            if (b - a == n && memcmp(s->blob.data + a, p, (size_t)n) == 0)
                return j;
        }
        j = (j + 1) & (s->nslots - 1);
    }
}

/* The id of value p[0:n], added when new; -1 when out of memory. */
static int64_t vset_add(vset *s, const uint8_t *p, Py_ssize_t n)
{
    if (s->failed)
        return -1;
    if ((s->count + 1) * 2 > s->nslots && vset_grow(s) < 0) {
        s->failed = 1;
        return -1;
    }
    uint64_t h = bytes_hash(p, n);
    Py_ssize_t j = vset_probe(s, p, n, h);
    if (s->slots[j].id >= 0)
        return s->slots[j].id;
    int64_t id = s->count++;
    vec_push(&s->offs, (int64_t)s->blob.len);
    u8_append(&s->blob, p, n);
    if (s->offs.failed || s->blob.failed) {
        s->failed = 1;
        return -1;
    }
    s->slots[j] = (vslot){h, id};
    return id;
}

static void vset_free(vset *s)
{
    free(s->blob.data);
    free(s->offs.data);
    free(s->slots);
}

/* (blob, offsets, ptr, ids) of one value type */
static PyObject *vset_result(vset *s, i64vec *ptr, i64vec *ids)
{
    vec_push(&s->offs, (int64_t)s->blob.len);
    if (s->offs.failed)
        return PyErr_NoMemory();
    return Py_BuildValue("(y#NNN)", s->blob.data ? (const char *)s->blob.data : "",
                         s->blob.len, vec_bytes(&s->offs), vec_bytes(ptr), vec_bytes(ids));
}

/* ---------------------------------------------------------------------------------- */
/* Reading shared text once.
 *
 * A hit's window is read as two spans, each on its own. In a dense dump the windows
 * of neighbouring hits overlap 5-10 times, so the hits' windows are merged into
 * stretches (a "container": the union of overlapping windows, read on its own as
 * well), the container is read once into a table (its words, its dates), and each
 * span takes from the table what lies inside it; only what the span's edges cut is
 * read again. Why that is exactly the span read on its own:
 *
 * - Names (name.py's _RUN_RE): a run is a maximal chain of two or more words, each
 *   word followed by a gap of spaces, commas and tabs only and then the next word;
 *   the values are its 2- and 3-word sequences. A container word lying wholly in the
 *   span is a word of the span: its start follows no letter, and its end depends
 *   only on the characters up to it and the one after it (a joiner counts only
 *   before a letter), all in the span. The span adds at most two more words: the
 *   part after x of a word that x cuts (from x, or from x + 1 when x is at a
 *   joiner), and the part before y of a word that y cuts. The link from a word to
 *   the next holds in the span as in the container when the next word starts
 *   before y (the gap and that word's first letter are then in the span). So each
 *   linked pair or triple of words that the span holds whole is a value shared by
 *   every window that holds it (made once: `cword.pair`, `cword.triple`), and the
 *   few that hold a cut word are made for the span.
 *
 * - Birth dates (birth_date.py's _RE): a cut at b (between text[b - 1] and text[b])
 *   splits a reading in two when text[b - 1] is a character no date holds (not \d,
 *   \s, '.', '/', '-'; reading it, a date before it has ended), and either it
 *   fails no date's lookbehind (it is no \w) or no date starts at b (text[b] is no
 *   digit). A span's dates are then those of [x, b1) read on its own, of the
 *   container's dates between its first and last cut b1 < b2, and of [b2, y) read
 *   on its own. The ends of the span and of the container are cuts of themselves.
 *
 * Values are added to the result (and so digested) only when a span holds them. */

/* ---------------------------------------------------------------------------------- */
/* names (name.py's _WORD, _RUN_RE and run_values) */

typedef struct {
    PyObject *cache;     /* dict: word (str) -> canonical word (str) */
    PyObject *canonical; /* callable for a word not in the cache */
    u8vec value;         /* the value being joined */
    u8vec head, tail;    /* the canonical cut words at a span's start and end */
} name_state;

static inline int is_joiner(Py_UCS4 c)
{
    return c == '\'' || c == 0x2019 || c == '-';
}

static inline int is_gap(Py_UCS4 c)
{
    return c == ' ' || c == ',' || c == '\t';
}

/* End of the word starting at i (text[i] is a letter), not reading past y. */
static inline __attribute__((always_inline)) Py_ssize_t word_end_k(const utext *t, Py_ssize_t i, Py_ssize_t y)
{
    i++;
    while (i < y) {
        Py_UCS4 c = CH(t, i);
        if (is_letter(c))
            i++;
        else if (is_joiner(c) && i + 1 < y && is_letter(CH(t, i + 1)))
            i += 2;
        else
            break;
    }
    return i;
}

/* Append the canonical form of word text[a:b] to out; -1 on error. A word of Latin-1
 * letters is case-folded here (NFKC leaves it as it is: none of ª²³µ¹º¼½¾, the
 * letters that NFKC or case folding turn into another script or into digits); any
 * other word goes through the cache. */
static inline __attribute__((always_inline)) int canon_append_k(name_state *st, PyObject *text, const utext *t,
                                                                Py_ssize_t a, Py_ssize_t b, u8vec *out)
{
    int latin1 = 1;
    for (Py_ssize_t i = a; i < b; i++) {
        Py_UCS4 c = CH(t, i);
        if (c >= 128 && (c >= 256 || c < 0xC0)) {
            latin1 = 0;
            break;
        }
    }
    if (latin1) {  /* written straight into `out`, with room for two bytes a letter */
        uint8_t *o = u8_room(out, 2 * (b - a));
        if (o == NULL)
            return -1;
        for (Py_ssize_t i = a; i < b; i++) {
            Py_UCS4 c = CH(t, i);
            if (c < 128)
                *o++ = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            else if (c == 0xDF) {  /* ß */
                *o++ = 's';
                *o++ = 's';
            }
            else {  /* À-Þ folds to à-þ; UTF-8 in two bytes */
                c += c < 0xDF ? 32 : 0;
                *o++ = (uint8_t)(0xC0 | (c >> 6));
                *o++ = (uint8_t)(0x80 | (c & 0x3F));
            }
        }
        out->len = o - out->data;
        return 0;
    }
    PyObject *word = PyUnicode_Substring(text, a, b);
    if (word == NULL)
        return -1;
    PyObject *canon = PyDict_GetItemWithError(st->cache, word);  /* borrowed */
    if (canon == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(word);
            return -1;
        }
        canon = PyObject_CallOneArg(st->canonical, word);
        if (canon == NULL || !PyUnicode_Check(canon) || PyDict_SetItem(st->cache, word, canon) < 0) {
            if (canon != NULL && !PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "canonical_word must return str");
            Py_XDECREF(canon);
            Py_DECREF(word);
            return -1;
        }
        Py_DECREF(canon);  /* the cache holds it */
    }
    Py_DECREF(word);
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(canon, &n);
    if (u == NULL)
        return -1;
    u8_append(out, (const uint8_t *)u, n);
    return out->failed ? -1 : 0;
}

/* A word of the container. */
typedef struct {
    int64_t ws, we;       /* text[ws:we] */
    int64_t canon;        /* its canonical form at canon[canon:canon + clen]; -1: not made yet */
    int64_t pair, triple; /* ids of the values of it and the next one / two words; -1: not yet */
    int32_t clen;
    int32_t link;         /* the next word follows it after spaces, commas and tabs only */
} cword;

typedef struct {
    cword *w;
    Py_ssize_t n, cap;
    i64vec linked;        /* the indices of the words with link, ascending */
    i64vec linked_end;    /* and where each of them ends */
    u8vec canon;
    int failed;
} wtable;

/* Room for one more item in the array *data of *cap items of `size` bytes holding n;
 * 0, or -1 when out of memory. */
static int room_for_one(void **data, Py_ssize_t *cap, Py_ssize_t n, size_t size)
{
    if (n < *cap)
        return 0;
    Py_ssize_t c = *cap ? *cap * 2 : 256;
    void *d = realloc(*data, (size_t)c * size);
    if (d == NULL)
        return -1;
    *data = d;
    *cap = c;
    return 0;
}

static void wtable_push(wtable *wt, Py_ssize_t ws, Py_ssize_t we)
{
    if (wt->failed || (wt->failed = room_for_one((void **)&wt->w, &wt->cap, wt->n, sizeof(cword))))
        return;
    wt->w[wt->n++] = (cword){ws, we, -1, -1, -1, 0, 0};
}

/* The last word pushed is linked to the next. */
static void wtable_link(wtable *wt)
{
    if (wt->failed)
        return;
    wt->w[wt->n - 1].link = 1;
    vec_push(&wt->linked, (int64_t)(wt->n - 1));
    vec_push(&wt->linked_end, wt->w[wt->n - 1].we);
}

static void wtable_free(wtable *wt)
{
    free(wt->w);
    free(wt->linked.data);
    free(wt->linked_end.data);
    free(wt->canon.data);
}

/* The words of text[u0:u1] read on its own that are in a run (linked to the word
 * before or after them: no other word is in a value), with their links. */
static inline __attribute__((always_inline)) int words_k(wtable *wt, const utext *t, Py_ssize_t u0,
                                                         Py_ssize_t u1)
{
    wt->n = 0;
    wt->linked.len = 0;
    wt->linked_end.len = 0;
    wt->canon.len = 0;
    Py_ssize_t p = u0;
#if defined(__SSE2__)
    if (t->kind == PyUnicode_1BYTE_KIND) {
        /* Every link is a run of gap characters between two letters: look for the
         * gaps 16 characters at a time, and read words only around links. Only a
         * gap after something that may be a letter (an ASCII letter or any byte
         * from 0x80) can start one: other gaps, in runs that are no link (the
         * "','" of SQL, the ", 2" of an address), are passed over 16 at a time too.
         * (A gap at u0 is no link either: the search starts after it.) */
        const uint8_t *s = (const uint8_t *)t->data;
        const __m128i sp = _mm_set1_epi8(' '), cm = _mm_set1_epi8(','), tb = _mm_set1_epi8('\t');
        const __m128i lower = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'), z = _mm_set1_epi8(25);
        while (p < u1) {
            Py_ssize_t g = p > u0 ? p : u0 + 1;
            for (; g + 16 <= u1; g += 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(s + g));
                __m128i before = _mm_loadu_si128((const __m128i *)(s + g - 1));
                __m128i gap = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, sp), _mm_cmpeq_epi8(v, cm)),
                                           _mm_cmpeq_epi8(v, tb));
                __m128i off = _mm_sub_epi8(_mm_or_si128(before, lower), a);  /* 0-25: a letter */
                __m128i ascii_letter = _mm_cmpeq_epi8(_mm_min_epu8(off, z), off);
                unsigned gaps = (unsigned)_mm_movemask_epi8(gap);
                unsigned bits = ((unsigned)_mm_movemask_epi8(_mm_and_si128(gap, ascii_letter))
                                 | ((unsigned)_mm_movemask_epi8(before) & gaps));
                if (bits) {
                    g += __builtin_ctz(bits);
                    break;
                }
            }
            while (g < u1 && !is_gap(s[g]))
                g++;
            if (g >= u1)
                break;
            Py_ssize_t g2 = g + 1;
            while (g2 < u1 && is_gap(s[g2]))
                g2++;
            if (g == u0 || g2 >= u1 || !C_LETTER[s[g - 1]] || !C_LETTER[s[g2]]) {
                p = g2;
                continue;
            }
            /* The word ending at g (a letter before a gap ends a word) is linked to
             * the word starting at g2. The first may be the last one pushed; else
             * its start is found backwards: a letter continues the word of the
             * letter before it, or of the letter two before it across a joiner. */
            if (!(wt->n && wt->w[wt->n - 1].we == g)) {
                Py_ssize_t ws = g - 1;
                for (;;) {
                    if (ws > u0 && C_LETTER[s[ws - 1]])
                        ws--;
                    else if (ws - 1 > u0 && is_joiner(s[ws - 1]) && C_LETTER[s[ws - 2]])
                        ws -= 2;
                    else
                        break;
                }
                wtable_push(wt, ws, g);
            }
            wtable_link(wt);
            p = word_end_k(t, g2, u1);
            wtable_push(wt, g2, p);
        }
        return wt->failed || wt->linked.failed || wt->linked_end.failed ? -1 : 0;
    }
#endif
    int after_link = 0;
    while (p < u1) {
        if (!is_letter(CH(t, p))) {
            p++;
            continue;
        }
        Py_ssize_t we = word_end_k(t, p, u1), g = we;
        while (g < u1 && is_gap(CH(t, g)))
            g++;
        int link = g > we && g < u1 && is_letter(CH(t, g));
        if (link || after_link)
            wtable_push(wt, p, we);
        if (link)
            wtable_link(wt);
        after_link = link;
        p = g;  /* text[we:g] holds no letter */
    }
    return wt->failed || wt->linked.failed || wt->linked_end.failed ? -1 : 0;
}

/* The first j with end[j] > x (end ascending), looked for near `hint` first. */
static inline Py_ssize_t first_ending_after(const int64_t *end, Py_ssize_t n, int64_t x, Py_ssize_t hint)
{
    Py_ssize_t j = hint < n ? hint : n;
    for (int step = 0; step < 8; step++) {
        if (j < n && end[j] <= x)
            j++;
        else if (j > 0 && end[j - 1] > x)
            j--;
        else
            return j;
    }
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (end[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Word k's canonical form, made once. */
static inline __attribute__((always_inline)) int word_canon_k(name_state *st, PyObject *text, const utext *t,
                                                              wtable *wt, Py_ssize_t k)
{
    cword *w = &wt->w[k];
    if (w->canon >= 0)
        return 0;
    Py_ssize_t at = wt->canon.len;
    if (canon_append_k(st, text, t, w->ws, w->we, &wt->canon) < 0)
        return -1;
    w->canon = at;
    w->clen = (int32_t)(wt->canon.len - at);
    return 0;
}

/* The words of a value: word k + i of the table, except that the first may be the
 * span's cut head and the last its cut tail. */
#define PART_WORD 0
#define PART_HEAD 1
#define PART_TAIL 2

/* The id of the value joined from `m` parts starting at word k (canonical forms made). */
static int64_t join_value(name_state *st, wtable *wt, Py_ssize_t k, const int *parts, int m, vset *set)
{
    const uint8_t *src[3];
    Py_ssize_t len[3], total = m - 1;
    for (int i = 0; i < m; i++) {
        const u8vec *piece = parts[i] == PART_HEAD ? &st->head : parts[i] == PART_TAIL ? &st->tail : NULL;
        src[i] = piece ? piece->data : wt->canon.data + wt->w[k + i].canon;
        len[i] = piece ? piece->len : wt->w[k + i].clen;
        total += len[i];
    }
    if (total > st->value.cap) {
        uint8_t *d = (uint8_t *)realloc(st->value.data, (size_t)total);
        if (d == NULL)
            return -1;
        st->value.data = d;
        st->value.cap = total;
    }
    uint8_t *out = st->value.data;
    for (int i = 0; i < m; i++) {
        if (i)
            *out++ = ' ';
        memcpy(out, src[i], (size_t)len[i]);
        out += len[i];
    }
    return vset_add(set, st->value.data, total);
}

/* The name values of text[x:y] read on its own (inside the container of table wt).
 * *hint: where the last span's first linked word was (the spans come in order). */
static inline __attribute__((always_inline)) int span_names_k(name_state *st, PyObject *text, const utext *t,
                                                              wtable *wt, Py_ssize_t x, Py_ssize_t y,
                                                              Py_ssize_t *hint, vset *set, i64vec *ids)
{
    const cword *w;
    const int64_t *linked = wt->linked.data;
    /* the first linked word ending after x */
    Py_ssize_t j = *hint = first_ending_after(wt->linked_end.data, wt->linked.len, x, *hint);
    int head_made = 0, tail_made = 0;
    for (; j < wt->linked.len; j++) {
        Py_ssize_t k = (Py_ssize_t)linked[j];
        w = wt->w;
        if (w[k + 1].ws >= y)
            break;  /* the next word is not in the span: nor is any later one */
        /* Word k is whole (its end is before word k + 1) but for its start when x
         * cuts it (only the first can be); the word after it is whole but for its end
         * when y cuts it. */
        int head = w[k].ws < x;
        int three = w[k + 1].link && w[k + 2].ws < y;
        int tail2 = w[k + 1].we > y, tail3 = three && w[k + 2].we > y;
        if (head && !head_made) {
            Py_ssize_t a = is_letter(CH(t, x)) ? x : x + 1;  /* x at a joiner: after it */
            st->head.len = 0;
            if (canon_append_k(st, text, t, a, w[k].we, &st->head) < 0)
                return -1;
            head_made = 1;
        }
        if ((tail2 || tail3) && !tail_made) {
            Py_ssize_t a = w[k + 1 + tail3].ws;
            st->tail.len = 0;
            if (canon_append_k(st, text, t, a, word_end_k(t, a, y), &st->tail) < 0)
                return -1;
            tail_made = 1;
        }
        int parts[3] = {head ? PART_HEAD : PART_WORD, tail2 ? PART_TAIL : PART_WORD,
                        tail3 ? PART_TAIL : PART_WORD};
        for (int i = 0; i < 2 + three; i++)
            if (parts[i] == PART_WORD && word_canon_k(st, text, t, wt, k + i) < 0)
                return -1;
        /* the pair, and the triple: made for this span when it holds a cut word,
         * else once for all spans */
        for (int m = 2; m <= 2 + three; m++) {
            int64_t *memo = m == 2 ? &wt->w[k].pair : &wt->w[k].triple;
            int64_t id = *memo;
            if (head || parts[m - 1] == PART_TAIL)
                id = join_value(st, wt, k, parts, m, set);
            else if (id < 0)
                id = *memo = join_value(st, wt, k, parts, m, set);
            if (id < 0)
                return -1;
            vec_push(ids, id);
        }
    }
    return ids->failed ? -1 : 0;
}

/* ---------------------------------------------------------------------------------- */
/* birth dates (birth_date.py's _RE and _iso) */

static const int DAYS_IN_MONTH[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static int valid_date(int y, int m, int d)
{
    if (m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= DAYS_IN_MONTH[m] + (m == 2 && leap);
}

/* A valid date as one number, yyyymmdd; 0 for an invalid one */
static int ymd_of(int y, int m, int d)
{
    return valid_date(y, m, d) ? y * 10000 + m * 100 + d : 0;
}

/* "YYYY-MM-DD" of yyyymmdd (1800 <= yyyy < 2100) */
static void write_iso(char *iso, int ymd)
{
    int y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
    iso[0] = (char)('0' + y / 1000);
    iso[1] = (char)('0' + y / 100 % 10);
    iso[2] = (char)('0' + y / 10 % 10);
    iso[3] = (char)('0' + y % 10);
    iso[4] = '-';
    iso[5] = (char)('0' + m / 10);
    iso[6] = (char)('0' + m % 10);
    iso[7] = '-';
    iso[8] = (char)('0' + d / 10);
    iso[9] = (char)('0' + d % 10);
}

static inline int dec_value(Py_UCS4 c)
{
    return c < 128 ? (int)c - '0' : Py_UNICODE_TODECIMAL(c);
}

/* (?:18|19|20)\d\d at i (4 characters before y); its value or -1. */
static inline __attribute__((always_inline)) int year_at_k(const utext *t, Py_ssize_t i, Py_ssize_t y)
{
    if (i + 4 > y)
        return -1;
    Py_UCS4 c0 = CH(t, i), c1 = CH(t, i + 1), c2 = CH(t, i + 2), c3 = CH(t, i + 3);
    if (!((c0 == '1' && (c1 == '8' || c1 == '9')) || (c0 == '2' && c1 == '0')))
        return -1;
    if (!is_decimal(c2) || !is_decimal(c3))
        return -1;
    return (int)(c0 - '0') * 1000 + (int)(c1 - '0') * 100 + dec_value(c2) * 10 + dec_value(c3);
}

/* The lookahead (?![\w\-/]|\.\d) at i. */
static inline __attribute__((always_inline)) int date_may_end_k(const utext *t, Py_ssize_t i, Py_ssize_t y)
{
    if (i >= y)
        return 1;
    Py_UCS4 c = CH(t, i);
    if (is_word(c) || c == '-' || c == '/')
        return 0;
    return !(c == '.' && i + 1 < y && is_decimal(CH(t, i + 1)));
}

/* [lo]?\d at i: the value, with *len 2 (first choice) or 1; -1 when it does not fit. */
static inline __attribute__((always_inline)) int small_number_k(const utext *t, Py_ssize_t i, Py_ssize_t y, Py_UCS4 hi, int two)
{
    if (two) {
        if (i + 2 > y)
            return -1;
        Py_UCS4 c0 = CH(t, i), c1 = CH(t, i + 1);
        if (c0 < '0' || c0 > hi || !is_decimal(c1))
            return -1;
        return (int)(c0 - '0') * 10 + dec_value(c1);
    }
    if (i + 1 > y || !is_decimal(CH(t, i)))
        return -1;
    return dec_value(CH(t, i));
}

/* \s?[./]\s? at i: the position after it, or -1. (Each \s? takes a space when there is
 * one: leaving it would put the space where [./] or a digit must be.) */
static inline __attribute__((always_inline)) Py_ssize_t date_sep_k(const utext *t, Py_ssize_t i, Py_ssize_t y)
{
    if (i < y && is_space(CH(t, i)))
        i++;
    if (i >= y || (CH(t, i) != '.' && CH(t, i) != '/'))
        return -1;
    i++;
    if (i < y && is_space(CH(t, i)))
        i++;
    return i;
}

/* A date match at p in text[x:y] (the regex's backtracking order): its end, or -1.
 * *ymd gets the date (ymd_of), 0 when it is invalid (a match all the same). */
static inline __attribute__((always_inline)) Py_ssize_t date_at_k(const utext *t, Py_ssize_t x, Py_ssize_t p, Py_ssize_t y,
                          int *ymd)
{
    *ymd = 0;
    if (p > x) {
        Py_UCS4 b = CH(t, p - 1);
        if (is_word(b) || b == '.' || b == '-' || b == '/')
            return -1;
    }
    for (int dtwo = 1; dtwo >= 0; dtwo--) {
        int d = small_number_k(t, p, y, '3', dtwo);
        if (d < 0)
            continue;
        Py_ssize_t q = date_sep_k(t, p + 1 + dtwo, y);
        if (q < 0)
            continue;
        for (int mtwo = 1; mtwo >= 0; mtwo--) {
            int m = small_number_k(t, q, y, '1', mtwo);
            if (m < 0)
                continue;
            Py_ssize_t r = date_sep_k(t, q + 1 + mtwo, y);
            if (r < 0)
                continue;
            int year = year_at_k(t, r, y);
            if (year < 0 || !date_may_end_k(t, r + 4, y))
                continue;
            *ymd = ymd_of(year, m, d);
            return r + 4;
        }
    }
    int year = year_at_k(t, p, y);
    if (year < 0 || p + 10 > y || CH(t, p + 4) != '-' || CH(t, p + 7) != '-')
        return -1;
    Py_UCS4 m0 = CH(t, p + 5), m1 = CH(t, p + 6), d0 = CH(t, p + 8), d1 = CH(t, p + 9);
    if (m0 < '0' || m0 > '1' || !is_decimal(m1) || d0 < '0' || d0 > '3' || !is_decimal(d1))
        return -1;
    if (!date_may_end_k(t, p + 10, y))
        return -1;
    *ymd = ymd_of(year, (int)(m0 - '0') * 10 + dec_value(m1), (int)(d0 - '0') * 10 + dec_value(d1));
    return p + 10;
}

#if defined(__SSE2__)
/* Per byte of s[0:16], 0xFF where "18", "19" or "20" starts (s[16] read): "1" before "8"
 * or "9", or "2" before "0". */
static inline __attribute__((always_inline)) __m128i year_starts16(const uint8_t *s)
{
    __m128i c0 = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i c1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 1));
    return _mm_or_si128(
        _mm_and_si128(_mm_cmpeq_epi8(c0, _mm_set1_epi8('1')),
                      _mm_or_si128(_mm_cmpeq_epi8(c1, _mm_set1_epi8('8')),
                                   _mm_cmpeq_epi8(c1, _mm_set1_epi8('9')))),
        _mm_and_si128(_mm_cmpeq_epi8(c0, _mm_set1_epi8('2')), _mm_cmpeq_epi8(c1, _mm_set1_epi8('0'))));
}
#endif

/* The first year at or after i in text[x:y], or -1: "18", "19" or "20" and two more
 * digits, after no \w (a date's year follows [./] or a space, or starts the date,
 * whose lookbehind refuses \w). */
static inline __attribute__((always_inline)) Py_ssize_t next_year_k(const utext *t, Py_ssize_t x, Py_ssize_t i, Py_ssize_t y)
{
#if defined(__SSE2__)
    if (t->kind == PyUnicode_1BYTE_KIND) {
        /* 16 places at a time */
        const uint8_t *s = (const uint8_t *)t->data;
        for (; i + 17 <= y; i += 16) {
            __m128i m = year_starts16(s + i);
            for (unsigned bits = (unsigned)_mm_movemask_epi8(m); bits; bits &= bits - 1) {
                Py_ssize_t j = i + __builtin_ctz(bits);
                if (j + 4 > y)
                    return -1;
                if (j == x || !C_WORD[s[j - 1]])
                    return j;
            }
        }
    }
#endif
    for (; i + 4 <= y; i++) {
        Py_UCS4 c0 = CH(t, i);
        if (c0 == '1' || c0 == '2') {
            Py_UCS4 c1 = CH(t, i + 1);
            if (((c0 == '1' && (c1 == '8' || c1 == '9')) || (c0 == '2' && c1 == '0'))
                && (i == x || !is_word(CH(t, i - 1))))
                return i;
        }
    }
    return -1;
}

/* Is the year at j after a d.m. date's separator ("." or "/", then at most one space)
 * in text[x:...]? */
static inline __attribute__((always_inline)) int year_after_dm_k(const utext *t, Py_ssize_t x, Py_ssize_t j)
{
    if (j - 1 < x)
        return 0;
    Py_UCS4 c = CH(t, j - 1);
    if (c == '.' || c == '/')
        return 1;
    if (!is_space(c) || j - 2 < x)
        return 0;
    c = CH(t, j - 2);
    return c == '.' || c == '/';
}

/* Could a date of text[x:y] hold the year at j: is it an ISO date's ("yyyy-"), or is it
 * after a d.m. date's separator? (A superset of the years dates hold, so that dates_k
 * may pass over the others.) */
static inline __attribute__((always_inline)) int year_may_date_k(const utext *t, Py_ssize_t x, Py_ssize_t j,
                                                                 Py_ssize_t y)
{
    return (j + 4 < y && CH(t, j + 4) == '-') || year_after_dm_k(t, x, j);
}

/* The first year at or after i in text[x:y] that a date may hold (year_may_date_k), or
 * -1. Every date holds such a year at most YEAR_REACH after its start, and at or after
 * it: none starts before the first such year at or after i less YEAR_REACH. (In leak
 * text most years are no date's: the digits of phone numbers, identifiers, ids.) */
static inline __attribute__((always_inline)) Py_ssize_t next_date_year_k(const utext *t, Py_ssize_t x,
                                                                         Py_ssize_t i, Py_ssize_t y)
{
#if defined(__SSE2__)
    if (t->kind == PyUnicode_1BYTE_KIND && i >= 2) {
        /* 16 places at a time: a year's first two digits where a date may hold it, by
         * a superset of year_may_date_k's test ("-" four on, "." or "/" one or two
         * before); those found are tested in full. Most digits of a dump are passed
         * over here (postal codes after ";", ids), not one by one. */
        const uint8_t *s = (const uint8_t *)t->data;
        const __m128i dash = _mm_set1_epi8('-'), dot = _mm_set1_epi8('.'), slash = _mm_set1_epi8('/');
        for (; i + 20 <= y; i += 16) {
            __m128i m = year_starts16(s + i);
            if (!_mm_movemask_epi8(m))
                continue;
            __m128i b1 = _mm_loadu_si128((const __m128i *)(s + i - 1));
            __m128i b2 = _mm_loadu_si128((const __m128i *)(s + i - 2));
            __m128i a4 = _mm_loadu_si128((const __m128i *)(s + i + 4));
            __m128i may = _mm_or_si128(
                _mm_cmpeq_epi8(a4, dash),
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b1, dot), _mm_cmpeq_epi8(b1, slash)),
                             _mm_or_si128(_mm_cmpeq_epi8(b2, dot), _mm_cmpeq_epi8(b2, slash))));
            for (unsigned bits = (unsigned)_mm_movemask_epi8(_mm_and_si128(m, may)); bits;
                 bits &= bits - 1) {
                Py_ssize_t j = i + __builtin_ctz(bits);
                if ((j == x || !C_WORD[s[j - 1]]) && year_may_date_k(t, x, j, y))
                    return j;
            }
        }
    }
#endif
    for (;;) {
        Py_ssize_t j = next_year_k(t, x, i, y);
        if (j < 0 || year_may_date_k(t, x, j, y))
            return j;
        i = j + 1;
    }
}

/* The furthest a date's year starts from the date's start: "dd . mm . " */
#define YEAR_REACH 10

/* A valid date of the container: where it starts, the date, its value id (-1: not
 * added yet). */
typedef struct {
    int64_t start, id;
    int32_t ymd;
} cdate;

typedef struct {
    cdate *d;
    Py_ssize_t n, cap;
    i64vec starts;  /* d[i].start, for first_ending_after */
    int failed;
} dtable;

static void dtable_push(dtable *dt, Py_ssize_t start, int ymd)
{
    if (dt->failed || (dt->failed = room_for_one((void **)&dt->d, &dt->cap, dt->n, sizeof(cdate))))
        return;
    dt->d[dt->n++] = (cdate){start, -1, ymd};
    vec_push(&dt->starts, (int64_t)start);
}

/* Append the valid birth dates of text[x:y] read on its own to dt. */
static inline __attribute__((always_inline)) int dates_k(const utext *t, Py_ssize_t x, Py_ssize_t y, dtable *dt)
{
    Py_ssize_t p = x, year = -1;
    while (p < y) {
        /* No date starts more than YEAR_REACH before a year: skip to there. */
        if (year < p && (year = next_date_year_k(t, x, p, y)) < 0)
            break;
        if (year - p > YEAR_REACH)
            p = year - YEAR_REACH;
        /* A year that no d.m. date can hold is an ISO date's ("yyyy-" at it): then no
         * date starts before it. (One would hold a later year r, as the first date
         * year from p is this one; being no ISO date, which starts at its year, it
         * would be a d.m. date: digits, separators and spaces up to r, among them the
         * "-" four after this year.) So the dump's "...;2022-09-16" are not read from
         * ten characters before. */
        if (p < year && !year_after_dm_k(t, x, year))
            p = year;
        /* every date starts with a digit */
        if (!is_decimal(CH(t, p))) {
            p++;
            continue;
        }
        int ymd;
        Py_ssize_t end = date_at_k(t, x, p, y, &ymd);
        if (end < 0) {
            p++;
            continue;
        }
        if (ymd)
            dtable_push(dt, p, ymd);
        p = end;
    }
    return dt->failed || dt->starts.failed ? -1 : 0;
}

/* Is b a cut for dates of the container text[u0:u1] (see the top of this part)? */
static inline __attribute__((always_inline)) int date_cut_k(const utext *t, Py_ssize_t b, Py_ssize_t u0,
                                                            Py_ssize_t u1)
{
    if (b <= u0 || b >= u1)
        return 1;
    Py_UCS4 c = CH(t, b - 1);
    int cut = c < 256 ? C_DATE_CUT[c] : is_decimal(c) || is_space(c) ? 0 : is_word(c) ? 2 : 1;
    return cut == 1 || (cut == 2 && !is_decimal(CH(t, b)));
}

/* The birth dates found: their values, and each day's value id + 1 (0: none yet), so
 * that a date seen before is known by its day rather than by hashing its text. */
#define DAYS_KNOWN (300 * 12 * 31)  /* 1800-2099, 31 days a month */

typedef struct {
    vset set;
    int32_t *id_of_day; /* DAYS_KNOWN entries, zero but for the days in `days` */
    i64vec days;        /* the days given an id in this call: zeroed again at its end */
} dateset;

/* The id_of_day table kept zeroed from one call to the next: zeroing its 446 KB on each
 * call cost more than the dates of a typical call. A call that finds it in use (another
 * thread ran Python code in a callback of a call under way) makes one of its own. */
static struct {
    int32_t *table;
    int busy;
} corr_days;

/* set->id_of_day from corr_days if it is free, else a fresh zeroed table; 0 or -1 */
static int dateset_claim(dateset *set)
{
    if (!corr_days.busy) {
        if (corr_days.table == NULL)
            corr_days.table = (int32_t *)calloc(DAYS_KNOWN, sizeof(int32_t));
        if (corr_days.table != NULL) {
            corr_days.busy = 1;
            set->id_of_day = corr_days.table;
            return 0;
        }
    }
    set->id_of_day = (int32_t *)calloc(DAYS_KNOWN, sizeof(int32_t));
    return set->id_of_day != NULL ? 0 : -1;
}

/* Give set->id_of_day back, zeroed again where this call wrote to it. */
static void dateset_release(dateset *set)
{
    if (set->id_of_day != NULL && set->id_of_day == corr_days.table) {
        if (set->days.failed) /* not known where all it was written */
            memset(set->id_of_day, 0, DAYS_KNOWN * sizeof(int32_t));
        else
            for (Py_ssize_t i = 0; i < set->days.len; i++)
                set->id_of_day[set->days.data[i]] = 0;
        corr_days.busy = 0;
    } else
        free(set->id_of_day);
    set->id_of_day = NULL;
    free(set->days.data);
}

static inline int64_t date_id(dateset *set, cdate *d)
{
    if (d->id < 0) {
        int y = d->ymd / 10000, day = ((y - 1800) * 12 + d->ymd / 100 % 100 - 1) * 31 + d->ymd % 100 - 1;
        int32_t *known = &set->id_of_day[day];
        if (*known == 0) {
            char iso[10];
            write_iso(iso, d->ymd);
            int64_t id = vset_add(&set->set, (const uint8_t *)iso, 10);
            if (id < 0 || id >= INT32_MAX)
                return -1;
            *known = (int32_t)id + 1;
            vec_push(&set->days, day);
        }
        d->id = *known - 1;
    }
    return d->id;
}

/* The shortest date: "d.m.yyyy" */
#define DATE_MIN 8

/* The birth dates of text[x:y] read on its own (inside the container text[u0:u1]
 * whose dates are dt); `edge` is scratch, *hint as in span_names_k. */
static inline __attribute__((always_inline)) int span_dates_k(const utext *t, dtable *dt, Py_ssize_t u0,
                                                              Py_ssize_t u1, Py_ssize_t x, Py_ssize_t y,
                                                              Py_ssize_t *hint, dtable *edge, dateset *set,
                                                              i64vec *ids)
{
    Py_ssize_t b1 = x, b2 = y;
    while (b1 < y && !date_cut_k(t, b1, u0, u1))
        b1++;
    while (b2 > b1 && !date_cut_k(t, b2, u0, u1))
        b2--;
    edge->n = edge->starts.len = 0;
    if (b1 >= b2) {  /* no two cuts: the span on its own */
        if (dates_k(t, x, y, edge) < 0)
            return -1;
    }
    else {
        if ((b1 - x >= DATE_MIN && dates_k(t, x, b1, edge) < 0)
            || (y - b2 >= DATE_MIN && dates_k(t, b2, y, edge) < 0))
            return -1;
        /* the container's dates from b1 on (the first ending after b1 - 1) */
        Py_ssize_t j = *hint = first_ending_after(dt->starts.data, dt->n, b1 - 1, *hint);
        for (; j < dt->n && dt->d[j].start < b2; j++) {
            int64_t id = date_id(set, &dt->d[j]);
            if (id < 0)
                return -1;
            vec_push(ids, id);
        }
    }
    for (Py_ssize_t i = 0; i < edge->n; i++) {
        int64_t id = date_id(set, &edge->d[i]);
        if (id < 0)
            return -1;
        vec_push(ids, id);
    }
    return ids->failed ? -1 : 0;
}

/* ---------------------------------------------------------------------------------- */
/* containers */

/* A hit's window, for sorting a text's hits by where their windows start. */
typedef struct {
    int64_t a, b, hit;
} cwin;

/* Sort win[0:n] by start, with tmp[0:n] as scratch: a merge of the runs already in
 * order (a text's hits come type by type, each type's in order). */
static void sort_windows(cwin *win, Py_ssize_t n, cwin *tmp)
{
    for (;;) {
        Py_ssize_t runs = 0, out = 0;
        for (Py_ssize_t i = 0; i < n;) {
            Py_ssize_t mid = i + 1;
            while (mid < n && win[mid - 1].a <= win[mid].a)
                mid++;
            Py_ssize_t end = mid;
            if (mid < n) {
                end = mid + 1;
                while (end < n && win[end - 1].a <= win[end].a)
                    end++;
            }
            Py_ssize_t p = i, q = mid;
            while (p < mid && q < end)
                tmp[out++] = win[q].a < win[p].a ? win[q++] : win[p++];
            while (p < mid)
                tmp[out++] = win[p++];
            while (q < end)
                tmp[out++] = win[q++];
            runs++;
            i = end;
        }
        memcpy(win, tmp, (size_t)n * sizeof(cwin));
        if (runs <= 1)
            return;
    }
}

typedef struct {
    name_state names;
    wtable words;
    dtable dates, edge;
    vset name_set;
    dateset date_set;
    i64vec nids, dids;      /* the values of the hits, in the order they are read */
    int64_t *range;         /* per hit: where its ids start and end in nids and dids */
    int want_names, want_dates;
} corr_state;

/* Read the hits win[0:n] (windows sorted by start, all inside text[u0:u1]). */
static inline __attribute__((always_inline)) int container_k(corr_state *cs, PyObject *text, const utext *t,
                                                             const int64_t *bounds, const cwin *win,
                                                             Py_ssize_t n, Py_ssize_t u0, Py_ssize_t u1)
{
    if (cs->want_names && words_k(&cs->words, t, u0, u1) < 0)
        return -1;
    cs->dates.n = cs->dates.starts.len = 0;
    if (cs->want_dates && dates_k(t, u0, u1, &cs->dates) < 0)
        return -1;
    Py_ssize_t hint[4] = {0, 0, 0, 0};  /* names and dates, per side */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t h = win[i].hit;
        const int64_t *q = bounds + 4 * h;
        int64_t *r = cs->range + 4 * h;
        r[0] = cs->nids.len;
        r[2] = cs->dids.len;
        for (int side = 0; side < 4; side += 2) {
            Py_ssize_t x = q[side], y = q[side + 1];
            if (x >= y)
                continue;
            if (cs->want_names && span_names_k(&cs->names, text, t, &cs->words, x, y, &hint[side / 2],
                                               &cs->name_set, &cs->nids) < 0)
                return -1;
            if (cs->want_dates && span_dates_k(t, &cs->dates, u0, u1, x, y, &hint[2 + side / 2], &cs->edge,
                                               &cs->date_set, &cs->dids) < 0)
                return -1;
        }
        r[1] = cs->nids.len;
        r[3] = cs->dids.len;
    }
    return 0;
}

/* container_k compiled once per str kind (the kind a constant in each copy) */
static int container(corr_state *cs, PyObject *text, const int64_t *bounds, const cwin *win,
                     Py_ssize_t n, Py_ssize_t u0, Py_ssize_t u1)
{
    const void *d = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        return container_k(cs, text, &(const utext){PyUnicode_1BYTE_KIND, d}, bounds, win, n, u0, u1);
    case PyUnicode_2BYTE_KIND:
        return container_k(cs, text, &(const utext){PyUnicode_2BYTE_KIND, d}, bounds, win, n, u0, u1);
    default:
        return container_k(cs, text, &(const utext){PyUnicode_4BYTE_KIND, d}, bounds, win, n, u0, u1);
    }
}

/* Read the hits of one text: their windows merged into containers. */
static int text_hits(corr_state *cs, PyObject *text, const int64_t *bounds, cwin *win, Py_ssize_t n,
                     cwin *tmp)
{
    int sorted = 1;
    for (Py_ssize_t i = 1; i < n && sorted; i++)
        sorted = win[i - 1].a <= win[i].a;
    if (!sorted)
        sort_windows(win, n, tmp);
    Py_ssize_t first = 0;
    int64_t u0 = win[0].a, u1 = win[0].b;
    for (Py_ssize_t i = 1; i <= n; i++) {
        if (i < n && win[i].a <= u1) {
            if (win[i].b > u1)
                u1 = win[i].b;
            continue;
        }
        if (container(cs, text, bounds, win + first, i - first, u0, u1) < 0)
            return -1;
        if (i < n) {
            first = i;
            u0 = win[i].a;
            u1 = win[i].b;
        }
    }
    return 0;
}

/* The values of the hits in hit order: ptr and ids of one type. */
static int hit_order(const int64_t *range, Py_ssize_t n, int which, const i64vec *got, i64vec *ptr,
                     i64vec *ids)
{
    vec_push(ptr, 0);
    for (Py_ssize_t h = 0; h < n; h++) {
        const int64_t *r = range + 4 * h + which;
        for (int64_t j = r[0]; j < r[1]; j++)
            vec_push(ids, got->data[j]);
        vec_push(ptr, ids->len);
    }
    return ptr->failed || ids->failed ? -1 : 0;
}

/* ---------------------------------------------------------------------------------- */

static const char corr_values_doc[] =
    "corr_values(texts, text_of, bounds, want_names, want_dates, word_cache, canonical_word)\n"
    "Names and birth dates around hits (see matchers/_native_corr.c).";

static PyObject *corr_values(PyObject *self, PyObject *args)
{
    PyObject *texts, *cache, *canonical;
    Py_buffer vof = {0}, vb = {0};
    int want_names, want_dates;
    if (!PyArg_ParseTuple(args, "O!y*y*ppO!O", &PyList_Type, &texts, &vof, &vb, &want_names,
                          &want_dates, &PyDict_Type, &cache, &canonical))
        return NULL;
    if (!corr_tables_ready)
        corr_init_tables();
    corr_state *cs = (corr_state *)calloc(1, sizeof(corr_state));
    Py_ssize_t n_texts = PyList_GET_SIZE(texts);
    Py_ssize_t *first = NULL;  /* per text: where its hits start in win */
    cwin *win = NULL, *tmp = NULL;
    i64vec nptr = {0}, nids = {0}, dptr = {0}, dids = {0};
    PyObject *result = NULL;
    const int64_t *text_of = (const int64_t *)vof.buf, *bounds = (const int64_t *)vb.buf;
    Py_ssize_t n = vof.len / (Py_ssize_t)sizeof(int64_t);
    if (cs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (vb.len != n * 4 * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "corr_values: four bounds per hit");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t k = text_of[i];
        if (k < 0 || k >= n_texts || !PyUnicode_Check(PyList_GET_ITEM(texts, k))) {
            PyErr_SetString(PyExc_ValueError, "corr_values: no such text");
            goto done;
        }
        const int64_t *q = bounds + 4 * i;
        if (q[0] < 0 || q[0] > q[1] || q[1] > q[2] || q[2] > q[3]
            || q[3] > PyUnicode_GET_LENGTH(PyList_GET_ITEM(texts, k))) {
            PyErr_SetString(PyExc_ValueError, "corr_values: bounds out of order or range");
            goto done;
        }
    }
    cs->names.cache = cache;
    cs->names.canonical = canonical;
    cs->want_names = want_names;
    cs->want_dates = want_dates;
    first = (Py_ssize_t *)calloc((size_t)n_texts + 1, sizeof(Py_ssize_t));
    win = (cwin *)malloc((size_t)(n ? n : 1) * sizeof(cwin));
    tmp = (cwin *)malloc((size_t)(n ? n : 1) * sizeof(cwin));
    cs->range = (int64_t *)malloc((size_t)(n ? n : 1) * 4 * sizeof(int64_t));
    if (first == NULL || win == NULL || tmp == NULL || cs->range == NULL
        || (want_dates && dateset_claim(&cs->date_set) < 0)) {
        PyErr_NoMemory();
        goto done;
    }
    /* the hits grouped by text, in hit order within a text */
    for (Py_ssize_t i = 0; i < n; i++)
        first[text_of[i] + 1]++;
    for (Py_ssize_t k = 0; k < n_texts; k++)
        first[k + 1] += first[k];
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t at = first[text_of[i]]++;
        win[at] = (cwin){bounds[4 * i], bounds[4 * i + 3], i};
    }
    for (Py_ssize_t k = 0, start = 0; k < n_texts; start = first[k++]) {
        if (first[k] > start
            && text_hits(cs, PyList_GET_ITEM(texts, k), bounds, win + start, first[k] - start, tmp) < 0) {
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            goto done;
        }
    }
    if (hit_order(cs->range, n, 0, &cs->nids, &nptr, &nids) < 0
        || hit_order(cs->range, n, 2, &cs->dids, &dptr, &dids) < 0
        || cs->nids.failed || cs->dids.failed || cs->name_set.failed || cs->date_set.set.failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *n_res = want_names ? vset_result(&cs->name_set, &nptr, &nids) : Py_NewRef(Py_None);
    if (n_res == NULL)
        goto done;
    PyObject *d_res = want_dates ? vset_result(&cs->date_set.set, &dptr, &dids) : Py_NewRef(Py_None);
    if (d_res == NULL) {
        Py_DECREF(n_res);
        goto done;
    }
    result = Py_BuildValue("(NN)", n_res, d_res);
done:
    if (cs != NULL) {
        free(cs->names.value.data);
        free(cs->names.head.data);
        free(cs->names.tail.data);
        wtable_free(&cs->words);
        free(cs->dates.d);
        free(cs->dates.starts.data);
        free(cs->edge.d);
        free(cs->edge.starts.data);
        vset_free(&cs->name_set);
        vset_free(&cs->date_set.set);
        dateset_release(&cs->date_set);
        free(cs->nids.data);
        free(cs->dids.data);
        free(cs->range);
        free(cs);
    }
    free(first);
    free(win);
    free(tmp);
    free(nptr.data);
    free(nids.data);
    free(dptr.data);
    free(dids.data);
    PyBuffer_Release(&vof);
    PyBuffer_Release(&vb);
    return result;
}

static const char corr_member_doc[] =
    "corr_member(ptr, keys, people, hit_ptr, ids, value_keys) -> bytes\n"
    "Per hit 1 when a value's key is among its person's corroborating keys.";

static PyObject *corr_member(PyObject *self, PyObject *args)
{
    Py_buffer vp, vk, vpeople, vhp, vids, vvk;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*", &vp, &vk, &vpeople, &vhp, &vids, &vvk))
        return NULL;
    const int64_t *ptr = (const int64_t *)vp.buf, *people = (const int64_t *)vpeople.buf;
    const int64_t *hp = (const int64_t *)vhp.buf, *ids = (const int64_t *)vids.buf;
    const uint64_t *keys = (const uint64_t *)vk.buf, *vkeys = (const uint64_t *)vvk.buf;
    Py_ssize_t n_people = vp.len / 8 - 1, n_keys = vk.len / 8, n = vpeople.len / 8;
    Py_ssize_t n_ids = vids.len / 8, n_values = vvk.len / 8;
    PyObject *out = NULL;
    if (vhp.len / 8 != n + 1) {
        PyErr_SetString(PyExc_ValueError, "corr_member: hit_ptr must have one more entry than people");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        goto done;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        o[i] = 0;
        int64_t p = people[i];
        if (p < 0 || p >= n_people || hp[i] < 0 || hp[i] > hp[i + 1] || hp[i + 1] > n_ids)
            goto bad;
        /* A person's place in ptr, and their keys, are a cache miss each (hits come in
         * text order, people in any): asked for ahead, and only for hits with values. */
        if (i + 16 < n && (uint64_t)people[i + 16] < (uint64_t)n_people)
            __builtin_prefetch(&ptr[people[i + 16]]);
        if (i + 8 < n && (uint64_t)people[i + 8] < (uint64_t)n_people) {
            int64_t ahead = ptr[people[i + 8]];
            if (ahead >= 0 && ahead < n_keys)
                __builtin_prefetch(&keys[ahead]);
        }
        if (hp[i] == hp[i + 1])
            continue;
        int64_t lo0 = ptr[p], hi0 = ptr[p + 1];
        if (lo0 < 0 || lo0 > hi0 || hi0 > n_keys)
            goto bad;
        for (int64_t j = hp[i]; j < hp[i + 1] && !o[i]; j++) {
            int64_t v = ids[j];
            if (v < 0 || v >= n_values)
                goto bad;
            uint64_t k = vkeys[v];
            int64_t lo = lo0, hi = hi0;
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (keys[mid] < k)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            o[i] = (uint8_t)(lo < hi0 && keys[lo] == k);
        }
    }
    goto done;
bad:
    Py_CLEAR(out);
    PyErr_SetString(PyExc_ValueError, "corr_member: index out of range");
done:
    PyBuffer_Release(&vp);
    PyBuffer_Release(&vk);
    PyBuffer_Release(&vpeople);
    PyBuffer_Release(&vhp);
    PyBuffer_Release(&vids);
    PyBuffer_Release(&vvk);
    return out;
}

#define CORR_METHODS                                                          \
    {"corr_values", corr_values, METH_VARARGS, corr_values_doc},              \
    {"corr_member", corr_member, METH_VARARGS, corr_member_doc},
