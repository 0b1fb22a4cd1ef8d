/* test_metrics.c -- ROC AUC, average precision and PR area: hand-checked
 * cases, scikit-learn as the reference on tied scores, and a 10-million case. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define PY "/usr/bin/python3"
#define SKLEARN_SCRIPT ARNET_SOURCE_DIR "/tests/sklearn_check.py"

static void all_three(const float *s, const uint8_t *y, size_t n, double *auc, double *ap,
                      double *pr)
{
    ck_assert_int_eq(arnet_roc_auc(s, y, n, auc), ARNET_OK);
    ck_assert_int_eq(arnet_average_precision(s, y, n, ap), ARNET_OK);
    ck_assert_int_eq(arnet_pr_auc(s, y, n, pr), ARNET_OK);
}

START_TEST(hand_checked_no_ties)
{
    /* Descending: 0.8 (+), 0.4 (-), 0.35 (+), 0.1 (-).
     * AUC: positive 0.8 beats both negatives, 0.35 beats one: 3/4.
     * Points (recall, precision): (1/2, 1), (1/2, 1/2), (1, 2/3), (1, 1/2).
     * AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
     * PR area from sklearn's (0, 1): 1/2 * (1 + 1) / 2 + 0
     *   + 1/2 * (1/2 + 2/3) / 2 + 0 = 1/2 + 7/24 = 19/24. */
    const float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    const uint8_t y[] = {0, 0, 1, 1};
    double auc, ap, pr;
    all_three(s, y, 4, &auc, &ap, &pr);
    ck_assert_double_eq_tol(auc, 0.75, 1e-15);
    ck_assert_double_eq_tol(ap, 5.0 / 6.0, 1e-15);
    ck_assert_double_eq_tol(pr, 19.0 / 24.0, 1e-15);
}
END_TEST

START_TEST(hand_checked_ties)
{
    /* One group at 0.5 holds two positives and a negative: each positive
     * ties with that negative (1/2) and beats the one at 0.2 (1):
     * AUC = 2 * 1.5 / 4 = 3/4.  Points: (1, 2/3), (1, 1/2).
     * AP = 1 * 2/3.  PR area = 1 * (1 + 2/3) / 2 = 5/6. */
    const float s[] = {0.5f, 0.5f, 0.5f, 0.2f};
    const uint8_t y[] = {1, 0, 7, 0}; /* any nonzero label is positive */
    double auc, ap, pr;
    all_three(s, y, 4, &auc, &ap, &pr);
    ck_assert_double_eq_tol(auc, 0.75, 1e-15);
    ck_assert_double_eq_tol(ap, 2.0 / 3.0, 1e-15);
    ck_assert_double_eq_tol(pr, 5.0 / 6.0, 1e-15);

    /* All scores equal, 2 positives of 5: AUC 1/2, AP 2/5,
     * PR area = (1 + 2/5) / 2 = 7/10. */
    const float s2[] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    const uint8_t y2[] = {0, 1, 0, 1, 0};
    all_three(s2, y2, 5, &auc, &ap, &pr);
    ck_assert_double_eq_tol(auc, 0.5, 1e-15);
    ck_assert_double_eq_tol(ap, 0.4, 1e-15);
    ck_assert_double_eq_tol(pr, 0.7, 1e-15);

    /* -0 and +0 are one threshold, as in numpy: a tie, AUC 1/2. */
    const float s3[] = {-0.0f, 0.0f};
    const uint8_t y3[] = {1, 0};
    ck_assert_int_eq(arnet_roc_auc(s3, y3, 2, &auc), ARNET_OK);
    ck_assert_double_eq_tol(auc, 0.5, 1e-15);
}
END_TEST

START_TEST(hand_checked_worst_ranking)
{
    /* The negative scores highest: AUC 0.  Points (0, 0), (1, 1/2):
     * AP = 1 * 1/2; PR area = 0 + 1 * (0 + 1/2) / 2 = 1/4 (sklearn agrees). */
    const float s[] = {0.9f, 0.5f};
    const uint8_t y[] = {0, 1};
    double auc, ap, pr;
    all_three(s, y, 2, &auc, &ap, &pr);
    ck_assert_double_eq_tol(auc, 0.0, 1e-15);
    ck_assert_double_eq_tol(ap, 0.5, 1e-15);
    ck_assert_double_eq_tol(pr, 0.25, 1e-15);

    /* Negative and infinite scores sort like any others. */
    const float s2[] = {-INFINITY, -3.0f, 2.0f, INFINITY};
    const uint8_t y2[] = {0, 1, 0, 1};
    /* +inf (+) beats both, -3 (+) beats -inf: 3/4. */
    ck_assert_int_eq(arnet_roc_auc(s2, y2, 4, &auc), ARNET_OK);
    ck_assert_double_eq_tol(auc, 0.75, 1e-15);
}
END_TEST

