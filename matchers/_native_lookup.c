/* Lookup of digest prefixes in the watchlist index (included from _native.c).
 *
 * lookup_table(sorted_keys)                  an open-addressing hash table over a
 *                                            sorted uint64 key array, built once per
 *                                            index and type (kept in memory, never saved)
 * cmac_prepare(...)                          the CMAC messages of Digester.digest_rows
 * cmac_prepare_packed(...)                   the same of Digester.digest_packed
 * lookup_probe(table, sorted_keys, people, queries)
 *                                            (positions, people) of every hit, in the
 *                                            order WatchlistIndex.lookup's numpy path
 *                                            gives them
 *
 * A slot is one uint64: the low 32 bits of the key (a tag, to skip most misses
 * without touching sorted_keys) in the high half and first + 1 (the position of
 * the key's first copy in sorted_keys) in the low half; 0 is an empty slot. A
 * hit is always confirmed against sorted_keys, so the tag only saves reads.
 * Digests are random, but the slot comes from a multiplicative hash all the same,
 * so that small test keys spread too.
 */

static inline uint64_t lookup_slot(uint64_t key, int shift)
{
    return (key * 0x9E3779B97F4A7C15ULL) >> shift;
}

static int lookup_bits(Py_ssize_t n)
{
    int bits = 1;
    while (bits < 40 && ((Py_ssize_t)1 << bits) < 2 * n)
        bits++;
    return bits;
}

static PyObject *lookup_table(PyObject *self, PyObject *args)
{
    Py_buffer vk;
    if (!PyArg_ParseTuple(args, "y*", &vk))
        return NULL;
    PyObject *result = NULL;
    const uint64_t *keys = (const uint64_t *)vk.buf;
    Py_ssize_t n = vk.len / 8;
    if (vk.len % 8 || n >= (Py_ssize_t)UINT32_MAX - 1) {
        PyErr_SetString(PyExc_ValueError, "lookup_table: bad key array");
        goto done;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        if (keys[i] < keys[i - 1]) {
            PyErr_SetString(PyExc_ValueError, "lookup_table: keys not sorted");
            goto done;
        }
    }
    int bits = lookup_bits(n);
    Py_ssize_t cap = (Py_ssize_t)1 << bits;
    result = PyBytes_FromStringAndSize(NULL, cap * 8);
    if (result == NULL)
        goto done;
    uint64_t *table = (uint64_t *)PyBytes_AS_STRING(result);
    memset(table, 0, (size_t)cap * 8);
    uint64_t mask = (uint64_t)cap - 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && keys[i] == keys[i - 1])
            continue; /* only the first copy: the probe walks on in sorted_keys */
        uint64_t s = lookup_slot(keys[i], 64 - bits);
        while (table[s])
            s = (s + 1) & mask;
        table[s] = ((keys[i] & 0xFFFFFFFFULL) << 32) | (uint64_t)(i + 1);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&vk);
    return result;
}

PyDoc_STRVAR(lookup_table_doc, "lookup_table(sorted_keys) -> bytes (uint64 slots)");

static PyObject *lookup_probe(PyObject *self, PyObject *args)
{
    Py_buffer vt, vk, vp, vq;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &vt, &vk, &vp, &vq))
        return NULL;
    PyObject *result = NULL;
    i64vec o_where = {0}, o_people = {0};
    const uint64_t *table = (const uint64_t *)vt.buf, *keys = (const uint64_t *)vk.buf;
    const uint64_t *queries = (const uint64_t *)vq.buf;
    const int32_t *people = (const int32_t *)vp.buf;
    Py_ssize_t n = vk.len / 8, nq = vq.len / 8, cap = vt.len / 8;
    int bits = lookup_bits(n);
    if (vk.len % 8 || vq.len % 8 || vt.len % 8 || vp.len != n * 4
        || cap != ((Py_ssize_t)1 << bits)) {
        PyErr_SetString(PyExc_ValueError, "lookup_probe: bad arguments");
        goto done;
    }
    uint64_t mask = (uint64_t)cap - 1;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < nq && !bad; i++) {
        if (i + 8 < nq)
            __builtin_prefetch(&table[lookup_slot(queries[i + 8], 64 - bits)]);
        uint64_t q = queries[i], tag = (q & 0xFFFFFFFFULL) << 32;
        uint64_t s = lookup_slot(q, 64 - bits);
        for (Py_ssize_t steps = 0; steps < cap; steps++, s = (s + 1) & mask) {
            uint64_t v = table[s];
            if (v == 0)
                break;
            if ((v & 0xFFFFFFFF00000000ULL) != tag)
                continue;
            Py_ssize_t first = (Py_ssize_t)(v & 0xFFFFFFFFULL) - 1;
            if (first < 0 || first >= n) {
                bad = 1;
                break;
            }
            if (keys[first] != q)
                continue;
            for (Py_ssize_t j = first; j < n && keys[j] == q; j++) {
                vec_push(&o_where, i);
                vec_push(&o_people, people[j]);
            }
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "lookup_probe: table does not fit the keys");
        goto done;
    }
    if (o_where.failed || o_people.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NN)", vec_bytes(&o_where), vec_bytes(&o_people));
