/* flow_kernels.h -- the per-row kernels of TV-L1 (flow.c), written once and
 * compiled once per instruction set: flow.c includes this file several
 * times with KSUF (a name suffix) and KATTR (a target attribute) defined,
 * and picks the widest set the CPU has at run time.  Plain loops that the
 * compiler vectorises: no fused multiply-add (-ffp-contract=off), so every
 * instruction set gives the same bits.  Internal. */

#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KN(name) KCAT(name, KSUF)

/* One row of the primal step, in place: the thresholding of the data term
 * (v), then u = v + theta div(p).  p rows y and y - 1 (the row above row 0
 * and the column left of column 0 are zero padding); x from x0 (1, or 0 on
 * row 0, where the padding gives OpenCV's first-row formula exactly).
 * Returns the row's sum of squared changes of u from x0, summed in 16
 * lanes (the same order on every instruction set). */
KATTR static inline __attribute__((always_inline)) float KN(u_row_k)(
    const float *restrict ix, const float *restrict iy, const float *restrict gr,
    const float *restrict rc, float *restrict u1, float *restrict u2, const float *restrict p11,
    const float *restrict p11l, const float *restrict p12, const float *restrict p12u,
    const float *restrict p21, const float *restrict p21l, const float *restrict p22,
    const float *restrict p22u, float *restrict e, float l_t, float theta, uint32_t x0,
    uint32_t w)
{
    const float nl_t = -l_t;
    for (uint32_t x = x0; x < w; x++) {
        float a = u1[x], b = u2[x], g = gr[x];
        float rho = rc[x] + (ix[x] * a + iy[x] * b);
        float lg = l_t * g;
        float q = -rho / g;
        float fi = rho < -lg ? l_t : rho > lg ? nl_t : g > FLT_EPSILON ? q : 0.0f;
        float v1 = a + fi * ix[x], v2 = b + fi * iy[x];
        float d1 = (p11[x] - p11l[x]) + (p12[x] - p12u[x]);
        float d2 = (p21[x] - p21l[x]) + (p22[x] - p22u[x]);
        float n1 = v1 + theta * d1, n2 = v2 + theta * d2;
        u1[x] = n1;
        u2[x] = n2;
        e[x] = (n1 - a) * (n1 - a) + (n2 - b) * (n2 - b);
    }
    float acc[16] = {0};
    uint32_t x = x0;
    for (; x + 16 <= w; x += 16)
        for (int k = 0; k < 16; k++)
            acc[k] += e[x + k];
    for (int k = 0; x < w; x++, k++)
        acc[k] += e[x];
    float err = 0.0f;
    for (int k = 0; k < 16; k++)
        err += acc[k];
    return err;
}

/* (restrict parameters: the compiler honours them where it would not on
 * pointers copied out of a struct.) */
KATTR __attribute__((unused)) static float KN(u_row)(const flow_row *r, uint32_t x0, uint32_t w)
{
    return KN(u_row_k)(r->ix, r->iy, r->grad, r->rho, r->u1, r->u2, r->p11, r->p11 - 1, r->p12,
                       r->p12u, r->p21, r->p21 - 1, r->p22, r->p22u, r->e, r->l_t, r->theta, x0,
                       w);
}

/* One row of the dual step, in place: p from the forward differences of u
 * on row y and the row below (un*: the same row on the last row, giving
 * zero), x in [0, w - 1); the caller does the last column (dx = 0).  |grad
 * u| in double, as OpenCV's hypot: with sqrtf the last bits differ, and
 * warping (positions rounded to 1/32 pixel) makes a few border pixels of
 * a rotation drift by tenths of a pixel; in double the flow is OpenCV's
 * to the bit on every case of tests/reference/compare_flow.py. */
