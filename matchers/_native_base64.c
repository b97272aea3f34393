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
    while (i + L <= n) {
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
