/* eval_out.c -- how the arnet program shows an evaluation: the terminal
 * table, the JSON object, and the per-video score plots (SVG + index page)
 * that people look at before they trust a number.  Shared by eval, train
 * and demo. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *gt_rule_name(int rule)
{
    return rule == ARNET_GT_PAD_LAST ? "pad-last" : "truncate";
}

static void json_number(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

int cli_eval_write_json(FILE *f, const arnet_eval_result *r, const char *model_path,
                        const char *test_path)
{
    fputs("{", f);
    if (model_path) {
        fputs("\"model\": ", f);
        cli_json_string(f, model_path);
        fputs(", ", f);
    }
    if (test_path) {
        fputs("\"test\": ", f);
        cli_json_string(f, test_path);
        fputs(", ", f);
    }
    fputs("\"auc\": ", f);
    json_number(f, r->auc);
    fputs(", \"ap\": ", f);
    json_number(f, r->ap);
    fputs(", \"pr_auc\": ", f);
    json_number(f, r->pr_auc);
    fputs(", \"far\": ", f);
    json_number(f, r->far);
    fputs(", \"auc_abnormal\": ", f);
    json_number(f, r->auc_abnormal);
    fprintf(f, ", \"frames\": %llu, \"videos\": %llu, \"anomalous_videos\": %llu",
            (unsigned long long)r->frames, (unsigned long long)r->videos,
            (unsigned long long)r->anomalous_videos);
    fprintf(f, ", \"gt_rule\": \"%s\", \"per_video\": [", gt_rule_name(r->gt_rule));
    for (size_t i = 0; i < r->n_per_video; i++) {
        const arnet_video_result *v = &r->per_video[i];
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
        cli_json_string(f, v->name);
        fprintf(f, ", \"label\": %d, \"clips\": %zu, \"frames\": %zu, \"auc\": ", v->label,
                v->n_clips, v->n_frames);
        json_number(f, v->auc);
        fputs(", \"far\": ", f);
        json_number(f, v->far);
        fputs(", \"max_score\": ", f);
        json_number(f, v->max_score);
        fputs(", \"mean_score\": ", f);
        json_number(f, v->mean_score);
        fputs("}", f);
    }
    fputs(r->n_per_video ? "\n]}\n" : "]}\n", f);
    return ferror(f) ? -1 : 0;
}

static void pct(FILE *f, const char *label, double v, const char *note)
{
    if (isfinite(v))
        fprintf(f, "  %-22s %8.2f %%%s\n", label, 100.0 * v, note);
    else
        fprintf(f, "  %-22s      n/a%s\n", label, note);
}

void cli_eval_print_table(FILE *f, const arnet_eval_result *r, int per_video)
{
    fprintf(f, "frame-level results over %llu videos (%llu anomalous), %llu frames,\n"
               "ground truth aligned by the %s rule:\n",
            (unsigned long long)r->videos, (unsigned long long)r->anomalous_videos,
            (unsigned long long)r->frames, gt_rule_name(r->gt_rule));
    pct(f, "ROC AUC", r->auc, "");
    pct(f, "AUC, anomalous only", r->auc_abnormal, "");
    pct(f, "average precision", r->ap, "   (sklearn)");
    pct(f, "PR area", r->pr_auc, "   (trapezoidal, RTFM's \"AP\")");
    pct(f, "false alarm rate", r->far, "   (normal-video frames >= threshold)");
    if (!per_video)
        return;
    fprintf(f, "\n  %-40s %5s %7s %8s %8s %8s %8s\n", "video", "label", "clips", "AUC %",
            "FAR %", "max", "mean");
    for (size_t i = 0; i < r->n_per_video; i++) {
        const arnet_video_result *v = &r->per_video[i];
        const char *name = v->name;
        size_t len = strlen(name);
        if (len > 40)
            name += len - 40;
        fprintf(f, "  %-40s %5d %7zu ", name, v->label, v->n_clips);
        if (isfinite(v->auc))
            fprintf(f, "%8.2f ", 100.0 * v->auc);
        else
            fprintf(f, "%8s ", "-");
        if (isfinite(v->far))
            fprintf(f, "%8.2f ", 100.0 * v->far);
        else
            fprintf(f, "%8s ", "-");
        fprintf(f, "%8.4f %8.4f\n", v->max_score, v->mean_score);
    }
}

size_t cli_file_stem(const char *path, const char **base)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t len = strlen(b);
    if (len > 4 && !strcmp(b + len - 4, ".npy"))
        len -= 4;
    *base = b;
    return len;
}

int cli_mkdir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0)
        return 0;
    if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (errno == EEXIST)
        errno = ENOTDIR;
    return -1;
}

int cli_write_file(const char *cmd, const char *path, int (*fill)(FILE *, void *), void *ctx)
{
    /* Built in memory, then written by the library's one atomic writer
     * (same temporary names, fsync rule and file mode as everything else). */
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) {
        fprintf(stderr, "arnet %s: %s: out of memory\n", cmd, path);
        return -1;
    }
    int ok = fill(f, ctx) == 0 && !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "arnet %s: cannot write %s: out of memory\n", cmd, path);
        free(buf);
        return -1;
    }
    int rc = arnet_write_file(path, buf, size);
    free(buf);
    if (rc != ARNET_OK) {
        /* The library's message names the path, the step and the reason. */
        fprintf(stderr, "arnet %s: %s\n", cmd, arnet_last_error());
        return -1;
    }
    return 0;
}

