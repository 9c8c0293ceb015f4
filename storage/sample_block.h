// SampleBlock: the per-profile sample payload stored in profiles.samples.
//
// Rows of (stack id, label set id, values[]) sorted by (stack, label set), with
// duplicates summed. Encoded column by column (delta-coded stack ids, label set
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
  std::vector<int64_t> values;  // row-major, rows × num_values

  size_t rows() const { return stack_ids.size(); }
  // Sorts rows by (stack, label set) and sums rows with equal keys.
  void normalize();
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
  // is out of range. `stacks` and `values` are replaced (one entry per row).
  Status read(std::string_view data, size_t num_values, size_t col, std::vector<int64_t>* stacks,
              std::vector<int64_t>* values);

 private:
  std::string raw_;  // inflated columns, reused between blocks
};

}  // namespace stoker
