// RWKV v5 (MLC's rwkv5/): see rwkv.cpp.
#include "arch/rwkv.h"

namespace weightcast {

namespace {
ModelDef build(const ModelConfig& c) {
  return build_rwkv(c, 5);
}
}  // namespace

extern const Architecture kRwkv5{"rwkv5", kStandardKinds, build};

}  // namespace weightcast
