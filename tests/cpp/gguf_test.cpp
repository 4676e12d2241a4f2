#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <vector>

#include "arch/gguf/view.h"
#include "util/mapped_file.h"
#include "weightcast/weightcast.h"

namespace weightcast {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(WEIGHTCAST_SOURCE_DIR) / "tests/fixtures/gguf";

// Every block type, random blocks written by gguf-py, against gguf.quants.dequantize's float32
// output, bit for bit (blocks-expected.f32, made by scripts/make_gguf_fixtures.py).
TEST(Gguf, DequantizationMatchesGgufPyBitForBit) {
  const MappedFile map(kFixtures / "blocks.gguf");
  const GgufFile file(map.bytes(), "blocks.gguf");
  std::ifstream in(kFixtures / "blocks-expected.f32", std::ios::binary);
  std::vector<float> expected((std::istreambuf_iterator<char>(in)), {});
  in.seekg(0);
  expected.resize(std::filesystem::file_size(kFixtures / "blocks-expected.f32") / 4);
  in.read(reinterpret_cast<char*>(expected.data()),
          static_cast<std::streamsize>(expected.size() * 4));
  ASSERT_EQ(file.tensors().size(), 11u);
  std::size_t at = 0;
  for (const auto& t : file.tensors()) {
    const std::size_t n = t.ne[0] * t.ne[1];
    std::vector<float> out(n);
    dequantize_ggml(t.type, file.data(t).data(), out.data(), n);
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[i]),
                std::bit_cast<std::uint32_t>(expected[at + i]))
          << t.name << "[" << i << "]: " << out[i] << " vs " << expected[at + i];
    at += n;
  }
  EXPECT_EQ(at, expected.size());
}

TEST(Gguf, TypeTableRows) {
  EXPECT_STREQ(ggml_type_name(16), "IQ2_XXS");
  EXPECT_STREQ(ggml_type_name(4), "unknown");  // removed from ggml
  EXPECT_EQ(find_ggml_type(77), nullptr);
  for (const std::uint32_t id : {2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 15}) {
    const auto* t = find_ggml_type(id);
    ASSERT_NE(t, nullptr);
    EXPECT_NE(t->decode, nullptr) << t->name;
    EXPECT_FALSE(t->plain) << t->name;
  }
  EXPECT_EQ(find_ggml_type(30)->plain, DType::kBF16);
  EXPECT_EQ(find_ggml_type(16)->decode, nullptr);
}

// A hand-built GGUF v3 (metadata as u32, string, f32 or bool; tensors with their data).
class GgufBuilder {
 public:
  void kv(const std::string& key, std::uint32_t value) {
    put_str(kvs_, key), put<std::uint32_t>(kvs_, 4), put(kvs_, value), ++n_kv_;
  }
  void kv(const std::string& key, const std::string& value) {
    put_str(kvs_, key), put<std::uint32_t>(kvs_, 8), put_str(kvs_, value), ++n_kv_;
  }
  void kv_f32(const std::string& key, float value) {
    put_str(kvs_, key), put<std::uint32_t>(kvs_, 6), put(kvs_, value), ++n_kv_;
  }
  void kv_bool(const std::string& key, bool value) {
    put_str(kvs_, key), put<std::uint32_t>(kvs_, 7), put<std::uint8_t>(kvs_, value), ++n_kv_;
  }
  void tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type,
              const std::string& bytes) {
    data_.resize((data_.size() + 31) / 32 * 32, '\0');
    put_str(infos_, name), put<std::uint32_t>(infos_, static_cast<std::uint32_t>(ne.size()));
    for (auto d : ne) put(infos_, d);
    put(infos_, type), put<std::uint64_t>(infos_, data_.size());
    data_ += bytes, ++n_tensors_;
  }
  void write(const std::filesystem::path& path) const {
    std::string out = "GGUF";
    put<std::uint32_t>(out, 3), put(out, n_tensors_), put(out, n_kv_);
    out += kvs_ + infos_;
    out.resize((out.size() + 31) / 32 * 32, '\0');
    std::ofstream(path, std::ios::binary) << out + data_;
  }

 private:
  template <typename T>
  static void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  static void put_str(std::string& s, const std::string& v) {
    put<std::uint64_t>(s, v.size());
    s += v;
  }
  std::string kvs_, infos_, data_;
  std::uint64_t n_kv_ = 0, n_tensors_ = 0;
};

