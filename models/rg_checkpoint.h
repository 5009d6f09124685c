/* safetensors files (named tensors + string metadata) and model checkpoints.
 *
 * The container (docs/CHECKPOINT.md): an 8-byte little-endian header length N,
 * N bytes of UTF-8 JSON, then the byte buffer.  Tensors are F32 or F64 in the
 * file; writers use F32 by default, F64 gives exact float64 round trips.
 *
 *   rg_safetensors *st = rg_safetensors_new();
 *   rg_safetensors_add(st, "head.bias", bias);
 *   rg_safetensors_set_meta(st, "cell", "lstm");
 *   if (rg_safetensors_write(st, "model.safetensors", RG_F32) != 0)
 *       fprintf(stderr, "%s\n", rg_last_error());
 *   rg_safetensors_free(st);
 *
 * Reading is defensive: every size and offset is bounded before use, and a bad
 * file is refused with a message that names the file and the problem
 * ("rg_safetensors_read: m.safetensors: tensor 'x': shape [2,3] needs 24 bytes,
 * data_offsets [0,20] hold 20").  Writing is atomic: a temporary file in the
 * same folder, flushed and fsync'ed, then renamed over the target; on failure
 * the temporary is removed and the previous file is left as it was.
 *
 * Every function that can fail returns NULL or -1 and sets the thread's last
 * error (rg_last_error()).  Nothing here prints or exits.
 */
#ifndef RG_CHECKPOINT_H
#define RG_CHECKPOINT_H
#include "rg_core.h"
#include "rg_params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rg_safetensors rg_safetensors;

/* An empty container; free with rg_safetensors_free (NULL is fine). */
rg_safetensors *rg_safetensors_new(void);
void rg_safetensors_free(rg_safetensors *st);

/* Adds a copy of t's values under name (F32 or F64, rank 0..RG_MAX_RANK).
 * -1 when the name is empty, taken, "__metadata__" or not UTF-8, or t is not
 * a float tensor. */
int rg_safetensors_add(rg_safetensors *st, const char *name, const rg_tensor *t);
/* Same from a raw array: numel values of dt's C type (float or double),
 * row-major.  data may be NULL only when the shape has no element. */
int rg_safetensors_add_data(rg_safetensors *st, const char *name, rg_dtype dt, int rank,
                            const int64_t *shape, const void *data);

/* Sets (or replaces) a metadata entry; key and value are copied, UTF-8. */
int rg_safetensors_set_meta(rg_safetensors *st, const char *key, const char *value);
/* The value of key, or NULL when absent.  Owned by st. */
const char *rg_safetensors_get_meta(const rg_safetensors *st, const char *key);
int rg_safetensors_meta_count(const rg_safetensors *st);
/* i-th metadata entry in file (or insertion) order; returns the value, *key
 * (when non-NULL) gets the key.  NULL when i is out of range. */
const char *rg_safetensors_meta_at(const rg_safetensors *st, int i, const char **key);

/* Number of tensors; the i-th in file (header) order or insertion order, and
 * lookup by name (NULL when absent; no error is set).  The tensors are owned by
 * st: read-only, dtype as stored in the file (F32 or F64), flags RG_VIEW, no
 * gradient, never passed to rg_tensor_free.  In a container made by
 * rg_safetensors_read_header their data is NULL. */
int rg_safetensors_count(const rg_safetensors *st);
const rg_tensor *rg_safetensors_at(const rg_safetensors *st, int i, const char **name);
const rg_tensor *rg_safetensors_get(const rg_safetensors *st, const char *name);

/* Writes st to path with every tensor converted to file_dtype (RG_F32 or
 * RG_F64), atomically.  0 or -1. */
int rg_safetensors_write(const rg_safetensors *st, const char *path, rg_dtype file_dtype);
/* Two-phase writing, for files that must change together: writes st to a new
 * temporary file beside path ("<path>.tmp-XXXXXX", flushed and fsync'ed) and
 * returns its name in *tmp_path (free it); rg_file_commit then renames it over
 * path (and fsyncs the folder).  On failure no temporary file is left.  0 or -1. */
int rg_safetensors_write_staged(const rg_safetensors *st, const char *path,
                                rg_dtype file_dtype, char **tmp_path);
int rg_file_commit(const char *tmp_path, const char *path);

/* Reads a whole file.  NULL (and a message naming path) on any problem:
 * a path that is not a regular file (a FIFO, a directory, a device: refused
 * at once, the open never blocks), unreadable or truncated file, header length larger than the file, header not
 * UTF-8 or malformed JSON or not an object, a tensor entry without dtype, shape
 * or data_offsets, a dtype other than F32/F64, a negative, fractional or
 * overflowing dimension, rank above RG_MAX_RANK, an element count that does not
 * match the byte range, offsets outside the buffer, overlapping tensors,
 * __metadata__ that is not an object of strings, duplicate names. */
rg_safetensors *rg_safetensors_read(const char *path);
/* Same from n bytes in memory; name is used in messages only (NULL: "<memory>"). */
rg_safetensors *rg_safetensors_read_mem(const void *buf, size_t n, const char *name);
/* Reads and validates the header only (against the file's size): the metadata
 * and every tensor's name, dtype and shape, with data == NULL. */
rg_safetensors *rg_safetensors_read_header(const char *path);

/* ---- checkpoints of a parameter registry -------------------------------- */
/* A container holding a copy of every tensor of P, in P's order, named as in
 * P, plus the metadata pairs meta = {key0, value0, key1, value1, ..., NULL}
 * (meta may be NULL).  Add more tensors or metadata, then write it. */
rg_safetensors *rg_checkpoint_from_params(const rg_params *P, const char *const *meta);
/* Saves P to path in F32 (the format's default), atomically.  0 or -1. */
int rg_checkpoint_save_params(const rg_params *P, const char *path, const char *const *meta);
/* Same in file_dtype (RG_F32 or RG_F64). */
int rg_checkpoint_save_params_as(const rg_params *P, const char *path,
                                 const char *const *meta, rg_dtype file_dtype);

/* Strict load: every tensor of P must be in the file with exactly its shape,
 * and the file must hold no other tensor.  Non-finite numbers are never
 * accepted: a tensor to be loaded that holds NaN or Inf (or, for an F32
 * parameter, a float64 beyond float32's range) refuses the file, naming the
 * tensor and the first bad element.  Values are converted to each
 * parameter's dtype and copied only once the whole file has been validated: on
 * any error (which names the file and the tensor, with both shapes) P is left
 * untouched.  0 or -1. */
int rg_checkpoint_load_params(rg_params *P, const char *path);
/* Same from a container already read (its metadata checked by the caller);
 * strict == false allows tensors that P does not have.  file names the source
 * in messages (NULL: "<memory>"). */
int rg_checkpoint_load_params_from(rg_params *P, const rg_safetensors *st, const char *file,
                                   bool strict);
/* The metadata (and tensor names and shapes, without data) of a checkpoint,
 * without loading its values: rg_safetensors_read_header. */
rg_safetensors *rg_checkpoint_read_meta(const char *path);

#ifdef __cplusplus
}
#endif
#endif
