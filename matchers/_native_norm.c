/* Text normalisation (matchers/normalize.py) in C. Part of the unity build of
 * matchers/_native.c, which includes this file: the helpers defined there
 * (i64vec, u8vec, ...) are in scope.
 *
 * normalize_text does what normalize.normalize's Python loop does, with the same
 * result: it walks the text, matches the alternatives of normalize._pattern at each
 * character where one can start (entity, tag, escape, SQL doubled quote, run of
 * special characters, in that order), copies the gaps between matches as they are
 * and builds the output text with its offset maps. What the matches become stays
 * Python's: replacements come from dicts that Python fills on a miss (html.unescape,
 * escape decoding, NFKC...), and HTML tags (case-insensitive, comments, script
 * bodies) are matched by a Python callback with the tag regex. Only the fully
 * specified ASCII syntax of entities, escapes and quotes is matched here.
 *
 * Where the time goes on leak text (dense HTML, dumps): the gaps between matches are
 * found 16 or 8 Latin-1 characters at a time (nc_block_hits, nc_word_hits), 8 UCS-2
 * characters at a time (nc_block_hits_ucs2), a
 * replacement seen before in the same call is taken from a small C cache instead of
 * asking the dicts again (nc_replace), and the output buffers are kept from one call
 * to the next (nc_scratch), which spares the page faults of fresh memory.
 *
 * The GIL is held throughout (the callbacks need it). Exceptions raised here carry
 * no text. */

/* bits of the code-point table that normalize._native_table() passes (0x110000 bytes) */
#define NC_SPECIAL 1   /* in normalize._special_class: starts or continues a special run */
#define NC_COMBINING 2 /* unicodedata.combining() != 0: composes with the char before */
#define NC_TABLE_LEN 0x110000

#if defined(__GNUC__) || defined(__clang__)
#define NC_INLINE static inline __attribute__((always_inline))
#else
#define NC_INLINE static inline
#endif

typedef struct {
    /* input */
    PyObject *text;
    int kind;
    const void *data;
    Py_ssize_t n;
    int html, escapes, sql;
    const uint8_t *table;
    uint8_t trigger[256]; /* code points < 256 where a match can start */
    int words;            /* below 0x80, only & < \\ ' can: nc_word_hits applies */
    int ascii_hits;       /* nc_word_hits' bits of & < \\ */
    /* -> (replacement, verbatim): a cluster of special characters, and an entity,
       escape or doubled quote */
    PyObject *pieces, *fill_piece, *matches, *fill_match;
    PyObject *tag_at;                /* (text, t) -> None | (end, space) */
    const char *inline_names;        /* " a abbr b ... ": the inline tags */
    Py_ssize_t inline_len;
    /* the inline tags by first letter (nc_setup): bit i of inl_mask[letter] is the
       name inline_names[inl_off[i]:][:inl_len[i]]; inl_linear: too many names for
       that, nc_inline searches the string */
    uint64_t inl_mask[26];
    uint16_t inl_off[64];
    uint8_t inl_len[64];
    int inl_linear;
    struct nc_slot *cache; /* the replacements looked up in this call (nc_replace) */
    int scratch;           /* out, segs and matched are nc_scratch's buffers */
    /* output: code points of okind (the input's kind, widened to UCS4 when a
       replacement does not fit) and the map back to the input as segments,
       (out start, in start, in end, verbatim) quads: see normalize.Normalized */
    void *out;
    int okind;
    Py_ssize_t len, cap;
    size_t out_bytes; /* out's size (cap characters of okind, or more) */
    i64vec segs;
    i64vec matched; /* (a, b) pairs */
} normctx;

NC_INLINE Py_UCS4 nc_read(int kind, const void *d, Py_ssize_t i)
{
    if (kind == PyUnicode_1BYTE_KIND)
        return ((const Py_UCS1 *)d)[i];
    if (kind == PyUnicode_2BYTE_KIND)
        return ((const Py_UCS2 *)d)[i];
    return ((const Py_UCS4 *)d)[i];
}

/* the code point at i, or 0 past the end (0 is in none of the classes below, like
   the end of the text for the regex) */
NC_INLINE Py_UCS4 nc_at(const normctx *c, int kind, Py_ssize_t i)
{
    return i < c->n ? nc_read(kind, c->data, i) : 0;
}

NC_INLINE int nc_trigger(const normctx *c, Py_UCS4 ch)
{
    return ch < 256 ? c->trigger[ch] : (c->table[ch] & NC_SPECIAL);
}

#define NC_DIGIT(ch) ((ch) >= '0' && (ch) <= '9')
#define NC_ALPHA(ch) (((ch) | 0x20) >= 'a' && ((ch) | 0x20) <= 'z')
#define NC_ALNUM(ch) (NC_DIGIT(ch) || NC_ALPHA(ch))
#define NC_HEX(ch) (NC_DIGIT(ch) || (((ch) | 0x20) >= 'a' && ((ch) | 0x20) <= 'f'))

/* -- output ------------------------------------------------------------------------ */

