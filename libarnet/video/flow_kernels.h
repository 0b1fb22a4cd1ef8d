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
KATTR static float KN(u_row)(const flow_row *r, uint32_t x0, uint32_t w)
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

KATTR static void KN(p_row)(const flow_row *r, uint32_t w)
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

/* The same, 3 x 3 (tools/gen_median_net.py 9). */
KATTR static void KN(median3_row)(const float *restrict s, size_t ld, float *restrict d,
                                  uint32_t w)
{
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
