/* preprocess.c -- decoded frames to the network's input: pixel formats to
 * RGB, Pillow's antialiased resize in its own fixed point, crops, scaling. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "preprocess.h"

/* Largest frame side and resized side accepted: keeps every index and
 * fixed-point sum far inside int32 and a state's buffers sane. */
#define SIDE_MAX 16384u

/* ---- frames ---------------------------------------------------------------- */

int arnet__frame_check(const char *fn, const arnet_frame *f)
{
    if (!f)
        return arnet__error(ARNET_E_INVALID, "%s: frame is NULL", fn);
    if (f->struct_size < sizeof *f)
        return arnet__error(ARNET_E_INVALID,
                            "%s: frame.struct_size %zu < %zu (call arnet_frame_init)", fn,
                            f->struct_size, sizeof *f);
    if (f->format < ARNET_PIXEL_RGB24 || f->format > ARNET_PIXEL_NV12)
        return arnet__error(ARNET_E_INVALID, "%s: frame.format %d is unknown (ARNET_PIXEL_*)",
                            fn, f->format);
    if (f->width < 1 || f->height < 1)
        return arnet__error(ARNET_E_INVALID, "%s: frame size %ux%u is empty", fn, f->width,
                            f->height);
    if (f->width > SIDE_MAX || f->height > SIDE_MAX)
        return arnet__error(ARNET_E_INVALID, "%s: frame size %ux%u is larger than %ux%u", fn,
                            f->width, f->height, SIDE_MAX, SIDE_MAX);
    size_t w = f->width, cw = (w + 1) / 2;
    size_t need[3] = {0, 0, 0};
    int n_planes = 0;
    switch (f->format) {
    case ARNET_PIXEL_RGB24:
    case ARNET_PIXEL_BGR24:
        n_planes = 1;
        need[0] = 3 * w;
        break;
    case ARNET_PIXEL_I420:
        n_planes = 3;
        need[0] = w;
        need[1] = need[2] = cw;
        break;
    default: /* NV12 */
        n_planes = 2;
        need[0] = w;
        need[1] = 2 * cw;
        break;
    }
    for (int p = 0; p < n_planes; p++) {
        if (!f->planes[p])
            return arnet__error(ARNET_E_INVALID, "%s: frame.planes[%d] is NULL", fn, p);
        if (f->strides[p] < need[p])
            return arnet__error(ARNET_E_INVALID,
                                "%s: frame.strides[%d] %zu is smaller than a row of %zu bytes "
                                "(width %u)",
                                fn, p, f->strides[p], need[p], f->width);
    }
    return ARNET_OK;
}

/* BT.601, limited range (Y 16..235, U and V 16..240), as FFmpeg's swscale
 * converts SD video by default: with Kr = 0.299, Kb = 0.114,
 *   R = 255/219 (Y-16)                                 + 255/112 (1-Kr) (V-128)
 *   G = 255/219 (Y-16) - 255/112 (1-Kb) Kb/Kg (U-128)  - 255/112 (1-Kr) Kr/Kg (V-128)
 *   B = 255/219 (Y-16) + 255/112 (1-Kb) (U-128)
 * in 20-bit fixed point, rounded to nearest and clamped to 0..255 (within
 * 3e-4 of the exact value before rounding). */
#define YUV_BITS 20
#define YUV_FIX(x) ((int32_t)((x) * (double)(1 << YUV_BITS) + 0.5))
#define KR 0.299
#define KB 0.114
#define KG (1.0 - KR - KB)
static const int32_t C_Y = YUV_FIX(255.0 / 219.0);
static const int32_t C_RV = YUV_FIX(255.0 / 112.0 * (1.0 - KR));
static const int32_t C_GU = YUV_FIX(255.0 / 112.0 * (1.0 - KB) * KB / KG);
static const int32_t C_GV = YUV_FIX(255.0 / 112.0 * (1.0 - KR) * KR / KG);
static const int32_t C_BU = YUV_FIX(255.0 / 112.0 * (1.0 - KB));

