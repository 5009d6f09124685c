/* User cells as first-class as the built-ins: parameters found by role (the
 * regression of issue 9: a cell {weight_ih, bias_ih} kept its bias only by
 * position), layouts checked with messages naming the cell, the cell registry,
 * the initialisation helpers (statistics, orthogonality) and the picture of a
 * tape (rg_tape_dot; the SVG through Graphviz when it is installed). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- a user cell with the layout {weight_ih, bias_ih} --------------------------
 * h' = tanh(x W_ih^T + b_ih + h): its whole input side is the standard
 * projection, and it has no weight_hh / bias_hh. */

static int proj_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                     rg_rng *rng)
{
    if (!rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(c->H, c->I), rng) ||
        !rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(c->H), rng))
        return -1;
    return 0;
}

/* the same parameters added in the other order: roles, not positions */
static int proj_init_reversed(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                              rg_rng *rng)
{
    if (!rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(c->H), rng) ||
        !rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(c->H, c->I), rng))
        return -1;
    return 0;
}

static int proj_step(rg_tape *tp, const rg_cell *c, rg_tensor *xp, rg_tensor *const *in,
                     rg_tensor **out)
{
    out[0] = rg_tanh(tp, rg_add(tp, xp, in[0]));
    return out[0] ? 0 : -1;
}

static const rg_cell_type proj_cell = {.name = "proj_tanh", .n_state = 1, .gates = 1,
                                       .init = proj_init, .project = rg_cell_project_standard,
                                       .step = proj_step};
static const rg_cell_type proj_cell_reversed = {
    .name = "proj_tanh_reversed", .n_state = 1, .gates = 1, .init = proj_init_reversed,
    .project = rg_cell_project_standard, .step = proj_step};

enum { T = 3, B = 2, I = 3, H = 2, V = 4 };

static double w_ih(int j, int i) { return 0.1 * (j + 1) - 0.05 * i; }
static double b_ih(int j) { return 0.3 - 0.2 * j; }
static double x_val(int t, int b, int i) { return sin(7.0 * t + 3.0 * b + i); }

/* the same recurrence by hand, in doubles: want[t][b][j] */
static void by_hand(double want[T][B][H], double x[T][B][I])
{
    double h[B][H] = {{0}};
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                double a = b_ih(j) + h[b][j];
                for (int i = 0; i < I; i++)
                    a += x[t][b][i] * w_ih(j, i);
                want[t][b][j] = h[b][j] = tanh(a);
            }
}

static rg_seq *proj_seq(const rg_cell_type *type, rg_params *P)
{
    rg_seq_config cfg = {.cell = type, .input_size = I, .hidden_size = H, .num_layers = 1,
                         .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, NULL);
    cr_assert_not_null(s, "%s", rg_last_error());
    const rg_cell *c = &s->cells[0];
    cr_assert_not_null(c->weight_ih);
    cr_assert_not_null(c->bias_ih);
    cr_assert_null(c->weight_hh);
    cr_assert_null(c->bias_hh);
    cr_assert_eq(c->weight_ih, rg_params_get(P, "rnn.weight_ih_l0"));
    cr_assert_eq(c->bias_ih, rg_cell_get(c, "bias_ih"));
    for (int j = 0; j < H; j++) {
        rg_set(c->bias_ih, j, b_ih(j));
        for (int i = 0; i < I; i++)
            rg_set(c->weight_ih, j * I + i, w_ih(j, i));
    }
    return s;
}

