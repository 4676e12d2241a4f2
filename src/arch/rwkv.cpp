// MLC's RWKV models under `model.` read HF's `rwkv.` names one to one, except: v5's time_decay
// becomes exp(-exp(w)) in float32; time_decay, time_faaaa and ln_x stay float32 whatever the
// scheme; with rescale_every > 0 each layer's attention.output and feed_forward.value are divided
// by 2^(layer / rescale_every) in the model dtype. MLC supports one device only.
#include "arch/rwkv.h"

#include "arch/common.h"
#include "map/elementwise.h"

namespace weightcast {

namespace {

struct RwkvDims {
  std::int64_t hidden = 0, inter = 0, layers = 0, vocab = 0, heads = 0, head_size = 0;
  std::int64_t rescale_every = 0;
};

RwkvDims read_dims(const ModelConfig& c, int version) {
  c.require({"hidden_size", "num_hidden_layers", "vocab_size"});
  if (!c.json().contains("intermediate_size"))  // a field without a default, but null is fine
    fail("{}: missing required field \"intermediate_size\"", c.path().string());
  if (version == 5) c.require({"model_version"});
  const auto want = version == 5 ? "5_2" : "6_0";
  const auto got = c.get_string("model_version", want);
  if (got != want) fail("Only support RWKV v{}, got {}.", want, got);
  RwkvDims d;
  d.hidden = require_positive(c, "hidden_size");
  d.layers = require_positive(c, "num_hidden_layers");
  d.vocab = require_positive(c, "vocab_size");
  // null or 0: 3.5 x hidden_size, rounded down to a multiple of 32 (v6 ignores it).
  d.inter = c.get_size("intermediate_size", 0);
  if (d.inter == 0) d.inter = d.hidden * 7 / 2 / 32 * 32;
  if (version == 6) d.inter = d.hidden / 2 * 7;
  d.head_size = c.get_size("head_size", 64);
  d.heads = c.get_size("num_heads", 0);
  if (d.heads == 0 && d.head_size > 0) d.heads = d.hidden / d.head_size;
  if (d.head_size <= 0 || d.heads * d.head_size != d.hidden)
    fail("hidden_size ({}) must be divisible by head_size ({})", d.hidden, d.head_size);
  d.rescale_every = c.get_int("rescale_every", 0);
  if (c.shards() != 1) fail("Only support single device at this moment.");
  return d;
}

// The rescaled projection `name` of layer n (a Linear without a bias).
void rescaled(ModelDef& def, const RwkvDims& d, std::int64_t n, const std::string& name,
              std::int64_t out, std::int64_t in) {
  const auto mlc = fmt::format("model.blocks.{}.{}", n, name);
  const auto w = def.linear(mlc, out, in, {fmt::format("rwkv.blocks.{}.{}", n, name)});
  if (d.rescale_every > 0)
    w.weight->mapping = map::divide_by_pow2(static_cast<int>(n / d.rescale_every));
}

void add_layer(ModelDef& def, const RwkvDims& d, std::int64_t n, int version) {
  const auto mlc = fmt::format("model.blocks.{}.", n), hf = fmt::format("rwkv.blocks.{}.", n);
  const auto h = d.hidden;
  const auto param = [&](const std::string& name, ExpectedShape shape) -> ParamDef& {
    return def.add(mlc + name, std::move(shape), ParamRole::kOther, {hf + name});
  };
  const auto f32 = [&](const std::string& name, ExpectedShape shape) -> ParamDef& {
    auto& p = param(name, std::move(shape));
    p.dtype = DType::kF32;
    return p;
  };
  const auto linear = [&](const std::string& name, std::int64_t out, std::int64_t in) {
    def.linear(mlc + name, out, in, {hf + name});
  };
  const ExpectedShape mix{num(1), num(1), num(h)};
  for (const char* ln : {"pre_ln", "ln1", "ln2"})
    if (n == 0 || ln[0] != 'p') def.norm(mlc + ln, h, {.bias = true, .source = hf + ln});
  const std::string a = "attention.";
  if (version == 5) {
    f32(a + "time_decay", {num(d.heads), num(d.head_size)}).mapping = map::exp_neg_exp();
    f32(a + "time_faaaa", {num(d.heads), num(d.head_size)});
    for (const char* m : {"gate", "key", "value", "receptance"}) param(a + "time_mix_" + m, mix);
  } else {
    const auto mix_dim = h == 4096 ? 64 : 32, decay_dim = h == 4096 ? 128 : 64;
    for (const char* m : {"x", "w", "k", "v", "r", "g"}) param(a + "time_maa_" + m, mix);
    param(a + "time_maa_w1", {num(h), num(5 * mix_dim)});
    param(a + "time_maa_w2", {num(5), num(mix_dim), num(h)});
    param(a + "time_decay_w1", {num(h), num(decay_dim)});
    param(a + "time_decay_w2", {num(decay_dim), num(h)});
    f32(a + "time_decay", mix);
    f32(a + "time_faaaa", {num(d.heads), num(d.head_size)});
  }
  for (const char* p : {"key", "value", "receptance", "gate"}) linear(a + p, h, h);
  rescaled(def, d, n, a + "output", h, h);
  f32(a + "ln_x.weight", {num(h)});
  f32(a + "ln_x.bias", {num(h)});
  const std::string f = "feed_forward.", tm = version == 5 ? "time_mix_" : "time_maa_";
  param(f + tm + (version == 5 ? "key" : "k"), mix);
  param(f + tm + (version == 5 ? "receptance" : "r"), mix);
  linear(f + "key", d.inter, h);
  linear(f + "receptance", h, h);
  rescaled(def, d, n, f + "value", h, d.inter);
}

}  // namespace

ModelDef build_rwkv(const ModelConfig& c, int version) {
  const auto d = read_dims(c, version);
  ModelDef def;
  def.add("model.embeddings.weight", {num(d.vocab), num(d.hidden)}, ParamRole::kEmbedding,
          {"rwkv.embeddings.weight"});
  for (std::int64_t n = 0; n < d.layers; ++n) add_layer(def, d, n, version);
  def.norm("model.ln_out", d.hidden, {.bias = true, .source = "rwkv.ln_out"});
  def.final_fc("head", num(d.vocab), d.hidden);
  return def;
}

}  // namespace weightcast
