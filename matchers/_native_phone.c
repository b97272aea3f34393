/* Phone number readings (matchers/detectors/phone.py `candidates`) in C. Part of the
 * unity build of matchers/_native.c, which includes this file.
 *
 * phone_candidates(cp, run_starts, run_ends, cc, national, intl, glued, sep, after_bad,
 *                  max_groups, max_digits, e164_min, e164_max, pad_before)
 *     The E.164 reading of every digit chain that may start a phone number, for every
 *     cut at a group boundary, exactly as the numpy `candidates` computes them: `cp`
 *     the padded code points (uint8), the digit runs' padded starts and ends (int64),
 *     the region's country code, national and international prefixes (ASCII digits),
 *     and phone.py's tables (glued: 256 x 256, sep and after_bad: 256).
 *     Returns (starts, ends, values, lengths, groups, ngroups) as bytes: int64 arrays,
 *     and values rows of e164_max + 1 bytes (zero past each value's length).
 */

#define PHONE_MAX_GROUPS 16
#define PHONE_MAX_DIGITS 64

static const char phone_candidates_doc[] =
    "phone_candidates(cp, run_starts, run_ends, cc, national, intl, glued, sep, after_bad, "
    "max_groups, max_digits, e164_min, e164_max, pad_before)\n"
    "Phone readings of digit chains (see matchers/_native_phone.c).";

