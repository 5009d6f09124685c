/* The safetensors container and parameter checkpoints: round trips in F32 and
 * F64, every malformed file of docs/CHECKPOINT.md refused with a message naming
 * the file and the problem, strict loads that leave the model untouched on
 * failure, atomic writes, and files made by PyTorch (tools/make_checkpoint_cases.py). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "retrograd.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------- */

static char ck_dir[64];

static void ck_setup(void)
{
    strcpy(ck_dir, "/tmp/rg_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(ck_dir));
}

static void ck_teardown(void)
{
    DIR *d = opendir(ck_dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", ck_dir, e->d_name);
        if (rmdir(p) != 0)
            unlink(p);
    }
    closedir(d);
    chmod(ck_dir, 0700);
    rmdir(ck_dir);
}

TestSuite(checkpoint, .init = ck_setup, .fini = ck_teardown);

/* A path in this test's temporary folder (ring of 8 buffers). */
static const char *ck_path(const char *file)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", ck_dir, file);
    return p;
}

static void ck_write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* The whole file; *n its size. */
static unsigned char *ck_read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* A safetensors file from a header string and n_data bytes of data 0,1,2... */
static size_t ck_make(unsigned char *out, size_t cap, const char *hdr, size_t n_data)
{
    size_t hl = strlen(hdr);
    cr_assert_leq(8 + hl + n_data, cap);
    for (int k = 0; k < 8; k++)
        out[k] = (unsigned char)((uint64_t)hl >> (8 * k));
    memcpy(out + 8, hdr, hl);
    for (size_t i = 0; i < n_data; i++)
        out[8 + hl + i] = (unsigned char)i;
    return 8 + hl + n_data;
}