static inline uint8_t clamp_yuv(int32_t v)
{
    v = (v + (1 << (YUV_BITS - 1))) >> YUV_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Pixels of one chroma sample: the chroma terms once, then each luma. */
static inline void yuv_pixels(const uint8_t *y, uint32_t n, int u, int v, uint8_t *rgb)
{
    u -= 128;
    v -= 128;
    int32_t r = C_RV * v, g = -C_GU * u - C_GV * v, b = C_BU * u;
    for (uint32_t i = 0; i < n; i++) {
        int32_t l = C_Y * (y[i] - 16);
        rgb[3 * i] = clamp_yuv(l + r);
        rgb[3 * i + 1] = clamp_yuv(l + g);
        rgb[3 * i + 2] = clamp_yuv(l + b);
    }
}

/* Pixels x0 .. x0 + n - 1 of a YUV row, chroma at x / 2 of cu (step 1 for
 * I420) or of cu and cv interleaved (step 2 for NV12). */
static void yuv_row(const uint8_t *py, const uint8_t *cu, const uint8_t *cv, int step,
                    uint32_t x0, uint32_t n, uint8_t *buf)
{
    uint32_t x = x0, end = x0 + n;
    if (x & 1) { /* the second pixel of a pair */
        yuv_pixels(py + x, 1, cu[step * (x / 2)], cv[step * (x / 2)], buf);
        buf += 3;
        x++;
    }
    for (; x + 1 < end; x += 2, buf += 6)
        yuv_pixels(py + x, 2, cu[step * (x / 2)], cv[step * (x / 2)], buf);
    if (x < end)
        yuv_pixels(py + x, 1, cu[step * (x / 2)], cv[step * (x / 2)], buf);
}

/* Pixels x0 .. x0 + n - 1 of row y as RGB; returns the pixel at x0. */
static const uint8_t *row_rgb(const arnet_frame *f, uint32_t y, uint32_t x0, uint32_t n,
                              uint8_t *buf)
{
    const uint8_t *p0 = f->planes[0] + (size_t)y * f->strides[0];
    switch (f->format) {
    case ARNET_PIXEL_RGB24:
        return p0 + (size_t)x0 * 3;
    case ARNET_PIXEL_BGR24:
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *s = p0 + (size_t)(x0 + i) * 3;
            buf[3 * i] = s[2];
            buf[3 * i + 1] = s[1];
            buf[3 * i + 2] = s[0];
        }
        return buf;
    case ARNET_PIXEL_I420: {
        const uint8_t *pu = f->planes[1] + (size_t)(y / 2) * f->strides[1];
        const uint8_t *pv = f->planes[2] + (size_t)(y / 2) * f->strides[2];
        yuv_row(p0, pu, pv, 1, x0, n, buf);
        return buf;
    }
    default: { /* NV12 */
        const uint8_t *puv = f->planes[1] + (size_t)(y / 2) * f->strides[1];
        yuv_row(p0, puv, puv + 1, 2, x0, n, buf);
        return buf;
    }
    }
}

const uint8_t *arnet__frame_row_rgb(const arnet_frame *f, uint32_t y, uint8_t *buf)
{
    return row_rgb(f, y, 0, f->width, buf);
}

/* ---- sizes and crops ------------------------------------------------------- */

int arnet__resize_size(int rule, uint32_t w, uint32_t h, uint32_t *rw, uint32_t *rh)
{
    uint64_t ow, oh;
    switch (rule) {
    case ARNET_RESIZE_SHORT256:
        /* torchvision's Resize(256): the long side is int(256 * long / short),
         * rounded down (mmcv's rescale rounds to nearest instead). */
        if (w <= h) {
            ow = 256;
            oh = (uint64_t)256 * h / w;
        } else {
            oh = 256;
            ow = (uint64_t)256 * w / h;
        }
        break;
    case ARNET_RESIZE_340X256:
        ow = 340;
        oh = 256;
        break;
    case ARNET_RESIZE_224:
        ow = oh = ARNET__CROP;
        break;
    case ARNET_RESIZE_NONE:
        if (w < ARNET__CROP || h < ARNET__CROP)
            return arnet__error(ARNET_E_SHAPE,
                                "frame %ux%u is smaller than %ux%u, which resize rule none "
                                "needs (choose a rule that resizes)",
                                w, h, ARNET__CROP, ARNET__CROP);
        ow = w;
        oh = h;
        break;
    default:
        return arnet__error(ARNET_E_INVALID, "resize rule %d is unknown (ARNET_RESIZE_*)",
                            rule);
    }
    if (ow > SIDE_MAX || oh > SIDE_MAX)
        return arnet__error(ARNET_E_SHAPE,
                            "frame %ux%u would be resized to %llux%llu, larger than %ux%u", w,
                            h, (unsigned long long)ow, (unsigned long long)oh, SIDE_MAX,
                            SIDE_MAX);
    *rw = (uint32_t)ow;
    *rh = (uint32_t)oh;
    return ARNET_OK;
}