static int nc_reserve(normctx *c, Py_ssize_t extra)
{
    if (c->len + extra <= c->cap)
        return 0;
    Py_ssize_t cap = c->cap;
    while (cap < c->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 16) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    void *out = PyMem_Realloc(c->out, (size_t)cap * (size_t)c->okind);
    if (out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    c->out = out;
    c->cap = cap;
    c->out_bytes = (size_t)cap * (size_t)c->okind;
    return 0;
}

/* the output from now on in UCS4 (a replacement beyond the input's kind) */
static int nc_widen(normctx *c)
{
    /* (room for the text's length: the scratch buffer's cap can be far more) */
    Py_ssize_t cap = (c->len > c->n ? c->len : c->n) + 16;
    Py_UCS4 *wide = (Py_UCS4 *)PyMem_Malloc((size_t)cap * sizeof(Py_UCS4));
    if (wide == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->len; i++)
        wide[i] = nc_read(c->okind, c->out, i);
    PyMem_Free(c->out);
    c->out = wide;
    c->okind = PyUnicode_4BYTE_KIND;
    c->cap = cap;
    c->out_bytes = (size_t)cap * sizeof(Py_UCS4);
    return 0;
}

NC_INLINE void nc_put(normctx *c, Py_ssize_t i, Py_UCS4 ch)
{
    if (c->okind == PyUnicode_1BYTE_KIND)
        ((Py_UCS1 *)c->out)[i] = (Py_UCS1)ch;
    else if (c->okind == PyUnicode_2BYTE_KIND)
        ((Py_UCS2 *)c->out)[i] = (Py_UCS2)ch;
    else
        ((Py_UCS4 *)c->out)[i] = ch;
}

/* `m` output characters from the input span [a, b): each from its own input
   position (verbatim: the output is text[a:b] itself) or all from the whole span.
   A verbatim segment right after a verbatim one continues it. */
NC_INLINE int nc_segment(normctx *c, Py_ssize_t m, Py_ssize_t a, Py_ssize_t b, int verbatim)
{
    i64vec *v = &c->segs;
    if (verbatim && v->len && v->data[v->len - 1] && v->data[v->len - 2] == a) {
        v->data[v->len - 2] = b;
    } else {
        if (vec_room(v, 4) < 0) {
            PyErr_NoMemory();
            return -1;
        }
        int64_t *d = v->data + v->len;
        d[0] = (int64_t)c->len;
        d[1] = (int64_t)a;
        d[2] = (int64_t)b;
        d[3] = verbatim != 0;
        v->len += 4;
    }
    c->len += m;
    return 0;
}

/* text[a:b] as it is: each code point maps to itself */
NC_INLINE int nc_verbatim(normctx *c, int kind, Py_ssize_t a, Py_ssize_t b)
{
    if (b <= a)
        return 0;
    if (nc_reserve(c, b - a) < 0)
        return -1;
    if (c->okind == kind) {
        memcpy((char *)c->out + c->len * kind, (const char *)c->data + a * kind,
               (size_t)(b - a) * (size_t)kind);
    } else { /* the output was widened */
        Py_UCS4 *out = (Py_UCS4 *)c->out + c->len;
        for (Py_ssize_t i = a; i < b; i++)
            *out++ = nc_read(kind, c->data, i);
    }
    return nc_segment(c, b - a, a, b, 1);
}

/* rep for the input span [a, b): every code point maps to the whole span, or, when
   verbatim (rep is text[a:b] itself), each to its own input position */
static int nc_emit(normctx *c, PyObject *rep, Py_ssize_t a, Py_ssize_t b, int verbatim)
{
    Py_ssize_t m = PyUnicode_GET_LENGTH(rep);
    if (m == 0)
        return 0;
    int rkind = PyUnicode_KIND(rep);
    if (rkind > c->okind && nc_widen(c) < 0) /* (a str's kind is its narrowest) */
        return -1;
    if (nc_reserve(c, m) < 0)
        return -1;
    const void *rdata = PyUnicode_DATA(rep);
    for (Py_ssize_t k = 0; k < m; k++)
        nc_put(c, c->len + k, PyUnicode_READ(rkind, rdata, k));
    return nc_segment(c, m, a, b, verbatim);
}

/* a tag that separates words: one space for the input span [a, b) */
static int nc_space(normctx *c, Py_ssize_t a, Py_ssize_t b)
{
    if (nc_reserve(c, 1) < 0)
        return -1;
    nc_put(c, c->len, ' ');
    return nc_segment(c, 1, a, b, 0);
}

static int nc_add_match(normctx *c, Py_ssize_t a, Py_ssize_t b)
{
    vec_push(&c->matched, (int64_t)a);
    vec_push(&c->matched, (int64_t)b);
    if (c->matched.failed) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* the cached value of text[a:b] in `cache`, else fill(text[a:b]) (new references) */
static PyObject *nc_lookup(normctx *c, PyObject *cache, PyObject *fill, Py_ssize_t a,
                           Py_ssize_t b)
{
    PyObject *key = PyUnicode_Substring(c->text, a, b);
    if (key == NULL)
        return NULL;
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value != NULL)
        Py_INCREF(value);
    else if (!PyErr_Occurred())
        value = PyObject_CallOneArg(fill, key);
    Py_DECREF(key);
    return value;
}

/* The replacements looked up in one call, by source text: leaked text repeats a few
   entities and escapes thousands of times, and a dict lookup needs the source as a
   str. Direct-mapped; what a slot holds is what the Python caches gave for it (their
   values depend on the source alone). */
#define NC_CACHE_SLOTS 256
#define NC_CACHE_KEY 34 /* the longest entity: "&" + 32 alphanumerics + ";" */

typedef struct nc_slot {
    PyObject *rep; /* a str (strong reference), NULL: empty slot */
    int verbatim;
    int is_piece; /* from `pieces`, else from `matches` */
    Py_ssize_t len;
    Py_UCS4 key[NC_CACHE_KEY];
} nc_slot;

static void nc_cache_free(normctx *c)
{
    if (c->cache == NULL)
        return;
    for (int i = 0; i < NC_CACHE_SLOTS; i++)
        Py_XDECREF(c->cache[i].rep);
    PyMem_Free(c->cache);
    c->cache = NULL;
}

/* the replacement of text[a:b] (an entity, escape or doubled quote, or a cluster of
   special characters), from `cache` or `fill`: a (str, verbatim) pair */
static int nc_replace(normctx *c, PyObject *cache, PyObject *fill, Py_ssize_t a,
                      Py_ssize_t b)
{
    int is_piece = cache == c->pieces;
    Py_ssize_t len = b - a;
    nc_slot *slot = NULL;
    if (len <= NC_CACHE_KEY) {
        if (c->cache == NULL) {
            c->cache = (nc_slot *)PyMem_Calloc(NC_CACHE_SLOTS, sizeof(nc_slot));
            if (c->cache == NULL) {
                PyErr_NoMemory();
                return -1;
            }
        }
        Py_UCS4 key[NC_CACHE_KEY];
        uint32_t h = 2166136261u ^ (uint32_t)is_piece;
        for (Py_ssize_t i = 0; i < len; i++) {
            key[i] = nc_read(c->kind, c->data, a + i);
            h = (h ^ key[i]) * 16777619u;
        }
        slot = &c->cache[(h ^ (h >> 16)) % NC_CACHE_SLOTS];
        if (slot->rep != NULL && slot->len == len && slot->is_piece == is_piece) {
            Py_ssize_t i = 0; /* (a short loop: cheaper than a call of memcmp) */
            while (i < len && slot->key[i] == key[i])
                i++;
            if (i == len)
                return nc_emit(c, slot->rep, a, b, slot->verbatim);
        }
        Py_CLEAR(slot->rep);
        memcpy(slot->key, key, (size_t)len * sizeof(Py_UCS4));
        slot->len = len;
        slot->is_piece = is_piece;
    }
    PyObject *pair = nc_lookup(c, cache, fill, a, b);
    if (pair == NULL)
        return -1;
    int rc = -1;
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
        || !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))) {
        PyErr_SetString(PyExc_TypeError,
                        "normalize_text: a replacement must be a (str, bool) pair");
    } else {
        int verbatim = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 1));
        if (verbatim >= 0) {
            PyObject *rep = PyTuple_GET_ITEM(pair, 0);
            if (slot != NULL) {
                slot->rep = Py_NewRef(rep);
                slot->verbatim = verbatim;
            }
            rc = nc_emit(c, rep, a, b, verbatim);
        }
    }
    Py_DECREF(pair);
    return rc;
}

/* -- the alternatives of normalize._pattern ------------------------------------------ */

/* normalize._ENTITY at t (text[t] == '&'): its end, or -1 */
NC_INLINE Py_ssize_t nc_entity(const normctx *c, int kind, Py_ssize_t t)
{
    Py_UCS4 c1 = nc_at(c, kind, t + 1);
    if (c1 == '#') {
        Py_UCS4 c2 = nc_at(c, kind, t + 2);
        Py_ssize_t k;
        if (NC_DIGIT(c2)) { /* #[0-9]{1,7};? */
            for (k = t + 3; k < t + 9 && NC_DIGIT(nc_at(c, kind, k)); k++)
                ;
        } else if (c2 == 'x' || c2 == 'X') { /* #[xX][0-9a-fA-F]{1,6};? */
            for (k = t + 3; k < t + 9 && NC_HEX(nc_at(c, kind, k)); k++)
                ;
            if (k == t + 3)
                return -1;
        } else {
            return -1;
        }
        return nc_at(c, kind, k) == ';' ? k + 1 : k;
    }
    if (!NC_ALPHA(c1))
        return -1;
    /* [A-Za-z][A-Za-z0-9]{1,31}; : the whole alphanumeric run, then ';' */
    Py_ssize_t k = t + 2;
    while (k < t + 34 && NC_ALNUM(nc_at(c, kind, k)))
        k++;
    if (k > t + 2 && k < t + 34 && nc_at(c, kind, k) == ';')
        return k + 1;
    /* (?:amp|lt|gt|quot|nbsp)(?![A-Za-z0-9;]) */
    static const char *const legacy[] = {"amp", "lt", "gt", "quot", "nbsp"};
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        const char *name = legacy[i];
        Py_ssize_t j = 0;
        while (name[j] && nc_at(c, kind, t + 1 + j) == (Py_UCS4)(uint8_t)name[j])
            j++;
        if (name[j] == '\0') {
            Py_UCS4 next = nc_at(c, kind, t + 1 + j);
            return NC_ALNUM(next) || next == ';' ? -1 : t + 1 + j;
        }
    }
    return -1;
}

