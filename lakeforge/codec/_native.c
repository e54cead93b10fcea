/*
 * lakeforge.codec._native: the native fast path of the Avro decoder.
 *
 * decode() runs a small program, compiled in Python by lakeforge.codec.decode_native
 * from a flat record schema, over many Avro bodies of one batch, record by record,
 * and fills one set of Arrow buffers per field. It validates everything the NumPy
 * decoder validates; a record that fails anything is only marked not ok and rolled
 * back (its slot is reused by the next record), so the columns hold the ok records
 * alone, in order. Why a record failed is left to the NumPy decoder, which the caller
 * runs on the (normally no) records marked not ok.
 *
 * Memory safety on hostile input: every read is bounded by its body's end, and every
 * body range is checked against the data buffer before anything is read. The GIL is
 * released while decoding; output memory is plain malloc'd and handed to Python at
 * the end wrapped in a small buffer object (no copy).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Value kinds of the program; keep in step with decode_native.py. */
enum {
    K_BOOLEAN = 0,
    K_INT = 1,
    K_LONG = 2,
    K_LONG_MILLIS = 3, /* timestamp-millis read into micros */
    K_FLOAT = 4,
    K_DOUBLE = 5,
    K_STRING = 6,
    K_BYTES = 7,
    K_ENUM = 8,
    K_FIXED = 9,
    K_COUNT = 10
};

/* A field of the program is four int64: kind, value branch (-1 when not nullable),
 * is array (0/1), argument (enum symbol count or fixed size). */
#define FIELD_WORDS 4

#define MILLIS_LIMIT (INT64_MAX / 1000)

/* ---- growable output buffers ------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len; /* bytes in use, for byte data; unused for slot arrays */
    size_t cap;
    int zero; /* bitmaps: new bytes are zeroed, so their padding bits are defined */
} Buf;

/* Make room for ``need`` bytes in all. Other buffers are not zeroed: every byte that
 * is handed to Arrow has been written (the first offset explicitly). */
static int buf_fit(Buf *b, size_t need) {
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            return -1;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return -1;
    }
    if (b->zero) {
        memset(p + b->cap, 0, cap - b->cap);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline void bit_put(uint8_t *bits, int64_t i, int on) {
    uint8_t mask = (uint8_t)(1u << (i & 7));
    if (on) {
        bits[i >> 3] |= mask;
    } else {
        bits[i >> 3] &= (uint8_t)~mask;
    }
}

/* ---- one column per field ------------------------------------------------------------ */

typedef struct {
    int kind;
    int branch; /* value branch of a nullable field, or -1 */
    int array;
    int64_t arg;
    int64_t room;      /* fewest bytes an array item takes */
    int64_t max_count; /* most items a block may have: max_bytes / room */
    Buf valid;     /* nullable: validity bitmap, one bit per record */
    Buf lists;     /* array: int32 list offsets, one per record + 1 */
    Buf vals;      /* values: bitmap, fixed-width values, or int32 offsets (+1) */
    Buf data;      /* string, bytes, fixed: the value bytes */
    int64_t items; /* array: items written so far */
} Column;

static int kind_width(int kind) {
    switch (kind) {
    case K_INT:
    case K_ENUM:
    case K_FLOAT:
        return 4;
    case K_LONG:
    case K_LONG_MILLIS:
    case K_DOUBLE:
        return 8;
    default:
        return 0; /* boolean: bits; variable size: offsets */
    }
}

static int is_variable(int kind) { return kind == K_STRING || kind == K_BYTES || kind == K_FIXED; }

/* ---- reading ------------------------------------------------------------------------- */

/* Where reads may go: bodies end at their own end, but a read of a whole 8-byte word
 * (whose extra bytes are then ignored) may run on to the end of the data buffer. */
typedef struct {
    const uint8_t *limit; /* end of the data buffer */
    int64_t max_bytes;    /* no length or count may exceed this */
} Input;

static inline uint64_t load64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w; /* little-endian hosts only (checked at import) */
}

static inline int64_t unzigzag(uint64_t v) { return (int64_t)((v >> 1) ^ (0 - (v & 1))); }

