/* conv3d.c -- the extractor's convolution and pooling kernels on
 * channels-last clips (conv3d.h), every product through BLIS (blas.c).
 *
 * Weights arrive in PyTorch's layout [out][in][kt][kh][kw] with BatchNorm
 * folded in; arnet__i3d_prepare repacks each unit once into a K x out
 * row-major matrix, K running over (dt, dh, dw, in), so that one output
 * position's receptive field, read in channels-last order, is one row of
 * the left operand (and 3x3x3 units also into Winograd form).  Then:
 *   - 1x1x1 stride-1 convolutions are a GEMM on the activation itself
 *     (positions x in times in x out), no copy;
 *   - 3x3x3 units with enough channels and extent use Winograd F(4x4, 3x3)
 *     along h and w, direct along t (see the section below);
 *   - the others copy a bounded tile of input-frame slabs (im2col, at most
 *     IM2COL_FLOATS per tile, so Conv3d_1a never builds its 400 MB matrix)
 *     and multiply it in place, one GEMM per output frame;
 * and bias + ReLU are applied to each tile of output rows while it is
 * still in cache.  Output rows have stride out->ld, so a branch of an
 * Inception block lands in its channel slice of the concatenation.  The
 * members of a team (team.c) each take whole tiles or blocks and run BLIS
 * single-threaded on them. */
#include <stdlib.h>
#include <string.h>

#include "conv3d.h"
#include "internal.h"

/* Floats in one im2col tile (4 MB): small enough for the caches, large
 * enough that BLIS's packing of the weights is amortised over many rows. */
#define IM2COL_FLOATS ((size_t)1024 * 1024)
#define MIN_TILE_ROWS 64
/* Winograd inputs wider than this take the im2col path (a zero row of this
 * many floats stands for the padding). */
#define WINO_MAX_IN 1024
/* Winograd F(4x4, 3x3): 4 x 4 output tiles from 6 x 6 input patches, 36
 * transform elements (planes). */
#define WM 4
#define WA 6
#define WP (WA * WA)

/* The transforms, pools and epilogues are element-wise over channels: let
 * the compiler use the widest vectors the processor has (one clone per
 * ISA, chosen when the library loads). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define SIMD_TARGET __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SIMD_TARGET
#endif

typedef struct prepared {
    float *wk;   /* K x out, K = kt*kh*kw*in in (dt, dh, dw, in) order */
    float *wino; /* Winograd weights [36][3][in][out], or NULL */
} prepared;

/* ---- weights --------------------------------------------------------------- */

static size_t conv_k(const arnet__i3d_conv_desc *d)
{
    return (size_t)d->k[0] * d->k[1] * d->k[2] * d->in_ch;
}

static void winograd_weights(const arnet__i3d_conv_desc *d, const float *w, float *u);