START_TEST(bad_input)
{
    const float s[] = {0.1f, NAN, 0.3f};
    const uint8_t y[] = {0, 1, 1};
    const uint8_t ones[] = {1, 1, 1};
    double v = 42.0;
    ck_assert_int_eq(arnet_roc_auc(s, y, 3, &v), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "scores[1] is NaN"));
    ck_assert_double_eq(v, 42.0);
    const float ok[] = {0.1f, 0.2f, 0.3f};
    ck_assert_int_eq(arnet_average_precision(ok, ones, 3, &v), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "only one class"));
    ck_assert_int_eq(arnet_pr_auc(ok, y, 0, &v), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "n is 0"));
    ck_assert_int_eq(arnet_roc_auc(NULL, y, 3, &v), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_roc_auc(ok, NULL, 3, &v), ARNET_E_INVALID);
    ck_assert_int_eq(arnet_roc_auc(ok, y, 3, NULL), ARNET_E_INVALID);
    ck_assert_double_eq(v, 42.0);
}
END_TEST

/* ---- scikit-learn as the reference ------------------------------------- */

/* Small deterministic generator, independent of the library's. */
static uint64_t lcg_state;
static double lcg_uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct sk_case {
    size_t n;
    float *s;
    uint8_t *y;
} sk_case;

/* Scores rounded to 0.01 (or coarser) so most thresholds are ties; the
 * positive rate and the separation vary between cases. */
static void make_case(sk_case *c, size_t n, double pos_rate, double shift, double grid)
{
    c->n = n;
    c->s = malloc(n * sizeof *c->s);
    c->y = malloc(n);
    ck_assert_ptr_nonnull(c->s);
    ck_assert_ptr_nonnull(c->y);
    for (size_t i = 0; i < n; i++) {
        int pos = lcg_uniform() < pos_rate;
        double v = lcg_uniform() + (pos ? shift : 0.0);
        c->s[i] = (float)(round(v / grid) * grid);
        c->y[i] = (uint8_t)pos;
    }
}

/* Runs sklearn_check.py; returns 0 with results, 1 when python or sklearn
 * is unavailable. */
static int run_sklearn(const sk_case *cases, size_t n_cases, double (*out)[3])
{
    char dir[] = "/tmp/arnet-metrics-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char in_path[256], out_path[256], cmd[1024];
    snprintf(in_path, sizeof in_path, "%s/cases.txt", dir);
    snprintf(out_path, sizeof out_path, "%s/sklearn.txt", dir);
    FILE *f = fopen(in_path, "w");
    ck_assert_ptr_nonnull(f);
    for (size_t c = 0; c < n_cases; c++) {
        fprintf(f, "case %zu\n", cases[c].n);
        for (size_t i = 0; i < cases[c].n; i++)
            fprintf(f, "%.17g %d\n", (double)cases[c].s[i], cases[c].y[i]);
    }
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "%s %s %s > %s", PY, SKLEARN_SCRIPT, in_path, out_path);
    int rc = system(cmd);
    int status = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    int result = 1;
    if (status == 0) {
        f = fopen(out_path, "r");
        ck_assert_ptr_nonnull(f);
        for (size_t c = 0; c < n_cases; c++)
            ck_assert_int_eq(fscanf(f, "%lf %lf %lf", &out[c][0], &out[c][1], &out[c][2]), 3);
        fclose(f);
        result = 0;
    } else {
        /* 3 = imports failed; anything else from the script is a real bug. */
        ck_assert_msg(status == 3 || status == 127, "sklearn_check.py failed (status %d)",
                      status);
    }
    remove(in_path);
    remove(out_path);
    rmdir(dir);
    return result;
}