/* A zigzag varint at *pp, within end: 0 and the value, or -1 (truncated or longer
 * than 10 bytes). Bits past 64 of a 10-byte varint are dropped, as the NumPy reader
 * (and the Java and C Avro readers) do. */
static int read_long_slow(const uint8_t **pp, const uint8_t *end, int64_t *out) {
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end) {
            return -1;
        }
        uint64_t b = *p++;
        v |= i < 9 ? (b & 0x7F) << (7 * i) : b << 63;
        if (b < 0x80) {
            *pp = p;
            *out = unzigzag(v);
            return 0;
        }
    }
    return -1;
}

static inline int read_long(const uint8_t **pp, const uint8_t *end, const Input *in,
                            int64_t *out) {
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *pp = p + 1;
        *out = unzigzag(*p);
        return 0;
    }
    if (in->limit - p >= 8) {
        /* up to 8 bytes without a branch per byte: find the first byte with no
         * continuation bit, keep the 7-bit groups up to it, and pack them */
        uint64_t w = load64(p);
        uint64_t stop = ~w & 0x8080808080808080ULL;
        if (stop) {
            int64_t len = (__builtin_ctzll(stop) >> 3) + 1;
            if (len > end - p) {
                return -1;
            }
            w &= (stop ^ (stop - 1)) & 0x7F7F7F7F7F7F7F7FULL;
            w = (w & 0x007F007F007F007FULL) | ((w & 0x7F007F007F007F00ULL) >> 1);
            w = (w & 0x00003FFF00003FFFULL) | ((w & 0x3FFF00003FFF0000ULL) >> 2);
            w = (w & 0x000000000FFFFFFFULL) | ((w & 0x0FFFFFFF00000000ULL) >> 4);
            *pp = p + len;
            *out = unzigzag(w);
            return 0;
        }
    }
    return read_long_slow(pp, end, out);
}

/* Whether s[0:n] is valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF: what Arrow's and Python's validators accept). */
static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            i += 8;
        }
        if (i >= n) {
            break;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return 0;
        }
        if (n - i - 1 < need) {
            return 0;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return 0;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return 0;
            }
        }
        i += need + 1;
    }
    return 1;
}

/* Write a placeholder in value slot ``slot`` (a null, or nothing yet). */
static void put_empty(Column *c, int64_t slot) {
    int w = kind_width(c->kind);
    if (w) {
        memset(c->vals.p + slot * w, 0, (size_t)w);
    } else if (c->kind == K_BOOLEAN) {
        bit_put(c->vals.p, slot, 0);
    } else {
        int32_t *offs = (int32_t *)c->vals.p;
        offs[slot + 1] = offs[slot];
    }
}

/* Read one value of the column's kind at *pp into value slot ``slot``; -1 if bad.
 * Slot arrays must already hold ``slot`` (and ``slot + 1`` offsets). */
