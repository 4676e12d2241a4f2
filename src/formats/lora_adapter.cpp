// Reading a PEFT LoRA adapter: adapter_config.json, its tensors, and which base tensor each one
// updates (docs/lora.md#adapters).
#include <cmath>
#include <optional>
#include <regex>

#include "formats/lora.h"
#include "formats/safetensors.h"
#include "formats/torch_checkpoint.h"
#include "util/error.h"
#include "util/json_file.h"

namespace fs = std::filesystem;

namespace weightcast {

namespace {

// The adapter_config.json fields the merge depends on.
struct LoraConfig {
  fs::path path;
  std::int64_t r = 0;
  double alpha = 8;  // PEFT's default lora_alpha
  bool rslora = false, fan_in_fan_out = false;
  nlohmann::json rank_pattern, alpha_pattern;  // {module pattern: value}
};

bool flag(const nlohmann::json& j, const char* key, const fs::path& path) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_boolean()) fail("{}: \"{}\" must be true or false", path.string(), key);
  return it->get<bool>();
}

nlohmann::json pattern(const nlohmann::json& j, const char* key, const fs::path& path) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nlohmann::json::object();
  if (!it->is_object()) fail("{}: \"{}\" must be an object of module patterns", path.string(), key);
  for (const auto& [k, v] : it->items())
    if (!v.is_number()) fail("{}: \"{}\"[\"{}\"] is not a number", path.string(), key, k);
  return *it;
}

LoraConfig read_config(const fs::path& dir) {
  LoraConfig c;
  c.path = dir / "adapter_config.json";
  if (!fs::is_regular_file(c.path))
    fail("{}: not a PEFT adapter: adapter_config.json is missing", dir.string());
  const auto j = read_json_file(c.path);
  if (!j.is_object()) fail("{}: expected a JSON object", c.path.string());
  const auto type = j.value("peft_type", nlohmann::json());
  if (!type.is_string())
    fail("{}: \"peft_type\" is missing: not a PEFT adapter config", c.path.string());
  if (type.get<std::string>() != "LORA")
    fail<NotImplementedError>("{}: peft_type {} is not supported: only LORA adapters merge",
                              c.path.string(), type.get<std::string>());
  if (flag(j, "use_dora", c.path))
    fail<NotImplementedError>(
        "{}: DoRA adapters (use_dora: true) are not supported: their merge rescales every "
        "column by a norm of the whole merged weight",
        c.path.string());
  if (flag(j, "lora_bias", c.path))
    fail<NotImplementedError>("{}: adapters with lora_bias: true are not supported",
                              c.path.string());
  if (const auto it = j.find("layer_replication"); it != j.end() && !it->is_null())
    fail<NotImplementedError>("{}: layer_replication is not supported", c.path.string());
  const auto r = j.find("r");
  if (r == j.end() || !r->is_number_integer() || r->get<std::int64_t>() <= 0)
    fail("{}: \"r\" must be a positive integer", c.path.string());
  c.r = r->get<std::int64_t>();
  if (const auto a = j.find("lora_alpha"); a != j.end()) {
    if (!a->is_number()) fail("{}: \"lora_alpha\" must be a number", c.path.string());
    c.alpha = a->get<double>();
  }
  c.rslora = flag(j, "use_rslora", c.path);
  c.fan_in_fan_out = flag(j, "fan_in_fan_out", c.path);
  c.rank_pattern = pattern(j, "rank_pattern", c.path);
  c.alpha_pattern = pattern(j, "alpha_pattern", c.path);
  return c;
}

// PEFT's per-module override: the first pattern that matches the module's whole name or a
// dotted suffix of it.
std::optional<double> pattern_value(const nlohmann::json& patterns, const std::string& module,
                                    const fs::path& path) {
  for (const auto& [key, value] : patterns.items()) {
    try {
      if (key == module || std::regex_match(module, std::regex("(.*\\.)?(" + key + ")")))
        return value.get<double>();
    } catch (const std::regex_error&) {
      fail("{}: pattern \"{}\" is not a valid regular expression", path.string(), key);
    }
  }
  return std::nullopt;
}

// One adapter tensor's role, from its name: base_model.model.<module>.lora_A.weight etc.
struct KeyRole {
  std::string module;  // the base module, or the replaced tensor for kReplace
  char part = 0;       // 'A', 'B', or 0 for a modules_to_save replacement
  bool embedding = false;
};

