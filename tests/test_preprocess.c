/* test_preprocess.c -- frames to the network's input: the resize against
 * Pillow (tests/reference/pil_resize.py), windows, pixel formats against
 * the double-precision BT.601 formula, resize rules, crop geometry, pixel
 * scaling, and the frames the converters refuse. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "preprocess.h"

#define PYTHON "/usr/bin/python3"

static uint64_t lcg_state = 20261129;
static uint8_t lcg_byte(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(lcg_state >> 56);
}

/* A test image: smooth gradients with random noise on top and a few
 * saturated blocks, so that both the interpolation and the clipping of
 * negative Lanczos lobes are exercised. */
static uint8_t *make_image(uint32_t w, uint32_t h)
{
    uint8_t *img = malloc((size_t)w * h * 3);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                int v = (int)((x * 255) / (w > 1 ? w - 1 : 1) * (c == 0) +
                              (y * 255) / (h > 1 ? h - 1 : 1) * (c == 1) + 128 * (c == 2));
                v += (int)(lcg_byte() % 61) - 30;
                if (((x / 9) + (y / 7)) % 5 == 0)
                    v = (x / 9) % 2 ? 255 : 0;
                img[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return img;
}

static arnet_frame rgb_frame(const uint8_t *img, uint32_t w, uint32_t h)
{
    arnet_frame f;
    arnet_frame_init(&f);
    f.format = ARNET_PIXEL_RGB24;
    f.width = w;
    f.height = h;
    f.planes[0] = img;
    f.strides[0] = (size_t)w * 3;
    return f;
}

static uint8_t *resize_whole(const arnet_frame *f, uint32_t ow, uint32_t oh, int filter)
{
    arnet__resizer *r = NULL;
    ck_assert_int_eq(arnet__resizer_create(f->width, f->height, ow, oh, filter, 0, 0, ow, oh, &r),
                     ARNET_OK);
    uint8_t *out = malloc((size_t)ow * oh * 3);
    arnet__resizer_run(r, f, out);
    arnet__resizer_free(r);
    return out;
}

/* ---- Pillow ------------------------------------------------------------------- */

static int have_pil(void)
{
    return system("'" PYTHON "' -c 'import PIL.Image' >/dev/null 2>&1") == 0;
}

typedef struct pil_case {
    uint32_t w, h, ow, oh;
    int filter;
} pil_case;

/* Down and up, odd sizes, both axes different, one axis unchanged, the
 * published rules' target sizes (short side 256, 340 x 256, 224 x 224). */
static const pil_case pil_cases[] = {
    {640, 360, 455, 256, ARNET_FILTER_BILINEAR},  {320, 240, 341, 256, ARNET_FILTER_BILINEAR},
    {171, 128, 340, 256, ARNET_FILTER_BILINEAR},  {1001, 563, 224, 224, ARNET_FILTER_BILINEAR},
    {101, 77, 224, 224, ARNET_FILTER_BILINEAR},   {999, 37, 224, 224, ARNET_FILTER_BILINEAR},
    {225, 300, 256, 341, ARNET_FILTER_BILINEAR},  {224, 331, 224, 224, ARNET_FILTER_BILINEAR},
    {257, 255, 256, 256, ARNET_FILTER_BILINEAR},  {1, 1, 224, 224, ARNET_FILTER_BILINEAR},
    {480, 270, 340, 256, ARNET_FILTER_LANCZOS},   {320, 240, 340, 256, ARNET_FILTER_LANCZOS},
    {173, 97, 224, 224, ARNET_FILTER_LANCZOS},    {853, 480, 455, 256, ARNET_FILTER_LANCZOS},
};
#define N_PIL (sizeof pil_cases / sizeof *pil_cases)

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s missing", path);
    uint8_t *d = malloc(n + 1);
    ck_assert_uint_eq(fread(d, 1, n + 1, f), n);
    fclose(f);
    return d;
}

