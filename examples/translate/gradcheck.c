/* translate gradcheck: the whole attention model (embedding, bidirectional
 * encoder over a padded batch, bridge, attention, decoder steps, head, summed
 * cross-entropy of teacher forcing) in float64 with random weights, on two
 * generated pairs of different lengths; every parameter tensor's gradient
 * against central finite differences (rg_gradcheck). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "translate.h"

static const char *usage_line =
    "usage: translate gradcheck [--cell C] [--cell-lib FILE.so] [--attention-kind additive|dot]\n"
    "                           [--layers N] [--hidden N] [--embed N] [--seed S]";

typedef struct gc_ctx {
    const tr_model *m;
    int32_t src[2 * TR_MAX_SRC], len[2], tgt[2 * TR_TGT];
} gc_ctx;

/* the loss of the two pairs; the parameters are read through the model */
static rg_tensor *loss_fn(rg_tape *tp, rg_tensor *const *inputs, int n, void *user)
{
    (void)inputs;
    (void)n;
    gc_ctx *g = user;
    return tr_forward_loss(tp, g->m, tr_source_ids(tp, g->src, g->len, 2), g->len,
                           tr_target_ids(tp, g->tgt, 2), NULL);
}

/* two training pairs of different lengths (the shorter one padded) */
static int pick_pairs(gc_ctx *g, uint64_t seed)
{
    tr_data D;
    if (tr_data_make(&D, TR_TRAIN, 64, seed) != 0)
        return -1;
    int64_t j = 1;
    while (j < D.n && D.len[j] == D.len[0])
        j++;
    int64_t pick[2] = {0, j < D.n ? j : 1};
    for (int k = 0; k < 2; k++) {
        memcpy(g->src + k * TR_MAX_SRC, D.src + pick[k] * TR_MAX_SRC, sizeof(int32_t) * TR_MAX_SRC);
        memcpy(g->tgt + k * TR_TGT, D.tgt + pick[k] * TR_TGT, sizeof(int32_t) * TR_TGT);
        g->len[k] = D.len[pick[k]];
    }
    tr_data_free(&D);
    return 0;
}

/* every parameter: a line each; 0, or -1 when a check could not run */
static int check_all(const tr_model *m, gc_ctx *g, bool *pass)
{
    rg_gradcheck_opts o;
    rg_gradcheck_defaults(&o);
    printf("%-22s %-10s %12s %12s\n", "parameter", "shape", "max_abs_err", "max_rel_err");
    for (int i = 0; i < rg_params_count(m->P); i++) {
        const char *name;
        rg_tensor *p = rg_params_at(m->P, i, &name);
        rg_gradcheck_result res;
        if (rg_gradcheck(loss_fn, 1, &p, g, &o, &res) != 0) {
            rg_set_error("%s: %s", name, rg_last_error());
            return -1;
        }
        char shape[64];
        printf("%-22s %-10s %12.3e %12.3e%s\n", name, rg_shape_str(p, shape, sizeof shape),
               res.max_abs_err, res.max_rel_err, res.pass ? "" : "  FAIL");
        *pass = *pass && res.pass;
    }
    return 0;
}

int tr_gradcheck_main(int argc, char **argv)
{
    const char *cell = "gru", *cell_lib = NULL, *att = "additive";
    int64_t layers = 1, hidden = 3, embed = 2, seed = 1;
    rg_flag fl[] = {
        {"--cell", RG_FLAG_STRING, &cell, 0, 0, NULL, "the cell (default gru)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &cell_lib, 0, 0, NULL, "a cell plugin to load first", 0, 0, 0},
        {"--attention-kind", RG_FLAG_CHOICE, &att, 0, 0, "additive|dot", "additive | dot (default additive)", 0, 0, 0},
        {"--layers", RG_FLAG_INT, &layers, 1, TR_MAX_LAYERS, NULL, "layers (default 1)", 0, 0, 0},
        {"--hidden", RG_FLAG_INT, &hidden, 1, 64, NULL, "hidden size (default 3)", 0, 0, 0},
        {"--embed", RG_FLAG_INT, &embed, 1, 64, NULL, "embedding size (default 2)", 0, 0, 0},
        {"--seed", RG_FLAG_INT, &seed, 0, 9.2e18, NULL, "weights and pairs (default 1)", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("translate gradcheck", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    tr_model m = {0};
    gc_ctx g = {.m = &m};
    rg_rng rng;
    rg_rng_seed(&rng, (uint64_t)seed);
    bool pass = true;
    if ((cell_lib && rg_cell_plugin_load(cell_lib) != 0) || pick_pairs(&g, (uint64_t)seed) != 0 ||
        tr_model_init(&m, tr_cell_find(cell), embed, hidden, (int)layers,
                      strcmp(att, "dot") ? TR_ATT_ADDITIVE : TR_ATT_DOT, RG_F64, &rng) != 0 ||
        check_all(&m, &g, &pass) != 0) {
        fprintf(stderr, "translate gradcheck: %s\n", rg_last_error());
        tr_model_free(&m);
        return 1;
    }
    printf("gradcheck: %s %dx%lld, %s attention, sources of %d and %d bytes: %s\n",
           m.cell->name, m.L, (long long)m.H, tr_att_name(m.att), g.len[0], g.len[1],
           pass ? "pass" : "FAIL");
    tr_model_free(&m);
    return pass ? 0 : 1;
}