static inline __attribute__((always_inline)) int read_value(Column *c, int64_t slot,
                                                           const uint8_t **pp,
                                                           const uint8_t *end, const Input *in) {
    const uint8_t *p = *pp;
    int64_t v;
    switch (c->kind) {
    case K_BOOLEAN:
        if (p >= end) {
            return -1;
        }
        /* any non-zero byte is true, as fastavro, Java and the NumPy reader have it */
        bit_put(c->vals.p, slot, *p != 0);
        *pp = p + 1;
        return 0;
    case K_INT:
        if (read_long(pp, end, in, &v) || v < INT32_MIN || v > INT32_MAX) {
            return -1;
        }
        ((int32_t *)c->vals.p)[slot] = (int32_t)v;
        return 0;
    case K_LONG:
        if (read_long(pp, end, in, &v)) {
            return -1;
        }
        ((int64_t *)c->vals.p)[slot] = v;
        return 0;
    case K_LONG_MILLIS:
        if (read_long(pp, end, in, &v) || v > MILLIS_LIMIT || v < -MILLIS_LIMIT) {
            return -1;
        }
        ((int64_t *)c->vals.p)[slot] = v * 1000;
        return 0;
    case K_ENUM:
        if (read_long(pp, end, in, &v) || v < 0 || v >= c->arg) {
            return -1;
        }
        ((int32_t *)c->vals.p)[slot] = (int32_t)v;
        return 0;
    case K_FLOAT:
        if (end - p < 4) {
            return -1;
        }
        memcpy(c->vals.p + slot * 4, p, 4);
        *pp = p + 4;
        return 0;
    case K_DOUBLE:
        if (end - p < 8) {
            return -1;
        }
        memcpy(c->vals.p + slot * 8, p, 8);
        *pp = p + 8;
        return 0;
    default:
        break;
    }
    /* string, bytes, fixed: append to the data, end the range at offsets[slot + 1] */
    int64_t size;
    if (c->kind == K_FIXED) {
        size = c->arg;
    } else if (read_long(&p, end, in, &size) || size < 0 || size > in->max_bytes) {
        return -1;
    }
    if (size > end - p) {
        return -1;
    }
    int32_t *offs = (int32_t *)c->vals.p;
    size_t at = (size_t)offs[slot];
    /* 16 spare bytes, for the whole-word copy below */
    if ((int64_t)at + size > INT32_MAX || buf_fit(&c->data, at + (size_t)size + 16)) {
        return -2; /* cannot be held: the caller makes smaller calls */
    }
    uint8_t *dst = c->data.p + at;
    if (size <= 16 && in->limit - p >= 16) {
        /* short values (most) as two whole words: no branch on their size; the bytes
         * past the value land in spare room and are overwritten by the next value */
        uint64_t w0 = load64(p), w1 = load64(p + 8);
        memcpy(dst, &w0, 8);
        memcpy(dst + 8, &w1, 8);
        if (c->kind == K_STRING) {
            /* ASCII (no byte >= 0x80 among the value's) is valid UTF-8 */
            uint64_t m0 = size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
            uint64_t m1 = size <= 8 ? 0 : size >= 16 ? ~0ULL : (1ULL << (8 * (size - 8))) - 1;
            if ((((w0 & m0) | (w1 & m1)) & 0x8080808080808080ULL) &&
                !utf8_valid(p, (size_t)size)) {
                return -1;
            }
        }
    } else {
        if (c->kind == K_STRING && !utf8_valid(p, (size_t)size)) {
            return -1;
        }
        memcpy(dst, p, (size_t)size);
    }
    offs[slot + 1] = (int32_t)(at + (size_t)size);
    *pp = p + size;
    return 0;
}

/* Make room for value slot ``slot`` of an array's items. */
static int fit_item(Column *c, int64_t slot) {
    int w = kind_width(c->kind);
    size_t need;
    if (w) {
        need = (size_t)(slot + 1) * (size_t)w;
    } else if (c->kind == K_BOOLEAN) {
        need = (size_t)(slot / 8 + 1);
    } else {
        need = (size_t)(slot + 2) * sizeof(int32_t);
    }
    return buf_fit(&c->vals, need);
}

/* Read one Avro array (blocks of items, closed by a count of 0) into record slot k. */
static int read_array(Column *c, int64_t k, const uint8_t **pp, const uint8_t *end,
                      const Input *in) {
    const uint8_t *p = *pp;
    for (;;) {
        int64_t count, size;
        if (read_long(&p, end, in, &count)) {
            return -1;
        }
        if (count < 0) {
            /* the block's byte size only lets a reader skip it: read, not checked */
            if (read_long(&p, end, in, &size) || count == INT64_MIN) {
                return -1;
            }
            count = -count;
        }
        if (count == 0) {
            break;
        }
        /* count > max_bytes / room or count > left / room, without dividing (slow):
         * within the first bound count * room cannot overflow */
        if (count > c->max_count || count * c->room > end - p) {
            return -1;
        }
        for (int64_t n = 0; n < count; n++) {
            int64_t slot = c->items;
            if (slot >= INT32_MAX || fit_item(c, slot)) {
                return -2;
            }
            int bad = read_value(c, slot, &p, end, in);
            if (bad) {
                return bad;
            }
            c->items = slot + 1;
        }
    }
    ((int32_t *)c->lists.p)[k + 1] = (int32_t)c->items;
    *pp = p;
    return 0;
}