START_TEST(resize_equals_pillow_bit_for_bit)
{
    char dir[] = "/tmp/arnet-resize-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], cmd[512];
    uint8_t *imgs[N_PIL];
    snprintf(path, sizeof path, "%s/index.txt", dir);
    FILE *idx = fopen(path, "w");
    ck_assert_ptr_nonnull(idx);
    for (size_t i = 0; i < N_PIL; i++) {
        const pil_case *c = &pil_cases[i];
        imgs[i] = make_image(c->w, c->h);
        snprintf(path, sizeof path, "%s/c%zu.rgb", dir, i);
        write_file(path, imgs[i], (size_t)c->w * c->h * 3);
        fprintf(idx, "c%zu %u %u %u %u %s\n", i, c->w, c->h, c->ow, c->oh,
                c->filter == ARNET_FILTER_LANCZOS ? "lanczos" : "bilinear");
    }
    ck_assert_int_eq(fclose(idx), 0);
    snprintf(cmd, sizeof cmd, "'%s' '%s/tests/reference/pil_resize.py' '%s'", PYTHON,
             ARNET_SOURCE_DIR, dir);
    ck_assert_int_eq(system(cmd), 0);
    for (size_t i = 0; i < N_PIL; i++) {
        const pil_case *c = &pil_cases[i];
        size_t n = (size_t)c->ow * c->oh * 3;
        snprintf(path, sizeof path, "%s/c%zu.pil", dir, i);
        uint8_t *ref = read_file(path, n);
        arnet_frame f = rgb_frame(imgs[i], c->w, c->h);
        uint8_t *got = resize_whole(&f, c->ow, c->oh, c->filter);
        size_t differ = 0;
        int worst = 0;
        for (size_t j = 0; j < n; j++) {
            int d = abs((int)got[j] - (int)ref[j]);
            differ += d != 0;
            worst = d > worst ? d : worst;
        }
        ck_assert_msg(differ == 0,
                      "case %zu %ux%u -> %ux%u (%s): %zu of %zu values differ from Pillow, "
                      "by up to %d",
                      i, c->w, c->h, c->ow, c->oh,
                      c->filter == ARNET_FILTER_LANCZOS ? "lanczos" : "bilinear", differ, n,
                      worst);
        free(ref);
        free(got);
        free(imgs[i]);
        snprintf(path, sizeof path, "%s/c%zu.rgb", dir, i);
        unlink(path);
        snprintf(path, sizeof path, "%s/c%zu.pil", dir, i);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/index.txt", dir);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ---- windows, formats -------------------------------------------------------- */

START_TEST(a_window_is_the_same_pixels_as_the_whole_image)
{
    const uint32_t w = 640, h = 360, ow = 455, oh = 256;
    uint8_t *img = make_image(w, h);
    arnet_frame f = rgb_frame(img, w, h);
    for (int filter = 0; filter < 2; filter++) {
        uint8_t *whole = resize_whole(&f, ow, oh, filter);
        const uint32_t win[][4] = {{115, 16, 224, 224}, {0, 0, 224, 224}, {231, 32, 224, 224},
                                   {0, 0, 455, 256},    {454, 255, 1, 1}, {17, 3, 5, 250}};
        for (size_t k = 0; k < sizeof win / sizeof *win; k++) {
            uint32_t x0 = win[k][0], y0 = win[k][1], ww = win[k][2], wh = win[k][3];
            arnet__resizer *r = NULL;
            ck_assert_int_eq(arnet__resizer_create(w, h, ow, oh, filter, x0, y0, ww, wh, &r),
                             ARNET_OK);
            ck_assert_uint_gt(arnet__resizer_memory(r), (size_t)ww * 3);
            uint8_t *part = malloc((size_t)ww * wh * 3);
            arnet__resizer_run(r, &f, part);
            for (uint32_t y = 0; y < wh; y++)
                ck_assert_msg(memcmp(part + (size_t)y * ww * 3,
                                     whole + ((size_t)(y0 + y) * ow + x0) * 3,
                                     (size_t)ww * 3) == 0,
                              "filter %d window %zu row %u differs", filter, k, y);
            free(part);
            arnet__resizer_free(r);
        }
        free(whole);
    }
    /* A window outside the image is refused. */
    arnet__resizer *r = NULL;
    ck_assert_int_eq(arnet__resizer_create(w, h, ow, oh, 0, 232, 0, 224, 224, &r),
                     ARNET_E_INVALID);
    ck_assert_int_eq(arnet__resizer_create(w, h, ow, oh, 7, 0, 0, 224, 224, &r),
                     ARNET_E_INVALID);
    ck_assert_ptr_null(r);
    free(img);
}
END_TEST

START_TEST(bgr_with_padded_rows_equals_rgb)
{
    const uint32_t w = 333, h = 211, pad = 13;
    uint8_t *img = make_image(w, h);
    uint8_t *bgr = malloc((size_t)(w * 3 + pad) * h);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                bgr[(size_t)y * (w * 3 + pad) + x * 3 + c] = img[((size_t)y * w + x) * 3 + 2 - c];
        memset(bgr + (size_t)y * (w * 3 + pad) + w * 3, 0xee, pad);
    }
    arnet_frame f = rgb_frame(img, w, h), g = f;
    g.format = ARNET_PIXEL_BGR24;
    g.planes[0] = bgr;
    g.strides[0] = w * 3 + pad;
    ck_assert_int_eq(arnet__frame_check("t", &g), ARNET_OK);
    uint8_t *a = resize_whole(&f, 224, 224, ARNET_FILTER_BILINEAR);
    uint8_t *b = resize_whole(&g, 224, 224, ARNET_FILTER_BILINEAR);
    ck_assert(memcmp(a, b, 224 * 224 * 3) == 0);
    uint8_t row[333 * 3];
    for (uint32_t y = 0; y < h; y += 7)
        ck_assert(memcmp(arnet__frame_row_rgb(&g, y, row), img + (size_t)y * w * 3, w * 3) == 0);
    free(a);
    free(b);
    free(bgr);
    free(img);
}
END_TEST

/* BT.601 limited range in double precision, from its definition. */
static double ref_channel(int c, int Y, int U, int V)
{
    const double kr = 0.299, kb = 0.114, kg = 1 - kr - kb;
    double l = (Y - 16) * 255.0 / 219.0, u = (U - 128) * 255.0 / 224.0,
           v = (V - 128) * 255.0 / 224.0;
    if (c == 0)
        return l + 2 * (1 - kr) * v;
    if (c == 1)
        return l - 2 * (1 - kb) * kb / kg * u - 2 * (1 - kr) * kr / kg * v;
    return l + 2 * (1 - kb) * u;
}

/* Our value for a pixel against the formula: equal after rounding, except
 * within 5e-4 of a half, where the fixed point (within 3e-4) may fall
 * either side. */
static void check_pixel(const uint8_t *got, int Y, int U, int V, size_t *near_half)
{
    for (int c = 0; c < 3; c++) {
        double x = ref_channel(c, Y, U, V);
        double cl = x < 0 ? 0 : x > 255 ? 255 : x;
        int want = (int)floor(cl + 0.5);
        double frac = cl - floor(cl);
        if (fabs(frac - 0.5) < 5e-4) {
            ck_assert_int_le(abs((int)got[c] - want), 1);
            (*near_half)++;
        } else {
            ck_assert_msg(got[c] == want, "Y %d U %d V %d channel %d: %d, formula %.4f", Y, U,
                          V, c, got[c], x);
        }
    }
}

START_TEST(yuv_formats_against_the_double_formula)
{
    /* Odd sizes: the last chroma column and row cover one pixel. */
    const uint32_t sizes[][2] = {{7, 5}, {8, 6}, {1, 1}, {33, 17}, {256, 256}};
    size_t near_half = 0, checked = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        uint32_t w = sizes[s][0], h = sizes[s][1], cw = (w + 1) / 2, ch = (h + 1) / 2;
        size_t ys = w + 3, us = cw + 1, uvs = 2 * cw + 5;
        uint8_t *Y = malloc(ys * h), *U = malloc(us * ch), *V = malloc(us * ch),
                *UV = malloc(uvs * ch);
        for (size_t i = 0; i < ys * h; i++)
            Y[i] = lcg_byte();
        for (size_t i = 0; i < us * ch; i++) {
            U[i] = lcg_byte();
            V[i] = lcg_byte();
        }
        if (w == 256) { /* every Y, U, V value at least once */
            for (size_t i = 0; i < ys * h; i++)
                Y[i] = (uint8_t)i;
            for (uint32_t y = 0; y < ch; y++)
                for (uint32_t x = 0; x < cw; x++) {
                    U[y * us + x] = (uint8_t)(x * 2 + y);
                    V[y * us + x] = (uint8_t)(y * 2 + x * 3);
                }
        }
        for (uint32_t y = 0; y < ch; y++)
            for (uint32_t x = 0; x < cw; x++) {
                UV[y * uvs + 2 * x] = U[y * us + x];
                UV[y * uvs + 2 * x + 1] = V[y * us + x];
            }
        arnet_frame i420, nv12;
        arnet_frame_init(&i420);
        i420.format = ARNET_PIXEL_I420;
        i420.width = w;
        i420.height = h;
        i420.planes[0] = Y;
        i420.planes[1] = U;
        i420.planes[2] = V;
        i420.strides[0] = ys;
        i420.strides[1] = i420.strides[2] = us;
        nv12 = i420;
        nv12.format = ARNET_PIXEL_NV12;
        nv12.planes[1] = UV;
        nv12.planes[2] = NULL;
        nv12.strides[1] = uvs;
        nv12.strides[2] = 0;
        ck_assert_int_eq(arnet__frame_check("t", &i420), ARNET_OK);
        ck_assert_int_eq(arnet__frame_check("t", &nv12), ARNET_OK);
        uint8_t *row = malloc((size_t)w * 3), *row2 = malloc((size_t)w * 3);
        for (uint32_t y = 0; y < h; y++) {
            const uint8_t *a = arnet__frame_row_rgb(&i420, y, row);
            const uint8_t *b = arnet__frame_row_rgb(&nv12, y, row2);
            ck_assert(memcmp(a, b, (size_t)w * 3) == 0);
            for (uint32_t x = 0; x < w; x++, checked++)
                check_pixel(a + 3 * x, Y[y * ys + x], U[(y / 2) * us + x / 2],
                            V[(y / 2) * us + x / 2], &near_half);
        }
        free(row);
        free(row2);
        free(Y);
        free(U);
        free(V);
        free(UV);
    }
    /* Nearly all values are decided exactly (a uniform fraction falls in
     * that window 0.1 % of the time). */
    ck_assert_uint_lt(near_half * 200, checked * 3);
    /* Known points: black, white, the primaries' extremes clip. */
    uint8_t px[3];
    const uint8_t yk[1] = {16}, uk[1] = {128}, vk[1] = {128};
    arnet_frame f;
    arnet_frame_init(&f);
    f.format = ARNET_PIXEL_I420;
    f.width = f.height = 1;
    f.planes[0] = yk;
    f.planes[1] = uk;
    f.planes[2] = vk;
    f.strides[0] = f.strides[1] = f.strides[2] = 1;
    memcpy(px, arnet__frame_row_rgb(&f, 0, px), 3);
    ck_assert(px[0] == 0 && px[1] == 0 && px[2] == 0);
    const uint8_t yw[1] = {235};
    f.planes[0] = yw;
    memcpy(px, arnet__frame_row_rgb(&f, 0, px), 3);
    ck_assert(px[0] == 255 && px[1] == 255 && px[2] == 255);
}
END_TEST

