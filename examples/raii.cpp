// raii.cpp -- libarnet from C++17 through the C header: unique_ptr deleters
// own the handles, failures become exceptions carrying arnet_last_error().
// Library messages already start with the function's name ("arnet_stream_create:
// off_threshold ..."), so the exception text is the message itself; the
// caller's label is only used when the library left no message.
#include <arnet/arnet.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace arnet {

inline std::string error_text(int status, const char *what)
{
    const char *msg = arnet_last_error();
    if (msg && *msg)
        return msg;
    return std::string(what) + ": " + arnet_strerror(status);
}

struct error : std::runtime_error {
    int status;
    error(int st, const char *what) : std::runtime_error(error_text(st, what)), status(st) {}
};

inline void check(int status, const char *what)
{
    if (status != ARNET_OK)
        throw error(status, what);
}

struct model_deleter { void operator()(arnet_model *m) const { arnet_model_free(m); } };
struct scorer_deleter { void operator()(arnet_scorer *s) const { arnet_scorer_free(s); } };
struct stream_deleter { void operator()(arnet_stream *s) const { arnet_stream_free(s); } };
using model = std::unique_ptr<arnet_model, model_deleter>;
using scorer = std::unique_ptr<arnet_scorer, scorer_deleter>;
using stream = std::unique_ptr<arnet_stream, stream_deleter>;

inline model make_model(uint32_t dim)
{
    arnet_model_config cfg;
    arnet_model_config_init(&cfg);
    cfg.feature_dim = dim;
    arnet_model *m = nullptr;
    check(arnet_model_create(&cfg, &m), "arnet_model_create");
    return model(m);
}

inline scorer make_scorer(const model &m, size_t max_batch)
{
    arnet_scorer_options o;
    arnet_scorer_options_init(&o);
    o.max_batch = max_batch;
    arnet_scorer *s = nullptr;
    check(arnet_scorer_create(m.get(), &o, &s), "arnet_scorer_create");
    return scorer(s);
}

inline stream make_stream(const arnet_stream_options &o)
{
    arnet_stream *s = nullptr;
    check(arnet_stream_create(&o, &s), "arnet_stream_create");
    return stream(s);
}

} // namespace arnet

int main()
{
    try {
        const uint32_t dim = 32;
        auto m = arnet::make_model(dim);
        auto s = arnet::make_scorer(m, 8);
        std::mt19937 gen(7);
        std::normal_distribution<float> nd;
        std::vector<float> x(20 * dim);
        for (auto &v : x)
            v = nd(gen);
        std::vector<float> scores(20), direct(20);
        arnet::check(arnet_scorer_score(s.get(), x.data(), 20, scores.data()), "score");
        arnet::check(arnet_model_score(m.get(), x.data(), 20, direct.data()), "model score");
        for (size_t i = 0; i < 20; i++)
            if (!(std::abs(scores[i] - direct[i]) < 1e-6f)) {
                std::fprintf(stderr, "raii: clip %zu: %g vs %g\n", i, scores[i], direct[i]);
                return 1;
            }
        std::printf("scored 20 clips, first %.4f\n", static_cast<double>(scores[0]));

        arnet_stream_options so;
        arnet_stream_options_init(&so);
        so.on_threshold = 0.0f; // every clip counts: an alarm starts after min_on clips
        so.off_threshold = 0.0f;
        int events = 0;
        so.on_event = [](void *user, const arnet_event *ev) {
            ++*static_cast<int *>(user);
            std::printf("event %d stream %llu start %llu\n", ev->type,
                        static_cast<unsigned long long>(ev->stream_id),
                        static_cast<unsigned long long>(ev->start_clip));
        };
        so.user = &events;
        auto st = arnet::make_stream(so);
        for (int i = 0; i < 5; i++)
            arnet::check(arnet_stream_push(st.get(), s.get(), x.data() + i * dim, nullptr),
                         "push");
        if (events != 1) {
            std::fprintf(stderr, "raii: expected one alarm, got %d events\n", events);
            return 1;
        }

        // A bad option must surface as an exception with the library's message.
        so.off_threshold = 0.9f;
        so.on_threshold = 0.5f;
        try {
            auto bad = arnet::make_stream(so);
            std::fprintf(stderr, "raii: bad options accepted\n");
            return 1;
        } catch (const arnet::error &e) {
            // The library's message, naming the function once and the field.
            const std::string msg = e.what();
            if (e.status != ARNET_E_INVALID || msg.find("off_threshold") == std::string::npos ||
                msg.rfind("arnet_stream_create: ", 0) != 0 ||
                msg.find("arnet_stream_create", 1) != std::string::npos) {
                std::fprintf(stderr, "raii: unexpected error: %s\n", e.what());
                return 1;
            }
            std::printf("caught: %s\n", e.what());
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "raii: %s\n", e.what());
        return 1;
    }
    return 0;
}
