/* conv3d.c -- the extractor's convolution and pooling kernels on
 * channels-last clips (conv3d.h), every product through BLIS (blas.c).
 *
 * Weights arrive in PyTorch's layout [out][in][kt][kh][kw] with BatchNorm
 * folded in; arnet__i3d_prepare repacks each unit once into a K x out
 * row-major matrix, K running over (dt, dh, dw, in), so that one output
 * position's receptive field, read in channels-last order, is one row of
 * the left operand.  Then:
 *   - 1x1x1 stride-1 convolutions are a GEMM on the activation itself
 *     (positions x in times in x out), no copy;
 *   - other convolutions copy a bounded tile of receptive fields (im2col,
 *     at most IM2COL_FLOATS per tile, so Conv3d_1a never builds its 400 MB
 *     matrix) and multiply it;
 * and bias + ReLU are applied to each tile of output rows while it is
 * still in cache.  Output rows have stride out->ld, so a branch of an
 * Inception block lands in its channel slice of the concatenation. */
#include <stdlib.h>
#include <string.h>

#include "conv3d.h"
#include "internal.h"

/* Floats in one im2col tile (2 MB): small enough for L2/L3, large enough
 * that BLIS's packing of the weights is amortised over many rows. */
#define IM2COL_FLOATS ((size_t)512 * 1024)
#define MIN_TILE_ROWS 64

typedef struct prepared {
    float *wk; /* K x out, K = kt*kh*kw*in in (dt, dh, dw, in) order */
} prepared;

/* ---- weights --------------------------------------------------------------- */

static size_t conv_k(const arnet__i3d_conv_desc *d)
{
    return (size_t)d->k[0] * d->k[1] * d->k[2] * d->in_ch;
}

void arnet__conv3d_unprepare(arnet__i3d_conv *cv)
{
    prepared *p = cv->prepared;
    if (p) {
        free(p->wk);
        free(p);
        cv->prepared = NULL;
    }
}

int arnet__conv3d_prepare(const arnet__i3d_conv_desc *d, arnet__i3d_conv *cv)
{
    arnet__conv3d_unprepare(cv);
    size_t K = conv_k(d), N = d->out_ch;
    size_t taps = (size_t)d->k[0] * d->k[1] * d->k[2];
    prepared *p = arnet__calloc(1, sizeof *p, "prepared convolution");
    if (!p)
        return ARNET_E_NOMEM;
    p->wk = arnet__alloc(K * N, sizeof(float), "repacked convolution weights");
    if (!p->wk) {
        free(p);
        return ARNET_E_NOMEM;
    }
    /* PyTorch: w[o][c][tap]; ours: wk[tap][c][o]. */
    for (size_t o = 0; o < N; o++)
        for (size_t c = 0; c < d->in_ch; c++)
            for (size_t tap = 0; tap < taps; tap++)
                p->wk[(tap * d->in_ch + c) * N + o] = cv->w[(o * d->in_ch + c) * taps + tap];
    cv->prepared = p;
    return ARNET_OK;
}

void arnet__i3d_unprepare(arnet_extractor *x)
{
    if (!x || !x->convs)
        return;
    for (size_t i = 0; i < arnet__i3d_n_convs; i++)
        arnet__conv3d_unprepare(&x->convs[i]);
}

int arnet__i3d_prepare(arnet_extractor *x)
{
    if (!x || !x->convs)
        return arnet__error(ARNET_E_INVALID, "arnet__i3d_prepare: no extractor");
    arnet__i3d_unprepare(x);
    for (size_t i = 0; i < arnet__i3d_n_convs; i++) {
        int rc = arnet__conv3d_prepare(&arnet__i3d_convs[i], &x->convs[i]);
        if (rc != ARNET_OK) {
            arnet__error_prefix("preparing %s", arnet__i3d_convs[i].name);
            arnet__i3d_unprepare(x);
            return rc;
        }
    }
    return ARNET_OK;
}

/* ---- geometry -------------------------------------------------------------- */