/* normalize._ESCAPE at t (text[t] == '\\'): its end, or -1 */
NC_INLINE Py_ssize_t nc_escape(const normctx *c, int kind, Py_ssize_t t)
{
    Py_UCS4 c1 = nc_at(c, kind, t + 1);
    if (c1 == 'u') { /* u[0-9a-fA-F]{4}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})? */
        for (Py_ssize_t k = t + 2; k < t + 6; k++)
            if (!NC_HEX(nc_at(c, kind, k)))
                return -1;
        Py_ssize_t k = t + 6;
        Py_UCS4 d = nc_at(c, kind, k + 2) | 0x20, e = nc_at(c, kind, k + 3) | 0x20;
        if (nc_at(c, kind, k) == '\\' && nc_at(c, kind, k + 1) == 'u' && d == 'd'
            && e >= 'c' && e <= 'f' && NC_HEX(nc_at(c, kind, k + 4))
            && NC_HEX(nc_at(c, kind, k + 5)))
            return k + 6;
        return k;
    }
    if (c1 == 'x') /* x[0-9a-fA-F]{2} */
        return NC_HEX(nc_at(c, kind, t + 2)) && NC_HEX(nc_at(c, kind, t + 3)) ? t + 4 : -1;
    if (c1 != 0 && c1 < 128 && strchr("nrtbf'\"\\/", (int)c1) != NULL)
        return t + 2;
    if (c1 == '0' && !NC_DIGIT(nc_at(c, kind, t + 2))) /* 0(?![0-9]) */
        return t + 2;
    return -1;
}

/* normalize._TAG at t (text[t] == '<'), through the Python callback: its end or -1
   (-2: error), and whether it becomes a space */
static Py_ssize_t nc_tag_python(normctx *c, Py_ssize_t t, int *space)
{
    PyObject *r = PyObject_CallFunction(c->tag_at, "On", c->text, t);
    if (r == NULL)
        return -2;
    Py_ssize_t end = -1;
    if (r != Py_None) {
        if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 2) {
            PyErr_SetString(PyExc_TypeError, "normalize_text: tag_at must give (end, space)");
            end = -2;
        } else {
            end = PyLong_AsSsize_t(PyTuple_GET_ITEM(r, 0));
            *space = end == -1 ? 0 : PyObject_IsTrue(PyTuple_GET_ITEM(r, 1));
            if (end == -1 && PyErr_Occurred()) {
                end = -2;
            } else if (*space < 0) {
                end = -2;
            } else if (end <= t || end > c->n) {
                PyErr_SetString(PyExc_ValueError, "normalize_text: tag end out of range");
                end = -2;
            }
        }
    }
    Py_DECREF(r);
    return end;
}

/* Is the lower-cased ASCII name one of normalize._INLINE_TAGS (`inline_names`: the
   names, each between spaces)? */
static int nc_inline(const normctx *c, const char *name, Py_ssize_t len)
{
    if (!c->inl_linear) { /* (name[0] is a lower-case ASCII letter) */
        for (uint64_t m = c->inl_mask[name[0] - 'a']; m; m &= m - 1) {
            int i = __builtin_ctzll(m);
            if (c->inl_len[i] != len)
                continue;
            const char *candidate = c->inline_names + c->inl_off[i];
            Py_ssize_t k = 1; /* (a short loop: cheaper than a call of memcmp) */
            while (k < len && candidate[k] == name[k])
                k++;
            if (k == len)
                return 1;
        }
        return 0;
    }
    const char *names = c->inline_names;
    for (Py_ssize_t i = 0; i + len + 1 < c->inline_len; i++)
        if (names[i] == ' ' && names[i + 1] == name[0] && names[i + len + 1] == ' '
            && memcmp(names + i + 1, name, len) == 0) /* (a call only on a first letter's match) */
            return 1;
    return 0;
}

/* The common tags in C: "<name" or "</name" in ASCII, then up to 2000 characters
   other than "<" and ">", then ">". -1: no tag here. -3: leave it to the regex, for
   what needs its case folding, \b or bodies: a non-ASCII character in or right
   after the name, comments ("<!"), and <script> / <style>. */
NC_INLINE Py_ssize_t nc_tag_ascii(const normctx *c, int kind, Py_ssize_t t, int *space)
{
    Py_ssize_t k = t + 1;
    int closing = nc_at(c, kind, k) == '/';
    k += closing;
    Py_UCS4 ch = nc_at(c, kind, k);
    if (ch >= 128 || ch == '!')
        return -3;
    if (!NC_ALPHA(ch))
        return -1;
    char name[16];
    Py_ssize_t len = 0;
    while (NC_ALNUM(ch)) {
        if (len < (Py_ssize_t)sizeof name)
            name[len] = (char)(ch | 0x20);
        len++;
        ch = nc_at(c, kind, ++k);
    }
    if (ch >= 128)
        return -3;
    if (ch == '_') /* no word boundary after the name, at any length of it */
        return -1;
    if (!closing && ((len == 6 && memcmp(name, "script", 6) == 0)
                     || (len == 5 && memcmp(name, "style", 5) == 0)))
        return -3;
    if (kind == PyUnicode_1BYTE_KIND) { /* the same test, without nc_at's bounds checks */
        const uint8_t *d = (const uint8_t *)c->data;
        Py_ssize_t stop = k + 2001 < c->n ? k + 2001 : c->n;
        while (k < stop && d[k] != '>' && d[k] != '<')
            k++;
        if (k == stop || d[k] == '<')
            return -1;
        *space = len > (Py_ssize_t)sizeof name || !nc_inline(c, name, len);
        return k + 1;
    }
    for (Py_ssize_t limit = k + 2000; k <= limit && k < c->n; k++) {
        ch = nc_read(kind, c->data, k);
        if (ch == '>') {
            *space = len > (Py_ssize_t)sizeof name || !nc_inline(c, name, len);
            return k + 1;
        }
        if (ch == '<')
            break;
    }
    return -1;
}

/* normalize._TAG at t: its end or -1 (-2: error), and whether it becomes a space */
NC_INLINE Py_ssize_t nc_tag(normctx *c, int kind, Py_ssize_t t, int *space)
{
    Py_ssize_t end = nc_tag_ascii(c, kind, t, space);
    return end == -3 ? nc_tag_python(c, t, space) : end;
}

/* a run of special characters from t: one cluster (base + marks) at a time; a mark
   at its start composes with the character before, unless a match ends there */
NC_INLINE int nc_special_run(normctx *c, int kind, Py_ssize_t t, Py_ssize_t pos,
                             Py_ssize_t *end)
{
    Py_ssize_t a = t, b = t + 1;
    while (b < c->n && (c->table[nc_read(kind, c->data, b)] & NC_SPECIAL))
        b++;
    if ((c->table[nc_read(kind, c->data, a)] & NC_COMBINING) && a > pos)
        a--;
    if (nc_add_match(c, a, b) < 0 || nc_verbatim(c, kind, pos, a) < 0)
        return -1;
    for (Py_ssize_t i = a; i < b;) {
        Py_ssize_t j = i + 1;
        while (j < b && (c->table[nc_read(kind, c->data, j)] & NC_COMBINING))
            j++;
        if (nc_replace(c, c->pieces, c->fill_piece, i, j) < 0)
            return -1;
        i = j;
    }
    *end = b;
    return 0;
}

/* -- Latin-1 text 8 characters at a time ------------------------------------------- */

#define NC_LOW7 0x7F7F7F7F7F7F7F7FULL
#define NC_HIGH 0x8080808080808080ULL

/* the high bit of each byte of w that equals the byte of bx (BCAST): exact, unlike
   HAS_ZERO, whose borrow can mark the byte after an equal one */
NC_INLINE uint64_t nc_eq(uint64_t w, uint64_t bx)
{
    uint64_t v = w ^ bx;
    return ~(((v & NC_LOW7) + NC_LOW7) | v) & NC_HIGH;
}

/* Of the 8 characters at b[i..i+8) (b[i + 8] readable), the high bit of each where
   a match can start: '&', '<' and '\\' when `ascii_hits` holds them ('&' bit 1,
   '<' bit 2, '\\' bit 4), a doubled quote when `quote`, a high byte when hit[] says
   so. Little-endian: character j is byte j. */