KATTR static inline __attribute__((always_inline)) void KN(p_row_k)(
    const float *restrict u1, const float *restrict u2, const float *restrict un1,
    const float *restrict un2, float *restrict p11, float *restrict p12, float *restrict p21,
    float *restrict p22, float taut, uint32_t w)
{
    for (uint32_t x = 0; x + 1 < w; x++) {
        float ax = u1[x + 1] - u1[x], ay = un1[x] - u1[x];
        float bx = u2[x + 1] - u2[x], by = un2[x] - u2[x];
        float ng1 = 1.0f + taut * (float)sqrt((double)ax * ax + (double)ay * ay);
        float ng2 = 1.0f + taut * (float)sqrt((double)bx * bx + (double)by * by);
        p11[x] = (p11[x] + taut * ax) / ng1;
        p12[x] = (p12[x] + taut * ay) / ng1;
        p21[x] = (p21[x] + taut * bx) / ng2;
        p22[x] = (p22[x] + taut * by) / ng2;
    }
}

KATTR __attribute__((unused)) static void KN(p_row)(const flow_row *r, uint32_t w)
{
    KN(p_row_k)(r->u1, r->u2, r->un1, r->un2, r->p11, r->p12, r->p21, r->p22, r->taut, w);
}

/* The dual step in float (ARNET flow option exact = 0): |grad u| by sqrtf
 * and one reciprocal per p pair instead of two divisions -- not OpenCV's
 * bits (docs/extractor.md gives the measured differences). */
KATTR static inline __attribute__((always_inline)) void KN(p_row_fast_k)(
    const float *restrict u1, const float *restrict u2, const float *restrict un1,
    const float *restrict un2, float *restrict p11, float *restrict p12, float *restrict p21,
    float *restrict p22, float taut, uint32_t w)
{
    for (uint32_t x = 0; x + 1 < w; x++) {
        float ax = u1[x + 1] - u1[x], ay = un1[x] - u1[x];
        float bx = u2[x + 1] - u2[x], by = un2[x] - u2[x];
        float r1 = 1.0f / (1.0f + taut * sqrtf(ax * ax + ay * ay));
        float r2 = 1.0f / (1.0f + taut * sqrtf(bx * bx + by * by));
        p11[x] = (p11[x] + taut * ax) * r1;
        p12[x] = (p12[x] + taut * ay) * r1;
        p21[x] = (p21[x] + taut * bx) * r2;
        p22[x] = (p22[x] + taut * by) * r2;
    }
}

KATTR __attribute__((unused)) static void KN(p_row_fast)(const flow_row *r, uint32_t w)
{
    KN(p_row_fast_k)(r->u1, r->u2, r->un1, r->un2, r->p11, r->p12, r->p21, r->p22, r->taut, w);
}

/* The primal step in float for exact = 0 (the whole row, x from 0: the
 * zero padding of column -1 stands for OpenCV's first-column formula, in a
 * different order of additions): the thresholding as one clamp,
 * fi = clamp(-rho / g, -l_t, l_t), with 1 / g taken once per warp (ig;
 * 1e30 where g <= FLT_EPSILON, which gives OpenCV's +-l_t or 0 there). */
KATTR static inline __attribute__((always_inline)) float KN(u_row_fast_k)(
    const float *restrict ix, const float *restrict iy, const float *restrict ig,
    const float *restrict rc, float *restrict u1, float *restrict u2, const float *restrict p11,
    const float *restrict p11l, const float *restrict p12, const float *restrict p12u,
    const float *restrict p21, const float *restrict p21l, const float *restrict p22,
    const float *restrict p22u, float *restrict e, float l_t, float theta, uint32_t w)
{
    const float nl_t = -l_t;
    for (uint32_t x = 0; x < w; x++) {
        float a = u1[x], b = u2[x];
        float rho = rc[x] + (ix[x] * a + iy[x] * b);
        float fi = -rho * ig[x];
        fi = fi < nl_t ? nl_t : fi > l_t ? l_t : fi;
        float v1 = a + fi * ix[x], v2 = b + fi * iy[x];
        float d1 = (p11[x] - p11l[x]) + (p12[x] - p12u[x]);
        float d2 = (p21[x] - p21l[x]) + (p22[x] - p22u[x]);
        float n1 = v1 + theta * d1, n2 = v2 + theta * d2;
        u1[x] = n1;
        u2[x] = n2;
        e[x] = (n1 - a) * (n1 - a) + (n2 - b) * (n2 - b);
    }
    float err = 0.0f;
    for (uint32_t x = 0; x < w; x++)
        err += e[x];
    return err;
}

