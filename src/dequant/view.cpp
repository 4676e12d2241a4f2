// The decorator: a checkpoint whose packed modules read as float32 weights.
#include <fmt/format.h>

#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "dequant/source_quant.h"
#include "util/error.h"

namespace weightcast {

namespace {

// A packed module: where its main tensor and its companions are in the base checkpoint.
struct Module {
  std::string prefix;
  TensorLocation main;
  std::vector<const TensorLocation*> parts;  // in the order of part_suffixes(); null if absent
};

// The companions of a module's main tensor, per method.
std::vector<std::string> part_suffixes(SourceMethod m, bool scale_inv) {
  switch (m) {
    case SourceMethod::kGptq:
      return {".qzeros", ".scales", ".g_idx"};
    case SourceMethod::kAwq:
      return {".qzeros", ".scales"};
    case SourceMethod::kPacked:
      return {".weight_shape", ".weight_scale", ".weight_zero_point", ".weight_g_idx"};
    default:
      return {scale_inv ? ".weight_scale_inv" : ".weight_scale", ".input_scale"};
  }
}

// The module prefix when `info` is the main tensor of a packed module, else nullopt.
std::optional<std::string> main_prefix(SourceMethod m, const TensorInfo& info) {
  const auto strip = [&](std::string_view suffix) -> std::optional<std::string> {
    if (!info.name.ends_with(suffix)) return std::nullopt;
    return info.name.substr(0, info.name.size() - suffix.size());
  };
  switch (m) {
    case SourceMethod::kGptq:
    case SourceMethod::kAwq:
      return strip(".qweight");
    case SourceMethod::kPacked:
      return strip(".weight_packed");
    case SourceMethod::kFp8:
      if (info.dtype == DType::kF8E4M3 || info.dtype == DType::kF8E5M2) return strip(".weight");
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

class DequantFile final : public SourceFile {
 public:
  struct Entry {
    enum class Out : std::uint8_t { kPass, kWeight, kAwqWeight, kAwqZeros };
    std::size_t base_index = 0;      // the tensor in the base file
    const Module* module = nullptr;  // the module it comes from, unless kPass
    Out out = Out::kPass;
  };

  DequantFile(std::shared_ptr<const Checkpoint> base, std::size_t file, const SourceQuant& quant)
      : base_(std::move(base)), file_(*base_->files()[file]), quant_(quant) {}

  void add(TensorInfo info, Entry entry) {
    infos_.push_back(std::move(info));
    entries_.push_back(entry);
  }

  const std::filesystem::path& path() const override { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const override { return infos_; }
  bool widens_bf16() const override { return file_.widens_bf16(); }

  std::span<const std::byte> data(std::size_t i) const override {
    const auto& e = entries_[i];
    if (!e.module) return file_.data(e.base_index);
    std::lock_guard lock(mutex_);
    auto& values = cache_[i];
    if (values.empty()) {
      values = compute(e);
      release_parts(*e.module);  // the packed bytes are no longer needed
    }
    return std::as_bytes(std::span(values));
  }
  void prefetch(std::size_t i) const override {
    const auto& e = entries_[i];
    if (!e.module) return file_.prefetch(e.base_index);
    base_->files()[e.module->main.file]->prefetch(e.module->main.index);
  }
  void release(std::size_t i) const override {
    const auto& e = entries_[i];
    if (!e.module) return file_.release(e.base_index);
    std::lock_guard lock(mutex_);
    cache_.erase(i);
  }

  Dequantized dequantize(const Module& m, bool check_only) const {
    const auto main = part(&m.main, check_only);
    const auto at = [&](std::size_t k) { return part(m.parts[k], check_only); };
    switch (quant_.method) {
      case SourceMethod::kGptq:
        return dequant_gptq(quant_.gptq, main, at(0), at(1), at(2), check_only);
      case SourceMethod::kAwq:
        return dequant_awq(quant_.awq_group, main, at(0), at(1), check_only);
      case SourceMethod::kPacked:
        return dequant_packed(quant_.packed, main, at(0), at(1), at(2), at(3), check_only);
      default:
        return dequant_fp8(main, at(0), quant_.block, check_only);
    }
  }

 private:
  QuantPart part(const TensorLocation* loc, bool check_only) const {
    if (!loc) return {};
    return {&base_->info(*loc), check_only && quant_.method != SourceMethod::kPacked
                                    ? std::span<const std::byte>()
                                    : base_->files()[loc->file]->data(loc->index)};
  }

  // The float32 weight, or a repacked AWQ tensor (int32 words kept bit for bit in the floats).
  std::vector<float> compute(const Entry& e) const {
    if (e.out == Entry::Out::kWeight) return dequantize(*e.module, false).values;
    const auto& m = *e.module;
    auto repacked = gptq_to_awq(quant_.gptq, part(&m.main, false), part(m.parts[0], false),
                                part(m.parts[1], false), part(m.parts[2], false));
    const auto& words = e.out == Entry::Out::kAwqWeight ? repacked.qweight : repacked.qzeros;
    std::vector<float> out(words.size());
    std::memcpy(out.data(), words.data(), words.size() * 4);
    return out;
  }

  void release_parts(const Module& m) const {
    base_->files()[m.main.file]->release(m.main.index);
    for (const auto* loc : m.parts)
      if (loc) base_->files()[loc->file]->release(loc->index);
  }

  std::shared_ptr<const Checkpoint> base_;
  const SourceFile& file_;
  const SourceQuant quant_;
  std::vector<TensorInfo> infos_;
  std::vector<Entry> entries_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::size_t, std::vector<float>> cache_;
};

// Every packed module of the checkpoint, and the names of the tensors they hide.
std::vector<Module> find_modules(const Checkpoint& base, const SourceQuant& quant,
                                 std::unordered_set<std::string>& hidden) {
  std::vector<Module> modules;
  const auto suffixes = part_suffixes(quant.method, quant.fp8_block_method);
  for (const auto& name : base.weight_map_order()) {
    const auto* loc = base.find(name);
    auto prefix = main_prefix(quant.method, base.info(*loc));
    if (!prefix) continue;
    Module m{*prefix, *loc, {}};
    for (const auto& suffix : suffixes) {
      const auto* part = base.find(*prefix + suffix);
      m.parts.push_back(part);
      // Repacked for q4f16_autoawq, qzeros is replaced and the scales stay as they are.
      if (part && (!quant.repack_awq || suffix == ".g_idx")) hidden.insert(*prefix + suffix);
    }
    modules.push_back(std::move(m));
  }
  return modules;
}

}  // namespace

namespace {

using Shown = std::unordered_map<std::string, std::pair<const Module*, DequantFile::Entry::Out>>;

// What each module's tensors become: the main one the float32 weight (or, repacked for
// q4f16_autoawq, the AWQ qweight), and qzeros the AWQ qzeros.
Shown shown_tensors(const Checkpoint& base, const std::vector<Module>& modules, bool repack) {
  using Out = DequantFile::Entry::Out;
  Shown shown;
  for (const auto& m : modules) {
    shown.emplace(base.info(m.main).name, std::pair{&m, repack ? Out::kAwqWeight : Out::kWeight});
    if (repack && m.parts[0])
      shown.emplace(base.info(*m.parts[0]).name, std::pair{&m, Out::kAwqZeros});
  }
  return shown;
}

TensorInfo shown_info(const DequantFile& file, const Module& m, DequantFile::Entry::Out out,
                      const TensorInfo& original) {
  const auto size = file.dequantize(m, true);
  switch (out) {
    case DequantFile::Entry::Out::kWeight:
      return {m.prefix + ".weight", DType::kF32, {size.out, size.in}};
    case DequantFile::Entry::Out::kAwqWeight:
      return {original.name, DType::kI32, {size.in, size.out / 8}};
    default:
      return {original.name, DType::kI32, {original.shape.at(0), size.out / 8}};
  }
}

}  // namespace

std::unique_ptr<Checkpoint> dequantized_view(std::unique_ptr<Checkpoint> base_in,
                                             const SourceQuant& quant,
                                             std::unordered_set<std::string>& names) {
  std::unordered_set<std::string> hidden;
  auto modules = std::make_shared<std::vector<Module>>(find_modules(*base_in, quant, hidden));
  if (modules->empty()) return base_in;  // nothing packed: the checkpoint as it is
  std::shared_ptr<const Checkpoint> base = std::move(base_in);
  const auto shown = shown_tensors(*base, *modules, quant.repack_awq);
  auto view = std::make_unique<Checkpoint>();
  // The files own the base and the module list through one aliasing pointer.
  const auto holder = std::make_shared<
      std::pair<std::shared_ptr<const Checkpoint>, std::shared_ptr<std::vector<Module>>>>(base,
                                                                                          modules);
  const std::shared_ptr<const Checkpoint> owner(holder, base.get());
  std::unordered_map<std::string, std::string> renamed;
  for (std::size_t f = 0; f < base->files().size(); ++f) {
    auto file = std::make_unique<DequantFile>(owner, f, quant);
    const auto& tensors = base->files()[f]->tensors();
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const auto& t = tensors[i];
      if (hidden.contains(t.name)) continue;
      const auto it = shown.find(t.name);
      if (it == shown.end()) {
        file->add(t, {i, nullptr, DequantFile::Entry::Out::kPass});
        continue;
      }
      const auto [module, out] = it->second;
      auto info = shown_info(*file, *module, out, t);
      if (out == DequantFile::Entry::Out::kWeight) names.insert(info.name);
      if (info.name != t.name) renamed.emplace(t.name, info.name);
      file->add(std::move(info), {i, module, out});
    }
    view->add_file(std::move(file));
  }
  for (const auto& name : base->weight_map_order()) {
    if (hidden.contains(name)) continue;
    const auto it = renamed.find(name);
    view->map_tensor(it == renamed.end() ? name : it->second, base->find(name)->file,
                     "the dequantized checkpoint");
  }
  view->warnings = base->warnings;
  return view;
}

}  // namespace weightcast