/* ---- rules, crops, scaling ------------------------------------------------------ */

START_TEST(resize_rules_give_the_documented_sizes)
{
    uint32_t w, h;
    /* Short side 256, the long side rounded down as torchvision does. */
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 1920, 1080, &w, &h), ARNET_OK);
    ck_assert(w == 455 && h == 256); /* 455.1 */
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 1080, 1920, &w, &h), ARNET_OK);
    ck_assert(w == 256 && h == 455);
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 640, 480, &w, &h), ARNET_OK);
    ck_assert(w == 341 && h == 256); /* 341.3 */
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 853, 480, &w, &h), ARNET_OK);
    ck_assert(w == 454 && h == 256); /* 454.9: down, where mmcv would give 455 */
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 100, 100, &w, &h), ARNET_OK);
    ck_assert(w == 256 && h == 256);
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_340X256, 1920, 1080, &w, &h), ARNET_OK);
    ck_assert(w == 340 && h == 256);
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_224, 320, 240, &w, &h), ARNET_OK);
    ck_assert(w == 224 && h == 224);
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_NONE, 320, 240, &w, &h), ARNET_OK);
    ck_assert(w == 320 && h == 240);
    w = h = 7;
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_NONE, 223, 300, &w, &h), ARNET_E_SHAPE);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "223x300"));
    ck_assert(w == 7 && h == 7);
    ck_assert_int_eq(arnet__resize_size(9, 320, 240, &w, &h), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "resize rule 9"));
    /* A sliver would be resized past the limit. */
    ck_assert_int_eq(arnet__resize_size(ARNET_RESIZE_SHORT256, 16384, 2, &w, &h), ARNET_E_SHAPE);
}
END_TEST