done:
    free(o_where.data);
    free(o_people.data);
    PyBuffer_Release(&vt);
    PyBuffer_Release(&vk);
    PyBuffer_Release(&vp);
    PyBuffer_Release(&vq);
    return result;
}

PyDoc_STRVAR(lookup_probe_doc,
             "lookup_probe(table, sorted_keys, people, queries) -> (positions, people) as int64 bytes");


/* ---------------------------------------------------------------------------------- */
/* cmac_prepare(values, width, lengths, prefix, k1, k2) -> (order, active, msgs)
 *
 * The message building of Digester.digest_rows (matchers/digest.py) in one pass: row i
 * of `values` (n rows of `width` bytes) holds lengths[i] bytes; its message is prefix +
 * those bytes (zeros past `width`), 10* padded to whole 16-byte blocks, the last block
 * XORed with K1 (no padding) or K2 (padded). Rows are ordered by block count, most
 * first, stable (`order`); active[b] is the number of rows with more than b blocks;
 * msgs is (n, blocks of the first row * 16), rows in that order. The AES stays in
 * Python (`cryptography`).
 */
#define CMAC_MAX_BLOCKS 4096

/* The messages of n values: value i is lengths[i] bytes at base + at[i] (at == NULL:
 * at base + i * width, and only its first `width` bytes, zeros after). Lengths are
 * checked by the caller. */
static PyObject *cmac_messages(const uint8_t *base, const int64_t *at, Py_ssize_t width,
                               const int64_t *lengths, Py_ssize_t n, const uint8_t *prefix,
                               Py_ssize_t p, const uint8_t *k1, const uint8_t *k2)
{
    PyObject *result = NULL, *o_order = NULL, *o_active = NULL, *o_msgs = NULL;
    Py_ssize_t counts[CMAC_MAX_BLOCKS + 1] = {0};
    int64_t nb_max = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t nb = (lengths[i] + p + 15) / 16;
        counts[nb]++;
        if (nb > nb_max)
            nb_max = nb;
    }
    Py_ssize_t row_bytes = (Py_ssize_t)nb_max * 16;
    o_order = PyBytes_FromStringAndSize(NULL, n * 8);
    o_active = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)nb_max * 8);
    o_msgs = PyBytes_FromStringAndSize(NULL, n * row_bytes);
    if (o_order == NULL || o_active == NULL || o_msgs == NULL)
        goto done;
    int64_t *order = (int64_t *)PyBytes_AS_STRING(o_order);
    int64_t *active = (int64_t *)PyBytes_AS_STRING(o_active);
    uint8_t *msgs = (uint8_t *)PyBytes_AS_STRING(o_msgs);
    Py_BEGIN_ALLOW_THREADS
    /* counting sort, most blocks first, stable */
    Py_ssize_t start[CMAC_MAX_BLOCKS + 1], pos = 0;
    for (int64_t b = nb_max; b >= 1; b--) {
        start[b] = pos;
        pos += counts[b];
    }
    for (int64_t b = 0; b < nb_max; b++)
        active[b] = start[b + 1] + counts[b + 1]; /* rows with at least b + 1 blocks */
    for (Py_ssize_t i = 0; i < n; i++)
        order[start[(lengths[i] + p + 15) / 16]++] = i;
    memset(msgs, 0, (size_t)(n * row_bytes));
    for (Py_ssize_t r = 0; r < n; r++) {
        Py_ssize_t i = (Py_ssize_t)order[r];
        uint8_t *m = msgs + r * row_bytes;
        int64_t len = lengths[i], total = len + p, nb = (total + 15) / 16;
        memcpy(m, prefix, (size_t)p);
        if (at != NULL)
            memcpy(m + p, base + at[i], (size_t)len);
        else
            memcpy(m + p, base + i * width, (size_t)(len < width ? len : width));
        const uint8_t *k = k1;
        if (total % 16) {
            m[total] = 0x80;
            k = k2;
        }
        for (int j = 0; j < 16; j++)
            m[(nb - 1) * 16 + j] ^= k[j];
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(OOO)", o_order, o_active, o_msgs);
done:
    Py_XDECREF(o_order);
    Py_XDECREF(o_active);
    Py_XDECREF(o_msgs);
    return result;
}

