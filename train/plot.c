/* The loss plot of a run: a line chart as a self-contained SVG file (axes,
 * "nice" ticks, axis labels, a title and a legend), no plotting library. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rg_train.h"

enum { W = 800, H = 500, ML = 80, MR = 30, MT = 50, MB = 70 };

/* 1, 2 or 5 times a power of ten, about range / n */
static double nice_step(double range, int n)
{
    double raw = range / n;
    double p = pow(10, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

typedef struct frame {
    double x0, x1, y0, y1, xs, ys, pw, ph;
} frame;

/* the data's ranges rounded out to nice ticks */
static frame frame_of(const rg_plot_series *s, int n_series)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int64_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].y[i]))
                continue;
            x0 = fmin(x0, s[k].x[i]);
            x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, s[k].y[i]);
            y1 = fmax(y1, s[k].y[i]);
        }
    if (!isfinite(x0)) {
        x0 = 0;
        x1 = 1;
        y0 = 0;
        y1 = 1;
    }
    if (x1 - x0 < 1e-12)
        x1 = x0 + 1;
    if (y1 - y0 < 1e-12) {
        y0 -= 0.5;
        y1 += 0.5;
    }
    double xs = nice_step(x1 - x0, 8), ys = nice_step(y1 - y0, 6);
    x0 = floor(x0 / xs) * xs;
    x1 = ceil(x1 / xs) * xs;
    y0 = floor(y0 / ys) * ys;
    y1 = ceil(y1 / ys) * ys;
    return (frame){x0, x1, y0, y1, xs, ys, W - ML - MR, H - MT - MB};
}

#define PX(v) (ML + ((v) - fr.x0) / (fr.x1 - fr.x0) * fr.pw)
#define PY(v) (MT + fr.ph - ((v) - fr.y0) / (fr.y1 - fr.y0) * fr.ph)

static void draw_axes(FILE *f, frame fr, const char *title, const char *xlabel,
                      const char *ylabel)
{
    double pw = fr.pw, ph = fr.ph, xs = fr.xs, ys = fr.ys;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">", W / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    /* grid and ticks */
    for (double v = fr.x0; v <= fr.x1 + xs * 1e-9; v += xs) {
        double px = PX(v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                px, MT, px, MT + ph);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n",
                px, MT + ph, px, MT + ph + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", px,
                MT + ph + 20, v);
    }
    for (double v = fr.y0; v <= fr.y1 + ys * 1e-9; v += ys) {
        double py = PY(v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n",
                ML, py, ML + pw, py);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"black\"/>\n",
                ML - 5, py, ML, py);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", ML - 8,
                py + 4, fabs(v) < ys * 1e-9 ? 0.0 : v);
    }
    /* axes and their labels */
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"black\"/>\n", ML, MT, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", ML + pw / 2, H - 20);
    xml_text(f, xlabel);
    fprintf(f, "</text>\n<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 20 %.1f)\">", MT + ph / 2, MT + ph / 2);
    xml_text(f, ylabel);
    fprintf(f, "</text>\n");
}

static void draw_series(FILE *f, frame fr, const rg_plot_series *s, int n_series)
{
    double pw = fr.pw;
    for (int k = 0; k < n_series; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" points=\"",
                s[k].color);
        for (int64_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i]))
                fprintf(f, "%.1f,%.1f ", PX(s[k].x[i]), PY(s[k].y[i]));
        fprintf(f, "\"/>\n");
        if (s[k].n < 40)
            for (int64_t i = 0; i < s[k].n; i++)
                if (isfinite(s[k].y[i]))
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                            PX(s[k].x[i]), PY(s[k].y[i]), s[k].color);
    }
    /* legend, top right inside the plot */
    double lx = ML + pw - 190, ly = MT + 12;
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"180\" height=\"%d\" fill=\"white\" "
               "stroke=\"#999\"/>\n", lx, ly, 10 + 20 * n_series);
    for (int k = 0; k < n_series; k++) {
        double yy = ly + 18 + 20 * k;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/>\n", lx + 10, yy - 4, lx + 40, yy - 4, s[k].color);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 48, yy);
        xml_text(f, s[k].label);
        fprintf(f, "</text>\n");
    }
}
#undef PX
#undef PY

int rg_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                const rg_plot_series *s, int n_series)
{
    if (!path || !*path || n_series < 0 || (n_series > 0 && !s)) {
        rg_set_error("rg_plot_svg: empty path or no series");
        return -1;
    }
    frame fr = frame_of(s, n_series);
    char *tmp = malloc(strlen(path) + 16);
    if (!tmp) {
        rg_set_error("rg_plot_svg: %s: out of memory", path);
        return -1;
    }
    sprintf(tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        rg_set_error("rg_plot_svg: cannot write '%s': %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return -1;
    }
    (void)fchmod(fd, 0644);
    draw_axes(f, fr, title, xlabel, ylabel);
    draw_series(f, fr, s, n_series);
    fprintf(f, "</svg>\n");
    errno = 0;
    bool bad = fflush(f) != 0 || ferror(f);
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = true;
        err = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad)
            err = errno;
        rg_set_error("rg_plot_svg: cannot write '%s': %s", path, err ? strerror(err) : "I/O error");
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