NC_INLINE uint64_t nc_word_hits(const uint8_t *b, Py_ssize_t i, int ascii_hits, int quote,
                                const uint8_t *hit)
{
    uint64_t w, m = 0;
    memcpy(&w, b + i, 8);
    if (ascii_hits & 1)
        m |= nc_eq(w, BCAST('&'));
    if (ascii_hits & 2)
        m |= nc_eq(w, BCAST('<'));
    if (ascii_hits & 4)
        m |= nc_eq(w, BCAST('\\'));
    if (quote) {
        uint64_t q = nc_eq(w, BCAST('\''));
        if (q) {
            uint64_t w2;
            memcpy(&w2, b + i + 1, 8);
            m |= q & nc_eq(w2, BCAST('\''));
        }
    }
    for (uint64_t hb = w & NC_HIGH; hb; hb &= hb - 1) { /* (without a branch on hit) */
        int k = __builtin_ctzll(hb);
        m |= (uint64_t)(hit[b[i + (k >> 3)]] != 0) << k;
    }
    return m;
}

/* a bit of `ascii_hits` for nc_block_hits: no byte from 0xC0 is a hit */
#define NC_UPPER_QUIET 8

/* NC_UPPER_QUIET when hit[] holds no byte from 0xC0 (Latin-1 letters: NFKC keeps them) */
static int nc_upper_quiet(const uint8_t *hit)
{
    for (int ch = 0xC0; ch < 256; ch++)
        if (hit[ch])
            return 0;
    return NC_UPPER_QUIET;
}

#if defined(__SSE2__)
/* nc_word_hits for the 16 characters at b[i..i+16) (b[i + 16] readable), one bit
   per character */
NC_INLINE uint32_t nc_block_hits(const uint8_t *b, Py_ssize_t i, int ascii_hits, int quote,
                                 const uint8_t *hit)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
    uint32_t m = 0;
    if (ascii_hits & 1)
        m |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('&')));
    if (ascii_hits & 2)
        m |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('<')));
    if (ascii_hits & 4)
        m |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
    if (quote) {
        uint32_t q = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\'')));
        if (q) {
            __m128i x2 = _mm_loadu_si128((const __m128i *)(const void *)(b + i + 1));
            m |= q & (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x2, _mm_set1_epi8('\'')));
        }
    }
    /* the high bytes to look up: with NC_UPPER_QUIET only 0x80-0xBF (the letters from
       0xC0, ä ö å of Finnish text, are then passed over without a look) */
    __m128i high = ascii_hits & NC_UPPER_QUIET ? _mm_cmplt_epi8(x, _mm_set1_epi8((char)0xC0)) : x;
    for (uint32_t hb = (uint32_t)_mm_movemask_epi8(high); hb; hb &= hb - 1) {
        int k = __builtin_ctz(hb);
        m |= (uint32_t)(hit[b[i + k]] != 0) << k;
    }
    return m;
}
#endif

#if defined(__SSE2__)
/* The triggers among the 8 UCS-2 characters at d[0..8) when the ASCII ones are only
   & < \\ ' (c->words): two bits per character. The characters from 0x80 (a few in
   the UCS-2 texts of leaks: a euro sign or a curly quote among Latin-1 text) are
   looked up one by one. */
NC_INLINE uint32_t nc_block_hits_ucs2(const normctx *c, const Py_UCS2 *d)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)d);
    __m128i hit = _mm_cmpeq_epi16(x, _mm_set1_epi16('&'));
    if (c->ascii_hits & 2)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi16(x, _mm_set1_epi16('<')));
    if (c->ascii_hits & 4)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi16(x, _mm_set1_epi16('\\')));
    if (c->sql)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi16(x, _mm_set1_epi16('\'')));
    uint32_t m = (uint32_t)_mm_movemask_epi8(hit);
    __m128i ascii = _mm_cmpeq_epi16(_mm_and_si128(x, _mm_set1_epi16((short)0xFF80)),
                                    _mm_setzero_si128());
    for (uint32_t wide = ~(uint32_t)_mm_movemask_epi8(ascii) & 0xAAAAu; wide; wide &= wide - 1) {
        int k = __builtin_ctz(wide) >> 1;
        if (nc_trigger(c, d[k]))
            m |= 3u << (2 * k);
    }
    return m;
}
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ \
    && (defined(__GNUC__) || defined(__clang__))
#define NC_WORDS 1
#else
#define NC_WORDS 0
#endif

/* The first position from t where a match can start (n if none). Latin-1 text is
   read 8 characters at a time when its triggers below 0x80 are only & < \\ ' (a
   lone quote, which starts nothing in Latin-1 text, is passed over); else skipped
   8 at a time while no byte is high or a trigger (clean_scan's test, which also
   stops at any backslash: the table decides). UCS-2 text is read 8 characters at a
   time on the same condition (there every quote of SQL text stops it, as the loop
   character by character does). */
NC_INLINE Py_ssize_t nc_next_trigger(const normctx *c, int kind, Py_ssize_t t)
{
    const Py_ssize_t n = c->n;
    if (NC_WORDS && kind == PyUnicode_1BYTE_KIND && c->words) {
        const uint8_t *b = (const uint8_t *)c->data;
#if defined(__SSE2__)
        for (; n - t >= 17; t += 16) {
            uint32_t m = nc_block_hits(b, t, c->ascii_hits, c->sql, c->trigger);
            if (m)
                return t + __builtin_ctz(m);
        }
#endif
        for (; n - t >= 9; t += 8) {
            uint64_t m = nc_word_hits(b, t, c->ascii_hits, c->sql, c->trigger);
            if (m)
                return t + (__builtin_ctzll(m) >> 3);
        }
    }
#if defined(__SSE2__)
    if (kind == PyUnicode_2BYTE_KIND && c->words) {
        const Py_UCS2 *d = (const Py_UCS2 *)c->data;
        for (; n - t >= 8; t += 8) {
            uint32_t m = nc_block_hits_ucs2(c, d + t);
            if (m)
                return t + (__builtin_ctz(m) >> 1);
        }
    }
#endif
    for (;;) {
        if (kind == PyUnicode_1BYTE_KIND) {
            const uint8_t *b = (const uint8_t *)c->data;
            uint64_t w;
            while (n - t >= 8) {
                memcpy(&w, b + t, 8);
                if (word_interesting(w, c->html, c->sql))
                    break;
                t += 8;
            }
        }
        if (t >= n || nc_trigger(c, nc_read(kind, c->data, t)))
            return t;
        t++;
    }
}

/* The loop of normalize.normalize. 1: nothing where a match can start (identity),
   0: done, -1: error. */
NC_INLINE int nc_scan(normctx *c, const int kind)
{
    const Py_ssize_t n = c->n;
    Py_ssize_t pos = 0, t = 0;
    int any = 0; /* normalize.match_starts found something */
    for (;;) {
        t = nc_next_trigger(c, kind, t);
        if (t >= n)
            break;
        Py_UCS4 ch = nc_read(kind, c->data, t);
        Py_ssize_t b = -1;
        int space = 0;
        if (ch == '\'') {
            /* match_starts counts every quote, but only doubled ones in latin-1 text */
            int doubled = nc_at(c, kind, t + 1) == '\'';
            any |= doubled || kind != PyUnicode_1BYTE_KIND;
            if (!doubled) {
                t++;
                continue;
            }
            b = t + 2;
        } else {
            any = 1;
            if (ch == '&') {
                b = nc_entity(c, kind, t);
            } else if (ch == '\\') {
                b = nc_escape(c, kind, t);
            } else if (ch == '<') {
                b = nc_tag(c, kind, t, &space);
                if (b == -2)
                    return -1;
                if (b >= 0) {
                    if (nc_add_match(c, t, b) < 0 || nc_verbatim(c, kind, pos, t) < 0
                        || (space && nc_space(c, t, b) < 0))
                        return -1;
                    pos = t = b;
                    continue;
                }
            } else {
                if (nc_special_run(c, kind, t, pos, &b) < 0)
                    return -1;
                pos = t = b;
                continue;
            }
        }
        if (b < 0) { /* a lone '&', '\\' or '<' */
            t++;
            continue;
        }
        /* an entity, an escape or a doubled quote */
        if (nc_add_match(c, t, b) < 0 || nc_verbatim(c, kind, pos, t) < 0
            || nc_replace(c, c->matches, c->fill_match, t, b) < 0)
            return -1;
        pos = t = b;
    }
    if (!any)
        return 1;
    return nc_verbatim(c, kind, pos, n);
}