/* Are lengths[0:n] valid message lengths for a prefix of p bytes? */
static int cmac_lengths_ok(const int64_t *lengths, Py_ssize_t n, Py_ssize_t p)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (lengths[i] < 0 || lengths[i] + p > (int64_t)CMAC_MAX_BLOCKS * 16)
            return 0;
    return 1;
}

static PyObject *cmac_prepare(PyObject *self, PyObject *args)
{
    Py_buffer vv, vl, vp, vk1, vk2;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*y*", &vv, &width, &vl, &vp, &vk1, &vk2))
        return NULL;
    PyObject *result = NULL;
    const int64_t *lengths = (const int64_t *)vl.buf;
    Py_ssize_t n = vl.len / 8, p = vp.len;
    if (vl.len % 8 || width < 0 || vv.len != n * width || vk1.len != 16 || vk2.len != 16
        || p < 1 || p > 64) {
        PyErr_SetString(PyExc_ValueError, "cmac_prepare: bad arguments");
        goto done;
    }
    if (!cmac_lengths_ok(lengths, n, p)) {
        PyErr_SetString(PyExc_ValueError, "cmac_prepare: bad lengths");
        goto done;
    }
    result = cmac_messages((const uint8_t *)vv.buf, NULL, width, lengths, n,
                           (const uint8_t *)vp.buf, p, (const uint8_t *)vk1.buf,
                           (const uint8_t *)vk2.buf);
done:
    PyBuffer_Release(&vv);
    PyBuffer_Release(&vl);
    PyBuffer_Release(&vp);
    PyBuffer_Release(&vk1);
    PyBuffer_Release(&vk2);
    return result;
}

PyDoc_STRVAR(cmac_prepare_doc,
             "cmac_prepare(values, width, lengths, prefix, k1, k2) -> (order, active, msgs) bytes");

/* cmac_prepare_packed(flat, offsets, lengths, prefix, k1, k2): cmac_prepare of values
 * packed in `flat` (value i: lengths[i] bytes at offsets[i], both int64), as
 * Digester.digest_packed gives them, without making them rows first. */
static PyObject *cmac_prepare_packed(PyObject *self, PyObject *args)
{
    Py_buffer vf, vo, vl, vp, vk1, vk2;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*", &vf, &vo, &vl, &vp, &vk1, &vk2))
        return NULL;
    PyObject *result = NULL;
    const int64_t *offsets = (const int64_t *)vo.buf, *lengths = (const int64_t *)vl.buf;
    Py_ssize_t n = vl.len / 8, p = vp.len;
    if (vl.len % 8 || vo.len != vl.len || vk1.len != 16 || vk2.len != 16 || p < 1 || p > 64) {
        PyErr_SetString(PyExc_ValueError, "cmac_prepare_packed: bad arguments");
        goto done;
    }
    int ok = cmac_lengths_ok(lengths, n, p);
    for (Py_ssize_t i = 0; i < n && ok; i++)
        ok = offsets[i] >= 0 && offsets[i] <= vf.len - lengths[i];
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "cmac_prepare_packed: bad offsets or lengths");
        goto done;
    }
    result = cmac_messages((const uint8_t *)vf.buf, offsets, 0, lengths, n,
                           (const uint8_t *)vp.buf, p, (const uint8_t *)vk1.buf,
                           (const uint8_t *)vk2.buf);
done:
    PyBuffer_Release(&vf);
    PyBuffer_Release(&vo);
    PyBuffer_Release(&vl);
    PyBuffer_Release(&vp);
    PyBuffer_Release(&vk1);
    PyBuffer_Release(&vk2);
    return result;
}

PyDoc_STRVAR(cmac_prepare_packed_doc,
             "cmac_prepare_packed(flat, offsets, lengths, prefix, k1, k2) -> (order, active, msgs) bytes");