static PyObject *phone_candidates(PyObject *self, PyObject *args)
{
    Py_buffer vcp, vst, ven, vcc, vnat, vintl, vglued, vsep, vbad;
    int max_groups, max_digits, e164_min, e164_max, pad_before;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*iiiii", &vcp, &vst, &ven, &vcc, &vnat,
                          &vintl, &vglued, &vsep, &vbad, &max_groups, &max_digits, &e164_min,
                          &e164_max, &pad_before))
        return NULL;
    PyObject *result = NULL;
    i64vec o_start = {0}, o_end = {0}, o_len = {0}, o_group = {0}, o_ngroups = {0};
    u8vec o_values = {0};
    const uint8_t *cp = (const uint8_t *)vcp.buf, *cc = (const uint8_t *)vcc.buf;
    const uint8_t *national = (const uint8_t *)vnat.buf, *intl = (const uint8_t *)vintl.buf;
    const uint8_t *glued = (const uint8_t *)vglued.buf, *sep = (const uint8_t *)vsep.buf;
    const uint8_t *after_bad = (const uint8_t *)vbad.buf;
    const int64_t *rs = (const int64_t *)vst.buf, *re_ = (const int64_t *)ven.buf;
    Py_ssize_t ncp = vcp.len, nr = vst.len / 8, ncc = vcc.len, nnat = vnat.len, nintl = vintl.len;
    int width = e164_max + 1;
    if (ven.len != vst.len || vglued.len != 65536 || vsep.len != 256 || vbad.len != 256
        || max_groups < 1 || max_groups >= PHONE_MAX_GROUPS || max_digits < 1
        || max_digits > PHONE_MAX_DIGITS || width < 2 || width > 64 || nintl > max_digits) {
        PyErr_SetString(PyExc_ValueError, "phone_candidates: bad arguments");
        goto done;
    }
    /* every read below stays inside cp: runs lie in the padded text */
    for (Py_ssize_t j = 0; j < nr; j++) {
        if (rs[j] < 2 || re_[j] + 2 > ncp || rs[j] >= re_[j]) {
            PyErr_SetString(PyExc_ValueError, "phone_candidates: runs outside the padding");
            goto done;
        }
    }
    const int g = max_groups + 1, k = max_groups;
    uint8_t value[64];
    for (Py_ssize_t j = 0; j < nr && ncc > 0; j++) {
        uint8_t before = cp[rs[j] - 1], first = cp[rs[j]];
        int plus = before == '+', paren = before == '(';
        if (!(plus || paren || nnat == 0 || first == national[0]))
            continue;
        int64_t at = rs[j] - plus; /* "(" is a delimiter itself */
        if (at < 2 || glued[cp[at - 1] * 256 + cp[at - 2]])
            continue;
        int64_t st[PHONE_MAX_GROUPS], en[PHONE_MAX_GROUPS], ln[PHONE_MAX_GROUPS];
        int exists[PHONE_MAX_GROUPS], g_open[PHONE_MAX_GROUPS], trunk[PHONE_MAX_GROUPS];
        uint8_t g0[PHONE_MAX_GROUPS], g1[PHONE_MAX_GROUPS];
        for (int i = 0; i < g; i++) {
            Py_ssize_t jj = j + i;
            exists[i] = jj < nr;
            Py_ssize_t jc = jj < nr ? jj : nr - 1;
            st[i] = rs[jc];
            en[i] = re_[jc];
            ln[i] = en[i] - st[i];
            g_open[i] = cp[st[i] - 1] == '(';
            g0[i] = cp[en[i]];
            g1[i] = cp[en[i] + 1];
            trunk[i] = ln[i] == 1 && cp[st[i]] == '0' && g_open[i] && g0[i] == ')';
        }
        int link[PHONE_MAX_GROUPS], closes[PHONE_MAX_GROUPS], reach[PHONE_MAX_GROUPS];
        for (int i = 0; i + 1 < g; i++) {
            int64_t gap = st[i + 1] - en[i];
            uint8_t a0 = g0[i], a1 = g1[i];
            closes[i] = g_open[i] && a0 == ')';
            int l = (gap == 1 && (sep[a0] || closes[i])) || (gap == 2 && closes[i] && sep[a1])
                    || (trunk[i + 1] && (gap == 1 || (gap == 2 && a0 == ' ')));
            link[i] = l && exists[i + 1];
        }
        reach[0] = 1;
        for (int i = 1; i < g; i++)
            reach[i] = reach[i - 1] && link[i - 1];
        int64_t ndig[PHONE_MAX_GROUPS], capped[PHONE_MAX_GROUPS], sum = 0;
        int valid[PHONE_MAX_GROUPS], any = 0;
        for (int i = 0; i < k; i++) {
            sum += (trunk[i] || !reach[i]) ? 0 : ln[i];
            ndig[i] = sum;
            capped[i] = sum < max_digits ? sum : max_digits;
            valid[i] = reach[i] && !trunk[i] && sum >= 6 && sum <= max_digits
                       && (link[i] || !after_bad[g0[i]]);
            any |= valid[i];
        }
        if (!any)
            continue;
        /* the first max_digits digits of the chain, trunks left out */
        uint8_t digits[PHONE_MAX_DIGITS] = {0};
        for (int i = 0; i < k; i++) {
            int64_t prev = i ? capped[i - 1] : 0, n = capped[i] - prev;
            for (int64_t w = 0; w < n; w++)
                digits[prev + w] = cp[st[i] + w];
        }
        int has_intl = !plus && memcmp(digits, intl, (size_t)nintl) == 0;
        int nat = !plus && !has_intl;
        int64_t skip = has_intl ? nintl : nat ? nnat : 0;
        int64_t head_len = nat ? 1 + ncc : 1;
        int opened = paren && closes[0];
        for (int i = 0; i < k; i++) {
            if (!valid[i])
                continue;
            int64_t body = ndig[i] - skip, total = head_len + body;
            if (total - 1 < e164_min || total - 1 > e164_max || body <= 0)
                continue;
            memset(value, 0, (size_t)width);
            value[0] = '+';
            for (int64_t c = 1; c < head_len; c++)
                value[c] = cc[c - 1];
            for (int64_t c = head_len; c < total; c++)
                value[c] = digits[skip + c - head_len];
            u8_append(&o_values, value, width);
            vec_push(&o_start, rs[j] - (plus || (opened && i > 0)) - pad_before);
            vec_push(&o_end, en[i] - pad_before);
            vec_push(&o_len, total);
            vec_push(&o_group, (int64_t)j);
            vec_push(&o_ngroups, (int64_t)(i + 1));
        }
    }
    if (o_start.failed || o_end.failed || o_len.failed || o_group.failed || o_ngroups.failed
        || o_values.failed) {
        PyErr_NoMemory();
        goto done;
    }
    result = Py_BuildValue("(NNy#NNN)", vec_bytes(&o_start), vec_bytes(&o_end),
                           o_values.data ? (const char *)o_values.data : "", o_values.len,
                           vec_bytes(&o_len), vec_bytes(&o_group), vec_bytes(&o_ngroups));
done:
    free(o_start.data);
    free(o_end.data);
    free(o_len.data);
    free(o_group.data);
    free(o_ngroups.data);
    free(o_values.data);
    PyBuffer_Release(&vcp);
    PyBuffer_Release(&vst);
    PyBuffer_Release(&ven);
    PyBuffer_Release(&vcc);
    PyBuffer_Release(&vnat);
    PyBuffer_Release(&vintl);
    PyBuffer_Release(&vglued);
    PyBuffer_Release(&vsep);
    PyBuffer_Release(&vbad);
    return result;
}

#define PHONE_METHODS {"phone_candidates", phone_candidates, METH_VARARGS, phone_candidates_doc},
