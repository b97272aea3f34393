/* The `vahti scan --json` lines of findings given as columns (vahti/scan_output.py,
 * `FindingLines.add_columns`): per finding
 *     {"end": END, MIDDLE, "score": SCORE, "start": START}\n
 * MIDDLE (from "id_type" to "ref": JSON-encoded, cleaned) is made by the caller's
 * function once per (id_type, kind, location, ref) and cached in the caller's dict of
 * dicts, {(id_type, kind, location): {ref: middle}}; SCORE is given once per distinct
 * score and picked by index. A dense dump has a finding on every row: the lookup a
 * finding is one dict probe of a str whose hash is cached (its group changes only when
 * the type or kind does), and the line is written in place, so a line costs tens of
 * nanoseconds instead of the microsecond of a Python f-string and a tuple key.
 *
 * The lines are ASCII (JSON's ASCII escapes, then `display.clean`, which leaves
 * printable ASCII as it is) and come back as bytes: the caller writes them to the
 * stream's binary buffer without a decode and an encode.
 *
 * Included from _native.c (one translation unit).
 */

/* `x` in decimal at `p`; returns the end. */
static uint8_t *put_int(uint8_t *p, long long x)
{
    char tmp[24];
    int n = 0;
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0)
        *p++ = '-';
    while (n)
        *p++ = (uint8_t)tmp[--n];
    return p;
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

static PyObject *json_lines(PyObject *self, PyObject *args)
{
    PyObject *types, *kinds, *refs, *location, *groups, *make_middle, *score_texts;
    PyObject *result = NULL, *group = NULL, *last_type = NULL, *last_kind = NULL;
    Py_buffer vs = {0}, ve = {0}, vi = {0};
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!UO!OO!y*y*y*", &PyList_Type, &types, &PyList_Type,
                          &kinds, &PyList_Type, &refs, &location, &PyDict_Type, &groups,
                          &make_middle, &PyList_Type, &score_texts, &vs, &ve, &vi))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(types), n_scores = PyList_GET_SIZE(score_texts);
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const int64_t *score_of = (const int64_t *)vi.buf;
    u8vec out = {0};
    if (PyList_GET_SIZE(kinds) != n || PyList_GET_SIZE(refs) != n ||
        vs.len != n * (Py_ssize_t)sizeof(int64_t) || ve.len != vs.len || vi.len != vs.len) {
        PyErr_SetString(PyExc_ValueError, "json_lines: columns of different lengths");
        goto done;
    }
    for (Py_ssize_t j = 0; j < n_scores; j++) {
        PyObject *score = PyList_GET_ITEM(score_texts, j);
        if (!PyUnicode_Check(score) || !PyUnicode_IS_ASCII(score)) {
            PyErr_SetString(PyExc_ValueError, "json_lines: a score text is not an ASCII str");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id_type = PyList_GET_ITEM(types, i), *kind = PyList_GET_ITEM(kinds, i);
        if (score_of[i] < 0 || score_of[i] >= n_scores) {
            PyErr_SetString(PyExc_ValueError, "json_lines: a score index is out of range");
            goto done;
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
        PyObject *score = PyList_GET_ITEM(score_texts, score_of[i]);
        Py_ssize_t n_middle = PyUnicode_GET_LENGTH(middle), n_score = PyUnicode_GET_LENGTH(score);
        /* the literals, two numbers of at most 20 characters, the two strings */
        uint8_t *p = u8_room(&out, 64 + n_middle + n_score);
        if (p == NULL) {
            Py_DECREF(middle);
            PyErr_NoMemory();
            goto done;
        }
        uint8_t *start = p;
        p = PUT_LIT(p, "{\"end\": ");
        p = put_int(p, ends[i]);
        p = PUT_LIT(p, ", ");
        p = put_str(p, (const char *)PyUnicode_DATA(middle), n_middle);
        p = PUT_LIT(p, ", \"score\": ");
        p = put_str(p, (const char *)PyUnicode_DATA(score), n_score);
        p = PUT_LIT(p, ", \"start\": ");
        p = put_int(p, starts[i]);
        p = PUT_LIT(p, "}\n");
        out.len += p - start;
        Py_DECREF(middle);
    }
    result = PyBytes_FromStringAndSize((const char *)out.data, out.len);
done:
    Py_XDECREF(group);
    free(out.data);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vi);
    return result;
}

PyDoc_STRVAR(json_lines_doc,
             "json_lines(id_types, kinds, refs, location, groups, make_middle, score_texts,"
             " starts, ends, score_index) -> bytes\n\n"
             "The --json lines of findings given as columns: id_types, kinds, refs lists of\n"
             "str; a finding's middle (ASCII str) is groups[(id_type, kind, location)][ref],\n"
             "made by make_middle(id_type, kind, location, ref) when missing and stored there;\n"
             "score_texts the distinct scores as written (ASCII str), score_index (int64)\n"
             "which one a finding has; starts and ends int64.");

#define JSON_METHODS {"json_lines", json_lines, METH_VARARGS, json_lines_doc},