/* Undo what a failed record wrote past record slot k (the next record reuses it). */
static void roll_back(Column *c, int64_t k) {
    if (c->array) {
        c->items = ((int32_t *)c->lists.p)[k];
    }
}

/* Read one field of record slot k; -1 if the record is bad, -2 if out of memory. */
static int read_field(Column *c, int64_t k, const uint8_t **pp, const uint8_t *end,
                      const Input *in) {
    if (c->branch >= 0) {
        int64_t branch;
        if (read_long(pp, end, in, &branch) || (branch != 0 && branch != 1)) {
            return -1;
        }
        if (branch != c->branch) {
            bit_put(c->valid.p, k, 0);
            put_empty(c, k);
            return 0;
        }
        bit_put(c->valid.p, k, 1);
    }
    if (c->array) {
        return read_array(c, k, pp, end, in);
    }
    return read_value(c, k, pp, end, in);
}

/* ---- the buffer object handed to Python ------------------------------------------------ */

typedef struct {
    PyObject_HEAD uint8_t *p;
    Py_ssize_t len;
} NativeBuffer;

static void native_buffer_dealloc(NativeBuffer *self) {
    free(self->p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int native_buffer_get(NativeBuffer *self, Py_buffer *view, int flags) {
    return PyBuffer_FillInfo(view, (PyObject *)self, self->p, self->len, 1, flags);
}

static PyBufferProcs native_buffer_procs = {(getbufferproc)native_buffer_get, NULL};

static PyTypeObject NativeBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "lakeforge.codec._native.NativeBuffer",
    .tp_basicsize = sizeof(NativeBuffer),
    .tp_dealloc = (destructor)native_buffer_dealloc,
    .tp_as_buffer = &native_buffer_procs,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Read-only bytes filled by the native decoder.",
};

/* A NativeBuffer that takes ownership of b's first len bytes (or None if no memory). */
static PyObject *hand_over(Buf *b, size_t len) {
    if (b->p == NULL) {
        Py_RETURN_NONE;
    }
    NativeBuffer *out = PyObject_New(NativeBuffer, &NativeBufferType);
    if (out == NULL) {
        return NULL;
    }
    out->p = b->p;
    out->len = (Py_ssize_t)len;
    b->p = NULL;
    return (PyObject *)out;
}

/* ---- decode() -------------------------------------------------------------------------- */

static void free_columns(Column *cols, Py_ssize_t n) {
    for (Py_ssize_t f = 0; f < n; f++) {
        free(cols[f].valid.p);
        free(cols[f].lists.p);
        free(cols[f].vals.p);
        free(cols[f].data.p);
    }
    free(cols);
}

/* Set up the columns of the program for ``rows`` records; -1 on a bad program (with
 * an exception set), -2 out of memory. */
static int make_columns(const int64_t *prog, Py_ssize_t nfields, Py_ssize_t rows, int64_t max_bytes,
                        Column *cols) {
    size_t bits = (size_t)rows / 8 + 1;
    for (Py_ssize_t f = 0; f < nfields; f++) {
        Column *c = &cols[f];
        const int64_t *op = prog + f * FIELD_WORDS;
        if (op[0] < 0 || op[0] >= K_COUNT || op[1] < -1 || op[1] > 1 || op[2] < 0 || op[2] > 1 ||
            op[3] < 0 || op[3] > INT32_MAX || (op[1] >= 0 && op[2]) ||
            (op[0] == K_ENUM && op[3] == 0)) {
            PyErr_Format(PyExc_ValueError, "bad program word at field %zd", f);
            return -1;
        }
        c->kind = (int)op[0];
        c->branch = (int)op[1];
        c->array = (int)op[2];
        c->arg = op[3];
        int w = kind_width(c->kind);
        /* the fewest bytes an item takes, as types.min_bytes has it */
        c->room = c->kind == K_FIXED    ? c->arg
                  : c->kind == K_DOUBLE ? 8
                  : c->kind == K_FLOAT  ? 4
                                        : 1;
        if (c->array && c->room == 0) {
            PyErr_Format(PyExc_ValueError, "array of empty fixed at field %zd", f);
            return -1;
        }
        c->max_count = c->room ? max_bytes / c->room : 0;
        c->valid.zero = 1;
        c->vals.zero = c->kind == K_BOOLEAN;
        if (c->branch >= 0 && buf_fit(&c->valid, bits)) {
            return -2;
        }
        if (c->array) {
            if (buf_fit(&c->lists, ((size_t)rows + 1) * sizeof(int32_t)) ||
                buf_fit(&c->vals, 64)) {
                return -2;
            }
        } else if (w) {
            if (buf_fit(&c->vals, (size_t)rows * (size_t)w + 1)) {
                return -2;
            }
        } else if (c->kind == K_BOOLEAN) {
            if (buf_fit(&c->vals, bits)) {
                return -2;
            }
        } else if (buf_fit(&c->vals, ((size_t)rows + 1) * sizeof(int32_t))) {
            return -2;
        }
        if (is_variable(c->kind) && buf_fit(&c->data, 64)) {
            return -2;
        }
        if (c->array) {
            ((int32_t *)c->lists.p)[0] = 0;
        }
        if (is_variable(c->kind)) {
            ((int32_t *)c->vals.p)[0] = 0;
        }
    }
    return 0;
}

/* Decode every body; -2 if some output could not be held (memory, or over 2**31). */
static int run(Column *cols, Py_ssize_t nfields, const uint8_t *data, Py_ssize_t size,
               const int64_t *starts, const int64_t *ends, Py_ssize_t rows, int64_t max_bytes,
               uint8_t *ok, Py_ssize_t *kept) {
    const Input input = {data + size, max_bytes};
    const Input *in = &input;
    int64_t k = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const uint8_t *p = data + starts[r];
        const uint8_t *end = data + ends[r];
        int bad = 0;
        for (Py_ssize_t f = 0; f < nfields && !bad; f++) {
            bad = read_field(&cols[f], k, &p, end, in);
        }
        if (bad == -2) {
            return -2;
        }
        if (!bad && p != end) {
            bad = 1; /* trailing bytes */
        }
        ok[r] = !bad;
        if (bad) {
            for (Py_ssize_t f = 0; f < nfields; f++) {
                roll_back(&cols[f], k);
            }
        } else {
            k++;
        }
    }
    *kept = (Py_ssize_t)k;
    return 0;
}

