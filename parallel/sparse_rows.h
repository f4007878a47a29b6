// File: parallel/sparse_rows.h
//
// Row-sparse gradients. The token embedding's gradient has a nonzero row
// only for tokens that occur in the rank's batch: on the small benchmark
// config (vocab 8,192) at most 1,024 of its 8,192 rows per rank. DDP reduces
// such a parameter as the rows that are nonzero on some rank (the union,
// agreed with a reduction of a per-row mask) packed together, instead of
// the whole matrix; every other row is zero on every rank, so its sum is
// zero and it is left as it is (the idea of PyTorch's sparse embedding
// gradients, kept inside the bucket machinery so the optimizer still sees a
// dense gradient).
//
//   rank 0 mask: 1 0 1 0 0 ...      union counts: 2 0 1 1 0 ...
//   rank 1 mask: 1 0 0 1 0 ...   -> rows {0, 2, 3}: pack, reduce, unpack
#ifndef PARALLEL_SPARSE_ROWS_H_
#define PARALLEL_SPARSE_ROWS_H_

#include <cstdint>
#include <vector>

namespace hs::parallel {

// MarkNonzeroRows: mask[r] = 1 where row r of the row-major [rows, cols]
// matrix `m` holds a nonzero value, else 0 (+0 and -0 are zero; a NaN or an
// infinity is nonzero, so it still reaches the other ranks).
void MarkNonzeroRows(const float* m, int64_t rows, int64_t cols, float* mask);

// RowsWithCount: the rows whose summed mask is positive, ascending.
std::vector<int64_t> RowsWithCount(const float* counts, int64_t rows);

// PackRows: packed[i, :] = m[rows[i], :].
void PackRows(const float* m, int64_t cols, const std::vector<int64_t>& rows, float* packed);

// UnpackRows: m[rows[i], :] = packed[i, :].
void UnpackRows(const float* packed, int64_t cols, const std::vector<int64_t>& rows, float* m);

}  // namespace hs::parallel

#endif  // PARALLEL_SPARSE_ROWS_H_