void arnet__conv3d_unprepare(arnet__i3d_conv *cv)
{
    prepared *p = cv->prepared;
    if (p) {
        free(p->wk);
        free(p->wino);
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
    /* PyTorch: w[o][c][tap]; ours: wk[tap][c][o].  In blocks of 16 outputs,
     * so that both sides are read and written in runs. */
    for (size_t o0 = 0; o0 < N; o0 += 16)
        for (size_t c = 0; c < d->in_ch; c++)
            for (size_t tap = 0; tap < taps; tap++)
                for (size_t o = o0; o < N && o < o0 + 16; o++)
                    p->wk[(tap * d->in_ch + c) * N + o] = cv->w[(o * d->in_ch + c) * taps + tap];
    cv->prepared = p;
    if (arnet__conv3d_winograd_applies(d)) {
        p->wino = arnet__alloc(WP * 3 * (size_t)d->in_ch * N, sizeof(float),
                               "Winograd convolution weights");
        if (!p->wino) {
            arnet__conv3d_unprepare(cv);
            return ARNET_E_NOMEM;
        }
        winograd_weights(d, cv->w, p->wino);
    }
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
        int rc = arnet__conv3d_prepare(arnet__i3d_desc(x, i), &x->convs[i]);
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
    arnet__same_pad(t, k[0], s[0], NULL, NULL, &out[0]);
    arnet__same_pad(h, k[1], s[1], NULL, NULL, &out[1]);
    arnet__same_pad(w, k[2], s[2], NULL, NULL, &out[2]);
}

static int is_pointwise(const arnet__i3d_conv_desc *d)
{
    return d->k[0] == 1 && d->k[1] == 1 && d->k[2] == 1 && d->s[0] == 1 && d->s[1] == 1 &&
           d->s[2] == 1;
}

static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

/* Rows per tile of an im2col/pointwise product: a bounded tile, and at
 * least one tile per member of the team when the layer is small. */
static size_t tile_rows(size_t width, size_t positions, int members)
{
    size_t rows = IM2COL_FLOATS / (width ? width : 1);
    if (rows < MIN_TILE_ROWS)
        rows = MIN_TILE_ROWS;
    size_t share = div_up(positions, (size_t)members);
    if (rows > share)
        rows = share;
    return rows ? rows : 1;
}

typedef struct im2col_geom {
    size_t frames;    /* input frames the windows of all output frames span */
    size_t slab;      /* kh kw in */
    size_t positions; /* spatial output positions (ho, wo) */
    size_t tile;      /* positions per tile */
} im2col_geom;

static im2col_geom im2col_geometry(const arnet__i3d_conv_desc *d, const uint32_t od[3],
                                   int members)
{
    im2col_geom g;
    g.frames = (size_t)(od[0] - 1) * d->s[0] + d->k[0];
    g.slab = (size_t)d->k[1] * d->k[2] * d->in_ch;
    g.positions = (size_t)od[1] * od[2];
    g.tile = tile_rows(g.frames * g.slab, g.positions, members);
    return g;
}

/* ---- Winograd geometry ---------------------------------------------------- */

/* Floats one member needs for a block of tiles: the transformed input
 * (36 planes of t x tiles x in) and the products (36 x t x tiles x out). */
#define WINO_FLOATS ((size_t)4096 * 1024)
#define WINO_MIN_ROWS 128

/* Floats of V and M for a block of nb tiles: V has t rows of in per tile
 * and plane.  (With F(2x2, 3x3), V rows holding the three frames a product
 * row needs, one GEMM with K = 3 in per element, paid from 6 frames on;
 * with F(4x4, 3x3) writing V three times costs more than the three GEMMs
 * per element save: measured, docs/extractor.md.) */
static size_t wino_block_floats(const arnet__i3d_conv_desc *d, uint32_t t, size_t nb)
{
    size_t v = (size_t)t * d->in_ch;
    return WP * nb * (v + (size_t)t * d->out_ch);
}

static size_t wino_block_tiles(const arnet__i3d_conv_desc *d, uint32_t t, size_t tiles,
                               int members)
{
    size_t per_tile = wino_block_floats(d, t, 1);
    size_t nb = WINO_FLOATS / per_tile;
    if (nb * t < WINO_MIN_ROWS)
        nb = div_up(WINO_MIN_ROWS, t);
    size_t share = div_up(tiles, (size_t)members);
    if (nb > share)
        nb = share;
    return nb ? nb : 1;
}

int arnet__conv3d_winograd_applies(const arnet__i3d_conv_desc *d)
{
    return d->k[0] == 3 && d->k[1] == 3 && d->k[2] == 3 && d->s[0] == 1 && d->s[1] == 1 &&
           d->s[2] == 1 && d->in_ch <= WINO_MAX_IN;
}

/* Where the fast method pays: the products have K = in; below ~64 input
 * channels they are too thin for BLIS and im2col's K = 27 in does better,
 * and below 8 x 8 positions the tiles' padding eats the gain. */
static int winograd_pays(const arnet__i3d_conv_desc *d, uint32_t h, uint32_t w)
{
    return arnet__conv3d_winograd_applies(d) && d->in_ch >= 64 && h >= 8 && w >= 8;
}

size_t arnet__conv3d_scratch_floats(const arnet__i3d_conv_desc *d, uint32_t t, uint32_t h,
                                    uint32_t w, int threads)
{
    if (threads < 1)
        threads = 1;
    uint32_t od[3];
    arnet__conv3d_out_dims(d->k, d->s, t, h, w, od);
    size_t per_member = 0;
    if (!is_pointwise(d)) {
        im2col_geom g = im2col_geometry(d, od, threads);
        per_member = g.tile * g.frames * g.slab;
    }
    if (arnet__conv3d_winograd_applies(d)) { /* bounded: one block per member */
        size_t tiles = div_up(h, WM) * div_up(w, WM);
        size_t nb = wino_block_tiles(d, t, tiles, threads);
        size_t n = wino_block_floats(d, t, nb);
        if (n > per_member)
            per_member = n;
    }
    return per_member * (size_t)threads;
}

/* ---- epilogue -------------------------------------------------------------- */

SIMD_TARGET static void bias_relu(float *out, size_t ld, size_t rows, size_t n, const float *b)
{
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * ld;
        for (size_t j = 0; j < n; j++) {
            float v = o[j] + b[j];
            o[j] = v > 0.0f ? v : 0.0f;
        }
    }
}

