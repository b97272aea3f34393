/* Finding objects made from columns (matchers/engine.py, `FindingColumns.findings`).
 *
 * A dense dump has a finding on every row, and the scan hands its findings on as
 * `Finding` objects. Made in Python, one costs about 1 us (the call, its dict, seven
 * values); here under a third of that. Each object is what the dataclass's __init__
 * makes: `object.__new__(cls)`, then its seven fields set in the class's field order
 * the way object.__setattr__ sets them (the frozen dataclass's own __setattr__
 * refuses). object.__new__ readies the instance's values inline, with the keys its
 * class shares, so no dict is made per finding: 143,000 findings took 75 ms with a
 * dict each, 41 ms so (equality, hash, pickle, repr and vars() are the same).
 *
 * Included from _native.c (one translation unit).
 */

static PyObject *finding_keys[7]; /* "kind", "id_type", ..., "score" (interned) */
static PyObject *empty_args;      /* () */

static int init_finding_keys(void)
{
    static const char *names[7] = {"kind", "id_type", "ref", "location",
                                   "start", "end", "score"};
    for (int i = 0; i < 7; i++) {
        finding_keys[i] = PyUnicode_InternFromString(names[i]);
        if (finding_keys[i] == NULL)
            return -1;
    }
    empty_args = PyTuple_New(0);
    return empty_args == NULL ? -1 : 0;
}

/* One finding: object.__new__(cls) with its seven fields set (the numbers made here,
 * the strings borrowed from the caller). */
static PyObject *finding_object(PyTypeObject *cls, PyObject *kind, PyObject *id_type,
                                PyObject *ref, PyObject *location, long long start,
                                long long end, double score)
{
    PyObject *values[7] = {kind, id_type, ref, location, PyLong_FromLongLong(start),
                           PyLong_FromLongLong(end), PyFloat_FromDouble(score)};
    PyObject *obj = NULL;
    if (values[4] == NULL || values[5] == NULL || values[6] == NULL)
        goto done;
    obj = PyBaseObject_Type.tp_new(cls, empty_args, NULL);
    if (obj == NULL)
        goto done;
    for (int i = 0; i < 7; i++)
        if (PyObject_GenericSetAttr(obj, finding_keys[i], values[i]) < 0) {
            Py_CLEAR(obj);
            goto done;
        }
    /* A finding holds strings and numbers only, so it cannot be part of a reference
     * cycle: the cycle collector need not track it (CPython untracks dicts and tuples of
     * such values for the same reason). Tracked, a scan's hundreds of thousands of
     * findings set off collections that walk the whole heap, doubling their cost. */
    if (obj != NULL && PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
done:
    Py_XDECREF(values[4]);
    Py_XDECREF(values[5]);
    Py_XDECREF(values[6]);
    return obj;
}

static PyObject *make_findings(PyObject *self, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *kinds, *types, *refs, *location, *result = NULL;
    Py_buffer vs = {0}, ve = {0}, vsc = {0};
    long long base;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!O!Uy*y*y*L", &PyType_Type, &cls, &PyList_Type, &kinds,
                          &PyList_Type, &types, &PyList_Type, &refs, &location, &vs, &ve,
                          &vsc, &base))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(types);
    if (PyList_GET_SIZE(kinds) != n || PyList_GET_SIZE(refs) != n ||
        vs.len != n * (Py_ssize_t)sizeof(int64_t) ||
        ve.len != n * (Py_ssize_t)sizeof(int64_t) || vsc.len != n * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "make_findings: columns of different lengths");
        goto out;
    }
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const double *scores = (const double *)vsc.buf;
    result = PyList_New(n);
    if (result == NULL)
        goto out;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = finding_object(cls, PyList_GET_ITEM(kinds, i), PyList_GET_ITEM(types, i),
                                     PyList_GET_ITEM(refs, i), location, starts[i] + base,
                                     ends[i] + base, scores[i]);
        if (f == NULL) {
            Py_CLEAR(result);
            goto out;
        }
        PyList_SET_ITEM(result, i, f);
    }
out:
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vsc);
    return result;
}

PyDoc_STRVAR(make_findings_doc,
             "make_findings(cls, kinds, id_types, refs, location, starts, ends, scores, base)"
             " -> list\n\n"
             "cls objects (engine.Finding) with the given fields, starts and ends + base:\n"
             "kinds, id_types and refs lists of str, starts and ends int64, scores float64.");

/* The `vahti scan --json` lines of findings given as columns (vahti/scan_output.py,
 * `FindingLines.add_columns`): per finding
 *     {"end": END, MIDDLE, "score": SCORE, "start": START}\n
 * with MIDDLE and SCORE strings the caller made (JSON-encoded, cleaned, cached per value;
 * SCORE given once per distinct score and picked by index). Built in C, a line costs a
 * twentieth of the Python f-string and dictionary lookups it replaces. */

static int append_utf8(u8vec *out, PyObject *s)
{
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL)
        return -1;
    u8_append(out, (const uint8_t *)p, n);
    return 0;
}

static void append_int(u8vec *out, long long x)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", x);
    u8_append(out, (const uint8_t *)buf, n);
}

static PyObject *json_lines(PyObject *self, PyObject *args)
{
    PyObject *middles, *score_texts, *result = NULL;
    Py_buffer vs = {0}, ve = {0}, vi = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!y*y*y*", &PyList_Type, &middles, &PyList_Type,
                          &score_texts, &vs, &ve, &vi))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(middles), n_scores = PyList_GET_SIZE(score_texts);
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const int64_t *score_of = (const int64_t *)vi.buf;
    u8vec out = {0};
    if (vs.len != n * (Py_ssize_t)sizeof(int64_t) || ve.len != vs.len || vi.len != vs.len) {
        PyErr_SetString(PyExc_ValueError, "json_lines: columns of different lengths");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *middle = PyList_GET_ITEM(middles, i);
        if (score_of[i] < 0 || score_of[i] >= n_scores || !PyUnicode_Check(middle)) {
            PyErr_SetString(PyExc_ValueError, "json_lines: a score index or middle is wrong");
            goto done;
        }
        PyObject *score = PyList_GET_ITEM(score_texts, score_of[i]);
        if (!PyUnicode_Check(score)) {
            PyErr_SetString(PyExc_ValueError, "json_lines: a score text is not a str");
            goto done;
        }
        u8_append(&out, (const uint8_t *)"{\"end\": ", 8);
        append_int(&out, ends[i]);
        u8_append(&out, (const uint8_t *)", ", 2);
        if (append_utf8(&out, middle) < 0)
            goto done;
        u8_append(&out, (const uint8_t *)", \"score\": ", 11);
        if (append_utf8(&out, score) < 0)
            goto done;
        u8_append(&out, (const uint8_t *)", \"start\": ", 11);
        append_int(&out, starts[i]);
        u8_append(&out, (const uint8_t *)"}\n", 2);
    }
    if (out.failed)
        PyErr_NoMemory();
    else
        result = PyUnicode_DecodeUTF8((const char *)out.data, out.len, "surrogatepass");
done:
    free(out.data);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vi);
    return result;
}

PyDoc_STRVAR(json_lines_doc,
             "json_lines(middles, score_texts, starts, ends, score_index) -> str\n\n"
             "The --json lines of findings: middles a list of str a finding, score_texts the\n"
             "distinct scores as written, score_index (int64) which one a finding has.");

#define FINDINGS_METHODS                                                          \
    {"make_findings", make_findings, METH_VARARGS, make_findings_doc},            \
    {"json_lines", json_lines, METH_VARARGS, json_lines_doc},
