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
// Timed plain steps before the first probe, so that the plain estimate has
// settled (the first steps after loading a model run slow) before a probe is
// judged against it.
constexpr int64_t k_plain_before_probe = 4;
// Drafting must promise this much over plain decoding before it is chosen, so
// that estimation noise does not make the session slower than plain decoding.
constexpr double k_margin = 1.03;
// Plain steps between probes while drafting does not pay. After a probe that
// does not switch drafting on, the wait is long enough that probing costs at
// most about 1 / k_probe_budget of the plain decoding time, and at least
// doubles, up to k_probe_interval_max.
constexpr int64_t k_probe_interval_min = 32;
constexpr int64_t k_probe_interval_max = 1024;
constexpr double k_probe_budget = 100.0;
// Bounds on a single timing, as multiples of the plain step's estimate: the
// first passes after loading a model fault its pages in and can take many
// times longer than the rest. A draft pass runs one layer plus the output
// head, so it costs less than a target pass. A catch-up pass (one layer, no
// output head) costs less again. An extra token in a target pass cost up to
// about a whole pass on a 2-core CPU, so twice a pass bounds it.
constexpr double k_max_draft_ratio = 1.0;
constexpr double k_max_extra_token_ratio = 2.0;
constexpr double k_max_catchup_ratio = 0.5;
constexpr double k_max_plain_ratio = 4.0;

// The smallest of the first few observations, then an exponential average.
// Timing noise only ever adds time, and the first passes after loading a
// model can take many times longer than the rest, so the minimum is the
// better early estimate. The average then follows lasting changes, and one
// observation counts as at most k_max_outlier_ratio times the average, so a
// single preempted step moves it by at most 10 %. n counts value too.
constexpr int64_t k_min_observations = 3;
constexpr double k_max_outlier_ratio = 2.0;

double blend(double average, double value, int64_t n) {
    value = std::max(0.0, value);
    if (n <= k_min_observations) {
        return n == 1 ? value : std::min(average, value);
    }
    return average + k_time_weight * (std::min(value, k_max_outlier_ratio * average) - average);
}

// Cap value at ratio * reference, once the reference has been measured.
double bounded(double value, double reference, double ratio) {
    return reference > 0.0 ? std::min(value, ratio * reference) : value;
}

}  // namespace

depth_controller::depth_controller(int32_t max_depth)
    : max_depth_(max_depth),
      probe_interval_(k_probe_interval_min),
      attempted_(max_depth, 0.0),
      accepted_(max_depth, 0.0),
      verify_extra_(max_depth + 2, 0.0),
      n_verify_extra_(max_depth + 2, 0),
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

// The per-token costs are bounded again on use, so that a cost measured while
// the plain step was still slow (pages faulting in) shrinks with it.

double depth_controller::verify_seconds(int32_t n_tokens) const {
    return verify_base_ + verify_extra_seconds(n_tokens);
}

// Estimate the seconds a target pass over n_tokens costs beyond a single-token
// pass. Each batch width has its own estimate, because on a CPU the cost grows
// less than linearly with the width. Between timed widths it is interpolated,
// and beyond the widest it grows in proportion to the widest's. Before any
// timing, each extra token is assumed to cost a whole pass (a CPU's worst case).
double depth_controller::verify_extra_seconds(int32_t n_tokens) const {
    if (n_tokens <= 1) {
        return 0.0;
    }
    const double worst = k_max_extra_token_ratio * verify_base_ * (n_tokens - 1);
    int32_t lower = 1;
    double lower_extra = 0.0;
    for (int32_t n = 2; n < n_tokens; n++) {
        if (n_verify_extra_[n] > 0) {
            lower = n;
            lower_extra = verify_extra_[n];
        }
    }
    if (n_verify_extra_[n_tokens] > 0) {
        return std::min(verify_extra_[n_tokens], worst);
    }
    for (int32_t upper = n_tokens + 1; upper <= max_depth_ + 1; upper++) {
        if (n_verify_extra_[upper] > 0) {
            const double t = double(n_tokens - lower) / double(upper - lower);
            return std::min(lower_extra + t * (verify_extra_[upper] - lower_extra), worst);
        }
    }
    if (lower > 1) {
        return std::min(lower_extra * (n_tokens - 1) / (lower - 1), worst);
    }
    return verify_base_ * (n_tokens - 1);
}

double depth_controller::catchup_seconds(int32_t n_tokens) const {
    return n_tokens * bounded(catchup_per_token_, verify_base_, k_max_catchup_ratio);
}

double depth_controller::draft_seconds() const {
    return bounded(draft_per_token_, verify_base_, k_max_draft_ratio);
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
    return depth * draft_seconds() + verify_seconds(depth + 1) + catchup_seconds(depth + 1) +
           sampled * sample_per_token_;
}

double depth_controller::expected_rate(int32_t depth) const {
    const double seconds = step_seconds(depth);
    return seconds > 0.0 ? expected_tokens(depth) / seconds : 0.0;
}

double depth_controller::best_case_rate(int32_t depth) const {
    const double seconds = depth * draft_seconds() + verify_seconds(depth + 1) + catchup_seconds(depth + 1) +
                           (depth + 1) * sample_per_token_;
    return seconds > 0.0 ? (depth + 1) / seconds : 0.0;
}

