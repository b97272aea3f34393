/* binary_strings: the text strings of a binary input, as strings(1) finds them
 * (matchers/binary_strings.py, which has the same in Python). Included by _native.c. */

/* Bytes of the 8-bit character at d[i] (0: none): printable ASCII or a tab; a 2-byte
 * UTF-8 sequence; a Latin-1 letter (cp1252: a Finnish name in a varchar column) right
 * after an ASCII letter, so that random bytes seldom make one. */
static inline int str8_char(const uint8_t *d, Py_ssize_t n, Py_ssize_t i)
{
    uint8_t c = d[i];
    if ((c >= 0x20 && c <= 0x7e) || c == '\t')
        return 1;
    if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (d[i + 1] & 0xc0) == 0x80)
        return 2;
    if (c >= 0xc0 && c != 0xd7 && c != 0xf7 && i > 0
        && ((d[i - 1] | 0x20) >= 'a' && (d[i - 1] | 0x20) <= 'z'))
        return 1;
    return 0;
}

/* A UTF-16LE character of Latin-1 at d[i]: printable, a tab or U+00A0..U+00FF. */
static inline int str16_char(const uint8_t *d, Py_ssize_t n, Py_ssize_t i)
{
    if (i + 1 >= n || d[i + 1] != 0)
        return 0;
    uint8_t c = d[i];
    return (c >= 0x20 && c <= 0x7e) || c == '\t' || c >= 0xa0;
}

/* The end of the run of 8-bit characters from i (i itself: none), its characters in *chars. */
static Py_ssize_t str8_run(const uint8_t *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *chars)
{
    Py_ssize_t k = 0;
    int w;
    while (i < n && (w = str8_char(d, n, i)) > 0) {
        i += w;
        k++;
    }
    *chars = k;
    return i;
}

static Py_ssize_t str16_run(const uint8_t *d, Py_ssize_t n, Py_ssize_t i, Py_ssize_t *chars)
{
    Py_ssize_t k = 0;
    while (str16_char(d, n, i)) {
        i += 2;
        k++;
    }
    *chars = k;
    return i;
}

typedef Py_ssize_t (*run_finder)(const uint8_t *, Py_ssize_t, Py_ssize_t, Py_ssize_t *);

/* The next run `run` finds from *i on with at least min_run characters, unless one is
 * waiting (*a >= 0): its start in *a (-1: none), its end in *b; *i goes past it. */
static void next_run(run_finder run, const uint8_t *d, Py_ssize_t n, Py_ssize_t min_run,
                     Py_ssize_t *i, Py_ssize_t *a, Py_ssize_t *b)
{
    Py_ssize_t chars;
    while (*a < 0 && *i < n) {
        Py_ssize_t end = run(d, n, *i, &chars);
        if (chars >= min_run) {
            *a = *i;
            *b = end;
        }
        *i = end > *i ? end : *i + 1;
    }
}

static void put_latin1(u8vec *out, uint8_t c)
{
    uint8_t *p = u8_room(out, 2);
    if (p == NULL)
        return;
    if (c < 0x80) {
        p[0] = c;
        out->len += 1;
    } else {
        p[0] = (uint8_t)(0xc0 | (c >> 6));
        p[1] = (uint8_t)(0x80 | (c & 0x3f));
        out->len += 2;
    }
}

/* Run [a, b) of 8-bit characters as UTF-8, then a line end. */
static void str8_put(u8vec *out, const uint8_t *d, Py_ssize_t n, Py_ssize_t a, Py_ssize_t b)
{
    while (a < b) {
        int w = str8_char(d, n, a);
        if (w == 2 || d[a] < 0x80)
            u8_append(out, d + a, w);
        else
            put_latin1(out, d[a]);
        a += w;
    }
    u8_append(out, (const uint8_t *)"\n", 1);
}

static void str16_put(u8vec *out, const uint8_t *d, Py_ssize_t a, Py_ssize_t b)
{
    for (; a < b; a += 2)
        put_latin1(out, d[a]);
    u8_append(out, (const uint8_t *)"\n", 1);
}

PyDoc_STRVAR(binary_strings_doc,
"binary_strings(data, min_run) -> bytes\n\n"
"The runs of at least min_run characters of data, 8-bit (printable ASCII, 2-byte UTF-8,\n"
"a Latin-1 letter after an ASCII letter) and UTF-16LE (Latin-1), in the order they\n"
"start, as UTF-8, each followed by a line end.");

static PyObject *binary_strings(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t min_run;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &min_run))
        return NULL;
    const uint8_t *d = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    u8vec out = {0};
    if (min_run < 1)
        min_run = 1;
    Py_BEGIN_ALLOW_THREADS
    /* The next run of each kind is found, and the one that starts first goes out. They
       share a character at most (an 8-bit run's last, when a NUL follows it: either
       reading may be the right one, so both keep it). A run too short is passed over
       whole: no start inside it makes a run long enough. */
    Py_ssize_t i8 = 0, i16 = 0, a8 = -1, b8 = 0, a16 = -1, b16 = 0;
    for (;;) {
        next_run(str8_run, d, n, min_run, &i8, &a8, &b8);
        next_run(str16_run, d, n, min_run, &i16, &a16, &b16);
        if (a8 < 0 && a16 < 0)
            break;
        if (a16 < 0 || (a8 >= 0 && a8 < a16)) {
            str8_put(&out, d, n, a8, b8);
            a8 = -1;
        } else {
            str16_put(&out, d, a16, b16);
            a16 = -1;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (out.failed) {
        free(out.data);
        return PyErr_NoMemory();
    }
    PyObject *result = PyBytes_FromStringAndSize((const char *)out.data, out.len);
    free(out.data);
    return result;
}

#define STRINGS_METHODS {"binary_strings", binary_strings, METH_VARARGS, binary_strings_doc},
