/* The transform encoder's vectorised quantization (native/src/transform_encode.c, quantize)
 * against its scalar definition (codec._quantize: floor, non-finite to 0, clamp, sign) on
 * values chosen to hit its edges: exact halves of the step, +-0, NaN, +-Inf, values at and
 * past 2**51 steps, deadzones below and above 0.5. Built and run by tests/test_native_encode.py. */
#include "transform_encode.c"

#include <stdlib.h>

#define N 1003 /* not a multiple of 4: the scalar tail runs too */

int main(void) {
    srand(7);
    static double c[N];
    static int32_t q[N];
    long bad = 0;
    for (int it = 0; it < 4000; it++) {
        const double step = ldexp(1.0 + rand() / (double)RAND_MAX, rand() % 60 - 30), dz = (rand() % 5) * 0.25 - 0.25;
        const double lim = rand() % 3 ? 1e6 : 2147483647.0;
        for (int i = 0; i < N; i++) {
            const int kind = rand() % 10;
            double v = (rand() / (double)RAND_MAX - 0.5) * ldexp(1.0, rand() % 80 - 20);
            if (kind == 0) v = (rand() % 2001 - 1000) * 0.5 * step;
            if (kind == 1) v = rand() % 3 == 0 ? NAN : rand() % 2 ? INFINITY : -INFINITY;
            if (kind == 2) v = (rand() % 2 ? 1 : -1) * ldexp(1.0, 50 + rand() % 5) * step;
            if (kind == 3) v = rand() % 2 ? 0.0 : -0.0;
            c[i] = v;
        }
        quantize(c, N, step, 0.5 - dz, lim, q);
        for (int m = 0; m < N; m++) {
            double a = floor(fabs(c[m]) / step + (0.5 - dz));
            if (!isfinite(a)) a = 0;
            if (a > lim) a = lim;
            const int32_t want = (int32_t)(c[m] > 0 ? a : c[m] < 0 ? -a : 0);
            if (want != q[m] && bad++ < 5) printf("c=%a step=%a dz=%g: %d, not %d\n", c[m], step, dz, q[m], want);
        }
    }
    printf("%ld mismatches\n", bad);
    return bad != 0;
}
