// JSON input from files we do not trust (config.json, *.index.json, safetensors headers): linear
// time, a nesting limit, memory bounded by a small multiple of the text, and errors that never
// quote the file's bytes.
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace weightcast {

// Deeper documents are refused: no real config, index or header nests beyond a handful of levels.
inline constexpr int kMaxJsonDepth = 128;

// The whole file as text; errors name the file.
std::string read_text_file(const std::filesystem::path& path);

// Parses `text` into a DOM (objects keyed in sorted order, so lookups are logarithmic). Fails
// with "<context>: ..." on a syntax error, nesting beyond kMaxJsonDepth, or a document whose DOM
// would take more than 2 x the text + 32 MiB.
nlohmann::json parse_json(std::string_view text, const std::string& context);

// read_text_file + parse_json, with "<path>: invalid JSON" as the context.
nlohmann::json read_json_file(const std::filesystem::path& path);

// A SAX handler base for readers that keep only what they need: tracks the nesting depth (call
// enter() on every start_object/start_array, leave() on every end) and turns syntax errors into
// "<context>: <what>" without the token nlohmann quotes from the input.
class JsonSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonSax(std::string context) : context_(std::move(context)) {}
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::json::exception& ex) override;
  bool binary(binary_t& val) override;

  // Runs the parser over `text` with this handler.
  void parse(std::string_view text);

 protected:
  void enter();
  void leave() { --depth_; }
  int depth() const { return depth_; }
  [[noreturn]] void invalid(std::string_view what) const;
  const std::string& context() const { return context_; }

 private:
  std::string context_;
  int depth_ = 0;
};

}  // namespace weightcast
