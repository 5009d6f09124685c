/* forecast's model: a window of the series -> a recurrent stack -> its last
 * step -> a linear head with horizon x Q outputs (every step of the horizon
 * at once, "direct" multi-step), trained with MSE or the pinball loss of Q
 * quantiles; and its checkpoint.  Built only from <retrograd.h>. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast.h"

#define FORMAT "retrograd forecast 1"

int fc_model_flags(fc_model_opts *o, rg_flag *fl)
{
    const rg_flag own[] = {
        {"--cell", RG_FLAG_STRING, &o->cell, 0, 0, NULL, "lstm | gru | rnn_tanh | rnn_relu | a plugin's cell (default lstm)", RG_FLAG_MODEL, 0, 0},
        {"--layers", RG_FLAG_INT, &o->layers, 1, 16, NULL, "recurrent layers (default 1)", RG_FLAG_MODEL, 0, 0},
        {"--hidden", RG_FLAG_INT, &o->hidden, 1, 4096, NULL, "hidden size (default 32)", RG_FLAG_MODEL, 0, 0},
        {"--lookback", RG_FLAG_INT, &o->lookback, 1, 100000, NULL, "values the model reads before a forecast (default: two seasons, at least 8)", RG_FLAG_MODEL, 0, 0},
        {"--horizon", RG_FLAG_INT, &o->horizon, 1, 100000, NULL, "values forecast at once (default: one season, at least 1)", RG_FLAG_MODEL, 0, 0},
        {"--quantiles", RG_FLAG_STRING, &o->quantiles, 0, 0, NULL, "e.g. 0.1,0.5,0.9: pinball loss and intervals (default: none, MSE)", RG_FLAG_MODEL, 0, 0},
        {"--calendar", RG_FLAG_BOOL, &o->calendar, 0, 0, NULL, "sin/cos of the calendar phase (day of the year, else position in the season) as inputs", RG_FLAG_MODEL, 0, 0},
    };
    memcpy(fl, own, sizeof own);
    return (int)(sizeof own / sizeof own[0]);
}

/* "0.1,0.5,0.9": up to FC_MAX_Q increasing numbers in (0, 1); NULL: MSE */
static int parse_quantiles(fc_model *m, const char *s)
{
    m->Q = 1;
    m->q[0] = 0.5;
    m->pinball = s != NULL;
    for (int n = 0; s && *s; n++) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v > 0 && v < 1) || (n > 0 && v <= m->q[n - 1]) || n == FC_MAX_Q ||
            (*end && (*end != ',' || !end[1]))) {
            rg_set_error("--quantiles: expected up to %d increasing numbers in (0, 1) separated "
                         "by commas, at '%.40s'", FC_MAX_Q, s);
            return -1;
        }
        m->q[n] = v;
        m->Q = n + 1;
        s = *end ? end + 1 : end;
    }
    return 0;
}

static const rg_cell_type *find_cell(const char *name)
{
    const rg_cell_type *cell = name ? rg_cell_type_find(name) : NULL;
    if (!cell) {
        char known[512];
        rg_set_error("--cell '%s' is not one of %s (a plugin's cell needs --cell-lib FILE.so)",
                     name ? name : "", rg_cell_type_names(known, sizeof known, ", "));
    }
    return cell;
}

int fc_model_init(fc_model *m, const fc_model_opts *o, rg_rng *rng)
{
    memset(m, 0, sizeof *m);
    if (!(m->cell = find_cell(o->cell)) || parse_quantiles(m, o->quantiles) != 0)
        return -1;
    m->calendar = o->calendar;
    m->I = o->calendar ? 3 : 1;
    m->H = o->hidden;
    m->L = o->layers;
    m->lookback = o->lookback;
    m->horizon = o->horizon;
    rg_seq_config sc = {.cell = m->cell, .input_size = m->I, .hidden_size = m->H,
                        .num_layers = (int)m->L, .dtype = RG_F32};
    /* PyTorch's construction order, which is also its initialisation order */
    if (!(m->P = rg_params_new()) || !(m->rnn = rg_seq_new(m->P, "rnn", &sc, rng)) ||
        rg_linear_layer_init(&m->head, m->P, "head", m->H, m->horizon * m->Q, true, RG_F32,
                             rng) != 0) {
        fc_model_free(m);
        return -1;
    }
    return 0;
}

