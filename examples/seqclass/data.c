/* seqclass's labelled texts: the bundled novels cut into passages of whole
 * sentences, or a user's TSV file; both split by position (seqclass.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "seqclass.h"

const char *const sc_split_names[3] = {"train", "val", "test"};

static const char *const novels[] = {"emma", "mansfield_park", "northanger_abbey",
                                     "pride_and_prejudice", "sense_and_sensibility"};

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int64_t sc_normalise(uint8_t *s, int64_t n)
{
    int64_t w = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!is_space(s[i]))
            s[w++] = s[i];
        else if (w > 0 && s[w - 1] != ' ')
            s[w++] = ' ';
    }
    return w > 0 && s[w - 1] == ' ' ? w - 1 : w;
}

void sc_data_free(sc_data *d)
{
    for (int c = 0; c < d->n_class; c++)
        free(d->class_name[c]);
    free(d->bytes);
    free(d->off);
    free(d->len);
    free(d->label);
    free(d->split);
    memset(d, 0, sizeof *d);
}

/* appends one text (its bytes copied) of class label to split */
static int add_text(sc_data *d, const uint8_t *s, int64_t n, int label, int split)
{
    if (d->n == d->cap_items) {
        int64_t cap = d->cap_items ? 2 * d->cap_items : 1024;
        int64_t *off = realloc(d->off, (size_t)cap * sizeof *off);
        if (off)
            d->off = off;
        int32_t *len = off ? realloc(d->len, (size_t)cap * sizeof *len) : NULL;
        if (len)
            d->len = len;
        int32_t *lab = len ? realloc(d->label, (size_t)cap * sizeof *lab) : NULL;
        if (lab)
            d->label = lab;
        uint8_t *sp = lab ? realloc(d->split, (size_t)cap) : NULL;
        if (!sp)
            goto oom;
        d->split = sp;
        d->cap_items = cap;
    }
    if (d->n_bytes + n > d->cap) {
        int64_t cap = 2 * (d->n_bytes + n) + 4096;
        uint8_t *b = realloc(d->bytes, (size_t)cap);
        if (!b)
            goto oom;
        d->bytes = b;
        d->cap = cap;
    }
    memcpy(d->bytes + d->n_bytes, s, (size_t)n);
    d->off[d->n] = d->n_bytes;
    d->len[d->n] = (int32_t)n;
    d->label[d->n] = label;
    d->split[d->n] = (uint8_t)split;
    d->n++;
    d->n_bytes += n;
    d->count[split]++;
    return 0;
oom:
    rg_set_error("out of memory for %lld texts", (long long)d->n);
    return -1;
}

/* ---- the novels ------------------------------------------------------------------------ */

/* a '.' that ends "Mr", "Mrs", "Dr" or "St" ends no sentence */
static bool after_title(const uint8_t *t, int64_t start, int64_t dot)
{
    static const char *const titles[] = {"Mr", "Mrs", "Dr", "St"};
    for (size_t k = 0; k < sizeof titles / sizeof titles[0]; k++) {
        int64_t l = (int64_t)strlen(titles[k]);
        if (dot - l >= start && !memcmp(t + dot - l, titles[k], (size_t)l) &&
            (dot - l == start || !isalpha(t[dot - l - 1])))
            return true;
    }
    return false;
}

/* The end of the sentence that starts at `start`: after a '.', '!' or '?' (and
 * any closing quotes, brackets or '_') that whitespace follows, or at a blank
 * line (a paragraph's end), or at the end of the text. */
static int64_t sentence_end(const uint8_t *t, int64_t n, int64_t start)
{
    for (int64_t i = start; i < n; i++) {
        if (t[i] == '\n' && i + 1 < n && t[i + 1] == '\n' && i > start)
            return i;
        if (t[i] != '.' && t[i] != '!' && t[i] != '?')
            continue;
        int64_t j = i + 1;
        while (j < n && (t[j] == '"' || t[j] == '\'' || t[j] == ')' || t[j] == ']' ||
                         t[j] == '_'))
            j++;
        if ((j == n || is_space(t[j])) && !(t[i] == '.' && after_title(t, start, i)))
            return j;
    }
    return n;
}

