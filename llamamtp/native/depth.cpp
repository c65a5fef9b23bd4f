// The depth controller's estimates and decision rule (see depth.h).

#include "depth.h"

#include <algorithm>

namespace {

// Weight of a new timing in the running averages; about the last 10 steps count.
constexpr double k_time_weight = 0.1;
// Decay of the acceptance counts per drafted step (about the last 50 count)
// and per plain step (slower, so the evidence of sparse probes survives until
// the next one, yet a long plain stretch lets old evidence fade).
constexpr double k_count_decay = 0.98;
constexpr double k_count_decay_plain = 0.995;
// Pseudo-counts that pull an estimate toward the position before it.
constexpr double k_prior_weight = 1.0;
// Acceptance assumed for the first draft position before any observation.
constexpr double k_prior_acceptance = 0.5;
// Drafting must promise this much over plain decoding before it is chosen, so
// that estimation noise does not make the session slower than plain decoding.
constexpr double k_margin = 1.03;
// Plain steps between probes at depth 1 while drafting does not pay; the
// interval doubles after each probe that does not switch drafting back on.
constexpr int64_t k_probe_interval_min = 32;
constexpr int64_t k_probe_interval_max = 1024;

// A running mean over the first observations, then an exponential average,
// so one slow early step does not dominate for long. n counts value too.
double blend(double average, double value, int64_t n) {
    const double weight = std::max(k_time_weight, 1.0 / (double) n);
    return average + weight * (value - average);
}

}  // namespace

depth_controller::depth_controller(int32_t max_depth)
    : max_depth_(max_depth),
      probe_interval_(k_probe_interval_min),
      attempted_(max_depth, 0.0),
      accepted_(max_depth, 0.0),
      histogram_(max_depth + 1, 0) {}

double depth_controller::acceptance(int32_t position) const {
    double previous = k_prior_acceptance;
    double rate = k_prior_acceptance;
    for (int32_t j = 0; j < position && j < max_depth_; j++) {
        rate = (accepted_[j] + k_prior_weight * previous) / (attempted_[j] + k_prior_weight);
        previous = rate;
    }
    return rate;
}

double depth_controller::verify_seconds(int32_t n_tokens) const {
    // Until a batch was timed, assume each extra token costs a whole pass (a CPU's worst case).
    const double per_token = verify_per_token_seen_ ? verify_per_token_ : verify_base_;
    return verify_base_ + (n_tokens - 1) * per_token;
}

double depth_controller::catchup_seconds(int32_t n_tokens) const {
    return catchup_base_ + (n_tokens - 1) * catchup_per_token_;
}

double depth_controller::expected_tokens(int32_t depth) const {
    double tokens = 1.0;
    double all_accepted = 1.0;
    for (int32_t j = 1; j <= depth; j++) {
        all_accepted *= acceptance(j);
        tokens += all_accepted;
    }
    return tokens;
}

double depth_controller::step_seconds(int32_t depth) const {
    if (depth == 0) {
        return verify_seconds(1) + sample_per_token_;
    }
    // Sampling runs on every accepted position plus the rejected one.
    const double sampled = std::min<double>(expected_tokens(depth), depth + 1);
    return depth * draft_per_token_ + verify_seconds(depth + 1) + catchup_seconds(depth + 1) +
           sampled * sample_per_token_;
}

double depth_controller::expected_rate(int32_t depth) const {
    const double seconds = step_seconds(depth);
    return seconds > 0.0 ? expected_tokens(depth) / seconds : 0.0;
}

int32_t depth_controller::choose(int32_t limit) {
    limit = std::min(limit, max_depth_);
    probing_ = false;
    int32_t depth = 0;

    if (limit <= 0) {
        depth = 0;
    } else if (n_plain_timed_ < 1) {
        depth = 0;  // time plain steps first
    } else if (n_draft_timed_ < 1) {
        depth = 1;  // then drafted steps
        probing_ = true;
    } else {
        const double plain = expected_rate(0);
        double best = plain * k_margin;
        for (int32_t d = 1; d <= limit; d++) {
            const double rate = expected_rate(d);
            if (rate > best) {
                best = rate;
                depth = d;
            }
        }
        if (depth == 0) {
            steps_at_zero_++;
            if (steps_at_zero_ >= probe_interval_) {
                depth = 1;
                probing_ = true;
            }
        }
    }

    last_depth_ = depth;
    return depth;
}

