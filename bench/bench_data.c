/* bench_data.c -- training on feature sets shaped like the public ones, at
 * their real size, with the features mapped (arnet_load_options.mmap) or
 * loaded: peak resident memory and step time.  Uses only the public
 * interface.
 *
 *   bench_data DIR [--set sh|ucf|xd|all] [--steps N] [--load] [--crop K] [--dense] [--quick]
 *
 * --load reads the features into memory instead of mapping them; --crop K
 * trains on crop K instead of the mean of the ten.
 *
 * Writes DIR/<set>/vNNNNN.npy, [T, 10, 1024] float32 ten-crop files, and
 * DIR/<set>/train.txt.  By default the files are sparse (header + a hole:
 * the logical size of the set, no disk; reading a hole fills the page cache
 * with zero pages as reading data would); --dense writes pseudo-random data
 * instead (the set's size on disk).  Clip counts T per set:
 *   sh   437 videos, 19,837 clips in all (ShanghaiTech's 317,398 frames / 16)
 *   ucf  1,900 videos, 864,000 clips (UCF-Crime's 128 h at 30 fps / 16)
 *   xd   4,754 videos, 1,171,000 clips (XD-Violence's 217 h at 24 fps / 16)
 * each video's T drawn from a log-normal (sigma 1, fixed seed) scaled to
 * that total, at least 2 clips.  Half the videos are anomalous.
 *
 * Prints, per set: the set's logical size, load time, the resident set
 * after loading (the index), step time over --steps steps (paper settings:
 * 30 + 30 videos of up to 300 clips, hidden 1024), and the peak resident
 * set (VmHWM).  Run one set per process for a clean peak. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arnet/arnet.h>

#define C 10
#define F 1024

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* kB of a /proc/self/status line ("VmHWM:", "VmRSS:", "RssAnon:"). */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n))
            v = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static int write_header(int fd, size_t T)
{
    char dict[128], buf[128];
    int dl = snprintf(dict, sizeof dict,
                      "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d, %d), }", T,
                      C, F);
    size_t total = (10 + (size_t)dl + 1 + 63) / 64 * 64, hlen = total - 10;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)dl);
    memset(buf + 10 + dl, ' ', total - 10 - (size_t)dl - 1);
    buf[total - 1] = '\n';
    return write(fd, buf, total) == (ssize_t)total ? (int)total : -1;
}