/* A passage being assembled from whole sentences of one part of a novel. */
typedef struct packer {
    uint8_t buf[SC_PASSAGE_MAX];
    int64_t len;
    int part, label;
} packer;

static int flush(sc_data *d, packer *p)
{
    int rc = p->len >= SC_PASSAGE_MIN ? add_text(d, p->buf, p->len, p->label, p->part) : 0;
    p->len = 0;
    return rc;
}

/* A sentence has a lower-case letter and ends with '.', '!' or '?' (and any
 * closing marks); a heading ("CHAPTER I", "Chapter 1", "By Jane Austen") or
 * another fragment does not. */
static bool is_sentence(const uint8_t *s, int64_t n)
{
    bool lower = false;
    for (int64_t i = 0; i < n && !lower; i++)
        lower = s[i] >= 'a' && s[i] <= 'z';
    while (n > 0 && s[n - 1] && strchr("\"')]_", s[n - 1]))
        n--;
    return lower && n > 0 && (s[n - 1] == '.' || s[n - 1] == '!' || s[n - 1] == '?');
}

/* Cuts novel t (normalised in place, sentence by sentence) into passages: a
 * sentence goes to the part where it starts; a fragment that is no sentence
 * or a sentence longer than a passage ends the passage being assembled. */
static int add_novel(sc_data *d, uint8_t *t, int64_t n, int label)
{
    int64_t cut1 = n / 10 * 9, cut2 = n / 20 * 19;
    packer p = {.label = label};
    for (int64_t start = 0; start < n;) {
        while (start < n && is_space(t[start]))
            start++;
        if (start == n)
            break;
        int64_t end = sentence_end(t, n, start);
        int part = start < cut1 ? SC_TRAIN : start < cut2 ? SC_VAL : SC_TEST;
        int64_t len = sc_normalise(t + start, end - start);
        bool keep = is_sentence(t + start, len) && len <= SC_PASSAGE_MAX;
        if (part != p.part || !keep || p.len + 1 + len > SC_PASSAGE_MAX)
            if (flush(d, &p) != 0)
                return -1;
        p.part = part;
        if (keep) {
            if (p.len > 0)
                p.buf[p.len++] = ' ';
            memcpy(p.buf + p.len, t + start, (size_t)len);
            p.len += len;
        }
        start = end;
    }
    return flush(d, &p);
}

