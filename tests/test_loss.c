/* test_loss.c -- the loss kernels: hand-computed cases, double-precision
 * references of eq. 3-7 and the k-max MIL baseline, central finite
 * differences of every gradient, top-k size and ties, extreme logits and
 * every invalid argument. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LN3 1.0986122886681098 /* log 3: sigmoid(LN3) = 3/4, sigmoid(-LN3) = 1/4 */

enum { DMIL, CENTER, KMAX };

/* The kernel under test, by variant (alpha ignored by the center loss). */
static int kernel(int which, const float *z, size_t n, int y, float alpha, float *loss,
                  float *grad)
{
    switch (which) {
    case DMIL: return arnet_loss_dmil(z, n, y, alpha, loss, grad);
    case CENTER: return arnet_loss_center(z, n, y, loss, grad);
    default: return arnet_loss_kmax_mil(z, n, y, alpha, loss, grad);
    }
}

/* ---- double-precision references, written straight from the equations ---- */

/* k = ceil(n / alpha) clamped to 1..n. */
static size_t ref_k(size_t n, double alpha)
{
    double k = ceil((double)n / alpha);
    if (k < 1.0)
        k = 1.0;
    if (k > (double)n)
        k = (double)n;
    return (size_t)k;
}

/* sel[j] = 1 for the k largest z, ties to the lower index: O(n^2) on purpose
 * (a clip is selected when fewer than k clips beat it). */
static void ref_select(const double *z, size_t n, size_t k, int *sel)
{
    for (size_t j = 0; j < n; j++) {
        size_t beaten_by = 0;
        for (size_t i = 0; i < n; i++)
            if (z[i] > z[j] || (z[i] == z[j] && i < j))
                beaten_by++;
        sel[j] = beaten_by < k;
    }
}

static double ref_sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Eq. 3-5 with plain logs (fine for moderate logits). */
static double ref_dmil(const double *z, size_t n, int y, double alpha)
{
    int sel[512];
    size_t k = ref_k(n, alpha);
    ref_select(z, n, k, sel);
    double sum = 0.0;
    for (size_t j = 0; j < n; j++)
        if (sel[j]) {
            double s = ref_sigmoid(z[j]);
            sum += -(y * log(s) + (1 - y) * log(1.0 - s));
        }
    return sum / (double)k;
}

/* Eq. 6-7: biased variance of the scores of a normal video. */
static double ref_center(const double *z, size_t n, int y)
{
    if (y == 1)
        return 0.0;
    double c = 0.0, v = 0.0;
    for (size_t j = 0; j < n; j++)
        c += ref_sigmoid(z[j]);
    c /= (double)n;
    for (size_t j = 0; j < n; j++)
        v += (ref_sigmoid(z[j]) - c) * (ref_sigmoid(z[j]) - c);
    return v / (double)n;
}

/* BCE of the mean of the top-k scores. */
static double ref_kmax(const double *z, size_t n, int y, double alpha)
{
    int sel[512];
    size_t k = ref_k(n, alpha);
    ref_select(z, n, k, sel);
    double m = 0.0;
    for (size_t j = 0; j < n; j++)
        if (sel[j])
            m += ref_sigmoid(z[j]);
    m /= (double)k;
    return -(y * log(m) + (1 - y) * log(1.0 - m));
}

static double ref_loss(int which, const double *z, size_t n, int y, double alpha)
{
    switch (which) {
    case DMIL: return ref_dmil(z, n, y, alpha);
    case CENTER: return ref_center(z, n, y);
    default: return ref_kmax(z, n, y, alpha);
    }
}

/* ---- hand-computed cases ---------------------------------------------------- */

/* Logits whose scores are 1/4, 3/4, 1/2, 1/4, 1/2 (LN3 = log 3). */
static const float hand_z[5] = {(float)-LN3, (float)LN3, 0.0f, (float)-LN3, 0.0f};

static void expect_vec(const float *got, const double *want, size_t n, double tol)
{
    for (size_t j = 0; j < n; j++)
        ck_assert_msg(fabs(got[j] - want[j]) <= tol, "grad[%zu] = %.9g, want %.9g", j,
                      (double)got[j], want[j]);
}