void arnet__crop_origins(uint32_t w, uint32_t h, uint32_t side, uint32_t x[5], uint32_t y[5])
{
    uint32_t r = w - side, b = h - side;
    x[0] = 0, y[0] = 0; /* top-left */
    x[1] = r, y[1] = 0; /* top-right */
    x[2] = r / 2, y[2] = b / 2;
    x[3] = 0, y[3] = b; /* bottom-left */
    x[4] = r, y[4] = b; /* bottom-right */
}

void arnet__pixel_table(float table[256])
{
    for (int v = 0; v < 256; v++)
        table[v] = (float)(v * 2.0 / 255.0 - 1.0);
}

void arnet__crop_float(const uint8_t *img, uint32_t w, uint32_t x0, uint32_t y0, uint32_t side,
                       int flip, const float table[256], float *out)
{
    for (uint32_t yy = 0; yy < side; yy++) {
        const uint8_t *row = img + (size_t)(y0 + yy) * w * 3;
        float *o = out + (size_t)yy * side * 3;
        if (!flip) {
            const uint8_t *p = row + (size_t)x0 * 3;
            for (uint32_t i = 0; i < 3 * side; i++)
                o[i] = table[p[i]];
        } else {
            /* column x of the mirrored image is column w - 1 - x */
            for (uint32_t xx = 0; xx < side; xx++) {
                const uint8_t *p = row + (size_t)(w - 1 - (x0 + xx)) * 3;
                o[3 * xx] = table[p[0]];
                o[3 * xx + 1] = table[p[1]];
                o[3 * xx + 2] = table[p[2]];
            }
        }
    }
}

/* ---- Pillow's resize --------------------------------------------------------- */

/* libImaging/Resample.c: weights in 32 - 8 - 2 bits, so that a sum of
 * 8-bit values times weights fits an int32 with room for negative lobes. */
#define PRECISION_BITS 22

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double sinc_filter(double x)
{
    if (x == 0.0)
        return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x)
{
    return -3.0 <= x && x < 3.0 ? sinc_filter(x) * sinc_filter(x / 3) : 0.0;
}

/* One axis: for outputs first .. first + count - 1 of an in -> out resize,
 * the first input (lo, relative to the first input any of them uses, set
 * in *base) and the number of inputs (n) of each, and ksize fixed-point
 * weights each.  The double-precision part is Pillow's precompute_coeffs
 * statement for statement (same operations, same order: same bits), the
 * rounding its normalize_coeffs_8bpc. */
typedef struct axis {
    uint32_t ksize;
    uint32_t base, span; /* inputs used: base .. base + span - 1 */
    int32_t *k;          /* count x ksize */
    uint32_t *lo, *n;    /* count each */
} axis;

static void axis_free(axis *a)
{
    free(a->k);
    free(a->lo);
    free(a->n);
}