/* CMAC's CBC around Python's AES-ECB (Digester._cbc), on the messages of cmac_prepare:
 *
 * cmac_cbc_block(prev, msgs, nblocks, i, m)   block i of the first m messages XOR the
 *                                             state after block i - 1 (prev: the ECB of
 *                                             block i - 1 of at least m messages; None
 *                                             for block 0) -> m * 16 bytes to encrypt
 * cmac_cbc_finish(states, active, order)      each message's final state (its last
 *                                             block's ECB, states[b] the ECB of block
 *                                             b) in the values' order -> n * 16 bytes
 */
static PyObject *cmac_cbc_block(PyObject *self, PyObject *args)
{
    PyObject *prev;
    Py_buffer vm;
    Py_ssize_t nblocks, i, m;
    if (!PyArg_ParseTuple(args, "Oy*nnn", &prev, &vm, &nblocks, &i, &m))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t row = nblocks * 16;
    int first = prev == Py_None;
    if (nblocks < 1 || i < 0 || i >= nblocks || m < 0 || m * row > vm.len || vm.len % row
        || first != (i == 0) || (!first && (!PyBytes_Check(prev) || PyBytes_GET_SIZE(prev) < m * 16))) {
        PyErr_SetString(PyExc_ValueError, "cmac_cbc_block: bad arguments");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, m * 16);
    if (out == NULL)
        goto done;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    const uint8_t *msgs = (const uint8_t *)vm.buf + i * 16;
    const uint8_t *state = first ? NULL : (const uint8_t *)PyBytes_AS_STRING(prev);
    for (Py_ssize_t r = 0; r < m; r++)
        for (int j = 0; j < 16; j++)
            o[r * 16 + j] = msgs[r * row + j] ^ (state ? state[r * 16 + j] : 0);
done:
    PyBuffer_Release(&vm);
    return out;
}

static PyObject *cmac_cbc_finish(PyObject *self, PyObject *args)
{
    PyObject *states;
    Py_buffer va, vo;
    if (!PyArg_ParseTuple(args, "O!y*y*", &PyList_Type, &states, &va, &vo))
        return NULL;
    PyObject *out = NULL;
    const int64_t *active = (const int64_t *)va.buf, *order = (const int64_t *)vo.buf;
    Py_ssize_t nb = va.len / 8, n = vo.len / 8;
    int ok = va.len % 8 == 0 && vo.len % 8 == 0 && PyList_GET_SIZE(states) == nb
             && (nb == 0 ? n == 0 : active[0] == n);
    for (Py_ssize_t b = 0; b < nb && ok; b++) {
        PyObject *st = PyList_GET_ITEM(states, b);
        ok = PyBytes_Check(st) && active[b] >= 0 && PyBytes_GET_SIZE(st) >= active[b] * 16
             && (b == 0 || active[b] <= active[b - 1]);
    }
    for (Py_ssize_t r = 0; r < n && ok; r++)
        ok = order[r] >= 0 && order[r] < n;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "cmac_cbc_finish: bad arguments");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, n * 16);
    if (out == NULL)
        goto done;
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t b = 0; b < nb; b++) {  /* rows active[b + 1] .. active[b] end at block b */
        const uint8_t *st = (const uint8_t *)PyBytes_AS_STRING(PyList_GET_ITEM(states, b));
        for (Py_ssize_t r = b + 1 < nb ? active[b + 1] : 0; r < active[b]; r++)
            memcpy(o + order[r] * 16, st + r * 16, 16);
    }
done:
    PyBuffer_Release(&va);
    PyBuffer_Release(&vo);
    return out;
}

#define LOOKUP_METHODS                                                                 \
    {"lookup_table", lookup_table, METH_VARARGS, lookup_table_doc},                    \
    {"lookup_probe", lookup_probe, METH_VARARGS, lookup_probe_doc},                    \
    {"cmac_prepare", cmac_prepare, METH_VARARGS, cmac_prepare_doc},                    \
    {"cmac_prepare_packed", cmac_prepare_packed, METH_VARARGS, cmac_prepare_packed_doc}, \
    {"cmac_cbc_block", cmac_cbc_block, METH_VARARGS,                                  \
     "cmac_cbc_block(prev, msgs, nblocks, i, m) -> bytes"},                            \
    {"cmac_cbc_finish", cmac_cbc_finish, METH_VARARGS,                                \
     "cmac_cbc_finish(states, active, order) -> bytes"},
