/* Forward values of the op table against PyTorch: every case of every
 * tests/data/ops_*.txt file runs the gradient-check row of the same name
 * (gradrows.h) on the file's inputs and compares with PyTorch's output.  A case
 * without a row fails, and so does a row without a case.  Also the error paths
 * and properties of the movement and nn ops that a value check cannot see. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradrows.h"
#include "testutil.h"

/* Rows with no PyTorch case, each with its reason. */
static const struct {
    const char *row, *why;
} allowed_without_case[] = {
    /* The mask comes from retrograd's RNG, which PyTorch cannot reproduce; the
     * row is gradient-checked, and dropout_eval is forward-checked. */
    {"dropout_train", "training-mode mask drawn from rg_rng"},
};

#define FWD_ATOL 1e-12
#define FWD_RTOL 1e-12

static const rg_gradrow *find_row(const char *name) {
    const rg_gradrow *rows[1024];
    int n = rg_gradrows_all(rows, 1024);
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i]->name, name) == 0) return rows[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ops_*.txt files of the data folder, sorted; free with free_names. */
static int data_files(char ***names) {
    DIR *d = opendir(rg_test_data_path(""));
    int n = 0, cap = 16;
    *names = malloc((size_t)cap * sizeof **names);
    if (!d || !*names) {
        if (d) closedir(d);
        return n;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 8 || strncmp(de->d_name, "ops_", 4) != 0 ||
            strcmp(de->d_name + len - 4, ".txt") != 0)
            continue;
        if (n == cap) {
            cap *= 2;
            char **nb = realloc(*names, (size_t)cap * sizeof *nb);
            if (!nb) break;
            *names = nb;
        }
        (*names)[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(*names, (size_t)n, sizeof **names, cmp_str);
    return n;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* Runs one case; returns true when it matched. */
static bool check_case(const char *file, const rg_refcase *c) {
    const rg_gradrow *row = find_row(c->name);
    if (!row) {
        cr_expect_fail("%s: case '%s' has no gradient-check row of that name", file, c->name);
        return false;
    }
    if (c->n_in != row->n_in || c->n_out != 1) {
        cr_expect_fail("%s: case '%s' has %d input(s) and %d output(s); row '%s' takes %d "
                       "input(s) and gives 1 output",
                       file, c->name, c->n_in, c->n_out, row->name, row->n_in);
        return false;
    }
    for (int j = 0; j < c->n_in; j++)
        if (c->in[j]->dtype != row->in[j].dt) {
            cr_expect_fail("%s: case '%s' input %d is %s, row wants %s", file, c->name, j,
                           rg_dtype_name(c->in[j]->dtype), rg_dtype_name(row->in[j].dt));
            return false;
        }
    rg_tape *tp = rg_tape_new();
    cr_assert_not_null(tp);
    rg_tensor *y = row->build(tp, c->in, c->n_in);
    bool ok = false;
    char sy[64], sw[64];
    const rg_tensor *want = c->out[0];
    if (!y) {
        cr_expect_fail("%s: case '%s': build failed: %s", file, c->name,
                       rg_tape_error(tp) ? rg_tape_error(tp) : rg_last_error());
    } else if (y->rank != want->rank || !rg_same_shape(y, want)) {
        cr_expect_fail("%s: case '%s': output %s, PyTorch %s", file, c->name,
                       rg_shape_str(y, sy, sizeof sy), rg_shape_str(want, sw, sizeof sw));
    } else {
        rg_cmp r = rg_test_compare(y, want, FWD_ATOL, FWD_RTOL);
        cr_expect(r.pass,
                  "%s: case '%s' (op %s): element %lld is %.17g, PyTorch %.17g (max abs err "
                  "%.3e, max rel err %.3e)",
                  file, c->name, row->op, (long long)r.worst, r.got_v, r.want_v, r.max_abs,
                  r.max_rel);
        ok = r.pass;
    }
    rg_tape_free(tp);
    return ok;
}

Test(ops_forward, pytorch_cases) {
    char **files;
    int nf = data_files(&files);
    cr_expect_gt(nf, 0, "no ops_*.txt files in %s", rg_test_data_path(""));
    int n_cases = 0, n_ok = 0;
    for (int f = 0; f < nf; f++) {
        rg_reflist *l = rg_ref_load(rg_test_data_path(files[f]));
        cr_expect_not_null(l, "%s", rg_last_error());
        if (!l) continue;
        for (int i = 0; i < l->n; i++) {
            n_cases++;
            n_ok += check_case(files[f], &l->cases[i]);
        }
        rg_ref_free(l);
    }
    cr_log_info("%d of %d PyTorch cases in %d file(s) match", n_ok, n_cases, nf);
    free_names(files, nf);
}

static bool allowed(const char *row) {
    for (size_t k = 0; k < sizeof allowed_without_case / sizeof allowed_without_case[0]; k++)
        if (strcmp(allowed_without_case[k].row, row) == 0) return true;
    return false;
}

Test(ops_forward, every_row_has_a_case) {
    char **files;
    int nf = data_files(&files);
    rg_reflist *lists[64];
    int nl = 0;
    for (int f = 0; f < nf && nl < 64; f++) {
        lists[nl] = rg_ref_load(rg_test_data_path(files[f]));
        cr_expect_not_null(lists[nl], "%s", rg_last_error());
        if (lists[nl]) nl++;
    }
    const rg_gradrow *rows[1024];
    int n = rg_gradrows_all(rows, 1024), missing = 0;
    for (int i = 0; i < n; i++) {
        int found = 0;
        for (int k = 0; k < nl; k++) found += rg_ref_find(lists[k], rows[i]->name) != NULL;
        if (found > 1) cr_expect_fail("case '%s' appears in more than one file", rows[i]->name);
        if (!found && !allowed(rows[i]->name)) {
            cr_log_error("row '%s' (op %s) has no PyTorch case in tests/data/ops_*.txt",
                         rows[i]->name, rows[i]->op);
            missing++;
        }
    }
    cr_expect_eq(missing, 0, "%d gradient-check row(s) have no PyTorch forward case", missing);
    for (int k = 0; k < nl; k++) rg_ref_free(lists[k]);
    free_names(files, nf);
}

/* ---- movement ops: properties and errors ------------------------------------ */

static rg_tensor *iota(rg_tape *tp, rg_dtype dt, int rank, const int64_t *shape) {
    rg_tensor *t = rg_tensor_new(tp, dt, rank, shape);
    for (int64_t i = 0; t && i < t->numel; i++) rg_set(t, i, (double)i);
    return t;
}

Test(ops_shape, reshape_is_a_view) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = iota(tp, RG_F32, RG_DIMS(2, 3));
    rg_tensor *y = rg_reshape(tp, x, RG_DIMS(-1, 2));
    cr_assert_not_null(y, "%s", rg_tape_error(tp));
    cr_expect_eq(y->data, x->data);
    cr_expect(y->flags & RG_VIEW);
    cr_expect_eq(y->rank, 2);
    cr_expect_eq(y->shape[0], 3);
    cr_expect_eq(y->shape[1], 2);
    rg_tape_free(tp);
}

Test(ops_shape, reshape_mismatch_names_both_shapes) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = iota(tp, RG_F64, RG_DIMS(2, 3));
    cr_expect_null(rg_reshape(tp, x, RG_DIMS(4, -1)));
    cr_expect(strstr(rg_tape_error(tp), "[2,3]") && strstr(rg_tape_error(tp), "[4,-1]"), "%s",
              rg_tape_error(tp));
    rg_tape_reset(tp);
    x = iota(tp, RG_F64, RG_DIMS(2, 3));
    cr_expect_null(rg_reshape(tp, x, RG_DIMS(5)));
    cr_expect(strstr(rg_tape_error(tp), "rg_reshape") && strstr(rg_tape_error(tp), "[5]"),
              "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    x = iota(tp, RG_F64, RG_DIMS(2, 3));
    cr_expect_null(rg_reshape(tp, x, RG_DIMS(-1, -1)));
    rg_tape_free(tp);
}

Test(ops_shape, slice_out_of_range) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = iota(tp, RG_F64, RG_DIMS(2, 5));
    cr_expect_null(rg_slice(tp, x, 1, 3, 3));
    const char *m = rg_tape_error(tp);
    cr_expect(m && strstr(m, "rg_slice") && strstr(m, "[3, 6)") && strstr(m, "axis 1") &&
                  strstr(m, "[2,5]"),
              "%s", m);
    rg_tape_reset(tp);
    x = iota(tp, RG_F64, RG_DIMS(2, 5));
    cr_expect_null(rg_slice(tp, x, 2, 0, 1));
    cr_expect(strstr(rg_tape_error(tp), "axis 2"), "%s", rg_tape_error(tp));
    rg_tape_free(tp);
}

Test(ops_shape, split_and_int_movement) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *ids = iota(tp, RG_I32, RG_DIMS(2, 6));
    rg_tensor *p[4];
    cr_assert_eq(rg_split(tp, ids, -1, 3, p), 0, "%s", rg_tape_error(tp));
    cr_expect_eq(p[1]->dtype, RG_I32);
    cr_expect_eq(p[1]->shape[1], 2);
    cr_expect_eq(rg_get(p[1], 0), 2);
    cr_expect_eq(rg_get(p[1], 3), 9);
    rg_tensor *t = rg_transpose(tp, p[2], 0, 1);
    cr_assert_not_null(t);
    cr_expect_eq(rg_get(t, 1), 10);
    cr_expect_eq(rg_split(tp, ids, 1, 4, p), -1);
    cr_expect(strstr(rg_tape_error(tp), "rg_split"), "%s", rg_tape_error(tp));
    cr_expect_null(p[0]);
    rg_tape_free(tp);
}

