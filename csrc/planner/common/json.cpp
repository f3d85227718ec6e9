#include "planner/common/json.h"

#include <cmath>
#include <cstdlib>

#include "planner/common/errors.h"

namespace planner::json {

namespace {
constexpr int kMaxDepth = 64;
const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kNull: return "null";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kNumber: return "number";
    case Value::Kind::kString: return "string";
    case Value::Kind::kArray: return "array";
    case Value::Kind::kObject: return "object";
  }
  return "?";
}
}  // namespace

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Value document() {
    Value v = value(0);
    ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const char* why) const { throw_value_error("JSON: ", why, " at byte ", i_); }

  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail("unexpected character");
    ++i_;
  }
  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) fail("invalid literal");
    i_ += word.size();
  }

  Value value(int depth) {
    if (depth > kMaxDepth) fail("nesting too deep");
    ws();
    Value v;
    const char c = peek();
    if (c == '{') {
      v.kind_ = Value::Kind::kObject;
      ++i_;
      ws();
      if (peek() == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        ws();
        std::string key = string();
        ws();
        expect(':');
        Value member = value(depth + 1);
        if (!v.object_.emplace(std::move(key), std::move(member)).second) fail("duplicate object key");
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind_ = Value::Kind::kArray;
      ++i_;
      ws();
      if (peek() == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.array_.push_back(value(depth + 1));
        ws();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind_ = Value::Kind::kString;
      v.string_ = string();
      return v;
    }
    if (c == 't') {
      literal("true");
      v.kind_ = Value::Kind::kBool;
      v.bool_ = true;
      return v;
    }
    if (c == 'f') {
      literal("false");
      v.kind_ = Value::Kind::kBool;
      return v;
    }
    if (c == 'n') {
      literal("null");
      return v;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind_ = Value::Kind::kNumber;
      v.number_ = number();
      return v;
    }
    fail("expected a value");
  }

  double number() {
    const std::size_t start = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++i_;
    } else {
      fail("invalid number");
    }
    if (peek() == '.') {
      ++i_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      while (peek() >= '0' && peek() <= '9') ++i_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!(peek() >= '0' && peek() <= '9')) fail("invalid number");
      while (peek() >= '0' && peek() <= '9') ++i_;
    }
    const std::string text(s_.substr(start, i_ - start));
    const double x = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(x)) fail("number out of range");
    return x;
  }

  static void utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    std::uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else fail("invalid \\u escape");
    }
    return cp;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
            if (s_.substr(i_, 2) != "\\u") fail("unpaired surrogate");
            i_ += 2;
            const std::uint32_t lo = hex4();
            if (lo < 0xDC00 || lo >= 0xE000) fail("invalid surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("unpaired surrogate");
          }
          utf8(out, cp);
          break;
        }
        default: fail("invalid escape");
      }
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

Value Value::parse(std::string_view text) { return Parser(text).document(); }

#define PLANNER_JSON_EXPECT(k)                                                              \
  if (kind_ != (k)) throw_value_error(what, ": expected a ", kind_name(k), ", got a ", kind_name(kind_))

bool Value::as_bool(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kBool);
  return bool_;
}
double Value::as_number(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kNumber);
  return number_;
}
std::int64_t Value::as_int(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kNumber);
  if (number_ != std::floor(number_) || std::fabs(number_) >= 9007199254740992.0)
    throw_value_error(what, ": expected an integer, got ", number_);
  return static_cast<std::int64_t>(number_);
}
const std::string& Value::as_string(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kString);
  return string_;
}
const std::vector<Value>& Value::as_array(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kArray);
  return array_;
}
const std::map<std::string, Value>& Value::as_object(const std::string& what) const {
  PLANNER_JSON_EXPECT(Kind::kObject);
  return object_;
}
#undef PLANNER_JSON_EXPECT

const Value* Value::find(const std::string& key) const {
  if (kind_ != Kind::kObject) return nullptr;
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &it->second;
}

const Value& Value::at(const std::string& key, const std::string& what) const {
  const Value* v = find(key);
  if (!v) throw_value_error(what, ": missing key '", key, "'");
  return *v;
}

}  // namespace planner::json
