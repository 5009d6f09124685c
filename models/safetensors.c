/* The safetensors container: named F32/F64 tensors and string metadata, read
 * defensively (every size and offset bounded before use) and written
 * atomically (temporary file, fsync, rename).  Format: docs/CHECKPOINT.md. */
#include "rg_checkpoint.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* uthash must report an allocation failure instead of exiting; a failed add
 * is detected by looking the element up again. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

/* Largest integer a JSON number (a double) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

typedef struct st_tensor {
    char *name;
    rg_tensor t; /* data owned by the container; NULL in a header-only read */
    uint64_t begin, end; /* byte range in the file's buffer (reading only) */
    UT_hash_handle hh;
} st_tensor;

typedef struct st_meta {
    char *key;
    char *value;
    UT_hash_handle hh;
} st_meta;

struct rg_safetensors {
    st_tensor *by_name;  /* uthash head */
    st_tensor **tensors; /* file or insertion order */
    int n_tensors, cap_tensors;
    st_meta *meta_by_key;
    st_meta **meta;
    int n_meta, cap_meta;
};

/* ---- small helpers ------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void st_error(const char *fn, const char *file, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (file)
        rg_set_error("%s: %s: %s", fn, file, msg);
    else
        rg_set_error("%s: %s", fn, msg);
}

static bool st_host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void st_swap_bytes(unsigned char *p, size_t n_items, size_t size)
{
    for (size_t k = 0; k < n_items; k++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char c = p[a];
            p[a] = p[b];
            p[b] = c;
        }
}

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
static bool st_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static char *st_shape_str(int rank, const int64_t *shape, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < rank && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, k ? ",%" PRId64 : "%" PRId64, shape[k]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

/* numel of a shape; -1 when a dimension is negative or the product overflows. */
static int64_t st_numel(int rank, const int64_t *shape)
{
    int64_t numel = 1;
    for (int k = 0; k < rank; k++) {
        if (shape[k] < 0)
            return -1;
        if (shape[k] == 0)
            numel = 0;
    }
    if (numel == 0)
        return 0;
    for (int k = 0; k < rank; k++) {
        if (numel > INT64_MAX / shape[k])
            return -1;
        numel *= shape[k];
    }
    return numel;
}

/* ---- the container --------------------------------------------------------- */

rg_safetensors *rg_safetensors_new(void)
{
    rg_safetensors *st = calloc(1, sizeof *st);
    if (!st)
        rg_set_error("rg_safetensors_new: out of memory");
    return st;
}

void rg_safetensors_free(rg_safetensors *st)
{
    if (!st)
        return;
    HASH_CLEAR(hh, st->by_name);
    for (int i = 0; i < st->n_tensors; i++) {
        free(st->tensors[i]->name);
        free(st->tensors[i]->t.data);
        free(st->tensors[i]);
    }
    free(st->tensors);
    HASH_CLEAR(hh, st->meta_by_key);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta[i]->key);
        free(st->meta[i]->value);
        free(st->meta[i]);
    }
    free(st->meta);
    free(st);
}

/* Appends e (name set, t filled) to the order and the hash; on failure e is
 * not freed.  The caller has checked that the name is new. */
