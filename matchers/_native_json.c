/* The `vahti scan --json` lines of findings given as columns (vahti/scan_output.py,
 * `FindingLines.add_columns`): per finding
 *     {"end": END, MIDDLE, "score": SCORE, "start": START}\n
 * MIDDLE (from "id_type" to "ref": JSON-encoded, cleaned) is made by the caller's
 * function once per (id_type, kind, location, ref) and cached in the caller's dict of
 * dicts, {(id_type, kind, location): {ref: middle}}; SCORE is made by the caller's
 * function once per distinct score and call (`score_table`). A dense dump has a
 * finding on every row: the lookup a finding is one dict probe of a str whose hash is
 * cached (its group changes only when the type or kind does), and the line is written
 * in place, so a line costs tens of nanoseconds instead of the microsecond of a Python
 * f-string and a tuple key.
 *
 * The lines are ASCII (JSON's ASCII escapes, then `display.clean`, which leaves
 * printable ASCII as it is) and come back as bytes: the caller writes them to the
 * stream's binary buffer without a decode and an encode.
 *
 * Included from _native.c (one translation unit).
 */

/* "00" to "99": two digits a step (a division a digit costs more than the line). */
static const char DIGIT_PAIRS[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* `x` in decimal at `p`; returns the end. */
static uint8_t *put_int(uint8_t *p, long long x)
{
    char tmp[24];
    int n = sizeof(tmp);
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = DIGIT_PAIRS[d + 1];
        tmp[--n] = DIGIT_PAIRS[d];
    }
    if (u >= 10) {
        tmp[--n] = DIGIT_PAIRS[u * 2 + 1];
        tmp[--n] = DIGIT_PAIRS[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    if (x < 0)
        *p++ = '-';
    memcpy(p, tmp + n, sizeof(tmp) - (size_t)n);
    return p + (sizeof(tmp) - (size_t)n);
}

static uint8_t *put_str(uint8_t *p, const char *s, Py_ssize_t n)
{
    memcpy(p, s, (size_t)n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* The middle of finding i's line, cached in `group` (a new reference, or NULL with an
 * exception set). */
static PyObject *json_middle(PyObject *group, PyObject *make_middle, PyObject *id_type,
                             PyObject *kind, PyObject *location, PyObject *ref)
{
    PyObject *middle = PyDict_GetItemWithError(group, ref);
    if (middle != NULL) {
        Py_INCREF(middle);
        return middle;
    }
    if (PyErr_Occurred())
        return NULL;
    middle = PyObject_CallFunctionObjArgs(make_middle, id_type, kind, location, ref, NULL);
    if (middle == NULL)
        return NULL;
    if (!PyUnicode_Check(middle) || !PyUnicode_IS_ASCII(middle)) {
        PyErr_SetString(PyExc_ValueError, "json_lines: a middle is not an ASCII str");
        Py_DECREF(middle);
        return NULL;
    }
    if (PyDict_SetItem(group, ref, middle) < 0) {
        Py_DECREF(middle);
        return NULL;
    }
    return middle;
}

/* The dict of middles of (id_type, kind, location) in `groups`, made when missing (a
 * new reference, or NULL with an exception set). */
static PyObject *json_group(PyObject *groups, PyObject *id_type, PyObject *kind,
                            PyObject *location)
{
    PyObject *key = PyTuple_Pack(3, id_type, kind, location);
    if (key == NULL)
        return NULL;
    PyObject *group = PyDict_GetItemWithError(groups, key);
    if (group != NULL) {
        Py_INCREF(group);
    } else if (!PyErr_Occurred()) {
        group = PyDict_New();
        if (group != NULL && PyDict_SetItem(groups, key, group) < 0)
            Py_CLEAR(group);
    }
    Py_DECREF(key);
    if (group != NULL && !PyDict_Check(group)) {
        PyErr_SetString(PyExc_ValueError, "json_lines: a group of middles is not a dict");
        Py_CLEAR(group);
    }
    return group;
}

/* The distinct scores of a call and their texts: an open-addressing table on the
 * float's bits (a dump's findings have a handful of scores: 0.8, 0.95, 1.0, ...; a
 * fragment's may have many), each text made once by the caller's function. */
typedef struct {
    uint64_t *bits;
    int32_t *slot_of;   /* per table slot: the index in texts, or -1 */
    PyObject **texts;   /* new references */
    Py_ssize_t cap, n;  /* slots (a power of two), texts */
} score_table;

static void score_table_free(score_table *t)
{
    for (Py_ssize_t i = 0; i < t->n; i++)
        Py_DECREF(t->texts[i]);
    PyMem_Free(t->bits);
    PyMem_Free(t->slot_of);
    PyMem_Free(t->texts);
}

static int score_table_grow(score_table *t)
{
    Py_ssize_t cap = t->cap ? t->cap * 2 : 16;
    uint64_t *bits = (uint64_t *)PyMem_Malloc((size_t)cap * sizeof(uint64_t));
    int32_t *slot_of = (int32_t *)PyMem_Malloc((size_t)cap * sizeof(int32_t));
    PyObject **texts = (PyObject **)PyMem_Realloc(t->texts, (size_t)cap * sizeof(PyObject *));
    if (texts != NULL)
        t->texts = texts;
    if (bits == NULL || slot_of == NULL || texts == NULL) {
        PyMem_Free(bits);
        PyMem_Free(slot_of);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t j = 0; j < cap; j++)
        slot_of[j] = -1;
    for (Py_ssize_t j = 0; j < t->cap; j++) {
        if (t->slot_of[j] < 0)
            continue;
        Py_ssize_t h = (Py_ssize_t)((t->bits[j] * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1);
        while (slot_of[h] >= 0)
            h = (h + 1) & (cap - 1);
        bits[h] = t->bits[j];
        slot_of[h] = t->slot_of[j];
    }
    PyMem_Free(t->bits);
    PyMem_Free(t->slot_of);
    t->bits = bits;
    t->slot_of = slot_of;
    t->cap = cap;
    return 0;
}

/* The index in t->texts of score x's text, made by score_text(x) when new; -1 with an
 * exception set. */
static Py_ssize_t score_index(score_table *t, double x, PyObject *score_text)
{
    uint64_t b;
    memcpy(&b, &x, sizeof(b));
    if (2 * (t->n + 1) > t->cap && score_table_grow(t) < 0)
        return -1;
    Py_ssize_t h = (Py_ssize_t)((b * 0x9E3779B97F4A7C15ULL) >> 32) & (t->cap - 1);
    while (t->slot_of[h] >= 0) {
        if (t->bits[h] == b)
            return t->slot_of[h];
        h = (h + 1) & (t->cap - 1);
    }
    PyObject *value = PyFloat_FromDouble(x);
    if (value == NULL)
        return -1;
    PyObject *text = PyObject_CallOneArg(score_text, value);
    Py_DECREF(value);
    if (text == NULL)
        return -1;
    if (!PyUnicode_Check(text) || !PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "json_lines: a score text is not an ASCII str");
        Py_DECREF(text);
        return -1;
    }
    t->bits[h] = b;
    t->slot_of[h] = (int32_t)t->n;
    t->texts[t->n] = text;
    return t->n++;
}

static PyObject *json_lines(PyObject *self, PyObject *args)
{
    PyObject *types, *kinds, *refs, *location, *groups, *make_middle, *score_text;
    PyObject *result = NULL, *group = NULL, *last_type = NULL, *last_kind = NULL;
    Py_buffer vs = {0}, ve = {0}, vi = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!UO!Oy*Oy*y*", &PyList_Type, &types, &PyList_Type,
                          &kinds, &PyList_Type, &refs, &location, &PyDict_Type, &groups,
                          &make_middle, &vi, &score_text, &vs, &ve))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(types);
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const double *scores = (const double *)vi.buf;
    score_table table = {0};
    int32_t *score_of = NULL;  /* finding i's score: its text is table.texts[score_of[i]] */
    PyObject **middles = NULL;  /* finding i's middle (a reference held), for the first n_middles */
    Py_ssize_t n_middles = 0;
    if (PyList_GET_SIZE(kinds) != n || PyList_GET_SIZE(refs) != n ||
        vs.len != n * (Py_ssize_t)sizeof(int64_t) || ve.len != vs.len
        || vi.len != n * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "json_lines: columns of different lengths");
        goto done;
    }
    /* First the middles (a dict probe each, and the caller's function on a miss), held
     * in `middles`, and the exact size of the lines; then the lines, written straight
     * into the bytes object returned (no buffer grown and copied: a dense dump's lines
     * are megabytes a task). */
    middles = (PyObject **)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(PyObject *));
    score_of = (int32_t *)PyMem_Malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (middles == NULL || score_of == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id_type = PyList_GET_ITEM(types, i), *kind = PyList_GET_ITEM(kinds, i);
        /* the scores of neighbouring findings are mostly the same: no probe then */
        if (i && memcmp(&scores[i], &scores[i - 1], sizeof(double)) == 0) {
            score_of[i] = score_of[i - 1];
        } else {
            Py_ssize_t k = score_index(&table, scores[i], score_text);
            if (k < 0)
                goto done;
            score_of[i] = (int32_t)k;
        }
        if (id_type != last_type || kind != last_kind) {
            Py_XSETREF(group, json_group(groups, id_type, kind, location));
            if (group == NULL)
                goto done;
            last_type = id_type;
            last_kind = kind;
        }
        PyObject *middle = json_middle(group, make_middle, id_type, kind, location,
                                       PyList_GET_ITEM(refs, i));
        if (middle == NULL)
            goto done;
        middles[n_middles++] = middle;
        /* the literals, two numbers of at most 20 characters, the two strings */
        size += 64 + PyUnicode_GET_LENGTH(middle)
                + PyUnicode_GET_LENGTH(table.texts[score_of[i]]);
    }
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL)
        goto done;
    uint8_t *p = (uint8_t *)PyBytes_AS_STRING(result);
    /* Without the GIL: only what this call holds is read (the middles and score texts,
     * immutable ASCII strs it holds references to, and the buffers) and only the new
     * bytes object, which nobody else has yet, is written; so the scan's thread goes on
     * while another thread formats a task's lines (vahti/scan_output.py). */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *middle = middles[i], *score = table.texts[score_of[i]];
        p = PUT_LIT(p, "{\"end\": ");
        p = put_int(p, ends[i]);
        p = PUT_LIT(p, ", ");
        p = put_str(p, (const char *)PyUnicode_DATA(middle), PyUnicode_GET_LENGTH(middle));
        p = PUT_LIT(p, ", \"score\": ");
        p = put_str(p, (const char *)PyUnicode_DATA(score), PyUnicode_GET_LENGTH(score));
        p = PUT_LIT(p, ", \"start\": ");
        p = put_int(p, starts[i]);
        p = PUT_LIT(p, "}\n");
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&result, (Py_ssize_t)(p - (uint8_t *)PyBytes_AS_STRING(result))) < 0)
        result = NULL;  /* (freed by the resize) */
done:
    Py_XDECREF(group);
    for (Py_ssize_t i = 0; i < n_middles; i++)
        Py_DECREF(middles[i]);
    PyMem_Free(middles);
    PyMem_Free(score_of);
    score_table_free(&table);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vi);
    return result;
}

PyDoc_STRVAR(json_lines_doc,
             "json_lines(id_types, kinds, refs, location, groups, make_middle, scores,"
             " score_text, starts, ends) -> bytes\n\n"
             "The --json lines of findings given as columns: id_types, kinds, refs lists of\n"
             "str; a finding's middle (ASCII str) is groups[(id_type, kind, location)][ref],\n"
             "made by make_middle(id_type, kind, location, ref) when missing and stored there;\n"
             "scores float64, each written as score_text(score) says (ASCII str, asked once\n"
             "a distinct score); starts and ends int64.");

#define JSON_METHODS {"json_lines", json_lines, METH_VARARGS, json_lines_doc},