START_TEST(dmil_hand)
{
    /* n = 5, alpha = 4: k = ceil(5/4) = 2.  The top two logits are LN3 (clip
     * 1, s = 3/4) and 0 (clips 2 and 4 tie: clip 2 wins, s = 1/2).
     * Label 1: L = (1/2)(-log 3/4 - log 1/2) = (1/2) log(8/3);
     *   dL/dz = (s - 1)/k: clip 1 (3/4 - 1)/2 = -1/8, clip 2 (1/2 - 1)/2 = -1/4.
     * Label 0: L = (1/2)(-log 1/4 - log 1/2) = (1/2) log 8;
     *   dL/dz = s/k: clip 1 3/8, clip 2 1/4. */
    float loss, g[5];
    ck_assert_int_eq(arnet_loss_dmil(hand_z, 5, 1, 4.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 0.5 * log(8.0 / 3.0), 1e-6);
    expect_vec(g, (const double[]){0, -1.0 / 8, -1.0 / 4, 0, 0}, 5, 1e-7);
    ck_assert_int_eq(arnet_loss_dmil(hand_z, 5, 0, 4.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 0.5 * log(8.0), 1e-6);
    expect_vec(g, (const double[]){0, 3.0 / 8, 1.0 / 4, 0, 0}, 5, 1e-7);
}
END_TEST

START_TEST(center_hand)
{
    /* Scores 3/4, 1/4, 1/2: c = 1/2, L = (1/16 + 1/16 + 0)/3 = 1/24.
     * dL/dz_j = (2/3)(s_j - 1/2) s_j (1 - s_j):
     *   clip 0: (2/3)(1/4)(3/16) = 1/32, clip 1: -1/32, clip 2: 0. */
    const float z[3] = {(float)LN3, (float)-LN3, 0.0f};
    float loss, g[3];
    ck_assert_int_eq(arnet_loss_center(z, 3, 0, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 1.0 / 24, 1e-7);
    expect_vec(g, (const double[]){1.0 / 32, -1.0 / 32, 0}, 3, 1e-7);
    /* Anomalous videos take no center loss. */
    float g1[3] = {9, 9, 9};
    ck_assert_int_eq(arnet_loss_center(z, 3, 1, &loss, g1), ARNET_OK);
    ck_assert(loss == 0.0f);
    expect_vec(g1, (const double[]){0, 0, 0}, 3, 0.0);
    /* One clip: variance 0, gradient 0. */
    ck_assert_int_eq(arnet_loss_center(z, 1, 0, &loss, g), ARNET_OK);
    ck_assert(loss == 0.0f && g[0] == 0.0f);
}
END_TEST

START_TEST(kmax_hand)
{
    /* Same selection as dmil_hand: scores 3/4 and 1/2, m = 5/8.
     * Label 1: L = -log(5/8) = log(8/5);
     *   dL/dz_j = -(1/k) s_j (1 - s_j) / m:
     *   clip 1 -(1/2)(3/16)(8/5) = -3/20, clip 2 -(1/2)(1/4)(8/5) = -1/5.
     * Label 0: L = -log(3/8) = log(8/3);
     *   dL/dz_j = (1/k) s_j (1 - s_j) / (1 - m):
     *   clip 1 (1/2)(3/16)(8/3) = 1/4, clip 2 (1/2)(1/4)(8/3) = 1/3. */
    float loss, g[5];
    ck_assert_int_eq(arnet_loss_kmax_mil(hand_z, 5, 1, 4.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, log(8.0 / 5.0), 1e-6);
    expect_vec(g, (const double[]){0, -3.0 / 20, -1.0 / 5, 0, 0}, 5, 1e-7);
    ck_assert_int_eq(arnet_loss_kmax_mil(hand_z, 5, 0, 4.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, log(8.0 / 3.0), 1e-6);
    expect_vec(g, (const double[]){0, 1.0 / 4, 1.0 / 3, 0, 0}, 5, 1e-7);
}
END_TEST

/* ---- references and finite differences on random logits ------------------ */

static double uniform(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return ((*state >> 8) & 0xFFFFFF) / (double)0x1000000;
}

/* Compare the float kernel with the double reference (loss) and with the
 * central finite differences of the reference (gradient). */
static void check_against_reference(int which, const float *zf, size_t n, int y, float alpha)
{
    double z[512];
    for (size_t j = 0; j < n; j++)
        z[j] = zf[j];
    float loss, grad[512];
    ck_assert_int_eq(kernel(which, zf, n, y, alpha, &loss, grad), ARNET_OK);
    double want = ref_loss(which, z, n, y, alpha);
    ck_assert_msg(fabs(loss - want) <= 1e-6 + 1e-6 * fabs(want),
                  "variant %d n %zu y %d alpha %g: loss %.9g, reference %.9g", which, n, y,
                  (double)alpha, (double)loss, want);
    /* Without grad the loss is the same. */
    float loss2;
    ck_assert_int_eq(kernel(which, zf, n, y, alpha, &loss2, NULL), ARNET_OK);
    ck_assert(loss2 == loss);
    const double h = 1e-5;
    for (size_t j = 0; j < n; j++) {
        double keep = z[j];
        z[j] = keep + h;
        double up = ref_loss(which, z, n, y, alpha);
        z[j] = keep - h;
        double down = ref_loss(which, z, n, y, alpha);
        z[j] = keep;
        double fd = (up - down) / (2 * h);
        ck_assert_msg(fabs(grad[j] - fd) <= 1e-6 + 1e-5 * fabs(fd),
                      "variant %d n %zu y %d alpha %g: grad[%zu] %.9g, finite difference %.9g",
                      which, n, y, (double)alpha, j, (double)grad[j], fd);
    }
}

START_TEST(reference_and_finite_differences)
{
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 13, 50, 301};
    static const float alphas[] = {4.0f, 3.0f, 2.5f, 1.0f, 0.5f, 7.0f, 1000.0f};
    unsigned st = 12345;
    for (int which = DMIL; which <= KMAX; which++)
        for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++)
            for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
                for (int y = 0; y <= 1; y++) {
                    float z[512];
                    size_t n = sizes[s];
                    /* Distinct logits in [-6, 6] (a selection boundary
                     * between two nearly equal logits would break the
                     * finite difference, not the kernel). */
                    for (size_t j = 0; j < n; j++)
                        z[j] = (float)(12.0 * uniform(&st) - 6.0) + (float)j * 1e-4f;
                    check_against_reference(which, z, n, y, alphas[a]);
                }
}
END_TEST

/* ---- top-k size and ties ----------------------------------------------------- */

/* Indices with a nonzero DMIL gradient (label 1: every selected clip has
 * s < 1, so (s - 1)/k != 0 for moderate logits). */
static size_t selected(int which, const float *z, size_t n, float alpha, int *sel)
{
    float loss, g[4096];
    ck_assert_int_eq(kernel(which, z, n, 1, alpha, &loss, g), ARNET_OK);
    size_t c = 0;
    for (size_t j = 0; j < n; j++) {
        sel[j] = g[j] != 0.0f;
        c += (size_t)sel[j];
    }
    return c;
}

START_TEST(k_sizes)
{
    float z[64];
    int sel[64];
    for (size_t j = 0; j < 64; j++)
        z[j] = (float)j * 0.01f; /* increasing: the top k are the last k */
    struct { size_t n; float alpha; size_t k; } cases[] = {
        {8, 4.0f, 2},  {9, 4.0f, 3},     {5, 4.0f, 2},  {1, 4.0f, 1},  {3, 4.0f, 1},
        {64, 4.0f, 16}, {7, 1.0f, 7},    {7, 0.5f, 7},  {7, 1e-30f, 7}, {10, 3.0f, 4},
        {10, 2.5f, 4}, {10, 1e30f, 1},   {10, INFINITY, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int which = DMIL; which <= KMAX; which += KMAX - DMIL) {
            size_t got = selected(which, z, cases[c].n, cases[c].alpha, sel);
            ck_assert_msg(got == cases[c].k, "n %zu alpha %g: k %zu, want %zu", cases[c].n,
                          (double)cases[c].alpha, got, cases[c].k);
            for (size_t j = 0; j < cases[c].n; j++)
                ck_assert(sel[j] == (j >= cases[c].n - cases[c].k));
        }
}
END_TEST

START_TEST(ties_lower_index)
{
    int sel[16];
    for (int which = DMIL; which <= KMAX; which += KMAX - DMIL) {
        /* All equal, n 8, k 2: clips 0 and 1. */
        float same[8] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
        ck_assert_uint_eq(selected(which, same, 8, 4.0f, sel), 2);
        ck_assert(sel[0] && sel[1]);
        /* {1, 3, 3, 0, 3}, k = ceil(5/2.5) = 2: the first two 3s. */
        float z2[5] = {1, 3, 3, 0, 3};
        ck_assert_uint_eq(selected(which, z2, 5, 2.5f, sel), 2);
        ck_assert(!sel[0] && sel[1] && sel[2] && !sel[3] && !sel[4]);
        /* k = ceil(5/2) = 3: the three 3s, not the 1. */
        ck_assert_uint_eq(selected(which, z2, 5, 2.0f, sel), 3);
        ck_assert(sel[1] && sel[2] && sel[4]);
        /* -0 and +0 are equal logits: the lower index wins either way. */
        float zeros[2] = {-0.0f, 0.0f};
        ck_assert_uint_eq(selected(which, zeros, 2, 2.0f, sel), 1);
        ck_assert(sel[0] && !sel[1]);
        float zeros2[2] = {0.0f, -0.0f};
        ck_assert_uint_eq(selected(which, zeros2, 2, 2.0f, sel), 1);
        ck_assert(sel[0] && !sel[1]);
        /* Negative logits and a tie straddling the boundary. */
        float z3[6] = {-2, -1, -5, -1, -1, -3};
        ck_assert_uint_eq(selected(which, z3, 6, 3.0f, sel), 2);
        ck_assert(sel[1] && sel[3] && !sel[4]);
    }
}
END_TEST

/* qsort order: larger value first, then lower index. */
typedef struct { float v; size_t i; } vi;
static int by_value_then_index(const void *a, const void *b)
{
    const vi *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

START_TEST(large_selection_matches_sort)
{
    /* Many n, many duplicates (values on a coarse grid, both signs): the
     * selection equals the first k of a full sort. */
    static vi order[4096];
    static float z[4096];
    static int sel[4096];
    unsigned st = 777;
    for (size_t n = 1; n <= 4096; n = n * 3 + 1) {
        for (size_t j = 0; j < n; j++) {
            z[j] = (float)floor(40.0 * uniform(&st) - 20.0) * 0.25f;
            order[j].v = z[j];
            order[j].i = j;
        }
        qsort(order, n, sizeof *order, by_value_then_index);
        size_t k = ref_k(n, 4.0);
        ck_assert_uint_eq(selected(DMIL, z, n, 4.0f, sel), k);
        for (size_t r = 0; r < n; r++)
            ck_assert_msg(sel[order[r].i] == (r < k), "n %zu: clip %zu (rank %zu)", n,
                          order[r].i, r);
    }
}
END_TEST

/* ---- extreme logits --------------------------------------------------------- */

static void all_finite(const float *g, size_t n)
{
    for (size_t j = 0; j < n; j++)
        ck_assert_msg(isfinite(g[j]), "grad[%zu] = %g", j, (double)g[j]);
}

START_TEST(extreme_logits)
{
    const float big = 1e4f;
    float loss, g[4];
    /* DMIL, label 0, top logit +1e4: -log(1 - s) = softplus(1e4) = 1e4;
     * k = 1 (n 4, alpha 4); gradient s/k = 1. */
    const float z1[4] = {big, -big, 0.0f, -big};
    ck_assert_int_eq(arnet_loss_dmil(z1, 4, 0, 4.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 1e4f);
    expect_vec(g, (const double[]){1, 0, 0, 0}, 4, 0.0);
    /* Label 1: -log s = softplus(-1e4) = 0 (e^-1e4 underflows), gradient 0. */
    ck_assert_int_eq(arnet_loss_dmil(z1, 4, 1, 4.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 0.0f);
    expect_vec(g, (const double[]){0, 0, 0, 0}, 4, 0.0);
    /* Label 1, all -1e4, k = 2 (alpha 2): loss 1e4, gradient (0 - 1)/2. */
    const float z2[4] = {-big, -big, -big, -big};
    ck_assert_int_eq(arnet_loss_dmil(z2, 4, 1, 2.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 1e4f);
    expect_vec(g, (const double[]){-0.5, -0.5, 0, 0}, 4, 0.0);

    /* k-max MIL, label 1, all -1e4: -log(mean s) = -log sigmoid(-1e4) = 1e4,
     * gradient -(1/k) s(1-s)/m -> -(1/k)(1 - s) = -1/2 on the two selected. */
    ck_assert_int_eq(arnet_loss_kmax_mil(z2, 4, 1, 2.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 1e4f);
    expect_vec(g, (const double[]){-0.5, -0.5, 0, 0}, 4, 0.0);
    /* Label 0, the two selected at +1e4: -log(1 - m) = 1e4, gradient
     * (1/k) s(1-s)/(1-m) -> (1/k) s = 1/2. */
    const float z3[4] = {big, -big, big, 0.0f};
    ck_assert_int_eq(arnet_loss_kmax_mil(z3, 4, 0, 2.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 1e4f);
    expect_vec(g, (const double[]){0.5, 0, 0.5, 0}, 4, 0.0);
    /* Label 1, the two selected at +1e4: m = 1, L = 0, gradient 0. */
    ck_assert_int_eq(arnet_loss_kmax_mil(z3, 4, 1, 2.0f, &loss, g), ARNET_OK);
    ck_assert(loss == 0.0f);
    expect_vec(g, (const double[]){0, 0, 0, 0}, 4, 0.0);
    /* Label 1, selected {+1e4, 0}: m = (1 + 1/2)/2 = 3/4, L = log(4/3);
     * gradient -(1/2) s(1-s)/m: 0 for +1e4, -(1/2)(1/4)(4/3) = -1/6 for 0. */
    const float z4[4] = {big, -big, 0.0f, -big};
    ck_assert_int_eq(arnet_loss_kmax_mil(z4, 4, 1, 2.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, log(4.0 / 3.0), 1e-7);
    expect_vec(g, (const double[]){0, 0, -1.0 / 6, 0}, 4, 1e-7);
    /* Label 0, selected {+1e4, -1e4}: m = 1/2, L = log 2; gradient
     * (1/2) s(1-s)/(1/2) = s(1-s) = 0 on both. */
    const float z5[4] = {big, -big, -big, -big};
    ck_assert_int_eq(arnet_loss_kmax_mil(z5, 4, 0, 2.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, log(2.0), 1e-7);
    expect_vec(g, (const double[]){0, 0, 0, 0}, 4, 0.0);

    /* Center: scores {1, 0, 1, 1/2}: c = 5/8, L = (9 + 25 + 9 + 1)/64/4 = 11/64;
     * gradient (2/4)(s - c) s(1-s): 0 for the saturated clips,
     * (1/2)(-1/8)(1/4) = -1/64 for the logit 0. */
    ck_assert_int_eq(arnet_loss_center(z3, 4, 0, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 11.0 / 64, 1e-7);
    expect_vec(g, (const double[]){0, 0, 0, -1.0 / 64}, 4, 1e-8);

    /* Every variant, label and mixture stays finite. */
    const float mix[4] = {big, -big, big, -big};
    for (int which = DMIL; which <= KMAX; which++)
        for (int y = 0; y <= 1; y++)
            for (int a = 1; a <= 4; a++) {
                ck_assert_int_eq(kernel(which, mix, 4, y, (float)a, &loss, g), ARNET_OK);
                ck_assert(isfinite(loss) && loss >= 0.0f);
                all_finite(g, 4);
            }
}
END_TEST

START_TEST(large_logits_against_stable_reference)
{
    /* Logits up to +-60, where 1 - s rounds to 0 in float: the kernels work
     * from logits, so their loss still matches softplus forms in double. */
    const float z[6] = {60.0f, -60.0f, 30.0f, -45.0f, 17.0f, -17.0f};
    float loss, g[6];
    /* DMIL, label 0, k = 2 (alpha 3): clips 0 and 2: (softplus(60) +
     * softplus(30)) / 2 = (60 + 30)/2 up to e^-30 terms. */
    ck_assert_int_eq(arnet_loss_dmil(z, 6, 0, 3.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 45.0, 1e-5);
    /* k-max, label 0: -log(1 - m), 1 - m = (e^-60 + e^-30)/2 (to first
     * order): L = log 2 - log(e^-30 (1 + e^-30)) = log 2 + 30. */
    ck_assert_int_eq(arnet_loss_kmax_mil(z, 6, 0, 3.0f, &loss, g), ARNET_OK);
    ck_assert_double_eq_tol(loss, 30.0 + log(2.0), 1e-5);
    /* Gradient (1/k) s(1-s)/(1-m): clip 2 -> (1/2) e^-30 / (e^-30/2) = 1,
     * clip 0 -> (1/2) e^-60 / (e^-30/2) = e^-30. */
    ck_assert_double_eq_tol(g[2], 1.0, 1e-6);
    ck_assert_double_eq_tol(g[0], exp(-30.0), 1e-15);
}
END_TEST

/* ---- invalid arguments ------------------------------------------------------- */

static void expect_invalid(int rc, const char *needle, float loss, const float *g, size_t n)
{
    ck_assert_int_eq(rc, ARNET_E_INVALID);
    ck_assert_msg(strstr(arnet_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",
                  arnet_last_error(), needle);
    /* Outputs untouched on failure. */
    ck_assert(loss == -7.0f);
    for (size_t j = 0; j < n; j++)
        ck_assert(g[j] == -7.0f);
}

START_TEST(invalid_arguments)
{
    const float z[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    for (int which = DMIL; which <= KMAX; which++) {
        const char *fn = which == DMIL     ? "arnet_loss_dmil"
                         : which == CENTER ? "arnet_loss_center"
                                           : "arnet_loss_kmax_mil";
        float loss = -7.0f, g[4] = {-7, -7, -7, -7};
        expect_invalid(kernel(which, NULL, 4, 0, 4.0f, &loss, g), "logits is NULL", loss, g, 4);
        ck_assert(strstr(arnet_last_error(), fn) != NULL);
        expect_invalid(kernel(which, z, 4, 0, 4.0f, NULL, g), "loss is NULL", loss, g, 4);
        expect_invalid(kernel(which, z, 0, 0, 4.0f, &loss, g), "n is 0", loss, g, 4);
        expect_invalid(kernel(which, z, 4, 2, 4.0f, &loss, g), "label 2", loss, g, 4);
        expect_invalid(kernel(which, z, 4, -1, 4.0f, &loss, g), "label -1", loss, g, 4);
        float bad[4] = {0.1f, 0.2f, 0.3f, NAN};
        expect_invalid(kernel(which, bad, 4, 0, 4.0f, &loss, g), "logits[3] is NaN", loss, g,
                       4);
        bad[3] = 0.0f;
        bad[1] = -INFINITY;
        expect_invalid(kernel(which, bad, 4, 1, 4.0f, &loss, g), "logits[1] is infinite", loss,
                       g, 4);
        if (which == CENTER)
            continue;
        expect_invalid(kernel(which, z, 4, 0, 0.0f, &loss, g), "alpha", loss, g, 4);
        expect_invalid(kernel(which, z, 4, 0, -1.0f, &loss, g), "alpha", loss, g, 4);
        expect_invalid(kernel(which, z, 4, 0, NAN, &loss, g), "alpha", loss, g, 4);
        expect_invalid(kernel(which, z, 4, 0, -INFINITY, &loss, g), "alpha", loss, g, 4);
    }
}
END_TEST

START_TEST(grad_may_be_null)
{
    float loss;
    for (int which = DMIL; which <= KMAX; which++)
        ck_assert_int_eq(kernel(which, hand_z, 5, which == CENTER ? 0 : 1, 4.0f, &loss, NULL),
                         ARNET_OK);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, dmil_hand);
    tcase_add_test(tc, center_hand);
    tcase_add_test(tc, kmax_hand);
    tcase_add_test(tc, reference_and_finite_differences);
    tcase_add_test(tc, k_sizes);
    tcase_add_test(tc, ties_lower_index);
    tcase_add_test(tc, large_selection_matches_sort);
    tcase_add_test(tc, extreme_logits);
    tcase_add_test(tc, large_logits_against_stable_reference);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_test(tc, grad_may_be_null);
    suite_add_tcase(s, tc);
    return s;
}