static int nc_scan_ucs1(normctx *c) { return nc_scan(c, PyUnicode_1BYTE_KIND); }
static int nc_scan_ucs2(normctx *c) { return nc_scan(c, PyUnicode_2BYTE_KIND); }
static int nc_scan_ucs4(normctx *c) { return nc_scan(c, PyUnicode_4BYTE_KIND); }

/* Does the text hold a lone surrogate? (The Python path raises UnicodeEncodeError.) */
static int nc_has_surrogate(int kind, const void *d, Py_ssize_t n)
{
    int found = 0;
    if (kind == PyUnicode_2BYTE_KIND) {
        /* in 16-bit lanes (the compiler vectorises this 8 characters at a time) */
        uint16_t any = 0;
        for (Py_ssize_t i = 0; i < n; i++)
            any |= (uint16_t)((uint16_t)(((const Py_UCS2 *)d)[i] - 0xD800u) < 0x800u);
        found = any;
    } else if (kind == PyUnicode_4BYTE_KIND) {
        for (Py_ssize_t i = 0; i < n; i++)
            found |= ((const Py_UCS4 *)d)[i] - 0xD800u < 0x800u;
    }
    return found;
}

PyDoc_STRVAR(normalize_text_doc,
"normalize_text(text, html_tags, escapes, sql, (table, pieces, fill_piece, matches,\n"
"               fill_match, tag_at, inline_names))\n"
"    -> (out, segments, matched) | None | NotImplemented\n\n"
"normalize.normalize's loop (see there). `table`: 0x110000 bytes, bit 1 special\n"
"(normalize._special_class), bit 2 combining. `pieces`: cluster of special\n"
"characters -> (replacement, verbatim), `fill_piece(cluster)` on a miss;\n"
"`matches`: the same for an entity, escape or doubled quote, `fill_match`;\n"
"`tag_at(text, t)` -> None or (end, space) for a tag at t (html_tags) that is\n"
"not plain ASCII; `inline_names`: b\" a abbr ... \", the tags that become nothing.\n"
"`out` is the normalised str; `segments` (int64 quads: out start, in start, in end,\n"
"verbatim) and `matched` (int64 pairs) are bytearrays. None: nothing where a match\n"
"can start (an\n"
"identity map). NotImplemented: a lone surrogate (the Python path raises).");

/* Check what normalize_text's context holds and set up c's trigger table. */
static int nc_setup(normctx *c, Py_buffer *table)
{
    if (table->len != NC_TABLE_LEN) {
        PyErr_SetString(PyExc_ValueError, "normalize_text: table must be 0x110000 bytes");
        return -1;
    }
    if (!PyDict_Check(c->pieces) || !PyDict_Check(c->matches)) {
        PyErr_SetString(PyExc_TypeError, "normalize_text: the caches must be dicts");
        return -1;
    }
    c->table = (const uint8_t *)table->buf;
    /* the inline names that nc_inline can meet: between spaces, starting with a
       lower-case letter, at most 16 characters (longer tag names separate) */
    const char *names = c->inline_names;
    int count = 0;
    for (Py_ssize_t i = 0; i < c->inline_len; i++) {
        if (names[i] != ' ')
            continue;
        Py_ssize_t j = i + 1;
        while (j < c->inline_len && names[j] != ' ')
            j++;
        Py_ssize_t len = j - i - 1;
        if (j < c->inline_len && len >= 1 && len <= 16 && names[i + 1] >= 'a'
            && names[i + 1] <= 'z') {
            if (count == 64 || i + 1 > UINT16_MAX) {
                c->inl_linear = 1;
                break;
            }
            c->inl_off[count] = (uint16_t)(i + 1);
            c->inl_len[count] = (uint8_t)len;
            c->inl_mask[names[i + 1] - 'a'] |= 1ULL << count;
            count++;
        }
        i = j - 1;
    }
    for (int ch = 0; ch < 256; ch++)
        c->trigger[ch] = (c->table[ch] & NC_SPECIAL) || ch == '&' || (c->html && ch == '<')
                         || (c->escapes && ch == '\\') || (c->sql && ch == '\'');
    c->ascii_hits = 1 | (c->html ? 2 : 0) | (c->escapes ? 4 : 0) | nc_upper_quiet(c->trigger);
    c->words = 1;
    for (int ch = 0; ch < 0x80; ch++)
        c->words &= c->trigger[ch] == (ch == '&' || (c->html && ch == '<')
                                       || (c->escapes && ch == '\\') || (c->sql && ch == '\''));
    return 0;
}

/* Normalise `text` into c (whose output is emptied first). 1: nothing where a match
   can start (identity), 0: done, -1: error, 2: a lone surrogate (the Python path
   raises). */
static int nc_run(normctx *c, PyObject *text)
{
    if (PyUnicode_READY(text) < 0)
        return -1;
    c->text = text;
    c->kind = PyUnicode_KIND(text);
    c->data = PyUnicode_DATA(text);
    c->n = PyUnicode_GET_LENGTH(text);
    c->len = c->segs.len = c->matched.len = 0;
    c->segs.failed = c->matched.failed = 0;
    if (nc_has_surrogate(c->kind, c->data, c->n))
        return 2;
    c->okind = c->kind;
    if (c->out == NULL || c->out_bytes < (size_t)(c->n + 16) * (size_t)c->kind) {
        PyMem_Free(c->out);
        c->out_bytes = (size_t)(c->n + 16) * (size_t)c->kind;
        c->out = PyMem_Malloc(c->out_bytes);
        if (c->out == NULL) {
            c->out_bytes = 0;
            PyErr_NoMemory();
            return -1;
        }
    }
    c->cap = (Py_ssize_t)(c->out_bytes / (size_t)c->kind);
    return c->kind == PyUnicode_1BYTE_KIND   ? nc_scan_ucs1(c)
           : c->kind == PyUnicode_2BYTE_KIND ? nc_scan_ucs2(c)
                                             : nc_scan_ucs4(c);
}

/* The output buffers of the last call, kept for the next: fresh memory for every
   call of a chunk's size costs more in page faults than the walk itself. A call
   that finds them in use (another thread ran Python code in a callback of a call
   under way) allocates its own. */
#define NC_SCRATCH_MAX ((size_t)64 << 20) /* bytes of each kept at most */
static struct {
    void *out;
    size_t out_bytes;
    i64vec segs, matched;
    int busy;
} nc_scratch;

/* c (zeroed) takes the scratch buffers if they are free */
static void nc_claim(normctx *c)
{
    if (nc_scratch.busy)
        return;
    nc_scratch.busy = c->scratch = 1;
    c->out = nc_scratch.out;
    c->out_bytes = nc_scratch.out_bytes;
    c->segs = nc_scratch.segs;
    c->matched = nc_scratch.matched;
    c->segs.len = c->matched.len = 0;
    c->segs.failed = c->matched.failed = 0;
}

static void nc_free(normctx *c)
{
    nc_cache_free(c);
    if (c->scratch && c->out_bytes <= NC_SCRATCH_MAX
        && (size_t)c->segs.cap * sizeof(int64_t) <= NC_SCRATCH_MAX
        && (size_t)c->matched.cap * sizeof(int64_t) <= NC_SCRATCH_MAX) {
        nc_scratch.out = c->out;
        nc_scratch.out_bytes = c->out_bytes;
        nc_scratch.segs = c->segs;
        nc_scratch.matched = c->matched;
    } else {
        PyMem_Free(c->out);
        free(c->segs.data);
        free(c->matched.data);
        if (c->scratch)
            memset(&nc_scratch, 0, sizeof nc_scratch);
    }
    if (c->scratch)
        nc_scratch.busy = 0;
}

