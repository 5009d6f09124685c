/* A run's checkpoint: the model file and its resume file, one unit.
 *
 * Both files carry the run's id and step.  A save writes both to temporary
 * files (fsync'ed), then renames the resume file and the model file in turn,
 * so a kill at any moment leaves the old pair, the new pair, or (between the
 * two renames) a mixed pair that --resume refuses by its ids.  Weights are
 * checked before a save (a diverged run never reaches the disk) and every
 * tensor of a resume file is checked when read.  A lock file beside the
 * checkpoint ("<save>.lock", flock) keeps a second run off the same path. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "run_internal.h"

#define TRAIN_FORMAT "retrograd train 2"

int rg_meta_int(const rg_safetensors *st, const char *key, double lo, double hi,
                const char *file, int64_t *out)
{
    const char *s = rg_safetensors_get_meta(st, key);
    if (!s) {
        rg_set_error("%s: metadata '%s' is missing", file, key);
        return -1;
    }
    rg_flag f = {.name = key, .kind = RG_FLAG_INT, .dest = out, .min = lo, .max = hi};
    return rg_flag_set(&f, s, file);
}

static int parse_hex64(const char *s, uint64_t *v)
{
    if (!s || strlen(s) != 16)
        return -1;
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 16);
    return *end || errno ? -1 : 0;
}

static int rng_parse(rg_rng *r, const char *s)
{
    if (!s || strlen(s) != 64)
        return -1;
    rg_rng v;
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, s + 16 * i, 16);
        part[16] = '\0';
        if (parse_hex64(part, &v.s[i]) != 0)
            return -1;
    }
    if (!(v.s[0] | v.s[1] | v.s[2] | v.s[3])) /* xoshiro's one forbidden state */
        return -1;
    *r = v;
    return 0;
}

static void rng_format(const rg_rng *r, char *buf, size_t n)
{
    snprintf(buf, n, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, r->s[0], r->s[1],
             r->s[2], r->s[3]);
}

/* ---- reading a pair ------------------------------------------------------------ */

/* the saved flags back from the resume file, each through rg_flag_set */
static int restore_flags(rg_run *r, const rg_safetensors *st)
{
    for (int i = 0; i < r->n_flags; i++) {
        rg_flag *f = &r->fl[i];
        if (!(f->attr & RG_FLAG_SAVED) || ((f->attr & RG_FLAG_OVERRIDE) && f->seen))
            continue;
        const char *v = rg_safetensors_get_meta(st, f->name + 2);
        if (!v) {
            rg_set_error("%s: metadata '%s' (the run's %s) is missing", r->resume_path,
                         f->name + 2, f->name);
            return -1;
        }
        if (rg_flag_set(f, v, r->resume_path) != 0)
            return -1;
    }
    return 0;
}

/* the model file and the resume file are one checkpoint: same run, same step */
static int check_pair(rg_run *r, const rg_safetensors *st)
{
    const char *model = r->c->resume;
    rg_safetensors *mh = rg_checkpoint_read_meta(model);
    if (!mh)
        return -1;
    uint64_t mid = 0;
    int64_t mstep = -1;
    int rc = 0;
    const char *ms = rg_safetensors_get_meta(mh, "step");
    if (parse_hex64(rg_safetensors_get_meta(mh, "run_id"), &mid) != 0 || !ms ||
        rg_meta_int(mh, "step", 0, 1e15, model, &mstep) != 0) {
        rg_set_error("%s: not a checkpoint of a run (its metadata 'run_id' or 'step' is missing "
                     "or malformed)", model);
        rc = -1;
    } else if (mid != r->run_id || mstep != r->step) {
        rg_set_error("%s (run %016" PRIx64 ", step %lld) and %s (run %016" PRIx64 ", step %lld) "
                     "are not one checkpoint: the files come from different %s; refusing to "
                     "resume from a mixed pair", model, mid, (long long)mstep, r->resume_path,
                     r->run_id, (long long)r->step, mid != r->run_id ? "runs" : "steps");
        rc = -1;
    }
    rg_safetensors_free(mh);
    return rc;
}

/* ---- a save cut between its two renames ------------------------------------------ */

static int lock_path(const char *path);

