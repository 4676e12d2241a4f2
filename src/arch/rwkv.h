// RWKV v5 and v6 (MLC's rwkv5/, rwkv6/), shared by rwkv5.cpp and rwkv6.cpp.
#pragma once

#include "arch/architecture.h"

namespace weightcast {

// version 5: RWKV5Config (model_version "5_2" required); 6: RWKV6Config (default "6_0").
ModelDef build_rwkv(const ModelConfig& c, int version);

}  // namespace weightcast