static int ck_count_files(void)
{
    DIR *d = opendir(ck_dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void ck_fill(rg_tensor *t, rg_rng *r)
{
    for (int64_t i = 0; i < t->numel; i++)
        rg_set(t, i, rg_rng_normal(r));
}

/* The parameters of docs/CHECKPOINT.md's CharLM, random values. */
static rg_params *ck_charlm(const char *cell, int64_t V, int64_t E, int64_t H, int L,
                            rg_dtype dt, uint64_t seed)
{
    int64_t G = strcmp(cell, "lstm") == 0 ? 4 : strcmp(cell, "gru") == 0 ? 3 : 1;
    rg_params *P = rg_params_new();
    cr_assert_not_null(P);
    char name[64];
    cr_assert_not_null(rg_params_add(P, "embed.weight", dt, RG_DIMS(V, E)));
    for (int k = 0; k < L; k++) {
        int64_t in = k == 0 ? E : H;
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", k);
        cr_assert_not_null(rg_params_add(P, name, dt, RG_DIMS(G * H, in)));
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", k);
        cr_assert_not_null(rg_params_add(P, name, dt, RG_DIMS(G * H, H)));
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", k);
        cr_assert_not_null(rg_params_add(P, name, dt, RG_DIMS(G * H)));
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", k);
        cr_assert_not_null(rg_params_add(P, name, dt, RG_DIMS(G * H)));
    }
    cr_assert_not_null(rg_params_add(P, "head.weight", dt, RG_DIMS(V, H)));
    cr_assert_not_null(rg_params_add(P, "head.bias", dt, RG_DIMS(V)));
    rg_rng r;
    rg_rng_seed(&r, seed);
    for (int i = 0; i < rg_params_count(P); i++)
        ck_fill(rg_params_at(P, i, NULL), &r);
    return P;
}

/* Exact equality of two registries' values (as doubles). */
static void ck_assert_params_equal(const rg_params *A, const rg_params *B)
{
    cr_assert_eq(rg_params_count(A), rg_params_count(B));
    for (int i = 0; i < rg_params_count(A); i++) {
        const char *name;
        const rg_tensor *a = rg_params_at(A, i, &name);
        const rg_tensor *b = rg_params_get(B, name);
        cr_assert_not_null(b, "%s", name);
        cr_assert_eq(a->numel, b->numel);
        for (int64_t j = 0; j < a->numel; j++)
            cr_assert_eq(rg_get(a, j), rg_get(b, j), "%s[%ld]: %.17g vs %.17g", name, (long)j,
                         rg_get(a, j), rg_get(b, j));
    }
}

static void ck_assert_error(const char *path, const char *what)
{
    const char *msg = rg_last_error();
    cr_assert(path == NULL || strstr(msg, path) != NULL, "message does not name %s: %s", path,
              msg);
    cr_assert(strstr(msg, what) != NULL, "message lacks \"%s\": %s", what, msg);
}

/* ---- round trips ------------------------------------------------------------ */

static rg_safetensors *ck_sample(void)
{
    rg_safetensors *st = rg_safetensors_new();
    cr_assert_not_null(st);
    double d[24];
    float f[24];
    for (int i = 0; i < 24; i++) {
        d[i] = (i - 11.3) / 7.0 + 1e-9 * i;
        f[i] = (float)(i * 0.37 - 3.0);
    }
    cr_assert_eq(rg_safetensors_add_data(st, "b.f64", RG_F64, RG_DIMS(2, 3, 4), d), 0);
    cr_assert_eq(rg_safetensors_add_data(st, "a.f32", RG_F32, RG_DIMS(4, 6), f), 0);
    cr_assert_eq(rg_safetensors_add_data(st, "scalar", RG_F64, 0, NULL, (double[]){3.25}), 0);
    cr_assert_eq(rg_safetensors_add_data(st, "empty", RG_F32, RG_DIMS(0, 5), NULL), 0);
    cr_assert_eq(rg_safetensors_add_data(st, "r4", RG_F64, RG_DIMS(1, 2, 3, 2), d + 3), 0);
    rg_tensor *t = rg_from_doubles(NULL, RG_F32, RG_DIMS(3), (double[]){-1, 0.5, 1e30});
    cr_assert_eq(rg_safetensors_add(st, "from_tensor", t), 0);
    rg_tensor_free(t);
    cr_assert_eq(rg_safetensors_set_meta(st, "cell", "lstm"), 0);
    cr_assert_eq(rg_safetensors_set_meta(st, "vocab", "10,32,97"), 0);
    cr_assert_eq(rg_safetensors_set_meta(st, "odd \"key\"\n", "tab\t\\ h\xc3\xa9"), 0);
    cr_assert_eq(rg_safetensors_set_meta(st, "cell", "gru"), 0); /* replaces */
    return st;
}

static void ck_assert_same(const rg_safetensors *a, const rg_safetensors *b, rg_dtype fdt)
{
    cr_assert_eq(rg_safetensors_count(a), rg_safetensors_count(b));
    for (int i = 0; i < rg_safetensors_count(a); i++) {
        const char *na, *nb;
        const rg_tensor *x = rg_safetensors_at(a, i, &na);
        const rg_tensor *y = rg_safetensors_at(b, i, &nb);
        cr_assert_str_eq(na, nb, "order differs at %d", i);
        cr_assert_eq(rg_safetensors_get(b, na), y);
        cr_assert_eq(y->dtype, fdt);
        cr_assert_eq(x->rank, y->rank, "%s", na);
        for (int k = 0; k < x->rank; k++)
            cr_assert_eq(x->shape[k], y->shape[k]);
        cr_assert_eq(x->numel, y->numel);
        for (int64_t j = 0; j < x->numel; j++) {
            double want = fdt == RG_F32 ? (double)(float)rg_get(x, j) : rg_get(x, j);
            cr_assert_eq(rg_get(y, j), want, "%s[%ld]", na, (long)j);
        }
    }
    cr_assert_eq(rg_safetensors_meta_count(a), rg_safetensors_meta_count(b));
    for (int i = 0; i < rg_safetensors_meta_count(a); i++) {
        const char *ka, *kb;
        const char *va = rg_safetensors_meta_at(a, i, &ka);
        const char *vb = rg_safetensors_meta_at(b, i, &kb);
        cr_assert_str_eq(ka, kb);
        cr_assert_str_eq(va, vb);
    }
}

Test(checkpoint, roundtrip_f32)
{
    rg_safetensors *st = ck_sample();
    const char *p = ck_path("rt32.safetensors");
    cr_assert_eq(rg_safetensors_write(st, p, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors *back = rg_safetensors_read(p);
    cr_assert_not_null(back, "%s", rg_last_error());
    ck_assert_same(st, back, RG_F32);
    cr_assert_str_eq(rg_safetensors_get_meta(back, "cell"), "gru");
    cr_assert_str_eq(rg_safetensors_get_meta(back, "odd \"key\"\n"), "tab\t\\ h\xc3\xa9");
    cr_assert_null(rg_safetensors_get_meta(back, "nope"));
    cr_assert_null(rg_safetensors_get(back, "nope"));
    cr_assert_null(rg_safetensors_at(back, rg_safetensors_count(back), NULL));
    /* The buffer starts 8-byte aligned (header padded with spaces). */
    size_t n;
    unsigned char *raw = ck_read_bytes(p, &n);
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--)
        hl = (hl << 8) | raw[k];
    cr_assert_eq((8 + hl) % 8, 0);
    free(raw);
    /* No temporary file is left beside it. */
    cr_assert_eq(ck_count_files(), 1);
    rg_safetensors_free(back);
    rg_safetensors_free(st);
}

Test(checkpoint, roundtrip_f64_exact)
{
    rg_safetensors *st = ck_sample();
    const char *p = ck_path("rt64.safetensors");
    cr_assert_eq(rg_safetensors_write(st, p, RG_F64), 0, "%s", rg_last_error());
    rg_safetensors *back = rg_safetensors_read(p);
    cr_assert_not_null(back, "%s", rg_last_error());
    ck_assert_same(st, back, RG_F64);
    /* A second write of what was read gives the same bytes. */
    const char *p2 = ck_path("rt64b.safetensors");
    cr_assert_eq(rg_safetensors_write(back, p2, RG_F64), 0);
    size_t n1, n2;
    unsigned char *b1 = ck_read_bytes(p, &n1), *b2 = ck_read_bytes(p2, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    rg_safetensors_free(back);
    rg_safetensors_free(st);
}

Test(checkpoint, read_header_only)
{
    rg_safetensors *st = ck_sample();
    const char *p = ck_path("hdr.safetensors");
    cr_assert_eq(rg_safetensors_write(st, p, RG_F32), 0);
    rg_safetensors *h = rg_checkpoint_read_meta(p);
    cr_assert_not_null(h, "%s", rg_last_error());
    cr_assert_str_eq(rg_safetensors_get_meta(h, "vocab"), "10,32,97");
    const rg_tensor *t = rg_safetensors_get(h, "b.f64");
    cr_assert_not_null(t);
    cr_assert_eq(t->rank, 3);
    cr_assert_eq(t->shape[2], 4);
    cr_assert_null(t->data);
    /* Values cannot be loaded from a header-only read. */
    rg_params *P = rg_params_new();
    cr_assert_not_null(rg_params_add(P, "a.f32", RG_F32, RG_DIMS(4, 6)));
    cr_assert_eq(rg_checkpoint_load_params_from(P, h, p, false), -1);
    ck_assert_error(p, "no values");
    rg_params_free(P);
    rg_safetensors_free(h);
    rg_safetensors_free(st);
}

Test(checkpoint, container_api_errors)
{
    rg_safetensors *st = rg_safetensors_new();
    float v[2] = {1, 2};
    cr_assert_eq(rg_safetensors_add_data(st, "x", RG_F32, RG_DIMS(2), v), 0);
    cr_assert_eq(rg_safetensors_add_data(st, "x", RG_F32, RG_DIMS(2), v), -1);
    ck_assert_error(NULL, "taken");
    cr_assert_eq(rg_safetensors_add_data(st, "__metadata__", RG_F32, RG_DIMS(2), v), -1);
    cr_assert_eq(rg_safetensors_add_data(st, "", RG_F32, RG_DIMS(2), v), -1);
    cr_assert_eq(rg_safetensors_add_data(st, "bad\xff", RG_F32, RG_DIMS(2), v), -1);
    cr_assert_eq(rg_safetensors_add_data(st, "i", RG_I32, RG_DIMS(2), v), -1);
    ck_assert_error(NULL, "only F32 and F64");
    cr_assert_eq(rg_safetensors_add_data(st, "neg", RG_F32, RG_DIMS(-1), v), -1);
    cr_assert_eq(rg_safetensors_add_data(st, "big", RG_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, v),
                 -1);
    cr_assert_eq(rg_safetensors_add_data(st, "null", RG_F32, RG_DIMS(2), NULL), -1);
    cr_assert_eq(rg_safetensors_add(st, "nt", NULL), -1);
    cr_assert_eq(rg_safetensors_set_meta(st, "k", "\xc3"), -1);
    cr_assert_eq(rg_safetensors_count(st), 1);
    cr_assert_eq(rg_safetensors_write(st, ck_path("i32.safetensors"), RG_I32), -1);
    ck_assert_error("i32.safetensors", "F32 or F64");
    cr_assert_eq(ck_count_files(), 0);
    rg_safetensors_free(st);
    rg_safetensors_free(NULL);
}

/* ---- malformed files ------------------------------------------------------- */

typedef struct ck_bad {
    const char *label;
    const char *header; /* NULL: raw bytes below */
    size_t n_data;      /* data bytes after the header */
    const char *raw;    /* when header is NULL: the whole file */
    size_t raw_n;
    const char *what;   /* expected in the message */
} ck_bad;

static const ck_bad ck_bad_cases[] = {
    {"empty_file", NULL, 0, "", 0, "truncated"},
    {"five_bytes", NULL, 0, "\x05\x00\x00\x00\x00", 5, "truncated"},
    {"len_past_end", NULL, 0, "\x40\x00\x00\x00\x00\x00\x00\x00{}", 10, "larger than the file"},
    {"len_huge", NULL, 0, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "larger than the file"},
    {"len_one_over", NULL, 0, "\x03\x00\x00\x00\x00\x00\x00\x00{}", 10, "larger than the file"},
    {"empty_header", "", 0, NULL, 0, "malformed JSON"},
    {"json_cut", "{\"a\":{\"dtype\":\"F32\",", 0, NULL, 0, "malformed JSON"},
    {"json_trailing", "{} x", 0, NULL, 0, "malformed JSON"},
    {"json_two_objects", "{}{}", 0, NULL, 0, "malformed JSON"},
    {"json_bad_token", "{\"a\":tru}", 0, NULL, 0, "malformed JSON"},
    {"not_utf8", "{\"\xff\":{}}", 0, NULL, 0, "UTF-8"},
    {"overlong_utf8", "{\"\xc0\xaf\":{}}", 0, NULL, 0, "UTF-8"},
    {"array_root", "[1,2]", 0, NULL, 0, "not a JSON object"},
    {"string_root", "\"x\"", 0, NULL, 0, "not a JSON object"},
    {"entry_number", "{\"a\":3}", 0, NULL, 0, "not a JSON object"},
    {"dtype_f16", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "unknown dtype 'F16'"},
    {"dtype_i64", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "unknown dtype 'I64'"},
    {"dtype_lower", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL,
     0, "unknown dtype"},
    {"dtype_number", "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "dtype is not a string"},
    {"no_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "missing field 'dtype'"},
    {"no_shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "missing field 'shape'"},
    {"no_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, NULL, 0,
     "missing field 'data_offsets'"},
    {"dup_field", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, NULL, 0, "duplicate field 'dtype'"},
    {"shape_not_array", "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, NULL,
     0, "shape is not an array"},
    {"count_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
     NULL, 0, "data_offsets [0,20] hold 20 bytes"},
    {"count_mismatch_f64", "{\"a\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12,
     NULL, 0, "has 3 elements"},
    {"scalar_no_bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}}", 0, NULL,
     0, "has 1 elements"},
    {"negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, NULL,
     0, "dimension 0 is not an integer"},
    {"fraction_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, NULL,
     0, "dimension 0 is not an integer"},
    {"string_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "dimension 1 is not an integer"},
    {"huge_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8, NULL, 0,
     "dimension 0 is not an integer"},
    {"overflow_numel",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
     8, NULL, 0, "overflows"},
    {"overflow_bytes",
     "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
     NULL, 0, "dimension 0"},
    {"wrap_bytes", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693953],\"data_offsets\":[0,8]}}",
     8, NULL, 0, "dimension 0"},
    {"rank5", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "rank 5"},
    {"offsets_past_buffer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
     NULL, 0, "outside the buffer of 8 bytes"},
    {"offsets_reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, NULL,
     0, "outside the buffer"},
    {"offsets_far", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9007199254740988,9007199254740992]}}",
     8, NULL, 0, "outside the buffer"},
    {"offsets_negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8,
     NULL, 0, "data_offsets is not two integers"},
    {"offsets_three", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, NULL,
     0, "data_offsets is not two integers"},
    {"offsets_one", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 8, NULL, 0,
     "data_offsets is not two integers"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, NULL, 0, "overlap"},
    {"same_range",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, NULL, 0, "overlap"},
    {"dup_name",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, NULL, 0, "duplicate tensor name 'a'"},
    {"empty_name", "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, NULL, 0,
     "empty name"},
    {"meta_not_object", "{\"__metadata__\":[\"a\"]}", 0, NULL, 0,
     "__metadata__ is not a JSON object"},
    {"meta_number", "{\"__metadata__\":{\"step\":12}}", 0, NULL, 0,
     "metadata value of 'step' is not a string"},
    {"meta_null", "{\"__metadata__\":{\"cell\":null}}", 0, NULL, 0, "is not a string"},
    {"meta_dup_key", "{\"__metadata__\":{\"cell\":\"lstm\",\"cell\":\"gru\"}}", 0, NULL, 0,
     "duplicate metadata key 'cell'"},
    {"meta_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, NULL, 0,
     "duplicate __metadata__"},
};

static void ck_check_bad(const ck_bad *c)
{
    unsigned char buf[4096];
    size_t n;
    if (c->header) {
        n = ck_make(buf, sizeof buf, c->header, c->n_data);
    } else {
        memcpy(buf, c->raw, c->raw_n);
        n = c->raw_n;
    }
    char file[128];
    snprintf(file, sizeof file, "bad_%s.safetensors", c->label);
    const char *p = ck_path(file);
    ck_write_bytes(p, buf, n);
    rg_clear_error();
    rg_safetensors *st = rg_safetensors_read(p);
    cr_assert_null(st, "%s: accepted", c->label);
    ck_assert_error(p, c->what);
    cr_assert(strstr(rg_last_error(), "rg_safetensors_read") != NULL);
    /* The header-only reader refuses it too (every case is in the header or its
     * relation to the file's size). */
    st = rg_safetensors_read_header(p);
    cr_assert_null(st, "%s: accepted by read_header", c->label);
    ck_assert_error(p, c->what);
    /* And from memory, named as given; a copy of exactly n bytes so the
     * sanitizer sees any read past the end. */
    unsigned char *m = malloc(n ? n : 1);
    memcpy(m, buf, n);
    cr_assert_null(rg_safetensors_read_mem(m, n, "mem.st"));
    ck_assert_error("mem.st", c->what);
    free(m);
}

Test(checkpoint, malformed_files_refused)
{
    for (size_t i = 0; i < sizeof ck_bad_cases / sizeof ck_bad_cases[0]; i++)
        ck_check_bad(&ck_bad_cases[i]);
}

Test(checkpoint, unreadable_paths)
{
    cr_assert_null(rg_safetensors_read(ck_path("absent.safetensors")));
    ck_assert_error("absent.safetensors", "cannot open");
    cr_assert_null(rg_safetensors_read(ck_dir));
    ck_assert_error(ck_dir, "not a regular file");
    cr_assert_null(rg_safetensors_read_header(ck_dir));
    cr_assert_null(rg_safetensors_read(NULL));
}

Test(checkpoint, accepts_valid_variants)
{
    static const char *const ok[] = {
        "{}",
        "  {}   ",
        "\n{ \"__metadata__\" : { \"k\" : \"v\" } }\t\r\n ",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}",
        "{\"z\":{\"data_offsets\":[4,8],\"shape\":[],\"dtype\":\"F32\"},"
        "\"y\":{\"dtype\":\"F32\",\"shape\":[1,0],\"data_offsets\":[4,4]},"
        "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}",
    };
    unsigned char buf[1024];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = ck_make(buf, sizeof buf, ok[i], 8);
        rg_safetensors *st = rg_safetensors_read_mem(buf, n, "ok");
        cr_assert_not_null(st, "case %zu: %s", i, rg_last_error());
        rg_safetensors_free(st);
    }
    /* Header order is kept, whatever the data order. */
    size_t n = ck_make(buf, sizeof buf, ok[4], 8);
    rg_safetensors *st = rg_safetensors_read_mem(buf, n, "ok");
    const char *name;
    rg_safetensors_at(st, 0, &name);
    cr_assert_str_eq(name, "z");
    rg_safetensors_at(st, 2, &name);
    cr_assert_str_eq(name, "x");
    const rg_tensor *z = rg_safetensors_get(st, "z");
    float want;
    memcpy(&want, (unsigned char[]){4, 5, 6, 7}, 4);
    cr_assert_eq(z->rank, 0);
    cr_assert_eq(z->numel, 1);
    cr_assert_eq(((const float *)z->data)[0], want);
    cr_assert_eq(rg_safetensors_get(st, "y")->numel, 0);
    rg_safetensors_free(st);
}

/* Every truncation of a real file is refused; every one-byte change of its
 * header is either refused with a message or accepted, never a crash. */
Test(checkpoint, truncations_and_byte_flips)
{
    size_t n;
    unsigned char *b = ck_read_bytes(rg_test_data_path("ckpt_lstm.safetensors"), &n);
    for (size_t len = 0; len < n; len++) {
        unsigned char *m = malloc(len ? len : 1);
        memcpy(m, b, len);
        rg_clear_error();
        rg_safetensors *st = rg_safetensors_read_mem(m, len, "cut.st");
        cr_assert_null(st, "truncation to %zu bytes accepted", len);
        cr_assert(strstr(rg_last_error(), "cut.st") != NULL);
        free(m);
    }
    uint64_t hl = 0;
    for (int k = 7; k >= 0; k--)
        hl = (hl << 8) | b[k];
    static const unsigned char vals[] = {0x00, 0x20, 0x22, 0x2c, 0x30, 0x39, 0x5b, 0x5d,
                                         0x7b, 0x7d, 0x80, 0xff, '-', '.', 'e'};
    unsigned char *m = malloc(n);
    for (size_t pos = 0; pos < 8 + hl; pos++)
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(m, b, n);
            m[pos] = vals[v];
            rg_clear_error();
            rg_safetensors *st = rg_safetensors_read_mem(m, n, "flip.st");
            if (!st)
                cr_assert(strstr(rg_last_error(), "flip.st") != NULL);
            rg_safetensors_free(st);
        }
    free(m);
    free(b);
}

/* ---- files made by PyTorch --------------------------------------------------- */

static void ck_check_torch_file(const char *stem, const rg_reflist *ref, rg_dtype want_dt,
                                const char *cell)
{
    char file[64], key[160];
    snprintf(file, sizeof file, "%s.safetensors", stem);
    rg_safetensors *st = rg_safetensors_read(rg_test_data_path(file));
    cr_assert_not_null(st, "%s", rg_last_error());
    int expected = 0, first = -1;
    size_t sl = strlen(stem);
    for (int i = 0; i < ref->n; i++)
        if (strncmp(ref->cases[i].name, stem, sl) == 0 && ref->cases[i].name[sl] == '/') {
            if (first < 0)
                first = i;
            expected++;
        }
    cr_assert_eq(rg_safetensors_count(st), expected, "%s", stem);
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, i, &name);
        snprintf(key, sizeof key, "%s/%s", stem, name);
        const rg_refcase *c = rg_ref_find(ref, key);
        cr_assert_not_null(c, "%s not in ckpt_expected.txt", key);
        /* The reference file lists the tensors in state_dict order. */
        cr_assert_eq((int)(c - ref->cases), first + i, "%s is not in state_dict order", key);
        const rg_tensor *w = c->out[0];
        cr_assert_eq(t->rank, w->rank, "%s", key);
        for (int k = 0; k < t->rank; k++)
            cr_assert_eq(t->shape[k], w->shape[k], "%s dim %d", key, k);
        if (want_dt != (rg_dtype)-1)
            cr_assert_eq(t->dtype, want_dt, "%s", key);
        rg_cmp cmp = rg_test_compare(t, w, 0, 0);
        cr_assert(cmp.pass, "%s: element %ld is %.17g, PyTorch has %.17g", key, (long)cmp.worst,
                  cmp.got_v, cmp.want_v);
    }
    if (cell) {
        cr_assert_str_eq(rg_safetensors_get_meta(st, "cell"), cell);
        cr_assert_str_eq(rg_safetensors_get_meta(st, "vocab"), "10,32,97,98,99");
    }
    rg_safetensors_free(st);
}