void depth_controller::observe_step(int32_t drafted, int32_t accepted, double t_draft, double t_verify,
                                    double t_catchup, double t_sample) {
    const int32_t n_tokens = drafted + 1;
    const int32_t n_sampled = std::min(drafted, accepted) + 1;
    histogram_[std::min(drafted, max_depth_)]++;

    // Old acceptance counts fade with every step, plain ones included, so that
    // after a long plain stretch a probe is judged on its own result.
    const double decay = drafted == 0 ? k_count_decay_plain : k_count_decay;
    for (int32_t j = 0; j < max_depth_; j++) {
        attempted_[j] *= decay;
        accepted_[j] *= decay;
    }

    if (drafted == 0) {
        // Warm-up steps (the first of each kind) only count toward the step counter.
        if (plain_seen_++ > 0) {
            n_plain_timed_++;
            n_sample_timed_++;
            verify_base_ = blend(verify_base_, t_verify, n_plain_timed_);
            sample_per_token_ = blend(sample_per_token_, t_sample / n_sampled, n_sample_timed_);
        }
        return;
    }

    // The first drafted step is timed too: waiting for a second would cost a
    // whole extra drafted step in short generations, and an early overestimate
    // only delays drafting until the next probe.
    {
        n_draft_timed_++;
        n_sample_timed_++;
        sample_per_token_ = blend(sample_per_token_, t_sample / n_sampled, n_sample_timed_);
        draft_per_token_ = blend(draft_per_token_, t_draft / drafted, n_draft_timed_);
        const double per_token = std::max(0.0, (t_verify - verify_base_) / drafted);
        verify_per_token_ = blend(verify_per_token_, per_token, n_draft_timed_);
        verify_per_token_seen_ = true;
        // The catch-up of a step covers its n_tokens (an idle lag is flushed and timed apart).
        catchup_base_ = blend(catchup_base_, t_catchup / n_tokens, n_draft_timed_);
        catchup_per_token_ = catchup_base_;
    }

    // Position j (1-based) was tried if all before it were accepted.
    const int32_t n_tried = std::min(drafted, accepted + 1);
    for (int32_t j = 0; j < n_tried; j++) {
        attempted_[j] += 1.0;
        accepted_[j] += j < accepted ? 1.0 : 0.0;
    }

    if (probing_ && n_draft_timed_ > 0) {
        steps_at_zero_ = 0;
        // Back off when the probe shows drafting still does not pay.
        const double plain = expected_rate(0);
        bool pays = false;
        for (int32_t d = 1; d <= max_depth_; d++) {
            pays = pays || expected_rate(d) > plain * k_margin;
        }
        probe_interval_ = pays ? k_probe_interval_min : std::min(probe_interval_ * 2, k_probe_interval_max);
    }
}

// The C entry points of decl/86_depth.h.

#include "shim.h"

struct llamamtp_depth_controller {
    depth_controller controller;
};

extern "C" struct llamamtp_depth_controller * llamamtp_depth_controller_init(int32_t max_depth) {
    if (max_depth < 1 || max_depth > LLAMAMTP_MAX_DEPTH) {
        shim_set_error("max_depth must be in [1, %d], got %d", (int) LLAMAMTP_MAX_DEPTH, max_depth);
        return nullptr;
    }
    return new llamamtp_depth_controller{depth_controller(max_depth)};
}

extern "C" void llamamtp_depth_controller_free(struct llamamtp_depth_controller * c) {
    delete c;
}

extern "C" int32_t llamamtp_depth_controller_choose(struct llamamtp_depth_controller * c, int32_t limit) {
    return c->controller.choose(limit);
}

extern "C" void llamamtp_depth_controller_observe(struct llamamtp_depth_controller * c, int32_t drafted, int32_t accepted,
                                                  double t_draft, double t_verify, double t_catchup, double t_sample) {
    c->controller.observe_step(drafted, accepted, t_draft, t_verify, t_catchup, t_sample);
}

extern "C" double llamamtp_depth_controller_expected_rate(const struct llamamtp_depth_controller * c, int32_t depth) {
    return c->controller.expected_rate(depth);
}

extern "C" double llamamtp_depth_controller_acceptance(const struct llamamtp_depth_controller * c, int32_t position) {
    return c->controller.acceptance(position);
}