/* ---- im2col + GEMM ------------------------------------------------------- *
 *
 * The receptive field of output (to, ho, wo) in channels-last order is kt
 * consecutive input frames, each contributing a kh x kw x in slab.  So the
 * copy is made per spatial output position and input frame, once, as
 * tile[position][frame][kh][kw][in]; the row of output frame `to` is then the
 * kt slabs from frame to * st on: contiguous, K = kt kh kw in floats, and
 * consecutive positions are a fixed stride apart.  One GEMM per output frame
 * reads the tile in place, and each frame slab is copied once instead of
 * kt / st times (3.5 times less copying for Conv3d_1a, 3 for 3x3x3). */

/* Slabs of spatial positions q0 .. q0+n-1 for every frame the windows
 * span, zeros where a window leaves the input (SAME padding). */
static void im2col_tile(const arnet__i3d_conv_desc *d, const arnet__act *in,
                        const uint32_t od[3], const uint32_t front[3], const im2col_geom *g,
                        size_t q0, size_t n, float *tile)
{
    const size_t C = in->c;
    const long kh = d->k[1], kw = d->k[2];
    const size_t run = (size_t)kw * C;
    for (size_t q = q0; q < q0 + n; q++) {
        long ho = (long)(q / od[2]), wo = (long)(q % od[2]);
        long hi0 = ho * d->s[1] - (long)front[1];
        long wi0 = wo * d->s[2] - (long)front[2];
        long lo = wi0 < 0 ? -wi0 : 0;
        long hi = (long)in->w - wi0 < kw ? (long)in->w - wi0 : kw;
        if (hi < lo)
            hi = lo;
        float *row = tile + (q - q0) * g->frames * g->slab;
        for (size_t f = 0; f < g->frames; f++) {
            long ti = (long)f - (long)front[0];
            for (long dh = 0; dh < kh; dh++, row += run) {
                long hh = hi0 + dh;
                if (ti < 0 || ti >= (long)in->t || hh < 0 || hh >= (long)in->h || hi == lo) {
                    memset(row, 0, run * sizeof(float));
                    continue;
                }
                const float *src =
                    in->data + (((size_t)ti * in->h + (size_t)hh) * in->w + (size_t)(wi0 + lo)) * C;
                float *dst = row;
                size_t i = 0;
                for (; i < (size_t)lo * C; i++)
                    *dst++ = 0.0f;
                for (size_t j = 0, m = (size_t)(hi - lo) * C; j < m; j++)
                    *dst++ = src[j];
                for (i = (size_t)hi * C; i < run; i++)
                    *dst++ = 0.0f;
            }
        }
    }
}

typedef struct conv_job {
    const arnet__i3d_conv_desc *d;
    const arnet__i3d_conv *cv;
    const arnet__act *in, *out;
    float *scratch;
    size_t per_member; /* floats of scratch per member */
    uint32_t od[3], front[3];
    im2col_geom g;     /* im2col: positions are spatial, a chunk is a tile */
    size_t rows;       /* pointwise: positions per chunk */
    size_t n_chunks;
    size_t next;       /* next chunk, taken atomically */
} conv_job;