Test(checkpoint, pytorch_files)
{
    rg_reflist *ref = rg_ref_load(rg_test_data_path("ckpt_expected.txt"));
    cr_assert_not_null(ref, "%s", rg_last_error());
    ck_check_torch_file("ckpt_lstm", ref, RG_F32, "lstm");
    ck_check_torch_file("ckpt_gru", ref, RG_F64, "gru");
    ck_check_torch_file("ckpt_misc", ref, (rg_dtype)-1, NULL);
    rg_safetensors *st = rg_safetensors_read(rg_test_data_path("ckpt_misc.safetensors"));
    cr_assert_str_eq(rg_safetensors_get_meta(st, "quote\"back\\slash"), "tab\tnewline\n");
    cr_assert_str_eq(rg_safetensors_get_meta(st, "utf8"), "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c");
    cr_assert_eq(rg_safetensors_get(st, "scalar")->rank, 0);
    cr_assert_eq(rg_safetensors_get(st, "empty")->numel, 0);
    rg_safetensors_free(st);
    rg_ref_free(ref);
}

Test(checkpoint, pytorch_charlm_loads_into_params)
{
    rg_reflist *ref = rg_ref_load(rg_test_data_path("ckpt_expected.txt"));
    cr_assert_not_null(ref, "%s", rg_last_error());
    /* LSTM file (F32) into F32 and F64 registries; GRU file (F64) into F32. */
    struct {
        const char *stem, *cell;
        int L;
        rg_dtype dt;
    } cases[] = {{"ckpt_lstm", "lstm", 2, RG_F32},
                 {"ckpt_lstm", "lstm", 2, RG_F64},
                 {"ckpt_gru", "gru", 1, RG_F32},
                 {"ckpt_gru", "gru", 1, RG_F64}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char file[64], key[160];
        snprintf(file, sizeof file, "%s.safetensors", cases[c].stem);
        const char *path = rg_test_data_path(file);
        rg_safetensors *meta = rg_checkpoint_read_meta(path);
        cr_assert_not_null(meta, "%s", rg_last_error());
        cr_assert_str_eq(rg_safetensors_get_meta(meta, "cell"), cases[c].cell);
        const rg_tensor *emb = rg_safetensors_get(meta, "embed.weight");
        const rg_tensor *whh = rg_safetensors_get(meta, "rnn.weight_hh_l0");
        cr_assert_not_null(emb);
        cr_assert_not_null(whh);
        rg_params *P = ck_charlm(cases[c].cell, emb->shape[0], emb->shape[1], whh->shape[1],
                                 cases[c].L, cases[c].dt, 7);
        rg_safetensors_free(meta);
        cr_assert_eq(rg_checkpoint_load_params(P, path), 0, "%s", rg_last_error());
        for (int i = 0; i < rg_params_count(P); i++) {
            const char *name;
            const rg_tensor *t = rg_params_at(P, i, &name);
            snprintf(key, sizeof key, "%s/%s", cases[c].stem, name);
            const rg_refcase *rc = rg_ref_find(ref, key);
            cr_assert_not_null(rc, "%s", key);
            double tol = cases[c].dt == RG_F32 ? 1e-7 : 0;
            rg_cmp cmp = rg_test_compare(t, rc->out[0], 0, tol);
            cr_assert(cmp.pass, "%s[%ld]: %.17g vs %.17g", key, (long)cmp.worst, cmp.got_v,
                      cmp.want_v);
        }
        rg_params_free(P);
    }
    rg_ref_free(ref);
}

