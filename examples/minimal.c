/* minimal.c -- the smallest complete use of libarnet: load a model, read one
 * video's clip features from a .npy file, print one score per clip.
 *
 *   minimal MODEL.arnet FEATURES.npy
 *   minimal --make-model MODEL.arnet DIM   (writes a random DIM-feature model, for tests) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arnet/arnet.h>

static int fail(const char *what)
{
    fprintf(stderr, "minimal: %s: %s\n", what, arnet_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--make-model") == 0) {
        char *end;
        unsigned long dim = strtoul(argv[3], &end, 10);
        if (*argv[3] == '\0' || *end != '\0' || dim < 1 || dim > 65536) {
            fprintf(stderr, "minimal: DIM '%s' is not a number in 1..65536\n", argv[3]);
            return 2;
        }
        arnet_model_config cfg;
        arnet_model_config_init(&cfg);
        cfg.feature_dim = (uint32_t)dim;
        arnet_model *m = NULL;
        if (arnet_model_create(&cfg, &m))
            return fail("create");
        int rc = arnet_model_save(m, argv[2]);
        arnet_model_free(m);
        return rc ? fail(argv[2]) : 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: minimal MODEL FEATURES.npy\n");
        return 2;
    }
    arnet_model *model = NULL;
    if (arnet_model_load(argv[1], &model))
        return fail(argv[1]);
    float *x = NULL;
    size_t n = 0;
    uint32_t f = 0;
    if (arnet_npy_read(argv[2], NULL, &x, &n, &f)) {
        arnet_model_free(model);
        return fail(argv[2]);
    }
    if (f != arnet_model_feature_dim(model)) {
        fprintf(stderr, "minimal: %s has %u features per clip, the model expects %u\n",
                argv[2], f, arnet_model_feature_dim(model));
        arnet_free(x);
        arnet_model_free(model);
        return 1;
    }
    float *scores = malloc(n * sizeof *scores);
    int rc = scores ? arnet_model_score(model, x, n, scores) : ARNET_E_NOMEM;
    if (rc == ARNET_OK)
        for (size_t i = 0; i < n; i++)
            printf("clip %zu %.6f\n", i, (double)scores[i]);
    free(scores);
    arnet_free(x);
    arnet_model_free(model);
    return rc ? fail("score") : 0;
}