static PyObject *normalize_text(PyObject *self, PyObject *args)
{
    normctx c;
    Py_buffer table;
    PyObject *text, *result = NULL;
    (void)self;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "Uppp(y*OOOOOy#)", &text, &c.html, &c.escapes, &c.sql,
                          &table, &c.pieces, &c.fill_piece, &c.matches, &c.fill_match,
                          &c.tag_at, &c.inline_names, &c.inline_len))
        return NULL;
    nc_claim(&c);
    int rc = nc_setup(&c, &table) < 0 ? -1 : nc_run(&c, text);
    if (rc == 1)
        result = Py_NewRef(Py_None);
    else if (rc == 2)
        result = Py_NewRef(Py_NotImplemented);
    else if (rc == 0) {
        PyObject *out = PyUnicode_FromKindAndData(c.okind, c.out, c.len);
        PyObject *segs = PyByteArray_FromStringAndSize(
            (const char *)c.segs.data, c.segs.len * (Py_ssize_t)sizeof(int64_t));
        PyObject *matched = PyByteArray_FromStringAndSize(
            (const char *)c.matched.data, c.matched.len * (Py_ssize_t)sizeof(int64_t));
        if (out && segs && matched)
            result = PyTuple_Pack(3, out, segs, matched);
        Py_XDECREF(out);
        Py_XDECREF(segs);
        Py_XDECREF(matched);
    }
    PyBuffer_Release(&table);
    nc_free(&c);
    return result;
}

/* The first i < n with key(ctx, i) >= x (keys ascending), or n: galloping from `hint`, the
   answer for the query before (hits come mostly in order: a few steps each). Inlined
   with the key function of each caller. */
static inline __attribute__((always_inline)) Py_ssize_t
nc_gallop(int64_t (*key)(const void *, Py_ssize_t), const void *ctx, Py_ssize_t n, int64_t x,
          Py_ssize_t hint)
{
    Py_ssize_t lo, hi, step = 1; /* the answer is in [lo, hi] */
    if (hint > n)
        hint = n;
    if (hint < n && key(ctx, hint) < x) {
        lo = hint + 1;
        while (lo + step - 1 < n && key(ctx, lo + step - 1) < x) {
            lo += step;
            step *= 2;
        }
        hi = lo + step - 1 < n ? lo + step - 1 : n;
    } else {
        hi = hint;
        while (hi - step >= 0 && key(ctx, hi - step) >= x) {
            hi -= step;
            step *= 2;
        }
        lo = hi - step + 1 > 0 ? hi - step + 1 : 0;
    }
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (key(ctx, mid) < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    const int64_t *v;
    Py_ssize_t stride;
} nc_column;

static inline __attribute__((always_inline)) int64_t nc_column_key(const void *ctx, Py_ssize_t i)
{
    const nc_column *c = (const nc_column *)ctx;
    return c->v[i * c->stride];
}

/* The first i < n with v[i * stride] >= x (v ascending), or n (nc_gallop). */
static Py_ssize_t nc_lower_bound(const int64_t *v, Py_ssize_t stride, Py_ssize_t n, int64_t x,
                                 Py_ssize_t hint)
{
    const nc_column c = {v, stride};
    return nc_gallop(nc_column_key, &c, n, x, hint);
}

/* The k segments (int64 quads) of an output of n_out characters. */
typedef struct {
    const int64_t *seg;
    Py_ssize_t k;
    int64_t n_out;
} nc_segments;

/* Segment i's input start of its last output character (Normalized._last_starts),
   computed where a search reads it: a chunk of HTML has tens of thousands of segments
   and a few hundred hits, so a table of them all cost more than the searches. */
static inline __attribute__((always_inline)) int64_t nc_last_start(const void *ctx, Py_ssize_t i)
{
    const nc_segments *g = (const nc_segments *)ctx;
    const int64_t *q = g->seg + 4 * i;
    int64_t following = i + 1 < g->k ? q[4] : g->n_out;
    return q[1] + (following - q[0] - 1) * q[3];
}

/* The first output character whose input span starts at or after input offset x
   (Normalized.out_offsets): by the first segment whose last character starts at or after
   x, galloping from *hint (0, or the segment of the query before). */
static inline Py_ssize_t nc_out_offset(const nc_segments *g, int64_t x, Py_ssize_t *hint)
{
    Py_ssize_t i = *hint = nc_gallop(nc_last_start, g, g->k, x, *hint);
    if (i >= g->k)
        return (Py_ssize_t)g->n_out;
    const int64_t *r = g->seg + 4 * i;
    return (Py_ssize_t)(r[0] + (x > r[1] ? x - r[1] : 0) * r[3]);
}

PyDoc_STRVAR(normalize_windows_doc,
"normalize_windows(text, html_tags, escapes, sql, context, bounds) -> (texts, bounds)\n"
"                                                             | NotImplemented\n\n"
"engine._HitWindows.readings' loop over the windows normalised on their own, in one\n"
"call: `bounds` holds int64 quads (window start, hit start, hit end, window end) in\n"
"`text`; each window text[a:b] is normalised as normalize_text would (context as\n"
"there), and its quad becomes (0, hit start, hit end, length) in the normalised\n"
"window, the hit's ends mapped as Normalized.out_offset maps them. NotImplemented: a\n"
"window holds a lone surrogate (the Python path raises).");

static PyObject *normalize_windows(PyObject *self, PyObject *args)
{
    normctx c;
    Py_buffer table, bounds;
    PyObject *text, *texts = NULL, *result = NULL;
    (void)self;
    memset(&c, 0, sizeof c);
    if (!PyArg_ParseTuple(args, "Uppp(y*OOOOOy#)y*", &text, &c.html, &c.escapes, &c.sql,
                          &table, &c.pieces, &c.fill_piece, &c.matches, &c.fill_match,
                          &c.tag_at, &c.inline_names, &c.inline_len, &bounds))
        return NULL;
    nc_claim(&c);
    Py_ssize_t n_win = bounds.len / (Py_ssize_t)(4 * sizeof(int64_t)), n = PyUnicode_GET_LENGTH(text);
    const int64_t *in = (const int64_t *)bounds.buf;
    PyObject *out_bounds = PyByteArray_FromStringAndSize(NULL, n_win * 4 * (Py_ssize_t)sizeof(int64_t));
    texts = PyList_New(n_win);
    if (out_bounds == NULL || texts == NULL || nc_setup(&c, &table) < 0)
        goto done;
    int64_t *ob = (int64_t *)(void *)PyByteArray_AS_STRING(out_bounds);
    for (Py_ssize_t j = 0; j < n_win; j++) {
        int64_t a = in[4 * j], s = in[4 * j + 1], e = in[4 * j + 2], b = in[4 * j + 3];
        if (a < 0 || b > n || a > s || s > e || e > b) {
            PyErr_SetString(PyExc_ValueError, "normalize_windows: bounds out of order");
            goto done;
        }
        PyObject *window = PyUnicode_Substring(text, (Py_ssize_t)a, (Py_ssize_t)b);
        if (window == NULL)
            goto done;
        int rc = nc_run(&c, window);
        PyObject *norm = NULL;
        Py_ssize_t ns = s - a, ne = e - a;
        if (rc == 1) {
            norm = Py_NewRef(window);
        } else if (rc == 0) {
            norm = PyUnicode_FromKindAndData(c.okind, c.out, c.len);
            const nc_segments g = {c.segs.data, c.segs.len / 4, (int64_t)c.len};
            Py_ssize_t hint = 0;
            ns = nc_out_offset(&g, ns, &hint);
            ne = nc_out_offset(&g, ne, &hint);
        }
        Py_DECREF(window);
        if (rc == 2) {
            Py_CLEAR(texts);
            result = Py_NewRef(Py_NotImplemented);
            goto done;
        }
        if (norm == NULL)
            goto done;
        PyList_SET_ITEM(texts, j, norm);
        ob[4 * j] = 0;
        ob[4 * j + 1] = ns;
        ob[4 * j + 2] = ne;
        ob[4 * j + 3] = PyUnicode_GET_LENGTH(norm);
    }
    result = PyTuple_Pack(2, texts, out_bounds);
done:
    Py_XDECREF(texts);
    Py_XDECREF(out_bounds);
    PyBuffer_Release(&table);
    PyBuffer_Release(&bounds);
    nc_free(&c);
    return result;
}

PyDoc_STRVAR(norm_out_offset_doc,
"norm_out_offset(segments, n_out, x) -> int\n\n"
"Normalized.out_offset: the first output character whose input span starts at or\n"
"after input offset x, through `segments` (int64 quads, see\n"
"normalize.Normalized) of an output of n_out characters.");

static PyObject *norm_out_offset(PyObject *self, PyObject *args)
{
    Py_buffer seg;
    Py_ssize_t n_out, x;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &seg, &n_out, &x))
        return NULL;
    const nc_segments g = {(const int64_t *)seg.buf, seg.len / (Py_ssize_t)(4 * sizeof(int64_t)),
                           (int64_t)n_out};
    Py_ssize_t hint = 0, out = nc_out_offset(&g, x, &hint);
    PyBuffer_Release(&seg);
    return PyLong_FromSsize_t(out);
}