/* A file written by tools/rgckpt.py (numpy, no torch; `rgckpt.py make-fixture`)
 * reads here and loads into a CharLM registry: element i of the j-th tensor is
 * (j + 1) * 0.1 + i * 0.01 - 0.5, stored as F32 except head.bias (F64). */
Test(checkpoint, written_by_rgckpt)
{
    const char *path = rg_test_data_path("ckpt_rgckpt.safetensors");
    static const char *const names[] = {"embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0",
                                        "rnn.bias_ih_l0", "rnn.bias_hh_l0", "head.weight",
                                        "head.bias"};
    rg_safetensors *st = rg_safetensors_read(path);
    cr_assert_not_null(st, "%s", rg_last_error());
    cr_assert_eq(rg_safetensors_count(st), 7);
    cr_expect_str_eq(rg_safetensors_get_meta(st, "cell"), "gru");
    cr_expect_str_eq(rg_safetensors_get_meta(st, "vocab"), "10,97,98");
    cr_expect_str_eq(rg_safetensors_get_meta(st, "note"), "written by tools/rgckpt.py \xe2\x80\x94 ok");
    for (int j = 0; j < 7; j++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, j, &name);
        cr_assert_str_eq(name, names[j], "file order");
        cr_expect_eq(t->dtype, j == 6 ? RG_F64 : RG_F32, "%s", name);
        for (int64_t i = 0; i < t->numel; i++) {
            double v = (j + 1) * 0.1 + (double)i * 0.01 - 0.5;
            double want = t->dtype == RG_F32 ? (double)(float)v : v;
            cr_expect_eq(rg_get(t, i), want, "%s[%lld]: %.17g vs %.17g", name, (long long)i,
                         rg_get(t, i), want);
        }
    }
    rg_safetensors_free(st);
    /* the same file into a model's registry (F64 parameters: the F32 values exactly) */
    rg_params *P = ck_charlm("gru", 3, 2, 2, 1, RG_F64, 3);
    cr_assert_eq(rg_checkpoint_load_params(P, path), 0, "%s", rg_last_error());
    rg_tensor *hb = rg_params_get(P, "head.bias"), *emb = rg_params_get(P, "embed.weight");
    cr_expect_eq(rg_get(hb, 2), 7 * 0.1 + 2 * 0.01 - 0.5);
    cr_expect_eq(rg_get(emb, 5), (double)(float)(0.1 + 5 * 0.01 - 0.5));
    rg_params_free(P);
}

