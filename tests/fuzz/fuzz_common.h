/* fuzz_common.h -- what the libFuzzer harnesses of tests/fuzz share: a
 * private scratch folder, writing the input to a file there, the tiny data
 * set and model the harnesses train and evaluate with (the seed corpus
 * program, gen_corpus.c, builds trainer files from the same data set so
 * that their digest matches), and the check that stops the fuzzer when a
 * promise of the library is broken (a crash is not the only bug). */
#ifndef ARNET_FUZZ_COMMON_H
#define ARNET_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arnet/arnet.h>

/* A broken promise: say which and abort, so that libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                                       \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, \
                    #cond);                                                         \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, " (last error: %s)\n", arnet_last_error());            \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Every failing call must leave a message. */
#define FUZZ_CHECK_MESSAGE(rc)                                                      \
    FUZZ_CHECK((rc) == ARNET_OK || arnet_last_error()[0] != '\0', "status %d without a message", (rc))

/* ARNET_FUZZ_DEBUG=1 in the environment: say how far each input got (to
 * check that the seeds reach what they should). */
#define FUZZ_DEBUG(...)                                                             \
    do {                                                                            \
        if (getenv("ARNET_FUZZ_DEBUG")) {                                           \
            fprintf(stderr, __VA_ARGS__);                                           \
            fprintf(stderr, " [%s]\n", arnet_last_error());                         \
        }                                                                           \
    } while (0)

static char fuzz_dir_[256];

static inline void fuzz_remove_dir_(void)
{
    if (fuzz_dir_[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_);
        if (system(cmd) != 0)
            fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_);
    }
}

/* The process's scratch folder, made on first use, removed at exit. */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/arnet-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir_)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_remove_dir_);
    }
    return fuzz_dir_;
}

/* fuzz_dir()/name, in a static buffer per call site's choice of out. */
static inline void fuzz_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", fuzz_dir(), name);
}

/* Write bytes to a file (plainly: no fsync, the fuzzer writes thousands a second). */
static inline void fuzz_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* The training data of the checkpoint harnesses: 2 normal and 2 anomalous
 * videos of 3..5 clips, features a fixed function of (video, clip, f). */
static inline arnet_dataset *fuzz_dataset(uint32_t F)
{
    arnet_dataset *ds = NULL;
    if (arnet_dataset_create(F, &ds) != ARNET_OK)
        return NULL;
    for (int v = 0; v < 4; v++) {
        size_t T = 3 + (size_t)v % 3;
        float *x = malloc(T * F * sizeof *x);
        if (!x) {
            arnet_dataset_free(ds);
            return NULL;
        }
        for (size_t t = 0; t < T; t++)
            for (uint32_t f = 0; f < F; f++)
                x[t * F + f] = (float)((v * 7 + (int)t * 3 + (int)f) % 11) / 11.0f + (v >= 2 ? 0.5f : 0.0f);
        int rc = arnet_dataset_add(ds, NULL, x, T, F, v >= 2, NULL, 0);
        free(x);
        if (rc != ARNET_OK) {
            arnet_dataset_free(ds);
            return NULL;
        }
    }
    return ds;
}

/* Options of the trainers the harnesses and the seed trainer files use. */
static inline void fuzz_train_options(arnet_train_options *o)
{
    arnet_train_options_init(o);
    o->normal_per_batch = 2;
    o->anomalous_per_batch = 2;
    o->lr = 1e-2f;
    o->seed = 5;
    o->iterations = 3;
}

#endif
