/* evaluate.c -- the paper's evaluation protocol: score every clip, give each
 * clip score to its frames, align with the frame ground truth, frame metrics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_int.h"
#include "internal.h"

/* Clips per forward pass: bounds the scratch (batch x F input rows and
 * batch x H hidden units) whatever the video lengths.  Short videos are
 * gathered into one batch: test sets hold many videos of a few dozen clips,
 * and one GEMM per video would spend its time packing W1 rather than
 * multiplying (measured with F = 2048: 3,000 clips/s per video, about four
 * times that batched). */
#define EVAL_BATCH 512

/* Sigmoid scores of every clip of every video, videos one after another in
 * `scores` (sum of n_clips floats).  Rows are gathered across videos into
 * batches of EVAL_BATCH; a batch that falls inside one video is used in
 * place without a copy. */
static void score_all_clips(const arnet_model *model, const arnet_dataset *ds, float *xbuf,
                            float *hidden, float *logits, float *scores)
{
    const size_t F = model->feature_dim;
    size_t vi = 0, c = 0, out = 0;
    while (vi < ds->n_videos) {
        const arnet__video *v = &ds->videos[vi];
        const float *x;
        size_t nb = 0;
        if (v->features && v->n_clips - c >= EVAL_BATCH) {
            x = v->features + c * F;
            nb = EVAL_BATCH;
            c += nb;
            if (c == v->n_clips) {
                vi++;
                c = 0;
            }
        } else {
            while (vi < ds->n_videos && nb < EVAL_BATCH) {
                v = &ds->videos[vi];
                size_t take = v->n_clips - c;
                if (take > EVAL_BATCH - nb)
                    take = EVAL_BATCH - nb;
                arnet__video_rows(v, F, c, take, xbuf + nb * F);
                nb += take;
                c += take;
                if (c == v->n_clips) {
                    arnet__video_release(v);
                    vi++;
                    c = 0;
                }
            }
            x = xbuf;
        }
        arnet__model_forward(model, x, nb, hidden, logits, 1);
        for (size_t i = 0; i < nb; i++)
            scores[out++] = arnet__sigmoid(logits[i]);
    }
}

void arnet_eval_options_init(arnet_eval_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->struct_size = sizeof *opt;
    opt->gt_rule = ARNET_GT_TRUNCATE;
    opt->clip_frames = 16;
    opt->far_threshold = 0.5f;
}

void arnet_eval_result_init(arnet_eval_result *res)
{
    if (!res)
        return;
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
    res->auc = res->ap = res->pr_auc = res->far = res->auc_abnormal = NAN;
    res->gt_rule = ARNET_GT_TRUNCATE;
}

void arnet_eval_result_free(arnet_eval_result *res)
{
    if (!res || res->struct_size < ARNET__MIN_arnet_eval_result)
        return;
    for (size_t i = 0; i < res->n_per_video; i++)
        free((char *)res->per_video[i].name);
    free(res->per_video);
    res->per_video = NULL;
    res->n_per_video = 0;
}

int arnet_evaluate(const arnet_model *model, const arnet_dataset *dataset,
                   arnet_eval_result *res)
{
    return arnet_evaluate_ex(model, dataset, NULL, res);
}

/* Metrics over a subset that may hold one class only: NaN then, as the
 * protocol asks for "not computable" rather than a failed evaluation. */
static int metrics_or_nan(const float *s, const uint8_t *y, size_t n, double *auc, double *ap,
                          double *pr)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += y[i] != 0;
    if (n == 0 || pos == 0 || pos == n) {
        if (auc)
            *auc = NAN;
        if (ap)
            *ap = NAN;
        if (pr)
            *pr = NAN;
        return ARNET_OK;
    }
    return arnet__binary_metrics("arnet_evaluate", s, y, n, auc, ap, pr);
}

/* Frames a video contributes under the rule, or an error for a video that
 * cannot be evaluated. */
static int video_frames(const arnet__video *v, const arnet_eval_options *opt, size_t *frames)
{
    size_t clip_frames;
    if (!arnet__mul_size(v->n_clips, opt->clip_frames, &clip_frames))
        return arnet__error(ARNET_E_INVALID, "arnet_evaluate: video '%s': %zu clips x %u frames "
                            "overflows", v->name, v->n_clips, opt->clip_frames);
    int has_gt = v->n_frames > 0 && v->frame_labels != NULL;
    if (!has_gt) {
        if (v->label != 0)
            return arnet__error(ARNET_E_INVALID,
                                "arnet_evaluate: anomalous video '%s' has no frame ground "
                                "truth (only normal videos may omit it)",
                                v->name);
        *frames = clip_frames; /* every frame of a normal video is normal */
        return ARNET_OK;
    }
    if (opt->gt_rule == ARNET_GT_TRUNCATE)
        *frames = v->n_frames < clip_frames ? v->n_frames : clip_frames;
    else
        *frames = clip_frames;
    return ARNET_OK;
}