START_TEST(crop_origins_are_ur_dmu_oversample_order)
{
    uint32_t x[5], y[5];
    /* 340 x 256: UR-DMU's [:224,:224], [:224,-224:], [16:240,58:282],
     * [-224:,:224], [-224:,-224:]. */
    arnet__crop_origins(340, 256, 224, x, y);
    const uint32_t ex[5] = {0, 116, 58, 0, 116}, ey[5] = {0, 0, 16, 32, 32};
    for (int i = 0; i < 5; i++)
        ck_assert(x[i] == ex[i] && y[i] == ey[i]);
    /* An odd margin: the centre is rounded down. */
    arnet__crop_origins(455, 256, 224, x, y);
    ck_assert(x[2] == 115 && y[2] == 16 && x[1] == 231 && y[3] == 32);
    arnet__crop_origins(224, 224, 224, x, y);
    for (int i = 0; i < 5; i++)
        ck_assert(x[i] == 0 && y[i] == 0);
}
END_TEST

START_TEST(pixel_scaling_and_mirrored_crops)
{
    float t[256];
    arnet__pixel_table(t);
    ck_assert(t[0] == -1.0f && t[255] == 1.0f);
    for (int v = 0; v < 256; v++) {
        /* The extractors' three spellings agree once rounded to float. */
        ck_assert(t[v] == (float)(v * 2.0 / 255.0 - 1.0));
        ck_assert(t[v] == (float)(v / 255.0 * 2.0 - 1.0));
        ck_assert(t[v] == (float)(v / 127.5 - 1.0));
        ck_assert(t[v] == (float)((v / 255.0 - 0.5) / 0.5));
    }
    /* A 6 x 4 image whose pixel (x, y) has R = x, G = y, B = 7. */
    uint8_t img[4 * 6 * 3];
    for (int yy = 0; yy < 4; yy++)
        for (int xx = 0; xx < 6; xx++) {
            img[(yy * 6 + xx) * 3] = (uint8_t)xx;
            img[(yy * 6 + xx) * 3 + 1] = (uint8_t)yy;
            img[(yy * 6 + xx) * 3 + 2] = 7;
        }
    float out[3 * 3 * 3];
    arnet__crop_float(img, 6, 1, 1, 3, 0, t, out);
    ck_assert(out[0] == t[1] && out[1] == t[1] && out[2] == t[7]);
    ck_assert(out[(2 * 3 + 2) * 3] == t[3] && out[(2 * 3 + 2) * 3 + 1] == t[3]);
    /* Mirrored: column 0 of the mirrored image is column 5; the crop at
     * x0 = 1 of the mirror starts at column 4 and runs leftwards. */
    arnet__crop_float(img, 6, 1, 1, 3, 1, t, out);
    ck_assert(out[0] == t[4] && out[3] == t[3] && out[6] == t[2] && out[1] == t[1]);
}
END_TEST