START_TEST(equals_sklearn_with_ties)
{
    enum { N_CASES = 6 };
    sk_case cases[N_CASES];
    lcg_state = 12345;
    make_case(&cases[0], 1000, 0.5, 0.3, 0.01);
    make_case(&cases[1], 20000, 0.05, 0.5, 0.01);
    make_case(&cases[2], 20000, 0.9, 0.1, 0.01);
    make_case(&cases[3], 5000, 0.3, 0.0, 0.1); /* chance level, coarse ties */
    make_case(&cases[4], 100000, 0.06, 0.4, 0.001);
    make_case(&cases[5], 37, 0.4, -0.5, 0.25); /* worse than chance */
    double ref[N_CASES][3];
    if (run_sklearn(cases, N_CASES, ref) == 0) {
        for (size_t c = 0; c < N_CASES; c++) {
            double auc, ap, pr;
            all_three(cases[c].s, cases[c].y, cases[c].n, &auc, &ap, &pr);
            ck_assert_msg(fabs(auc - ref[c][0]) <= 1e-9, "case %zu auc %.17g vs sklearn %.17g",
                          c, auc, ref[c][0]);
            ck_assert_msg(fabs(ap - ref[c][1]) <= 1e-9, "case %zu ap %.17g vs sklearn %.17g", c,
                          ap, ref[c][1]);
            ck_assert_msg(fabs(pr - ref[c][2]) <= 1e-9, "case %zu pr %.17g vs sklearn %.17g", c,
                          pr, ref[c][2]);
        }
    }
    for (size_t c = 0; c < N_CASES; c++) {
        free(cases[c].s);
        free(cases[c].y);
    }
}
END_TEST

/* ---- ten million frames: runs, and equals the closed form -------------- */

START_TEST(ten_million_analytic)
{
    /* Scores 0..n-1 (exact in float32 below 2^24), odd values positive,
     * stored in a scrambled order so the sort has work to do.  With M = n/2
     * positives, the positive 2k+1 beats k+1 negatives:
     *   AUC = sum_{k<M} (k+1) / M^2 = (M+1) / (2M).
     * From the top the k-th positive sits at rank 2k-1 and the k-th negative
     * at rank 2k: AP = (1/M) sum_k k/(2k-1), and the PR trapezoids join the
     * point after the (k-1)-th negative, precision 1/2 (1 at the start), to
     * precision k/(2k-1). */
    const size_t n = 10000000, M = n / 2;
    float *s = malloc(n * sizeof *s);
    uint8_t *y = malloc(n);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(y);
    const size_t stride = 7919; /* prime, coprime with n: a permutation */
    for (size_t j = 0; j < n; j++) {
        size_t v = (j * stride) % n;
        s[j] = (float)v;
        y[j] = (uint8_t)(v & 1);
    }
    double auc, ap, pr;
    all_three(s, y, n, &auc, &ap, &pr);
    double ap_ref = 0.0, pr_ref = 0.0;
    for (size_t k = 1; k <= M; k++) {
        double p = (double)k / (double)(2 * k - 1);
        ap_ref += p / (double)M;
        pr_ref += (1.0 / (double)M) * ((k == 1 ? 1.0 : 0.5) + p) * 0.5;
    }
    ck_assert_double_eq_tol(auc, (double)(M + 1) / (2.0 * (double)M), 1e-12);
    ck_assert_double_eq_tol(ap, ap_ref, 1e-9);
    ck_assert_double_eq_tol(pr, pr_ref, 1e-9);
    free(s);
    free(y);
}
END_TEST

static int sklearn_available(void)
{
    if (access(PY, X_OK) != 0)
        return 0;
    int rc = system(PY " -c 'import sklearn.metrics, numpy' >/dev/null 2>&1");
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

Suite *make_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hand_checked_no_ties);
    tcase_add_test(tc, hand_checked_ties);
    tcase_add_test(tc, hand_checked_worst_ranking);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    /* Without python3-sklearn the comparison is left out of the plan (and
     * said so as a TAP comment) rather than reported as a pass. */
    if (sklearn_available()) {
        TCase *sk = tcase_create("sklearn");
        tcase_add_test(sk, equals_sklearn_with_ties);
        suite_add_tcase(s, sk);
    } else {
        printf("# SKIP sklearn comparison: %s cannot import numpy and sklearn\n", PY);
        fflush(stdout);
    }
    TCase *big = tcase_create("large");
    tcase_set_timeout(big, 100);
    tcase_add_test(big, ten_million_analytic);
    suite_add_tcase(s, big);
    return s;
}