static void pointwise_member(void *arg, int member)
{
    (void)member;
    conv_job *j = arg;
    const prepared *pp = j->cv->prepared;
    const size_t K = j->d->in_ch, N = j->d->out_ch;
    const size_t P = (size_t)j->od[0] * j->od[1] * j->od[2];
    for (size_t chunk; (chunk = arnet__team_take(&j->next)) < j->n_chunks;) {
        size_t p0 = chunk * j->rows;
        size_t m = P - p0 < j->rows ? P - p0 : j->rows;
        float *c = j->out->data + p0 * j->out->ld;
        arnet__sgemm(0, 0, m, N, K, 1.0f, j->in->data + p0 * j->in->c, j->in->c, pp->wk, N,
                     0.0f, c, j->out->ld, 1);
        bias_relu(c, j->out->ld, m, N, j->cv->b);
    }
}

static void im2col_member(void *arg, int member)
{
    conv_job *j = arg;
    const prepared *pp = j->cv->prepared;
    const size_t K = conv_k(j->d), N = j->d->out_ch;
    const im2col_geom *g = &j->g;
    const size_t lda = g->frames * g->slab;
    float *tile = j->scratch + (size_t)member * j->per_member;
    for (size_t chunk; (chunk = arnet__team_take(&j->next)) < j->n_chunks;) {
        size_t q0 = chunk * g->tile;
        size_t n = g->positions - q0 < g->tile ? g->positions - q0 : g->tile;
        im2col_tile(j->d, j->in, j->od, j->front, g, q0, n, tile);
        for (size_t to = 0; to < j->od[0]; to++) {
            float *c = j->out->data + (to * g->positions + q0) * j->out->ld;
            arnet__sgemm(0, 0, n, N, K, 1.0f, tile + to * j->d->s[0] * g->slab, lda, pp->wk, N,
                         0.0f, c, j->out->ld, 1);
            bias_relu(c, j->out->ld, n, N, j->cv->b);
        }
    }
}

void arnet__conv3d_im2col(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                          const arnet__act *in, const arnet__act *out, float *scratch,
                          arnet__team *team)
{
    conv_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.cv = cv;
    j.in = in;
    j.out = out;
    j.scratch = scratch;
    int members = arnet__team_size(team);
    uint32_t back;
    arnet__same_pad(in->t, d->k[0], d->s[0], &j.front[0], &back, &j.od[0]);
    arnet__same_pad(in->h, d->k[1], d->s[1], &j.front[1], &back, &j.od[1]);
    arnet__same_pad(in->w, d->k[2], d->s[2], &j.front[2], &back, &j.od[2]);
    if (is_pointwise(d)) {
        size_t P = (size_t)j.od[0] * j.od[1] * j.od[2];
        j.rows = tile_rows(d->in_ch > d->out_ch ? d->in_ch : d->out_ch, P, members);
        j.n_chunks = div_up(P, j.rows);
        arnet__team_run(team, pointwise_member, &j);
        return;
    }
    j.g = im2col_geometry(d, j.od, members);
    j.per_member = j.g.tile * j.g.frames * j.g.slab;
    j.n_chunks = div_up(j.g.positions, j.g.tile);
    arnet__team_run(team, im2col_member, &j);
}

/* ---- Winograd F(4x4, 3x3) along h, w; direct along t -------------------------
 *
 * For a 4 x 4 output tile at (4i, 4j) the input patch is the 6 x 6 block from
 * (4i - 1, 4j - 1) (zeros outside).  With the transforms of Lavin & Gray
 * (2016) for the points 0, +-1, +-2 and infinity, V = B^T d B, U = G g G^T,
 * Y = A^T M A, the 3 x 3 convolution of a tile is Y with M the element-wise
 * product of U and V: 36 products instead of 144 (4 times fewer; F(2x2, 3x3)
 * saved 2.25 times).  Across channels each of the 36 elements is a GEMM, and
 * along t the three taps are three GEMMs accumulating into the same
 * products, shifted by one frame: M[xi][t] = sum_dt V[xi][t + dt - 1] U[xi][dt].
 *
 * The larger tile rounds more (its transforms multiply by up to 8 and
 * 1/24): against double-precision loops the error is a few times that of
 * F(2x2, 3x3), still ~1e-6 of the largest output on the network's units
 * (tests/test_conv3d.c, docs/extractor.md).
 *
 * Work is split into blocks of nb tiles (all frames): one member transforms
 * a block into V [36][t][nb][in], multiplies into M [36][t][nb][out] and
 * transforms back into the output with bias and ReLU, so both stay cache
 * sized and no member waits for another. */