/* ---- parameter checkpoints -------------------------------------------------- */

Test(checkpoint, params_roundtrip)
{
    const char *const meta[] = {"cell", "lstm", "vocab", "10,32,97,98,99", "step", "17", NULL};
    rg_params *A = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 1);
    const char *p = ck_path("charlm.safetensors");
    cr_assert_eq(rg_checkpoint_save_params(A, p, meta), 0, "%s", rg_last_error());
    rg_params *B = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 2);
    cr_assert_eq(rg_checkpoint_load_params(B, p), 0, "%s", rg_last_error());
    ck_assert_params_equal(A, B);
    rg_safetensors *h = rg_checkpoint_read_meta(p);
    cr_assert_not_null(h);
    cr_assert_str_eq(rg_safetensors_get_meta(h, "vocab"), "10,32,97,98,99");
    cr_assert_str_eq(rg_safetensors_get_meta(h, "step"), "17");
    cr_assert_eq(rg_safetensors_count(h), rg_params_count(A));
    cr_assert_eq(rg_safetensors_at(h, 0, NULL)->dtype, RG_F32);
    rg_safetensors_free(h);
    /* For tools/make_checkpoint_cases.py --verify: RG_CKPT_OUT=dir keeps a copy. */
    const char *out = getenv("RG_CKPT_OUT");
    if (out && *out) {
        char q[512];
        snprintf(q, sizeof q, "%s/c_lstm.safetensors", out);
        cr_assert_eq(rg_checkpoint_save_params(A, q, meta), 0, "%s", rg_last_error());
        rg_params *G = ck_charlm("gru", 5, 3, 4, 2, RG_F64, 3);
        const char *const gmeta[] = {"cell", "gru", "vocab", "10,32,97,98,99", NULL};
        snprintf(q, sizeof q, "%s/c_gru64.safetensors", out);
        cr_assert_eq(rg_checkpoint_save_params_as(G, q, gmeta, RG_F64), 0, "%s",
                     rg_last_error());
        rg_params *R = ck_charlm("rnn_tanh", 5, 3, 4, 1, RG_F64, 4);
        const char *const rmeta[] = {"cell", "rnn_tanh", "vocab", "10,32,97,98,99", NULL};
        snprintf(q, sizeof q, "%s/c_rnn_tanh.safetensors", out);
        cr_assert_eq(rg_checkpoint_save_params(R, q, rmeta), 0, "%s", rg_last_error());
        rg_params_free(G);
        rg_params_free(R);
    }
    rg_params_free(A);
    rg_params_free(B);
}