void fc_model_free(fc_model *m)
{
    rg_seq_free(m->rnn);
    rg_params_free(m->P);
    m->rnn = NULL;
    m->P = NULL;
}

rg_tensor *fc_forward(rg_tape *tp, const fc_model *m, rg_tensor *x)
{
    if (!x)
        return NULL;
    int64_t T = x->shape[0], B = x->shape[1];
    rg_tensor *h = rg_seq_forward_ex(tp, m->rnn, x, NULL);                   /* [T,B,H] */
    rg_tensor *last = rg_reshape(tp, rg_slice(tp, h, 0, T - 1, 1), RG_DIMS(B, m->H));
    return rg_linear_layer_forward(tp, &m->head, last);                      /* [B,horizon*Q] */
}

rg_tensor *fc_loss(rg_tape *tp, const fc_model *m, rg_tensor *pred, rg_tensor *target,
                   double scale)
{
    if (!m->pinball)
        return rg_mul_scalar(tp, rg_mse(tp, pred, target, RG_SUM), scale);
    /* pinball: q*relu(e) + (1-q)*relu(-e), e = target - pred, q per column */
    int64_t HQ = m->horizon * m->Q;
    rg_tensor *q = rg_tensor_new(tp, RG_F32, RG_DIMS(HQ));
    rg_tensor *q1 = rg_tensor_new(tp, RG_F32, RG_DIMS(HQ));
    for (int64_t j = 0; q && q1 && j < HQ; j++) {
        rg_set(q, j, m->q[j % m->Q]);
        rg_set(q1, j, 1 - m->q[j % m->Q]);
    }
    rg_tensor *e = rg_sub(tp, target, pred);
    rg_tensor *l = rg_add(tp, rg_mul(tp, rg_relu(tp, e), q),
                          rg_mul(tp, rg_relu(tp, rg_neg(tp, e)), q1));
    return rg_mul_scalar(tp, rg_sum(tp, l), scale);
}

int fc_median_index(const fc_model *m)
{
    int best = 0;
    for (int k = 1; k < m->Q; k++)
        if (fabs(m->q[k] - 0.5) < fabs(m->q[best] - 0.5))
            best = k;
    return best;
}

/* ---- the checkpoint ---------------------------------------------------------------- */

