/* translate predict: the ISO form of --text, or of each line of stdin (greedy,
 * or beam search with --beam K), and with --attention FILE.svg a picture of
 * where the model looked while writing each output byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "translate.h"

static const char *usage_line =
    "usage: translate predict --model FILE [--text TEXT] [--beam K] [--attention FILE.svg]\n"
    "                         [--threads N] [--cell-lib FILE.so]\n"
    "       (without --text, each line of stdin is translated)";

/* ---- the picture ---------------------------------------------------------------------- */
/* one label byte, escaped for XML */
static void svg_char(FILE *f, char c)
{
    if (c == '<')
        fputs("&lt;", f);
    else if (c == '>')
        fputs("&gt;", f);
    else if (c == '&')
        fputs("&amp;", f);
    else if (c == '"')
        fputs("&quot;", f);
    else if (c == ' ')
        fputs("&#x2423;", f); /* a visible space */
    else
        fputc(c, f);
}

static void svg_body(FILE *f, const char *src, const char *out, const double *w, int rows,
                     int cols)
{
    const int cell = 22, left = 70, top = 60;
    int width = left + cols * cell + 20, height = top + rows * cell + 40;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"monospace\" font-size=\"13\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height);
    fprintf(f, "<text x=\"%d\" y=\"18\" font-family=\"sans-serif\">attention: source bytes "
               "(columns) read for each output byte (rows)</text>\n", left);
    for (int j = 0; j < cols; j++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", left + j * cell + cell / 2,
                top - 8);
        svg_char(f, src[j]);
        fputs("</text>\n", f);
    }
    for (int k = 0; k < rows; k++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 8,
                top + k * cell + cell / 2 + 5);
        if (out[k])
            svg_char(f, out[k]);
        else
            fputs("EOS", f);
        fputs("</text>\n", f);
        for (int j = 0; j < cols; j++) {
            int shade = 255 - (int)(255.0 * w[k * cols + j] + 0.5);
            shade = shade < 0 ? 0 : shade > 255 ? 255 : shade;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,255)\" "
                       "stroke=\"#ddd\"><title>%.3f</title></rect>\n", left + j * cell,
                    top + k * cell, cell, cell, shade, shade, w[k * cols + j]);
        }
    }
    fprintf(f, "</svg>\n");
}

int tr_attention_svg(const char *path, const char *src, const char *out, const double *w,
                     int rows, int cols)
{
    if (rg_file_check_output(path, "--attention") != 0)
        return -1;
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    int fd = -1;
    if (tmp) {
        snprintf(tmp, n, "%s.tmp-XXXXXX", path);
        fd = mkstemp(tmp);
    }
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        rg_set_error("--attention: cannot write a file beside %s", path);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return -1;
    }
    svg_body(f, src, out, w, rows, cols);
    int bad = ferror(f) | fflush(f) | fsync(fileno(f));
    bad |= fclose(f);
    int rc = bad ? -1 : rg_file_commit(tmp, path);
    if (bad) {
        rg_set_error("--attention: writing %s failed", path);
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* ---- predicting ------------------------------------------------------------------------- */
typedef struct predict_opts {
    const char *model, *text, *attention, *cell_lib;
    int64_t beam, threads;
} predict_opts;

/* the text without surrounding spaces (and a line's CR LF) */
static const char *trim(char *s, int64_t *n)
{
    int64_t a = 0, b = (int64_t)strlen(s);
    while (b > 0 && (s[b - 1] == '\n' || s[b - 1] == '\r' || s[b - 1] == ' '))
        b--;
    while (a < b && s[a] == ' ')
        a++;
    s[b] = '\0';
    *n = b - a;
    return s + a;
}

/* translates one text, prints it, draws its attention when asked */
static int predict_one(const tr_model *m, const predict_opts *o, char *line, const char *what)
{
    int32_t ids[TR_MAX_SRC];
    int64_t n;
    const char *text = trim(line, &n);
    char out[TR_MAX_OUT + 1];
    double lp;
    int32_t len = (int32_t)n;
    if (tr_encode(text, n, ids, what) != 0 ||
        (o->beam ? tr_beam(m, ids, len, (int)o->beam, out, &lp) : tr_greedy(m, ids, &len, 1, out)) != 0)
        return -1;
    printf("%s\n", out);
    if (!o->attention)
        return 0;
    double *w = malloc((size_t)(TR_MAX_OUT + 1) * (size_t)n * sizeof *w);
    int rows, rc = w ? tr_attention(m, ids, (int32_t)n, out, w, &rows) : -1;
    if (rc == 0)
        rc = tr_attention_svg(o->attention, text, out, w, rows, (int)n);
    free(w);
    return rc;
}

/* each line of stdin; the first one's attention with --attention */
static int predict_lines(const tr_model *m, predict_opts *o)
{
    char *line = NULL;
    size_t cap = 0;
    int64_t no = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, stdin) >= 0) {
        char what[64];
        snprintf(what, sizeof what, "stdin line %lld", (long long)++no);
        rc = predict_one(m, o, line, what);
        o->attention = NULL;
        fflush(stdout);
    }
    free(line);
    return rc;
}

int tr_predict_main(int argc, char **argv)
{
    predict_opts o = {.threads = 1};
    rg_flag fl[] = {
        {"--model", RG_FLAG_STRING, &o.model, 0, 0, NULL, "checkpoint (required)", 0, 0, 0},
        {"--text", RG_FLAG_STRING, &o.text, 0, 0, NULL, "the date to translate (default: each line of stdin)", 0, 0, 0},
        {"--beam", RG_FLAG_INT, &o.beam, 1, 32, NULL, "beam search with K beams (default: greedy decoding)", 0, 0, 0},
        {"--attention", RG_FLAG_STRING, &o.attention, 0, 0, NULL, "draw the attention of the (first) text as an SVG file", 0, 0, 0},
        {"--threads", RG_FLAG_INT, &o.threads, 1, 1024, NULL, "BLAS threads (default 1)", 0, 0, 0},
        {"--cell-lib", RG_FLAG_STRING, &o.cell_lib, 0, 0, NULL, "the cell plugin of a model with a plugin's cell", 0, 0, 0},
    };
    int nf = (int)(sizeof fl / sizeof fl[0]), status;
    if (!rg_flags_cli("translate predict", usage_line, fl, nf, argc, argv, 2, &status))
        return status;
    if (!o.model) {
        fprintf(stderr, "translate predict: --model FILE is required\n%s\n", usage_line);
        return 2;
    }
    rg_set_threads((int)o.threads);
    tr_model m = {0};
    uint64_t seed;
    if ((o.attention && rg_file_check_output(o.attention, "--attention") != 0) ||
        (o.cell_lib && rg_cell_plugin_load(o.cell_lib) != 0) ||
        tr_model_load(&m, o.model, RG_F32, &seed) != 0) {
        fprintf(stderr, "translate predict: %s\n", rg_last_error());
        tr_model_free(&m);
        return 1;
    }
    char *text = o.text ? strdup(o.text) : NULL;
    int rc = o.text ? (text ? predict_one(&m, &o, text, "--text") : -1) : predict_lines(&m, &o);
    if (rc != 0)
        fprintf(stderr, "translate predict: %s\n", rg_last_error());
    free(text);
    tr_model_free(&m);
    return rc ? 1 : 0;
}