/* Label of frame f; only PAD_LAST reaches past the ground truth, which then
 * repeats its last label (the RTFM rule). */
static uint8_t frame_label(const arnet__video *v, size_t f)
{
    if (!v->frame_labels || v->n_frames == 0)
        return 0;
    if (f < v->n_frames)
        return v->frame_labels[f] != 0;
    return v->frame_labels[v->n_frames - 1] != 0;
}

int arnet_evaluate_ex(const arnet_model *model, const arnet_dataset *dataset,
                      const arnet_eval_options *opt_in, arnet_eval_result *res)
{
    if (!model || !dataset || !res)
        return arnet__error(ARNET_E_INVALID, "arnet_evaluate: %s is NULL",
                            !model ? "model" : !dataset ? "dataset" : "res");
    int rc = ARNET__STRUCT_CHECK("arnet_evaluate", arnet_eval_result, res);
    if (rc)
        return rc;
    arnet_eval_options opt;
    arnet_eval_options_init(&opt);
    if (opt_in) {
        rc = ARNET__STRUCT_IN("arnet_evaluate", arnet_eval_options, &opt, opt_in);
        if (rc)
            return rc;
    }
    if (opt.gt_rule != ARNET_GT_TRUNCATE && opt.gt_rule != ARNET_GT_PAD_LAST)
        return arnet__error(ARNET_E_INVALID,
                            "arnet_evaluate: opt.gt_rule is %d (ARNET_GT_TRUNCATE or "
                            "ARNET_GT_PAD_LAST)",
                            opt.gt_rule);
    if (opt.clip_frames == 0)
        return arnet__error(ARNET_E_INVALID, "arnet_evaluate: opt.clip_frames is 0");
    if (!isfinite(opt.far_threshold))
        return arnet__error(ARNET_E_INVALID, "arnet_evaluate: opt.far_threshold is not finite");
    if (dataset->n_videos == 0)
        return arnet__error(ARNET_E_INVALID, "arnet_evaluate: the data set has no videos");
    if (dataset->feature_dim != model->feature_dim)
        return arnet__error(ARNET_E_SHAPE,
                            "arnet_evaluate: data set features have %u values, the model "
                            "expects %u",
                            dataset->feature_dim, model->feature_dim);

    /* Layout: anomalous videos' frames first, so "anomalous videos only" is
     * a prefix of the arrays and needs no copy; overall metrics do not
     * depend on the order. */
    size_t nv = dataset->n_videos;
    size_t *offset = arnet__alloc(nv, sizeof *offset, "evaluation offsets");
    size_t *count = arnet__alloc(nv, sizeof *count, "evaluation frame counts");
    if (!offset || !count) {
        free(offset);
        free(count);
        return ARNET_E_NOMEM;
    }
    size_t total = 0, total_abn = 0, total_clips = 0;
    rc = ARNET_OK;
    for (size_t i = 0; i < nv; i++)
        total_clips += dataset->videos[i].n_clips; /* each fits in memory: no overflow */
    for (int pass = 1; pass >= 0 && rc == ARNET_OK; pass--) {
        for (size_t i = 0; i < nv; i++) {
            const arnet__video *v = &dataset->videos[i];
            if ((v->label != 0) != (pass == 1) || v->crop > 0)
                continue;
            rc = video_frames(v, &opt, &count[i]);
            if (rc != ARNET_OK)
                break;
            offset[i] = total;
            if (!arnet__add_size(total, count[i], &total)) {
                rc = arnet__error(ARNET_E_INVALID, "arnet_evaluate: frame count overflows");
                break;
            }
        }
        if (pass == 1)
            total_abn = total;
    }
    float *fs = NULL, *hidden = NULL, *logits = NULL, *xbuf = NULL, *clip_scores = NULL;
    uint8_t *fl = NULL;
    arnet_video_result *pv = NULL;
    if (rc != ARNET_OK)
        goto done;

    /* Scores as float and labels as bytes: 5 bytes a frame, plus the 8 the
     * metrics' sort needs, for tens of millions of frames. */
    fs = arnet__alloc(total ? total : 1, sizeof *fs, "evaluation frame scores");
    fl = arnet__alloc(total ? total : 1, sizeof *fl, "evaluation frame labels");
    hidden = arnet__alloc(EVAL_BATCH, (size_t)model->hidden_dim * sizeof(float),
                          "evaluation hidden layer");
    logits = arnet__alloc(EVAL_BATCH, sizeof *logits, "evaluation clip scores");
    xbuf = arnet__alloc(EVAL_BATCH, (size_t)model->feature_dim * sizeof(float),
                        "evaluation input batch");
    clip_scores = arnet__alloc(total_clips ? total_clips : 1, sizeof *clip_scores,
                               "evaluation clip scores");
    pv = arnet__calloc(nv, sizeof *pv, "per-video results");
    if (!fs || !fl || !hidden || !logits || !xbuf || !clip_scores || !pv) {
        rc = ARNET_E_NOMEM;
        goto done;
    }
    score_all_clips(model, dataset, xbuf, hidden, logits, clip_scores);
    /* ARNET_CROP_EACH: a video's crops are consecutive entries; each clip's
     * score is the mean of its crops' scores (summed in double, crop 0
     * first), written over crop 0's scores, and the video is counted once. */
    size_t n_out = 0, n_abn = 0;
    const float *cs = clip_scores;
    for (size_t i = 0; i < nv; i++) {
        const arnet__video *v = &dataset->videos[i];
        if (v->crop > 0) {
            cs += v->n_clips;
            continue;
        }
        if (v->group > 1) {
            float *w = (float *)cs;
            for (size_t c = 0; c < v->n_clips; c++) {
                double sum = 0.0;
                for (size_t k = 0; k < v->group; k++)
                    sum += cs[k * v->n_clips + c];
                w[c] = (float)(sum / (double)v->group);
            }
        }
        n_abn += v->label != 0;
        arnet_video_result *r = &pv[n_out++];
        r->struct_size = sizeof *r;
        r->name = arnet__strdup(v->name ? v->name : "");
        if (!r->name) {
            rc = ARNET_E_NOMEM;
            goto done;
        }
        r->label = v->label;
        r->n_clips = v->n_clips;
        r->n_frames = count[i];
        float *vs = fs + offset[i];
        uint8_t *vl = fl + offset[i];
        double sum = 0.0;
        float mx = -INFINITY;
        for (size_t c = 0; c < v->n_clips; c++) {
            float s = cs[c];
            sum += s;
            mx = s > mx ? s : mx;
            size_t f0 = c * opt.clip_frames;
            for (size_t f = f0; f < f0 + opt.clip_frames && f < count[i]; f++)
                vs[f] = s;
        }
        cs += v->n_clips;
        r->max_score = mx;
        r->mean_score = (float)(sum / (double)v->n_clips);
        size_t normal = 0, alarms = 0;
        for (size_t f = 0; f < count[i]; f++) {
            vl[f] = frame_label(v, f);
            if (!vl[f]) {
                normal++;
                alarms += vs[f] >= opt.far_threshold;
            }
        }
        r->far = normal ? (double)alarms / (double)normal : NAN;
        rc = metrics_or_nan(vs, vl, count[i], &r->auc, NULL, NULL);
        if (rc != ARNET_OK)
            goto done;
    }

    double auc, ap, pr, auc_abn;
    rc = metrics_or_nan(fs, fl, total, &auc, &ap, &pr);
    if (rc == ARNET_OK)
        rc = metrics_or_nan(fs, fl, total_abn, &auc_abn, NULL, NULL);
    if (rc != ARNET_OK)
        goto done;
    /* FAR counts every frame of the normal videos (the suffix), whatever
     * their ground truth says: the paper's definition. */
    size_t alarms = 0;
    for (size_t f = total_abn; f < total; f++)
        alarms += fs[f] >= opt.far_threshold;

    arnet_eval_result_free(res);
    arnet_eval_result full;
    arnet_eval_result_init(&full);
    full.auc = auc;
    full.ap = ap;
    full.pr_auc = pr;
    full.auc_abnormal = auc_abn;
    full.far = total > total_abn ? (double)alarms / (double)(total - total_abn) : NAN;
    full.frames = total;
    full.videos = n_out;
    full.anomalous_videos = n_abn;
    full.gt_rule = opt.gt_rule;
    full.n_per_video = n_out;
    full.per_video = pv;
    ARNET__STRUCT_OUT(arnet_eval_result, res, &full);
    pv = NULL;

done:
    if (pv) {
        for (size_t i = 0; i < nv; i++)
            free((char *)pv[i].name);
        free(pv);
    }
    free(fs);
    free(fl);
    free(hidden);
    free(logits);
    free(xbuf);
    free(clip_scores);
    free(offset);
    free(count);
    return rc;
}
