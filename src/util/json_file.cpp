#include "util/json_file.h"

#include <fstream>
#include <vector>

#include "util/error.h"

namespace weightcast {

namespace {

// nlohmann's message ends with "; last read: '<token>'", which quotes the input; a file that
// is not what it claims (an index may name any file) must not have its bytes shown.
std::string without_token(const std::string& what) {
  const auto cut = what.find("; last read:");
  return cut == std::string::npos ? what : what.substr(0, cut);
}

// Builds a nlohmann::json DOM, charging an estimate of each node's heap use against a budget so
// that a crafted document ("[[],[],...]" costs ~30 bytes of DOM per byte of text) fails early.
class DomBuilder final : public JsonSax {
 public:
  DomBuilder(std::string context, std::size_t budget)
      : JsonSax(std::move(context)), left_(budget) {}
  nlohmann::json take() { return std::move(root_); }

  bool null() override { return add(nullptr); }
  bool boolean(bool v) override { return add(v); }
  bool number_integer(number_integer_t v) override { return add(v); }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  bool number_float(number_float_t v, const string_t&) override { return add(v); }
  bool string(string_t& v) override {
    charge(v.size());
    return add(std::move(v));
  }
  bool start_object(std::size_t) override { return open(nlohmann::json::object()); }
  bool start_array(std::size_t) override { return open(nlohmann::json::array()); }
  bool key(string_t& k) override {
    charge(64 + k.size());  // a map node and its key
    key_ = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

 private:
  void charge(std::size_t n) {
    if (n > left_) invalid("the document needs more memory than its size justifies");
    left_ -= n;
  }
  // Places `v` in the open container (or as the root); returns where it went.
  nlohmann::json* place(nlohmann::json&& v) {
    charge(32);
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    auto& parent = *open_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(v));
      return &parent.back();
    }
    auto& slot = parent[key_];
    slot = std::move(v);
    return &slot;
  }
  bool add(nlohmann::json&& v) {
    place(std::move(v));
    return true;
  }
  // A container's address is stable while it is open: its parent gains nothing until it closes.
  bool open(nlohmann::json&& v) {
    enter();
    charge(48);
    open_.push_back(place(std::move(v)));
    return true;
  }
  bool close() {
    leave();
    open_.pop_back();
    return true;
  }

  nlohmann::json root_;
  std::vector<nlohmann::json*> open_;
  std::string key_;
  std::size_t left_;
};

}  // namespace

bool JsonSax::parse_error(std::size_t, const std::string&, const nlohmann::json::exception& ex) {
  invalid(without_token(ex.what()));
}

bool JsonSax::binary(binary_t&) {
  invalid("binary values are not JSON");
}

void JsonSax::parse(std::string_view text) {
  nlohmann::json::sax_parse(text.begin(), text.end(), this);
}

void JsonSax::enter() {
  if (++depth_ > kMaxJsonDepth) invalid(fmt::format("nested deeper than {} levels", kMaxJsonDepth));
}

void JsonSax::invalid(std::string_view what) const {
  fail("{}: {}", context_, what);
}

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<IOError>("{}: cannot open", path.string());
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  std::string text;
  if (!ec) text.reserve(static_cast<std::size_t>(size));
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) fail<IOError>("{}: read error", path.string());
  return text;
}

nlohmann::json parse_json(std::string_view text, const std::string& context) {
  DomBuilder dom(context, 2 * text.size() + (std::size_t{32} << 20));
  dom.parse(text);
  return dom.take();
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  return parse_json(read_text_file(path), path.string() + ": invalid JSON");
}

}  // namespace weightcast