// Rows holding their own index, as float32 (`cols` per row) or as Q8_0 blocks of scale 1.
std::string f32_rows(int rows, int cols) {
  std::string s;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const float v = static_cast<float>(r);
      s.append(reinterpret_cast<const char*>(&v), 4);
    }
  return s;
}
std::string q8_0_rows(int rows) {
  std::string s;
  for (int r = 0; r < rows; ++r) {
    s += std::string("\x00\x3c", 2);  // float16 1.0
    s += std::string(32, static_cast<char>(r));
  }
  return s;
}

std::vector<float> first_column(const Checkpoint& ckpt, const std::string& name) {
  const auto* loc = ckpt.find(name);
  EXPECT_NE(loc, nullptr) << name;
  if (!loc) return {};
  const auto& info = ckpt.info(*loc);
  const auto bytes = ckpt.files()[loc->file]->data(loc->index);
  std::vector<float> all(bytes.size() / 4), column;
  std::memcpy(all.data(), bytes.data(), bytes.size());
  for (std::int64_t r = 0; r < info.shape[0]; ++r) column.push_back(all[r * info.shape[1]]);
  return column;
}

// The llama view: HuggingFace names, q/k rows back in HuggingFace order (plain and quantized),
// and a config.json from the metadata.
TEST(Gguf, LlamaViewNamesAndUnpermutes) {
  GgufBuilder b;
  b.kv("general.architecture", std::string("llama"));
  b.kv("llama.attention.head_count", 2);
  b.kv("llama.attention.head_count_kv", 1);
  b.kv("llama.embedding_length", 2);
  b.kv("llama.feed_forward_length", 4);
  b.kv("llama.block_count", 1);
  b.kv("llama.vocab_size", 3);
  b.tensor("blk.0.attn_q.weight", {2, 8}, 0, f32_rows(8, 2));
  b.tensor("blk.0.attn_k.weight", {32, 4}, 8, q8_0_rows(4));
  b.tensor("token_embd.weight", {2, 3}, 0, f32_rows(3, 2));
  const auto path = std::filesystem::path(testing::TempDir()) / "view-test.gguf";
  b.write(path);

  const auto ckpt = open_gguf_checkpoint(path);
  EXPECT_EQ(ckpt->weight_map_order(),
            (std::vector<std::string>{"model.layers.0.self_attn.q_proj.weight",
                                      "model.layers.0.self_attn.k_proj.weight",
                                      "model.embed_tokens.weight"}));
  // Per head, GGUF row 2i + j is HuggingFace row i + j * (rows per head / 2).
  EXPECT_EQ(first_column(*ckpt, "model.layers.0.self_attn.q_proj.weight"),
            (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
  EXPECT_EQ(first_column(*ckpt, "model.layers.0.self_attn.k_proj.weight"),
            (std::vector<float>{0, 2, 1, 3}));
  EXPECT_EQ(first_column(*ckpt, "model.embed_tokens.weight"), (std::vector<float>{0, 1, 2}));

  const auto cfg = gguf_config(path);
  EXPECT_EQ(cfg["model_type"], "llama");
  EXPECT_EQ(cfg["num_attention_heads"], 2);
  EXPECT_EQ(cfg["num_key_value_heads"], 1);
  EXPECT_EQ(cfg["max_position_embeddings"], 2048);
  EXPECT_EQ(cfg["tie_word_embeddings"], true);
  std::filesystem::remove(path);
}

TEST(Gguf, UnknownArchitectureIsNamed) {
  GgufBuilder b;
  b.kv("general.architecture", std::string("rwkv6"));
  const auto path = std::filesystem::path(testing::TempDir()) / "rwkv6-test.gguf";
  b.write(path);
  try {
    open_gguf_checkpoint(path);
    ADD_FAILURE() << "no error";
  } catch (const NotImplementedError& e) {
    // The list grows with every view: its start is enough.
    EXPECT_TRUE(std::string(e.what()).starts_with(
        path.string() +
        ": GGUF architecture 'rwkv6' is not supported yet (supported: llama, "
        "qwen2, qwen2moe, qwen3, qwen3moe, gemma, gemma2, gemma3, phi2, phi3"))
        << e.what();
  }
  std::filesystem::remove(path);
}

// DeepSeek's config from the metadata alone. Newer files (`mla`) describe llama.cpp's MQA form in
// key_length / value_length / head_count_kv and the HF sizes in the *_mla keys; older ones give
// the HF sizes in key_length / value_length. exp_probs_b (V3's correction bias) means noaux_tc.
nlohmann::json deepseek2_config(bool mla) {
  GgufBuilder b;
  b.kv("general.architecture", std::string("deepseek2"));
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::uint32_t>>{{"block_count", 2},
                                                          {"embedding_length", 8},
                                                          {"feed_forward_length", 12},
                                                          {"attention.head_count", 2},
                                                          {"vocab_size", 3},
                                                          {"attention.kv_lora_rank", 4},
                                                          {"rope.dimension_count", 2},
                                                          {"leading_dense_block_count", 1},
                                                          {"expert_count", 4},
                                                          {"expert_used_count", 2},
                                                          {"expert_shared_count", 1},
                                                          {"expert_feed_forward_length", 6},
                                                          {"expert_group_count", 2},
                                                          {"expert_group_used_count", 1},
                                                          {"attention.key_length", mla ? 6 : 5},
                                                          {"attention.value_length", mla ? 4 : 3},
                                                          {"attention.head_count_kv", mla ? 1 : 2}})
    b.kv("deepseek2." + k, v);
  if (mla) {
    b.kv("deepseek2.attention.key_length_mla", 5);
    b.kv("deepseek2.attention.value_length_mla", 3);
    b.kv("deepseek2.expert_gating_func", 2);
    b.kv_f32("deepseek2.expert_weights_scale", 2.5f);
    b.kv_bool("deepseek2.expert_weights_norm", true);
    b.kv("deepseek2.rope.scaling.type", std::string("yarn"));
    b.kv_f32("deepseek2.rope.scaling.yarn_log_multiplier", 0.0707f);
    b.tensor("blk.1.exp_probs_b.bias", {4}, 0, f32_rows(4, 1));
  }
  b.tensor("token_embd.weight", {8, 3}, 0, f32_rows(3, 8));
  const auto path = std::filesystem::path(testing::TempDir()) / "deepseek2-test.gguf";
  b.write(path);
  auto cfg = gguf_config(path);
  std::filesystem::remove(path);
  return cfg;
}

TEST(Gguf, Deepseek2ConfigFromEitherConvertersMetadata) {
  for (const bool mla : {true, false}) {
    const auto cfg = deepseek2_config(mla);
    EXPECT_EQ(cfg["model_type"], mla ? "deepseek_v3" : "deepseek_v2");
    EXPECT_EQ(cfg["num_key_value_heads"], 2);  // MLA in HF: as many as the heads
    EXPECT_EQ(cfg["qk_nope_head_dim"], 3);
    EXPECT_EQ(cfg["qk_rope_head_dim"], 2);
    EXPECT_EQ(cfg["v_head_dim"], 3);
    EXPECT_EQ(cfg["kv_lora_rank"], 4);
    EXPECT_TRUE(cfg["q_lora_rank"].is_null());
    EXPECT_FALSE(cfg.contains("head_dim"));
    EXPECT_EQ(cfg["first_k_dense_replace"], 1);
    EXPECT_EQ(cfg["n_routed_experts"], 4);
    EXPECT_EQ(cfg["n_shared_experts"], 1);
    EXPECT_EQ(cfg["moe_intermediate_size"], 6);
    EXPECT_EQ(cfg["intermediate_size"], 12);
    EXPECT_EQ(cfg["n_group"], 2);
    EXPECT_EQ(cfg["topk_group"], 1);
    EXPECT_EQ(cfg["scoring_func"], mla ? "sigmoid" : "softmax");
    EXPECT_EQ(cfg["topk_method"], mla ? "noaux_tc" : "group_limited_greedy");
    EXPECT_EQ(cfg["routed_scaling_factor"], mla ? 2.5 : 1.0);
    EXPECT_EQ(cfg["norm_topk_prob"], mla);
    EXPECT_EQ(cfg["tie_word_embeddings"], true);
    EXPECT_EQ(cfg.contains("rope_scaling"), mla);
    if (mla) {
      EXPECT_NEAR(cfg["rope_scaling"]["mscale_all_dim"].get<double>(), 0.707, 1e-6);
    }
  }
}

}  // namespace
}  // namespace weightcast