KATTR __attribute__((unused)) static float KN(u_row_fast)(const flow_row *r, uint32_t w)
{
    return KN(u_row_fast_k)(r->ix, r->iy, r->invg, r->rho, r->u1, r->u2, r->p11, r->p11 - 1,
                            r->p12, r->p12u, r->p21, r->p21 - 1, r->p22, r->p22u, r->e, r->l_t,
                            r->theta, w);
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) < (b) ? (b) : (a))

/* One row of the 5 x 5 median: s points at the padded source's row y
 * (rows y .. y + 4 and columns x .. x + 4 of the padding are the window of
 * output x), ld its stride.  The network is tools/gen_median_net.py 25. */
KATTR static void KN(median5_row)(const float *restrict s, size_t ld, float *restrict d,
                                  uint32_t w)
{
    w = (w + 15) & ~15u; /* whole vectors: the rows' padding takes the rest */
    for (uint32_t x = 0; x < w; x++) {
        const float *c = s + x;
        float t0 = c[0], t1 = c[1], t2 = c[2], t3 = c[3], t4 = c[4];
        float t5 = c[ld], t6 = c[ld + 1], t7 = c[ld + 2], t8 = c[ld + 3], t9 = c[ld + 4];
        float t10 = c[2 * ld], t11 = c[2 * ld + 1], t12 = c[2 * ld + 2], t13 = c[2 * ld + 3],
              t14 = c[2 * ld + 4];
        float t15 = c[3 * ld], t16 = c[3 * ld + 1], t17 = c[3 * ld + 2], t18 = c[3 * ld + 3],
              t19 = c[3 * ld + 4];
        float t20 = c[4 * ld], t21 = c[4 * ld + 1], t22 = c[4 * ld + 2], t23 = c[4 * ld + 3],
              t24 = c[4 * ld + 4];
/* 202 min/max operations, generated (Batcher's odd-even merge sort on 25 wires, pruned to the median) */
        float t25 = MIN(t0, t1);
        float t26 = MAX(t0, t1);
        float t27 = MIN(t2, t3);
        float t28 = MAX(t2, t3);
        float t29 = MIN(t25, t27);
        float t30 = MAX(t25, t27);
        float t31 = MIN(t26, t28);
        float t32 = MAX(t26, t28);
        float t33 = MIN(t31, t30);
        float t34 = MAX(t31, t30);
        float t35 = MIN(t4, t5);
        float t36 = MAX(t4, t5);
        float t37 = MIN(t6, t7);
        float t38 = MAX(t6, t7);
        float t39 = MIN(t35, t37);
        float t40 = MAX(t35, t37);
        float t41 = MIN(t36, t38);
        float t42 = MAX(t36, t38);
        float t43 = MIN(t41, t40);
        float t44 = MAX(t41, t40);
        float t45 = MIN(t29, t39);
        float t46 = MAX(t29, t39);
        float t47 = MIN(t34, t44);
        float t48 = MAX(t34, t44);
        float t49 = MIN(t47, t46);
        float t50 = MAX(t47, t46);
        float t51 = MIN(t33, t43);
        float t52 = MAX(t33, t43);
        float t53 = MIN(t32, t42);
        float t54 = MAX(t32, t42);
        float t55 = MIN(t53, t52);
        float t56 = MAX(t53, t52);
        float t57 = MIN(t51, t49);
        float t58 = MAX(t51, t49);
        float t59 = MIN(t55, t50);
        float t60 = MAX(t55, t50);
        float t61 = MIN(t56, t48);
        float t62 = MAX(t56, t48);
        float t63 = MIN(t8, t9);
        float t64 = MAX(t8, t9);
        float t65 = MIN(t10, t11);
        float t66 = MAX(t10, t11);
        float t67 = MIN(t63, t65);
        float t68 = MAX(t63, t65);
        float t69 = MIN(t64, t66);
        float t70 = MAX(t64, t66);
        float t71 = MIN(t69, t68);
        float t72 = MAX(t69, t68);
        float t73 = MIN(t12, t13);
        float t74 = MAX(t12, t13);
        float t75 = MIN(t14, t15);
        float t76 = MAX(t14, t15);
        float t77 = MIN(t73, t75);
        float t78 = MAX(t73, t75);
        float t79 = MIN(t74, t76);
        float t80 = MAX(t74, t76);
        float t81 = MIN(t79, t78);
        float t82 = MAX(t79, t78);
        float t83 = MIN(t67, t77);
        float t84 = MAX(t67, t77);
        float t85 = MIN(t72, t82);
        float t86 = MAX(t72, t82);
        float t87 = MIN(t85, t84);
        float t88 = MAX(t85, t84);
        float t89 = MIN(t71, t81);
        float t90 = MAX(t71, t81);
        float t91 = MIN(t70, t80);
        float t92 = MAX(t70, t80);
        float t93 = MIN(t91, t90);
        float t94 = MAX(t91, t90);
        float t95 = MIN(t89, t87);
        float t96 = MAX(t89, t87);
        float t97 = MIN(t93, t88);
        float t98 = MAX(t93, t88);
        float t99 = MIN(t94, t86);
        float t100 = MAX(t94, t86);
        float t101 = MIN(t45, t83);
        float t102 = MAX(t45, t83);
        float t103 = MIN(t60, t98);
        float t104 = MAX(t60, t98);
        float t105 = MIN(t103, t102);
        float t106 = MAX(t103, t102);
        float t107 = MIN(t58, t96);
        float t108 = MAX(t58, t96);
        float t109 = MIN(t62, t100);
        float t110 = MAX(t62, t100);
        float t111 = MIN(t109, t108);
        float t112 = MAX(t109, t108);
        float t113 = MIN(t107, t105);
        float t114 = MAX(t107, t105);
        float t115 = MIN(t111, t106);
        float t116 = MAX(t111, t106);
        float t117 = MIN(t112, t104);
        float t118 = MAX(t112, t104);
        float t119 = MIN(t57, t95);
        float t120 = MAX(t57, t95);
        float t121 = MIN(t61, t99);
        float t122 = MAX(t61, t99);
        float t123 = MIN(t121, t120);
        float t124 = MAX(t121, t120);
        float t125 = MIN(t59, t97);
        float t126 = MAX(t59, t97);
        float t127 = MIN(t54, t92);
        float t129 = MIN(t127, t126);
        float t130 = MAX(t127, t126);
        float t131 = MIN(t125, t123);
        float t132 = MAX(t125, t123);
        float t133 = MIN(t129, t124);
        float t134 = MAX(t129, t124);
        float t135 = MIN(t130, t122);
        float t136 = MAX(t130, t122);
        float t137 = MIN(t119, t113);
        float t138 = MAX(t119, t113);
        float t139 = MIN(t131, t114);
        float t140 = MAX(t131, t114);
        float t141 = MIN(t132, t115);
        float t142 = MAX(t132, t115);
        float t143 = MIN(t133, t116);
        float t144 = MAX(t133, t116);
        float t145 = MIN(t134, t117);
        float t146 = MAX(t134, t117);
        float t147 = MIN(t135, t118);
        float t148 = MAX(t135, t118);
        float t149 = MIN(t136, t110);
        float t151 = MIN(t16, t17);
        float t152 = MAX(t16, t17);
        float t153 = MIN(t18, t19);
        float t154 = MAX(t18, t19);
        float t155 = MIN(t151, t153);
        float t156 = MAX(t151, t153);
        float t157 = MIN(t152, t154);
        float t158 = MAX(t152, t154);
        float t159 = MIN(t157, t156);
        float t160 = MAX(t157, t156);
        float t161 = MIN(t20, t21);
        float t162 = MAX(t20, t21);
        float t163 = MIN(t22, t23);
        float t164 = MAX(t22, t23);
        float t165 = MIN(t161, t163);
        float t166 = MAX(t161, t163);
        float t167 = MIN(t162, t164);
        float t168 = MAX(t162, t164);
        float t169 = MIN(t167, t166);
        float t170 = MAX(t167, t166);
        float t171 = MIN(t155, t165);
        float t172 = MAX(t155, t165);
        float t173 = MIN(t160, t170);
        float t174 = MAX(t160, t170);
        float t175 = MIN(t173, t172);
        float t176 = MAX(t173, t172);
        float t177 = MIN(t159, t169);
        float t178 = MAX(t159, t169);
        float t179 = MIN(t158, t168);
        float t180 = MAX(t158, t168);
        float t181 = MIN(t179, t178);
        float t182 = MAX(t179, t178);
        float t183 = MIN(t177, t175);
        float t184 = MAX(t177, t175);
        float t185 = MIN(t181, t176);
        float t186 = MAX(t181, t176);
        float t187 = MIN(t182, t174);
        float t188 = MAX(t182, t174);
        float t189 = MIN(t171, t24);
        float t190 = MAX(t171, t24);
        float t191 = MIN(t186, t190);
        float t192 = MAX(t186, t190);
        float t193 = MIN(t184, t191);
        float t194 = MAX(t184, t191);
        float t195 = MIN(t188, t192);
        float t196 = MAX(t188, t192);
        float t197 = MIN(t185, t187);
        float t198 = MAX(t185, t187);
        float t199 = MIN(t183, t193);
        float t200 = MAX(t183, t193);
        float t201 = MIN(t197, t194);
        float t202 = MAX(t197, t194);
        float t203 = MIN(t198, t195);
        float t204 = MAX(t198, t195);
        float t205 = MIN(t180, t196);
        float t206 = MAX(t180, t196);
        float t208 = MAX(t101, t189);
        float t209 = MIN(t144, t206);
        float t212 = MAX(t209, t208);
        float t214 = MAX(t140, t202);
        float t215 = MIN(t148, t214);
        float t219 = MIN(t215, t212);
        float t224 = MAX(t138, t200);
        float t225 = MIN(t146, t224);
        float t227 = MIN(t142, t204);
        float t232 = MAX(t227, t225);
        float t240 = MAX(t232, t219);
        float t248 = MAX(t137, t199);
        float t250 = MAX(t145, t248);
        float t252 = MAX(t141, t203);
        float t253 = MIN(t149, t252);
        float t257 = MIN(t253, t250);
        float t260 = MAX(t139, t201);
        float t261 = MIN(t147, t260);
        float t263 = MIN(t143, t205);
        float t268 = MAX(t263, t261);
        float t275 = MIN(t268, t257);
        float t292 = MAX(t275, t240);

        d[x] = t292;
    }
}

