/* Initialisation helpers with torch.nn.init's definitions (uniform, normal,
 * Xavier/Glorot, orthogonal, zeros, constant), one tensor at a time, in place. */
#include "rg_init.h"

#include <math.h>
#include <stdlib.h>

/* t can hold values: non-NULL, floating point */
static int check_tensor(const char *fn, const rg_tensor *t)
{
    if (!t || !t->data) {
        rg_set_error("%s: tensor is NULL", fn);
        return -1;
    }
    if (t->dtype != RG_F32 && t->dtype != RG_F64) {
        char b[64];
        rg_set_error("%s: tensor %s is %s; initialisers fill f32 or f64 tensors", fn,
                     rg_shape_str(t, b, sizeof b), rg_dtype_name(t->dtype));
        return -1;
    }
    return 0;
}

static void put(rg_tensor *t, int64_t i, double v)
{
    if (t->dtype == RG_F32)
        ((float *)t->data)[i] = (float)v;
    else
        ((double *)t->data)[i] = v;
}

static int fans(const char *fn, const rg_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (check_tensor(fn, t) != 0)
        return -1;
    if (t->rank < 2) {
        char b[64];
        rg_set_error("%s: fan in and fan out need a tensor of 2 or more dimensions, got %s",
                     fn, rg_shape_str(t, b, sizeof b));
        return -1;
    }
    int64_t r = 1;
    for (int d = 2; d < t->rank; d++)
        r *= t->shape[d];
    if (fan_in)
        *fan_in = t->shape[1] * r;
    if (fan_out)
        *fan_out = t->shape[0] * r;
    return 0;
}

int rg_init_fans(const rg_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    return fans("rg_init_fans", t, fan_in, fan_out);
}

static void fill_uniform(rg_tensor *t, double lo, double hi, rg_rng *rng)
{
    for (int64_t i = 0; i < t->numel; i++)
        put(t, i, lo + (hi - lo) * rg_rng_uniform(rng));
}

static void fill_normal(rg_tensor *t, double mean, double std, rg_rng *rng)
{
    for (int64_t i = 0; i < t->numel; i++)
        put(t, i, mean + std * rg_rng_normal(rng));
}

int rg_init_uniform(rg_tensor *t, double lo, double hi, rg_rng *rng)
{
    if (check_tensor("rg_init_uniform", t) != 0)
        return -1;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) {
        rg_set_error("rg_init_uniform: bounds [%g, %g] are not finite with lo <= hi", lo, hi);
        return -1;
    }
    if (rng)
        fill_uniform(t, lo, hi, rng);
    return 0;
}

int rg_init_normal(rg_tensor *t, double mean, double std, rg_rng *rng)
{
    if (check_tensor("rg_init_normal", t) != 0)
        return -1;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean)) {
        rg_set_error("rg_init_normal: mean %g and std %g must be finite, std >= 0", mean, std);
        return -1;
    }
    if (rng)
        fill_normal(t, mean, std, rng);
    return 0;
}

int rg_init_xavier_uniform(rg_tensor *t, double gain, rg_rng *rng)
{
    int64_t fi, fo;
    if (fans("rg_init_xavier_uniform", t, &fi, &fo) != 0)
        return -1;
    double a = gain * sqrt(6.0 / (double)(fi + fo));
    if (rng && fi + fo > 0)
        fill_uniform(t, -a, a, rng);
    return 0;
}

int rg_init_xavier_normal(rg_tensor *t, double gain, rg_rng *rng)
{
    int64_t fi, fo;
    if (fans("rg_init_xavier_normal", t, &fi, &fo) != 0)
        return -1;
    if (rng && fi + fo > 0)
        fill_normal(t, 0.0, gain * sqrt(2.0 / (double)(fi + fo)), rng);
    return 0;
}

/* Modified Gram-Schmidt, twice, on the n columns of a [m,n] (row-major, m >=
 * n): a becomes Q with orthonormal columns, the R of a = QR having a positive
 * diagonal.  -1 when a column is (numerically) dependent on the others. */
static int orthonormalize_columns(double *a, int64_t m, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        for (int pass = 0; pass < 2; pass++)
            for (int64_t k = 0; k < j; k++) {
                double dot = 0;
                for (int64_t i = 0; i < m; i++)
                    dot += a[i * n + k] * a[i * n + j];
                for (int64_t i = 0; i < m; i++)
                    a[i * n + j] -= dot * a[i * n + k];
            }
        double norm = 0;
        for (int64_t i = 0; i < m; i++)
            norm += a[i * n + j] * a[i * n + j];
        norm = sqrt(norm);
        if (!(norm > 1e-12))
            return -1;
        for (int64_t i = 0; i < m; i++)
            a[i * n + j] /= norm;
    }
    return 0;
}

int rg_init_orthogonal(rg_tensor *t, double gain, rg_rng *rng)
{
    if (fans("rg_init_orthogonal", t, NULL, NULL) != 0)
        return -1;
    if (!rng || t->numel == 0)
        return 0;
    int64_t rows = t->shape[0], cols = t->numel / rows;
    bool wide = rows < cols; /* orthonormal rows: work on the transpose */
    int64_t m = wide ? cols : rows, n = wide ? rows : cols;
    double *a = malloc((size_t)t->numel * sizeof *a);
    if (!a) {
        rg_set_error("rg_init_orthogonal: out of memory");
        return -1;
    }
    for (int64_t r = 0; r < rows; r++) /* the draw in t's order, stored as [m,n] */
        for (int64_t c = 0; c < cols; c++)
            a[wide ? c * n + r : r * n + c] = rg_rng_normal(rng);
    if (orthonormalize_columns(a, m, n) != 0) {
        char b[64];
        free(a);
        rg_set_error("rg_init_orthogonal: %s: a degenerate draw (dependent columns)",
                     rg_shape_str(t, b, sizeof b));
        return -1;
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            put(t, r * cols + c, gain * a[wide ? c * n + r : r * n + c]);
    free(a);
    return 0;
}

static int fill(const char *fn, rg_tensor *t, double value)
{
    if (check_tensor(fn, t) != 0)
        return -1;
    for (int64_t i = 0; i < t->numel; i++)
        put(t, i, value);
    return 0;
}

int rg_init_zeros(rg_tensor *t)
{
    return fill("rg_init_zeros", t, 0.0);
}

int rg_init_constant(rg_tensor *t, double value)
{
    return fill("rg_init_constant", t, value);
}
