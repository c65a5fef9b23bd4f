// The depth controller's estimates and decision rule (see depth.h).

#include "depth.h"

#include <algorithm>
#include <cmath>

namespace {

// Weight of a new timing in the running averages; about the last 10 steps count.
constexpr double k_time_weight = 0.1;
// Decay of the acceptance counts per drafted step (about the last 50 count)
// and per plain step (slower, so the evidence of sparse probes survives until
// the next one, yet a long plain stretch lets old evidence fade).
constexpr double k_count_decay = 0.98;
constexpr double k_count_decay_plain = 0.995;
// Acceptance assumed before any observation, and its weight in pseudo-counts.
constexpr double k_prior_acceptance = 0.5;
constexpr double k_prior_weight = 1.0;
// Pseudo-counts that pull each position's estimate toward the estimate pooled
// over all positions. A position gets one try per step at most, too few for a
// decision. On a 4B model at alpha 0.95, one rejection in the first six tries
// of position 1 put it at 0.79 while all positions together had 16
// acceptances of 17, and drafting stopped for 60 steps.
constexpr double k_pool_weight = 10.0;
// Timed plain steps before the first probe, so that a probe is judged
// against more than one plain timing. Where drafting pays, each of them
// costs time: on the 4B model at alpha 0.95 a plain step took about 25 % longer
// per token than 3 drafts.
constexpr int64_t k_plain_before_probe = 2;
// Drafting must promise this much over plain decoding before it is chosen, so
// that estimation noise does not make the session slower than plain decoding.
constexpr double k_margin = 1.03;
// The gain another depth must promise over the current one to replace it
// within a run of drafted steps (see choose).
constexpr double k_switch_margin = 1.02;
// Plain steps between probes while drafting does not pay. A run of drafted
// steps (probes and the drafting they lead to) that lost time against plain
// decoding is followed by a wait long enough that such runs cost at most about
// 1 / k_probe_budget of the plain decoding time. The wait at least doubles, up
// to k_probe_interval_max. After a run that gained, the wait is short: the
// run ended on a rejection or two, and drafting likely pays again.
constexpr int64_t k_probe_interval_after_gain = 8;
constexpr int64_t k_probe_interval_min = 32;
constexpr int64_t k_probe_interval_max = 1024;
constexpr double k_probe_budget = 100.0;
// A losing run in which fewer than k_thin_evidence drafts were tried in all
// (decayed counts), such as a first probe that met a wrong draft, is weak
// evidence about the text. Once per losing streak it is followed by the short
// wait, if drafting could gain much: fully accepted drafts at least
// k_quick_retry_gain times as fast as plain decoding.
//
// On the 4B model at alpha 0.95, probes at 1 and 2 drafts, the second meeting
// a wrong draft, kept sessions plain for the other 125 steps of a 128-token
// generation. Those runs reached 12.9 to 14.2 tokens/s, and 15.4 to 17.8 with
// the short wait (8 runs each).
constexpr double k_thin_evidence = 4.0;
constexpr double k_quick_retry_gain = 1.1;
// Until k_min_observations drafted steps are timed, the extra cost of a
// target pass comes from one or two timings, and one slow pass inflates it
// for every width. So the k_quick_retry_gain test counts that extra cost at
// k_thin_timing_scale times its estimate. On the 4B model at alpha 0.95, the
// pass over 2 tokens of a first probe took 2.2 plain steps (1.6 to 1.9 in 11
// other runs). Drafting then looked unable to gain 10 %, and the session
// stayed plain for 63 steps.
constexpr double k_thin_timing_scale = 0.75;
// A batch width timed fewer than k_min_observations times, at more than this
// many times the cheapest other width per extra token, is tried again (see
// verify_extra_seconds).
constexpr double k_retry_ratio = 1.5;
// How much cheaper per extra token a width timed only once looks when depths
// are compared within a drafted run (see verify_extra_seconds).
constexpr double k_explore_discount = 0.15;
// A drafted run goes on while drafting would pay with the pooled acceptance
// k_hope_errors standard errors above its estimate, until the run has lost
// k_loss_allowance plain steps' time against plain decoding (see choose).
constexpr double k_hope_errors = 1.0;
constexpr double k_loss_allowance = 4.0;
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

// The first k_min_observations timings of an estimate give their mean, each
// counted as at most k_max_early_ratio times the smallest of them. The first
// passes after loading a model, or one pass while other work held the CPU,
// can take many times longer than the rest. Later observations count as in
// a plain mean, each at least k_time_weight, until the average follows only
// the last ten or so and thereby lasting changes. One of them counts as at
// most k_max_outlier_ratio times the average, so a single preempted step
// moves the average by at most the weight. n counts value too, and early
// contains the first timings.
//
// Before f45e480 the first timings gave their minimum. The minimum of a few
// noisy timings is low, and a batch width timed only a few times kept that
// bias while the width in use was timed at its true cost. On the 4B model
// at alpha 0.95, runs of the benchmark's worker (15 of each, interleaved)
// drafted 4 tokens on 13 to 21 of about 36 steps in 5 runs with the minimum
// and in 2 with the mean, and reached 0.927 and 0.954 of 3 drafts (median
// per round).
constexpr int64_t k_min_observations = 3;
static_assert(k_min_observations == std::tuple_size<depth_controller::early_timings>::value);
constexpr double k_max_early_ratio = 1.5;
constexpr double k_max_outlier_ratio = 2.0;
// The machine's speed drifts: on a 2-core CPU host, target passes of every
// width took about 14 % longer for stretches of tens of steps. A slowdown
// seen only at the depth in use made the other depths, timed earlier, look
// faster, and the controller switched to them at a loss. So target pass
// timings are kept relative to a speed factor, which follows every pass of
// a width timed at least k_speed_min_timings times (fewer give no estimate
// to compare with). In log terms the factor moves k_speed_weight of the way
// to what the pass implies. The width's own estimate then takes the pass
// relative to the new factor, so a lasting change of speed moves the factor
// and barely the estimates.
constexpr int64_t k_speed_min_timings = 5;
constexpr double k_speed_weight = 0.5;

double blend(double average, double value, int64_t n, depth_controller::early_timings & early) {
    value = std::max(0.0, value);
    if (n <= k_min_observations) {
        early[n - 1] = value;
        double lowest = early[0];
        for (int64_t i = 1; i < n; i++) {
            lowest = std::min(lowest, early[i]);
        }
        double sum = 0.0;
        for (int64_t i = 0; i < n; i++) {
            sum += std::min(early[i], k_max_early_ratio * lowest);
        }
        return sum / (double) n;
    }
    const double weight = std::max(k_time_weight, 1.0 / (double) n);
    return average + weight * (std::min(value, k_max_outlier_ratio * average) - average);
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
      early_extra_(max_depth + 2),
      histogram_(max_depth + 1, 0) {}

double depth_controller::acceptance(int32_t position, double n_errors) const {
    double accepted = 0.0;
    double attempted = 0.0;
    for (int32_t j = 0; j < max_depth_; j++) {
        accepted += accepted_[j];
        attempted += attempted_[j];
    }
    double pooled = (accepted + k_prior_weight * k_prior_acceptance) / (attempted + k_prior_weight);
    if (n_errors > 0.0) {
        const double error = std::sqrt(pooled * (1.0 - pooled) / (attempted + k_prior_weight));
        pooled = std::min(1.0, pooled + n_errors * error);
    }
    const int32_t j = std::clamp(position, 1, max_depth_) - 1;
    return (accepted_[j] + k_pool_weight * pooled) / (attempted_[j] + k_pool_weight);
}

// The per-token costs are bounded again on use, so that a cost measured while
// the plain step was still slow (pages faulting in) shrinks with it.

double depth_controller::verify_seconds(int32_t n_tokens) const {
    return time_scale_ * (verify_base_ + verify_extra_seconds(n_tokens));
}

void depth_controller::track_speed(double seconds, double estimate, int64_t n_timed) {
    if (n_timed < k_speed_min_timings || estimate <= 0.0) {
        return;
    }
    const double ratio = std::clamp(seconds / (time_scale_ * estimate), 1.0 / k_max_outlier_ratio, k_max_outlier_ratio);
    time_scale_ *= std::pow(ratio, k_speed_weight);
}

// Estimate the seconds a target pass over n_tokens costs beyond a single-token
// pass. Each batch width has its own estimate, because on a CPU the cost per
// token depends on the width. On a 4B Q4_K_M model (2 threads) passes over 2,
// 3, 4 and 5 tokens took 1.75, 2.6, 2.8 and 3.7 single-token passes.
//
// An untimed width is assumed to cost 3/4 of the cheapest other timed width
// per extra token. That guess is optimistic so that the width gets tried, and
// a width that turns out slow then costs one step. Before any timing, each
// extra token is assumed to cost a whole pass.
//
// A width timed fewer than k_min_observations times, at more than
// k_retry_ratio times the cheapest other width per extra token, may have been
// timed during a slow moment, so it gets the untimed guess and another try.
// Without the retry, one slow pass over 4 tokens kept the 4B model at alpha
// 0.95 drafting 1 token for the rest of a generation, about 15 % slower
// than 3 drafts. Widths timed in line with the others are not retried. On
// that CPU the cost per extra token differed by up to a third between
// widths, and retrying every width timed fewer than three times cost about
// 1 % of a generation.
//
// With explore set, the extra cost of a width timed once or twice shrinks by
// k_explore_discount / sqrt(timings). Drafted depths are compared that way, so
// a near tie is settled on more than one timing. Without it, on the 4B model
// at alpha 0.95, one pass over 4 tokens timed at 347 ms (most took 320 to 330)
// kept the session at 2 drafts for 39 steps, about 9 % slower than 3 drafts.
double depth_controller::verify_extra_seconds(int32_t n_tokens, bool explore) const {
    if (n_tokens <= 1) {
        return 0.0;
    }
    const double worst = k_max_extra_token_ratio * verify_base_ * (n_tokens - 1);
    const int64_t n_timed = n_verify_extra_[n_tokens];
    if (n_timed >= k_min_observations) {
        return std::min(verify_extra_[n_tokens], worst);
    }
    double per_token = -1.0;
    for (int32_t n = 2; n <= max_depth_ + 1; n++) {
        if (n != n_tokens && n_verify_extra_[n] > 0) {
            const double timed = verify_extra_[n] / (n - 1);
            per_token = per_token < 0.0 ? timed : std::min(per_token, timed);
        }
    }
    double extra = n_timed > 0 ? verify_extra_[n_tokens] : verify_base_ * (n_tokens - 1);
    if (per_token >= 0.0 && (n_timed == 0 || extra > k_retry_ratio * per_token * (n_tokens - 1))) {
        extra = 0.75 * per_token * (n_tokens - 1);
    } else if (explore && n_timed > 0) {
        extra *= 1.0 - k_explore_discount / std::sqrt((double) n_timed);
    }
    return std::min(extra, worst);
}

double depth_controller::catchup_seconds(int32_t n_tokens) const {
    return n_tokens * bounded(catchup_per_token_, verify_seconds(1), k_max_catchup_ratio);
}

double depth_controller::draft_seconds() const {
    return bounded(draft_per_token_, verify_seconds(1), k_max_draft_ratio);
}

double depth_controller::expected_tokens(int32_t depth, double n_errors) const {
    double tokens = 1.0;
    double all_accepted = 1.0;
    for (int32_t j = 1; j <= depth; j++) {
        all_accepted *= acceptance(j, n_errors);
        tokens += all_accepted;
    }
    return tokens;
}

double depth_controller::step_seconds(int32_t depth, bool explore) const {
    if (depth == 0) {
        return verify_seconds(1) + sample_per_token_;
    }
    // Sampling runs on every accepted position plus the rejected one.
    const double sampled = std::min<double>(expected_tokens(depth), depth + 1);
    const double verify = time_scale_ * (verify_base_ + verify_extra_seconds(depth + 1, explore));
    return depth * draft_seconds() + verify + catchup_seconds(depth + 1) + sampled * sample_per_token_;
}

double depth_controller::expected_rate(int32_t depth, bool explore) const {
    const double seconds = step_seconds(depth, explore);
    return seconds > 0.0 ? expected_tokens(depth) / seconds : 0.0;
}

double depth_controller::optimistic_rate(int32_t depth) const {
    const double seconds = step_seconds(depth);
    return seconds > 0.0 ? expected_tokens(depth, k_hope_errors) / seconds : 0.0;
}

double depth_controller::best_case_rate(int32_t depth, double extra_scale) const {
    const double verify = time_scale_ * (verify_base_ + extra_scale * verify_extra_seconds(depth + 1));
    const double seconds = depth * draft_seconds() + verify + catchup_seconds(depth + 1) + (depth + 1) * sample_per_token_;
    return seconds > 0.0 ? (depth + 1) / seconds : 0.0;
}

bool depth_controller::drafting_pays() const {
    const double plain = expected_rate(0);
    for (int32_t d = 1; d <= max_depth_; d++) {
        if (expected_rate(d) > plain * k_margin) {
            return true;
        }
    }
    return false;
}

bool depth_controller::drafting_may_pay() const {
    if (run_loss_seconds_ >= k_loss_allowance * step_seconds(0)) {
        return false;
    }
    const double plain = expected_rate(0);
    for (int32_t d = 1; d <= max_depth_; d++) {
        if (optimistic_rate(d) > plain) {
            return true;
        }
    }
    return false;
}

bool depth_controller::drafting_could_pay() const {
    // One timed draft is not trusted alone: it may be a first, slow pass.
    if (n_draft_observed_ < 2 && !draft_hint_seen_) {
        return true;
    }
    // Every draft accepted, verify passes as cheap as a single token and no
    // catch-up: the best case (each position is still sampled). When even that
    // loses to plain decoding, a probe cannot help.
    const double seconds = verify_seconds(1) + max_depth_ * draft_seconds() + (max_depth_ + 1) * sample_per_token_;
    return seconds <= 0.0 || (max_depth_ + 1) / seconds > expected_rate(0) * k_margin;
}

int32_t depth_controller::choose(int32_t limit) {
    limit = std::min(limit, max_depth_);
    probing_ = false;
    int32_t depth = 0;
    bool explored = false;

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
        // counts, so after lucky drafts it overstates acceptance and drafting
        // goes on at a loss. The measured loss of the drafted run then sets
        // the wait before the next probe (end_drafted_run), which bounds what
        // such mistakes cost without preventing them. Positions deeper than
        // the current depth get no new counts either, so their estimates only
        // fade toward the pooled one. That is the likely reason why a
        // 512-token run of the 4B model at alpha 0.95 stayed at 1 draft for 78
        // steps, though no trace of that run confirms it.
        //
        // Plain steps bring no news about acceptance, so only a probe starts
        // a drafted run. Between probes the estimate crosses the margin only
        // through timing noise: a 4B model at alpha 0.75 went back to 3
        // drafts two plain steps after a losing run.
        //
        // Within a run the bar is plain decoding itself, without the margin
        // that the probe cleared. The gain on a CPU can be small (13 % on a 4B
        // model at alpha 0.95), and one rejection moves the estimates by more
        // than the margin.
        //
        // Early in a run one rejection moves the estimates below even that
        // bar. In a simulation of the 4B model at alpha 0.95 (its measured
        // step costs, where drafting needs an acceptance of about 0.85), 6
        // drafts accepted of 7 gave an estimate of 0.79. The run then ended
        // on a loss, and the wait that followed kept the session plain for
        // over 100 steps. So a depth also qualifies when it would beat
        // plain decoding with the pooled acceptance one standard error above
        // its estimate (drafting_may_pay). That bound is loose only while the
        // counts are few, and it holds only until the run has lost
        // k_loss_allowance plain steps' time. Depths are still ranked on the
        // estimates themselves. In benchmarks/depth_simulation.py (32 texts
        // of 128 tokens along the oracle's cycle), auto took 0.934 of the
        // fastest fixed depth's time without this rule and 0.959 with it.
        // At alpha 0.75, where plain decoding is fastest, 0.987 and 0.984.
        //
        // Among depths that beat plain decoding, the current one stays unless
        // another promises k_switch_margin more: near ties otherwise flip
        // with timing noise, and a change of batch width costs a little. On
        // the 4B model a pass over 4 tokens took 291 ms after a pass over 5
        // and 284 ms after one over 4.
        //
        // Once every depth has been timed, depths timed once or twice are
        // judged with the discount of verify_extra_seconds (before that, the
        // untimed ones are tried first). A depth chosen only thanks to that
        // discount gets no switch margin at the next choice. Otherwise the
        // probes, which time each depth once, led through depths 4, 3, 2 and
        // 1 in turn and left the session at the last one tried.
        //
        // A plain step taken only because the limit (the tokens left in
        // max_tokens or in n_ctx) rules out every depth that pays keeps the
        // drafted run. Ending it there made the next generation of the same
        // session start with 6 to 8 plain steps and a probe at 1 draft. On the
        // 4B model at alpha 0.95 that happened in 7 of 8 second generations
        // (benchmarks/session_generations.py), which reached a median of 0.976
        // of 3 drafts, and 1.003 with the run kept.
        bool cut_short = false;
        if (in_drafted_run_) {
            const double plain = expected_rate(0);
            const bool keep = !explored_;
            bool explore = true;
            for (int32_t n = 2; n <= max_depth_ + 1; n++) {
                explore = explore && n_verify_extra_[n] > 0;
            }
            double best = 0.0;
            double best_settled = 0.0;
            int32_t settled = 0;
            const bool may_pay = drafting_may_pay();
            for (int32_t d = 1; d <= max_depth_; d++) {
                const double rate = expected_rate(d);
                if (rate <= plain && !(may_pay && optimistic_rate(d) > plain)) {
                    continue;
                }
                if (d > limit) {
                    cut_short = true;
                    continue;
                }
                const double margin = keep && d == drafted_depth_ ? k_switch_margin : 1.0;
                const double explored_rate = expected_rate(d, explore) * margin;
                if (explored_rate > best) {
                    best = explored_rate;
                    depth = d;
                }
                if (rate * margin > best_settled) {
                    best_settled = rate * margin;
                    settled = d;
                }
            }
            explored = depth != settled;
        }
        if (depth == 0 && !cut_short) {
            if (in_drafted_run_) {
                end_drafted_run();
            }
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
    if (depth > 0) {
        explored_ = explored;
        drafted_depth_ = depth;
    }
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
            const double seconds = bounded(t_verify, verify_seconds(1), k_max_plain_ratio);
            track_speed(seconds, verify_base_, n_plain_timed_);
            n_plain_timed_++;
            n_sample_timed_++;
            verify_base_ = blend(verify_base_, seconds / time_scale_, n_plain_timed_, early_base_);
            sample_per_token_ = blend(sample_per_token_, t_sample / n_sampled, n_sample_timed_, early_sample_);
        }
        return;
    }

    // The first drafted step is timed too: waiting for a second would cost a
    // whole extra drafted step in short generations, and an early overestimate
    // only delays drafting until the next probe.
    double seconds = 0.0;  // the step's time, with each part bounded like the estimates
    {
        n_draft_timed_++;
        n_sample_timed_++;
        sample_per_token_ = blend(sample_per_token_, t_sample / n_sampled, n_sample_timed_, early_sample_);
        const double draft = bounded(t_draft / drafted, verify_seconds(1), k_max_draft_ratio);
        draft_per_token_ = blend(draft_per_token_, draft, ++n_draft_observed_, early_draft_);
        // Like verify_base_, the extra cost is kept relative to the speed factor.
        track_speed(t_verify, verify_base_ + verify_extra_[n_tokens], n_verify_extra_[n_tokens]);
        const double extra = bounded(std::max(0.0, t_verify / time_scale_ - verify_base_), verify_base_ * drafted,
                                     k_max_extra_token_ratio);
        verify_extra_[n_tokens] = blend(verify_extra_[n_tokens], extra, ++n_verify_extra_[n_tokens], early_extra_[n_tokens]);
        // The catch-up of a step covers its n_tokens (an idle lag is flushed and timed apart).
        const double catchup = bounded(t_catchup / n_tokens, verify_seconds(1), k_max_catchup_ratio);
        catchup_per_token_ = blend(catchup_per_token_, catchup, n_draft_timed_, early_catchup_);
        seconds = drafted * draft + time_scale_ * (verify_base_ + extra) + n_tokens * catchup + t_sample;
    }

    // Position j (1-based) was tried if all before it were accepted.
    const int32_t n_tried = std::min(drafted, accepted + 1);
    for (int32_t j = 0; j < n_tried; j++) {
        attempted_[j] += 1.0;
        accepted_[j] += j < accepted ? 1.0 : 0.0;
    }

    // What this step lost against plain decoding of its tokens (negative: gained).
    in_drafted_run_ = true;
    run_loss_seconds_ += seconds + lag_flush_seconds_ - n_sampled * step_seconds(0);

    // While the estimates promise a gain, or still may (drafting_may_pay, see
    // choose), drafting goes on and the run's end sets the next wait.
    // Otherwise a step whose drafts were all accepted is followed by a probe
    // twice as deep (or as deep, at the deepest), because a few accepted
    // drafts are weak evidence against the prior. There is no such probe
    // when even a fully accepted draft would be slower than plain decoding.
    // On a 4B model at alpha 0.95 (2 CPU threads), probes of 1, 2 and 4
    // drafts, all accepted, left the estimate just below plain decoding, and
    // backing off then cost 63 plain steps of 84.
    if (!drafting_pays() && !drafting_may_pay()) {
        const int32_t deeper = std::min(2 * drafted, max_depth_);
        if (accepted == drafted && best_case_rate(deeper) > expected_rate(0) * k_margin) {
            steps_at_zero_ = 0;
            next_probe_depth_ = deeper;
        } else if (probing_) {
            end_drafted_run();
        }
    }
    lag_flush_seconds_ = 0.0;
}

void depth_controller::end_drafted_run() {
    // The loss is measured, not estimated: on a 4B model at alpha 0.75 (2 CPU
    // threads) lucky probes made the estimate promise a gain every 32 steps,
    // and each failed 3-token draft that followed cost about three plain steps.
    // The loss includes catching up the MTP context after its idle stretch.
    const double extra_scale = n_draft_timed_ < k_min_observations ? k_thin_timing_scale : 1.0;
    double tried = 0.0;
    double best_case = 0.0;
    for (int32_t d = 1; d <= max_depth_; d++) {
        tried += attempted_[d - 1];
        best_case = std::max(best_case, best_case_rate(d, extra_scale));
    }
    const bool may_gain_much = best_case > k_quick_retry_gain * expected_rate(0);
    if (run_loss_seconds_ > 0.0 && tried < k_thin_evidence && may_gain_much && !quick_retry_used_) {
        quick_retry_used_ = true;
        probe_interval_ = k_probe_interval_after_gain;
    } else if (run_loss_seconds_ > 0.0) {
        const double plain = step_seconds(0);
        const double budget = plain > 0.0 ? k_probe_budget * run_loss_seconds_ / plain : 0.0;
        const int64_t wait = std::max(2 * probe_interval_, (int64_t) std::min(budget, 1e9));
        probe_interval_ = std::min(wait, k_probe_interval_max);
    } else {
        probe_interval_ = k_probe_interval_after_gain;
        quick_retry_used_ = false;
    }
    in_drafted_run_ = false;
    run_loss_seconds_ = 0.0;
    steps_at_zero_ = 0;
}

void depth_controller::observe_draft_pass(double seconds) {
    if (n_draft_observed_ < 1) {
        draft_per_token_ = seconds;
        early_draft_[0] = seconds;
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