bool depth_controller::drafting_could_pay() const {
    // One timed draft is not trusted alone: it may be a first, slow pass.
    if (n_draft_observed_ < 2 && !draft_hint_seen_) {
        return true;
    }
    // Every draft accepted, verify passes as cheap as a single token and no
    // catch-up: the best case (each position is still sampled). When even that
    // loses to plain decoding, a probe cannot help.
    const double seconds = verify_base_ + max_depth_ * draft_seconds() + (max_depth_ + 1) * sample_per_token_;
    return seconds <= 0.0 || (max_depth_ + 1) / seconds > expected_rate(0) * k_margin;
}

int32_t depth_controller::choose(int32_t limit) {
    limit = std::min(limit, max_depth_);
    probing_ = false;
    int32_t depth = 0;

    if (limit <= 0) {
        depth = 0;
    } else if (n_plain_timed_ < k_plain_before_probe) {
        depth = 0;  // time plain steps first
    } else if (n_draft_timed_ < 1 && steps_at_zero_ == 0) {
        depth = 1;  // then drafted steps
        probing_ = true;
    } else if (next_probe_depth_ > 0) {
        depth = std::min(next_probe_depth_, limit);
        probing_ = true;
    } else {
        // NOTE: the acceptance here is a point estimate from a few decayed
        // counts. After a run of lucky drafts it overstates acceptance, and on a
        // 4B Q4_K_M model at alpha 0.75 (2 CPU threads) auto drafted at a loss and
        // reached 0.93 of plain decoding (docs/benchmarks.md).
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
    if (probing_ && !drafting_could_pay()) {
        // Skip the probe, and wait as long as after one that failed.
        depth = 0;
        probing_ = false;
        steps_at_zero_ = 1;
        probe_interval_ = std::min(2 * probe_interval_, k_probe_interval_max);
    }

    next_probe_depth_ = 0;
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
            verify_base_ = blend(verify_base_, bounded(t_verify, verify_base_, k_max_plain_ratio), n_plain_timed_);
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
        const double draft = bounded(t_draft / drafted, verify_base_, k_max_draft_ratio);
        draft_per_token_ = blend(draft_per_token_, draft, ++n_draft_observed_);
        const double extra = bounded(std::max(0.0, t_verify - verify_base_), verify_base_ * drafted,
                                     k_max_extra_token_ratio);
        verify_extra_[n_tokens] = blend(verify_extra_[n_tokens], extra, ++n_verify_extra_[n_tokens]);
        // The catch-up of a step covers its n_tokens (an idle lag is flushed and timed apart).
        const double catchup = bounded(t_catchup / n_tokens, verify_base_, k_max_catchup_ratio);
        catchup_per_token_ = blend(catchup_per_token_, catchup, n_draft_timed_);
    }

    // Position j (1-based) was tried if all before it were accepted.
    const int32_t n_tried = std::min(drafted, accepted + 1);
    for (int32_t j = 0; j < n_tried; j++) {
        attempted_[j] += 1.0;
        accepted_[j] += j < accepted ? 1.0 : 0.0;
    }

    if (probing_) {
        steps_at_zero_ = 0;
        const double plain = expected_rate(0);
        bool pays = false;
        for (int32_t d = 1; d <= max_depth_; d++) {
            pays = pays || expected_rate(d) > plain * k_margin;
        }
        if (pays) {
            probe_interval_ = k_probe_interval_min;
        } else if (accepted == drafted && drafted < max_depth_ &&
                   best_case_rate(std::min(2 * drafted, max_depth_)) > plain * k_margin) {
            // Every draft was accepted, but one short probe is weak evidence
            // against the prior: probe twice as deep on the next step, unless
            // even a fully accepted deeper draft would be slower than plain decoding.
            next_probe_depth_ = std::min(2 * drafted, max_depth_);
        } else {
            // Back off: wait until the plain steps outweigh this probe's loss,
            // which includes catching up the MTP context after its idle stretch.
            const double loss =
                step_seconds(drafted) - expected_tokens(drafted) * step_seconds(0) + lag_flush_seconds_;
            const double budget = step_seconds(0) > 0.0 ? k_probe_budget * loss / step_seconds(0) : 0.0;
            const int64_t wait = std::max(2 * probe_interval_, (int64_t) std::min(budget, 1e9));
            probe_interval_ = std::min(wait, k_probe_interval_max);
        }
    }
    lag_flush_seconds_ = 0.0;
}

void depth_controller::observe_draft_pass(double seconds) {
    if (n_draft_observed_ < 1) {
        draft_per_token_ = seconds;
        draft_hint_seen_ = true;
        n_draft_observed_ = 1;
    }
}

void depth_controller::observe_lag_flush(double seconds) {
    lag_flush_seconds_ += seconds;
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

extern "C" void llamamtp_depth_controller_observe_draft_pass(struct llamamtp_depth_controller * c, double seconds) {
    c->controller.observe_draft_pass(seconds);
}

extern "C" double llamamtp_depth_controller_expected_rate(const struct llamamtp_depth_controller * c, int32_t depth) {
    return c->controller.expected_rate(depth);
}

extern "C" double llamamtp_depth_controller_acceptance(const struct llamamtp_depth_controller * c, int32_t position) {
    return c->controller.acceptance(position);
}
