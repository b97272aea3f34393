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
 * Finding has __slots__ now: its objects are allocated and their seven slots filled
 * directly, at the offsets of the class's member descriptors (what each descriptor's
 * __set__ does): 143,000 findings in 18 ms instead of 30 (48,000 in 4.5 ms instead of
 * 9.4). A class with a __dict__ still gets the generic way above.
 *
 * A batch's scores take a few values (the base score and its bonuses), in runs: each run
 * of equal scores shares one float object (equal, with the same sign of zero; a NaN gets
 * its own). Making and dropping the 287,000 findings of the 40 MB leak corpus, all types:
 * 147 ns a finding instead of 195.
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

/* Where a class with __slots__ keeps the seven fields (their member descriptors'
 * offsets), or 0 when it has none (a class with a __dict__): looked up once per class. */
static PyTypeObject *slots_cls;
static Py_ssize_t slot_offsets[7];

static int finding_slots(PyTypeObject *cls)
{
    if (cls == slots_cls)
        return slot_offsets[0] != 0;
    Py_ssize_t offs[7] = {0};
    for (int i = 0; i < 7; i++) {
        PyObject *d = PyObject_GetAttr((PyObject *)cls, finding_keys[i]);
        if (d == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError))
                return -1;
            PyErr_Clear(); /* no such class attribute: the fields live in a __dict__ */
            memset(offs, 0, sizeof offs);
            break;
        }
        if (Py_IS_TYPE(d, &PyMemberDescr_Type)) {
            PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
            if (m->type == T_OBJECT_EX && !(m->flags & READONLY))
                offs[i] = m->offset;
        }
        Py_DECREF(d);
        if (offs[i] == 0) {
            memset(offs, 0, sizeof offs);
            break;
        }
    }
    memcpy(slot_offsets, offs, sizeof offs);
    Py_INCREF(cls); /* held, so that no other class can take its address */
    Py_XSETREF(slots_cls, cls);
    return offs[0] != 0;
}

/* A slotted class's new object, as cls->tp_alloc (PyType_GenericAlloc) makes it, less
 * what finding_object undoes at once: the generic way zeroes and tracks the object, and
 * finding_object then fills every slot and untracks it (below). So the object is
 * allocated untracked and only its slots are zeroed: 180 instructions less a finding,
 * 2% of a scan of dense dumps. A class that allocates its own way gets that way. */
static PyObject *finding_alloc(PyTypeObject *cls)
{
    if (cls->tp_alloc != PyType_GenericAlloc || cls->tp_itemsize != 0 || !PyType_IS_GC(cls))
        return cls->tp_alloc(cls, 0);
    PyObject *obj = _PyObject_GC_New(cls); /* untracked, its type held */
    if (obj != NULL)
        memset((char *)obj + sizeof(PyObject), 0, (size_t)cls->tp_basicsize - sizeof(PyObject));
    return obj;
}

/* One finding (the numbers made here, the strings borrowed from the caller). A class
 * with __slots__ (`slotted`, from finding_slots) gets its object allocated and the slots
 * filled directly, as each member descriptor's __set__ does; another gets
 * object.__new__(cls) and its seven fields set the way object.__setattr__ sets them (the
 * frozen dataclass's own __setattr__ refuses). */
static PyObject *finding_object(PyTypeObject *cls, int slotted, PyObject *kind,
                                PyObject *id_type, PyObject *ref, PyObject *location,
                                long long start, long long end, PyObject *score)
{
    Py_INCREF(score);
    PyObject *values[7] = {kind, id_type, ref, location, PyLong_FromLongLong(start),
                           PyLong_FromLongLong(end), score};
    PyObject *obj = NULL;
    if (values[4] == NULL || values[5] == NULL || values[6] == NULL)
        goto done;
    obj = slotted ? finding_alloc(cls) : PyBaseObject_Type.tp_new(cls, empty_args, NULL);
    if (obj == NULL)
        goto done;
    for (int i = 0; i < 7; i++) {
        if (slotted) {
            PyObject **slot = (PyObject **)((char *)obj + slot_offsets[i]);
            Py_INCREF(values[i]);
            Py_XSETREF(*slot, values[i]);
        } else if (PyObject_GenericSetAttr(obj, finding_keys[i], values[i]) < 0) {
            Py_CLEAR(obj);
            goto done;
        }
    }
    /* A finding holds strings and numbers only, so it cannot be part of a reference
     * cycle: the cycle collector need not track it (CPython untracks dicts and tuples of
     * such values for the same reason). Tracked, a scan's hundreds of thousands of
     * findings set off collections that walk the whole heap, doubling their cost. */
    if (PyObject_GC_IsTracked(obj))
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
    PyObject *kinds, *types, *refs, *location, *result = NULL, *score = NULL;
    Py_buffer vs = {0}, ve = {0}, vsc = {0};
    long long base;
    Py_ssize_t lo = 0, hi = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!O!O!Uy*y*y*L|nn", &PyType_Type, &cls, &PyList_Type, &kinds,
                          &PyList_Type, &types, &PyList_Type, &refs, &location, &vs, &ve,
                          &vsc, &base, &lo, &hi))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(types);
    if (PyList_GET_SIZE(kinds) != n || PyList_GET_SIZE(refs) != n ||
        vs.len != n * (Py_ssize_t)sizeof(int64_t) ||
        ve.len != n * (Py_ssize_t)sizeof(int64_t) || vsc.len != n * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "make_findings: columns of different lengths");
        goto out;
    }
    if (hi < 0)
        hi = n;
    if (lo < 0 || lo > hi || hi > n) {
        PyErr_SetString(PyExc_IndexError, "make_findings: rows out of range");
        goto out;
    }
    const int64_t *starts = (const int64_t *)vs.buf, *ends = (const int64_t *)ve.buf;
    const double *scores = (const double *)vsc.buf;
    int slotted = finding_slots(cls);
    if (slotted < 0)
        goto out;
    result = PyList_New(hi - lo);
    if (result == NULL)
        goto out;
    /* A batch's scores take a few values (the base score and its bonuses): one float
       object for each run of equal scores */
    for (Py_ssize_t i = lo; i < hi; i++) {
        if (score == NULL || PyFloat_AS_DOUBLE(score) != scores[i]
            || (scores[i] == 0.0 && signbit(scores[i]) != signbit(PyFloat_AS_DOUBLE(score)))) {
            Py_XDECREF(score);
            score = PyFloat_FromDouble(scores[i]);
            if (score == NULL) {
                Py_CLEAR(result);
                goto out;
            }
        }
        PyObject *f = finding_object(cls, slotted, PyList_GET_ITEM(kinds, i),
                                     PyList_GET_ITEM(types, i),
                                     PyList_GET_ITEM(refs, i), location, starts[i] + base,
                                     ends[i] + base, score);
        if (f == NULL) {
            Py_CLEAR(result);
            goto out;
        }
        PyList_SET_ITEM(result, i - lo, f);
    }
out:
    Py_XDECREF(score);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&ve);
    PyBuffer_Release(&vsc);
    return result;
}

PyDoc_STRVAR(make_findings_doc,
             "make_findings(cls, kinds, id_types, refs, location, starts, ends, scores, base,"
             " lo=0, hi=len) -> list\n\n"
             "cls objects (engine.Finding) with the given fields of rows lo to hi, starts and\n"
             "ends + base: kinds, id_types and refs lists of str, starts and ends int64,\n"
             "scores float64.");

#define FINDINGS_METHODS {"make_findings", make_findings, METH_VARARGS, make_findings_doc},