static void check_bias_used(const rg_cell_type *type)
{
    double x[T][B][I], want[T][B][H];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < I; i++)
                x[t][b][i] = x_val(t, b, i);
    by_hand(want, x);
    rg_params *P = rg_params_new();
    rg_seq *s = proj_seq(type, P);
    rg_tape *tp = rg_tape_new();
    rg_tensor *xt = rg_from_data(tp, RG_F64, RG_DIMS(T, B, I), x);
    rg_tensor *out = rg_seq_forward(tp, s, xt, NULL, NULL, NULL, NULL);
    cr_assert_not_null(out, "%s", rg_last_error());
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                cr_assert(fabs(rg_get(out, (t * B + b) * H + j) - want[t][b][j]) < 1e-13,
                          "%s: out[%d,%d,%d] = %.15g, by hand %.15g", type->name, t, b, j,
                          rg_get(out, (t * B + b) * H + j), want[t][b][j]);
    /* the bias gets its gradient */
    cr_assert_eq(rg_backward(tp, rg_sum(tp, out)), 0, "%s", rg_last_error());
    cr_assert_not_null(s->cells[0].bias_ih->grad);
    cr_assert(fabs(rg_grad_get(s->cells[0].bias_ih, 0)) > 1e-3);

    /* through an embedding table (rg_seq_forward_ids maps it with W_ih and b_ih) */
    double emb[V][I];
    int32_t ids[T][B];
    for (int v = 0; v < V; v++)
        for (int i = 0; i < I; i++)
            emb[v][i] = cos(1.0 + v * 2.0 + i);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            ids[t][b] = (t + 2 * b) % V;
            for (int i = 0; i < I; i++)
                x[t][b][i] = emb[ids[t][b]][i];
        }
    by_hand(want, x);
    rg_tape_reset(tp);
    rg_tensor *E = rg_from_data(tp, RG_F64, RG_DIMS(V, I), emb);
    rg_tensor *it = rg_from_data(tp, RG_I32, RG_DIMS(T, B), ids);
    out = rg_seq_forward_ids(tp, s, E, it, NULL, NULL, NULL, NULL);
    cr_assert_not_null(out, "%s", rg_last_error());
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
                cr_assert(fabs(rg_get(out, (t * B + b) * H + j) - want[t][b][j]) < 1e-13,
                          "%s (ids): out[%d,%d,%d] = %.15g, by hand %.15g", type->name, t, b,
                          j, rg_get(out, (t * B + b) * H + j), want[t][b][j]);
    rg_tape_free(tp);
    rg_seq_free(s);
    rg_params_free(P);
}

Test(cells, a_cell_weight_ih_bias_ih_uses_its_bias)
{
    check_bias_used(&proj_cell);
}

Test(cells, parameters_are_found_by_role_not_position)
{
    check_bias_used(&proj_cell_reversed);
}

Test(cells, builtin_cells_declare_gates_and_roles)
{
    const rg_cell_type *t[] = {&rg_cell_rnn_tanh, &rg_cell_rnn_relu, &rg_cell_gru, &rg_cell_lstm,
                               &rg_cell_gru_composed, &rg_cell_lstm_composed};
    const int G[] = {1, 1, 3, 4, 3, 4};
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(t[k]->gates, G[k], "%s", t[k]->name);
        rg_params *P = rg_params_new();
        rg_cell c;
        cr_assert_eq(rg_cell_init(&c, t[k], P, "cell", "", 3, 2, RG_F64, NULL), 0);
        cr_assert_eq(c.weight_ih, rg_params_get(P, "cell.weight_ih"));
        cr_assert_eq(c.weight_hh, rg_params_get(P, "cell.weight_hh"));
        cr_assert_eq(c.bias_ih, rg_params_get(P, "cell.bias_ih"));
        cr_assert_eq(c.bias_hh, rg_params_get(P, "cell.bias_hh"));
        cr_assert_str_eq(c.role[2], "bias_ih");
        cr_assert_null(rg_cell_get(&c, "weight_ci"));
        rg_params_free(P);
    }
}

/* ---- layouts that do not fit fail, naming the cell ------------------------------ */

static int hh_only_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                        rg_rng *rng)
{
    return rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(c->H, c->H), rng) ? 0 : -1;
}

static int wide_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                     rg_rng *rng)
{
    return proj_init(c, P, prefix, suffix, rng) == 0 &&
                   rg_cell_param(c, P, prefix, "weight_hh", suffix, RG_DIMS(3 * c->H, c->H), rng)
               ? 0
               : -1;
}

static int bad_bias_init(rg_cell *c, rg_params *P, const char *prefix, const char *suffix,
                         rg_rng *rng)
{
    if (!rg_cell_param(c, P, prefix, "weight_ih", suffix, RG_DIMS(c->H, c->I), rng) ||
        !rg_cell_param(c, P, prefix, "bias_ih", suffix, RG_DIMS(c->H + 1), rng))
        return -1;
    return 0;
}