void arnet__conv3d_out_dims(const uint8_t k[3], const uint8_t s[3], uint32_t t, uint32_t h,
                            uint32_t w, uint32_t out[3])
{
    uint32_t f, b;
    arnet__same_pad(t, k[0], s[0], &f, &b, &out[0]);
    arnet__same_pad(h, k[1], s[1], &f, &b, &out[1]);
    arnet__same_pad(w, k[2], s[2], &f, &b, &out[2]);
}

static int is_pointwise(const arnet__i3d_conv_desc *d)
{
    return d->k[0] == 1 && d->k[1] == 1 && d->k[2] == 1 && d->s[0] == 1 && d->s[1] == 1 &&
           d->s[2] == 1;
}

static size_t tile_rows(size_t K, size_t positions)
{
    size_t rows = IM2COL_FLOATS / (K ? K : 1);
    if (rows < MIN_TILE_ROWS)
        rows = MIN_TILE_ROWS;
    return rows < positions ? rows : positions;
}

size_t arnet__conv3d_scratch_floats(const arnet__i3d_conv_desc *d, uint32_t t, uint32_t h,
                                    uint32_t w, int threads)
{
    (void)threads;
    if (is_pointwise(d))
        return 0;
    uint32_t od[3];
    arnet__conv3d_out_dims(d->k, d->s, t, h, w, od);
    size_t P = (size_t)od[0] * od[1] * od[2];
    size_t K = conv_k(d);
    return tile_rows(K, P) * K;
}

/* ---- epilogue -------------------------------------------------------------- */