Test(checkpoint, params_roundtrip_f64_exact)
{
    rg_params *A = ck_charlm("gru", 6, 2, 3, 3, RG_F64, 5);
    const char *p = ck_path("gru64.safetensors");
    cr_assert_eq(rg_checkpoint_save_params_as(A, p, NULL, RG_F64), 0, "%s", rg_last_error());
    rg_params *B = ck_charlm("gru", 6, 2, 3, 3, RG_F64, 6);
    cr_assert_eq(rg_checkpoint_load_params(B, p), 0, "%s", rg_last_error());
    ck_assert_params_equal(A, B);
    rg_params_free(A);
    rg_params_free(B);
}

Test(checkpoint, metadata_pairs_checked)
{
    rg_params *A = ck_charlm("rnn_relu", 3, 2, 2, 1, RG_F32, 1);
    const char *const odd[] = {"cell", NULL};
    cr_assert_eq(rg_checkpoint_save_params(A, ck_path("x.safetensors"), odd), -1);
    ck_assert_error(NULL, "no value");
    cr_assert_eq(ck_count_files(), 0);
    rg_params_free(A);
}

/* Writes a file whose tensors are those of P, with edit applied. */
typedef enum { CK_DROP, CK_RESHAPE, CK_EXTRA } ck_edit;

static const char *ck_write_edited(const rg_params *P, ck_edit edit, const char *victim,
                                   const char *file)
{
    rg_safetensors *st = rg_safetensors_new();
    for (int i = 0; i < rg_params_count(P); i++) {
        const char *name;
        const rg_tensor *t = rg_params_at(P, i, &name);
        if (strcmp(name, victim) == 0 && edit == CK_DROP)
            continue;
        if (strcmp(name, victim) == 0 && edit == CK_RESHAPE) {
            /* Same element count, other shape: only the shape check catches it. */
            int64_t shape[2] = {t->shape[1], t->shape[0]};
            cr_assert_eq(rg_safetensors_add_data(st, name, t->dtype, 2, shape, t->data), 0);
            continue;
        }
        cr_assert_eq(rg_safetensors_add(st, name, t), 0);
    }
    if (edit == CK_EXTRA)
        cr_assert_eq(rg_safetensors_add_data(st, victim, RG_F32, RG_DIMS(2),
                                             (float[]){1, 2}),
                     0);
    const char *p = ck_path(file);
    cr_assert_eq(rg_safetensors_write(st, p, RG_F32), 0);
    rg_safetensors_free(st);
    return p;
}