static int st_push_tensor(rg_safetensors *st, st_tensor *e)
{
    if (st->n_tensors == INT32_MAX)
        return -1;
    if (st->n_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? (st->cap_tensors < INT32_MAX / 2 ? st->cap_tensors * 2
                                                                     : INT32_MAX)
                                  : 16;
        st_tensor **p = realloc(st->tensors, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        st->tensors = p;
        st->cap_tensors = cap;
    }
    st_tensor *found = NULL;
    HASH_ADD_KEYPTR(hh, st->by_name, e->name, strlen(e->name), e);
    HASH_FIND_STR(st->by_name, e->name, found);
    if (found != e)
        return -1;
    st->tensors[st->n_tensors++] = e;
    return 0;
}

static st_tensor *st_find(const rg_safetensors *st, const char *name)
{
    st_tensor *e = NULL;
    HASH_FIND_STR(st->by_name, name, e);
    return e;
}

static st_meta *st_find_meta(const rg_safetensors *st, const char *key)
{
    st_meta *m = NULL;
    HASH_FIND_STR(st->meta_by_key, key, m);
    return m;
}

/* Adds a new metadata entry (the key must be new); takes nothing on failure. */
static int st_push_meta(rg_safetensors *st, const char *key, const char *value)
{
    if (st->n_meta == INT32_MAX)
        return -1;
    if (st->n_meta == st->cap_meta) {
        int cap = st->cap_meta ? (st->cap_meta < INT32_MAX / 2 ? st->cap_meta * 2 : INT32_MAX)
                               : 8;
        st_meta **p = realloc(st->meta, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        st->meta = p;
        st->cap_meta = cap;
    }
    st_meta *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->key = st_strdup(key);
    m->value = st_strdup(value);
    if (!m->key || !m->value) {
        free(m->key);
        free(m->value);
        free(m);
        return -1;
    }
    st_meta *found = NULL;
    HASH_ADD_KEYPTR(hh, st->meta_by_key, m->key, strlen(m->key), m);
    HASH_FIND_STR(st->meta_by_key, m->key, found);
    if (found != m) {
        free(m->key);
        free(m->value);
        free(m);
        return -1;
    }
    st->meta[st->n_meta++] = m;
    return 0;
}

int rg_safetensors_add_data(rg_safetensors *st, const char *name, rg_dtype dt, int rank,
                            const int64_t *shape, const void *data)
{
    static const char fn[] = "rg_safetensors_add";
    char sbuf[128];
    if (!st || !name) {
        st_error(fn, NULL, "NULL container or name");
        return -1;
    }
    if (!name[0] || strcmp(name, "__metadata__") == 0 ||
        !st_utf8_valid((const unsigned char *)name, strlen(name))) {
        st_error(fn, NULL, "invalid tensor name '%.80s' (empty, reserved or not UTF-8)", name);
        return -1;
    }
    if (dt != RG_F32 && dt != RG_F64) {
        st_error(fn, NULL, "tensor '%.80s': dtype %s, only F32 and F64 can be stored", name,
                 rg_dtype_name(dt));
        return -1;
    }
    if (rank < 0 || rank > RG_MAX_RANK || (rank > 0 && !shape)) {
        st_error(fn, NULL, "tensor '%.80s': invalid rank %d", name, rank);
        return -1;
    }
    int64_t numel = st_numel(rank, shape);
    size_t esize = dt == RG_F32 ? 4 : 8;
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / esize ||
        (double)numel * (double)esize > ST_MAX_JSON_INT) {
        st_error(fn, NULL, "tensor '%.80s': invalid shape %s", name,
                 st_shape_str(rank, shape, sbuf, sizeof sbuf));
        return -1;
    }
    if (numel > 0 && !data) {
        st_error(fn, NULL, "tensor '%.80s': NULL data", name);
        return -1;
    }
    if (st_find(st, name)) {
        st_error(fn, NULL, "tensor name '%.80s' is taken", name);
        return -1;
    }
    st_tensor *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->name = st_strdup(name);
    size_t bytes = (size_t)numel * esize;
    if (bytes) {
        e->t.data = malloc(bytes);
        if (e->t.data)
            memcpy(e->t.data, data, bytes);
    }
    if (!e->name || (bytes && !e->t.data))
        goto oom;
    e->t.dtype = dt;
    e->t.rank = rank;
    for (int k = 0; k < RG_MAX_RANK; k++)
        e->t.shape[k] = k < rank ? shape[k] : 1;
    e->t.numel = numel;
    e->t.flags = RG_VIEW;
    e->t.node = -1;
    if (st_push_tensor(st, e) != 0)
        goto oom;
    return 0;
oom:
    if (e) {
        free(e->name);
        free(e->t.data);
        free(e);
    }
    st_error(fn, NULL, "out of memory adding tensor '%.80s'", name);
    return -1;
}

int rg_safetensors_add(rg_safetensors *st, const char *name, const rg_tensor *t)
{
    if (!t) {
        st_error("rg_safetensors_add", NULL, "tensor '%.80s' is NULL", name ? name : "");
        return -1;
    }
    return rg_safetensors_add_data(st, name, t->dtype, t->rank, t->shape, t->data);
}

int rg_safetensors_set_meta(rg_safetensors *st, const char *key, const char *value)
{
    static const char fn[] = "rg_safetensors_set_meta";
    if (!st || !key || !value) {
        st_error(fn, NULL, "NULL container, key or value");
        return -1;
    }
    if (!st_utf8_valid((const unsigned char *)key, strlen(key)) ||
        !st_utf8_valid((const unsigned char *)value, strlen(value))) {
        st_error(fn, NULL, "key '%.80s' or its value is not UTF-8", key);
        return -1;
    }
    st_meta *m = st_find_meta(st, key);
    if (m) {
        char *v = st_strdup(value);
        if (!v) {
            st_error(fn, NULL, "out of memory");
            return -1;
        }
        free(m->value);
        m->value = v;
        return 0;
    }
    if (st_push_meta(st, key, value) != 0) {
        st_error(fn, NULL, "out of memory");
        return -1;
    }
    return 0;
}

const char *rg_safetensors_get_meta(const rg_safetensors *st, const char *key)
{
    if (!st || !key)
        return NULL;
    st_meta *m = st_find_meta(st, key);
    return m ? m->value : NULL;
}

int rg_safetensors_meta_count(const rg_safetensors *st)
{
    return st ? st->n_meta : 0;
}

const char *rg_safetensors_meta_at(const rg_safetensors *st, int i, const char **key)
{
    if (!st || i < 0 || i >= st->n_meta)
        return NULL;
    if (key)
        *key = st->meta[i]->key;
    return st->meta[i]->value;
}

int rg_safetensors_count(const rg_safetensors *st)
{
    return st ? st->n_tensors : 0;
}

const rg_tensor *rg_safetensors_at(const rg_safetensors *st, int i, const char **name)
{
    if (!st || i < 0 || i >= st->n_tensors)
        return NULL;
    if (name)
        *name = st->tensors[i]->name;
    return &st->tensors[i]->t;
}

const rg_tensor *rg_safetensors_get(const rg_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    st_tensor *e = st_find(st, name);
    return e ? &e->t : NULL;
}

/* ---- reading --------------------------------------------------------------- */

/* A JSON number that is an integer in [0, 2^53]; false otherwise. */
static bool st_json_uint(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > ST_MAX_JSON_INT || d != floor(d))
        return false;
    *out = (uint64_t)d;
    return true;
}

