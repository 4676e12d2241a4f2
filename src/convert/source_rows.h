// A planned parameter's source tensors, read from the checkpoint, mapped by the parameter's
// mapping and cast to its dtype on demand, row block by row block (the ExternMapping).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "convert/plan.h"
#include "map/mapping.h"
#include "quant/scheme.h"
#include "util/nonfinite.h"

namespace weightcast {

class SourceRows final : public ParamRows {
 public:
  // `prefetch`: asks for the sources' pages now (else prefetch() does, when the reading starts).
  SourceRows(const PlannedParam& p, const Checkpoint& ckpt, DType dtype, bool prefetch = true);
  void prefetch() const;
  void fill(std::size_t begin, std::size_t end, std::byte* out) const override;
  std::span<const std::byte> source_bytes(std::size_t begin, std::size_t end) const override;
  // NaN and infinity among the elements read so far, per source (in the plan's order).
  std::vector<NonFiniteCount> nonfinite() const;
  // Lets the sources drop the pages read and not yet dropped (not while a fill runs): a large
  // parameter produced block by block then holds a few blocks' worth of source pages, not all.
  void release_read() const;

 private:
  struct Counter {
    std::atomic<std::uint64_t> nan{0}, inf{0};
    std::atomic<std::size_t> read_lo{SIZE_MAX}, read_hi{0};  // read, not yet dropped
    void note_read(std::size_t offset, std::size_t bytes);
  };
  struct Source {
    const SourceFile* file;
    std::size_t index;
  };
  std::vector<std::shared_ptr<Counter>> counters_;
  std::vector<Source> sources_;
  const Mapping& mapping_;
  std::vector<SourcePart> parts_;
  std::size_t out_size_;
};

}  // namespace weightcast