PyDoc_STRVAR(trigger_starts_doc,
"trigger_starts(text, table) -> bytes\n\n"
"normalize.match_starts in one pass: the positions (int64) of the characters where a\n"
"normalisation match can start. `table`: normalize._special_table as 0x110000 bytes.\n"
"In 1-byte text only a doubled quote counts, and below 0x80 only & < \\ and '.");

static PyObject *trigger_starts(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer table;
    (void)self;
    if (!PyArg_ParseTuple(args, "Uy*", &text, &table))
        return NULL;
    if (table.len != NC_TABLE_LEN) {
        PyBuffer_Release(&table);
        PyErr_SetString(PyExc_ValueError, "trigger_starts: table must be 0x110000 bytes");
        return NULL;
    }
    const uint8_t *tb = (const uint8_t *)table.buf;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    i64vec out = {0};
    if (kind == PyUnicode_1BYTE_KIND) {
        const uint8_t *b = (const uint8_t *)d;
        int lt = tb['<'] != 0, quote = tb['\''] != 0;
        uint8_t hit[256]; /* a match can start here (a quote: only when doubled, below) */
        for (int c = 0; c < 256; c++)
            hit[c] = (c >= 0x80 || c == '&' || c == '<' || c == '\\') && tb[c];
        Py_ssize_t i = 0;
        int ascii_hits = (hit['&'] ? 1 : 0) | (hit['<'] ? 2 : 0) | (hit['\\'] ? 4 : 0)
                         | nc_upper_quiet(hit);
        /* 16 characters at a time, then 8 (b[i + 16], b[i + 8] stay readable for
           the doubled quote's second half): the hits as a mask, a bit per position */
#if defined(__SSE2__)
        for (; i + 16 < n && !out.failed; i += 16) {
            uint32_t m = nc_block_hits(b, i, ascii_hits, quote, hit);
            if (!m)
                continue;
            if (vec_room(&out, 16) < 0)
                break;
            int64_t *o = out.data + out.len; /* (out itself lives in memory) */
            for (; m; m &= m - 1)
                *o++ = i + __builtin_ctz(m);
            out.len = o - out.data;
        }
#endif
        for (; NC_WORDS && i + 8 < n && !out.failed; i += 8) {
            uint64_t m = nc_word_hits(b, i, ascii_hits, quote, hit);
            if (!m)
                continue;
            if (vec_room(&out, 8) < 0)
                break;
            int64_t *o = out.data + out.len; /* (out itself lives in memory) */
            for (; m; m &= m - 1)
                *o++ = i + (__builtin_ctzll(m) >> 3);
            out.len = o - out.data;
        }
        /* (without NC_WORDS: skipped when plain, else tested without branches) */
        for (; i + 8 < n && !out.failed; i += 8) {
            uint64_t w;
            memcpy(&w, b + i, 8);
            if (!word_interesting(w, lt, quote))
                continue;
            if (vec_room(&out, 8) < 0)
                break;
            int64_t *o = out.data + out.len;
            Py_ssize_t k = 0;
            for (int j = 0; j < 8; j++) {
                uint8_t c = b[i + j];
                o[k] = i + j;
                k += hit[c] | (quote & (c == '\'') & (b[i + j + 1] == '\''));
            }
            out.len += k;
        }
        for (; i < n; i++) {
            uint8_t c = b[i];
            if (hit[c] || (c == '\'' && quote && i + 1 < n && b[i + 1] == '\''))
                vec_push(&out, (int64_t)i);
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++)
            if (tb[nc_read(kind, d, i)])
                vec_push(&out, (int64_t)i);
    }
    PyBuffer_Release(&table);
    PyObject *result = out.failed ? PyErr_NoMemory() : vec_bytes(&out);
    free(out.data);
    return result;
}


/* -- engine._HitWindows.prepare ------------------------------------------------------ */

/* Does text[lo:hi] hold a position of normalize.match_starts (`tb`: its table; in
   1-byte text a quote counts only when doubled, as trigger_starts counts them)? */
static int nc_trigger_in(int kind, const void *d, Py_ssize_t n, const uint8_t *tb, Py_ssize_t lo,
                         Py_ssize_t hi)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const uint8_t *b = (const uint8_t *)d;
        for (Py_ssize_t i = lo; i < hi; i++) {
            uint8_t c = b[i];
            if ((c >= 0x80 || c == '&' || c == '<' || c == '\\') && tb[c])
                return 1;
            if (c == '\'' && tb[c] && i + 1 < n && b[i + 1] == '\'')
                return 1;
        }
        return 0;
    }
    for (Py_ssize_t i = lo; i < hi; i++)
        if (tb[nc_read(kind, d, i)])
            return 1;
    return 0;
}

PyDoc_STRVAR(norm_spans_doc,
"norm_spans(segments, starts, ends, s_in, e_in)\n\n"
"Normalized.spans: per non-empty span [starts[i], ends[i]) of the normalised text, its\n"
"input span [s_in[i], e_in[i]) (int64 arrays; s_in and e_in written), through the map's\n"
"segments (int64 quads). The spans come mostly in order: each segment is found by\n"
"galloping from the one before, not by a bisection of all of them.");

static PyObject *norm_spans(PyObject *self, PyObject *args)
{
    Py_buffer vg, vs, ve, vsi, vei;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*w*w*", &vg, &vs, &ve, &vsi, &vei))
        return NULL;
    Py_ssize_t k = vg.len / 32, n = vs.len / 8;
    const int64_t *seg = (const int64_t *)vg.buf, *st = (const int64_t *)vs.buf,
                  *en = (const int64_t *)ve.buf;
    int64_t *si = (int64_t *)vsi.buf, *ei = (int64_t *)vei.buf;
    PyObject *result = NULL;
    if (vg.len % 32 || !k || seg[0] != 0 || ve.len != vs.len || vsi.len != vs.len || vei.len != vs.len) {
        PyErr_SetString(PyExc_ValueError, "norm_spans: arrays of the wrong size");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (st[i] < 0 || en[i] <= st[i]) {
            PyErr_SetString(PyExc_ValueError, "norm_spans: an empty or negative span");
            goto done;
        }
    }
    Py_ssize_t hs = 0, he = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* the segment holding output character x: the last one starting at or before it
           (the first starts at 0) */
        hs = nc_lower_bound(seg, 4, k, st[i] + 1, hs);
        const int64_t *q = seg + 4 * (hs - 1);
        si[i] = q[1] + (st[i] - q[0]) * q[3];
        he = nc_lower_bound(seg, 4, k, en[i], he);
        q = seg + 4 * (he - 1);
        ei[i] = q[3] ? q[1] + (en[i] - 1 - q[0]) + 1 : q[2];
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&vg);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vsi);
    PyBuffer_Release(&vei);
    return result;
}