/* the run id and step in a file's metadata; -1 when it has none */
static int run_step_of(const char *path, uint64_t *id, int64_t *step)
{
    rg_safetensors *h = rg_safetensors_read_header(path);
    int rc = h && parse_hex64(rg_safetensors_get_meta(h, "run_id"), id) == 0 &&
                     rg_safetensors_get_meta(h, "step") &&
                     rg_meta_int(h, "step", 0, 1e15, path, step) == 0
                 ? 0
                 : -1;
    rg_safetensors_free(h);
    return rc;
}

/* behind's complete new version, left as "<behind>.tmp-XXXXXX" by a save that
 * was killed after renaming the other file: renamed into place.  true when found. */
static bool finish_save(const char *behind, uint64_t id, int64_t step)
{
    const char *slash = strrchr(behind, '/'), *base = slash ? slash + 1 : behind;
    size_t dl = !slash ? 1 : slash == behind ? 1 : (size_t)(slash - behind), bl = strlen(base);
    char *dir = malloc(dl + 1);
    if (!dir)
        return false;
    memcpy(dir, slash ? behind : ".", dl);
    dir[dl] = '\0';
    DIR *d = opendir(dir);
    struct dirent *ent;
    bool done = false;
    while (d && !done && (ent = readdir(d))) {
        const char *nm = ent->d_name;
        if (strlen(nm) != bl + 11 || strncmp(nm, base, bl) ||
            strncmp(nm + bl, ".tmp-", 5))
            continue;
        char *tmp = malloc(strlen(dir) + strlen(nm) + 2);
        if (!tmp)
            break;
        sprintf(tmp, "%s/%s", dir, nm);
        uint64_t tid;
        int64_t tstep;
        rg_safetensors *whole = rg_safetensors_read(tmp); /* complete and well-formed */
        if (whole && run_step_of(tmp, &tid, &tstep) == 0 && tid == id && tstep == step)
            done = rg_file_commit(tmp, behind) == 0;
        rg_safetensors_free(whole);
        free(tmp);
    }
    if (d)
        closedir(d);
    free(dir);
    return done;
}

/* When the model file and the resume file are of one run but a step apart
 * (a kill between a save's two renames), the save is finished from the
 * complete temporary file it left, under the checkpoint's lock. */
static int repair_pair(rg_run *r)
{
    uint64_t mid, tid;
    int64_t ms, ts;
    if (run_step_of(r->c->resume, &mid, &ms) != 0 || run_step_of(r->resume_path, &tid, &ts) != 0 ||
        mid != tid || ms == ts)
        return 0; /* nothing to repair: check_pair says what is wrong, if anything */
    int fd = lock_path(r->c->resume);
    if (fd < 0)
        return -1;
    if (run_step_of(r->c->resume, &mid, &ms) == 0 && run_step_of(r->resume_path, &tid, &ts) == 0 &&
        mid == tid && ms != ts)
        finish_save(ms < ts ? r->c->resume : r->resume_path, mid, ms < ts ? ts : ms);
    close(fd);
    return 0;
}

int rg_run_read_resume(rg_run *r)
{
    r->resume_path = rg_train_state_path(r->c->resume);
    if (!r->resume_path) {
        rg_set_error("out of memory");
        return -1;
    }
    if (rg_file_check_input(r->resume_path) != 0 || rg_file_check_input(r->c->resume) != 0 ||
        repair_pair(r) != 0)
        return -1;
    rg_safetensors *st = rg_safetensors_read(r->resume_path);
    if (!st)
        return -1;
    r->resume_st = st;
    const char *fmt = rg_safetensors_get_meta(st, "format");
    if (!fmt || strcmp(fmt, TRAIN_FORMAT)) {
        rg_set_error("%s: not a resume file of this version (metadata 'format' is '%s', "
                     "expected '%s')", r->resume_path, fmt ? fmt : "(missing)", TRAIN_FORMAT);
        return -1;
    }
    if (parse_hex64(rg_safetensors_get_meta(st, "run_id"), &r->run_id) != 0) {
        rg_set_error("%s: metadata 'run_id' is missing or not 16 hex digits", r->resume_path);
        return -1;
    }
    /* the steps of a run are range-checked like the --steps they came from */
    const rg_flag *sf = rg_flags_find(r->fl, r->n_flags, "--steps");
    double max_steps = sf ? sf->max : 1e12;
    int64_t total = 0;
    if (rg_meta_int(st, "step", 0, max_steps, r->resume_path, &r->step) != 0 ||
        rg_meta_int(st, "total_steps", 1, max_steps, r->resume_path, &total) != 0)
        return -1;
    if (check_pair(r, st) != 0 || restore_flags(r, st) != 0)
        return -1;
    if (!rg_flags_seen(r->fl, r->n_flags, "--steps"))
        r->c->steps = total;
    return 0;
}

