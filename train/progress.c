/* The progress report of a run: one line rewritten in place when the output is
 * a terminal, plain periodic lines when it is a file or a pipe. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "rg_train.h"

void rg_progress_init(rg_progress *p, FILE *out, int64_t total_steps)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = out && isatty(fileno(out));
    p->last_print = -1e9;
    p->every = total_steps >= 20 ? total_steps / 20 : 1;
}

static void format_time(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void rg_progress_step(rg_progress *p, int64_t step, int64_t total, double loss,
                      const char *metric_name, double metric, double rate, const char *unit,
                      double eta_s, bool force)
{
    if (!p->out)
        return;
    double now = rg_now();
    if (p->tty ? (!force && now - p->last_print < 0.1) : (!force && step % p->every != 0))
        return;
    p->last_print = now;
    char eta[32], val[32], line[320];
    format_time(eta_s, eta, sizeof eta);
    if (isnan(metric))
        snprintf(val, sizeof val, "-");
    else
        snprintf(val, sizeof val, "%.4f", metric);
    int w = snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  %s %s  %.0f %s/s  left %s",
                     (long long)step, (long long)total, loss, metric_name, val, rate, unit, eta);
    if (p->tty) {
        /* pad with spaces over whatever the previous line left behind */
        fprintf(p->out, "\r%s%*s", line, p->width > w ? p->width - w : 0, "");
        p->width = w;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void rg_progress_done(rg_progress *p)
{
    if (p->out && p->tty && p->width > 0) {
        fprintf(p->out, "\n");
        fflush(p->out);
    }
    p->width = 0;
}