static void expect_seq_error(const rg_cell_type *type, const char *needle)
{
    rg_params *P = rg_params_new();
    rg_seq_config cfg = {.cell = type, .input_size = I, .hidden_size = H, .num_layers = 1,
                         .dtype = RG_F64};
    cr_assert_null(rg_seq_new(P, "rnn", &cfg, NULL), "%s accepted", type->name);
    char cell[64];
    snprintf(cell, sizeof cell, "cell '%s'", type->name);
    cr_assert(strstr(rg_last_error(), cell), "%s", rg_last_error());
    cr_assert(strstr(rg_last_error(), needle), "%s", rg_last_error());
    rg_params_free(P);
}

Test(cells, layouts_that_do_not_fit_fail_naming_the_cell)
{
    /* the standard projection without a weight_ih */
    const rg_cell_type no_w = {.name = "no_w", .n_state = 1, .init = hh_only_init,
                               .project = rg_cell_project_standard, .step = proj_step};
    expect_seq_error(&no_w, "no parameter of role 'weight_ih'");
    /* 3 gate blocks declared, 1 present */
    const rg_cell_type three = {.name = "three", .n_state = 1, .gates = 3, .init = proj_init,
                                .project = rg_cell_project_standard, .step = proj_step};
    expect_seq_error(&three, "weight_ih is [2,3], the standard layout needs [6,3]");
    /* a bias of another size */
    const rg_cell_type bb = {.name = "bb", .n_state = 1, .init = bad_bias_init,
                             .project = rg_cell_project_standard, .step = proj_step};
    expect_seq_error(&bb, "bias_ih is [3]");
    /* weight_hh that does not match the declared gates */
    const rg_cell_type wide = {.name = "wide", .n_state = 1, .gates = 1, .init = wide_init,
                               .project = rg_cell_project_standard, .step = proj_step};
    expect_seq_error(&wide, "weight_hh must be [2,2]");
    /* a cell without project: rg_cell_project_standard called on it anyway */
    const rg_cell_type plain = {.name = "plain", .n_state = 1, .init = hh_only_init,
                                .step = proj_step};
    rg_params *P = rg_params_new();
    rg_cell c;
    cr_assert_eq(rg_cell_init(&c, &plain, P, NULL, "", I, H, RG_F64, NULL), 0);
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_zeros(tp, RG_F64, RG_DIMS(B, I));
    cr_assert_null(rg_cell_project_standard(tp, &c, x));
    cr_assert(strstr(rg_tape_error(tp), "rg_cell_project_standard: cell 'plain' has no "
                                        "parameter of role 'weight_ih'"), "%s", rg_tape_error(tp));
    rg_tape_free(tp);
    /* a role given twice */
    cr_assert_null(rg_cell_param(&c, P, "x", "weight_hh", "", RG_DIMS(2), NULL));
    cr_assert(strstr(rg_last_error(), "cell 'plain' already has a parameter of role 'weight_hh'"),
              "%s", rg_last_error());
    rg_params_free(P);
}

/* ---- the registry ------------------------------------------------------------------ */

static const rg_cell_type my_cell = {.name = "my.cell-1", .n_state = 1, .gates = 1,
                                     .init = proj_init, .project = rg_cell_project_standard,
                                     .step = proj_step};

Test(cells, registry_finds_registered_cells)
{
    cr_assert_eq(rg_cell_type_find("lstm"), &rg_cell_lstm);
    cr_assert_eq(rg_cell_type_find("rnn"), &rg_cell_rnn_tanh);
    cr_assert_null(rg_cell_type_find("my.cell-1"));
    int n = rg_cell_type_count();
    cr_assert_eq(rg_cell_type_register(&my_cell), 0, "%s", rg_last_error());
    cr_assert_eq(rg_cell_type_find("my.cell-1"), &my_cell);
    cr_assert_eq(rg_cell_type_register(&my_cell), 0, "registering again is a no-op");
    cr_assert_eq(rg_cell_type_count(), n + 1);
    cr_assert_eq(rg_cell_type_at(n), &my_cell);
    cr_assert_null(rg_cell_type_at(n + 1));
    cr_assert_null(rg_cell_type_at(-1));
    char names[512];
    rg_cell_type_names(names, sizeof names, ", ");
    cr_assert_str_eq(names, "lstm, gru, rnn_tanh, rnn_relu, my.cell-1");
    /* refusals, each with its message */
    rg_cell_type other = my_cell;
    cr_assert_eq(rg_cell_type_register(&other), -1);
    cr_assert(strstr(rg_last_error(), "another cell is already registered as 'my.cell-1'"),
              "%s", rg_last_error());
    other.name = "gru";
    cr_assert_eq(rg_cell_type_register(&other), -1);
    cr_assert(strstr(rg_last_error(), "'gru' is the name of a built-in cell"), "%s",
              rg_last_error());
    other.name = "a b";
    cr_assert_eq(rg_cell_type_register(&other), -1);
    cr_assert(strstr(rg_last_error(), "cell name 'a b' must be"), "%s", rg_last_error());
    other.name = "no_init";
    other.init = NULL;
    cr_assert_eq(rg_cell_type_register(&other), -1);
    cr_assert(strstr(rg_last_error(), "cell 'no_init': init is NULL"), "%s", rg_last_error());
    other.init = proj_init;
    other.n_state = 0;
    cr_assert_eq(rg_cell_type_register(&other), -1);
    cr_assert(strstr(rg_last_error(), "n_state"), "%s", rg_last_error());
    cr_assert_eq(rg_cell_type_register(NULL), -1);
    cr_assert_eq(rg_cell_type_count(), n + 1);
}