static void winograd_weights(const arnet__i3d_conv_desc *d, const float *w, float *u)
{
    static const double G[WA][3] = {{1.0 / 4, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                    {0, 0, 1}};
    const size_t C = d->in_ch, O = d->out_ch;
    for (size_t c = 0; c < C; c++)
        for (int dt = 0; dt < 3; dt++)
            for (size_t o = 0; o < O; o++) {
                const float *g = w + ((o * C + c) * 3 + (size_t)dt) * 9;
                double gg[WA][3]; /* G g */
                for (int a = 0; a < WA; a++)
                    for (int y = 0; y < 3; y++)
                        gg[a][y] = G[a][0] * g[0 * 3 + y] + G[a][1] * g[1 * 3 + y] +
                                   G[a][2] * g[2 * 3 + y];
                for (int a = 0; a < WA; a++)
                    for (int b = 0; b < WA; b++) {
                        double v = gg[a][0] * G[b][0] + gg[a][1] * G[b][1] + gg[a][2] * G[b][2];
                        u[(((size_t)(a * WA + b) * 3 + (size_t)dt) * C + c) * O + o] = (float)v;
                    }
            }
}

static const float wino_zeros[WINO_MAX_IN];

/* B^T applied to six values (a column or a row of the patch). */
#define WINO_BT(x0, x1, x2, x3, x4, x5, y)                                                   \
    do {                                                                                     \
        (y)[0] = 4.0f * (x0) - 5.0f * (x2) + (x4);                                           \
        (y)[1] = (x3) + (x4) - 4.0f * ((x1) + (x2));                                         \
        (y)[2] = (x4) - (x3) + 4.0f * ((x1) - (x2));                                         \
        (y)[3] = (x4) - (x2) + 2.0f * ((x3) - (x1));                                         \
        (y)[4] = (x4) - (x2) + 2.0f * ((x1) - (x3));                                         \
        (y)[5] = 4.0f * (x1) - 5.0f * (x3) + (x5);                                           \
    } while (0)

/* V = B^T d B for one tile, channels 0 .. n; p[36] point at the patch's
 * positions (wino_zeros outside the input); plane xi at v + xi * plane. */
SIMD_TARGET static void wino_in_tile(const float *const p[WP], size_t n, float *restrict v,
                                     size_t plane)
{
    for (size_t c = 0; c < n; c++) {
        float t[WA][WA], r[WA];
        for (int b = 0; b < WA; b++) { /* columns: t[.][b] = B^T d[.][b] */
            WINO_BT(p[0 * WA + b][c], p[1 * WA + b][c], p[2 * WA + b][c], p[3 * WA + b][c],
                    p[4 * WA + b][c], p[5 * WA + b][c], r);
            for (int a = 0; a < WA; a++)
                t[a][b] = r[a];
        }
        for (int a = 0; a < WA; a++) { /* rows: (B^T d) B */
            WINO_BT(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], r);
            for (int b = 0; b < WA; b++)
                v[(size_t)(a * WA + b) * plane + c] = r[b];
        }
    }
}

/* A^T applied to six values. */
#define WINO_AT(x0, x1, x2, x3, x4, x5, y)                                                   \
    do {                                                                                     \
        float s12 = (x1) + (x2), d12 = (x1) - (x2), s34 = (x3) + (x4), d34 = (x3) - (x4);     \
        (y)[0] = (x0) + s12 + s34;                                                           \
        (y)[1] = d12 + 2.0f * d34;                                                           \
        (y)[2] = s12 + 4.0f * s34;                                                           \
        (y)[3] = d12 + 8.0f * d34 + (x5);                                                    \
    } while (0)

