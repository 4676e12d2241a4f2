#include "cache/shard_hasher.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include "util/error.h"

namespace weightcast {

ShardHasher::ShardHasher(std::size_t max_queued_bytes)
    : max_queued_bytes_(max_queued_bytes), thread_([this] { run(); }) {}

ShardHasher::~ShardHasher() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    jobs_.clear();
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto* ctx : contexts_) EVP_MD_CTX_free(ctx);
}

std::size_t ShardHasher::open() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), nullptr) != 1) {
    EVP_MD_CTX_free(ctx);
    fail<IOError>("OpenSSL md5 is unavailable");
  }
  std::lock_guard lock(mutex_);
  contexts_.push_back(ctx);
  return contexts_.size() - 1;
}

void ShardHasher::update(std::size_t id, std::span<const std::byte> data,
                         std::shared_ptr<const void> keep) {
  if (data.empty()) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return closing_ || queued_bytes_ == 0 || queued_bytes_ + data.size() <= max_queued_bytes_;
  });
  jobs_.push_back({id, data, std::move(keep)});
  queued_bytes_ += data.size();
  changed_.notify_all();
}

void ShardHasher::run() {
  for (;;) {
    Job job;
    EVP_MD_CTX* ctx = nullptr;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ctx = contexts_[job.id];
    }
    EVP_DigestUpdate(ctx, job.data.data(), job.data.size());
    {
      std::lock_guard lock(mutex_);
      queued_bytes_ -= job.data.size();
    }
    changed_.notify_all();
  }
}

std::vector<std::string> ShardHasher::finish() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::string> out;
  for (auto* ctx : contexts_) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, digest, &len);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
    out.push_back(std::move(hex));
  }
  return out;
}

}  // namespace weightcast
