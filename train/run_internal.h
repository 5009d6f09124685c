/* What the files of a run share (not public): the run itself, and the
 * checkpoint pair's reading and writing (checkpoint.c). */
#ifndef RG_RUN_INTERNAL_H
#define RG_RUN_INTERNAL_H
#include "rg_train.h"

/* the loss and validation history, for the plot */
typedef struct rg_history {
    double *x, *y;
    int64_t n, cap;
} rg_history;

struct rg_run {
    rg_fit_config *c;
    rg_flag *fl;
    int n_flags;
    bool resumed;
    rg_safetensors *resume_st; /* the resume file of --resume, until its tensors are loaded */
    char *resume_path;         /* its name */
    char *train_path;          /* the resume file written beside c->save */
    uint64_t run_id;
    int64_t step, start_step;
    int lock_fd;
    rg_trainer *tr;
    const rg_fit_task *task;
    FILE *log;
    rg_history train_hist, val_hist;
    double recent[50];
    int n_recent, at_recent;
    double last_val, train_seconds;
    int64_t last_saved;        /* step of the last checkpoint on disk, -1: none */
    int stop_sig;              /* the signal every rank agreed to stop on (0: none) */
};

/* checkpoint.c */
int rg_run_read_resume(rg_run *r);
int rg_run_load_resume_tensors(rg_run *r);
int rg_run_save(rg_run *r);
int rg_run_lock(rg_run *r);

#endif