Test(checkpoint, failed_load_leaves_params_untouched)
{
    rg_params *src = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 11);
    rg_params *P = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 12);
    rg_params *before = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 12);

    const char *p = ck_write_edited(src, CK_DROP, "head.bias", "drop.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "missing tensor 'head.bias' (the model expects [5])");
    ck_assert_params_equal(P, before);

    /* head.weight is the next-to-last tensor: a loader that copied as it went
     * would already have changed every tensor before it. */
    p = ck_write_edited(src, CK_RESHAPE, "head.weight", "shape.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "tensor 'head.weight' has shape [4,5] in the file, the model expects [5,4]");
    ck_assert_params_equal(P, before);

    p = ck_write_edited(src, CK_EXTRA, "optim.m.head.bias", "extra.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "unexpected tensor 'optim.m.head.bias' [2] (not in the model)");
    ck_assert_params_equal(P, before);

    /* A non-strict load accepts the extra tensor. */
    rg_safetensors *st = rg_safetensors_read(p);
    cr_assert_not_null(st);
    cr_assert_eq(rg_checkpoint_load_params_from(P, st, p, false), 0, "%s", rg_last_error());
    ck_assert_params_equal(P, src);
    rg_safetensors_free(st);
    rg_params_free(P);
    P = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 12);

    /* A model with fewer layers than the file: extra tensors. */
    rg_params *small = ck_charlm("lstm", 5, 3, 4, 1, RG_F32, 12);
    rg_params *small0 = ck_charlm("lstm", 5, 3, 4, 1, RG_F32, 12);
    cr_assert_eq(rg_checkpoint_save_params(src, ck_path("full.safetensors"), NULL), 0);
    cr_assert_eq(rg_checkpoint_load_params(small, ck_path("full.safetensors")), -1);
    ck_assert_error("full.safetensors", "unexpected tensor 'rnn.weight_ih_l1' [16,4]");
    ck_assert_params_equal(small, small0);

    /* A corrupt file: the reader's message, the model untouched. */
    size_t n;
    unsigned char *raw = ck_read_bytes(ck_path("full.safetensors"), &n);
    ck_write_bytes(ck_path("cut.safetensors"), raw, n - 1);
    free(raw);
    cr_assert_eq(rg_checkpoint_load_params(P, ck_path("cut.safetensors")), -1);
    ck_assert_error("cut.safetensors", "outside the buffer");
    ck_assert_params_equal(P, before);
    cr_assert_eq(rg_checkpoint_load_params(P, ck_path("none.safetensors")), -1);
    ck_assert_error("none.safetensors", "cannot open");
    ck_assert_params_equal(P, before);

    rg_params_free(small);
    rg_params_free(small0);
    rg_params_free(src);
    rg_params_free(P);
    rg_params_free(before);
}

/* ---- atomic writes ---------------------------------------------------------- */

static void ck_assert_file_is(const char *p, const unsigned char *want, size_t n)
{
    size_t m;
    unsigned char *got = ck_read_bytes(p, &m);
    cr_assert_eq(m, n, "%s changed size", p);
    cr_assert_eq(memcmp(got, want, n), 0, "%s changed", p);
    free(got);
}

Test(checkpoint, atomic_write_failure_keeps_old_file)
{
    rg_safetensors *small = ck_sample();
    const char *p = ck_path("model.safetensors");
    cr_assert_eq(rg_safetensors_write(small, p, RG_F32), 0);
    size_t n;
    unsigned char *old = ck_read_bytes(p, &n);

    /* A write that fails half way: the file size limit stops the temporary file. */
    rg_safetensors *big = rg_safetensors_new();
    double *v = calloc(200000, sizeof *v);
    cr_assert_eq(rg_safetensors_add_data(big, "w", RG_F64, RG_DIMS(200000), v), 0);
    free(v);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old_lim, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
    lim = old_lim;
    lim.rlim_cur = 64 * 1024;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = rg_safetensors_write(big, p, RG_F64);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    cr_assert_eq(rc, -1);
    ck_assert_error(p, "cannot write the temporary file");
    ck_assert_file_is(p, old, n);
    cr_assert_eq(ck_count_files(), 1, "a temporary file was left behind");

    /* The target is a directory: the rename fails, nothing is left behind. */
    const char *d = ck_path("adir");
    cr_assert_eq(mkdir(d, 0700), 0);
    cr_assert_eq(rg_safetensors_write(small, d, RG_F32), -1);
    ck_assert_error(d, "rename");
    cr_assert_eq(ck_count_files(), 2);

    /* The folder does not exist. */
    cr_assert_eq(rg_safetensors_write(small, ck_path("nodir/m.safetensors"), RG_F32), -1);
    ck_assert_error("nodir/m.safetensors", "cannot create a temporary file");

    /* A folder without write permission (meaningless as root, who may write anyway). */
    if (geteuid() != 0) {
        cr_assert_eq(chmod(ck_dir, 0500), 0);
        cr_assert_eq(rg_safetensors_write(big, p, RG_F32), -1);
        chmod(ck_dir, 0700);
        ck_assert_error(p, "cannot create a temporary file");
        ck_assert_file_is(p, old, n);
    }

    /* A write that succeeds replaces it. */
    cr_assert_eq(rg_safetensors_write(big, p, RG_F32), 0, "%s", rg_last_error());
    rg_safetensors *back = rg_safetensors_read(p);
    cr_assert_not_null(back);
    cr_assert_eq(rg_safetensors_count(back), 1);
    rg_safetensors_free(back);
    cr_assert_eq(ck_count_files(), 2);
    free(old);
    rg_safetensors_free(big);
    rg_safetensors_free(small);
}

/* ---- special files and non-finite values ------------------------------------ */

static double ck_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every reader refuses path at once, naming it and what it is. */
static void ck_refuses_special(const char *path, const char *kind)
{
    char what[96];
    snprintf(what, sizeof what, "is %s, not a regular file", kind);
    rg_params *P = ck_charlm("gru", 5, 3, 4, 1, RG_F32, 3);
    double t0 = ck_now();
    cr_assert_null(rg_safetensors_read(path));
    ck_assert_error(path, what);
    cr_assert(strstr(rg_last_error(), "rg_safetensors_read") != NULL);
    cr_assert_null(rg_safetensors_read_header(path));
    ck_assert_error(path, what);
    cr_assert(strstr(rg_last_error(), "rg_safetensors_read_header") != NULL);
    cr_assert_null(rg_checkpoint_read_meta(path));
    ck_assert_error(path, what);
    cr_assert(strstr(rg_last_error(), "rg_checkpoint_read_meta") != NULL);
    cr_assert_eq(rg_checkpoint_load_params(P, path), -1);
    ck_assert_error(path, what);
    cr_assert_lt(ck_now() - t0, 2.0, "refusing %s took %.1f s", path, ck_now() - t0);
    rg_params_free(P);
}

/* A FIFO without a writer would block an open without O_NONBLOCK forever (the
 * timeout turns that into a failure instead of a hung suite). */
Test(checkpoint, special_files_refused_without_blocking, .timeout = 20)
{
    const char *fifo = ck_path("pipe.safetensors");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    ck_refuses_special(fifo, "a FIFO");
    ck_refuses_special(ck_dir, "a directory");
    ck_refuses_special("/dev/null", "a character device");
}

/* src with v at element k of tensor victim, saved in file_dtype. */
static const char *ck_write_poisoned(rg_params *src, const char *victim, int64_t k, double v,
                                     rg_dtype file_dtype, const char *file)
{
    rg_tensor *t = rg_params_get(src, victim);
    cr_assert_not_null(t);
    double old = rg_get(t, k);
    rg_set(t, k, v);
    const char *p = ck_path(file);
    cr_assert_eq(rg_checkpoint_save_params_as(src, p, NULL, file_dtype), 0, "%s",
                 rg_last_error());
    rg_set(t, k, old);
    return p;
}

Test(checkpoint, nonfinite_values_refused)
{
    rg_params *src = ck_charlm("lstm", 5, 3, 4, 2, RG_F64, 21);
    rg_params *P = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 22);
    rg_params *before = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 22);

    const char *p = ck_write_poisoned(src, "rnn.weight_hh_l1", 17, NAN, RG_F32, "nan.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "rg_checkpoint_load_params: ");
    ck_assert_error(p, "tensor 'rnn.weight_hh_l1' holds NaN at element 17");
    ck_assert_params_equal(P, before);

    /* head.bias is the last tensor: every other one was valid and would already
     * have been copied by a loader that copied as it went. */
    p = ck_write_poisoned(src, "head.bias", 4, INFINITY, RG_F64, "inf.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "tensor 'head.bias' holds Inf at element 4");
    ck_assert_params_equal(P, before);

    p = ck_write_poisoned(src, "embed.weight", 0, -INFINITY, RG_F64, "ninf.safetensors");
    rg_safetensors *st = rg_safetensors_read(p);
    cr_assert_not_null(st, "%s", rg_last_error());
    cr_assert_eq(rg_checkpoint_load_params_from(P, st, p, false), -1);
    ck_assert_error(p, "rg_checkpoint_load_params_from: ");
    ck_assert_error(p, "tensor 'embed.weight' holds -Inf at element 0");
    ck_assert_params_equal(P, before);
    rg_safetensors_free(st);

    /* Finite in float64, Inf once converted to an F32 parameter. */
    p = ck_write_poisoned(src, "rnn.bias_ih_l0", 3, 1e300, RG_F64, "big.safetensors");
    cr_assert_eq(rg_checkpoint_load_params(P, p), -1);
    ck_assert_error(p, "tensor 'rnn.bias_ih_l0' holds 1e+300 at element 3, beyond float32's range");
    ck_assert_params_equal(P, before);
    /* ... which an F64 model takes. */
    rg_params *P64 = ck_charlm("lstm", 5, 3, 4, 2, RG_F64, 22);
    cr_assert_eq(rg_checkpoint_load_params(P64, p), 0, "%s", rg_last_error());
    cr_assert_eq(rg_get(rg_params_get(P64, "rnn.bias_ih_l0"), 3), 1e300);

    /* A tensor that is not loaded (non-strict, not in the model) may hold anything. */
    rg_safetensors *extra = rg_checkpoint_from_params(src, NULL);
    cr_assert_not_null(extra);
    cr_assert_eq(rg_safetensors_add_data(extra, "optim.nan", RG_F32, RG_DIMS(1), (float[]){NAN}),
                 0);
    cr_assert_eq(rg_checkpoint_load_params_from(P, extra, "extra", false), 0, "%s",
                 rg_last_error());
    cr_assert_eq(rg_get(rg_params_get(P, "head.bias"), 4),
                 (double)(float)rg_get(rg_params_get(src, "head.bias"), 4));
    rg_safetensors_free(extra);

    rg_params_free(P64);
    rg_params_free(src);
    rg_params_free(P);
    rg_params_free(before);
}

Test(checkpoint, params_check_finite)
{
    rg_params *P = ck_charlm("lstm", 5, 3, 4, 2, RG_F32, 5);
    const char *name = "x";
    int64_t k = 7;
    cr_assert_eq(rg_params_check_finite(P, &name, &k), 0);
    cr_assert_null(name);
    cr_assert_eq(k, -1);

    rg_tensor *w = rg_params_get(P, "rnn.weight_hh_l0");
    rg_set(w, 17, NAN);
    rg_set(rg_params_get(P, "head.bias"), 1, INFINITY); /* later in the registry */
    rg_clear_error();
    cr_assert_eq(rg_params_check_finite(P, &name, &k), -1);
    cr_assert_str_eq(name, "rnn.weight_hh_l0");
    cr_assert_eq(k, 17);
    cr_assert_str_eq(rg_last_error(),
                     "rg_params_check_finite: parameter 'rnn.weight_hh_l0' holds NaN at element 17");
    rg_set(w, 17, 0.5);
    cr_assert_eq(rg_params_check_finite(P, NULL, NULL), -1);
    cr_assert_str_eq(rg_last_error(),
                     "rg_params_check_finite: parameter 'head.bias' holds Inf at element 1");
    rg_set(rg_params_get(P, "head.bias"), 1, -INFINITY);
    cr_assert_eq(rg_params_check_finite(P, &name, NULL), -1);
    cr_assert_str_eq(name, "head.bias");
    cr_assert(strstr(rg_last_error(), "holds -Inf at element 1") != NULL, "%s", rg_last_error());
    rg_set(rg_params_get(P, "head.bias"), 1, 0);
    cr_assert_eq(rg_params_check_finite(P, NULL, NULL), 0);

    /* An empty registry is finite; no registry is an error. */
    rg_params *E = rg_params_new();
    cr_assert_eq(rg_params_check_finite(E, NULL, NULL), 0);
    rg_params_free(E);
    rg_clear_error();
    cr_assert_eq(rg_params_check_finite(NULL, &name, &k), -1);
    cr_assert_null(name);
    cr_assert_eq(k, -1);
    cr_assert(strstr(rg_last_error(), "rg_params_check_finite") != NULL);
    rg_params_free(P);
}
