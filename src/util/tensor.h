// An owned, contiguous, C-order tensor buffer.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "util/buffer_pool.h"
#include "util/dtype.h"

namespace weightcast {

struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  Buffer buffer;  // uninitialised on allocation: kernels write every byte
  std::size_t nbytes = 0;

  static Tensor allocate(std::string name, DType dtype, Shape shape) {
    Tensor t{std::move(name), dtype, std::move(shape), nullptr, 0};
    t.nbytes = static_cast<std::size_t>(numel(t.shape)) * dtype_size(dtype);
    t.buffer = allocate_buffer(t.nbytes);
    return t;
  }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(buffer.get());
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(buffer.get());
  }
  std::span<const std::byte> bytes() const { return {buffer.get(), nbytes}; }
};

}  // namespace weightcast