Test(ops_shape, concat_and_stack_mismatch) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *a = iota(tp, RG_F64, RG_DIMS(2, 3)), *b = iota(tp, RG_F64, RG_DIMS(3, 2));
    cr_expect_null(rg_concat(tp, 2, (rg_tensor *[]){a, b}, 1));
    cr_expect(strstr(rg_tape_error(tp), "rg_concat"), "%s", rg_tape_error(tp));
    rg_tape_reset(tp);
    a = iota(tp, RG_F64, RG_DIMS(2, 3));
    b = iota(tp, RG_F64, RG_DIMS(3, 2));
    cr_expect_null(rg_stack(tp, 2, (rg_tensor *[]){a, b}, 0));
    cr_expect(strstr(rg_tape_error(tp), "rg_stack"), "%s", rg_tape_error(tp));
    rg_tape_free(tp);
}

/* ---- nn ops: properties and errors ------------------------------------------- */

Test(ops_nn, cross_entropy_target_out_of_range) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_zeros(tp, RG_F64, RG_DIMS(3, 4));
    rg_tensor *t = rg_from_doubles(tp, RG_I32, RG_DIMS(3), (double[]){0, 1, 4});
    cr_expect_null(rg_cross_entropy(tp, x, t, RG_MEAN));
    const char *m = rg_tape_error(tp);
    cr_expect(m && strstr(m, "target 4") && strstr(m, "row 2"), "%s", m);
    rg_tape_free(tp);
}