static int make_set(const char *dir, size_t n_videos, size_t total_clips, int dense,
                    char *manifest, size_t cap)
{
    mkdir(dir, 0777);
    size_t *T = malloc(n_videos * sizeof *T);
    double sum = 0;
    for (size_t i = 0; i < n_videos; i++) {
        double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
        double x = exp(z);
        T[i] = (size_t)(x * 1e6);
        sum += (double)T[i];
    }
    for (size_t i = 0; i < n_videos; i++) {
        T[i] = (size_t)((double)T[i] / sum * (double)total_clips);
        if (T[i] < 2)
            T[i] = 2;
    }
    snprintf(manifest, cap, "%s/train.txt", dir);
    FILE *m = fopen(manifest, "w");
    if (!m)
        return -1;
    float *row = dense ? malloc(C * F * sizeof *row) : NULL;
    for (size_t i = 0; i < n_videos; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%.4000s/v%05zu.npy", dir, i);
        struct stat st;
        off_t want = 0;
        fprintf(m, "v%05zu.npy %d\n", i, (int)(i % 2));
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int h = fd >= 0 ? write_header(fd, T[i]) : -1;
        if (h < 0) {
            fprintf(stderr, "bench_data: %s: %s\n", p, strerror(errno));
            return -1;
        }
        want = (off_t)h + (off_t)T[i] * C * F * 4;
        if (dense) {
            for (size_t t = 0; t < T[i]; t++) {
                for (size_t k = 0; k < C * F; k++)
                    row[k] = (float)(uniform() - 0.5);
                if (write(fd, row, C * F * 4) != C * F * 4)
                    return -1;
            }
        } else if (ftruncate(fd, want) != 0) {
            return -1;
        }
        close(fd);
        (void)st;
    }
    free(row);
    fclose(m);
    free(T);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *which = "all";
    int steps = 20, load = 0, dense = 0, quick = 0, crop = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--crop") && i + 1 < argc)
            crop = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--load"))
            load = 1;
        else if (!strcmp(argv[i], "--dense"))
            dense = 1;
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_data DIR [--set sh|ucf|xd|all] [--steps N] [--load] "
                            "[--crop K] [--dense] [--quick]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/bench_data-XXXXXX";
    if (!dir && quick)
        dir = mkdtemp(tmp);
    if (!dir) {
        fprintf(stderr, "bench_data: give a folder for the generated sets\n");
        return 2;
    }
    mkdir(dir, 0777);
    struct {
        const char *name;
        size_t videos, clips;
    } sets[] = {{"sh", 437, 19837}, {"ucf", 1900, 864000}, {"xd", 4754, 1171000}};
    if (quick) {
        sets[0].videos = 20;
        sets[0].clips = 800;
        steps = 2;
        which = "sh";
    }
    printf("set   videos     clips  logical GB  mode  crop  load s  RSS after load MB  step s  "
           "peak RSS MB\n");
    for (size_t s = 0; s < 3; s++) {
        if (strcmp(which, "all") && strcmp(which, sets[s].name))
            continue;
        char sub[4096], manifest[4200];
        snprintf(sub, sizeof sub, "%s/%s%s", dir, sets[s].name, dense ? "-dense" : "");
        snprintf(manifest, sizeof manifest, "%s/train.txt", sub);
        struct stat st;
        if (stat(manifest, &st) != 0 &&
            make_set(sub, sets[s].videos, sets[s].clips, dense, manifest, sizeof manifest)) {
            fprintf(stderr, "bench_data: cannot write the %s set in %s\n", sets[s].name, sub);
            return 1;
        }
        double t0 = now();
        arnet_load_options lo;
        arnet_load_options_init(&lo);
        lo.mmap = !load;
        lo.crop = crop;
        lo.feature_dim = F;
        lo.layout = ARNET_LAYOUT_TCF; /* videos of 5 or 10 clips would be ambiguous */
        arnet_dataset *ds = NULL;
        if (arnet_dataset_load_manifest(manifest, &lo, &ds)) {
            fprintf(stderr, "bench_data: %s\n", arnet_last_error());
            return 1;
        }
        double t_load = now() - t0;
        long rss_load = status_kb("VmRSS:");
        size_t clips = 0;
        for (size_t i = 0; i < arnet_dataset_size(ds); i++) {
            arnet_video_info vi;
            arnet_video_info_init(&vi);
            if (arnet_dataset_video(ds, i, &vi) == ARNET_OK)
                clips += vi.n_clips;
        }
        arnet_model_config cfg;
        arnet_model_config_init(&cfg);
        cfg.feature_dim = F;
        arnet_model *m = NULL;
        arnet_trainer *tr = NULL;
        arnet_train_options to;
        arnet_train_options_init(&to);
        if (quick)
            to.normal_per_batch = to.anomalous_per_batch = 4;
        if (arnet_model_create(&cfg, &m) || arnet_trainer_create(m, ds, &to, &tr)) {
            fprintf(stderr, "bench_data: %s\n", arnet_last_error());
            return 1;
        }
        double t1 = now();
        for (int k = 0; k < steps; k++)
            if (arnet_trainer_step(tr, NULL)) {
                fprintf(stderr, "bench_data: %s\n", arnet_last_error());
                return 1;
            }
        double step = (now() - t1) / steps;
        printf("%-4s %7zu %9zu %11.1f  %-4s %5s %7.1f %18.0f %7.3f %12.0f\n", sets[s].name,
               arnet_dataset_size(ds), clips, (double)clips * C * F * 4 / 1e9,
               load ? "load" : "mmap", crop < 0 ? "mean" : "one", t_load, rss_load / 1024.0, step,
               status_kb("VmHWM:") / 1024.0);
        fflush(stdout);
        arnet_trainer_free(tr);
        arnet_model_free(m);
        arnet_dataset_free(ds);
    }
    if (quick) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
