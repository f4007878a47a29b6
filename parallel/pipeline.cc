// File: parallel/pipeline.cc — see pipeline.h.
#include "parallel/pipeline.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/clock.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/weight_grad_queue.h"
#include "parallel/mpi_env.h"

namespace hs::parallel {
namespace {

// Message tags: activations of micro-batch i travel with tag 2i, their
// gradients with 2i+1.
int ActTag(int64_t i) { return int(2 * i); }
int GradTag(int64_t i) { return int(2 * i + 1); }

}  // namespace

PipelineRunner::PipelineRunner(MPI_Comm comm, models::DeepseekV2Model* stage,
                               PipelineSchedule schedule, absl::Duration timeout)
    : comm_(comm), model_(stage), schedule_(schedule), timeout_(timeout) {
  MPI_Comm_rank(comm_, &stage_);
  MPI_Comm_size(comm_, &stages_);
}

absl::Status PipelineRunner::WaitFor(MPI_Request* req, const char* what, int64_t micro,
                                     double* idle) {
  const double start = NowSeconds();
  const double deadline = start + absl::ToDoubleSeconds(timeout_);
  double w_time = 0;
  for (;;) {
    int done = 0;
    int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return MpiError(rc, absl::StrCat("waiting for ", what));
    if (done) break;
    if (schedule_ == PipelineSchedule::kZbH1 && !w_.empty()) {
      // Zero bubble: spend the wait on deferred weight gradients.
      const double t0 = NowSeconds();
      w_.RunOne();
      w_time += NowSeconds() - t0;
      continue;
    }
    if (NowSeconds() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "pipeline stage ", stage_, ": no ", what, " for micro-batch ", micro, " after ",
          absl::FormatDuration(timeout_), " (a neighbouring stage is stuck or failed)"));
    }
  }
  *idle += NowSeconds() - start - w_time;
  return absl::OkStatus();
}

