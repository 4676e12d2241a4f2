// What requantizing a dequantized checkpoint costs: for each parameter quantized from dequantized
// weights by a group-quant scheme with the NK layout, the relative L2 error of its decoded
// q_weight x q_scale against the parameter it was computed from (the dequantized weights in the
// model dtype); the run ends with the median and the worst
// (docs/source-formats.md#requantization-error).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "quant/scheme.h"

namespace weightcast {

class RequantReport {
 public:
  // Adds the squared error and squared norm of some rows of parameter `name`.
  void add(const std::string& name, double error2, double norm2);
  // The parameters measured, the median and worst error, the worst parameter's name.
  struct Summary {
    std::size_t count = 0;
    double median = 0, worst = 0;
    std::string worst_name;
  };
  Summary summarize() const;
  // "Requantization error ...: median ..., worst ... (name)", or empty when nothing was measured.
  static std::string line(const Summary& s);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::pair<double, double>> sums_;
};

// `inner` measuring, into `report`, every parameter read from one of the `dequantized` weights.
std::unique_ptr<Scheme> measure_requantization(const Scheme& inner,
                                               std::shared_ptr<RequantReport> report,
                                               std::unordered_set<std::string> dequantized);

}  // namespace weightcast