/* ---- plots ---------------------------------------------------------------- */

enum { PLOT_W = 900, PLOT_H = 240, MARGIN_L = 50, MARGIN_R = 15, MARGIN_T = 30,
       MARGIN_B = 35 };

typedef struct plot_ctx {
    const arnet_video_info *info;
    const arnet_video_result *res;
    const float *scores;
    uint32_t clip_frames;
    float threshold;
} plot_ctx;

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static int write_svg(FILE *f, void *vctx)
{
    const plot_ctx *c = vctx;
    const arnet_video_info *v = c->info;
    double frames = (double)v->n_clips * c->clip_frames;
    if (v->n_frames > frames)
        frames = (double)v->n_frames;
    double pw = PLOT_W - MARGIN_L - MARGIN_R, ph = PLOT_H - MARGIN_T - MARGIN_B;
#define X(fr) (MARGIN_L + pw * (double)(fr) / frames)
#define Y(s) (MARGIN_T + ph * (1.0 - (double)(s)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
            PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" "
               "y=\"18\">",
            MARGIN_L);
    xml_text(f, v->name);
    fprintf(f, " (label %d, %zu clips", v->label, v->n_clips);
    if (isfinite(c->res->auc))
        fprintf(f, ", AUC %.2f %%", 100.0 * c->res->auc);
    fprintf(f, ")</text>\n");
    /* Ground-truth anomalies: one shaded band per run of anomalous frames. */
    if (v->frame_labels) {
        size_t i = 0;
        while (i < v->n_frames) {
            if (!v->frame_labels[i]) {
                i++;
                continue;
            }
            size_t j = i;
            while (j < v->n_frames && v->frame_labels[j])
                j++;
            fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%.0f\" "
                       "fill=\"#f4b6b6\"><title>anomaly, frames %zu-%zu</title></rect>\n",
                    X(i), MARGIN_T, X(j) - X(i), ph, i, j - 1);
            i = j;
        }
    }
    /* Axes, grid and the alarm threshold. */
    for (int k = 0; k <= 4; k++) {
        double s = k / 4.0;
        fprintf(f, "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.2f\" text-anchor=\"end\">%.2f</text>\n",
                MARGIN_L, MARGIN_L + pw, Y(s), Y(s), MARGIN_L - 6, Y(s) + 4, s);
    }
    fprintf(f, "<line x1=\"%d\" x2=\"%.0f\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#c00\" "
               "stroke-dasharray=\"5,4\"/>\n",
            MARGIN_L, MARGIN_L + pw, Y(c->threshold), Y(c->threshold));
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#444\"/>\n",
            MARGIN_L, MARGIN_T, pw, ph);
    for (int k = 0; k <= 5; k++) {
        double fr = frames * k / 5.0;
        fprintf(f, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", X(fr),
                PLOT_H - MARGIN_B + 16, fr);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">frame</text>\n",
            MARGIN_L + pw / 2, PLOT_H - 4);
    /* The score as the evaluation sees it: a step per clip of clip_frames. */
    fputs("<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.5\" points=\"", f);
    for (size_t i = 0; i < v->n_clips; i++) {
        double s = c->scores[i];
        fprintf(f, "%.2f,%.2f %.2f,%.2f ", X((double)i * c->clip_frames), Y(s),
                X((double)(i + 1) * c->clip_frames), Y(s));
    }
    fputs("\"/>\n</svg>\n", f);
#undef X
#undef Y
    return ferror(f) ? -1 : 0;
}

/* "features/01_0014.npy" -> "007-01_0014.svg": the index keeps names unique. */
static void plot_file_name(char *out, size_t cap, size_t index, const char *name)
{
    const char *base;
    size_t len = cli_file_stem(name, &base);
    if (len > 80)
        len = 80;
    int n = snprintf(out, cap, "%04zu-", index);
    size_t o = (size_t)n;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        char ch = base[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
        out[o++] = ok ? ch : '_';
    }
    memcpy(out + o, ".svg", 5);
}