/* Y = A^T M A + b, ReLU, for one tile: m at plane 0 (planes `plane` floats
 * apart); y[u * 4 + v] the output positions (NULL outside the output). */
SIMD_TARGET static void wino_out_tile(const float *m, size_t plane, size_t n, const float *bias,
                                      float *const y[WM * WM])
{
    for (size_t o = 0; o < n; o++) {
        float s[WM][WA], r[WM];
        for (int b = 0; b < WA; b++) { /* columns */
            WINO_AT(m[(size_t)(0 * WA + b) * plane + o], m[(size_t)(1 * WA + b) * plane + o],
                    m[(size_t)(2 * WA + b) * plane + o], m[(size_t)(3 * WA + b) * plane + o],
                    m[(size_t)(4 * WA + b) * plane + o], m[(size_t)(5 * WA + b) * plane + o], r);
            for (int u = 0; u < WM; u++)
                s[u][b] = r[u];
        }
        for (int u = 0; u < WM; u++) {
            WINO_AT(s[u][0], s[u][1], s[u][2], s[u][3], s[u][4], s[u][5], r);
            for (int v = 0; v < WM; v++) {
                float x = r[v] + bias[o];
                if (y[u * WM + v])
                    y[u * WM + v][o] = x > 0.0f ? x : 0.0f;
            }
        }
    }
}

typedef struct wino_job {
    const arnet__i3d_conv_desc *d;
    const arnet__i3d_conv *cv;
    const arnet__act *in, *out;
    float *scratch;
    size_t per_member;
    size_t tiles_w, tiles, nb, n_blocks;
    size_t next;
} wino_job;

static void wino_member(void *arg, int member)
{
    wino_job *j = arg;
    const arnet__act *in = j->in, *out = j->out;
    const size_t C = in->c, O = j->d->out_ch, T = in->t;
    const float *U = ((const prepared *)j->cv->prepared)->wino;
    float *V = j->scratch + (size_t)member * j->per_member;
    for (size_t blk; (blk = arnet__team_take(&j->next)) < j->n_blocks;) {
        size_t j0 = blk * j->nb;
        size_t nb = j->tiles - j0 < j->nb ? j->tiles - j0 : j->nb;
        /* V rows (frame, tile), frames 0 .. T-1; the three taps are three
         * products per element, two of them shifted by a frame. */
        const size_t rows = T * nb;
        const size_t vplane = rows * C, mplane = rows * O;
        float *V0 = V;
        float *M = V + WP * vplane;
        for (size_t t = 0; t < T; t++)
            for (size_t q = 0; q < nb; q++) {
                size_t tile = j0 + q;
                long h0 = WM * (long)(tile / j->tiles_w) - 1,
                     w0 = WM * (long)(tile % j->tiles_w) - 1;
                const float *p[WP];
                for (int a = 0; a < WA; a++)
                    for (int b = 0; b < WA; b++) {
                        long hh = h0 + a, ww = w0 + b;
                        p[a * WA + b] = hh < 0 || ww < 0 || hh >= (long)in->h || ww >= (long)in->w
                                            ? wino_zeros
                                            : in->data + ((t * in->h + (size_t)hh) * in->w +
                                                          (size_t)ww) * C;
                    }
                wino_in_tile(p, C, V0 + (t * nb + q) * C, vplane);
            }
        for (size_t xi = 0; xi < WP; xi++) {
            const float *Vx = V0 + xi * vplane, *Ux = U + xi * 3 * C * O;
            float *Mx = M + xi * mplane;
            /* centre tap over all frames, then the two shifted by a frame */
            arnet__sgemm(0, 0, rows, O, C, 1.0f, Vx, C, Ux + C * O, O, 0.0f, Mx, O, 1);
            if (T > 1) {
                arnet__sgemm(0, 0, rows - nb, O, C, 1.0f, Vx, C, Ux, O, 1.0f, Mx + nb * O, O, 1);
                arnet__sgemm(0, 0, rows - nb, O, C, 1.0f, Vx + nb * C, C, Ux + 2 * C * O, O, 1.0f,
                             Mx, O, 1);
            }
        }
        for (size_t t = 0; t < T; t++)
            for (size_t q = 0; q < nb; q++) {
                size_t tile = j0 + q;
                size_t h0 = WM * (tile / j->tiles_w), w0 = WM * (tile % j->tiles_w);
                float *y[WM * WM];
                for (int u = 0; u < WM; u++)
                    for (int v = 0; v < WM; v++)
                        y[u * WM + v] = h0 + u < out->h && w0 + v < out->w
                                            ? out->data +
                                                  ((t * out->h + h0 + u) * out->w + w0 + v) * out->ld
                                            : NULL;
                wino_out_tile(M + (t * nb + q) * O, mplane, O, j->cv->b, y);
            }
    }
}

