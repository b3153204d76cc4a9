/* assaykit.gating._kernels: the passes over a tube's events that numpy makes in several steps, each
 * made here in one; and the binned EM's loop of assaykit/gating/mixture.py. Every function gives
 * exactly what its numpy equivalent in assaykit/gating/kernels.py gives (em_fit: mixture._em_steps)
 * (the same IEEE double arithmetic in the same order, numpy's own functions called where that loop
 * calls them; tests compare them bit for bit), so that a build without this module computes the
 * same numbers, only slower.
 *
 * Arrays arrive through the buffer protocol (C-contiguous numpy arrays; no numpy headers are
 * needed to build): float64 values, int64 counts and ranks, bool masks. Outputs are arrays the
 * caller allocated. Compiled without floating-point contraction (no fused multiply-add), so that
 * each product and sum is rounded as numpy rounds it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* one argument as a contiguous buffer of kind 'f' (float64), 'i' (int64) or 'b' (bool / uint8);
 * an upper-case kind asks for a writable one */
static int get_buffer(PyObject *obj, Py_buffer *view, char kind)
{
    int writable = kind >= 'A' && kind <= 'Z';
    char base = writable ? (char)(kind - 'A' + 'a') : kind;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@') {
        format++;
    }
    int ok = base == 'f'   ? view->itemsize == 8 && *format == 'd'
             : base == 'i' ? view->itemsize == 8 && (*format == 'q' || *format == 'l')
                           : view->itemsize == 1 && (*format == '?' || *format == 'B' || *format == 'b');
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "expected a contiguous %s array",
                     base == 'f' ? "float64" : (base == 'i' ? "int64" : "bool"));
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release(Py_buffer *views, int count)
{
    for (int i = 0; i < count; i++) {
        PyBuffer_Release(&views[i]);
    }
}

/* every argument as a buffer of its kind (``kinds``, one letter each as get_buffer's); on a
 * failure none is held */
static int get_buffers(PyObject **objects, Py_buffer *views, const char *kinds)
{
    for (int i = 0; kinds[i]; i++) {
        if (get_buffer(objects[i], &views[i], kinds[i]) < 0) {
            release(views, i);
            return -1;
        }
    }
    return 0;
}

/* a call's arguments, all arrays, as buffers of the kinds named (get_buffers): -1 with the error set
 * when there are not that many or one is of the wrong kind */
static int array_arguments(PyObject *args, const char *kinds, PyObject **objects, Py_buffer *views)
{
    Py_ssize_t count = (Py_ssize_t)strlen(kinds);
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) != count) {
        PyErr_Format(PyExc_TypeError, "expected %zd arrays", count);
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        objects[i] = PyTuple_GET_ITEM(args, i);
    }
    return get_buffers(objects, views, kinds);
}

