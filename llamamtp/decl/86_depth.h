/*
 * The automatic depth controller on its own (llamamtp/native/depth.cpp), fed
 * with step results by the caller. Sessions made with LLAMAMTP_DRAFT_AUTO own
 * one; this standalone form lets its decision rule be checked and explored
 * with chosen timings. Valid C, read by cffi and the C++ sources.
 */

struct llamamtp_depth_controller;

/* max_depth in [1, LLAMAMTP_MAX_DEPTH]; NULL otherwise. Free with llamamtp_depth_controller_free. */
struct llamamtp_depth_controller * llamamtp_depth_controller_init(int32_t max_depth);
void llamamtp_depth_controller_free(struct llamamtp_depth_controller * controller);

/* The depth for the next step, at most limit. */
int32_t llamamtp_depth_controller_choose(struct llamamtp_depth_controller * controller, int32_t limit);

/* Report the step just chosen: tokens drafted and accepted, and seconds per phase. */
void llamamtp_depth_controller_observe(struct llamamtp_depth_controller * controller, int32_t drafted, int32_t accepted, double t_draft, double t_verify, double t_catchup, double t_sample);

/* Report the seconds of one drafting pass made outside a step (a warm-up). */
void llamamtp_depth_controller_observe_draft_pass(struct llamamtp_depth_controller * controller, double seconds);

/* Estimated tokens per second at a depth, and P(draft position accepted | earlier ones were). */
double llamamtp_depth_controller_expected_rate(const struct llamamtp_depth_controller * controller, int32_t depth);
double llamamtp_depth_controller_acceptance(const struct llamamtp_depth_controller * controller, int32_t position);