void arnet__conv3d_winograd(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                            const arnet__act *in, const arnet__act *out, float *scratch,
                            arnet__team *team)
{
    wino_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.cv = cv;
    j.in = in;
    j.out = out;
    j.scratch = scratch;
    int members = arnet__team_size(team);
    j.tiles_w = div_up(in->w, WM);
    j.tiles = div_up(in->h, WM) * j.tiles_w;
    j.nb = wino_block_tiles(d, in->t, j.tiles, members);
    j.per_member = wino_block_floats(d, in->t, j.nb);
    j.n_blocks = div_up(j.tiles, j.nb);
    arnet__team_run(team, wino_member, &j);
}

void arnet__conv3d(const arnet__i3d_conv_desc *d, const arnet__i3d_conv *cv,
                   const arnet__act *in, const arnet__act *out, float *scratch, arnet__team *team)
{
    const prepared *p = cv->prepared;
    if (p->wino && winograd_pays(d, in->h, in->w))
        arnet__conv3d_winograd(d, cv, in, out, scratch, team);
    else
        arnet__conv3d_im2col(d, cv, in, out, scratch, team);
}

/* ---- max pool -------------------------------------------------------------- */

typedef struct pool_job {
    const uint8_t *k, *s;
    const arnet__act *in, *out;
    uint32_t od[3], front[3];
    size_t n_rows; /* output (t, h) rows */
    size_t next;
} pool_job;

/* The direct method (kt kh kw reads an output), for rows too wide for the
 * separable one's buffer (over 5461 channels with a 3-wide window). */
SIMD_TARGET static void pool_direct_member(void *arg, int member)
{
    (void)member;
    pool_job *j = arg;
    const arnet__act *in = j->in, *out = j->out;
    const uint8_t *k = j->k, *s = j->s;
    const size_t C = in->c;
    for (size_t row; (row = arnet__team_take(&j->next)) < j->n_rows;) {
        uint32_t to = (uint32_t)(row / j->od[1]), ho = (uint32_t)(row % j->od[1]);
        for (uint32_t wo = 0; wo < j->od[2]; wo++) {
            float *o = out->data + (((size_t)to * j->od[1] + ho) * j->od[2] + wo) * out->ld;
            long t0 = (long)to * s[0] - j->front[0], h0 = (long)ho * s[1] - j->front[1],
                 w0 = (long)wo * s[2] - j->front[2];
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
                        const float *v = in->data + (((size_t)ti * in->h + hi) * in->w + wi) * C;
                        for (size_t c = 0; c < C; c++)
                            o[c] = v[c] > o[c] ? v[c] : o[c];
                    }
        }
    }
}

/* Floats of a member's row buffer: the (t, h) maxima of a run of input
 * columns (64 KB on the stack). */
#define POOL_ROW_FLOATS 16384

/* Separable: for an output row (to, ho), first the maximum over the
 * window's kt x kh input rows of each input column the row's windows
 * touch (kt kh reads a column), then each output the maximum of kw of
 * those (kw reads): kt kh + kw reads per output instead of kt kh kw (12
 * instead of 27 for the 3x3x3 pools).  A window reaching into the padding
 * sees zeros; a window always holds at least one real input.  Columns
 * are done in runs that fit the row buffer. */
