// SampleBlock: the per-profile sample payload stored in profiles.samples.
//
// Rows of (stack id, label set id, values[]) sorted by (stack, label set), with
// duplicates summed. Encoded column by column (delta-coded stack ids, label set
// ids, then each value column as zigzag varints) and deflated, which is what
// makes a stored profile a fraction of its gzipped pprof. Pure value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stoker {

struct SampleBlock {
  size_t num_values = 0;  // values per row (= number of sample types)
  std::vector<int64_t> stack_ids;
  std::vector<int64_t> label_set_ids;
  std::vector<int64_t> values;  // row-major, rows × num_values

  size_t rows() const { return stack_ids.size(); }
  // Sorts rows by (stack, label set) and sums rows with equal keys.
  void normalize();
  std::string encode() const;
  // Returns false when `data` is not a valid block for `num_values` columns.
  static bool decode(std::string_view data, size_t num_values, SampleBlock* out);
};

}  // namespace stoker