/* Two rows of the 5 x 5 median at once: s points at the padded source's
 * row y (output rows y and y + 1 read padded rows y .. y + 5); ld its
 * stride; q: 4 x (w + 4) floats of scratch.  The two windows share padded
 * rows y + 1 .. y + 4: their columns are sorted once (4 values, 5
 * comparisons), the five sorted columns merged down to the ranks 7 .. 12
 * of their 20 values (the 13th of 25 is among those once 5 more values
 * come), then each row's own 5 values join them.  90 operations per
 * output against median5_row's 202; the same median. */
KATTR static void KN(median5_pair)(const float *restrict s, size_t ld, float *restrict d0,
                                   float *restrict d1, float *restrict q, uint32_t w)
{
    w = (w + 15) & ~15u; /* whole vectors: the rows' padding takes the rest */
    const uint32_t n = w + 4;
    float *restrict q0 = q, *restrict q1 = q + n, *restrict q2 = q + 2 * (size_t)n,
                    *restrict q3 = q + 3 * (size_t)n;
    for (uint32_t x = 0; x < n; x++) {
        float c0 = s[ld + x], c1 = s[2 * ld + x], c2 = s[3 * ld + x], c3 = s[4 * ld + x];
        float l0 = MIN(c0, c1), h0 = MAX(c0, c1), l1 = MIN(c2, c3), h1 = MAX(c2, c3);
        float lo = MIN(l0, l1), m0 = MAX(l0, l1), m1 = MIN(h0, h1), hi = MAX(h0, h1);
        q0[x] = lo;
        q1[x] = MIN(m0, m1);
        q2[x] = MAX(m0, m1);
        q3[x] = hi;
    }
    for (uint32_t x = 0; x < w; x++) {
        const float *e0 = s + x, *e1 = s + 5 * ld + x;
        float s0 = q0[x], s1 = q1[x], s2 = q2[x], s3 = q3[x];
        float s4 = q0[x + 1], s5 = q1[x + 1], s6 = q2[x + 1], s7 = q3[x + 1];
        float s8 = q0[x + 2], s9 = q1[x + 2], s10 = q2[x + 2], s11 = q3[x + 2];
        float s12 = q0[x + 3], s13 = q1[x + 3], s14 = q2[x + 3], s15 = q3[x + 3];
        float s16 = q0[x + 4], s17 = q1[x + 4], s18 = q2[x + 4], s19 = q3[x + 4];
/* 114 + 2 x 28 min/max operations, generated by tools/gen_median_net.py pair */
        float s20 = MIN(s0, s4);
        float s21 = MAX(s0, s4);
        float s22 = MIN(s2, s6);
        float s23 = MAX(s2, s6);
        float s24 = MIN(s22, s21);
        float s25 = MAX(s22, s21);
        float s26 = MIN(s1, s5);
        float s27 = MAX(s1, s5);
        float s28 = MIN(s3, s7);
        float s29 = MAX(s3, s7);
        float s30 = MIN(s28, s27);
        float s31 = MAX(s28, s27);
        float s32 = MIN(s26, s24);
        float s33 = MAX(s26, s24);
        float s34 = MIN(s30, s25);
        float s35 = MAX(s30, s25);
        float s36 = MIN(s31, s23);
        float s37 = MAX(s31, s23);
        float s38 = MIN(s8, s12);
        float s39 = MAX(s8, s12);
        float s40 = MIN(s10, s14);
        float s41 = MAX(s10, s14);
        float s42 = MIN(s40, s39);
        float s43 = MAX(s40, s39);
        float s44 = MIN(s9, s13);
        float s45 = MAX(s9, s13);
        float s46 = MIN(s11, s15);
        float s47 = MAX(s11, s15);
        float s48 = MIN(s46, s45);
        float s49 = MAX(s46, s45);
        float s50 = MIN(s44, s42);
        float s51 = MAX(s44, s42);
        float s52 = MIN(s48, s43);
        float s53 = MAX(s48, s43);
        float s54 = MIN(s49, s41);
        float s55 = MAX(s49, s41);
        float s56 = MIN(s20, s38);
        float s57 = MAX(s20, s38);
        float s58 = MIN(s35, s53);
        float s59 = MAX(s35, s53);
        float s60 = MIN(s58, s57);
        float s61 = MAX(s58, s57);
        float s62 = MIN(s33, s51);
        float s63 = MAX(s33, s51);
        float s64 = MIN(s37, s55);
        float s65 = MAX(s37, s55);
        float s66 = MIN(s64, s63);
        float s67 = MAX(s64, s63);
        float s68 = MIN(s62, s60);
        float s69 = MAX(s62, s60);
        float s70 = MIN(s66, s61);
        float s71 = MAX(s66, s61);
        float s72 = MIN(s67, s59);
        float s73 = MAX(s67, s59);
        float s74 = MIN(s32, s50);
        float s75 = MAX(s32, s50);
        float s76 = MIN(s36, s54);
        float s77 = MAX(s36, s54);
        float s78 = MIN(s76, s75);
        float s79 = MAX(s76, s75);
        float s80 = MIN(s34, s52);
        float s81 = MAX(s34, s52);
        float s82 = MIN(s29, s47);
        float s84 = MIN(s82, s81);
        float s85 = MAX(s82, s81);
        float s86 = MIN(s80, s78);
        float s87 = MAX(s80, s78);
        float s88 = MIN(s84, s79);
        float s89 = MAX(s84, s79);
        float s90 = MIN(s85, s77);
        float s91 = MAX(s85, s77);
        float s92 = MIN(s74, s68);
        float s93 = MAX(s74, s68);
        float s94 = MIN(s86, s69);
        float s95 = MAX(s86, s69);
        float s96 = MIN(s87, s70);
        float s97 = MAX(s87, s70);
        float s98 = MIN(s88, s71);
        float s99 = MAX(s88, s71);
        float s100 = MIN(s89, s72);
        float s101 = MAX(s89, s72);
        float s102 = MIN(s90, s73);
        float s103 = MAX(s90, s73);
        float s104 = MIN(s91, s65);
        float s107 = MAX(s56, s16);
        float s108 = MIN(s99, s107);
        float s109 = MAX(s99, s107);
        float s111 = MAX(s95, s108);
        float s112 = MIN(s103, s109);
        float s115 = MAX(s93, s18);
        float s116 = MIN(s101, s115);
        float s118 = MIN(s97, s116);
        float s119 = MAX(s97, s116);
        float s125 = MAX(s118, s111);
        float s126 = MIN(s119, s112);
        float s127 = MAX(s119, s112);
        float s131 = MAX(s92, s17);
        float s132 = MIN(s100, s131);
        float s133 = MAX(s100, s131);
        float s135 = MAX(s96, s132);
        float s136 = MIN(s104, s133);
        float s139 = MAX(s94, s19);
        float s140 = MIN(s102, s139);
        float s142 = MIN(s98, s140);
        float s143 = MAX(s98, s140);
        float s148 = MIN(s142, s135);
        float s149 = MAX(s142, s135);
        float s150 = MIN(s143, s136);
        float s160 = MIN(s148, s125);
        float s161 = MAX(s148, s125);
        float s162 = MIN(s149, s126);
        float s163 = MAX(s149, s126);
        float s164 = MIN(s150, s127);
        float s165 = MAX(s150, s127);
        float a0 = s160;
        float a1 = s161;
        float a2 = s162;
        float a3 = s163;
        float a4 = s164;
        float a5 = s165;
        float a6 = e0[0];
        float a7 = e0[1];
        float a8 = e0[2];
        float a9 = e0[3];
        float a10 = e0[4];
        float a11 = MIN(a6, a7);
        float a12 = MAX(a6, a7);
        float a13 = MIN(a9, a10);
        float a14 = MAX(a9, a10);
        float a15 = MIN(a8, a13);
        float a16 = MAX(a8, a13);
        float a17 = MIN(a14, a16);
        float a18 = MAX(a14, a16);
        float a19 = MIN(a11, a15);
        float a20 = MAX(a11, a15);
        float a21 = MIN(a18, a20);
        float a22 = MAX(a18, a20);
        float a23 = MIN(a12, a17);
        float a24 = MAX(a12, a17);
        float a25 = MIN(a23, a21);
        float a26 = MAX(a23, a21);
        float a27 = MIN(a24, a22);
        float a28 = MAX(a24, a22);
        float a30 = MAX(a0, a19);
        float a31 = MIN(a4, a28);
        float a34 = MAX(a31, a30);
        float a36 = MAX(a2, a26);
        float a39 = MIN(a36, a34);
        float a42 = MAX(a1, a25);
        float a43 = MIN(a5, a42);
        float a45 = MIN(a3, a27);
        float a48 = MAX(a45, a43);
        float a55 = MIN(a48, a39);
        d0[x] = a55;
        float b0 = s160;
        float b1 = s161;
        float b2 = s162;
        float b3 = s163;
        float b4 = s164;
        float b5 = s165;
        float b6 = e1[0];
        float b7 = e1[1];
        float b8 = e1[2];
        float b9 = e1[3];
        float b10 = e1[4];
        float b11 = MIN(b6, b7);
        float b12 = MAX(b6, b7);
        float b13 = MIN(b9, b10);
        float b14 = MAX(b9, b10);
        float b15 = MIN(b8, b13);
        float b16 = MAX(b8, b13);
        float b17 = MIN(b14, b16);
        float b18 = MAX(b14, b16);
        float b19 = MIN(b11, b15);
        float b20 = MAX(b11, b15);
        float b21 = MIN(b18, b20);
        float b22 = MAX(b18, b20);
        float b23 = MIN(b12, b17);
        float b24 = MAX(b12, b17);
        float b25 = MIN(b23, b21);
        float b26 = MAX(b23, b21);
        float b27 = MIN(b24, b22);
        float b28 = MAX(b24, b22);
        float b30 = MAX(b0, b19);
        float b31 = MIN(b4, b28);
        float b34 = MAX(b31, b30);
        float b36 = MAX(b2, b26);
        float b39 = MIN(b36, b34);
        float b42 = MAX(b1, b25);
        float b43 = MIN(b5, b42);
        float b45 = MIN(b3, b27);
        float b48 = MAX(b45, b43);
        float b55 = MIN(b48, b39);
        d1[x] = b55;
    }
}