absl::StatusOr<PipelineStepResult> PipelineRunner::Step(const int32_t* tokens,
                                                        const int32_t* targets, int64_t m,
                                                        int64_t mb, int64_t T, float ce_scale,
                                                        float aux_scale, const int32_t* positions,
                                                        bool forward_only, const WeighFn* weigh) {
  if (m < stages_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.micro_batches: ", m, " micro-batches for ", stages_, " pipeline stages"));
  }
  const double t0 = NowSeconds();
  const int64_t C = model_->config().hidden_size, N = mb * T;
  const bool first = stage_ == 0, last = stage_ == stages_ - 1;
  PipelineStepResult result;
  if (last) {
    result.micro_ce.assign(m, 0.0);
    result.row_ce.assign(m * mb, 0.0);
  }
  const bool weighing = last && weigh != nullptr && *weigh && !forward_only;
  std::vector<std::vector<float>> weighed(weighing ? m : 0);  // weigh's weights per micro-batch
  std::vector<models::Activations> acts(m);
  std::vector<Tensor> sent(m);  // forward_only: outputs kept until their sends complete
  std::vector<Tensor> recv_act(m), recv_grad(m);
  std::vector<MPI_Request> sends;
  sends.reserve(2 * m);

  auto forward = [&](int64_t i) -> absl::Status {
    const float* hidden_in = nullptr;
    if (!first) {
      recv_act[i] = Tensor::Empty({N, C});
      MPI_Request req;
      int rc = MPI_Irecv(recv_act[i].data<float>(), int(N * C), MPI_FLOAT, stage_ - 1, ActTag(i),
                         comm_, &req);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Irecv");
      HS_RETURN_IF_ERROR(WaitFor(&req, "activations from the previous stage", i, &result.idle_seconds));
      hidden_in = recv_act[i].data<float>();
    }
    HS_ASSIGN_OR_RETURN(
        models::ForwardResult r,
        model_->StageForward(&acts[i], first ? tokens + i * N : nullptr, hidden_in,
                             last ? targets + i * N : nullptr, mb, T,
                             positions ? positions + i * N : nullptr));
    recv_act[i] = Tensor();
    result.ce_sum += r.ce_sum;
    result.valid_tokens += r.valid_tokens;
    result.correct_tokens += r.correct_tokens;
    if (last) {
      result.micro_ce[i] = r.ce_sum;
      std::copy(r.row_ce_sum.begin(), r.row_ce_sum.end(), result.row_ce.begin() + i * mb);
    }
    if (weighing) {
      weighed[i].resize(N);
      HS_RETURN_IF_ERROR((*weigh)(i, r.row_ce_sum, weighed[i].data()));
    }
    result.aux_loss += r.aux_loss * aux_scale;
    std::vector<int64_t> load = model_->ExpertLoad(acts[i]);
    if (result.expert_load.empty()) result.expert_load.assign(load.size(), 0);
    for (size_t e = 0; e < load.size(); ++e) result.expert_load[e] += load[e];
    if (!last) {
      MPI_Request req;
      int rc = MPI_Isend(acts[i].output().data<float>(), int(N * C), MPI_FLOAT, stage_ + 1,
                         ActTag(i), comm_, &req);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Isend");
      sends.push_back(req);
    }
    if (forward_only) {
      // No backward follows: keep only what is still being sent.
      if (!last) sent[i] = acts[i].output();
      acts[i] = models::Activations();
    }
    return absl::OkStatus();
  };

  std::vector<Tensor> grads_out(m);  // kept alive until their sends complete
  auto backward = [&](int64_t i) -> absl::Status {
    const float* dout = nullptr;
    if (!last) {
      recv_grad[i] = Tensor::Empty({N, C});
      MPI_Request req;
      int rc = MPI_Irecv(recv_grad[i].data<float>(), int(N * C), MPI_FLOAT, stage_ + 1, GradTag(i),
                         comm_, &req);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Irecv");
      HS_RETURN_IF_ERROR(WaitFor(&req, "gradients from the next stage", i, &result.idle_seconds));
      dout = recv_grad[i].data<float>();
    }
    {
      // ZB-H1: only input gradients now; weight GEMMs go to the W queue.
      kernels::cpu::WeightGradScope scope(schedule_ == PipelineSchedule::kZbH1 ? &w_ : nullptr);
      HS_RETURN_IF_ERROR(model_->StageBackward(&acts[i], dout, ce_scale, aux_scale, nullptr,
                                               weighing ? weighed[i].data() : nullptr));
    }
    recv_grad[i] = Tensor();
    if (!first) {
      grads_out[i] = acts[i].input_grad();
      MPI_Request req;
      int rc = MPI_Isend(grads_out[i].data<float>(), int(N * C), MPI_FLOAT, stage_ - 1,
                         GradTag(i), comm_, &req);
      if (rc != MPI_SUCCESS) return MpiError(rc, "MPI_Isend");
      sends.push_back(req);
    }
    return absl::OkStatus();
  };

  if (forward_only) {
    for (int64_t i = 0; i < m; ++i) HS_RETURN_IF_ERROR(forward(i));
  } else {
    // 1. warmup  2. steady 1F1B  3. cooldown
    const int64_t w = std::min<int64_t>(stages_ - stage_ - 1, m);
    for (int64_t i = 0; i < w; ++i) HS_RETURN_IF_ERROR(forward(i));
    for (int64_t i = 0; i < m - w; ++i) {
      HS_RETURN_IF_ERROR(forward(w + i));
      HS_RETURN_IF_ERROR(backward(i));
    }
    for (int64_t i = m - w; i < m; ++i) HS_RETURN_IF_ERROR(backward(i));
  }
  // 4. remaining W, then make sure every message left this rank.
  w_.RunAll();
  for (MPI_Request& req : sends) {
    HS_RETURN_IF_ERROR(WaitFor(&req, "a send to complete", -1, &result.idle_seconds));
  }
  result.step_seconds = NowSeconds() - t0;
  return result;
}

}  // namespace hs::parallel