bool strip_suffix(std::string& s, std::string_view suffix) {
  if (!s.ends_with(suffix)) return false;
  s.resize(s.size() - suffix.size());
  return true;
}

KeyRole key_role(const std::string& key, const fs::path& file) {
  KeyRole role{key};
  auto& m = role.module;
  if (m.starts_with("base_model.model.")) m.erase(0, std::string_view("base_model.model.").size());
  struct Suffix {
    std::string_view text;
    char part;
    bool embedding;
  };
  static constexpr Suffix kSuffixes[] = {
      {".lora_A.weight", 'A', false},           {".lora_B.weight", 'B', false},
      {".lora_A.default.weight", 'A', false},   {".lora_B.default.weight", 'B', false},
      {".lora_embedding_A", 'A', true},         {".lora_embedding_B", 'B', true},
      {".lora_embedding_A.default", 'A', true}, {".lora_embedding_B.default", 'B', true}};
  for (const auto& s : kSuffixes)
    if (strip_suffix(m, s.text)) {
      role.part = s.part;
      role.embedding = s.embedding;
      return role;
    }
  if (m.find(".lora_") != std::string::npos)
    fail<NotImplementedError>(
        "{}: adapter tensor \"{}\" is not a plain LoRA A/B matrix (lora_bias, DoRA magnitude or "
        "another variant): not supported",
        file.string(), key);
  if (const auto at = m.find("modules_to_save.default."); at != std::string::npos)
    m.erase(at, std::string_view("modules_to_save.default.").size());
  return role;
}

void open_adapter_weights(LoraAdapter& adapter) {
  const auto st = adapter.dir / "adapter_model.safetensors";
  const auto bin = adapter.dir / "adapter_model.bin";
  if (fs::is_regular_file(st)) {
    adapter.weights = st;
    adapter.tensors.add_file(open_safetensors_file(st));
  } else if (fs::is_regular_file(bin)) {
    adapter.weights = bin;
    adapter.tensors.add_file(open_torch_file(bin, adapter.tensors.warnings));
  } else {
    fail("{}: no adapter_model.safetensors or adapter_model.bin in the adapter directory",
         adapter.dir.string());
  }
  adapter.tensors.map_all();
}

bool is_float(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64;
}

// The base tensor an adapter name means: as named, or without its first component, the model
// class's prefix that transformers adds to checkpoints saved without it ("transformer." for
// GPT-2's h.0.attn.c_attn.weight).
std::optional<std::pair<std::string, TensorLocation>> find_base(const Checkpoint& base,
                                                                const std::string& name) {
  if (const auto* loc = base.find(name)) return std::pair{name, *loc};
  const auto dot = name.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const auto bare = name.substr(dot + 1);
  if (const auto* loc = base.find(bare)) return std::pair{bare, *loc};
  return std::nullopt;
}

struct Pending {
  std::optional<TensorLocation> a, b;
  bool embedding = false;
};

// Checks A [r, n] and B [m, r] against the base weight and PEFT's rank for the module.
void check_low_rank(const LoraAdapter& adapter, const LoraConfig& config, const std::string& base,
                    const TensorInfo& w, const TensorInfo& a, const TensorInfo& b, bool transposed,
                    std::int64_t r) {
  const auto file = adapter.weights.string();
  if (w.shape.size() != 2)
    fail("{}: {} updates base tensor {} of shape {}, which is not a matrix", file, a.name, base,
         shape_str(w.shape));
  if (w.dtype != DType::kF16 && w.dtype != DType::kBF16 && w.dtype != DType::kF32)
    fail("{}: base tensor {} is {}: LoRA merges only into float16, bfloat16 or float32 weights",
         file, base, tvm_name(w.dtype));
  const auto rows = transposed ? w.shape[1] : w.shape[0];
  const auto cols = transposed ? w.shape[0] : w.shape[1];
  const Shape want_a{r, cols}, want_b{rows, r};
  for (const auto* t : {&a, &b}) {
    const auto& want = t == &a ? want_a : want_b;
    if (t->shape != want)
      fail(
          "{}: adapter tensor {} has shape {}, expected {} (rank r={}{}) for base tensor {} of "
          "shape {}",
          file, t->name, shape_str(t->shape), shape_str(want), r,
          config.fan_in_fan_out ? ", fan_in_fan_out" : "", base, shape_str(w.shape));
    if (!is_float(t->dtype))
      fail("{}: adapter tensor {} is {}, expected a float type", file, t->name, tvm_name(t->dtype));
  }
}