/* The same, 3 x 3 (tools/gen_median_net.py 9). */
KATTR static void KN(median3_row)(const float *restrict s, size_t ld, float *restrict d,
                                  uint32_t w)
{
    w = (w + 15) & ~15u; /* whole vectors: the rows' padding takes the rest */
    for (uint32_t x = 0; x < w; x++) {
        const float *c = s + x;
        float t0 = c[0], t1 = c[1], t2 = c[2];
        float t3 = c[ld], t4 = c[ld + 1], t5 = c[ld + 2];
        float t6 = c[2 * ld], t7 = c[2 * ld + 1], t8 = c[2 * ld + 2];
/* 40 min/max operations, generated (Batcher's odd-even merge sort on 9 wires, pruned to the median) */
        float t9 = MIN(t0, t1);
        float t10 = MAX(t0, t1);
        float t11 = MIN(t2, t3);
        float t12 = MAX(t2, t3);
        float t13 = MIN(t9, t11);
        float t14 = MAX(t9, t11);
        float t15 = MIN(t10, t12);
        float t16 = MAX(t10, t12);
        float t17 = MIN(t15, t14);
        float t18 = MAX(t15, t14);
        float t19 = MIN(t4, t5);
        float t20 = MAX(t4, t5);
        float t21 = MIN(t6, t7);
        float t22 = MAX(t6, t7);
        float t23 = MIN(t19, t21);
        float t24 = MAX(t19, t21);
        float t25 = MIN(t20, t22);
        float t26 = MAX(t20, t22);
        float t27 = MIN(t25, t24);
        float t28 = MAX(t25, t24);
        float t29 = MIN(t13, t23);
        float t30 = MAX(t13, t23);
        float t31 = MIN(t18, t28);
        float t32 = MAX(t18, t28);
        float t33 = MIN(t31, t30);
        float t34 = MAX(t31, t30);
        float t35 = MIN(t17, t27);
        float t36 = MAX(t17, t27);
        float t37 = MIN(t16, t26);
        float t39 = MIN(t37, t36);
        float t40 = MAX(t37, t36);
        float t42 = MAX(t35, t33);
        float t43 = MIN(t39, t34);
        float t44 = MAX(t39, t34);
        float t45 = MIN(t40, t32);
        float t48 = MAX(t29, t8);
        float t49 = MIN(t44, t48);
        float t52 = MAX(t42, t49);
        float t55 = MIN(t43, t45);
        float t60 = MAX(t55, t52);

        d[x] = t60;
    }
}

#undef MIN
#undef MAX
#undef KN
#undef KCAT
#undef KCAT2
