/* libFuzzer target for the safetensors reader (built and run by .ci/fuzz.sh).
 * Any input must be refused with a message that names the source, or accepted;
 * an accepted container must survive a write and a read back unchanged (names,
 * shapes, metadata, values bit for bit in F64), and a strict load into a small
 * parameter registry must either succeed or fail cleanly. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retrograd.h"

#define FZ_CHECK(c)                                                                   \
    do {                                                                              \
        if (!(c)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #c, \
                    rg_last_error());                                                 \
            abort();                                                                  \
        }                                                                             \
    } while (0)

static char fz_dir[64];
static rg_params *fz_params;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_cleanup(void)
{
    rmdir(fz_dir);
    rg_params_free(fz_params);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    strcpy(fz_dir, "/tmp/rg_fuzz_XXXXXX");
    FZ_CHECK(mkdtemp(fz_dir) != NULL);
    atexit(fz_cleanup);
    /* Names that the seeds and the dictionary use. */
    fz_params = rg_params_new();
    FZ_CHECK(rg_params_add(fz_params, "a", RG_F32, RG_DIMS(2)) != NULL);
    FZ_CHECK(rg_params_add(fz_params, "b", RG_F64, RG_DIMS(1, 2)) != NULL);
    return 0;
}

static double fz_value(const rg_tensor *t, int64_t i)
{
    return t->dtype == RG_F32 ? (double)((const float *)t->data)[i]
                              : ((const double *)t->data)[i];
}

static void fz_roundtrip(const rg_safetensors *st)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rt.safetensors", fz_dir);
    FZ_CHECK(rg_safetensors_write(st, path, RG_F64) == 0);
    rg_safetensors *back = rg_safetensors_read(path);
    FZ_CHECK(back != NULL);
    FZ_CHECK(rg_safetensors_count(back) == rg_safetensors_count(st));
    FZ_CHECK(rg_safetensors_meta_count(back) == rg_safetensors_meta_count(st));
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *na, *nb;
        const rg_tensor *a = rg_safetensors_at(st, i, &na);
        const rg_tensor *b = rg_safetensors_at(back, i, &nb);
        FZ_CHECK(strcmp(na, nb) == 0);
        FZ_CHECK(a->rank == b->rank && a->numel == b->numel);
        for (int k = 0; k < a->rank; k++)
            FZ_CHECK(a->shape[k] == b->shape[k]);
        for (int64_t j = 0; j < a->numel; j++) {
            double x = fz_value(a, j), y = fz_value(b, j);
            FZ_CHECK(x == y || (x != x && y != y));
        }
    }
    for (int i = 0; i < rg_safetensors_meta_count(st); i++) {
        const char *ka, *kb;
        const char *va = rg_safetensors_meta_at(st, i, &ka);
        const char *vb = rg_safetensors_meta_at(back, i, &kb);
        FZ_CHECK(strcmp(ka, kb) == 0 && strcmp(va, vb) == 0);
    }
    rg_safetensors_free(back);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_clear_error();
    rg_safetensors *st = rg_safetensors_read_mem(data, size, "fuzz-input");
    if (!st) {
        FZ_CHECK(strstr(rg_last_error(), "fuzz-input") != NULL);
        return 0;
    }
    /* Touch every value so the sanitizer sees every tensor's whole range. */
    volatile double sink = 0;
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, i, &name);
        FZ_CHECK(t && name && rg_safetensors_get(st, name) == t);
        for (int64_t j = 0; j < t->numel; j++)
            sink += fz_value(t, j);
    }
    for (int i = 0; i < rg_safetensors_meta_count(st); i++) {
        const char *key;
        const char *v = rg_safetensors_meta_at(st, i, &key);
        FZ_CHECK(v && key && rg_safetensors_get_meta(st, key) == v);
    }
    (void)sink;
    if (rg_checkpoint_load_params_from(fz_params, st, "fuzz-input", true) != 0)
        FZ_CHECK(strstr(rg_last_error(), "fuzz-input") != NULL);
    fz_roundtrip(st);
    rg_safetensors_free(st);
    return 0;
}
