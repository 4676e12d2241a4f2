// A GGUF part read through a family's naming (arch/gguf/view.h): renamed, sliced, concatenated
// and transformed tensors, in the part's order.
#pragma once

#include <memory>

#include "arch/gguf/view.h"

namespace weightcast {

std::unique_ptr<SourceFile> open_view_part(std::unique_ptr<SourceFile> gguf,
                                           const GgufNaming& naming);

}  // namespace weightcast