SIMD_TARGET static void pool_member(void *arg, int member)
{
    (void)member;
    pool_job *j = arg;
    const arnet__act *in = j->in, *out = j->out;
    const uint8_t *k = j->k, *s = j->s;
    const size_t C = in->c;
    float rowmax[POOL_ROW_FLOATS];
    /* output columns per run: their windows span (run - 1) s + k columns */
    size_t span_max = POOL_ROW_FLOATS / C;
    size_t run = span_max >= k[2] ? (span_max - k[2]) / s[2] + 1 : 0;
    for (size_t row; (row = arnet__team_take(&j->next)) < j->n_rows;) {
        uint32_t to = (uint32_t)(row / j->od[1]), ho = (uint32_t)(row % j->od[1]);
        long t0 = (long)to * s[0] - j->front[0], h0 = (long)ho * s[1] - j->front[1];
        long ta = t0 < 0 ? 0 : t0, ha = h0 < 0 ? 0 : h0;
        long tb = t0 + k[0] < (long)in->t ? t0 + k[0] : (long)in->t;
        long hb = h0 + k[1] < (long)in->h ? h0 + k[1] : (long)in->h;
        int th_padded = t0 < 0 || h0 < 0 || t0 + k[0] > (long)in->t || h0 + k[1] > (long)in->h;
        for (uint32_t w0 = 0; w0 < j->od[2]; w0 += (uint32_t)run) {
            uint32_t w1 = w0 + (uint32_t)run < j->od[2] ? w0 + (uint32_t)run : j->od[2];
            /* input columns [ca, cb) of this run's windows */
            long ca = (long)w0 * s[2] - j->front[2], cb = (long)(w1 - 1) * s[2] - j->front[2] + k[2];
            if (ca < 0)
                ca = 0;
            if (cb > (long)in->w)
                cb = (long)in->w;
            for (long wi = ca; wi < cb; wi++) {
                float *r = rowmax + (size_t)(wi - ca) * C;
                const float *first = in->data + (((size_t)ta * in->h + ha) * in->w + wi) * C;
                for (size_t c = 0; c < C; c++)
                    r[c] = th_padded && first[c] < 0.0f ? 0.0f : first[c];
                for (long ti = ta; ti < tb; ti++)
                    for (long hi = ha; hi < hb; hi++) {
                        const float *v = in->data + (((size_t)ti * in->h + hi) * in->w + wi) * C;
                        for (size_t c = 0; c < C; c++)
                            r[c] = v[c] > r[c] ? v[c] : r[c];
                    }
            }
            for (uint32_t wo = w0; wo < w1; wo++) {
                float *o = out->data + (((size_t)to * j->od[1] + ho) * j->od[2] + wo) * out->ld;
                long x0 = (long)wo * s[2] - j->front[2];
                long xa = x0 < 0 ? 0 : x0, xb = x0 + k[2] < (long)in->w ? x0 + k[2] : (long)in->w;
                int padded = x0 < 0 || x0 + k[2] > (long)in->w;
                const float *first = rowmax + (size_t)(xa - ca) * C;
                for (size_t c = 0; c < C; c++)
                    o[c] = padded && first[c] < 0.0f ? 0.0f : first[c];
                for (long x = xa + 1; x < xb; x++) {
                    const float *v = rowmax + (size_t)(x - ca) * C;
                    for (size_t c = 0; c < C; c++)
                        o[c] = v[c] > o[c] ? v[c] : o[c];
                }
            }
        }
    }
}

void arnet__maxpool3d(const uint8_t k[3], const uint8_t s[3], const arnet__act *in,
                      const arnet__act *out, arnet__team *team)
{
    pool_job j;
    memset(&j, 0, sizeof j);
    j.k = k;
    j.s = s;
    j.in = in;
    j.out = out;
    uint32_t back;
    arnet__same_pad(in->t, k[0], s[0], &j.front[0], &back, &j.od[0]);
    arnet__same_pad(in->h, k[1], s[1], &j.front[1], &back, &j.od[1]);
    arnet__same_pad(in->w, k[2], s[2], &j.front[2], &back, &j.od[2]);
    j.n_rows = (size_t)j.od[0] * j.od[1];
    arnet__team_run(team, (size_t)k[2] * in->c <= POOL_ROW_FLOATS ? pool_member : pool_direct_member,
                    &j);
}
