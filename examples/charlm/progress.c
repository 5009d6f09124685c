/* charlm's progress report: one line rewritten in place when stdout is a
 * terminal, plain periodic lines when it is a file or a pipe. */
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "charlm.h"

double charlm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void charlm_progress_init(charlm_progress *p, int64_t total_steps)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(fileno(stdout));
    p->start = charlm_now();
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

void charlm_progress_step(charlm_progress *p, int64_t step, int64_t total, double loss,
                          double val_bpc, double chars_per_s, double eta_s, bool force)
{
    double now = charlm_now();
    if (p->tty ? (!force && now - p->last_print < 0.1) : (!force && step % p->every != 0))
        return;
    p->last_print = now;
    char eta[32], val[32], line[256];
    format_time(eta_s, eta, sizeof eta);
    if (isnan(val_bpc))
        snprintf(val, sizeof val, "-");
    else
        snprintf(val, sizeof val, "%.4f", val_bpc);
    int w = snprintf(line, sizeof line,
                     "step %lld/%lld  loss %.4f  val_bpc %s  %.0f chars/s  left %s",
                     (long long)step, (long long)total, loss, val, chars_per_s, eta);
    if (p->tty) {
        /* pad with spaces over whatever the previous line left behind */
        printf("\r%s%*s", line, p->width > w ? p->width - w : 0, "");
        p->width = w;
    } else {
        printf("%s\n", line);
    }
    fflush(stdout);
}

void charlm_progress_done(charlm_progress *p)
{
    if (p->tty && p->width > 0) {
        printf("\n");
        fflush(stdout);
    }
    p->width = 0;
}