Test(cells, registry_holds_a_bounded_number_of_cells)
{
    static rg_cell_type many[RG_CELL_MAX_TYPES + 1];
    static char names[RG_CELL_MAX_TYPES + 1][16];
    int k = 0;
    for (; k <= RG_CELL_MAX_TYPES; k++) {
        snprintf(names[k], sizeof names[k], "c%d", k);
        many[k] = my_cell;
        many[k].name = names[k];
        if (rg_cell_type_register(&many[k]) != 0)
            break;
    }
    cr_assert_eq(k, RG_CELL_MAX_TYPES);
    cr_assert(strstr(rg_last_error(), "the most"), "%s", rg_last_error());
    cr_assert_eq(rg_cell_type_find("c63"), &many[63]);
}

/* A registered cell's parameters saved with its name, then found by that name
 * and loaded into a new stack: what a program's loader does. */
Test(cells, a_registered_cell_round_trips_through_a_checkpoint)
{
    cr_assert_eq(rg_cell_type_register(&my_cell), 0);
    rg_params *P = rg_params_new();
    rg_rng rng;
    rg_rng_seed(&rng, 5);
    rg_seq_config cfg = {.cell = &my_cell, .input_size = I, .hidden_size = H, .num_layers = 2,
                         .bidirectional = true, .dtype = RG_F64};
    rg_seq *s = rg_seq_new(P, "rnn", &cfg, &rng);
    cr_assert_not_null(s, "%s", rg_last_error());
    char path[] = "/tmp/rg_cells_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    rg_safetensors *st = rg_checkpoint_from_params(P, NULL);
    cr_assert_eq(rg_safetensors_set_meta(st, "cell", my_cell.name), 0);
    cr_assert_eq(rg_safetensors_write(st, path, RG_F64), 0, "%s", rg_last_error());
    rg_safetensors_free(st);

    st = rg_safetensors_read(path);
    cr_assert_not_null(st, "%s", rg_last_error());
    const rg_cell_type *found = rg_cell_type_find(rg_safetensors_get_meta(st, "cell"));
    cr_assert_eq(found, &my_cell);
    rg_params *Q = rg_params_new();
    cfg.cell = found;
    rg_seq *s2 = rg_seq_new(Q, "rnn", &cfg, NULL);
    cr_assert_eq(rg_checkpoint_load_params_from(Q, st, path, true), 0, "%s", rg_last_error());
    for (int i = 0; i < rg_params_count(P); i++) {
        const char *name;
        rg_tensor *a = rg_params_at(P, i, &name);
        rg_cmp c = rg_test_compare(rg_params_get(Q, name), a, 0, 0);
        cr_assert(c.pass, "%s", name);
    }
    rg_safetensors_free(st);
    remove(path);
    rg_seq_free(s);
    rg_seq_free(s2);
    rg_params_free(P);
    rg_params_free(Q);
}

/* ---- initialisation helpers ---------------------------------------------------------- */

static void moments(const rg_tensor *t, double *mean, double *var, double *lo, double *hi)
{
    double s = 0, s2 = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = rg_get(t, i);
        s += v;
        s2 += v * v;
        *lo = fmin(*lo, v);
        *hi = fmax(*hi, v);
    }
    *mean = s / (double)t->numel;
    *var = s2 / (double)t->numel - *mean * *mean;
}

