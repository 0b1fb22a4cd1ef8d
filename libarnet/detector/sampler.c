/* sampler.c -- which videos and which clips one training step sees: videos of
 * each class drawn without replacement inside the step, long videos
 * resampled (anomalous) or cropped (normal) to max_clips (docs/method.md). */
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

struct arnet__sampler {
    const arnet_dataset *ds;
    size_t n_videos_seen; /* data set size at creation */
    uint32_t want[2];     /* videos per step: normal, anomalous */
    uint32_t max_clips;
    uint32_t *pool[2];    /* data set indices of each class, in order */
    size_t pool_size[2];
    uint32_t *work;       /* scratch for one class's partial shuffle */
    size_t max_rows;
};

static const char *const CLASS_NAME[2] = {"normal", "anomalous"};
static const char *const COUNT_NAME[2] = {"normal_per_batch", "anomalous_per_batch"};

static size_t capped(const arnet__video *v, uint32_t max_clips)
{
    return v->n_clips < max_clips ? v->n_clips : max_clips;
}

static int cmp_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Rows of the largest batch: the `want` longest (capped) videos of each
 * class.  Usually far below (normal + anomalous) * max_clips. */
static int compute_max_rows(arnet__sampler *s)
{
    size_t total = 0;
    for (int c = 0; c < 2; c++) {
        size_t n = s->pool_size[c];
        if (n == 0)
            continue;
        size_t *len = arnet__alloc(n, sizeof *len, "sampler video lengths");
        if (!len)
            return ARNET_E_NOMEM;
        for (size_t i = 0; i < n; i++)
            len[i] = capped(&s->ds->videos[s->pool[c][i]], s->max_clips);
        qsort(len, n, sizeof *len, cmp_desc);
        for (size_t i = 0; i < s->want[c]; i++)
            total += len[i];
        free(len);
    }
    s->max_rows = total;
    return ARNET_OK;
}

int arnet__sampler_create(const arnet_dataset *ds, uint32_t n_normal, uint32_t n_anomalous,
                          uint32_t max_clips, arnet__sampler **out)
{
    uint32_t want[2] = {n_normal, n_anomalous};
    for (int c = 0; c < 2; c++)
        if (ds->n_label[c] < want[c])
            return arnet__error(ARNET_E_INVALID,
                                "the training set has %zu %s video%s, fewer than %s = %u "
                                "(videos drawn per step without replacement)",
                                ds->n_label[c], CLASS_NAME[c], ds->n_label[c] == 1 ? "" : "s",
                                COUNT_NAME[c], want[c]);
    if (ds->n_videos > UINT32_MAX)
        return arnet__error(ARNET_E_INVALID, "the training set has more than 2^32 videos");
    arnet__sampler *s = arnet__calloc(1, sizeof *s, "sampler");
    if (!s)
        return ARNET_E_NOMEM;
    s->ds = ds;
    s->n_videos_seen = ds->n_videos;
    s->want[0] = n_normal;
    s->want[1] = n_anomalous;
    s->max_clips = max_clips;
    size_t largest = 1;
    for (int c = 0; c < 2; c++) {
        s->pool_size[c] = ds->n_label[c];
        if (s->pool_size[c] > largest)
            largest = s->pool_size[c];
        s->pool[c] = arnet__alloc(s->pool_size[c] ? s->pool_size[c] : 1, sizeof(uint32_t),
                                  "sampler pool");
        if (!s->pool[c]) {
            arnet__sampler_free(s);
            return ARNET_E_NOMEM;
        }
    }
    s->work = arnet__alloc(largest, sizeof(uint32_t), "sampler scratch");
    if (!s->work) {
        arnet__sampler_free(s);
        return ARNET_E_NOMEM;
    }
    size_t fill[2] = {0, 0};
    for (size_t i = 0; i < ds->n_videos; i++) {
        if (ds->videos[i].n_clips > UINT32_MAX) {
            arnet__sampler_free(s);
            return arnet__error(ARNET_E_INVALID, "training video %s has %zu clips (at most "
                                "2^32 - 1)", ds->videos[i].name, ds->videos[i].n_clips);
        }
        int c = ds->videos[i].label ? 1 : 0;
        s->pool[c][fill[c]++] = (uint32_t)i;
    }
    int rc = compute_max_rows(s);
    if (rc) {
        arnet__sampler_free(s);
        return rc;
    }
    *out = s;
    return ARNET_OK;
}

void arnet__sampler_free(arnet__sampler *s)
{
    if (!s)
        return;
    free(s->pool[0]);
    free(s->pool[1]);
    free(s->work);
    free(s);
}

size_t arnet__sampler_max_rows(const arnet__sampler *s) { return s->max_rows; }

int arnet__sampler_check(const arnet__sampler *s)
{
    if (s->ds->n_videos != s->n_videos_seen)
        return arnet__error(ARNET_E_STATE,
                            "the training set changed (%zu videos, %zu when the trainer was "
                            "created): create a new trainer",
                            s->ds->n_videos, s->n_videos_seen);
    return ARNET_OK;
}

/* Rows for one video: all clips, or max_clips of them. */
static size_t draw_clips(const arnet__video *v, uint32_t max_clips, arnet__rng *r,
                         uint32_t *clips)
{
    size_t T = v->n_clips, M = max_clips;
    if (T <= M) {
        for (size_t j = 0; j < T; j++)
            clips[j] = (uint32_t)j;
        return T;
    }
    if (v->label) {
        /* Bin b is [floor(b T / M), floor((b + 1) T / M)): M equal bins
         * over the whole video, each at least one clip long as T > M. */
        for (size_t b = 0; b < M; b++) {
            uint64_t lo = (uint64_t)b * T / M, hi = (uint64_t)(b + 1) * T / M;
            clips[b] = (uint32_t)(lo + arnet__rng_below(r, hi - lo));
        }
    } else {
        uint64_t start = arnet__rng_below(r, (uint64_t)(T - M + 1));
        for (size_t j = 0; j < M; j++)
            clips[j] = (uint32_t)(start + j);
    }
    return M;
}

size_t arnet__sampler_draw(arnet__sampler *s, arnet__rng *r, arnet__pick *picks,
                           uint32_t *clips)
{
    /* Videos first (normal then anomalous), each by a partial Fisher-Yates
     * over the class's pool reset to its original order, so a step's draw
     * depends on the generator state alone (what a checkpoint stores). */
    size_t n_picks = 0;
    for (int c = 0; c < 2; c++) {
        size_t n = s->pool_size[c];
        memcpy(s->work, s->pool[c], n * sizeof(uint32_t));
        for (size_t i = 0; i < s->want[c]; i++) {
            size_t j = i + (size_t)arnet__rng_below(r, n - i);
            uint32_t t = s->work[i];
            s->work[i] = s->work[j];
            s->work[j] = t;
            picks[n_picks++].video = s->work[i];
        }
    }
    size_t rows = 0;
    for (size_t i = 0; i < n_picks; i++) {
        const arnet__video *v = &s->ds->videos[picks[i].video];
        size_t n = draw_clips(v, s->max_clips, r, clips + rows);
        picks[i].n_rows = (uint32_t)n;
        rows += n;
    }
    return rows;
}
