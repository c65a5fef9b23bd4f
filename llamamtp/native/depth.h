// Automatic draft depth: picks, before each step, the number of draft tokens
// that maximizes expected tokens per second, from the session's own timings
// and acceptance counts. Depth 0 is a plain decoding step.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

class depth_controller {
public:
    // The first timings behind an estimate (see blend in depth.cpp).
    using early_timings = std::array<double, 3>;

    // max_depth: the session's n_draft_max (>= 1).
    explicit depth_controller(int32_t max_depth);

    // The depth for the next step, at most limit (room in n_ctx or max_tokens).
    int32_t choose(int32_t limit);

    // Results of a step at the given depth: drafted = tokens actually drafted,
    // accepted = drafts the target accepted. Times in seconds.
    void observe_step(int32_t drafted, int32_t accepted, double t_draft, double t_verify,
                      double t_catchup, double t_sample);

    // Seconds of one drafting pass made outside a step (the session's warm-up),
    // used until drafted steps have been timed.
    void observe_draft_pass(double seconds);

    // Seconds spent mirroring the positions the MTP context skipped while idle,
    // before the step reported next: part of what a probe costs.
    void observe_lag_flush(double seconds);

    int32_t last_depth() const { return last_depth_; }
    bool probing() const { return probing_; }

    // Estimates, for the statistics.
    // P(draft at position accepted | earlier ones were), 1-based. With
    // n_errors > 0, the pooled estimate behind it is taken that many
    // standard errors higher.
    double acceptance(int32_t position, double n_errors = 0.0) const;
    double verify_seconds(int32_t n_tokens) const;
    double draft_seconds() const;
    double catchup_seconds(int32_t n_tokens) const;
    double sample_seconds() const { return sample_per_token_; }
    // Expected tokens per second at depth. With explore, the rate used to
    // compare drafted depths (see verify_extra_seconds).
    double expected_rate(int32_t depth, bool explore = false) const;
    const std::vector<int64_t> & histogram() const { return histogram_; }

private:
    double expected_tokens(int32_t depth, double n_errors = 0.0) const;
    // The rate at depth with the acceptance k_hope_errors standard errors higher.
    double optimistic_rate(int32_t depth) const;
    // True while the drafted run is within its loss allowance and some
    // depth's optimistic rate beats plain decoding.
    bool drafting_may_pay() const;
    double step_seconds(int32_t depth, bool explore = false) const;
    double verify_extra_seconds(int32_t n_tokens, bool explore = false) const;
    // Update time_scale_ from a target pass that took seconds. estimate is the
    // pass's cost relative to time_scale_, from n_timed earlier timings of its width.
    void track_speed(double seconds, double estimate, int64_t n_timed);
    // Tokens per second if every draft is accepted, with each extra token of
    // the target pass costing extra_scale times its estimate.
    double best_case_rate(int32_t depth, double extra_scale = 1.0) const;
    // True when the current estimates promise a gain at some depth.
    bool drafting_pays() const;
    bool drafting_could_pay() const;
    // Set the wait before the next probe from the drafted run that just ended.
    void end_drafted_run();

    int32_t max_depth_;
    int32_t last_depth_ = 0;
    // The depth of the last drafted step: plain steps forced by the limit
    // leave it, so that the switch margin still favors it after them.
    int32_t drafted_depth_ = 0;
    bool explored_ = false;  // true when drafted_depth_ won only through the discount of verify_extra_seconds
    bool probing_ = false;
    int64_t steps_at_zero_ = 0;
    int64_t probe_interval_;
    int32_t next_probe_depth_ = 0;  // > 0: the next step probes at this depth
    double lag_flush_seconds_ = 0.0;
    // The current run of drafted steps and the seconds it lost against plain decoding.
    bool in_drafted_run_ = false;
    double run_loss_seconds_ = 0.0;
    // True once a losing run with little evidence got the short wait (see
    // k_thin_evidence); a run that gains allows it again.
    bool quick_retry_used_ = false;

    // Decayed counts of attempts and acceptances per draft position (index 0 = position 1).
    std::vector<double> attempted_;
    std::vector<double> accepted_;

    // Cost model: a target pass over n tokens costs
    // time_scale * (verify_base + verify_extra_seconds(n)), an MTP catch-up pass
    // over n tokens n * catchup_per_token. time_scale follows the machine's speed.
    double time_scale_ = 1.0;
    double verify_base_ = 0.0;
    // Indexed by batch width (2 .. max_depth + 1): seconds beyond verify_base_, and timings seen.
    std::vector<double> verify_extra_;
    std::vector<int64_t> n_verify_extra_;
    std::vector<early_timings> early_extra_;
    early_timings early_base_{};
    early_timings early_draft_{};
    early_timings early_catchup_{};
    early_timings early_sample_{};
    double catchup_per_token_ = 0.0;
    double draft_per_token_ = 0.0;
    bool draft_hint_seen_ = false;
    int64_t n_draft_observed_ = 0;  // timings in draft_per_token_, the warm-up's included
    double sample_per_token_ = 0.0;
    // Timed steps of each kind. The first plain step after a prefill is a
    // warm-up (graph allocation for single tokens) and is not counted.
    int64_t plain_seen_ = 0;
    int64_t n_plain_timed_ = 0;
    int64_t n_draft_timed_ = 0;
    int64_t n_sample_timed_ = 0;

    std::vector<int64_t> histogram_;
};