Test(cells, init_uniform_and_normal_have_their_moments)
{
    rg_rng rng;
    rg_rng_seed(&rng, 11);
    rg_tensor *t = rg_zeros(NULL, RG_F64, RG_DIMS(200, 200));
    double m, v, lo, hi;
    cr_assert_eq(rg_init_uniform(t, -0.5, 2.0, &rng), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(lo >= -0.5 && hi < 2.0);
    cr_assert(fabs(m - 0.75) < 0.02, "mean %g", m);
    cr_assert(fabs(v - 2.5 * 2.5 / 12) < 0.02, "var %g", v);
    cr_assert_eq(rg_init_normal(t, 1.0, 2.0, &rng), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(fabs(m - 1.0) < 0.05, "mean %g", m);
    cr_assert(fabs(sqrt(v) - 2.0) < 0.05, "std %g", sqrt(v));
    cr_assert_eq(rg_init_constant(t, 0.25), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(lo == 0.25 && hi == 0.25);
    cr_assert_eq(rg_init_zeros(t), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(lo == 0 && hi == 0);
    /* without an rng the random ones leave the values alone (a model about to be loaded) */
    cr_assert_eq(rg_init_normal(t, 1.0, 2.0, NULL), 0);
    cr_assert_eq(rg_init_orthogonal(t, 1.0, NULL), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(lo == 0 && hi == 0);
    rg_tensor_free(t);
}

Test(cells, init_xavier_follows_the_fans)
{
    rg_rng rng;
    rg_rng_seed(&rng, 12);
    int64_t fi = 0, fo = 0;
    rg_tensor *t = rg_zeros(NULL, RG_F32, RG_DIMS(300, 200));
    cr_assert_eq(rg_init_fans(t, &fi, &fo), 0);
    cr_assert(fi == 200 && fo == 300);
    double m, v, lo, hi, a = 2.0 * sqrt(6.0 / 500.0);
    cr_assert_eq(rg_init_xavier_uniform(t, 2.0, &rng), 0);
    moments(t, &m, &v, &lo, &hi);
    cr_assert(lo >= -a - 1e-7 && hi <= a + 1e-7, "[%g, %g] outside +-%g", lo, hi, a);
    cr_assert(fabs(v / (a * a / 3) - 1) < 0.03, "var %g, want %g", v, a * a / 3);
    rg_tensor_free(t);
    /* [O,I,k]: the receptive field multiplies both fans */
    t = rg_zeros(NULL, RG_F64, RG_DIMS(200, 100, 3));
    cr_assert_eq(rg_init_fans(t, &fi, &fo), 0);
    cr_assert(fi == 300 && fo == 600);
    cr_assert_eq(rg_init_xavier_normal(t, 1.5, &rng), 0);
    moments(t, &m, &v, &lo, &hi);
    double want = 1.5 * sqrt(2.0 / 900.0);
    cr_assert(fabs(sqrt(v) / want - 1) < 0.02, "std %g, want %g", sqrt(v), want);
    cr_assert(fabs(m) < 0.003, "mean %g", m);
    rg_tensor_free(t);
}

/* t [rows, cols] * gain: orthonormal columns (rows >= cols) or rows */
static void check_orthogonal(const rg_tensor *t, int64_t rows, int64_t cols, double gain,
                             double tol)
{
    bool wide = rows < cols;
    int64_t n = wide ? rows : cols, m = wide ? cols : rows;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double dot = 0;
            for (int64_t k = 0; k < m; k++) {
                double u = rg_get(t, wide ? a * cols + k : k * cols + a);
                double w = rg_get(t, wide ? b * cols + k : k * cols + b);
                dot += u * w;
            }
            double want = a == b ? gain * gain : 0.0;
            cr_assert(fabs(dot - want) < tol, "[%lld,%lld] %lldx%lld: %.3g, want %g",
                      (long long)a, (long long)b, (long long)rows, (long long)cols, dot, want);
        }
}

Test(cells, init_orthogonal_is_orthogonal)
{
    rg_rng rng;
    rg_rng_seed(&rng, 13);
    rg_tensor *tall = rg_zeros(NULL, RG_F64, RG_DIMS(40, 16));
    cr_assert_eq(rg_init_orthogonal(tall, 1.0, &rng), 0);
    check_orthogonal(tall, 40, 16, 1.0, 1e-12);
    rg_tensor *wide = rg_zeros(NULL, RG_F64, RG_DIMS(7, 30));
    cr_assert_eq(rg_init_orthogonal(wide, 3.0, &rng), 0);
    check_orthogonal(wide, 7, 30, 3.0, 1e-11);
    rg_tensor *sq = rg_zeros(NULL, RG_F32, RG_DIMS(64, 64));
    cr_assert_eq(rg_init_orthogonal(sq, 1.0, &rng), 0);
    check_orthogonal(sq, 64, 64, 1.0, 1e-5);
    rg_tensor *r3 = rg_zeros(NULL, RG_F64, RG_DIMS(6, 2, 3)); /* viewed as [6,6] */
    cr_assert_eq(rg_init_orthogonal(r3, 1.0, &rng), 0);
    check_orthogonal(r3, 6, 6, 1.0, 1e-12);
    /* the same seed, the same matrix */
    rg_tensor *again = rg_zeros(NULL, RG_F64, RG_DIMS(40, 16));
    rg_rng_seed(&rng, 13);
    cr_assert_eq(rg_init_orthogonal(again, 1.0, &rng), 0);
    cr_assert(rg_test_compare(again, tall, 0, 0).pass);
    rg_tensor_free(tall);
    rg_tensor_free(wide);
    rg_tensor_free(sq);
    rg_tensor_free(r3);
    rg_tensor_free(again);
}

Test(cells, init_helpers_refuse_bad_arguments)
{
    rg_rng rng;
    rg_rng_seed(&rng, 1);
    rg_tensor *v = rg_zeros(NULL, RG_F64, RG_DIMS(5));
    cr_assert_eq(rg_init_xavier_uniform(v, 1.0, &rng), -1);
    cr_assert(strstr(rg_last_error(), "rg_init_xavier_uniform: fan in and fan out need a tensor "
                                      "of 2 or more dimensions, got [5]"), "%s", rg_last_error());
    cr_assert_eq(rg_init_orthogonal(v, 1.0, &rng), -1);
    cr_assert(strstr(rg_last_error(), "rg_init_orthogonal"), "%s", rg_last_error());
    cr_assert_eq(rg_init_uniform(v, 1.0, 0.0, &rng), -1);
    cr_assert(strstr(rg_last_error(), "lo <= hi"), "%s", rg_last_error());
    cr_assert_eq(rg_init_normal(v, 0.0, -1.0, &rng), -1);
    cr_assert(strstr(rg_last_error(), "std >= 0"), "%s", rg_last_error());
    cr_assert_eq(rg_init_zeros(NULL), -1);
    cr_assert(strstr(rg_last_error(), "rg_init_zeros: tensor is NULL"), "%s", rg_last_error());
    rg_tensor *ids = rg_zeros(NULL, RG_I32, RG_DIMS(2, 2));
    cr_assert_eq(rg_init_constant(ids, 1.0), -1);
    cr_assert(strstr(rg_last_error(), "int32"), "%s", rg_last_error());
    rg_tensor_free(v);
    rg_tensor_free(ids);
}

/* ---- the picture of a tape --------------------------------------------------------------- */

/* The DOT text of f (rewound) in a new string. */
static char *slurp_file(FILE *f)
{
    long n = ftell(f);
    char *s = malloc((size_t)n + 1);
    rewind(f);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    return s;
}

/* Every node and edge of text: node ids declared before use, one box per
 * entry e0..e{n-1}, braces balanced. */
static void check_dot(const char *text, size_t entries)
{
    cr_assert(!strncmp(text, "digraph tape {\n", 15), "%.80s", text);
    cr_assert(strstr(text, "}\n") && text[strlen(text) - 2] == '}');
    for (size_t i = 0; i < entries; i++) {
        char node[48];
        snprintf(node, sizeof node, "  e%zu [label=\"", i);
        cr_assert(strstr(text, node), "no node for entry %zu", i);
    }
    char id[64], id2[64];
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (sscanf(line, " %63s -> %63[^ ;]", id, id2) == 2) {
            char decl[80];
            snprintf(decl, sizeof decl, "  %s [", id);
            const char *d = strstr(text, decl);
            cr_assert(d && d < line, "edge from %s before its node", id);
            snprintf(decl, sizeof decl, "  %s [", id2);
            d = strstr(text, decl);
            cr_assert(d && d < line, "edge to %s before its node", id2);
        }
        if (!strchr(line, '\n'))
            break;
    }
}

Test(cells, tape_dot_draws_every_entry_with_parameter_names)
{
    rg_params *P = rg_params_new();
    rg_linear_layer lin;
    rg_rng rng;
    rg_rng_seed(&rng, 3);
    cr_assert_eq(rg_linear_layer_init(&lin, P, "lin", 2, 3, true, RG_F64, &rng), 0);
    rg_tape *tp = rg_tape_new();
    rg_tensor *x = rg_ones(tp, RG_F64, RG_DIMS(4, 2));
    rg_tensor *y = rg_tanh(tp, rg_linear_layer_forward(tp, &lin, x));
    rg_tensor *loss = rg_sum(tp, rg_mul(tp, y, y));
    cr_assert_not_null(loss);
    size_t n = rg_tape_entries(tp);
    cr_assert_geq(n, 4);

    FILE *f = tmpfile();
    rg_dot_opts o = {.name = rg_params_tensor_name, .user = P, .title = "a \"small\" graph"};
    cr_assert_eq(rg_tape_dot(tp, f, &o), 0, "%s", rg_last_error());
    char *text = slurp_file(f);
    check_dot(text, n);
    cr_assert(strstr(text, "label=\"lin.weight\\n[3,2] float64\""), "%s", text);
    cr_assert(strstr(text, "label=\"lin.bias\\n[3] float64\""), "%s", text);
    cr_assert(strstr(text, "label=\"input\\n[4,2] float64\""), "%s", text);
    cr_assert(strstr(text, "label=\"a \\\"small\\\" graph\""), "%s", text);
    cr_assert(strstr(text, "tanh\\n[4,3]"), "%s", text);
    /* each leaf once, however often it is read */
    const char *w = strstr(text, "lin.weight");
    cr_assert_null(strstr(w + 1, "lin.weight"));
    fclose(f);

    /* the first two entries only; no names */
    f = tmpfile();
    cr_assert_eq(rg_tape_dot(tp, f, &(rg_dot_opts){.max_entries = 2}), 0);
    char *part = slurp_file(f);
    check_dot(part, 2);
    cr_assert_null(strstr(part, "  e2 ["));
    cr_assert(strstr(part, "more entries"), "%s", part);
    cr_assert(strstr(part, "label=\"param\\n[3,2]"), "%s", part);
    fclose(f);

    /* through Graphviz, when it is installed */
    if (system("command -v dot > /dev/null 2>&1") == 0) {
        char dot_path[] = "/tmp/rg_dot_XXXXXX";
        int fd = mkstemp(dot_path);
        cr_assert_geq(fd, 0);
        FILE *df = fdopen(fd, "w");
        fputs(text, df);
        fclose(df);
        char cmd[512], svg_path[96];
        snprintf(svg_path, sizeof svg_path, "%s.svg", dot_path);
        snprintf(cmd, sizeof cmd, "dot -Tsvg -o '%s' '%s'", svg_path, dot_path);
        cr_assert_eq(system(cmd), 0, "dot failed on:\n%s", text);
        FILE *sf = fopen(svg_path, "r");
        cr_assert_not_null(sf);
        fseek(sf, 0, SEEK_END);
        char *svg = slurp_file(sf);
        fclose(sf);
        cr_assert(!strncmp(svg, "<?xml", 5) || !strncmp(svg, "<svg", 4), "%.100s", svg);
        cr_assert(strstr(svg, "</svg>") && strstr(svg, "lin.weight"));
        free(svg);
        remove(svg_path);
        remove(dot_path);
    } else {
        cr_log_warn("Graphviz's dot is not installed: the SVG is not checked");
    }
    free(text);
    free(part);

    cr_assert_eq(rg_tape_dot(NULL, stdout, NULL), -1);
    cr_assert(strstr(rg_last_error(), "rg_tape_dot: the tape is NULL"), "%s", rg_last_error());
    cr_assert_eq(rg_tape_dot(tp, NULL, NULL), -1);
    rg_tape_free(tp);
    rg_params_free(P);
}