/* After the trainer exists: the optimizer's state, the RNGs, the program's part. */
int rg_run_load_resume_tensors(rg_run *r)
{
    const rg_safetensors *st = r->resume_st;
    const char *file = r->resume_path;
    for (int i = 0; i < rg_safetensors_count(st); i++) {
        const char *name;
        const rg_tensor *t = rg_safetensors_at(st, i, &name);
        int64_t bad = rg_tensor_find_nonfinite(t);
        if (bad >= 0) {
            rg_set_error("%s: tensor '%s' holds %s at element %lld; refusing to resume from it",
                         file, name, isnan(rg_get(t, bad)) ? "NaN" : "Inf", (long long)bad);
            return -1;
        }
    }
    rg_optim *opt = rg_trainer_optim(r->tr);
    for (int i = 0; i < rg_optim_state_count(opt); i++) {
        const char *name;
        rg_optim_state_at(opt, i, &name);
        const rg_tensor *t = rg_safetensors_get(st, name);
        if (!t) {
            rg_set_error("%s: optimizer tensor '%s' is missing", file, name);
            return -1;
        }
        if (rg_optim_state_load(opt, name, t) != 0)
            return -1;
    }
    if (rng_parse(rg_trainer_batch_rng(r->tr), rg_safetensors_get_meta(st, "rng_batch")) ||
        rng_parse(rg_trainer_dropout_rng(r->tr), rg_safetensors_get_meta(st, "rng_dropout"))) {
        rg_set_error("%s: metadata 'rng_batch' or 'rng_dropout' is missing or malformed", file);
        return -1;
    }
    if (rg_optim_set_steps(opt, r->step) != 0)
        return -1;
    if (r->task->load_state && r->task->load_state(r->task->user, st, file) != 0)
        return -1;
    rg_safetensors_free(r->resume_st);
    r->resume_st = NULL;
    return 0;
}

/* ---- writing a pair ------------------------------------------------------------- */

/* the run's metadata, common to both files */
static int add_run_meta(const rg_run *r, rg_safetensors *st, bool skip_taken)
{
    char buf[80];
    snprintf(buf, sizeof buf, "%016" PRIx64, r->run_id);
    int rc = rg_safetensors_set_meta(st, "run_id", buf);
    snprintf(buf, sizeof buf, "%lld", (long long)r->step);
    rc = rc ? rc : rg_safetensors_set_meta(st, "step", buf);
    for (int i = 0; i < r->n_flags && rc == 0; i++) {
        const rg_flag *f = &r->fl[i];
        if (!(f->attr & RG_FLAG_SAVED) ||
            (skip_taken && rg_safetensors_get_meta(st, f->name + 2)))
            continue;
        char *v = rg_flag_format(f);
        rc = v ? rg_safetensors_set_meta(st, f->name + 2, v) : -1;
        free(v);
    }
    return rc;
}

static rg_safetensors *train_file(rg_run *r)
{
    rg_safetensors *st = rg_safetensors_new();
    if (!st)
        return NULL;
    rg_optim *opt = rg_trainer_optim(r->tr);
    int rc = 0;
    for (int i = 0; i < rg_optim_state_count(opt) && rc == 0; i++) {
        const char *name;
        rg_tensor *t = rg_optim_state_at(opt, i, &name);
        rc = rg_safetensors_add(st, name, t);
    }
    char buf[80];
    rc = rc ? rc : rg_safetensors_set_meta(st, "format", TRAIN_FORMAT);
    rc = rc ? rc : add_run_meta(r, st, false);
    snprintf(buf, sizeof buf, "%lld", (long long)r->c->steps);
    rc = rc ? rc : rg_safetensors_set_meta(st, "total_steps", buf);
    rng_format(rg_trainer_batch_rng(r->tr), buf, sizeof buf);
    rc = rc ? rc : rg_safetensors_set_meta(st, "rng_batch", buf);
    rng_format(rg_trainer_dropout_rng(r->tr), buf, sizeof buf);
    rc = rc ? rc : rg_safetensors_set_meta(st, "rng_dropout", buf);
    if (rc == 0 && r->task->save_state)
        rc = r->task->save_state(r->task->user, st);
    if (rc != 0) {
        rg_safetensors_free(st);
        return NULL;
    }
    return st;
}