static int axis_make(uint32_t in_size, uint32_t out_size, int filter, uint32_t first,
                     uint32_t count, axis *a)
{
    double (*fn)(double) = filter == ARNET_FILTER_LANCZOS ? lanczos_filter : bilinear_filter;
    double support = filter == ARNET_FILTER_LANCZOS ? 3.0 : 1.0;
    double scale, filterscale;
    filterscale = scale = (double)((float)in_size - 0.0f) / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = support * filterscale;
    a->ksize = (uint32_t)ceil(support) * 2 + 1;
    a->k = arnet__alloc((size_t)count * a->ksize, sizeof(int32_t), "resize weights");
    a->lo = arnet__alloc(count, sizeof(uint32_t), "resize bounds");
    a->n = arnet__alloc(count, sizeof(uint32_t), "resize bounds");
    double *w = arnet__alloc(a->ksize, sizeof(double), "resize weights");
    if (!a->k || !a->lo || !a->n || !w) {
        free(w);
        axis_free(a);
        return ARNET_E_NOMEM;
    }
    uint32_t lo_min = UINT32_MAX, hi_max = 0;
    for (uint32_t i = 0; i < count; i++) {
        int xx = (int)(first + i);
        double center = 0.0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)in_size)
            xmax = (int)in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = fn((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        for (int x = 0; x < xmax; x++)
            if (ww != 0.0)
                w[x] /= ww;
        int32_t *k = a->k + (size_t)i * a->ksize;
        for (uint32_t x = 0; x < a->ksize; x++) {
            double v = (int)x < xmax ? w[x] : 0.0;
            k[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        a->lo[i] = (uint32_t)xmin;
        a->n[i] = (uint32_t)(xmax > 0 ? xmax : 0);
        if (a->lo[i] < lo_min)
            lo_min = a->lo[i];
        if (a->lo[i] + a->n[i] > hi_max)
            hi_max = a->lo[i] + a->n[i];
    }
    free(w);
    if (!count || hi_max <= lo_min)
        lo_min = hi_max = 0;
    for (uint32_t i = 0; i < count; i++)
        a->lo[i] -= lo_min;
    a->base = lo_min;
    a->span = hi_max - lo_min;
    return ARNET_OK;
}

struct arnet__resizer {
    uint32_t in_w, in_h, win_w, win_h;
    axis h, v;    /* horizontal (window columns), vertical (window rows) */
    uint8_t *tmp; /* v.span rows x win_w x 3: the horizontal pass */
    uint8_t *row; /* h.span x 3: one converted source row */
    int32_t *acc; /* win_w x 3: sums of the vertical pass */
    size_t bytes;
};

int arnet__resizer_create(uint32_t in_w, uint32_t in_h, uint32_t out_w, uint32_t out_h,
                          int filter, uint32_t x0, uint32_t y0, uint32_t win_w, uint32_t win_h,
                          arnet__resizer **out)
{
    if (in_w < 1 || in_h < 1 || out_w < 1 || out_h < 1 || in_w > SIDE_MAX || in_h > SIDE_MAX ||
        out_w > SIDE_MAX || out_h > SIDE_MAX || win_w < 1 || win_h < 1 || x0 > out_w - win_w ||
        y0 > out_h - win_h)
        return arnet__error(ARNET_E_INVALID,
                            "resize %ux%u -> %ux%u, window %ux%u at (%u, %u): sizes out of range",
                            in_w, in_h, out_w, out_h, win_w, win_h, x0, y0);
    if (filter != ARNET_FILTER_BILINEAR && filter != ARNET_FILTER_LANCZOS)
        return arnet__error(ARNET_E_INVALID, "resize filter %d is unknown (ARNET_FILTER_*)",
                            filter);
    arnet__resizer *r = arnet__calloc(1, sizeof *r, "resizer");
    if (!r)
        return ARNET_E_NOMEM;
    r->in_w = in_w;
    r->in_h = in_h;
    r->win_w = win_w;
    r->win_h = win_h;
    int rc = axis_make(in_w, out_w, filter, x0, win_w, &r->h);
    if (rc) {
        free(r);
        return rc;
    }
    rc = axis_make(in_h, out_h, filter, y0, win_h, &r->v);
    if (rc) {
        axis_free(&r->h);
        free(r);
        return rc;
    }
    r->tmp = arnet__alloc((size_t)r->v.span * win_w, 3, "resize scratch");
    r->row = arnet__alloc((size_t)r->h.span + 1, 3, "resize row");
    r->acc = arnet__alloc((size_t)win_w * 3, sizeof(int32_t), "resize sums");
    if (!r->tmp || !r->row || !r->acc) {
        arnet__resizer_free(r);
        return ARNET_E_NOMEM;
    }
    r->bytes = sizeof *r + ((size_t)win_w * r->h.ksize + (size_t)win_h * r->v.ksize) * 4 +
               ((size_t)win_w + win_h) * 8 + (size_t)r->v.span * win_w * 3 +
               ((size_t)r->h.span + 1) * 3 + (size_t)win_w * 3 * sizeof(int32_t);
    *out = r;
    return ARNET_OK;
}

int arnet__state_resizer(uint32_t frame_w, uint32_t frame_h, uint32_t rw, uint32_t rh,
                         int filter, uint32_t crops, uint32_t *slot_w, uint32_t *slot_h,
                         uint32_t ox[5], uint32_t oy[5], arnet__resizer **out)
{
    const uint32_t C = ARNET__CROP;
    uint32_t wx = 0, wy = 0;
    if (crops == 1) { /* only the centre crop is ever used: resize that window */
        uint32_t cx[5], cy[5];
        arnet__crop_origins(rw, rh, C, cx, cy);
        wx = cx[2];
        wy = cy[2];
        *slot_w = *slot_h = C;
    } else {
        *slot_w = rw;
        *slot_h = rh;
        arnet__crop_origins(rw, rh, C, ox, oy);
    }
    return arnet__resizer_create(frame_w, frame_h, rw, rh, filter, wx, wy, *slot_w, *slot_h,
                                 out);
}

void arnet__resizer_free(arnet__resizer *r)
{
    if (!r)
        return;
    axis_free(&r->h);
    axis_free(&r->v);
    free(r->tmp);
    free(r->row);
    free(r->acc);
    free(r);
}

size_t arnet__resizer_memory(const arnet__resizer *r) { return r ? r->bytes : 0; }

static inline uint8_t clip8(int32_t ss)
{
    ss >>= PRECISION_BITS;
    return (uint8_t)(ss < 0 ? 0 : ss > 255 ? 255 : ss);
}

void arnet__resizer_run(arnet__resizer *r, const arnet_frame *f, uint8_t *out)
{
    const uint32_t W = r->win_w, kh = r->h.ksize, kv = r->v.ksize;
    /* Horizontal pass over the source rows the window needs, into uint8
     * (Pillow rounds between the passes too). */
    for (uint32_t yy = 0; yy < r->v.span; yy++) {
        const uint8_t *src = row_rgb(f, r->v.base + yy, r->h.base, r->h.span, r->row);
        uint8_t *t = r->tmp + (size_t)yy * W * 3;
        for (uint32_t xx = 0; xx < W; xx++) {
            const int32_t *k = r->h.k + (size_t)xx * kh;
            const uint8_t *p = src + (size_t)r->h.lo[xx] * 3;
            int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (uint32_t x = 0; x < r->h.n[xx]; x++) {
                s0 += p[3 * x] * k[x];
                s1 += p[3 * x + 1] * k[x];
                s2 += p[3 * x + 2] * k[x];
            }
            t[3 * xx] = clip8(s0);
            t[3 * xx + 1] = clip8(s1);
            t[3 * xx + 2] = clip8(s2);
        }
    }
    /* Vertical pass, a row of sums at a time (contiguous, vectorisable). */
    int32_t *acc = r->acc;
    for (uint32_t yy = 0; yy < r->win_h; yy++) {
        const int32_t *k = r->v.k + (size_t)yy * kv;
        const uint8_t *t0 = r->tmp + (size_t)r->v.lo[yy] * W * 3;
        for (uint32_t i = 0; i < 3 * W; i++)
            acc[i] = 1 << (PRECISION_BITS - 1);
        for (uint32_t y = 0; y < r->v.n[yy]; y++) {
            const uint8_t *t = t0 + (size_t)y * W * 3;
            const int32_t ky = k[y];
            for (uint32_t i = 0; i < 3 * W; i++)
                acc[i] += t[i] * ky;
        }
        uint8_t *o = out + (size_t)yy * W * 3;
        for (uint32_t i = 0; i < 3 * W; i++)
            o[i] = clip8(acc[i]);
    }
}

void arnet_frame_init(arnet_frame *frame)
{
    if (!frame)
        return;
    memset(frame, 0, sizeof *frame);
    frame->struct_size = sizeof *frame;
    frame->format = ARNET_PIXEL_RGB24;
}