void add_low_rank(LoraAdapter& adapter, const LoraConfig& config, const Checkpoint& base,
                  const std::string& module, const Pending& p) {
  const auto file = adapter.weights.string();
  const auto& any = adapter.tensors.info(p.a ? *p.a : *p.b);
  if (!p.a || !p.b)
    fail("{}: adapter tensor {} has no {} partner", file, any.name, p.a ? "lora_B" : "lora_A");
  const auto found = find_base(base, module + ".weight");
  if (!found)
    fail("{}: adapter tensor {} names no base tensor: the base checkpoint has no {}.weight", file,
         any.name, module);
  const auto& [name, loc] = *found;
  const auto r = static_cast<std::int64_t>(pattern_value(config.rank_pattern, module, config.path)
                                               .value_or(static_cast<double>(config.r)));
  const double alpha =
      pattern_value(config.alpha_pattern, module, config.path).value_or(config.alpha);
  LoraUpdate u;
  u.a = *p.a;
  u.b = *p.b;
  u.transposed = p.embedding || config.fan_in_fan_out;
  check_low_rank(adapter, config, name, base.info(loc), adapter.tensors.info(u.a),
                 adapter.tensors.info(u.b), u.transposed, r);
  // PEFT's scaling is a Python float; torch multiplies a float32 tensor by it as a float32.
  const double scaling = config.rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / r;
  u.scaling = static_cast<float>(scaling);
  if (!adapter.updates.emplace(name, u).second)
    fail("{}: {} is both replaced (modules_to_save) and LoRA-updated", file, name);
}

void add_replacement(LoraAdapter& adapter, const Checkpoint& base, const std::string& target,
                     const TensorLocation& at) {
  const auto file = adapter.weights.string();
  const auto& t = adapter.tensors.info(at);
  const auto found = find_base(base, target);
  if (!found)
    fail(
        "{}: adapter tensor {} (modules_to_save) names no base tensor: the base checkpoint has "
        "no {}",
        file, t.name, target);
  const auto& [name, loc] = *found;
  const auto& w = base.info(loc);
  if (t.shape != w.shape)
    fail("{}: adapter tensor {} has shape {}, but the base tensor {} it replaces has shape {}",
         file, t.name, shape_str(t.shape), name, shape_str(w.shape));
  if (t.dtype != w.dtype && !(is_float(t.dtype) && is_float(w.dtype)))
    fail("{}: adapter tensor {} is {} and cannot replace {} ({})", file, t.name, tvm_name(t.dtype),
         name, tvm_name(w.dtype));
  LoraUpdate u;
  u.kind = LoraUpdate::Kind::kReplace;
  u.a = at;
  if (!adapter.updates.emplace(name, u).second)
    fail("{}: more than one adapter tensor updates {}", file, name);
}

}  // namespace

std::unique_ptr<LoraAdapter> load_lora_adapter(const fs::path& dir, const Checkpoint& base) {
  auto adapter = std::make_unique<LoraAdapter>();
  adapter->dir = dir;
  const auto config = read_config(dir);
  open_adapter_weights(*adapter);
  std::vector<std::string> modules;  // first-seen order, for errors that do not depend on hashing
  std::unordered_map<std::string, Pending> pending;
  for (const auto& name : adapter->tensors.weight_map_order()) {
    const auto& loc = *adapter->tensors.find(name);
    const auto role = key_role(name, adapter->weights);
    if (role.part == 0) {
      add_replacement(*adapter, base, role.module, loc);
      continue;
    }
    auto [it, fresh] = pending.try_emplace(role.module);
    if (fresh) modules.push_back(role.module);
    auto& slot = role.part == 'A' ? it->second.a : it->second.b;
    if (slot) fail("{}: adapter tensor {} appears twice", adapter->weights.string(), name);
    slot = loc;
    it->second.embedding = role.embedding;
  }
  for (const auto& m : modules) add_low_rank(*adapter, config, base, m, pending.at(m));
  return adapter;
}

}  // namespace weightcast