static int st_parse_meta(rg_safetensors *st, const cJSON *obj, const char *fn, const char *file)
{
    if (!cJSON_IsObject(obj)) {
        st_error(fn, file, "__metadata__ is not a JSON object");
        return -1;
    }
    for (const cJSON *v = obj->child; v; v = v->next) {
        const char *key = v->string ? v->string : "";
        if (!cJSON_IsString(v) || !v->valuestring) {
            st_error(fn, file, "metadata value of '%.80s' is not a string", key);
            return -1;
        }
        if (st_find_meta(st, key)) {
            st_error(fn, file, "duplicate metadata key '%.80s'", key);
            return -1;
        }
        if (st_push_meta(st, key, v->valuestring) != 0) {
            st_error(fn, file, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Validates one tensor entry against the buffer's length and appends it
 * (without data). */
static int st_parse_tensor(rg_safetensors *st, const char *name, const cJSON *obj,
                           uint64_t data_len, const char *fn, const char *file)
{
    if (st_find(st, name)) {
        st_error(fn, file, "duplicate tensor name '%.80s'", name);
        return -1;
    }
    if (!cJSON_IsObject(obj)) {
        st_error(fn, file, "tensor '%.80s': entry is not a JSON object", name);
        return -1;
    }
    const cJSON *jdt = NULL, *jshape = NULL, *joff = NULL;
    for (const cJSON *v = obj->child; v; v = v->next) {
        const cJSON **slot = NULL;
        if (!v->string)
            continue;
        if (strcmp(v->string, "dtype") == 0)
            slot = &jdt;
        else if (strcmp(v->string, "shape") == 0)
            slot = &jshape;
        else if (strcmp(v->string, "data_offsets") == 0)
            slot = &joff;
        if (!slot)
            continue;
        if (*slot) {
            st_error(fn, file, "tensor '%.80s': duplicate field '%s'", name, v->string);
            return -1;
        }
        *slot = v;
    }
    if (!jdt || !jshape || !joff) {
        st_error(fn, file, "tensor '%.80s': missing field '%s'", name,
                 !jdt ? "dtype" : !jshape ? "shape" : "data_offsets");
        return -1;
    }
    if (!cJSON_IsString(jdt) || !jdt->valuestring) {
        st_error(fn, file, "tensor '%.80s': dtype is not a string", name);
        return -1;
    }
    rg_dtype dt;
    if (strcmp(jdt->valuestring, "F32") == 0) {
        dt = RG_F32;
    } else if (strcmp(jdt->valuestring, "F64") == 0) {
        dt = RG_F64;
    } else {
        st_error(fn, file, "tensor '%.80s': unknown dtype '%.32s' (only F32 and F64 are read)",
                 name, jdt->valuestring);
        return -1;
    }
    if (!cJSON_IsArray(jshape)) {
        st_error(fn, file, "tensor '%.80s': shape is not an array", name);
        return -1;
    }
    int rank = cJSON_GetArraySize(jshape);
    if (rank > RG_MAX_RANK) {
        st_error(fn, file, "tensor '%.80s': rank %d is above the supported %d", name, rank,
                 RG_MAX_RANK);
        return -1;
    }
    int64_t shape[RG_MAX_RANK] = {1, 1, 1, 1};
    int k = 0;
    for (const cJSON *v = jshape->child; v; v = v->next, k++) {
        uint64_t d;
        if (!st_json_uint(v, &d)) {
            st_error(fn, file, "tensor '%.80s': dimension %d is not an integer in [0, 2^53]",
                     name, k);
            return -1;
        }
        shape[k] = (int64_t)d;
    }
    char sbuf[128];
    int64_t numel = st_numel(rank, shape);
    if (numel < 0) {
        st_error(fn, file, "tensor '%.80s': element count of shape %s overflows", name,
                 st_shape_str(rank, shape, sbuf, sizeof sbuf));
        return -1;
    }
    uint64_t off[2];
    if (!cJSON_IsArray(joff) || cJSON_GetArraySize(joff) != 2 ||
        !st_json_uint(joff->child, &off[0]) || !st_json_uint(joff->child->next, &off[1])) {
        st_error(fn, file, "tensor '%.80s': data_offsets is not two integers in [0, 2^53]",
                 name);
        return -1;
    }
    if (off[0] > off[1] || off[1] > data_len) {
        st_error(fn, file,
                 "tensor '%.80s': data_offsets [%" PRIu64 ",%" PRIu64
                 "] outside the buffer of %" PRIu64 " bytes",
                 name, off[0], off[1], data_len);
        return -1;
    }
    uint64_t esize = dt == RG_F32 ? 4 : 8;
    uint64_t have = off[1] - off[0];
    if ((uint64_t)numel > have / esize || (uint64_t)numel * esize != have) {
        st_error(fn, file,
                 "tensor '%.80s': shape %s of %s has %" PRId64
                 " elements, data_offsets [%" PRIu64 ",%" PRIu64 "] hold %" PRIu64 " bytes",
                 name, st_shape_str(rank, shape, sbuf, sizeof sbuf), jdt->valuestring, numel,
                 off[0], off[1], have);
        return -1;
    }
    st_tensor *e = calloc(1, sizeof *e);
    if (!e || !(e->name = st_strdup(name)) || st_push_tensor(st, e) != 0) {
        if (e)
            free(e->name);
        free(e);
        st_error(fn, file, "out of memory");
        return -1;
    }
    e->t.dtype = dt;
    e->t.rank = rank;
    memcpy(e->t.shape, shape, sizeof shape);
    e->t.numel = numel;
    e->t.flags = RG_VIEW;
    e->t.node = -1;
    e->begin = off[0];
    e->end = off[1];
    return 0;
}

static int st_cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* Nonempty byte ranges must be disjoint. */
static int st_check_overlap(const rg_safetensors *st, const char *fn, const char *file)
{
    if (st->n_tensors < 2)
        return 0;
    st_tensor **v = malloc((size_t)st->n_tensors * sizeof *v);
    if (!v) {
        st_error(fn, file, "out of memory");
        return -1;
    }
    int n = 0;
    for (int i = 0; i < st->n_tensors; i++)
        if (st->tensors[i]->end > st->tensors[i]->begin)
            v[n++] = st->tensors[i];
    qsort(v, (size_t)n, sizeof *v, st_cmp_begin);
    int rc = 0;
    for (int i = 1; i < n; i++)
        if (v[i]->begin < v[i - 1]->end) {
            st_error(fn, file,
                     "tensors '%.80s' [%" PRIu64 ",%" PRIu64 "] and '%.80s' [%" PRIu64
                     ",%" PRIu64 "] overlap",
                     v[i - 1]->name, v[i - 1]->begin, v[i - 1]->end, v[i]->name, v[i]->begin,
                     v[i]->end);
            rc = -1;
            break;
        }
    free(v);
    return rc;
}

/* Parses a header of hl bytes (not NUL-terminated) that describes a buffer of
 * data_len bytes; copies the tensors' values from data unless data is NULL. */
static rg_safetensors *st_parse(const char *fn, const char *file, const unsigned char *hdr,
                                size_t hl, const unsigned char *data, uint64_t data_len)
{
    if (!st_utf8_valid(hdr, hl)) {
        st_error(fn, file, "header is not valid UTF-8");
        return NULL;
    }
    /* A NUL-terminated copy keeps cJSON inside our bounds whatever it does. */
    char *text = malloc(hl + 1);
    if (!text) {
        st_error(fn, file, "out of memory for a header of %zu bytes", hl);
        return NULL;
    }
    memcpy(text, hdr, hl);
    text[hl] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, hl + 1, &end, false);
    if (!root) {
        size_t at = end && end >= text && end <= text + hl ? (size_t)(end - text) : 0;
        st_error(fn, file, "malformed JSON header (error near byte %zu of %zu)", at, hl);
        free(text);
        return NULL;
    }
    for (const char *p = end; p && p < text + hl; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st_error(fn, file, "malformed JSON header: trailing bytes after the object at byte %zu",
                     (size_t)(p - text));
            cJSON_Delete(root);
            free(text);
            return NULL;
        }
    free(text);
    rg_safetensors *st = NULL;
    if (!cJSON_IsObject(root)) {
        st_error(fn, file, "header is not a JSON object");
        goto fail;
    }
    st = calloc(1, sizeof *st);
    if (!st) {
        st_error(fn, file, "out of memory");
        goto fail;
    }
    bool seen_meta = false;
    for (const cJSON *item = root->child; item; item = item->next) {
        const char *name = item->string ? item->string : "";
        if (!name[0]) {
            st_error(fn, file, "a tensor has an empty name");
            goto fail;
        }
        if (strcmp(name, "__metadata__") == 0) {
            if (seen_meta) {
                st_error(fn, file, "duplicate __metadata__");
                goto fail;
            }
            seen_meta = true;
            if (st_parse_meta(st, item, fn, file) != 0)
                goto fail;
        } else if (st_parse_tensor(st, name, item, data_len, fn, file) != 0) {
            goto fail;
        }
    }
    if (st_check_overlap(st, fn, file) != 0)
        goto fail;
    if (data) {
        bool swap = !st_host_le();
        for (int i = 0; i < st->n_tensors; i++) {
            st_tensor *e = st->tensors[i];
            size_t bytes = (size_t)(e->end - e->begin);
            if (!bytes)
                continue;
            e->t.data = malloc(bytes);
            if (!e->t.data) {
                st_error(fn, file, "out of memory for tensor '%.80s' (%zu bytes)", e->name,
                         bytes);
                goto fail;
            }
            memcpy(e->t.data, data + e->begin, bytes);
            if (swap)
                st_swap_bytes(e->t.data, (size_t)e->t.numel, rg_dtype_size(e->t.dtype));
        }
    }
    cJSON_Delete(root);
    return st;
fail:
    cJSON_Delete(root);
    rg_safetensors_free(st);
    return NULL;
}

static uint64_t st_load_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = (v << 8) | p[k];
    return v;
}

static rg_safetensors *st_read_mem(const char *fn, const void *buf, size_t n, const char *name)
{
    const unsigned char *b = buf;
    if (!b && n) {
        st_error(fn, name, "NULL buffer");
        return NULL;
    }
    if (n < 8) {
        st_error(fn, name, "file is truncated: %zu bytes, the header length alone needs 8", n);
        return NULL;
    }
    uint64_t hl = st_load_u64le(b);
    if (hl > (uint64_t)n - 8) {
        st_error(fn, name,
                 "header length %" PRIu64 " is larger than the file (%zu bytes after the "
                 "8-byte length)",
                 hl, n - 8);
        return NULL;
    }
    return st_parse(fn, name, b + 8, (size_t)hl, b + 8 + hl, (uint64_t)n - 8 - hl);
}

rg_safetensors *rg_safetensors_read_mem(const void *buf, size_t n, const char *name)
{
    return st_read_mem("rg_safetensors_read_mem", buf, n, name ? name : "<memory>");
}

/* What a file that is not a regular one is, for messages. */
static const char *st_file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "a special file";
}

/* Opens path for reading and returns its size; NULL on error.  The open never
 * blocks: O_NONBLOCK keeps a FIFO without a writer (or a device) from waiting,
 * and anything but a regular file is refused before the first read. */
static FILE *st_open(const char *fn, const char *path, uint64_t *size)
{
    if (!path) {
        st_error(fn, NULL, "NULL path");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        st_error(fn, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st_error(fn, path, "cannot stat: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        st_error(fn, path, "is %s, not a regular file", st_file_kind(sb.st_mode));
        close(fd);
        return NULL;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > SIZE_MAX - 1) {
        st_error(fn, path, "file too large");
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        st_error(fn, path, "cannot clear O_NONBLOCK: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        st_error(fn, path, "cannot open a stream: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    *size = (uint64_t)sb.st_size;
    return f;
}

rg_safetensors *rg_safetensors_read(const char *path)
{
    static const char fn[] = "rg_safetensors_read";
    uint64_t size;
    FILE *f = st_open(fn, path, &size);
    if (!f)
        return NULL;
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        st_error(fn, path, "out of memory for %" PRIu64 " bytes", size);
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        st_error(fn, path, "read error");
        free(buf);
        return NULL;
    }
    /* A file that shrank while being read is simply shorter. */
    rg_safetensors *st = st_read_mem(fn, buf, got, path);
    free(buf);
    return st;
}

/* rg_safetensors_read_header on behalf of fn (named in messages). */
static rg_safetensors *st_read_header(const char *fn, const char *path)
{
    uint64_t size;
    FILE *f = st_open(fn, path, &size);
    if (!f)
        return NULL;
    unsigned char len8[8];
    if (size < 8 || fread(len8, 1, 8, f) != 8) {
        st_error(fn, path, "file is truncated: %" PRIu64 " bytes, the header length alone needs 8",
                 size);
        fclose(f);
        return NULL;
    }
    uint64_t hl = st_load_u64le(len8);
    if (hl > size - 8) {
        st_error(fn, path,
                 "header length %" PRIu64 " is larger than the file (%" PRIu64
                 " bytes after the 8-byte length)",
                 hl, size - 8);
        fclose(f);
        return NULL;
    }
    unsigned char *hdr = malloc(hl ? (size_t)hl : 1);
    if (!hdr) {
        st_error(fn, path, "out of memory for a header of %" PRIu64 " bytes", hl);
        fclose(f);
        return NULL;
    }
    if (fread(hdr, 1, (size_t)hl, f) != (size_t)hl) {
        st_error(fn, path, "file is truncated while reading the header");
        free(hdr);
        fclose(f);
        return NULL;
    }
    fclose(f);
    rg_safetensors *st = st_parse(fn, path, hdr, (size_t)hl, NULL, size - 8 - hl);
    free(hdr);
    return st;
}

rg_safetensors *rg_safetensors_read_header(const char *path)
{
    return st_read_header("rg_safetensors_read_header", path);
}

rg_safetensors *rg_checkpoint_read_meta(const char *path)
{
    return st_read_header("rg_checkpoint_read_meta", path);
}

/* ---- writing --------------------------------------------------------------- */

typedef struct st_buf {
    char *p;
    size_t n, cap;
    bool oom;
} st_buf;

static void sb_put(st_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX - b->n - 1) {
        b->oom = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->n + n + 1 : cap * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(st_buf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* A JSON string literal; the input is UTF-8, passed through except for the
 * characters JSON requires escaped. */
static void sb_json_str(st_buf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* The header (padded with spaces so the buffer starts 8-byte aligned) and the
 * buffer's length. */
static int st_build_header(const rg_safetensors *st, rg_dtype fdt, st_buf *b, uint64_t *total)
{
    uint64_t esize = fdt == RG_F32 ? 4 : 8, off = 0;
    char num[96];
    sb_puts(b, "{");
    bool first = true;
    if (st->n_meta > 0) {
        sb_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < st->n_meta; i++) {
            if (i)
                sb_puts(b, ",");
            sb_json_str(b, st->meta[i]->key);
            sb_puts(b, ":");
            sb_json_str(b, st->meta[i]->value);
        }
        sb_puts(b, "}");
        first = false;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        const st_tensor *e = st->tensors[i];
        if (!first)
            sb_puts(b, ",");
        first = false;
        sb_json_str(b, e->name);
        sb_puts(b, fdt == RG_F32 ? ":{\"dtype\":\"F32\",\"shape\":[" : ":{\"dtype\":\"F64\",\"shape\":[");
        for (int k = 0; k < e->t.rank; k++) {
            snprintf(num, sizeof num, k ? ",%" PRId64 : "%" PRId64, e->t.shape[k]);
            sb_puts(b, num);
        }
        uint64_t bytes = (uint64_t)e->t.numel * esize;
        if ((double)off + (double)bytes > ST_MAX_JSON_INT)
            return -1;
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off,
                 off + bytes);
        sb_puts(b, num);
        off += bytes;
    }
    sb_puts(b, "}");
    while (!b->oom && (8 + b->n) % 8 != 0)
        sb_puts(b, " ");
    *total = off;
    return b->oom ? -1 : 0;
}

/* Writes e's values converted to fdt, little-endian, in chunks. */
static int st_write_values(FILE *f, const st_tensor *e, rg_dtype fdt, bool swap)
{
    union {
        float f32[1024];
        double f64[1024];
    } chunk;
    size_t esize = fdt == RG_F32 ? 4 : 8;
    int64_t n = e->t.numel;
    for (int64_t i0 = 0; i0 < n; i0 += 1024) {
        size_t m = (size_t)(n - i0 < 1024 ? n - i0 : 1024);
        for (size_t j = 0; j < m; j++) {
            double v = e->t.dtype == RG_F32 ? (double)((const float *)e->t.data)[i0 + (int64_t)j]
                                            : ((const double *)e->t.data)[i0 + (int64_t)j];
            if (fdt == RG_F32)
                chunk.f32[j] = (float)v;
            else
                chunk.f64[j] = v;
        }
        if (swap)
            st_swap_bytes((unsigned char *)&chunk, m, esize);
        if (fwrite(&chunk, esize, m, f) != m)
            return -1;
    }
    return 0;
}

/* Best effort: makes the rename itself durable. */
static void st_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) {
        dir = st_strdup(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Writes st to a new temporary file beside path ("<path>.tmp-XXXXXX"),
 * flushed and fsync'ed; *tmp_out gets its name.  On failure nothing is left. */
static int st_write_temp(const rg_safetensors *st, const char *path, rg_dtype file_dtype,
                         const char *fn, char **tmp_out)
{
    *tmp_out = NULL;
    if (!st || !path || !path[0]) {
        st_error(fn, path, "NULL container or empty path");
        return -1;
    }
    if (file_dtype != RG_F32 && file_dtype != RG_F64) {
        st_error(fn, path, "file dtype must be F32 or F64, not %s", rg_dtype_name(file_dtype));
        return -1;
    }
    st_buf hdr = {0};
    uint64_t total = 0;
    if (st_build_header(st, file_dtype, &hdr, &total) != 0) {
        st_error(fn, path, "cannot build the header (out of memory or too large)");
        free(hdr.p);
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        st_error(fn, path, "out of memory");
        free(hdr.p);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st_error(fn, path, "cannot create a temporary file beside it: %s", strerror(errno));
        free(tmp);
        free(hdr.p);
        return -1;
    }
    /* mkstemp makes the file 0600; a model file is ordinarily world-readable. */
    (void)fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    const char *what = "cannot write the temporary file";
    int err = 0;
    if (!f) {
        err = errno;
        close(fd);
        goto fail;
    }
    unsigned char len8[8];
    uint64_t hl = hdr.n;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(hl >> (8 * k));
    errno = 0;
    if (fwrite(len8, 1, 8, f) != 8 || fwrite(hdr.p, 1, hdr.n, f) != hdr.n)
        goto fail_io;
    bool swap = !st_host_le();
    for (int i = 0; i < st->n_tensors; i++)
        if (st_write_values(f, st->tensors[i], file_dtype, swap) != 0)
            goto fail_io;
    if (fflush(f) != 0)
        goto fail_io;
    if (fsync(fileno(f)) != 0) {
        what = "cannot fsync the temporary file";
        goto fail_io;
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto fail_io;
    }
    free(hdr.p);
    *tmp_out = tmp;
    return 0;
fail_io:
    err = errno;
    if (f)
        fclose(f);
fail:
    unlink(tmp);
    st_error(fn, path, "%s: %s", what, err ? strerror(err) : "I/O error");
    free(tmp);
    free(hdr.p);
    return -1;
}

int rg_safetensors_write_staged(const rg_safetensors *st, const char *path,
                                rg_dtype file_dtype, char **tmp_path)
{
    if (!tmp_path) {
        st_error("rg_safetensors_write_staged", path, "tmp_path is NULL");
        return -1;
    }
    return st_write_temp(st, path, file_dtype, "rg_safetensors_write_staged", tmp_path);
}

int rg_file_commit(const char *tmp_path, const char *path)
{
    if (!tmp_path || !path || !path[0]) {
        rg_set_error("rg_file_commit: NULL or empty path");
        return -1;
    }
    if (rename(tmp_path, path) != 0) {
        int err = errno;
        unlink(tmp_path);
        rg_set_error("rg_file_commit: %s: cannot rename the temporary file over it: %s", path,
                     strerror(err));
        return -1;
    }
    st_sync_dir(path);
    return 0;
}

int rg_safetensors_write(const rg_safetensors *st, const char *path, rg_dtype file_dtype)
{
    char *tmp;
    if (st_write_temp(st, path, file_dtype, "rg_safetensors_write", &tmp) != 0)
        return -1;
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        free(tmp);
        st_error("rg_safetensors_write", path, "cannot rename the temporary file over it: %s",
                 strerror(err));
        return -1;
    }
    st_sync_dir(path);
    free(tmp);
    return 0;
}