Test(ops_nn, embedding_id_out_of_range) {
    rg_tape *tp = rg_tape_new();
    rg_tensor *W = rg_zeros(tp, RG_F64, RG_DIMS(5, 2));
    rg_tensor *ids = rg_from_doubles(tp, RG_I32, RG_DIMS(2), (double[]){1, -1});
    cr_expect_null(rg_embedding(tp, W, ids));
    const char *m = rg_tape_error(tp);
    cr_expect(m && strstr(m, "id -1") && strstr(m, "V = 5"), "%s", m);
    rg_tape_free(tp);
}

/* Logits near 1e4 (exp would overflow without the max shift); the loss and
 * gradient are those of the shifted logits [0, 1, -2]. */
Test(ops_nn, cross_entropy_large_logits) {
    rg_dtype dts[2] = {RG_F64, RG_F32};
    for (int k = 0; k < 2; k++) {
        rg_tape *tp = rg_tape_new();
        rg_tensor *x = rg_from_doubles(NULL, dts[k], RG_DIMS(1, 3),
                                       (double[]){1e4, 1e4 + 1, 1e4 - 2});
        rg_set_requires_grad(x, true);
        rg_tensor *t = rg_from_doubles(tp, RG_I32, RG_DIMS(1), (double[]){0});
        rg_tensor *y = rg_cross_entropy(tp, x, t, RG_SUM);
        cr_assert_not_null(y, "%s", rg_tape_error(tp));
        double s = 1 + exp(1) + exp(-2);
        double tol = dts[k] == RG_F64 ? 1e-12 : 1e-3;
        cr_expect(fabs(rg_get(y, 0) - log(s)) < tol, "%s loss %.17g, want %.17g",
                  rg_dtype_name(dts[k]), rg_get(y, 0), log(s));
        cr_assert_eq(rg_backward(tp, y), 0, "%s", rg_tape_error(tp));
        cr_expect(fabs(rg_grad_get(x, 0) - (1 / s - 1)) < tol);
        cr_expect(fabs(rg_grad_get(x, 1) - exp(1) / s) < tol);
        cr_expect(isfinite(rg_grad_get(x, 2)));
        rg_tensor_free(x);
        rg_tape_free(tp);
    }
}

