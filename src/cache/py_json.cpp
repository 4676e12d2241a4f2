#include "cache/py_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

namespace weightcast {

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(value), std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "d.ddde+XX"
  const auto e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::atoi(sci.c_str() + e_pos + 1);
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  const int ndigits = static_cast<int>(digits.size());
  std::string out = std::signbit(value) ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out.append("0.").append(static_cast<std::size_t>(-decpt), '0').append(digits);
    } else if (decpt >= ndigits) {
      out.append(digits).append(static_cast<std::size_t>(decpt - ndigits), '0').append(".0");
    } else {
      out.append(digits, 0, static_cast<std::size_t>(decpt))
          .append(".")
          .append(digits, static_cast<std::size_t>(decpt));
    }
  } else {
    out.append(digits, 0, 1);
    if (ndigits > 1) out.append(".").append(digits, 1);
    out += fmt::format("e{}{:02d}", exponent < 0 ? '-' : '+', std::abs(exponent));
  }
  return out;
}

namespace {

void append_escaped(std::string& out, const std::string& s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = c;
    std::size_t len = 1;
    if (c >= 0x80) {  // decode UTF-8; a malformed byte is escaped as itself
      int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
      if (extra && i + extra < s.size()) {
        cp = c & (0x3F >> extra);
        for (int k = 1; k <= extra; ++k)
          cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        len = 1 + extra;
      }
    }
    i += len;
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp > 0xFFFF) {
      cp -= 0x10000;
      out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
    } else {
      out += fmt::format("\\u{:04x}", cp);
    }
  }
  out += '"';
}

void dump(std::string& out, const nlohmann::ordered_json& v, int indent, int level) {
  using T = nlohmann::ordered_json::value_t;
  const std::string inner(static_cast<std::size_t>(indent * (level + 1)), ' ');
  const std::string outer(static_cast<std::size_t>(indent * level), ' ');
  switch (v.type()) {
    case T::object: {
      if (v.empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ",\n";
        first = false;
        out += inner;
        append_escaped(out, key);
        out += ": ";
        dump(out, item, indent, level + 1);
      }
      out.append("\n").append(outer).append("}");
      return;
    }
    case T::array: {
      if (v.empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) out += ",\n";
        out += inner;
        dump(out, v[i], indent, level + 1);
      }
      out.append("\n").append(outer).append("]");
      return;
    }
    case T::string:
      append_escaped(out, v.get_ref<const std::string&>());
      return;
    case T::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case T::number_integer:
      out += std::to_string(v.get<std::int64_t>());
      return;
    case T::number_unsigned:
      out += std::to_string(v.get<std::uint64_t>());
      return;
    case T::number_float:
      out += python_float_repr(v.get<double>());
      return;
    default:
      out += "null";
      return;
  }
}

}  // namespace

std::string python_json_dumps(const nlohmann::ordered_json& value, int indent) {
  std::string out;
  dump(out, value, indent, 0);
  return out;
}

}  // namespace weightcast
