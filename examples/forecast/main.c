/* forecast: time-series prediction on retrograd.
 *   forecast train    train on a series (default: the bundled weekly CO2)
 *   forecast eval     rolling-origin forecasts over the held-out last 10%
 *   forecast predict  the next values after the series (and a plot)
 * See the README. */
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

bool fc_session_open(fc_session *x, const char *prog, const char *usage, const rg_flag *own,
                     int n_own, int argc, char **argv, int *status)
{
    memset(x, 0, sizeof *x);
    const rg_flag common[] = {
        {"--model", RG_FLAG_STRING, &x->model, 0, 0, NULL, "checkpoint (required)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &x->cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    int n = n_own;
    if (n_own)
        memcpy(x->fl, own, (size_t)n_own * sizeof *own);
    memcpy(x->fl + n, common, sizeof common);
    n += 2;
    int data = n;
    n += fc_source_flags(&x->src, x->fl + n, 0);
    x->fl[data].help = "a bundled series instead of the model's: co2 | sunspots";
    x->fl[data + 1].help = "a CSV instead of the model's series (its --column: the model's "
                           "unless given)";
    int n_parse = n;
    x->n_flags = n + fc_model_flags(&x->mo, x->fl + n);
    if (!rg_flags_cli(prog, usage, x->fl, n_parse, argc, argv, 2, status))
        return false;
    if (!x->model) {
        fprintf(stderr, "%s: --model FILE is required\n%s\n", prog, usage);
        *status = 2;
        return false;
    }
    bool series = rg_flags_seen(x->fl, n_parse, "--series");
    bool csv = rg_flags_seen(x->fl, n_parse, "--csv");
    *status = 1;
    if ((x->cell_lib && rg_cell_plugin_load(x->cell_lib) != 0) ||
        fc_model_load(&x->m, &x->mo, x->fl + data, x->n_flags - data, x->model) != 0) {
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
        return false;
    }
    if (series && !csv) { /* a bundled series instead of the model's: its own columns, season */
        x->src.csv = x->src.column = x->src.date_column = NULL;
        if (!rg_flags_seen(x->fl, n_parse, "--season"))
            x->src.season = 0;
    }
    if (fc_source_resolve(&x->src, series && csv) != 0 || fc_series_read(&x->s, &x->src) != 0) {
        fprintf(stderr, "%s: %s\n", prog, rg_last_error());
        return false;
    }
    return true;
}

void fc_session_close(fc_session *x)
{
    fc_model_free(&x->m);
    fc_series_free(&x->s);
    free(x->src.owned);
    rg_flags_free(x->fl, x->n_flags);
}

int main(int argc, char **argv)
{
    static const rg_command cmds[] = {
        {"train", "train a model on a series (bundled co2 or sunspots, or a CSV)", forecast_train_main},
        {"eval", "rolling-origin forecasts over the held-out last 10%: MAE, RMSE, MASE", forecast_eval_main},
        {"predict", "the next values after the series, with intervals and a plot", forecast_predict_main},
        {NULL, NULL, NULL}};
    return rg_main_commands("forecast", cmds, argc, argv);
}