typedef struct index_ctx {
    const arnet_eval_result *r;
    char (*files)[128];
} index_ctx;

static int write_index(FILE *f, void *vctx)
{
    const index_ctx *c = vctx;
    const arnet_eval_result *r = c->r;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>arnet eval</title>\n"
          "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
          "td,th{padding:2px 8px;text-align:right}td:first-child{text-align:left}"
          "img{max-width:100%}</style></head><body>\n<h1>arnet eval</h1>\n<p>",
          f);
    fprintf(f, "%llu videos (%llu anomalous), %llu frames, ground truth %s. ",
            (unsigned long long)r->videos, (unsigned long long)r->anomalous_videos,
            (unsigned long long)r->frames, gt_rule_name(r->gt_rule));
    fprintf(f, "AUC %.2f %%, AUC anomalous only %.2f %%, AP %.2f %%, PR area %.2f %%, "
               "FAR %.2f %%.</p>\n",
            100 * r->auc, 100 * r->auc_abnormal, 100 * r->ap, 100 * r->pr_auc, 100 * r->far);
    fputs("<p>Blue: clip scores (each over its frames); red bands: ground-truth anomalies; "
          "dashed: the false-alarm threshold.</p>\n<table><tr><th>video</th><th>label</th>"
          "<th>clips</th><th>AUC %</th><th>FAR %</th><th>max</th></tr>\n",
          f);
    for (size_t i = 0; i < r->n_per_video; i++) {
        const arnet_video_result *v = &r->per_video[i];
        fprintf(f, "<tr><td><a href=\"#v%zu\">", i);
        xml_text(f, v->name);
        fprintf(f, "</a></td><td>%d</td><td>%zu</td>", v->label, v->n_clips);
        if (isfinite(v->auc))
            fprintf(f, "<td>%.2f</td>", 100 * v->auc);
        else
            fputs("<td>-</td>", f);
        fprintf(f, "<td>%.2f</td><td>%.3f</td></tr>\n", 100 * v->far, v->max_score);
    }
    fputs("</table>\n", f);
    for (size_t i = 0; i < r->n_per_video; i++)
        fprintf(f, "<div id=\"v%zu\"><img src=\"%s\" alt=\"\"></div>\n", i, c->files[i]);
    fputs("</body></html>\n", f);
    return ferror(f) ? -1 : 0;
}

int cli_eval_write_plots(const char *cmd, const char *dir, const arnet_model *m,
                         const arnet_dataset *test, const arnet_eval_result *r,
                         float threshold)
{
    if (cli_mkdir(dir) != 0) {
        fprintf(stderr, "arnet %s: cannot create folder %s: %s\n", cmd, dir, strerror(errno));
        return -1;
    }
    size_t n = arnet_dataset_size(test);
    if (n != r->n_per_video) {
        fprintf(stderr, "arnet %s: the result does not match the data set\n", cmd);
        return -1;
    }
    char(*files)[128] = calloc(n ? n : 1, sizeof *files);
    size_t plen = strlen(dir) + 160;
    char *path = malloc(plen);
    float *scores = NULL;
    size_t cap = 0;
    int rc = -1;
    if (!files || !path) {
        fprintf(stderr, "arnet %s: out of memory\n", cmd);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        arnet_video_info info;
        arnet_video_info_init(&info);
        int st = arnet_dataset_video(test, i, &info);
        if (st != ARNET_OK) {
            cli_fail(cmd, st, "plots");
            goto done;
        }
        if (info.n_clips > cap) {
            float *grown = realloc(scores, info.n_clips * sizeof *scores);
            if (!grown) {
                fprintf(stderr, "arnet %s: out of memory\n", cmd);
                goto done;
            }
            scores = grown;
            cap = info.n_clips;
        }
        st = arnet_model_score(m, info.features, info.n_clips, scores);
        if (st != ARNET_OK) {
            cli_fail(cmd, st, info.name);
            goto done;
        }
        plot_file_name(files[i], sizeof files[i], i, info.name);
        snprintf(path, plen, "%s/%s", dir, files[i]);
        plot_ctx pc = {&info, &r->per_video[i], scores, 16, threshold};
        if (cli_write_file(cmd, path, write_svg, &pc) != 0)
            goto done;
    }
    snprintf(path, plen, "%s/index.html", dir);
    index_ctx ic = {r, files};
    rc = cli_write_file(cmd, path, write_index, &ic);
done:
    free(scores);
    free(path);
    free(files);
    return rc;
}
