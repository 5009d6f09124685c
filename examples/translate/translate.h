/* translate: dates written many ways into ISO form ("Sunday 29 Nov 2026" ->
 * "2026-11-29"), a sequence-to-sequence model with attention built from
 * retrograd's public ops.  data.c generates the pairs and owns the byte
 * vocabulary, model.c is the model (a worked example of attention over a
 * variable-length encoder), decode.c its greedy and beam-search decoders, and
 * the other files the subcommands.  Built only from <retrograd.h>.
 *
 * Errors: functions return -1 (or NULL) with a message in rg_last_error(); the
 * subcommands print it as "translate <cmd>: <message>" and exit with status 1
 * (2 for a flag error). */
#ifndef TRANSLATE_H
#define TRANSLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "retrograd.h"

/* ---- the vocabulary (data.c) ----------------------------------------------------
 * Fixed, the same for source and target: id 0 pads, 1 starts the output (BOS),
 * 2 ends it (EOS), and the printable ASCII bytes 32..126 are ids 3..97.  Any
 * other byte in a text to translate is an error naming it and its offset. */
enum {
    TR_PAD = 0,
    TR_BOS = 1,
    TR_EOS = 2,
    TR_FIRST_BYTE = 32,
    TR_LAST_BYTE = 126,
    TR_V = 3 + TR_LAST_BYTE - TR_FIRST_BYTE + 1, /* 98 */
    TR_MAX_SRC = 64, /* longest source text, bytes */
    TR_TGT = 11,     /* "YYYY-MM-DD" + EOS: every target's length */
    TR_MAX_OUT = 24, /* longest output the decoders produce */
    TR_MAX_LAYERS = 4,
};
#define TR_VOCAB_DESC "pad,bos,eos,32-126"
#define TR_FORMAT "retrograd translate 1"

/* ids of text[0..n) into ids; -1 with "<what>: byte 0x09 at offset 3 is not in the
 * vocabulary (printable ASCII 32..126)", or an empty or too long text. */
int tr_encode(const char *text, int64_t n, int32_t *ids, const char *what);
/* The byte of an id (ids below 3 give '?'). */
char tr_byte(int32_t id);

/* ---- the date generator (data.c) -------------------------------------------------- */
/* Years 1900..2099 split three ways by (year / 10 + year) % 10: 3 is the test
 * split, 7 validation, the rest training -- one year of every decade each, so
 * every digit is seen at every position in training but no test year is. */
typedef enum tr_split { TR_TRAIN = 0, TR_VAL = 1, TR_TEST = 2 } tr_split;
int tr_year_split(int year);
int tr_format_count(void);
const char *tr_format_name(int fmt);   /* the template, "%d %B %Y" */
/* The date in format fmt and letter case kase (0 as written, 1 lower, 2 upper)
 * into buf (at least TR_MAX_SRC + 1 bytes); its ISO form into iso (11 bytes).
 * Two-digit years read 50..99 as 19xx and 00..49 as 20xx.  0 or -1. */
int tr_format_date(int fmt, int kase, int y, int m, int d, char *buf, char *iso);

/* n pairs of one split, drawn from a generator seeded with seed and the split. */
typedef struct tr_data {
    int64_t n;
    int32_t *src;   /* [n, TR_MAX_SRC] ids, padded with TR_PAD */
    int32_t *len;   /* [n] source lengths */
    int32_t *tgt;   /* [n, TR_TGT] target ids, EOS last */
    uint8_t *fmt;   /* [n] the format of each pair */
} tr_data;
int tr_data_make(tr_data *D, tr_split split, int64_t n, uint64_t seed);
void tr_data_free(tr_data *D);
uint64_t tr_data_hash(const tr_data *D);   /* FNV-1a of the pairs */
/* "29 November 2026" and "2026-11-29" of pair i into src / tgt buffers. */
void tr_data_text(const tr_data *D, int64_t i, char *src, char *tgt);

/* ---- the model (model.c) ------------------------------------------------------------ */
typedef enum tr_att_kind { TR_ATT_ADDITIVE = 0, TR_ATT_DOT = 1 } tr_att_kind;
const char *tr_att_name(tr_att_kind k);

typedef struct tr_model {
    const rg_cell_type *cell;
    int64_t E, H;      /* embedding size; hidden size (encoder per direction, decoder) */
    int L;             /* layers of the encoder and of the decoder */
    tr_att_kind att;
    rg_dtype dtype;
    rg_params *P;
    rg_embedding_layer embed;    /* embed.weight [V,E], source and target bytes */
    rg_seq *enc;                 /* bidirectional, enc.*: [T,B,E] -> [T,B,2H] */
    rg_seq *dec;                 /* dec.*: its cells stepped one output at a time */
    rg_linear_layer bridge;      /* [2H] final encoder states -> the decoder's h0 [H] */
    rg_linear_layer key, query, score; /* attention (query, score: additive only) */
    rg_linear_layer head;        /* [H + 2H] -> logits [V] */
} tr_model;