/* the shortest "%.Ng" that reads back as v */
static void format_double(char *buf, size_t n, double v)
{
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, n, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int set_meta_int(rg_safetensors *st, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return rg_safetensors_set_meta(st, key, buf);
}

/* the model's settings as its flags would save them, mean and std */
static int model_meta(const fc_model *m, rg_safetensors *st)
{
    char q[FC_MAX_Q * 26] = "", buf[32];
    for (int k = 0; m->pinball && k < m->Q; k++) {
        format_double(buf, sizeof buf, m->q[k]);
        snprintf(q + strlen(q), sizeof q - strlen(q), "%s%s", k ? "," : "", buf);
    }
    int rc = rg_safetensors_set_meta(st, "format", FORMAT);
    rc = rc ? rc : rg_safetensors_set_meta(st, "cell", m->cell->name);
    rc = rc ? rc : set_meta_int(st, "layers", m->L);
    rc = rc ? rc : set_meta_int(st, "hidden", m->H);
    rc = rc ? rc : set_meta_int(st, "lookback", m->lookback);
    rc = rc ? rc : set_meta_int(st, "horizon", m->horizon);
    rc = rc ? rc : rg_safetensors_set_meta(st, "quantiles", q);
    rc = rc ? rc : rg_safetensors_set_meta(st, "calendar", m->calendar ? "1" : "0");
    format_double(buf, sizeof buf, m->mean);
    rc = rc ? rc : rg_safetensors_set_meta(st, "mean", buf);
    format_double(buf, sizeof buf, m->std);
    return rc ? rc : rg_safetensors_set_meta(st, "std", buf);
}

rg_safetensors *fc_model_container(const fc_model *m, rg_flag *fl, int n)
{
    rg_safetensors *st = rg_checkpoint_from_params(m->P, NULL);
    int rc = st ? model_meta(m, st) : -1;
    for (int i = 0; i < n && rc == 0; i++) {
        char *v = rg_flag_format(&fl[i]);
        rc = v ? rg_safetensors_set_meta(st, fl[i].name + 2, v) : -1;
        free(v);
    }
    if (rc != 0) {
        rg_safetensors_free(st);
        return NULL;
    }
    return st;
}

/* the settings of the checkpoint into fl (a flag given on the command line
 * wins, except a model's), each through rg_flag_set; then mean and std */
static int read_settings(const rg_safetensors *st, const char *path, rg_flag *fl, int n,
                         fc_model *m)
{
    const char *fmt = rg_safetensors_get_meta(st, "format");
    if (!fmt || strcmp(fmt, FORMAT)) {
        rg_set_error("%s: not a forecast checkpoint (metadata 'format' is '%.40s', expected "
                     "'%s')", path, fmt ? fmt : "(missing)", FORMAT);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (fl[i].seen && !(fl[i].attr & RG_FLAG_MODEL))
            continue;
        const char *v = rg_safetensors_get_meta(st, fl[i].name + 2);
        if (!v) {
            rg_set_error("%s: metadata '%s' is missing", path, fl[i].name + 2);
            return -1;
        }
        if (rg_flag_set(&fl[i], v, path) != 0)
            return -1;
    }
    rg_flag stats[2] = {{.name = "mean", .kind = RG_FLAG_DOUBLE, .dest = &m->mean,
                         .min = -1e300, .max = 1e300},
                        {.name = "std", .kind = RG_FLAG_DOUBLE, .dest = &m->std, .min = 1e-300,
                         .max = 1e300}};
    for (int i = 0; i < 2; i++) {
        const char *v = rg_safetensors_get_meta(st, stats[i].name);
        if (!v) {
            rg_set_error("%s: metadata '%s' is missing", path, stats[i].name);
            return -1;
        }
        if (rg_flag_set(&stats[i], v, path) != 0)
            return -1;
    }
    return 0;
}

int fc_model_load(fc_model *m, fc_model_opts *o, rg_flag *fl, int n, const char *path)
{
    memset(m, 0, sizeof *m);
    rg_safetensors *st = rg_safetensors_read(path);
    if (!st)
        return -1;
    double mean, std;
    int rc = read_settings(st, path, fl, n, m);
    mean = m->mean;
    std = m->std;
    if (rc == 0 && fc_model_init(m, o, NULL) != 0) {
        /* an unknown cell: the plugin the run that saved it loaded, if any (never
         * loaded from the file's word: opening a model runs no code it names) */
        const char *lib = rg_safetensors_get_meta(st, "cell-lib");
        bool hint = lib && *lib && !rg_cell_type_find(o->cell);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s: %s%s%.300s%s", path, rg_last_error(),
                 hint ? "; the run that saved it loaded the plugin " : "", hint ? lib : "",
                 hint ? ": give it with --cell-lib" : "");
        rg_set_error("%s", msg);
        rc = -1;
    }
    if (rc == 0) {
        m->mean = mean;
        m->std = std;
        if ((rc = rg_checkpoint_load_params_from(m->P, st, path, true)) != 0)
            fc_model_free(m);
    }
    rg_safetensors_free(st);
    return rc;
}