/* release the buffers and raise ValueError(message) */
static PyObject *refuse(Py_buffer *views, int count, const char *message)
{
    release(views, count);
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* the bin of a position (value - low) * scale on a grid of last + 1 bins: numpy's
 * minimum(position.astype(int64), last) for a value within the range; any position has one (NaN
 * and below 0: 0), so that the index pass needs no branch */
static inline uint32_t bin_of(double position, double last)
{
    position = position > 0 ? position : 0;
    position = position < last ? position : last;
    return (uint32_t)(int32_t)position; /* position <= last < 2^31: int32 converts fastest */
}

/* Histograms count in two passes over blocks of events: the cell of each event (or, outside the
 * ranges, one of SPARE cells past the grid, taken in turn), then the counts. Separate, the first
 * has no branch and the second no arithmetic, several times faster than one pass testing and
 * counting each event (the outside events no longer queue on one counter). Counted in uint32,
 * added to the caller's int64 counts every CHUNK events. */
#define BLOCK 1024
#define SPARE 8
#define CHUNK ((Py_ssize_t)1 << 30)

/* counts[0..cells) += the tallies of cell indices (each < cells + SPARE); scratch: cells + SPARE */
static void flush_cells(uint32_t *scratch, Py_ssize_t cells, int64_t *counts)
{
    for (Py_ssize_t c = 0; c < cells; c++) {
        counts[c] += scratch[c];
    }
    memset(scratch, 0, (size_t)(cells + SPARE) * sizeof(uint32_t));
}

/* the cells of a block of events (size <= BLOCK) on one axis (y NULL) or two */
static void cells_of(const double *x, const double *y, Py_ssize_t size, const double *lo, const double *hi,
                     const double *scale, Py_ssize_t bins, uint32_t *cell)
{
    const double last = (double)(bins - 1), xlo = lo[0], xhi = hi[0], xscale = scale[0];
    const uint32_t outside = (uint32_t)(y ? bins * bins : bins);
    if (y == NULL) {
        for (Py_ssize_t i = 0; i < size; i++) {
            double a = x[i];
            int in = (a >= xlo) & (a <= xhi);
            uint32_t c = bin_of((a - xlo) * xscale, last);
            cell[i] = in ? c : outside + (uint32_t)(i % SPARE);
        }
        return;
    }
    const double ylo = lo[1], yhi = hi[1], yscale = scale[1];
    for (Py_ssize_t i = 0; i < size; i++) {
        double a = x[i], b = y[i];
        int in = (a >= xlo) & (a <= xhi) & (b >= ylo) & (b <= yhi);
        uint32_t c = bin_of((a - xlo) * xscale, last) * (uint32_t)bins + bin_of((b - ylo) * yscale, last);
        cell[i] = in ? c : outside + (uint32_t)(i % SPARE);
    }
}

/* the histogram of n events (x, y; y NULL for one dimension) into counts (bins or bins x bins,
 * int64); 0, or -1 when memory ran out */
static int count_events(const double *x, const double *y, Py_ssize_t n, const double *lo, const double *hi,
                        const double *scale, Py_ssize_t bins, int64_t *counts)
{
    Py_ssize_t cells = y ? bins * bins : bins;
    uint32_t *scratch = calloc((size_t)(cells + SPARE), sizeof(uint32_t));
    if (scratch == NULL) {
        return -1;
    }
    uint32_t cell[BLOCK];
    for (Py_ssize_t start = 0; start < n; start += BLOCK) {
        Py_ssize_t size = n - start < BLOCK ? n - start : BLOCK;
        cells_of(x + start, y ? y + start : NULL, size, lo, hi, scale, bins, cell);
        for (Py_ssize_t i = 0; i < size; i++) {
            scratch[cell[i]]++;
        }
        if ((start + size) % CHUNK == 0 || start + size == n) {
            flush_cells(scratch, cells, counts);
        }
    }
    free(scratch);
    return 0;
}

/* a histogram call's work: x (views[0]) and y (views[1], or NULL for one dimension) counted into
 * the last of the views without the GIL, the views released; None, or MemoryError */
static PyObject *counted(Py_buffer *views, int count, const double *y, const double *lo, const double *hi,
                         const double *scale, Py_ssize_t bins)
{
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = count_events(views[0].buf, y, views[0].len / 8, lo, hi, scale, bins, views[count - 1].buf);
    Py_END_ALLOW_THREADS
    release(views, count);
    return status < 0 ? PyErr_NoMemory() : (Py_INCREF(Py_None), Py_None);
}

static PyObject *histogram2d(PyObject *self, PyObject *args)
{
    PyObject *objects[3];
    Py_buffer views[3];
    double lo[2], hi[2], scale[2];
    Py_ssize_t bins;
    if (!PyArg_ParseTuple(args, "OOOddddddn", &objects[0], &objects[1], &objects[2], &lo[0], &hi[0], &scale[0],
                          &lo[1], &hi[1], &scale[1], &bins) ||
        get_buffers(objects, views, "ffI") < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8;
    if (views[1].len / 8 != n || bins < 1 || bins > 46340 || views[2].len / 8 != bins * bins) {
        return refuse(views, 3, "histogram2d: x and y differ in length or counts is not bins x bins");
    }
    return counted(views, 3, views[1].buf, lo, hi, scale, bins);
}

static PyObject *histogram1d(PyObject *self, PyObject *args)
{
    PyObject *objects[2];
    Py_buffer views[2];
    double lo, hi, scale;
    Py_ssize_t bins;
    if (!PyArg_ParseTuple(args, "OOdddn", &objects[0], &objects[1], &lo, &hi, &scale, &bins) ||
        get_buffers(objects, views, "fI") < 0) {
        return NULL;
    }
    if (views[1].len / 8 != bins || bins < 1 || bins > INT32_MAX - SPARE) {
        return refuse(views, 2, "histogram1d: counts is not of length bins");
    }
    return counted(views, 2, NULL, &lo, &hi, &scale, bins);
}

/* values[mask] into out (at least as long as the count of true); returns that count. Without a
 * branch per value: the write always happens, the position moves only for selected values. */
static PyObject *compress(PyObject *self, PyObject *args)
{
    PyObject *objects[3];
    Py_buffer views[3];
    if (array_arguments(args, "fbF", objects, views) < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8, capacity = views[2].len / 8, j = 0;
    if (views[1].len != n) {
        return refuse(views, 3, "compress: values and mask differ in length");
    }
    const double *v = views[0].buf;
    const uint8_t *m = views[1].buf;
    double *out = views[2].buf;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t i = 0;
    if (capacity > 0) {
        /* branch-free while a spare slot remains for the unconditional write */
        for (; i < n && j < capacity - 1; i++) {
            out[j] = v[i];
            j += m[i] != 0;
        }
    }
    for (; i < n; i++) {
        if (m[i]) {
            if (j < capacity) {
                out[j] = v[i];
            }
            j++;
        }
    }
    Py_END_ALLOW_THREADS
    if (j > capacity) {
        return refuse(views, 3, "compress: out is shorter than the selected values");
    }
    release(views, 3);
    return PyLong_FromSsize_t(j);
}

/* counts[k] = how many i have |x[i] - cx[k]| < wx and |y[i] - cy[k]| < wy, for every box k in one
 * pass over blocks of events (each block counted for every box while it is in the cache) */
static PyObject *count_in_boxes(PyObject *self, PyObject *args)
{
    PyObject *objects[5];
    Py_buffer views[5];
    double wx, wy;
    if (!PyArg_ParseTuple(args, "OOOOddO", &objects[0], &objects[1], &objects[2], &objects[3], &wx, &wy,
                          &objects[4]) ||
        get_buffers(objects, views, "ffffI") < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8, boxes = views[2].len / 8;
    if (views[1].len / 8 != n || views[3].len / 8 != boxes || views[4].len / 8 != boxes) {
        return refuse(views, 5, "count_in_boxes: x and y differ in length, or the centres and counts do");
    }
    const double *x = views[0].buf, *y = views[1].buf, *cx = views[2].buf, *cy = views[3].buf;
    int64_t *counts = views[4].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t start = 0; start < n; start += BLOCK) {
        Py_ssize_t size = n - start < BLOCK ? n - start : BLOCK;
        const double *xs = x + start, *ys = y + start;
        for (Py_ssize_t k = 0; k < boxes; k++) {
            const double bx = cx[k], by = cy[k];
            int64_t count = 0;
            for (Py_ssize_t i = 0; i < size; i++) {
                count += (fabs(xs[i] - bx) < wx) & (fabs(ys[i] - by) < wy);
            }
            counts[k] += count;
        }
    }
    Py_END_ALLOW_THREADS
    release(views, 5);
    Py_RETURN_NONE;
}

/* extremes(values, mask, out): out = [min, max over the finite values where mask, min, max over
 * the finite values where not, how many of each] (+inf/-inf when none). Of equal values (+0 and
 * -0) either may be reported. */
static PyObject *extremes(PyObject *self, PyObject *args)
{
    PyObject *objects[3];
    Py_buffer views[3];
    if (array_arguments(args, "fbF", objects, views) < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8;
    if (views[1].len != n || views[2].len / 8 != 6) {
        return refuse(views, 3, "extremes: values and mask differ in length, or out is not 6 long");
    }
    const double *v = views[0].buf;
    const uint8_t *m = views[1].buf;
    /* two interleaved sets of running extremes, kept in registers (no comparison waits for the
     * previous one); a value that is not finite or on the other side stands in as +-inf */
    double result[6];
    Py_BEGIN_ALLOW_THREADS
    double in_low0 = INFINITY, in_low1 = INFINITY, in_high0 = -INFINITY, in_high1 = -INFINITY;
    double out_low0 = INFINITY, out_low1 = INFINITY, out_high0 = -INFINITY, out_high1 = -INFINITY;
    Py_ssize_t held = 0, left = 0, i = 0;
#define EXTREMES_STEP(x, flag, in_low, in_high, out_low, out_high)                                              \
    do {                                                                                                      \
        int finite = (x) - (x) == 0, in = finite & ((flag) != 0), out = finite & ((flag) == 0);                \
        double a = in ? (x) : INFINITY, b = in ? (x) : -INFINITY;                                             \
        double c = out ? (x) : INFINITY, d = out ? (x) : -INFINITY;                                           \
        in_low = a < in_low ? a : in_low, in_high = b > in_high ? b : in_high;                                \
        out_low = c < out_low ? c : out_low, out_high = d > out_high ? d : out_high;                          \
        held += in, left += out;                                                                              \
    } while (0)
    for (; i + 2 <= n; i += 2) {
        double x0 = v[i], x1 = v[i + 1];
        EXTREMES_STEP(x0, m[i], in_low0, in_high0, out_low0, out_high0);
        EXTREMES_STEP(x1, m[i + 1], in_low1, in_high1, out_low1, out_high1);
    }
    for (; i < n; i++) {
        double x = v[i];
        EXTREMES_STEP(x, m[i], in_low0, in_high0, out_low0, out_high0);
    }
#undef EXTREMES_STEP
    result[0] = in_low1 < in_low0 ? in_low1 : in_low0, result[1] = in_high1 > in_high0 ? in_high1 : in_high0;
    result[2] = out_low1 < out_low0 ? out_low1 : out_low0, result[3] = out_high1 > out_high0 ? out_high1 : out_high0;
    result[4] = (double)held, result[5] = (double)left;
    Py_END_ALLOW_THREADS
    memcpy(views[2].buf, result, sizeof(result));
    release(views, 3);
    Py_RETURN_NONE;
}

/* --- order statistics ------------------------------------------------------------------------ */

static inline void swap(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* put the k-th smallest of v[0..n) at v[k], smaller-or-equal ones before it, greater-or-equal
 * after (values are finite). Quickselect with a median-of-three pivot and a three-way partition
 * (ties cost nothing); sorting takes over when the ranges stop shrinking (introselect). */
static void select_kth(double *v, Py_ssize_t n, Py_ssize_t k)
{
    Py_ssize_t low = 0, high = n; /* k lies in [low, high) */
    int budget = 64;
    while (high - low > 16) {
        if (--budget == 0) {
            qsort(v + low, (size_t)(high - low), sizeof(double), compare_doubles);
            return;
        }
        Py_ssize_t mid = low + (high - low) / 2;
        double a = v[low], b = v[mid], c = v[high - 1];
        double pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* v[low..lt) < pivot, v[lt..i) == pivot, v[gt..high) > pivot */
        Py_ssize_t lt = low, i = low, gt = high;
        while (i < gt) {
            if (v[i] < pivot) {
                swap(&v[lt++], &v[i++]);
            } else if (v[i] > pivot) {
                swap(&v[i], &v[--gt]);
            } else {
                i++;
            }
        }
        if (k < lt) {
            high = lt;
        } else if (k >= gt) {
            low = gt;
        } else {
            return;
        }
    }
    for (Py_ssize_t i = low + 1; i < high; i++) { /* insertion sort of the small rest */
        double t = v[i];
        Py_ssize_t j = i;
        while (j > low && v[j - 1] > t) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

#define BUCKETS 4096

/* the bucket of a value within [low, high]: (value - low) * per_unit truncated, at most the last */
static inline uint16_t bucket_of(double value, double low, double per_unit)
{
    double position = (value - low) * per_unit;
    position = position < BUCKETS - 1 ? position : BUCKETS - 1;
    return (uint16_t)(int32_t)position;
}

/* the minimum and maximum of v[0..n) (n > 0) into low and high; 0 when a value is NaN. Four
 * running minima and maxima, so that no comparison waits for the previous one (of equal values,
 * +0 and -0, either may be reported: the caller only subtracts them) */
static int value_range(const double *v, Py_ssize_t n, double *low, double *high)
{
    double lo[4] = {v[0], v[0], v[0], v[0]}, hi[4] = {v[0], v[0], v[0], v[0]};
    int finite = 1;
    Py_ssize_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (int k = 0; k < 4; k++) {
            double x = v[i + k];
            lo[k] = x < lo[k] ? x : lo[k];
            hi[k] = x > hi[k] ? x : hi[k];
            finite &= x == x; /* NaN passes the comparisons above silently */
        }
    }
    for (; i < n; i++) {
        lo[0] = v[i] < lo[0] ? v[i] : lo[0];
        hi[0] = v[i] > hi[0] ? v[i] : hi[0];
        finite &= v[i] == v[i];
    }
    for (int k = 1; k < 4; k++) {
        lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
        hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
    }
    *low = lo[0], *high = hi[0];
    return finite;
}

/* out[r] = the ranks[r]-th smallest value (0-based; ranks ascending, each < n). Returns 0; 1 when
 * a value is not finite or the span of the values is not (the caller then asks numpy); 2 when
 * memory ran out. The values are counted into BUCKETS buckets between their minimum and maximum
 * (a bucket index monotonic in the value; each value's bucket computed in one branch-free pass
 * and kept); the members of the buckets holding a wanted rank are gathered in one more pass, and
 * selected within their bucket. */
static int order_statistics_of(const double *v, Py_ssize_t n, const int64_t *ranks, Py_ssize_t n_ranks,
                               double *out)
{
    double low, high;
    if (!value_range(v, n, &low, &high) || !isfinite(high - low)) {
        return 1;
    }
    if (low == high) { /* every value equal (+0 and -0 among them, perhaps): the first, as numpy's */
        for (Py_ssize_t r = 0; r < n_ranks; r++) {
            out[r] = v[0];
        }
        return 0;
    }
    double per_unit = BUCKETS / (high - low);
    if (!isfinite(per_unit)) {
        return 1;
    }
    Py_ssize_t *ends = calloc(BUCKETS, sizeof(Py_ssize_t));
    int *slot = malloc(BUCKETS * sizeof(int));   /* a wanted bucket's place among the wanted, or -1 */
    int *wanted = malloc((size_t)n_ranks * sizeof(int));
    Py_ssize_t *fill = malloc((size_t)n_ranks * sizeof(Py_ssize_t));
    uint16_t *bucket = malloc((size_t)n * sizeof(uint16_t));
    if (ends == NULL || slot == NULL || wanted == NULL || fill == NULL || bucket == NULL) {
        free(ends), free(slot), free(wanted), free(fill), free(bucket);
        return 2;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        bucket[i] = bucket_of(v[i], low, per_unit);
    }
    if (n < ((Py_ssize_t)1 << 31)) { /* two interleaved tallies: a run of one bucket is not one chain */
        uint32_t tally[2 * BUCKETS] = {0};
        Py_ssize_t i = 0;
        for (; i + 2 <= n; i += 2) {
            tally[bucket[i]]++;
            tally[BUCKETS + bucket[i + 1]]++;
        }
        if (i < n) {
            tally[bucket[i]]++;
        }
        for (int b = 0; b < BUCKETS; b++) {
            ends[b] = (Py_ssize_t)tally[b] + tally[BUCKETS + b];
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            ends[bucket[i]]++;
        }
    }
    for (int b = 1; b < BUCKETS; b++) {
        ends[b] += ends[b - 1]; /* values in bucket b and below */
    }
    for (int b = 0; b < BUCKETS; b++) {
        slot[b] = -1;
    }
    int n_wanted = 0, b = 0;
    Py_ssize_t size = 0;
    for (Py_ssize_t r = 0; r < n_ranks; r++) { /* ranks ascend: so do their buckets */
        while (ends[b] <= ranks[r]) {
            b++;
        }
        if (slot[b] < 0) {
            Py_ssize_t start = b ? ends[b - 1] : 0;
            slot[b] = n_wanted;
            wanted[n_wanted] = b;
            fill[n_wanted++] = size; /* where this bucket's members go */
            size += ends[b] - start;
        }
    }
    double *members = malloc((size_t)(size + 1) * sizeof(double)); /* + 1: the unconditional write's spare */
    if (members == NULL) {
        free(ends), free(slot), free(wanted), free(fill), free(bucket);
        return 2;
    }
    if (n_wanted == 1) { /* one bucket (a median): gathered without a branch */
        const uint16_t only = (uint16_t)wanted[0];
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            members[k] = v[i];
            k += bucket[i] == only;
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            int s = slot[bucket[i]];
            if (s >= 0) {
                members[fill[s]++] = v[i];
            }
        }
    }
    free(bucket);
    Py_ssize_t r = 0, offset = 0;
    for (int w = 0; w < n_wanted; w++) {
        int bw = wanted[w];
        Py_ssize_t start = bw ? ends[bw - 1] : 0, count = ends[bw] - start, floor_rank = 0;
        double *in_bucket = members + offset;
        for (; r < n_ranks && ranks[r] < ends[bw]; r++) { /* this bucket's ranks: select on what is left */
            Py_ssize_t local = ranks[r] - start;
            select_kth(in_bucket + floor_rank, count - floor_rank, local - floor_rank);
            out[r] = in_bucket[local];
            floor_rank = local;
        }
        offset += count;
    }
    free(members), free(ends), free(slot), free(wanted), free(fill);
    return 0;
}

static PyObject *order_statistics(PyObject *self, PyObject *args)
{
    PyObject *objects[3];
    Py_buffer views[3];
    if (array_arguments(args, "fiF", objects, views) < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8, n_ranks = views[1].len / 8;
    const int64_t *ranks = views[1].buf;
    int valid = views[2].len / 8 == n_ranks && n > 0;
    for (Py_ssize_t r = 0; valid && r < n_ranks; r++) {
        valid = ranks[r] >= 0 && ranks[r] < n && (r == 0 || ranks[r] > ranks[r - 1]);
    }
    if (!valid) {
        return refuse(views, 3, "order_statistics: ranks must ascend within the values; out as long");
    }
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = order_statistics_of(views[0].buf, n, ranks, n_ranks, views[2].buf);
    Py_END_ALLOW_THREADS
    release(views, 3);
    if (status == 2) {
        return PyErr_NoMemory();
    }
    return PyBool_FromLong(status == 0);
}

/* --- the logicle table ------------------------------------------------------------------------- */

/* out[i] = the table interpolated at u[i] (u evenly spaced from u0, 1 / step = per_step), as
 * numpy's: position = (u - u0) * per_step; index = clip(position, 0, last) as int64;
 * fraction = position - index; out = table[index] + fraction * (table[index + 1] - table[index]).
 * outside[i] is set where position is not within [0, last + 1] (NaN included); returns how many. */
static PyObject *table_interpolate(PyObject *self, PyObject *args)
{
    PyObject *objects[4];
    Py_buffer views[4];
    double u0, per_step;
    if (!PyArg_ParseTuple(args, "OOddOO", &objects[0], &objects[1], &u0, &per_step, &objects[2], &objects[3]) ||
        get_buffers(objects, views, "ffFB") < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8, points = views[1].len / 8, missed = 0;
    if (views[2].len / 8 != n || views[3].len != n || points < 2) {
        return refuse(views, 4, "table_interpolate: out and outside must match u; the table needs 2 points");
    }
    const double *u = views[0].buf, *table = views[1].buf;
    double *out = views[2].buf;
    uint8_t *outside = views[3].buf;
    const double last = (double)(points - 2);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        double position = (u[i] - u0) * per_step;
        int in = position >= 0 && position <= last + 1;
        double clipped = position < 0 ? 0 : (position > last ? last : position);
        int64_t index = clipped == clipped ? (int64_t)clipped : 0;
        double fraction = position - (double)index;
        out[i] = table[index] + fraction * (table[index + 1] - table[index]);
        outside[i] = !in;
        missed += !in;
    }
    Py_END_ALLOW_THREADS
    release(views, 4);
    return PyLong_FromSsize_t(missed);
}

/* --- text ------------------------------------------------------------------------------------ */

/* the decimal digits of value at out (no terminator); returns how many characters */
static Py_ssize_t put_integer(int64_t value, char *out)
{
    char digits[24];
    int count = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    Py_ssize_t length = 0;
    if (value < 0) {
        out[length++] = '-';
    }
    while (count) {
        out[length++] = digits[--count];
    }
    return length;
}

/* json_integers(values, rows) -> str: int64 values as compact JSON, a list of rows lists when
 * rows > 0 (values: rows x columns), else one list: json.dumps(values.tolist(), separators=(",", ":")) */
static PyObject *json_integers(PyObject *self, PyObject *args)
{
    PyObject *object;
    Py_buffer view;
    Py_ssize_t rows;
    if (!PyArg_ParseTuple(args, "On", &object, &rows) || get_buffer(object, &view, 'i') < 0) {
        return NULL;
    }
    Py_ssize_t n = view.len / 8;
    if (rows < 0 || (rows > 0 && n % rows)) {
        return refuse(&view, 1, "json_integers: values do not split into that many rows");
    }
    Py_ssize_t columns = rows > 0 ? n / rows : n, lists = rows > 0 ? rows : 1;
    char *text = malloc((size_t)(n * 21 + lists * 3 + 3));
    if (text == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    const int64_t *values = view.buf;
    Py_ssize_t length = 0;
    if (rows > 0) {
        text[length++] = '[';
    }
    for (Py_ssize_t r = 0; r < lists; r++) {
        if (r) {
            text[length++] = ',';
        }
        text[length++] = '[';
        for (Py_ssize_t c = 0; c < columns; c++) {
            if (c) {
                text[length++] = ',';
            }
            length += put_integer(values[r * columns + c], text + length);
        }
        text[length++] = ']';
    }
    if (rows > 0) {
        text[length++] = ']';
    }
    PyBuffer_Release(&view);
    PyObject *result = PyUnicode_DecodeASCII(text, length, NULL);
    free(text);
    return result;
}

/* --- polylines -------------------------------------------------------------------------------- */

/* simplify(x, y, tolerance, keep): Ramer-Douglas-Peucker on the open polyline (x, y), marking in
 * keep (bool, zeroed by the caller) the vertices kept; as kernels.simplify's numpy loop: a vertex's
 * distance to the chord |cx * iy - cy * ix| / hypot(cx, cy) (its distance to the first point when
 * the chord has no length), the first farthest split off while farther than tolerance (NaN never). */
static PyObject *simplify(PyObject *self, PyObject *args)
{
    PyObject *objects[3];
    Py_buffer views[3];
    double tolerance;
    if (!PyArg_ParseTuple(args, "OOdO", &objects[0], &objects[1], &tolerance, &objects[2]) ||
        get_buffers(objects, views, "ffB") < 0) {
        return NULL;
    }
    Py_ssize_t n = views[0].len / 8;
    if (views[1].len / 8 != n || views[2].len != n) {
        return refuse(views, 3, "simplify: x, y and keep differ in length");
    }
    const double *x = views[0].buf, *y = views[1].buf;
    uint8_t *keep = views[2].buf;
    if (n == 0) {
        release(views, 3);
        Py_RETURN_NONE;
    }
    Py_ssize_t *stack = malloc((size_t)(2 * n + 2) * sizeof(Py_ssize_t)), top = 0;
    if (stack == NULL) {
        release(views, 3);
        return PyErr_NoMemory();
    }
    keep[0] = keep[n - 1] = 1;
    stack[top++] = 0, stack[top++] = n - 1;
    while (top > 0) {
        Py_ssize_t last = stack[--top], first = stack[--top];
        if (last - first < 2) {
            continue;
        }
        double cx = x[last] - x[first], cy = y[last] - y[first], length = hypot(cx, cy);
        Py_ssize_t worst = -1;
        double farthest = 0;
        for (Py_ssize_t i = first + 1; i < last; i++) {
            double ix = x[i] - x[first], iy = y[i] - y[first];
            double distance = length > 0 ? fabs(cx * iy - cy * ix) / length : hypot(ix, iy);
            if (distance != distance) { /* numpy's argmax stops at the first NaN, never farther */
                worst = -1;
                break;
            }
            if (worst < 0 || distance > farthest) {
                worst = i, farthest = distance;
            }
        }
        if (worst >= 0 && farthest > tolerance) {
            keep[worst] = 1;
            stack[top++] = first, stack[top++] = worst;
            stack[top++] = worst, stack[top++] = last;
        }
    }
    free(stack);
    release(views, 3);
    Py_RETURN_NONE;
}

/* --- the binned EM of mixture.fit_binned ------------------------------------------------------ */

#define PARAMS 6 /* per component: mean x, mean y, covariance xx, xy, yy, weight; or six coefficients */
#define VAR_FLOOR 1e-6
#define PI 3.141592653589793 /* numpy.pi */

/* function(*arguments, out=out) (out NULL: no out), the result as a new reference */
static PyObject *call_numpy(PyObject *function, PyObject *first, PyObject *second, PyObject *out)
{
    PyObject *positional = second ? PyTuple_Pack(2, first, second) : PyTuple_Pack(1, first);
    PyObject *keywords = out ? Py_BuildValue("{s:O}", "out", out) : NULL;
    PyObject *result = positional && (keywords || !out) ? PyObject_Call(function, positional, keywords) : NULL;
    Py_XDECREF(positional);
    Py_XDECREF(keywords);
    return result;
}

/* the same, for its side effect on out: 0, or -1 with the exception set */
static int call_into(PyObject *function, PyObject *first, PyObject *second, PyObject *out)
{
    PyObject *result = call_numpy(function, first, second, out);
    Py_XDECREF(result);
    return result ? 0 : -1;
}

/* a numpy scalar (or any number) as a double: 0, or -1 with the exception set */
static int as_double(PyObject *number, double *value)
{
    if (number == NULL) {
        return -1;
    }
    *value = PyFloat_AsDouble(number);
    Py_DECREF(number);
    return *value == -1.0 && PyErr_Occurred() ? -1 : 0;
}

/* Python's max(a, b) and min(a, b) of two floats (the first unless the second is strictly beyond) */
static inline double py_max(double a, double b)
{
    return b > a ? b : a;
}

static inline double py_min(double a, double b)
{
    return b < a ? b : a;
}

enum { FEATURES, COUNTS, PARAMETERS, BOX, STATE, COEF, LOGS, DENS, NORM, LOGNORM, SCALED, MOMENTS, ARRAYS };

/* em_fit(features, w, params, box, state, coef, logs, dens, norm, lognorm, scaled, moments, scaled_t,
 *        matmul, exp, log, iterations, tolerance) -> steps
 * The EM loop of mixture.fit_binned (its numpy loop: _em_steps) over n occupied bins and k
 * components, the same numbers bit for bit: numpy does what numpy did there (matrix products,
 * exp, log, the dot product and the pairwise sum, called from here), this code the arithmetic
 * Python did on floats and numpy's element-wise steps, in their order.
 * features: 6 x n (1, x, y, x^2, xy, y^2 of each bin's centre); w: n bin counts; params: k x 6,
 * updated in place; box: k x 4 bounds of the means (x low, x high, y low, y high), or empty; state:
 * [background weight (updated), background density, total count]. Scratch arrays: coef k x 6,
 * logs k, dens k x n, norm, lognorm and scaled (features x w / norm) n, 6 x n, moments k x 6;
 * scaled_t: scaled.T. matmul, exp, log: numpy's. */
static PyObject *em_fit(PyObject *self, PyObject *args)
{
    PyObject *objects[ARRAYS], *scaled_t, *matmul, *exp_function, *log_function;
    Py_buffer views[ARRAYS];
    Py_ssize_t iterations;
    double tolerance;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOOOOOOOnd", &objects[0], &objects[1], &objects[2], &objects[3],
                          &objects[4], &objects[5], &objects[6], &objects[7], &objects[8], &objects[9], &objects[10],
                          &objects[11], &scaled_t, &matmul, &exp_function, &log_function, &iterations, &tolerance) ||
        get_buffers(objects, views, "ffFfFFFFFFFF") < 0) {
        return NULL;
    }
    Py_ssize_t n = views[COUNTS].len / 8, k = views[PARAMETERS].len / 8 / PARAMS;
    int bounded = views[BOX].len > 0;
    if (views[FEATURES].len / 8 != PARAMS * n || views[PARAMETERS].len / 8 != PARAMS * k || k < 1 ||
        (bounded && views[BOX].len / 8 != 4 * k) || views[STATE].len / 8 != 3 || views[COEF].len / 8 != PARAMS * k ||
        views[LOGS].len / 8 != k || views[DENS].len / 8 != k * n || views[NORM].len / 8 != n ||
        views[LOGNORM].len / 8 != n || views[SCALED].len / 8 != PARAMS * n || views[MOMENTS].len / 8 != PARAMS * k) {
        return refuse(views, ARRAYS, "em_fit: an array of the wrong size");
    }
    const double *features = views[FEATURES].buf, *w = views[COUNTS].buf, *box = views[BOX].buf;
    double *params = views[PARAMETERS].buf, *state = views[STATE].buf, *coef = views[COEF].buf;
    double *logs = views[LOGS].buf, *dens = views[DENS].buf, *norm = views[NORM].buf, *scaled = views[SCALED].buf;
    const double *moments = views[MOMENTS].buf;
    double bg_weight = state[0], bg_density = state[1], total = state[2], previous = -INFINITY;
    Py_ssize_t step = 0;
    int failed = 0;
    for (; step < iterations && !failed; step++) {
        /* mixture._coefficients: log(w / (2 pi sqrt(det))) by numpy, the rest as Python's floats */
        for (Py_ssize_t j = 0; j < k; j++) {
            const double *q = params + j * PARAMS;
            double det = q[2] * q[4] - q[3] * q[3];
            if (!(det > 0)) {
                release(views, ARRAYS);
                PyErr_SetString(PyExc_ArithmeticError, "a component's covariance is not positive definite");
                return NULL;
            }
            logs[j] = q[5] / (2 * PI * sqrt(det));
        }
        if (call_into(log_function, objects[LOGS], NULL, objects[LOGS]) < 0) {
            failed = 1;
            break;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            const double *q = params + j * PARAMS;
            double mx = q[0], my = q[1], c00 = q[2], c01 = q[3], c11 = q[4];
            double det = c00 * c11 - c01 * c01;
            double a = -0.5 * c11 / det, c = -0.5 * c00 / det, b = c01 / det;
            double *row = coef + j * PARAMS;
            row[0] = a * mx * mx + b * mx * my + c * my * my + logs[j];
            row[1] = -2 * a * mx - b * my;
            row[2] = -b * mx - 2 * c * my;
            row[3] = a, row[4] = b, row[5] = c;
        }
        /* dens = exp(coef @ features); norm = maximum(dens.sum(axis=0) + bg, 1e-300) */
        if (call_into(matmul, objects[COEF], objects[FEATURES], objects[DENS]) < 0 ||
            call_into(exp_function, objects[DENS], NULL, objects[DENS]) < 0) {
            failed = 1;
            break;
        }
        const double background = bg_weight * bg_density;
        for (Py_ssize_t b = 0; b < n; b++) {
            double sum = dens[b];
            for (Py_ssize_t j = 1; j < k; j++) {
                sum += dens[j * n + b];
            }
            sum += background;
            norm[b] = sum >= 1e-300 || sum != sum ? sum : 1e-300; /* numpy.maximum keeps NaN */
        }
        /* mean log-likelihood: w @ log(norm) / total */
        double log_likelihood;
        if (call_into(log_function, objects[NORM], NULL, objects[LOGNORM]) < 0 ||
            as_double(PyNumber_MatrixMultiply(objects[COUNTS], objects[LOGNORM]), &log_likelihood) < 0) {
            failed = 1;
            break;
        }
        log_likelihood /= total;
        if (log_likelihood - previous < tolerance) {
            break;
        }
        previous = log_likelihood;
        /* scale = w / norm (kept in lognorm); moments = dens @ (features * scale).T */
        double *scale = views[LOGNORM].buf, scale_sum;
        for (Py_ssize_t b = 0; b < n; b++) {
            scale[b] = w[b] / norm[b];
        }
        for (Py_ssize_t f = 0; f < PARAMS; f++) {
            for (Py_ssize_t b = 0; b < n; b++) {
                scaled[f * n + b] = features[f * n + b] * scale[b];
            }
        }
        if (call_into(matmul, objects[DENS], scaled_t, objects[MOMENTS]) < 0 ||
            as_double(PyObject_CallMethod(objects[LOGNORM], "sum", NULL), &scale_sum) < 0) {
            failed = 1;
            break;
        }
        bg_weight = bg_weight * bg_density * scale_sum / total;
        for (Py_ssize_t j = 0; j < k; j++) {
            const double *m = moments + j * PARAMS;
            double *q = params + j * PARAMS;
            double n_k = py_max(m[0], 1e-12);
            double ex = m[1] / n_k, ey = m[2] / n_k, mx = ex, my = ey;
            if (bounded) {
                const double *bx = box + j * 4;
                mx = py_min(py_max(mx, bx[0]), bx[1]);
                my = py_min(py_max(my, bx[2]), bx[3]);
            }
            q[0] = mx, q[1] = my;
            q[2] = py_max(m[3] / n_k - 2 * mx * ex + mx * mx, VAR_FLOOR);
            q[3] = m[4] / n_k - mx * ey - my * ex + mx * my;
            q[4] = py_max(m[5] / n_k - 2 * my * ey + my * my, VAR_FLOOR);
            q[5] = n_k / total;
        }
    }
    state[0] = bg_weight;
    release(views, ARRAYS);
    return failed ? NULL : PyLong_FromSsize_t(step);
}

static PyMethodDef methods[] = {
    {"histogram2d", histogram2d, METH_VARARGS,
     "histogram2d(x, y, counts, x_low, x_high, x_scale, y_low, y_high, y_scale, bins): add each (x, y) "
     "within the closed ranges to counts (int64, bins * bins)"},
    {"histogram1d", histogram1d, METH_VARARGS,
     "histogram1d(x, counts, low, high, scale, bins): add each x within [low, high] to counts (int64, bins)"},
    {"compress", compress, METH_VARARGS, "compress(values, mask, out) -> n: values[mask] into out[:n]"},
    {"count_in_boxes", count_in_boxes, METH_VARARGS,
     "count_in_boxes(x, y, cx, cy, wx, wy, counts): add to counts[k] the events with |x - cx[k]| < wx and "
     "|y - cy[k]| < wy"},
    {"extremes", extremes, METH_VARARGS,
     "extremes(values, mask, out): out = [min, max of the finite values where mask, min, max where not, their counts]"},
    {"order_statistics", order_statistics, METH_VARARGS,
     "order_statistics(values, ranks, out) -> bool: the values at ascending 0-based ranks; False when a "
     "value or the span is not finite (out not set)"},
    {"table_interpolate", table_interpolate, METH_VARARGS,
     "table_interpolate(u, table, u0, per_step, out, outside) -> n outside the table"},
    {"json_integers", json_integers, METH_VARARGS,
     "json_integers(values, rows) -> str: int64 values as compact JSON (rows lists of lists when rows > 0)"},
    {"simplify", simplify, METH_VARARGS,
     "simplify(x, y, tolerance, keep): mark in keep the vertices Ramer-Douglas-Peucker keeps of the polyline"},
    {"em_fit", em_fit, METH_VARARGS,
     "em_fit(features, w, params, box, state, coef, logs, dens, norm, lognorm, scaled, moments, scaled_t, matmul, "
     "exp, log, iterations, tolerance) -> steps: the binned EM of mixture.fit_binned, parameters and background "
     "weight updated in place"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_kernels",
    .m_doc = "assaykit's compiled passes over events",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
