// File: models/kernels/cpu/weight_grad_queue.h
//
// Deferred weight-gradient GEMMs, for zero-bubble pipeline schedules
// (ZB-H1, Qi et al. 2023; DualPipe's WeightGradStore). A backward pass
// splits into B (input gradients: on the critical path between stages) and
// W (weight gradients: needed only by the optimizer step). While a
// WeightGradQueue is active on a thread, LinearBackwardWeight (gemm.h)
// records its work (copying dout and inp, which the caller frees) instead
// of running it; the schedule later runs the queue to fill its bubbles.
//
// Usage:
//   WeightGradQueue w;
//   { WeightGradScope scope(&w); model.StageBackward(...); }   // B only
//   ... send input gradient to the previous stage ...
//   w.RunAll();                                                // W
#ifndef MODELS_KERNELS_CPU_WEIGHT_GRAD_QUEUE_H_
#define MODELS_KERNELS_CPU_WEIGHT_GRAD_QUEUE_H_

#include <cstdint>
#include <cstddef>
#include <deque>
#include <vector>

namespace hs::kernels::cpu {

class WeightGradQueue {
 public:
  // Push: records dweight[O,I] += dout[N,O]^T @ inp[N,I] (copies dout, inp).
  void Push(float* dweight, const float* dout, const float* inp, int64_t N,
            int64_t I, int64_t O);
  // RunOne: runs the oldest recorded GEMM; false when empty.
  bool RunOne();
  // RunAll: runs everything recorded, in order.
  void RunAll();
  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  // Bytes held by the recorded copies.
  int64_t bytes() const { return bytes_; }

 private:
  struct Item {
    float* dweight;
    std::vector<float> dout, inp;
    int64_t N, I, O;
  };
  std::deque<Item> items_;
  int64_t bytes_ = 0;
};

// ActiveWeightGradQueue(): the queue LinearBackwardWeight records into on
// this thread (nullptr: run immediately).
WeightGradQueue* ActiveWeightGradQueue();

// WeightGradScope: makes `queue` active on this thread for its lifetime.
class WeightGradScope {
 public:
  explicit WeightGradScope(WeightGradQueue* queue);
  ~WeightGradScope();
  WeightGradScope(const WeightGradScope&) = delete;
  WeightGradScope& operator=(const WeightGradScope&) = delete;

 private:
  WeightGradQueue* previous_;
};

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_WEIGHT_GRAD_QUEUE_H_