Test(ops_nn, dropout_modes) {
    rg_tape *tp = rg_tape_new();
    rg_rng r1, r2;
    rg_rng_seed(&r1, 7);
    rg_rng_seed(&r2, 7);
    rg_tensor *x = rg_ones(NULL, RG_F64, RG_DIMS(100, 100));
    rg_set_requires_grad(x, true);

    /* Evaluation mode and p = 0: the input itself, no entry, rng untouched. */
    rg_tape_set_training(tp, false);
    cr_expect_eq(rg_dropout(tp, x, 0.5, &r1), x);
    rg_tape_set_training(tp, true);
    cr_expect_eq(rg_dropout(tp, x, 0.0, &r1), x);
    cr_expect_eq(rg_tape_entries(tp), 0);
    cr_expect_eq(rg_rng_next(&r1), rg_rng_next(&r2));

    /* Training: kept values scaled by 1/(1-p), about 1-p of them kept, the
     * same mask for the same rng state. */
    rg_rng_seed(&r1, 9);
    rg_rng_seed(&r2, 9);
    rg_tensor *a = rg_dropout(tp, x, 0.25, &r1), *b = rg_dropout(tp, x, 0.25, &r2);
    cr_assert(a && b, "%s", rg_tape_error(tp));
    int64_t kept = 0;
    bool same = true, scaled = true;
    for (int64_t i = 0; i < a->numel; i++) {
        double v = rg_get(a, i);
        kept += v != 0;
        same &= v == rg_get(b, i);
        scaled &= v == 0 || fabs(v - 1 / 0.75) < 1e-15;
    }
    cr_expect(same);
    cr_expect(scaled);
    cr_expect(fabs((double)kept / (double)a->numel - 0.75) < 0.02, "kept %lld of %lld",
              (long long)kept, (long long)a->numel);
    rg_tensor *c = rg_dropout(tp, x, 0.25, &r1);
    bool differs = false;
    for (int64_t i = 0; i < a->numel; i++) differs |= rg_get(a, i) != rg_get(c, i);
    cr_expect(differs, "the rng advances between calls");

    cr_expect_null(rg_dropout(tp, x, 1.5, &r1));
    cr_expect(strstr(rg_tape_error(tp), "rg_dropout"), "%s", rg_tape_error(tp));
    rg_tensor_free(x);
    rg_tape_free(tp);
}

