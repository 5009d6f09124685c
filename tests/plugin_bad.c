/* Broken cell plugins for the 'plugins' suite's error paths: built as
 * plugin_noentry.so (no rg_plugin_register) and plugin_fails.so (its entry
 * point fails with a message after registering one cell). */
#include "retrograd.h"

#ifdef PLUGIN_FAILS
static int half_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                     rg_rng *rng)
{
    return rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(c->H, c->H), rng) ? 0 : -1;
}

static int half_step(rg_tape *tp, const rg_cell *c, rg_tensor *x, rg_tensor *const *in,
                     rg_tensor **out)
{
    out[0] = rg_tanh(tp, rg_linear(tp, in[0], c->weight_hh, NULL));
    return out[0] ? 0 : -1;
}

static const rg_cell_type half = {.name = "half_registered", .n_state = 1, .init = half_init,
                                  .step = half_step};

int rg_plugin_register(void);

int rg_plugin_register(void)
{
    if (rg_cell_type_register(&half) != 0)
        return -1;
    rg_set_error("this plugin needs a newer retrograd");
    return -1;
}
#else
int rg_plugin_something_else(void);

int rg_plugin_something_else(void)
{
    return 0;
}
#endif
