// RWKV v6 (MLC's rwkv6/): see rwkv.cpp. MLC registers no ft-quant for it.
#include "arch/rwkv.h"

namespace weightcast {

namespace {
ModelDef build(const ModelConfig& c) {
  return build_rwkv(c, 6);
}
}  // namespace

extern const Architecture kRwkv6{"rwkv6", kBaseKinds, build};

}  // namespace weightcast
