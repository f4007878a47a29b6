// File: haiscale/posttrain/dpo_reference.h
//
// ComputeDpoReference(weights_dir, rows_dir): the reference
// log-probabilities of a prepared DPO dataset under the weights of a
// Hugging Face folder — each row's summed completion-token
// log-probability, one sequence per forward as the trainer computes them —
// written beside the rows as DIR/dpo_reference.bin with the rows' checksum
// and the weights' identity (data/post/reference_file.h). `hai data
// dpo-reference` runs it; a DPO run from those weights then reads the
// values instead of computing them.
#ifndef HAISCALE_POSTTRAIN_DPO_REFERENCE_H_
#define HAISCALE_POSTTRAIN_DPO_REFERENCE_H_

#include <string>

#include "absl/status/statusor.h"
#include "data/post/reference_file.h"

namespace hs::posttrain {

// Errors name the flag (--data, --weights) and the file.
absl::StatusOr<data::post::RowsReference> ComputeDpoReference(const std::string& weights_dir,
                                                              const std::string& rows_dir);

}  // namespace hs::posttrain

#endif  // HAISCALE_POSTTRAIN_DPO_REFERENCE_H_