/* The final size of each buffer of column c for ``kept`` records. */
static PyObject *column_result(Column *c, Py_ssize_t kept) {
    size_t bits = (size_t)kept / 8 + 1;
    int64_t values = c->array ? c->items : (int64_t)kept;
    int w = kind_width(c->kind);
    size_t vals_len = w                          ? (size_t)values * (size_t)w
                      : c->kind == K_BOOLEAN     ? (size_t)values / 8 + 1
                                                 : ((size_t)values + 1) * sizeof(int32_t);
    size_t data_len = is_variable(c->kind) ? (size_t)((int32_t *)c->vals.p)[values] : 0;
    PyObject *valid = c->branch >= 0 ? hand_over(&c->valid, bits) : (Py_INCREF(Py_None), Py_None);
    PyObject *lists = c->array ? hand_over(&c->lists, ((size_t)kept + 1) * sizeof(int32_t))
                               : (Py_INCREF(Py_None), Py_None);
    PyObject *vals = hand_over(&c->vals, vals_len);
    PyObject *dat = is_variable(c->kind) ? hand_over(&c->data, data_len)
                                         : (Py_INCREF(Py_None), Py_None);
    PyObject *out = NULL;
    if (valid && lists && vals && dat) {
        out = Py_BuildValue("(OOOOn)", valid, lists, vals, dat, (Py_ssize_t)values);
    }
    Py_XDECREF(valid);
    Py_XDECREF(lists);
    Py_XDECREF(vals);
    Py_XDECREF(dat);
    return out;
}

