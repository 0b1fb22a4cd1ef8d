/* preprocess.h -- decoded frames to the network's input (internal): pixel
 * formats to RGB rows, Pillow's antialiased resize, crop geometry, pixel
 * scaling.  preprocess.c holds the code; docs/extractor.md the rules and
 * which published feature set each reproduces. */
#ifndef ARNET_PREPROCESS_H
#define ARNET_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "arnet/arnet.h"

#define ARNET__CROP 224u /* side of the network's input */

/* ARNET_E_INVALID naming fn and the field for a frame the converters cannot
 * read: NULL, struct_size, unknown format, zero size, NULL plane, stride
 * smaller than a row. */
int arnet__frame_check(const char *fn, const arnet_frame *f);

/* Row y of f as packed R,G,B bytes: f's own memory for RGB24, else buf (at
 * least 3 x width bytes) filled and returned.  YUV: BT.601 limited range
 * (FFmpeg's default for SD), chroma of pixel (x, y) at (x / 2, y / 2). */
const uint8_t *arnet__frame_row_rgb(const arnet_frame *f, uint32_t y, uint8_t *buf);

/* Size of a w x h frame after resize rule ARNET_RESIZE_*.  ARNET_E_SHAPE
 * for ARNET_RESIZE_NONE when the frame is smaller than 224 x 224,
 * ARNET_E_INVALID for an unknown rule. */
int arnet__resize_size(int rule, uint32_t w, uint32_t h, uint32_t *rw, uint32_t *rh);

/* Origins of the five crops of side `side` in a w x h image, in the order of
 * UR-DMU's oversample_data: top-left, top-right, centre, bottom-left,
 * bottom-right (centre at ((w - side) / 2, (h - side) / 2), rounded down).
 * The ten-crop order is these five, then the same five origins taken in the
 * horizontally mirrored image. */
void arnet__crop_origins(uint32_t w, uint32_t h, uint32_t side, uint32_t x[5], uint32_t y[5]);

/* Pillow's Image.resize (libImaging/Resample.c, Pillow >= 7 without
 * reducing_gap) for 8-bit RGB: separable filter widened by the scale when
 * reducing, 22-bit fixed-point weights, horizontal pass into uint8 first,
 * then vertical.  A resizer computes only a window of the output
 * (out_w x out_h image, window x0, y0, win_w x win_h): each output pixel is
 * the same as in the whole image.  Tables and scratch are made at creation;
 * arnet__resizer_run never allocates. */
typedef struct arnet__resizer arnet__resizer;
int arnet__resizer_create(uint32_t in_w, uint32_t in_h, uint32_t out_w, uint32_t out_h,
                          int filter, uint32_t x0, uint32_t y0, uint32_t win_w, uint32_t win_h,
                          arnet__resizer **out);
/* The resizer of a frame state (the extractor's and the two-stream one):
 * with one crop only the centre crop's window of the rw x rh resized frame
 * is made (a stored frame of 224 x 224), with ten the whole resized frame
 * (rw x rh) and the five crop origins in ox, oy (else untouched). */
int arnet__state_resizer(uint32_t frame_w, uint32_t frame_h, uint32_t rw, uint32_t rh,
                         int filter, uint32_t crops, uint32_t *slot_w, uint32_t *slot_h,
                         uint32_t ox[5], uint32_t oy[5], arnet__resizer **out);
void arnet__resizer_free(arnet__resizer *r);
size_t arnet__resizer_memory(const arnet__resizer *r);
/* f (checked, of the size given at creation) -> win_h rows of win_w x 3
 * bytes at out, row after row. */
void arnet__resizer_run(arnet__resizer *r, const arnet_frame *f, uint8_t *out);

/* table[v] = (float)(v * 2.0 / 255.0 - 1.0), computed in double as both
 * published extractors do before their cast to float32. */
void arnet__pixel_table(float table[256]);

/* One crop of side `side` of an RGB image (row stride w x 3 bytes) at
 * origin (x0, y0), mirrored horizontally when flip (then the origin is in
 * the mirrored image), scaled by table, into side x side x 3 floats. */
void arnet__crop_float(const uint8_t *img, uint32_t w, uint32_t x0, uint32_t y0, uint32_t side,
                       int flip, const float table[256], float *out);

#endif /* ARNET_PREPROCESS_H */
