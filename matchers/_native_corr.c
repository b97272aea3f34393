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
 *     i the value ids ids[ptr[i]:ptr[i + 1]] (int64 arrays as bytes).
 * corr_member(ptr, keys, people, ptr_hits, ids, value_keys)
 *     Per hit: does one of its values' keys belong to its person's sorted keys
 *     keys[ptr[p]:ptr[p + 1]]? One byte (0/1) per hit.
 *
 * A word of ASCII letters is lower-cased here; any other word is canonicalised by
 * `canonical_word` (NFKC, case folding: Python's own), memoised in `word_cache`.
 */

/* ---------------------------------------------------------------------------------- */
/* Python's re classes for str patterns, as the expressions of name.py and
 * birth_date.py use them: \w, \d, \s and [^\W\d_] (a "letter"). */

static uint8_t C_LETTER[256], C_WORD[256], C_DECIMAL[256], C_SPACE[256];
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

typedef struct {
    u8vec blob;
    i64vec offs;  /* offs[k] = start of value k; one more at the end when returned */
    int64_t *slots;
    uint64_t *slot_hash;
    Py_ssize_t nslots, count;
    int failed;
} vset;

static uint64_t bytes_hash(const uint8_t *p, Py_ssize_t n)
{
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static int vset_grow(vset *s)
{
    Py_ssize_t n = s->nslots ? s->nslots * 2 : 4096;
    int64_t *slots = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    uint64_t *hashes = (uint64_t *)malloc((size_t)n * sizeof(uint64_t));
    if (slots == NULL || hashes == NULL) {
        free(slots);
        free(hashes);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        slots[i] = -1;
    for (Py_ssize_t i = 0; i < s->nslots; i++) {
        if (s->slots[i] < 0)
            continue;
        Py_ssize_t j = (Py_ssize_t)(s->slot_hash[i] & (uint64_t)(n - 1));
        while (slots[j] >= 0)
            j = (j + 1) & (n - 1);
        slots[j] = s->slots[i];
        hashes[j] = s->slot_hash[i];
    }
    free(s->slots);
    free(s->slot_hash);
    s->slots = slots;
    s->slot_hash = hashes;
    s->nslots = n;
    return 0;
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
    Py_ssize_t j = (Py_ssize_t)(h & (uint64_t)(s->nslots - 1));
    for (;;) {
        int64_t id = s->slots[j];
        if (id < 0)
            break;
        if (s->slot_hash[j] == h) {
            int64_t a = s->offs.data[id];
            int64_t b = id + 1 < s->offs.len ? s->offs.data[id + 1] : (int64_t)s->blob.len;
            if (b - a == n && memcmp(s->blob.data + a, p, (size_t)n) == 0)
                return id;
        }
        j = (j + 1) & (s->nslots - 1);
    }
    int64_t id = s->count++;
    vec_push(&s->offs, (int64_t)s->blob.len);
    u8_append(&s->blob, p, n);
    if (s->offs.failed || s->blob.failed) {
        s->failed = 1;
        return -1;
    }
    s->slots[j] = id;
    s->slot_hash[j] = h;
    return id;
}

static void vset_free(vset *s)
{
    free(s->blob.data);
    free(s->offs.data);
    free(s->slots);
    free(s->slot_hash);
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
/* names: runs of two or more words (name.py's _RUN_RE and run_values) */

typedef struct {
    PyObject *cache;     /* dict: word (str) -> canonical word (str) */
    PyObject *canonical; /* callable for a word not in the cache */
    u8vec words;         /* canonical words of the current run, back to back */
    i64vec wstart;       /* where each of them starts in words, and the end */
    u8vec value;         /* the value being joined */
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

/* Append the canonical form of word text[a:b] to st->words; -1 on error. */
static inline __attribute__((always_inline)) int add_word_k(name_state *st, PyObject *text, const utext *t, Py_ssize_t a, Py_ssize_t b)
{
    int ascii = 1;
    for (Py_ssize_t i = a; i < b; i++) {
        if (CH(t, i) >= 128) {
            ascii = 0;
            break;
        }
    }
    if (ascii) {
        uint8_t buf[256];
        Py_ssize_t i = a;
        while (i < b) {
            Py_ssize_t n = 0;
            for (; i < b && n < (Py_ssize_t)sizeof(buf); i++, n++) {
                Py_UCS4 c = CH(t, i);
                buf[n] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            }
            u8_append(&st->words, buf, n);
        }
        return st->words.failed ? -1 : 0;
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
    u8_append(&st->words, (const uint8_t *)u, n);
    return st->words.failed ? -1 : 0;
}

/* The 2- and 3-word sequences of the run's words, added to the set and to ids. */
static int add_run_values(name_state *st, int nwords, vset *set, i64vec *ids)
{
    for (int k = 2; k <= 3 && k <= nwords; k++) {
        for (int i = 0; i + k <= nwords; i++) {
            st->value.len = 0;
            for (int j = i; j < i + k; j++) {
                if (j > i)
                    u8_append(&st->value, (const uint8_t *)" ", 1);
                u8_append(&st->value, st->words.data + st->wstart.data[j],
                          st->wstart.data[j + 1] - st->wstart.data[j]);
            }
            if (st->value.failed)
                return -1;
            int64_t id = vset_add(set, st->value.data, st->value.len);
            if (id < 0)
                return -1;
            vec_push(ids, id);
        }
    }
    return ids->failed ? -1 : 0;
}

/* The name values of text[x:y] read on its own. */
static inline __attribute__((always_inline)) int span_names_k(name_state *st, PyObject *text, const utext *t, Py_ssize_t x,
                      Py_ssize_t y, vset *set, i64vec *ids)
{
    Py_ssize_t p = x;
    while (p < y) {
        Py_UCS4 c = CH(t, p);
        if (!is_letter(c) || (p > x && is_letter(CH(t, p - 1)))) {
            p++;
            continue;
        }
        /* A word; a run needs gaps and another word after it. A failed run
         * resumes after the word: a run from inside it would fail the same way. */
        Py_ssize_t we = word_end_k(t, p, y);
        Py_ssize_t g = we;
        while (g < y && is_gap(CH(t, g)))
            g++;
        if (g == we || g >= y || !is_letter(CH(t, g))) {
            p = we;
            continue;
        }
        st->words.len = 0;
        st->wstart.len = 0;
        vec_push(&st->wstart, 0);
        int nwords = 0;
        Py_ssize_t a = p, b = we;
        for (;;) {
            if (add_word_k(st, text, t, a, b) < 0)
                return -1;
            vec_push(&st->wstart, (int64_t)st->words.len);
            if (st->wstart.failed)
                return -1;
            nwords++;
            g = b;
            while (g < y && is_gap(CH(t, g)))
                g++;
            if (g == b || g >= y || !is_letter(CH(t, g)))
                break;
            a = g;
            b = word_end_k(t, g, y);
        }
        if (add_run_values(st, nwords, set, ids) < 0)
            return -1;
        p = b;
    }
    return 0;
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

/* "YYYY-MM-DD" of a valid date (1800 <= y < 2100), NUL-terminated */
static void write_iso(char *iso, int y, int m, int d)
{
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
    iso[10] = 0;
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
 * *iso gets "YYYY-MM-DD" when the date is valid, else "" (a match all the same). */
static inline __attribute__((always_inline)) Py_ssize_t date_at_k(const utext *t, Py_ssize_t x, Py_ssize_t p, Py_ssize_t y,
                          char *iso)
{
    iso[0] = 0;
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
            if (valid_date(year, m, d))
                write_iso(iso, year, m, d);
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
    int m = (int)(m0 - '0') * 10 + dec_value(m1), d = (int)(d0 - '0') * 10 + dec_value(d1);
    if (valid_date(year, m, d))
        write_iso(iso, year, m, d);
    return p + 10;
}

/* The first year at or after i in text[x:y], or -1: "18", "19" or "20" and two more
 * digits, after no \w (a date's year follows [./] or a space, or starts the date,
 * whose lookbehind refuses \w). */
static inline __attribute__((always_inline)) Py_ssize_t next_year_k(const utext *t, Py_ssize_t x, Py_ssize_t i, Py_ssize_t y)
{
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

/* The furthest a date's year starts from the date's start: "dd . mm . " */
#define YEAR_REACH 10

/* The birth dates of text[x:y] read on its own. */
static inline __attribute__((always_inline)) int span_dates_k(const utext *t, Py_ssize_t x, Py_ssize_t y, vset *set, i64vec *ids)
{
    char iso[16];
    Py_ssize_t p = x, year = -1;
    while (p < y) {
        /* No date starts more than YEAR_REACH before a year: skip to there. */
        if (year < p && (year = next_year_k(t, x, p, y)) < 0)
            break;
        if (year - p > YEAR_REACH)
            p = year - YEAR_REACH;
        Py_UCS4 c = CH(t, p);
        /* every date starts with a digit */
        if (!is_decimal(c)) {
            p++;
            continue;
        }
        Py_ssize_t end = date_at_k(t, x, p, y, iso);
        if (end < 0) {
            p++;
            continue;
        }
        if (iso[0]) {
            int64_t id = vset_add(set, (const uint8_t *)iso, 10);
            if (id < 0)
                return -1;
            vec_push(ids, id);
        }
        p = end;
    }
    return ids->failed ? -1 : 0;
}

/* The readers above, compiled once per str kind (the kind a constant in each copy). */
static int span_names(name_state *st, PyObject *text, const utext *t, Py_ssize_t x,
                      Py_ssize_t y, vset *set, i64vec *ids)
{
    const void *d = t->data;
    switch (t->kind) {
    case PyUnicode_1BYTE_KIND:
        return span_names_k(st, text, &(const utext){PyUnicode_1BYTE_KIND, d}, x, y, set, ids);
    case PyUnicode_2BYTE_KIND:
        return span_names_k(st, text, &(const utext){PyUnicode_2BYTE_KIND, d}, x, y, set, ids);
    default:
        return span_names_k(st, text, &(const utext){PyUnicode_4BYTE_KIND, d}, x, y, set, ids);
    }
}

static int span_dates(const utext *t, Py_ssize_t x, Py_ssize_t y, vset *set, i64vec *ids)
{
    switch (t->kind) {
    case PyUnicode_1BYTE_KIND:
        return span_dates_k(&(const utext){PyUnicode_1BYTE_KIND, t->data}, x, y, set, ids);
    case PyUnicode_2BYTE_KIND:
        return span_dates_k(&(const utext){PyUnicode_2BYTE_KIND, t->data}, x, y, set, ids);
    default:
        return span_dates_k(&(const utext){PyUnicode_4BYTE_KIND, t->data}, x, y, set, ids);
    }
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
    name_state *st = (name_state *)calloc(1, sizeof(name_state));
    vset names = {0}, dates = {0};
    i64vec nptr = {0}, nids = {0}, dptr = {0}, dids = {0};
    PyObject *result = NULL;
    if (st == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    st->cache = cache;
    st->canonical = canonical;
    vec_push(&nptr, 0);
    vec_push(&dptr, 0);
    const int64_t *text_of = (const int64_t *)vof.buf, *bounds = (const int64_t *)vb.buf;
    Py_ssize_t n = vof.len / (Py_ssize_t)sizeof(int64_t);
    if (vb.len != n * 4 * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "corr_values: four bounds per hit");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t k = text_of[i];
        if (k < 0 || k >= PyList_GET_SIZE(texts) || !PyUnicode_Check(PyList_GET_ITEM(texts, k))) {
            PyErr_SetString(PyExc_ValueError, "corr_values: no such text");
            goto done;
        }
        PyObject *text = PyList_GET_ITEM(texts, k);
        utext t = {PyUnicode_KIND(text), PyUnicode_DATA(text)};
        const int64_t *q = bounds + 4 * i;
        if (q[0] < 0 || q[0] > q[1] || q[1] > q[2] || q[2] > q[3]
            || q[3] > PyUnicode_GET_LENGTH(text)) {
            PyErr_SetString(PyExc_ValueError, "corr_values: bounds out of order or range");
            goto done;
        }
        int err = 0;
        if (want_names)
            err = span_names(st, text, &t, q[0], q[1], &names, &nids) < 0
                  || span_names(st, text, &t, q[2], q[3], &names, &nids) < 0;
        if (!err && want_dates)
            err = span_dates(&t, q[0], q[1], &dates, &dids) < 0
                  || span_dates(&t, q[2], q[3], &dates, &dids) < 0;
        if (err) {
            if (!PyErr_Occurred())
                PyErr_NoMemory();
            goto done;
        }
        vec_push(&nptr, nids.len);
        vec_push(&dptr, dids.len);
    }
    if (nptr.failed || dptr.failed || names.failed || dates.failed) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *n_res = want_names ? vset_result(&names, &nptr, &nids) : Py_NewRef(Py_None);
    if (n_res == NULL)
        goto done;
    PyObject *d_res = want_dates ? vset_result(&dates, &dptr, &dids) : Py_NewRef(Py_None);
    if (d_res == NULL) {
        Py_DECREF(n_res);
        goto done;
    }
    result = Py_BuildValue("(NN)", n_res, d_res);
done:
    if (st != NULL) {
        free(st->words.data);
        free(st->value.data);
        free(st->wstart.data);
        free(st);
    }
    vset_free(&names);
    vset_free(&dates);
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
