/*
 * lakeforge.codec._native_encode: the native fast path of the Avro encoder.
 *
 * encode() lays out N records end to end in one buffer, each the prefix and then every
 * field in schema order, and gives the buffer with its N + 1 int32 offsets: the values
 * and offsets buffers of an Arrow binary array. Python (lakeforge.codec.encode_native)
 * has already checked and converted every column, exactly as the NumPy encoder would
 * accept it, into plain buffers: so this file validates nothing about the schema; it
 * only lays bytes out.
 *
 * Memory safety: the input buffers come from user Arrow arrays and are not trusted.
 * Every list offset, string offset and dictionary index is checked against the length
 * of what it points into, and every write is checked against the end of its record; a
 * failed check returns None (the caller then runs the NumPy encoder, which reports).
 * Sizes are computed in a first pass, so the output is allocated once, exactly. The GIL
 * is released for both passes. The output buffers are bytearrays: plain Python objects
 * with the buffer protocol, so no buffer type of our own is needed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Value kinds; keep in step with encode_native.py. */
enum { K_BOOLEAN = 0, K_INT32 = 1, K_INT64 = 2, K_FLOAT = 3, K_DOUBLE = 4, K_BYTES = 5,
       K_FIXED = 6, K_COUNT = 7 };

/* A field of the program is four int64: kind, nullable, null first, is array. */
#define FIELD_WORDS 4

typedef struct {
    int kind;
    int nullable;
    uint8_t value_byte; /* the union branch byte written before a value */
    uint8_t null_byte;  /* the one written for a null */
    int array;
    Py_buffer bufs[5]; /* valid, lists, indices, values, offsets (obj NULL when absent) */
    const uint8_t *valid;   /* one byte per record (nullable fields with nulls), or NULL */
    const int32_t *lists;   /* arrays: records + 1 offsets into the items */
    const void *indices;    /* dictionary indices, or NULL */
    int index_width;        /* 1, 2 or 4 bytes */
    Py_ssize_t n_indices;
    const uint8_t *values;  /* fixed width values, or string bytes */
    Py_ssize_t n_values;    /* values (fixed width) or byte strings (+1 offsets) */
    const int32_t *offsets; /* string offsets into values, n_values + 1 */
    Py_ssize_t n_bytes;     /* bytes of string data */
    /* dictionaries whose every value encodes to 8 bytes or fewer: each value's bytes
     * (one little-endian word) and size, worked out once, so a row is one lookup */
    uint64_t *packed;
    uint8_t *packed_size;
} Field;

