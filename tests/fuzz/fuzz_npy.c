/* fuzz_npy.c -- libFuzzer target: the .npy reader.
 *
 * The input is a whole .npy file, written to a scratch file (the reader
 * takes paths only).  arnet_npy_info_read, arnet_npy_read with every crop
 * setting (-1 = mean, 0, 5) and arnet_npy_read_labels read it.  Checked
 * beyond "no crash": every failure has a message; whatever the feature or
 * label reader accepts, the header reader accepts too, and the sizes they
 * return agree with the shape it reports. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0])
        fuzz_path(path, sizeof path, "input.npy");
    fuzz_write(path, data, size);

    arnet_npy_info info;
    arnet_npy_info_init(&info);
    arnet_clear_error();
    int rc_info = arnet_npy_info_read(path, &info);
    FUZZ_CHECK_MESSAGE(rc_info);
    if (rc_info == ARNET_OK)
        FUZZ_CHECK(info.ndim >= 1 && info.ndim <= ARNET_NPY_MAX_DIMS, "ndim %d", info.ndim);

    static const int crops[] = {-1, 0, 5};
    for (int i = 0; i < 3; i++) {
        arnet_npy_options o;
        arnet_npy_options_init(&o);
        o.crop = crops[i];
        float *x = NULL;
        size_t T = 0;
        uint32_t F = 0;
        int rc = arnet_npy_read(path, &o, &x, &T, &F);
        FUZZ_CHECK_MESSAGE(rc);
        FUZZ_CHECK((rc == ARNET_OK) == (x != NULL), "status %d, data %p", rc, (void *)x);
        if (rc == ARNET_OK) {
            FUZZ_CHECK(rc_info == ARNET_OK, "read accepts what info refuses");
            FUZZ_CHECK(info.ndim == 2 || info.ndim == 3, "read a rank %d array", info.ndim);
            FUZZ_CHECK(T == info.shape[0] && F == info.shape[info.ndim - 1],
                       "read %zu x %u, header says %llu x %llu", T, (unsigned)F,
                       (unsigned long long)info.shape[0],
                       (unsigned long long)info.shape[info.ndim - 1]);
            if (info.ndim == 3 && crops[i] >= 0)
                FUZZ_CHECK((uint64_t)crops[i] < info.shape[1], "crop %d of %llu accepted",
                           crops[i], (unsigned long long)info.shape[1]);
            /* Touch every value: a short buffer shows under ASan. */
            volatile float sum = 0;
            for (size_t k = 0; k < T * F; k++)
                sum += x[k];
            (void)sum;
        }
        arnet_free(x);
    }

    uint8_t *labels = NULL;
    size_t n = 0;
    int rc = arnet_npy_read_labels(path, &labels, &n);
    FUZZ_CHECK_MESSAGE(rc);
    if (rc == ARNET_OK) {
        FUZZ_CHECK(rc_info == ARNET_OK && info.ndim == 1 && n == info.shape[0] && n > 0,
                   "labels: %zu, header ndim %d", n, info.ndim);
        for (size_t k = 0; k < n; k++)
            FUZZ_CHECK(labels[k] <= 1, "label %u", (unsigned)labels[k]);
    }
    arnet_free(labels);
    return 0;
}