static rg_safetensors *model_file(rg_run *r)
{
    rg_safetensors *st = r->task->model_file ? r->task->model_file(r->task->user)
                                             : rg_checkpoint_from_params(r->task->P, NULL);
    if (!st)
        return NULL;
    int rc = add_run_meta(r, st, true);
    if (rc == 0 && !isnan(r->last_val)) {
        char buf[64];
        double m = r->task->metric_of ? r->task->metric_of(r->last_val) : r->last_val;
        snprintf(buf, sizeof buf, "%.6f", m);
        rc = rg_safetensors_set_meta(st, r->task->metric ? r->task->metric : "val_loss", buf);
    }
    if (rc != 0) {
        rg_safetensors_free(st);
        return NULL;
    }
    return st;
}

/* weights are finite, or a message naming the parameter */
static int check_weights(const rg_run *r)
{
    const char *name;
    int64_t bad;
    if (rg_params_check_finite(r->task->P, &name, &bad) == 0)
        return 0;
    rg_tensor *t = rg_params_get(r->task->P, name);
    rg_set_error("parameter '%s' holds %s at element %lld", name,
                 t && isnan(rg_get(t, bad)) ? "NaN" : "Inf", (long long)bad);
    return -1;
}

int rg_run_save(rg_run *r)
{
    if (check_weights(r) != 0)
        return -1;
    rg_safetensors *ts = train_file(r), *ms = ts ? model_file(r) : NULL;
    char *ttmp = NULL, *mtmp = NULL;
    int rc = -1;
    if (!ts || !ms)
        goto out;
    rg_file_remove_stale_temps(r->c->save);
    rg_file_remove_stale_temps(r->train_path);
    if (rg_safetensors_write_staged(ts, r->train_path, RG_F32, &ttmp) != 0 ||
        rg_safetensors_write_staged(ms, r->c->save, RG_F32, &mtmp) != 0)
        goto out;
    /* the resume file first: a kill between the renames leaves a pair whose
     * steps differ, which --resume refuses.  The renames follow each other
     * directly (the folder that holds both is synced once, by the second) to
     * keep that window short */
    if (rename(ttmp, r->train_path) != 0) {
        rg_set_error("%s: cannot rename the temporary file over it: %s", r->train_path,
                     strerror(errno));
        goto out;
    }
    free(ttmp);
    ttmp = NULL;
    if (rg_file_commit(mtmp, r->c->save) != 0)
        goto out;
    free(mtmp);
    mtmp = NULL;
    r->last_saved = r->step;
    rc = 0;
out:
    if (ttmp)
        unlink(ttmp);
    if (mtmp)
        unlink(mtmp);
    free(ttmp);
    free(mtmp);
    rg_safetensors_free(ts);
    rg_safetensors_free(ms);
    return rc;
}

/* an flock on "<path>.lock": the descriptor, or -1 with a message */
static int lock_path(const char *path)
{
    size_t n = strlen(path);
    char *lp = malloc(n + 6);
    if (!lp) {
        rg_set_error("out of memory");
        return -1;
    }
    memcpy(lp, path, n);
    memcpy(lp + n, ".lock", 6);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rg_set_error("--save %s: cannot create the lock file %s: %s", path, lp, strerror(errno));
        free(lp);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rg_set_error("--save %s: another run is training into it (it holds %s); give another "
                     "--save", path, lp);
        close(fd);
        free(lp);
        return -1;
    }
    free(lp);
    return fd;
}

int rg_run_lock(rg_run *r)
{
    int fd = lock_path(r->c->save);
    if (fd < 0)
        return -1;
    r->lock_fd = fd;
    return 0;
}
