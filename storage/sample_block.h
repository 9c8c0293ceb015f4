// SampleBlock: the per-profile sample payload stored in profiles.samples.
//
// Rows of (stack id, label set id, values[], span id) sorted by (stack, label
// set, span), with duplicates summed. The span id column (a profile's
// samples' span_id label, as 64 bits; 0 for none) is there only when some
// sample has one (then the block starts with its distinct span ids, so that
// a span query can skip it unread). Encoded column by column (delta-coded stack ids, label set
// ids, then each value column as zigzag varints) and deflated, which is what
// makes a stored profile a fraction of its gzipped pprof. Pure value type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace stoker {

struct SampleBlock {
  size_t num_values = 0;  // values per row (= number of sample types)
  std::vector<int64_t> stack_ids;
  std::vector<int64_t> label_set_ids;
  std::vector<int64_t> values;     // row-major, rows × num_values
  std::vector<uint64_t> span_ids;  // one per row, or empty: no span ids at all
  // normalize()'s work space: (stack id, row index), sorted.
  std::vector<std::pair<int64_t, size_t>> order;

  size_t rows() const { return stack_ids.size(); }
  // Whether the encoded block `data` has a span id column (read from its
  // first byte, without inflating it).
  static bool has_spans(std::string_view data);
  // Whether it has a row of one of `sorted_ids` (from its span id list,
  // without inflating it; true for a corrupt list, which read() reports).
  static bool has_any_span(std::string_view data, const std::vector<uint64_t>& sorted_ids);
  // Sorts rows by (stack, label set) and sums rows with equal keys. A
  // caller that normalizes many blocks passes `scratch` (its memory is reused
  // and swapped with this block's: no allocation in the steady state).
  void normalize(SampleBlock* scratch = nullptr);
  // Empties the block, keeping its allocations.
  void clear();
  std::string encode() const;
  // Fails when `data` is not a valid block for `num_values` columns.
  static Status decode(std::string_view data, size_t num_values, SampleBlock* out);
};

// Reads the stack ids and one value column of stored blocks, keeping its
// buffer between blocks: a query reads thousands of them.
// Not thread-safe; one per query thread.
class SampleColumnReader {
 public:
  SampleColumnReader();
  ~SampleColumnReader();
  SampleColumnReader(const SampleColumnReader&) = delete;
  SampleColumnReader& operator=(const SampleColumnReader&) = delete;

  // Decodes a block of `num_values` columns; fails when it is corrupt or `col`
  // is out of range. `stacks` and `values` are replaced (one entry per row),
  // and `span_ids` when given (0 for rows without one).
  Status read(std::string_view data, size_t num_values, size_t col, std::vector<int64_t>* stacks,
              std::vector<int64_t>* values, std::vector<uint64_t>* span_ids = nullptr);

 private:
  std::string raw_;  // inflated columns, reused between blocks
};

}  // namespace stoker
