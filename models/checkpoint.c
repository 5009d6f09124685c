/* Checkpoints of a parameter registry: every tensor of an rg_params saved
 * under its name in a safetensors file, and loaded back strictly (same names,
 * same shapes, the model changed only once the whole file was validated). */
#include "rg_checkpoint.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void ck_error(const char *fn, const char *file, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rg_set_error("%s: %s: %s", fn, file ? file : "<memory>", msg);
}

static char *ck_shape_str(const rg_tensor *t, char *buf, size_t n)
{
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int k = 0; k < t->rank && used < n; k++)
        used += (size_t)snprintf(buf + used, n - used, k ? ",%" PRId64 : "%" PRId64, t->shape[k]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

static bool ck_same_shape(const rg_tensor *a, const rg_tensor *b)
{
    if (a->rank != b->rank)
        return false;
    for (int k = 0; k < a->rank; k++)
        if (a->shape[k] != b->shape[k])
            return false;
    return true;
}

rg_safetensors *rg_checkpoint_from_params(const rg_params *P, const char *const *meta)
{
    if (!P) {
        rg_set_error("rg_checkpoint_from_params: NULL parameters");
        return NULL;
    }
    rg_safetensors *st = rg_safetensors_new();
    if (!st)
        return NULL;
    int n = rg_params_count(P);
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        const rg_tensor *t = rg_params_at(P, i, &name);
        if (!t || !name || rg_safetensors_add(st, name, t) != 0) {
            if (!t || !name)
                rg_set_error("rg_checkpoint_from_params: parameter %d has no tensor or name", i);
            rg_safetensors_free(st);
            return NULL;
        }
    }
    for (int i = 0; meta && meta[i]; i += 2) {
        if (!meta[i + 1]) {
            rg_set_error("rg_checkpoint_from_params: metadata key '%.80s' has no value",
                         meta[i]);
            rg_safetensors_free(st);
            return NULL;
        }
        if (rg_safetensors_set_meta(st, meta[i], meta[i + 1]) != 0) {
            rg_safetensors_free(st);
            return NULL;
        }
    }
    return st;
}

int rg_checkpoint_save_params_as(const rg_params *P, const char *path,
                                 const char *const *meta, rg_dtype file_dtype)
{
    rg_safetensors *st = rg_checkpoint_from_params(P, meta);
    if (!st)
        return -1;
    int rc = rg_safetensors_write(st, path, file_dtype);
    rg_safetensors_free(st);
    return rc;
}

int rg_checkpoint_save_params(const rg_params *P, const char *path, const char *const *meta)
{
    return rg_checkpoint_save_params_as(P, path, meta, RG_F32);
}

/* Converts n values between the float dtypes. */
static void ck_copy_values(rg_tensor *dst, const rg_tensor *src)
{
    int64_t n = dst->numel;
    if (dst->dtype == src->dtype) {
        if (n > 0)
            memcpy(dst->data, src->data, (size_t)n * rg_dtype_size(dst->dtype));
    } else if (dst->dtype == RG_F32) {
        const double *s = src->data;
        float *d = dst->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = (float)s[i];
    } else {
        const float *s = src->data;
        double *d = dst->data;
        for (int64_t i = 0; i < n; i++)
            d[i] = (double)s[i];
    }
}

/* -1 (message set) when a value of t would not load into p as a finite number:
 * NaN or Inf in the file, or a float64 beyond float32's range for an F32 p. */
static int ck_check_values(const char *fn, const char *file, const char *name,
                           const rg_tensor *p, const rg_tensor *t)
{
    int64_t k = rg_tensor_find_nonfinite(t);
    if (k >= 0) {
        double v = rg_get(t, k);
        ck_error(fn, file, "tensor '%.80s' holds %s at element %" PRId64, name,
                 isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf", k);
        return -1;
    }
    if (p->dtype == RG_F32 && t->dtype == RG_F64) {
        const double *d = t->data;
        for (k = 0; k < t->numel; k++)
            if (fabs(d[k]) > FLT_MAX) {
                ck_error(fn, file, "tensor '%.80s' holds %g at element %" PRId64
                         ", beyond float32's range (the parameter is F32)", name, d[k], k);
                return -1;
            }
    }
    return 0;
}

/* rg_checkpoint_load_params_from on behalf of fn (named in messages). */
static int ck_load_from(const char *fn, rg_params *P, const rg_safetensors *st, const char *file,
                        bool strict)
{
    char sa[128], sb[128];
    if (!P || !st) {
        ck_error(fn, file, "NULL parameters or container");
        return -1;
    }
    int n = rg_params_count(P);
    /* Validate everything before the first value is copied. */
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        const rg_tensor *p = rg_params_at(P, i, &name);
        if (!p || !name) {
            ck_error(fn, file, "parameter %d has no tensor or name", i);
            return -1;
        }
        if (p->dtype != RG_F32 && p->dtype != RG_F64) {
            ck_error(fn, file, "parameter '%.80s' has dtype %s, only F32 and F64 load", name,
                     rg_dtype_name(p->dtype));
            return -1;
        }
        const rg_tensor *t = rg_safetensors_get(st, name);
        if (!t) {
            ck_error(fn, file, "missing tensor '%.80s' (the model expects %s)", name,
                     ck_shape_str(p, sa, sizeof sa));
            return -1;
        }
        if (!ck_same_shape(p, t)) {
            ck_error(fn, file, "tensor '%.80s' has shape %s in the file, the model expects %s",
                     name, ck_shape_str(t, sa, sizeof sa), ck_shape_str(p, sb, sizeof sb));
            return -1;
        }
        if (t->numel > 0 && !t->data) {
            ck_error(fn, file, "tensor '%.80s' has no values (header-only read)", name);
            return -1;
        }
        if (p->numel > 0 && !p->data) {
            ck_error(fn, file, "parameter '%.80s' has no storage", name);
            return -1;
        }
        if (ck_check_values(fn, file, name, p, t) != 0)
            return -1;
    }
    if (strict) {
        int m = rg_safetensors_count(st);
        for (int i = 0; i < m; i++) {
            const char *name = NULL;
            const rg_tensor *t = rg_safetensors_at(st, i, &name);
            if (!rg_params_get(P, name)) {
                ck_error(fn, file, "unexpected tensor '%.80s' %s (not in the model)", name,
                         ck_shape_str(t, sa, sizeof sa));
                return -1;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        rg_tensor *p = rg_params_at(P, i, &name);
        ck_copy_values(p, rg_safetensors_get(st, name));
    }
    return 0;
}

int rg_checkpoint_load_params_from(rg_params *P, const rg_safetensors *st, const char *file,
                                   bool strict)
{
    return ck_load_from("rg_checkpoint_load_params_from", P, st, file, strict);
}

int rg_checkpoint_load_params(rg_params *P, const char *path)
{
    if (!P) {
        ck_error("rg_checkpoint_load_params", path, "NULL parameters");
        return -1;
    }
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    int rc = ck_load_from("rg_checkpoint_load_params", P, st, path, true);
    rg_safetensors_free(st);
    return rc;
}