/* What the decoder attends to: one encoded batch of B sources. */
typedef struct tr_memory {
    rg_tensor *values;  /* [B,T,2H] encoder outputs (zero past each length) */
    rg_tensor *keys;    /* [B,T,H] their projection by att.key */
    rg_tensor *pad;     /* [B,T] 1 at padding steps, 0 elsewhere */
} tr_memory;

/* The decoder's state: L layers of the cell's n_state tensors [B,H]. */
typedef struct tr_state {
    rg_tensor *s[TR_MAX_LAYERS][RG_CELL_MAX_STATE];
} tr_state;

/* A new model; rng draws the initialisation (NULL: zeros).  0 or -1. */
int tr_model_init(tr_model *m, const rg_cell_type *cell, int64_t E, int64_t H, int L,
                  tr_att_kind att, rg_dtype dt, rg_rng *rng);
void tr_model_free(tr_model *m);
/* ids I32 [T,B] with lengths[b] valid steps -> the memory and the decoder's
 * initial state.  0 or -1. */
int tr_encode_batch(rg_tape *tp, const tr_model *m, rg_tensor *ids, const int32_t *lengths,
                    tr_memory *mem, tr_state *st);
/* One decoder step: the previous output ids prev I32 [B] and state in -> state
 * out and logits [B,V]; weights (may be NULL) gets the attention [B,T].  0 or -1. */
int tr_decode_step(rg_tape *tp, const tr_model *m, const tr_memory *mem, rg_tensor *prev,
                   const tr_state *in, tr_state *out, rg_tensor **logits, rg_tensor **weights);
/* ids I32 [T,B] of B sources, rows of TR_MAX_SRC ids with len[b] valid (T the
 * longest, the rest TR_PAD).  NULL on error. */
rg_tensor *tr_source_ids(rg_tape *tp, const int32_t *src, const int32_t *len, int64_t B);
/* targets I32 [TR_TGT,B] of B rows of TR_TGT ids.  NULL on error. */
rg_tensor *tr_target_ids(rg_tape *tp, const int32_t *tgt, int64_t B);
/* Teacher forcing over a batch: src ids I32 [T,B], lengths [B], tgt ids I32
 * [TR_TGT,B] -> the summed cross-entropy of the B*TR_TGT predictions.
 * weights (may be NULL): room for TR_TGT attention tensors [B,T]. */
rg_tensor *tr_forward_loss(rg_tape *tp, const tr_model *m, rg_tensor *src,
                           const int32_t *lengths, rg_tensor *tgt, rg_tensor **weights);

/* The checkpoint: the parameters and metadata format, cell, embed, hidden,
 * layers, attention, vocab.  NULL on error. */
rg_safetensors *tr_model_container(const tr_model *m);
/* Reads a checkpoint, every metadata value range-checked and every tensor's
 * shape and finiteness checked; the run's data-seed into *data_seed (1 when
 * absent).  On error m is left empty.  0 or -1. */
int tr_model_load(tr_model *m, const char *path, rg_dtype dt, uint64_t *data_seed);
const rg_cell_type *tr_cell_find(const char *name);

/* ---- decoding (decode.c) ------------------------------------------------------------- */
/* Greedy decoding of rows [0,n) of D (in chunks) into out (n rows of
 * TR_MAX_OUT + 1 bytes, NUL-terminated).  0 or -1. */
int tr_greedy(const tr_model *m, const int32_t *src, const int32_t *len, int64_t n,
              char *out);
/* Beam search with K beams over one source (ids[0..n)): the most likely
 * output into out (TR_MAX_OUT + 1 bytes); *logp its log-probability.  0 or -1. */
int tr_beam(const tr_model *m, const int32_t *ids, int32_t n, int K, char *out, double *logp);
/* The attention of the model producing out (teacher-forced) from ids[0..n):
 * rows [k * n .. ) of w for output byte k (and EOS), *rows of them.  w holds
 * (TR_MAX_OUT + 1) * n doubles.  0 or -1. */
int tr_attention(const tr_model *m, const int32_t *ids, int32_t n, const char *out, double *w,
                 int *rows);

/* ---- subcommands ------------------------------------------------------------------- */
int tr_train_main(int argc, char **argv);
int tr_eval_main(int argc, char **argv);
int tr_predict_main(int argc, char **argv);
int tr_data_main(int argc, char **argv);
int tr_gradcheck_main(int argc, char **argv);
/* The attention matrix as an SVG picture, written atomically.  0 or -1. */
int tr_attention_svg(const char *path, const char *src, const char *out, const double *w,
                     int rows, int cols);

#endif