PyDoc_STRVAR(window_ready_doc,
"window_ready(text, table, starts, ends, w, matched, segments, n_out, hazard)\n"
"    -> (ready, cut, bounds)\n\n"
"engine._HitWindows.prepare for a normalised text with its map, in one pass: per hit\n"
"(int64 starts, ends in `text`; window [s - w, e + w) clipped), cut (a byte 0/1: the\n"
"window cuts no matched span at either end, and no trigger lies in its last `hazard`\n"
"characters unless it ends the text), ready (cut, or no trigger in the window) and\n"
"bounds (int64 quads: Normalized.out_offsets of window start, window end, hit start,\n"
"hit end). Triggers are match_starts' positions (`table`: normalize._special_table,\n"
"0x110000 bytes), looked for only in the few windows that need it, not over the whole\n"
"text; `matched` (sorted int64 pairs) and `segments` (int64 quads) as in normalize.");

static PyObject *window_ready(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_buffer vtb, vs, ve, vm, vg;
    Py_ssize_t w, n_out, hazard;
    (void)self;
    if (!PyArg_ParseTuple(args, "Uy*y*y*ny*y*nn", &text, &vtb, &vs, &ve, &w, &vm, &vg, &n_out,
                          &hazard))
        return NULL;
    PyObject *ready = NULL, *cut = NULL, *bounds = NULL, *result = NULL;
    Py_ssize_t n = vs.len / 8, nm = vm.len / 16, k = vg.len / 32;
    const int64_t *st = (const int64_t *)vs.buf, *en = (const int64_t *)ve.buf;
    const int64_t *m = (const int64_t *)vm.buf, *seg = (const int64_t *)vg.buf;
    const uint8_t *tb = (const uint8_t *)vtb.buf;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t n_text = PyUnicode_GET_LENGTH(text);
    if (ve.len != vs.len || w < 0 || hazard < 0 || vtb.len != NC_TABLE_LEN) {
        PyErr_SetString(PyExc_ValueError, "window_ready: arrays of the wrong size");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (st[i] < 0 || st[i] > en[i] || en[i] > n_text) {
            PyErr_SetString(PyExc_ValueError, "window_ready: a hit out of order or range");
            goto done;
        }
    }
    ready = PyBytes_FromStringAndSize(NULL, n);
    cut = PyBytes_FromStringAndSize(NULL, n);
    bounds = PyBytes_FromStringAndSize(NULL, n * 4 * (Py_ssize_t)sizeof(int64_t));
    if (ready == NULL || cut == NULL || bounds == NULL) {
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    const nc_segments segs = {seg, k, (int64_t)n_out};
    uint8_t *r = (uint8_t *)PyBytes_AS_STRING(ready), *c = (uint8_t *)PyBytes_AS_STRING(cut);
    int64_t *ob = (int64_t *)(void *)PyBytes_AS_STRING(bounds);
    Py_ssize_t h_ma = 0, h_mb = 0, h_g[4] = {0, 0, 0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t a = st[i] - w > 0 ? st[i] - w : 0, b = en[i] + w < n_text ? en[i] + w : n_text;
        /* uncut(x): the last matched span starting before x ends at or before it */
        int uncut = 1;
        if (nm) {
            h_ma = nc_lower_bound(m, 2, nm, a, h_ma);
            h_mb = nc_lower_bound(m, 2, nm, b, h_mb);
            uncut = (h_ma == 0 || m[2 * (h_ma - 1) + 1] <= a) && (h_mb == 0 || m[2 * (h_mb - 1) + 1] <= b);
        }
        c[i] = (uint8_t)(uncut && (b == n_text
                                   || !nc_trigger_in(kind, d, n_text, tb, b - hazard > 0 ? b - hazard : 0, b)));
        r[i] = (uint8_t)(c[i] || !nc_trigger_in(kind, d, n_text, tb, a, b));
        const int64_t x[4] = {a, b, st[i], en[i]};
        for (int j = 0; j < 4; j++)
            ob[4 * i + j] = nc_out_offset(&segs, x[j], &h_g[j]);
    }
    result = PyTuple_Pack(3, ready, cut, bounds);
done:
    Py_XDECREF(ready);
    Py_XDECREF(cut);
    Py_XDECREF(bounds);
    PyBuffer_Release(&vtb);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vm);
    PyBuffer_Release(&vg);
    return result;
}

PyDoc_STRVAR(tag_parts_doc,
"tag_parts(text, matched, min_chars) -> (str, bytes, bytes) | None\n\n"
"html_hidden.hidden_text in one pass: the spans of `matched` (int64 pairs, sorted, see\n"
"normalize.Normalized) that start with '<' and are at least min_chars long, joined\n"
"with newlines; and per span (int64) its start in the joined text and in `text`.\n"
"None when there is none.");

static PyObject *tag_parts(PyObject *self, PyObject *args)
{
    PyObject *text, *result = NULL, *out = NULL;
    Py_buffer vm;
    Py_ssize_t min_chars;
    (void)self;
    if (!PyArg_ParseTuple(args, "Uy*n", &text, &vm, &min_chars))
        return NULL;
    const int64_t *m = (const int64_t *)vm.buf;
    Py_ssize_t n_spans = vm.len / (Py_ssize_t)(2 * sizeof(int64_t));
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    i64vec at = {0}, source = {0};
    Py_ssize_t total = 0;
    Py_UCS4 maxchar = '\n';
    for (Py_ssize_t i = 0; i < n_spans; i++) {
        int64_t a = m[2 * i], b = m[2 * i + 1];
        if (a < 0 || b > n || a >= b) {
            PyErr_SetString(PyExc_ValueError, "tag_parts: a span outside the text");
            goto done;
        }
        if (b - a < min_chars || PyUnicode_READ(kind, d, a) != '<')
            continue;
        vec_push(&at, (int64_t)(total + (total > 0)));
        vec_push(&source, a);
        total += (total > 0) + (Py_ssize_t)(b - a);
        if (kind != PyUnicode_1BYTE_KIND || maxchar < 0x80) /* the exact widest: a canonical str */
            for (int64_t k = a; k < b; k++) {
                Py_UCS4 ch = PyUnicode_READ(kind, d, k);
                if (ch > maxchar)
                    maxchar = ch;
            }
    }
    if (at.failed || source.failed) {
        PyErr_NoMemory();
        goto done;
    }
    if (at.len == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    out = PyUnicode_New(total, maxchar);
    if (out == NULL)
        goto done;
    /* (copied by hand: PyUnicode_CopyCharacters judges a Latin-1 source by its first
       characters, not the copied ones, and refuses an ASCII target) */
    int okind = PyUnicode_KIND(out);
    void *od = PyUnicode_DATA(out);
    for (Py_ssize_t i = 0; i < at.len; i++) {
        int64_t a = source.data[i], o = at.data[i];
        int64_t len = (i + 1 < at.len ? at.data[i + 1] - 1 : (int64_t)total) - o;
        if (i > 0)
            PyUnicode_WRITE(okind, od, o - 1, '\n');
        if (okind == kind)
            memcpy((char *)od + o * kind, (const char *)d + a * kind, (size_t)(len * kind));
        else
            for (int64_t k = 0; k < len; k++)
                PyUnicode_WRITE(okind, od, o + k, PyUnicode_READ(kind, d, a + k));
    }
    PyObject *at_b = vec_bytes(&at), *source_b = vec_bytes(&source);
    if (at_b && source_b)
        result = PyTuple_Pack(3, out, at_b, source_b);
    Py_XDECREF(at_b);
    Py_XDECREF(source_b);
done:
    Py_XDECREF(out);
    free(at.data);
    free(source.data);
    PyBuffer_Release(&vm);
    return result;
}

#define NORM_METHODS {"normalize_text", normalize_text, METH_VARARGS, normalize_text_doc}, \
    {"trigger_starts", trigger_starts, METH_VARARGS, trigger_starts_doc}, \
    {"normalize_windows", normalize_windows, METH_VARARGS, normalize_windows_doc}, \
    {"norm_out_offset", norm_out_offset, METH_VARARGS, norm_out_offset_doc}, \
    {"window_ready", window_ready, METH_VARARGS, window_ready_doc}, \
    {"norm_spans", norm_spans, METH_VARARGS, norm_spans_doc}, \
    {"tag_parts", tag_parts, METH_VARARGS, tag_parts_doc},