static PyObject *native_decode(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer prog, data, starts, ends;
    long long max_bytes;
    if (!PyArg_ParseTuple(args, "y*y*y*y*L", &prog, &data, &starts, &ends, &max_bytes)) {
        return NULL;
    }
    PyObject *result = NULL;
    Column *cols = NULL;
    PyObject *okbuf = NULL;
    Py_ssize_t nfields = prog.len / (Py_ssize_t)(FIELD_WORDS * sizeof(int64_t));
    Py_ssize_t rows = starts.len / (Py_ssize_t)sizeof(int64_t);
    if (prog.len % (Py_ssize_t)(FIELD_WORDS * sizeof(int64_t)) || nfields == 0 ||
        starts.len % (Py_ssize_t)sizeof(int64_t) || ends.len != starts.len || max_bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "bad program, starts or ends");
        goto done;
    }
    const int64_t *st = (const int64_t *)starts.buf;
    const int64_t *en = (const int64_t *)ends.buf;
    if (((uintptr_t)st | (uintptr_t)en | (uintptr_t)prog.buf) % sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "starts, ends and program must be aligned int64");
        goto done;
    }
    /* every body must lie inside the data: nothing is read outside these ranges */
    for (Py_ssize_t r = 0; r < rows; r++) {
        if (st[r] < 0 || st[r] > en[r] || en[r] > (int64_t)data.len) {
            PyErr_Format(PyExc_ValueError, "body %zd lies outside the data", r);
            goto done;
        }
    }
    cols = calloc((size_t)nfields, sizeof(Column));
    Buf ok = {NULL, 0, 0, 0};
    if (cols == NULL || buf_fit(&ok, (size_t)rows + 1)) {
        free(ok.p);
        PyErr_NoMemory();
        goto done;
    }
    int status = make_columns((const int64_t *)prog.buf, nfields, rows, max_bytes, cols);
    Py_ssize_t kept = 0;
    if (status == 0) {
        Py_BEGIN_ALLOW_THREADS;
        status = run(cols, nfields, (const uint8_t *)data.buf, data.len, st, en, rows, max_bytes,
                     ok.p, &kept);
        Py_END_ALLOW_THREADS;
    }
    if (status != 0) {
        free(ok.p);
        if (status == -2) {
            PyErr_SetString(PyExc_MemoryError, "native decode output does not fit; split the call");
        }
        goto done;
    }
    okbuf = hand_over(&ok, (size_t)rows);
    if (okbuf == NULL) {
        free(ok.p);
    }
    PyObject *columns = okbuf ? PyList_New(nfields) : NULL;
    if (columns == NULL) {
        goto done;
    }
    for (Py_ssize_t f = 0; f < nfields; f++) {
        PyObject *col = column_result(&cols[f], kept);
        if (col == NULL) {
            Py_DECREF(columns);
            goto done;
        }
        PyList_SET_ITEM(columns, f, col);
    }
    result = Py_BuildValue("(OnN)", okbuf, kept, columns);
done:
    Py_XDECREF(okbuf);
    if (cols != NULL) {
        free_columns(cols, nfields > 0 ? nfields : 0);
    }
    PyBuffer_Release(&prog);
    PyBuffer_Release(&data);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    return result;
}

static PyMethodDef native_methods[] = {
    {"decode", native_decode, METH_VARARGS,
     "decode(program, data, starts, ends, max_bytes) -> (ok, kept, columns)\n\n"
     "Decode the Avro bodies data[starts[i]:ends[i]] with a program of int64 words.\n"
     "ok has one byte per body (1: decoded); columns has, per field, (validity, list\n"
     "offsets, values, data, value count) buffers of the kept records, None when absent."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native", "Native fast path of the lakeforge Avro decoder.", -1,
    native_methods,        NULL,      NULL,
    NULL,                  NULL};

PyMODINIT_FUNC PyInit__native(void) {
    /* values are copied as they lie in the message: Arrow's buffers are little-endian */
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "the native Avro decoder needs a little-endian host");
        return NULL;
    }
    if (PyType_Ready(&NativeBufferType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL) {
        return NULL;
    }
    Py_INCREF(&NativeBufferType);
    if (PyModule_AddObject(m, "NativeBuffer", (PyObject *)&NativeBufferType) < 0) {
        Py_DECREF(&NativeBufferType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