static int kind_width(int kind) {
    switch (kind) {
    case K_BOOLEAN:
        return 1;
    case K_INT32:
    case K_FLOAT:
        return 4;
    case K_INT64:
    case K_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

/* Bytes of the varint of v: 7 bits a byte, by the index of its highest bit (a table,
 * not a loop or a division: this is on every integer's path). */
static const uint8_t VARINT_BYTES[64] = {
    1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4,
    4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 7,
    7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 10};

static inline int varint_size(uint64_t v) { return VARINT_BYTES[63 - __builtin_clzll(v | 1)]; }

static inline uint8_t *put_varint_slow(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* The n-byte varint of v (n from varint_size) at p. When 8 bytes are free at p, a
 * varint of up to 8 bytes is built in a word and stored at once; the bytes past it
 * are overwritten by what the caller writes after it in the same record. */
static inline uint8_t *put_varint(uint8_t *p, const uint8_t *end, uint64_t v, int n) {
    if (n > 8 || end - p < 8) {
        return put_varint_slow(p, v);
    }
    uint64_t w = 0;
    for (int i = 0; i < 8; i++) { /* unrolled by the compiler: no data-dependent branch */
        w |= ((v >> (7 * i)) & 0x7F) << (8 * i);
    }
    /* continuation bits on every byte but the last */
    w |= 0x8080808080808080ULL & ((1ULL << (8 * (n - 1))) - 1);
    memcpy(p, &w, 8);
    return p + n;
}

/* The value slot of item i: its dictionary index, or i itself; -1 when out of range. */
static inline __attribute__((always_inline)) Py_ssize_t slot(const Field *f, Py_ssize_t i) {
    Py_ssize_t j = i;
    if (f->indices != NULL) {
        if (i < 0 || i >= f->n_indices) {
            return -1;
        }
        switch (f->index_width) {
        case 1:
            j = ((const int8_t *)f->indices)[i];
            break;
        case 2:
            j = ((const int16_t *)f->indices)[i];
            break;
        default:
            j = ((const int32_t *)f->indices)[i];
            break;
        }
    }
    return j >= 0 && j < f->n_values ? j : -1;
}

/* Size of one scalar value, written at p when p is not NULL (then room was checked by
 * the caller against its record's end, through the size computed here first). */
static inline __attribute__((always_inline)) int64_t scalar(const Field *f, Py_ssize_t i, uint8_t *p, const uint8_t *end) {
    Py_ssize_t j = slot(f, i);
    if (j < 0) {
        return -1;
    }
    if (f->packed != NULL) {
        int64_t n = f->packed_size[j];
        if (p) {
            if (end - p < n) {
                return -1;
            }
            /* a whole word when it fits in the record: later fields overwrite the rest */
            if (end - p >= 8) {
                memcpy(p, &f->packed[j], 8);
            } else {
                memcpy(p, &f->packed[j], (size_t)n);
            }
        }
        return n;
    }
    uint64_t raw;
    int64_t n;
    switch (f->kind) {
    case K_BOOLEAN:
        if (p) {
            if (end - p < 1) {
                return -1;
            }
            *p = f->values[j] ? 1 : 0;
        }
        return 1;
    case K_INT32:
    case K_INT64:
        if (f->kind == K_INT32) {
            int32_t v;
            memcpy(&v, f->values + 4 * j, 4);
            raw = zigzag(v);
        } else {
            int64_t v;
            memcpy(&v, f->values + 8 * j, 8);
            raw = zigzag(v);
        }
        n = varint_size(raw);
        if (p) {
            if (end - p < n) {
                return -1;
            }
            put_varint(p, end, raw, (int)n);
        }
        return n;
    case K_FLOAT:
    case K_DOUBLE:
        n = f->kind == K_FLOAT ? 4 : 8;
        if (p) {
            if (end - p < n) {
                return -1;
            }
            memcpy(p, f->values + n * j, (size_t)n);
        }
        return n;
    default: { /* bytes (with a length) or fixed (without); offsets checked up front */
        int64_t start = f->offsets[j];
        int64_t len = (int64_t)f->offsets[j + 1] - start;
        int with_length = f->kind == K_BYTES;
        raw = (uint64_t)len << 1;
        int64_t head = with_length ? varint_size(raw) : 0;
        if (p) {
            if (end - p < head + len) {
                return -1;
            }
            if (with_length) {
                p = put_varint(p, end, raw, (int)head);
            }
            if (len <= 8 && end - p >= 8 && start + 8 <= f->n_bytes) {
                /* one 8-byte move: the bytes past the value fall inside this record
                 * and are overwritten by its later fields, written after this one */
                memcpy(p, f->values + start, 8);
            } else {
                memcpy(p, f->values + start, (size_t)len);
            }
        }
        return head + len;
    }
    }
}

/* Size of field f of record r, written at p when p is not NULL; -1 on a bad input. */
static inline __attribute__((always_inline)) int64_t field(const Field *f, Py_ssize_t r, uint8_t *p, const uint8_t *end) {
    int64_t size = 0;
    if (f->nullable) {
        int has = f->valid == NULL || f->valid[r];
        if (p) {
            if (end - p < 1) {
                return -1;
            }
            *p++ = has ? f->value_byte : f->null_byte;
        }
        if (!has) {
            return 1;
        }
        size = 1;
    }
    if (!f->array) {
        int64_t n = scalar(f, r, p, end);
        return n < 0 ? -1 : size + n;
    }
    int64_t first = f->lists[r], last = f->lists[r + 1]; /* checked up front */
    int64_t count = last - first;
    if (count) {
        uint64_t raw = (uint64_t)count << 1;
        int n = varint_size(raw);
        if (p) {
            if (end - p < n) {
                return -1;
            }
            p = put_varint(p, end, raw, n);
        }
        size += n;
    }
    for (int64_t i = first; i < last; i++) {
        int64_t n = scalar(f, (Py_ssize_t)i, p, end);
        if (n < 0) {
            return -1;
        }
        size += n;
        if (p) {
            p += n;
        }
    }
    if (p) {
        if (end - p < 1) {
            return -1;
        }
        *p = 0; /* the end of the (only) block, or the whole of an empty array */
    }
    return size + 1;
}

/* Check what field f reads outside the per-value checks: list and string offsets. */
static int check_field(const Field *f, Py_ssize_t rows) {
    Py_ssize_t items = f->indices != NULL ? f->n_indices : f->n_values;
    if (f->array) {
        for (Py_ssize_t r = 0; r < rows; r++) {
            if (f->lists[r] < 0 || f->lists[r] > f->lists[r + 1] || f->lists[r + 1] > items) {
                return -1;
            }
        }
    } else if (items < rows) {
        return -1;
    }
    if (f->offsets != NULL) {
        if (f->offsets[0] < 0) {
            return -1;
        }
        for (Py_ssize_t j = 0; j < f->n_values; j++) {
            if (f->offsets[j] > f->offsets[j + 1] || f->offsets[j + 1] > f->n_bytes) {
                return -1;
            }
        }
    }
    return 0;
}

/* Encode each dictionary value once when all of them take 8 bytes or fewer (after
 * check_field: their offsets are valid). 0, or -1 when out of memory. */
#define MOST_PACKED 65536
static int pack_dictionary(Field *f) {
    if (f->indices == NULL || f->n_values > MOST_PACKED) {
        return 0;
    }
    uint64_t *words = calloc((size_t)f->n_values + 1, sizeof(uint64_t));
    uint8_t *sizes = calloc((size_t)f->n_values + 1, 1);
    if (words == NULL || sizes == NULL) {
        free(words);
        free(sizes);
        return -1;
    }
    Field plain = *f;
    plain.indices = NULL;
    for (Py_ssize_t j = 0; j < f->n_values; j++) {
        uint8_t tmp[16] = {0};
        int64_t n = scalar(&plain, j, tmp, tmp + sizeof(tmp));
        if (n < 0 || n > 8) {
            free(words);
            free(sizes);
            return 0; /* a long value: written from the dictionary row by row */
        }
        memcpy(&words[j], tmp, 8);
        sizes[j] = (uint8_t)n;
    }
    f->packed = words;
    f->packed_size = sizes;
    return 0;
}

/* Sizes of field f of every record, added to at[]; -1 on a bad input. Field by field,
 * not record by record: the loop then runs one kind of value, branches predicted. */
static int size_field(const Field *f, Py_ssize_t first, Py_ssize_t rows, int64_t *at) {
    int constant = f->kind == K_BOOLEAN || f->kind == K_FLOAT || f->kind == K_DOUBLE;
    if (constant && !f->nullable && !f->array && f->indices == NULL) {
        int64_t n = kind_width(f->kind) == 1 ? 1 : f->kind == K_FLOAT ? 4 : 8;
        for (Py_ssize_t r = first; r < rows; r++) {
            at[r] += n; /* every value the same size; check_field bounded the values */
        }
        return 0;
    }
    for (Py_ssize_t r = first; r < rows; r++) {
        int64_t n = field(f, r, NULL, NULL);
        if (n < 0) {
            return -1;
        }
        at[r] += n;
    }
    return 0;
}

/* Write field f of every record at at[r], advanced past it; each record ends at
 * offsets[r + 1], and nothing is written past that. -1 on a bad input. */
static int write_field(const Field *f, Py_ssize_t first, Py_ssize_t rows, uint8_t *out,
                       const int32_t *offsets, int64_t *at) {
    for (Py_ssize_t r = first; r < rows; r++) {
        int64_t n = field(f, r, out + at[r], out + offsets[r + 1]);
        if (n < 0) {
            return -1;
        }
        at[r] += n;
    }
    return 0;
}

/* Records are done a block at a time, field by field within a block: the block's part
 * of the output stays in the cache while each field is written into it. */
#define BLOCK_ROWS 1024

/* Record offsets from the field sizes: 0, or -2 when the output passes 2**31 - 1. */
static int lay_out(const Field *fields, Py_ssize_t nf, Py_ssize_t rows, Py_ssize_t prefix_len,
                   int32_t *offsets, int64_t *at) {
    for (Py_ssize_t first = 0; first < rows; first += BLOCK_ROWS) {
        Py_ssize_t last = rows - first > BLOCK_ROWS ? first + BLOCK_ROWS : rows;
        for (Py_ssize_t k = 0; k < nf; k++) {
            if (size_field(&fields[k], first, last, at) < 0) {
                return -1;
            }
        }
    }
    int64_t total = 0;
    offsets[0] = 0;
    for (Py_ssize_t r = 0; r < rows; r++) {
        total += prefix_len + at[r];
        if (total > INT32_MAX) {
            return -2;
        }
        offsets[r + 1] = (int32_t)total;
    }
    return 0;
}

/* Write every record: the prefix, then field by field. 0, or -1 on a bad input. */
static int write_all(const Field *fields, Py_ssize_t nf, Py_ssize_t rows, const uint8_t *prefix,
                     Py_ssize_t prefix_len, const int32_t *offsets, uint8_t *out, int64_t *at) {
    for (Py_ssize_t first = 0; first < rows; first += BLOCK_ROWS) {
        Py_ssize_t last = rows - first > BLOCK_ROWS ? first + BLOCK_ROWS : rows;
        for (Py_ssize_t r = first; r < last; r++) {
            if (offsets[r + 1] - offsets[r] < prefix_len) {
                return -1;
            }
            memcpy(out + offsets[r], prefix, (size_t)prefix_len);
            at[r] = offsets[r] + prefix_len;
        }
        for (Py_ssize_t k = 0; k < nf; k++) {
            if (write_field(&fields[k], first, last, out, offsets, at) < 0) {
                return -1;
            }
        }
        for (Py_ssize_t r = first; r < last; r++) {
            if (at[r] != offsets[r + 1]) {
                return -1; /* the input changed between the passes */
            }
        }
    }
    return 0;
}

/* Take the buffer of obj (None: absent) into *view; its element count into *count. */
static int take(PyObject *obj, Py_buffer *view, Py_ssize_t width, const void **ptr,
                Py_ssize_t *count) {
    if (obj == Py_None) {
        *ptr = NULL;
        *count = 0;
        return 0;
    }
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (((uintptr_t)view->buf % (uintptr_t)width) != 0) {
        PyErr_SetString(PyExc_ValueError, "native encode buffers must be aligned");
        return -1;
    }
    *ptr = view->buf;
    *count = view->len / width;
    return 0;
}

static void release(Field *fields, Py_ssize_t nf) {
    for (Py_ssize_t k = 0; k < nf; k++) {
        free(fields[k].packed);
        free(fields[k].packed_size);
        for (int b = 0; b < 5; b++) {
            if (fields[k].bufs[b].obj != NULL) {
                PyBuffer_Release(&fields[k].bufs[b]);
            }
        }
    }
    free(fields);
}

/* Fill field f from its program words and its column tuple
 * (valid, lists, indices, index width, values, offsets). -1: error set; -2: too short. */
static int make_field(Field *f, const int64_t *words, PyObject *column, Py_ssize_t rows) {
    PyObject *valid, *lists, *indices, *values, *offsets;
    int width;
    if (!PyArg_ParseTuple(column, "OOOiOO", &valid, &lists, &indices, &width, &values,
                          &offsets)) {
        return -1;
    }
    if (words[0] < 0 || words[0] >= K_COUNT || (width != 1 && width != 2 && width != 4)) {
        PyErr_SetString(PyExc_ValueError, "bad native encode program");
        return -1;
    }
    f->kind = (int)words[0];
    f->nullable = words[1] != 0;
    f->value_byte = words[2] ? 2 : 0; /* zigzag of union branch 1 or 0 */
    f->null_byte = words[2] ? 0 : 2;
    f->array = words[3] != 0;
    f->index_width = width;
    const void *ptr;
    Py_ssize_t n, n_lists;
    if (take(valid, &f->bufs[0], 1, &ptr, &n) < 0) {
        return -1;
    }
    f->valid = ptr;
    if (f->valid != NULL && n < rows) {
        goto bad;
    }
    if (take(lists, &f->bufs[1], 4, &ptr, &n_lists) < 0) {
        return -1;
    }
    f->lists = ptr;
    if (f->array && (f->lists == NULL || n_lists < rows + 1)) {
        goto bad;
    }
    if (take(indices, &f->bufs[2], width, &f->indices, &f->n_indices) < 0) {
        return -1;
    }
    int w = kind_width(f->kind);
    if (take(values, &f->bufs[3], w ? w : 1, &ptr, &n) < 0) {
        return -1;
    }
    f->values = ptr;
    f->n_values = n;
    if (take(offsets, &f->bufs[4], 4, &ptr, &n) < 0) {
        return -1;
    }
    f->offsets = ptr;
    if (f->values == NULL) {
        goto bad;
    }
    if (w == 0) {
        if (f->offsets == NULL || n < 1) {
            goto bad;
        }
        f->n_bytes = f->n_values;
        f->n_values = n - 1;
    }
    return 0;
bad:
    return -2; /* buffers too short for the rows (a hostile array): decline, no error */
}

static PyObject *native_encode(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer prog, prefix;
    PyObject *columns;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "y*O!ny*", &prog, &PyList_Type, &columns, &rows, &prefix)) {
        return NULL;
    }
    PyObject *result = NULL, *offsets = NULL, *out = NULL;
    Py_ssize_t nf = PyList_GET_SIZE(columns);
    Field *fields = NULL;
    int64_t *at = NULL;
    if (prog.len != nf * FIELD_WORDS * (Py_ssize_t)sizeof(int64_t) || nf == 0 || rows < 0 ||
        rows >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "bad native encode program or columns");
        goto done;
    }
    fields = calloc((size_t)nf, sizeof(Field));
    if (fields == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *words = (const int64_t *)prog.buf;
    for (Py_ssize_t k = 0; k < nf; k++) {
        int64_t w[FIELD_WORDS];
        memcpy(w, words + k * FIELD_WORDS, sizeof(w));
        int made = make_field(&fields[k], w, PyList_GET_ITEM(columns, k), rows);
        if (made == -2) {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        if (made < 0) {
            goto done;
        }
    }
    offsets = PyByteArray_FromStringAndSize(NULL, (rows + 1) * (Py_ssize_t)sizeof(int32_t));
    if (offsets == NULL) {
        goto done;
    }
    int32_t *offs = (int32_t *)PyByteArray_AS_STRING(offsets);
    /* per record: its size, then where its next field goes */
    at = calloc((size_t)rows + 1, sizeof(int64_t));
    if (at == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int status = 0;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t k = 0; k < nf && status == 0; k++) {
        status = check_field(&fields[k], rows);
        if (status == 0 && pack_dictionary(&fields[k]) < 0) {
            status = -3;
        }
    }
    if (status == 0) {
        status = lay_out(fields, nf, rows, prefix.len, offs, at);
    }
    Py_END_ALLOW_THREADS;
    if (status == 0) {
        out = PyByteArray_FromStringAndSize(NULL, offs[rows]);
        if (out == NULL) {
            goto done;
        }
        uint8_t *o = (uint8_t *)PyByteArray_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS;
        status = write_all(fields, nf, rows, prefix.buf, prefix.len, offs, o, at);
        Py_END_ALLOW_THREADS;
    }
    if (status == -3) {
        PyErr_NoMemory();
        goto done;
    }
    if (status != 0) {
        Py_INCREF(Py_None);
        result = Py_None; /* bad input or too big: the NumPy encoder decides */
        goto done;
    }
    result = PyTuple_Pack(2, offsets, out);
done:
    free(at);
    Py_XDECREF(offsets);
    Py_XDECREF(out);
    if (fields != NULL) {
        release(fields, nf);
    }
    PyBuffer_Release(&prog);
    PyBuffer_Release(&prefix);
    return result;
}

static PyMethodDef native_methods[] = {
    {"encode", native_encode, METH_VARARGS,
     "encode(program, columns, rows, prefix) -> (offsets, values) or None\n\n"
     "Write rows records, each prefix then its fields, end to end. columns has per field\n"
     "(valid, lists, indices, index width, values, offsets). offsets is rows + 1 int32;\n"
     "None when an input index is out of range or the output exceeds 2**31 - 1 bytes."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "_native_encode", "Native fast path of the lakeforge Avro encoder.",
    -1, native_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native_encode(void) {
    /* values are copied as they lie in Arrow's buffers, which are little-endian */
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1) {
        PyErr_SetString(PyExc_ImportError, "the native Avro encoder needs a little-endian host");
        return NULL;
    }
    return PyModule_Create(&native_module);
}
