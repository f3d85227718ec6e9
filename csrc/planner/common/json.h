// A small, strict JSON reader for model metadata (RFC 8259 subset: no comments, no
// trailing commas). Limits on depth and size keep hostile input from exhausting the
// stack or memory; errors name the byte offset.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace planner::json {

class Value {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // Typed access; throw ValueError naming `what` (e.g. "metadata.obs_dim") on mismatch.
  bool as_bool(const std::string& what) const;
  double as_number(const std::string& what) const;
  std::int64_t as_int(const std::string& what) const;  // integral, |x| < 2^53
  const std::string& as_string(const std::string& what) const;
  const std::vector<Value>& as_array(const std::string& what) const;
  const std::map<std::string, Value>& as_object(const std::string& what) const;

  // Object member or nullptr.
  const Value* find(const std::string& key) const;
  // Object member; throws ValueError "missing <what>.<key>" when absent.
  const Value& at(const std::string& key, const std::string& what) const;

  static Value parse(std::string_view text);

 private:
  friend class Parser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Value> array_;
  std::map<std::string, Value> object_;
};

}  // namespace planner::json