static int read_novels(sc_data *d)
{
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.txt", novels[k]);
        char *path = prog_data_path(name);
        uint8_t *t = NULL;
        int64_t n = 0;
        int rc = path ? rg_file_read_all(path, &t, &n) : -1;
        if (!path)
            rg_set_error("out of memory");
        free(path);
        if (rc == 0) {
            d->hash = d->hash * 1000003u ^ lm_fnv1a(t, n);
            rc = (d->class_name[k] = strdup(novels[k])) ? add_novel(d, t, n, k) : -1;
            d->n_class = k + 1;
        }
        free(t);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- a TSV file ------------------------------------------------------------------------ */

/* The class of a label (a new class when unseen); -1 with a message when the
 * label is malformed or there are too many classes. */
static int class_of(sc_data *d, const uint8_t *s, int64_t n, const char *file, int64_t line)
{
    const char *why = n == 0 ? "empty label"
                      : n > SC_MAX_LABEL ? "label longer than 64 bytes"
                      : s[0] == ' ' || s[n - 1] == ' ' ? "label with leading or trailing spaces"
                                                       : NULL;
    for (int64_t i = 0; i < n && !why; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            why = "label with a byte that is not printable ASCII";
    if (why) {
        rg_set_error("%s:%lld: %s (a line is LABEL<TAB>TEXT)", file, (long long)line, why);
        return -1;
    }
    for (int c = 0; c < d->n_class; c++)
        if ((int64_t)strlen(d->class_name[c]) == n && !memcmp(d->class_name[c], s, (size_t)n))
            return c;
    if (d->n_class == SC_MAX_CLASSES) {
        rg_set_error("%s:%lld: more than %d labels", file, (long long)line, SC_MAX_CLASSES);
        return -1;
    }
    if (!(d->class_name[d->n_class] = strndup((const char *)s, (size_t)n))) {
        rg_set_error("out of memory");
        return -1;
    }
    return d->n_class++;
}

/* One line "LABEL<TAB>TEXT" (without its newline; a final '\r' is dropped). */
static int tsv_line(sc_data *d, uint8_t *s, int64_t n, const char *file, int64_t line)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    uint8_t *tab = memchr(s, '\t', (size_t)n);
    if (!tab) {
        rg_set_error("%s:%lld: no tab (a line is LABEL<TAB>TEXT)", file, (long long)line);
        return -1;
    }
    int c = class_of(d, s, tab - s, file, line);
    if (c < 0)
        return -1;
    uint8_t *text = tab + 1;
    int64_t len = n - (text - s);
    for (int64_t i = 0; i < len; i++)
        if ((text[i] < 0x20 && text[i] != '\t') || text[i] == 0x7f) {
            rg_set_error("%s:%lld: control byte %d in the text (column %lld)", file,
                         (long long)line, text[i], (long long)(text + i - s + 1));
            return -1;
        }
    if ((len = sc_normalise(text, len)) == 0) {
        rg_set_error("%s:%lld: empty text after the label '%s'", file, (long long)line,
                     d->class_name[c]);
        return -1;
    }
    return add_text(d, text, len, c, SC_TRAIN);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* Classes in sorted order, then each class's last floor(n/10) lines held out:
 * the first half (rounded down) validation, the rest test. */
static void tsv_split(sc_data *d)
{
    char **order[SC_MAX_CLASSES];
    char *names[SC_MAX_CLASSES];
    int rank[SC_MAX_CLASSES];
    int64_t total[SC_MAX_CLASSES] = {0}, seen[SC_MAX_CLASSES] = {0};
    for (int c = 0; c < d->n_class; c++)
        order[c] = &d->class_name[c];
    qsort(order, (size_t)d->n_class, sizeof *order, by_name);
    for (int r = 0; r < d->n_class; r++) {
        rank[order[r] - d->class_name] = r;
        names[r] = *order[r];
    }
    memcpy(d->class_name, names, (size_t)d->n_class * sizeof *names);
    for (int64_t k = 0; k < d->n; k++)
        total[d->label[k] = rank[d->label[k]]]++;
    d->count[SC_TRAIN] = 0;
    for (int64_t k = 0; k < d->n; k++) {
        int c = d->label[k];
        int64_t held = total[c] / 10, i = seen[c]++, first = total[c] - held;
        d->split[k] = i < first ? SC_TRAIN : i < first + held / 2 ? SC_VAL : SC_TEST;
        d->count[d->split[k]]++;
    }
}

static int read_tsv(sc_data *d, const char *file)
{
    uint8_t *t;
    int64_t n;
    if (rg_file_read_all(file, &t, &n) != 0)
        return -1;
    d->hash = lm_fnv1a(t, n);
    int64_t line = 0;
    int rc = 0;
    for (int64_t at = 0; at < n && rc == 0;) {
        uint8_t *nl = memchr(t + at, '\n', (size_t)(n - at));
        int64_t end = nl ? nl - t : n;
        line++;
        /* empty lines (a final newline, a blank line) are skipped */
        if (end > at && !(end == at + 1 && t[at] == '\r'))
            rc = tsv_line(d, t + at, end - at, file, line);
        at = end + 1;
    }
    free(t);
    if (rc == 0 && d->n_class < 2)
        rg_set_error("%s: %s", file, d->n ? "one label only: a classifier needs two or more"
                                          : "no labelled line");
    if (rc != 0 || d->n_class < 2)
        return -1;
    tsv_split(d);
    return 0;
}

int sc_data_read(sc_data *d, const char *tsv)
{
    memset(d, 0, sizeof *d);
    if ((tsv ? read_tsv(d, tsv) : read_novels(d)) != 0) {
        sc_data_free(d);
        return -1;
    }
    return 0;
}