/* ---- float32 kernels: each shape and nn row in F32 against F64 --------------- */

static rg_tensor *make_input(const rg_gradrow_input *s, rg_dtype fdt, rg_rng *r) {
    static const int64_t dims[8] = {3, 4, 2, 3, 2, 2, 2, 2};
    int64_t shape[RG_MAX_RANK];
    for (int d = 0; d < s->rank; d++)
        shape[d] = s->shape[d] < 0 ? dims[-s->shape[d] - 1] : s->shape[d];
    rg_tensor *t = rg_tensor_new(NULL, s->dt == RG_I32 ? RG_I32 : fdt, s->rank, shape);
    double hi = s->dt == RG_I32 && s->hi < 0 ? (double)dims[(int)(-s->hi) - 1] : s->hi;
    /* Float values rounded to float32, so both dtypes see the same inputs. */
    for (int64_t i = 0; i < t->numel; i++)
        rg_set(t, i,
               s->dt == RG_I32
                   ? s->lo + (double)rg_rng_below(r, (int64_t)(hi - s->lo))
                   : (double)(float)(s->lo + (s->hi - s->lo) * rg_rng_uniform(r)));
    if (s->dt != RG_I32) rg_set_requires_grad(t, true);
    return t;
}

static void run_f32_vs_f64(const rg_gradrow *row) {
    rg_tensor *in[2][6] = {{0}};
    rg_dtype dts[2] = {RG_F64, RG_F32};
    rg_tensor *y[2];
    rg_tape *tp[2];
    for (int k = 0; k < 2; k++) {
        rg_rng r;
        rg_rng_seed(&r, 99);
        for (int j = 0; j < row->n_in; j++) in[k][j] = make_input(&row->in[j], dts[k], &r);
        tp[k] = rg_tape_new();
        y[k] = row->build(tp[k], in[k], row->n_in);
        cr_assert_not_null(y[k], "%s (%s): %s", row->name, rg_dtype_name(dts[k]),
                           rg_tape_error(tp[k]));
        cr_expect_eq(y[k]->dtype, dts[k], "%s: output dtype", row->name);
        rg_rng_seed(&r, 5);
        rg_tensor *seed = rg_uniform(NULL, RG_F64, y[k]->rank, y[k]->shape, -1, 1, &r);
        cr_assert_eq(rg_backward_seed(tp[k], y[k], seed), 0, "%s", rg_tape_error(tp[k]));
        rg_tensor_free(seed);
    }
    rg_cmp c = rg_test_compare(y[1], y[0], 1e-5, 1e-5);
    cr_expect(c.pass, "%s: F32 output element %lld is %.9g, F64 %.9g", row->name,
              (long long)c.worst, c.got_v, c.want_v);
    for (int j = 0; j < row->n_in; j++) {
        if (row->in[j].dt == RG_I32) continue;
        for (int64_t i = 0; i < in[0][j]->numel; i++) {
            double g64 = rg_grad_get(in[0][j], i), g32 = rg_grad_get(in[1][j], i);
            if (fabs(g64 - g32) > 1e-5 + 1e-4 * fabs(g64)) {
                cr_expect_fail("%s: F32 gradient of input %d element %lld is %.9g, F64 %.9g",
                               row->name, j, (long long)i, g32, g64);
                break;
            }
        }
    }
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < row->n_in; j++) rg_tensor_free(in[k][j]);
        rg_tape_free(tp[k]);
    }
}

Test(ops_nn, float32_matches_float64) {
    for (int i = 0; i < rg_gradrows_shape_n; i++) run_f32_vs_f64(&rg_gradrows_shape[i]);
    for (int i = 0; i < rg_gradrows_nn_n; i++) run_f32_vs_f64(&rg_gradrows_nn[i]);
}