START_TEST(bad_frames_are_refused_with_the_field_named)
{
    uint8_t px[64] = {0};
    arnet_frame f;
    ck_assert_int_eq(arnet__frame_check("fn", NULL), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "fn: frame is NULL"));
    arnet_frame_init(&f);
    ck_assert_uint_eq(f.struct_size, sizeof f);
    f.format = 0;
    f.width = f.height = 2;
    f.planes[0] = f.planes[1] = f.planes[2] = px;
    f.strides[0] = f.strides[1] = f.strides[2] = 8;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "format 0 is unknown"));
    f.format = 5;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    f.format = ARNET_PIXEL_RGB24;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_OK);
    f.width = 0;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "0x2 is empty"));
    f.width = 3;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "strides[0] 8 is smaller than a row of 9"));
    f.strides[0] = 9;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_OK);
    f.planes[0] = NULL;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "planes[0] is NULL"));
    f.planes[0] = px;
    f.format = ARNET_PIXEL_I420;
    f.planes[2] = NULL;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "planes[2] is NULL"));
    f.planes[2] = px;
    f.strides[1] = 1; /* (3 + 1) / 2 = 2 chroma samples */
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "strides[1] 1 is smaller than a row of 2"));
    f.strides[1] = 2;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_OK);
    f.format = ARNET_PIXEL_NV12;
    f.strides[1] = 3; /* 2 interleaved pairs = 4 bytes */
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    f.strides[1] = 4;
    f.planes[2] = NULL; /* NV12 has no third plane */
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_OK);
    f.struct_size = 8;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    ck_assert_ptr_nonnull(strstr(arnet_last_error(), "arnet_frame_init"));
    arnet_frame_init(&f);
    f.format = ARNET_PIXEL_RGB24;
    f.width = 16385;
    f.height = 1;
    f.planes[0] = px;
    f.strides[0] = 3 * 16385;
    ck_assert_int_eq(arnet__frame_check("fn", &f), ARNET_E_INVALID);
    arnet_frame_init(NULL); /* accepted, does nothing */
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("preprocess");
    tcase_set_timeout(tc, 60);
    if (have_pil())
        tcase_add_test(tc, resize_equals_pillow_bit_for_bit);
    else /* Not run, so not counted: say so in the TAP stream. */
        printf("# SKIP resize_equals_pillow_bit_for_bit: %s cannot import PIL\n", PYTHON);
    fflush(stdout); /* before Check forks, or every child repeats it */
    tcase_add_test(tc, a_window_is_the_same_pixels_as_the_whole_image);
    tcase_add_test(tc, bgr_with_padded_rows_equals_rgb);
    tcase_add_test(tc, yuv_formats_against_the_double_formula);
    tcase_add_test(tc, resize_rules_give_the_documented_sizes);
    tcase_add_test(tc, crop_origins_are_ur_dmu_oversample_order);
    tcase_add_test(tc, pixel_scaling_and_mirrored_crops);
    tcase_add_test(tc, bad_frames_are_refused_with_the_field_named);
    suite_add_tcase(s, tc);
    return s;
}