static void bias_relu(float *out, size_t ld, size_t rows, size_t n, const float *b)
{
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * ld;
        for (size_t j = 0; j < n; j++) {
            float v = o[j] + b[j];
            o[j] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* ---- im2col + GEMM ------------------------------------------------------- */

/* Receptive fields of output positions p0 .. p0+rows-1, one row of K floats
 * each, zeros where the window leaves the input (SAME padding). */
static void im2col_rows(const arnet__i3d_conv_desc *d, const arnet__act *in,
                        const uint32_t od[3], const uint32_t front[3], size_t p0, size_t rows,
                        float *col)
{
    const size_t C = in->c, K = conv_k(d);
    const int kt = d->k[0], kh = d->k[1], kw = d->k[2];
    const size_t run = (size_t)kw * C;
    for (size_t r = 0; r < rows; r++) {
        size_t p = p0 + r;
        long wo = (long)(p % od[2]);
        size_t q = p / od[2];
        long ho = (long)(q % od[1]);
        long to = (long)(q / od[1]);
        long ti0 = to * d->s[0] - (long)front[0];
        long hi0 = ho * d->s[1] - (long)front[1];
        long wi0 = wo * d->s[2] - (long)front[2];
        long lo = wi0 < 0 ? -wi0 : 0;
        long hi = (long)in->w - wi0 < kw ? (long)in->w - wi0 : kw;
        if (hi < lo)
            hi = lo;
        float *row = col + r * K;
        for (int dt = 0; dt < kt; dt++) {
            long ti = ti0 + dt;
            for (int dh = 0; dh < kh; dh++, row += run) {
                long hh = hi0 + dh;
                if (ti < 0 || ti >= (long)in->t || hh < 0 || hh >= (long)in->h) {
                    memset(row, 0, run * sizeof(float));
                    continue;
                }
                const float *src =
                    in->data + (((size_t)ti * in->h + (size_t)hh) * in->w + (size_t)(wi0 + lo)) * C;
                if (lo > 0)
                    memset(row, 0, (size_t)lo * C * sizeof(float));
                memcpy(row + (size_t)lo * C, src, (size_t)(hi - lo) * C * sizeof(float));
                if (hi < kw)
                    memset(row + (size_t)hi * C, 0, (size_t)(kw - hi) * C * sizeof(float));
            }
        }
    }
}

void arnet__conv3d_im2col(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                          const arnet__act *in, const arnet__act *out, float *scratch,
                          int threads)
{
    const prepared *pp = cv->prepared;
    const size_t K = conv_k(d), N = d->out_ch;
    const size_t P = (size_t)out->t * out->h * out->w;
    uint32_t front[3], back, od[3] = {out->t, out->h, out->w};
    arnet__same_pad(in->t, d->k[0], d->s[0], &front[0], &back, &od[0]);
    arnet__same_pad(in->h, d->k[1], d->s[1], &front[1], &back, &od[1]);
    arnet__same_pad(in->w, d->k[2], d->s[2], &front[2], &back, &od[2]);
    const int pointwise = is_pointwise(d);
    const size_t rows = pointwise ? tile_rows(K > N ? K : N, P) : tile_rows(K, P);
    for (size_t p0 = 0; p0 < P; p0 += rows) {
        size_t m = P - p0 < rows ? P - p0 : rows;
        const float *a;
        size_t lda;
        if (pointwise) {
            a = in->data + p0 * in->c;
            lda = in->c;
        } else {
            im2col_rows(d, in, od, front, p0, m, scratch);
            a = scratch;
            lda = K;
        }
        float *c = out->data + p0 * out->ld;
        arnet__sgemm(0, 0, m, N, K, 1.0f, a, lda, pp->wk, N, 0.0f, c, out->ld, threads);
        bias_relu(c, out->ld, m, N, cv->b);
    }
}

void arnet__conv3d(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                   const arnet__act *in, const arnet__act *out, float *scratch, int threads)
{
    arnet__conv3d_im2col(d, cv, in, out, scratch, threads);
}

/* ---- max pool -------------------------------------------------------------- */

void arnet__maxpool3d(const uint8_t k[3], const uint8_t s[3], const arnet__act *in,
                      const arnet__act *out)
{
    uint32_t front[3], back, od[3];
    arnet__same_pad(in->t, k[0], s[0], &front[0], &back, &od[0]);
    arnet__same_pad(in->h, k[1], s[1], &front[1], &back, &od[1]);
    arnet__same_pad(in->w, k[2], s[2], &front[2], &back, &od[2]);
    const size_t C = in->c;
    for (uint32_t to = 0; to < od[0]; to++)
        for (uint32_t ho = 0; ho < od[1]; ho++)
            for (uint32_t wo = 0; wo < od[2]; wo++) {
                float *o = out->data + (((size_t)to * od[1] + ho) * od[2] + wo) * out->ld;
                long t0 = (long)to * s[0] - front[0], h0 = (long)ho * s[1] - front[1],
                     w0 = (long)wo * s[2] - front[2];
                /* A window reaching into the padding sees zeros; a window
                 * always holds at least one real input. */
                int padded = t0 < 0 || h0 < 0 || w0 < 0 || t0 + k[0] > (long)in->t ||
                             h0 + k[1] > (long)in->h || w0 + k[2] > (long)in->w;
                long ta = t0 < 0 ? 0 : t0, ha = h0 < 0 ? 0 : h0, wa = w0 < 0 ? 0 : w0;
                long tb = t0 + k[0] < (long)in->t ? t0 + k[0] : (long)in->t;
                long hb = h0 + k[1] < (long)in->h ? h0 + k[1] : (long)in->h;
                long wb = w0 + k[2] < (long)in->w ? w0 + k[2] : (long)in->w;
                const float *first = in->data + (((size_t)ta * in->h + ha) * in->w + wa) * C;
                for (size_t c = 0; c < C; c++)
                    o[c] = padded && first[c] < 0.0f ? 0.0f : first[c];
                for (long ti = ta; ti < tb; ti++)
                    for (long hi = ha; hi < hb; hi++)
                        for (long wi = wa; wi < wb; wi++) {
                            const float *v =
                                in->data + (((size_t)ti * in->h + hi) * in->w + wi) * C;
                            for (size_t c = 0; c < C; c++)
                                o[c] = v[c] > o[c] ? v[c] : o[c];
                        }
            }
}
