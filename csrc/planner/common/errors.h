// Error types shared by the core. The bindings map ValueError and TypeError onto the
// Python exceptions of the same names; messages name the argument and the expected
// shape in the letters of DESIGN.md (B, N, H, A, S).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace planner {

// A caller passed a value of the right type but wrong shape, range or content.
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A caller passed a value of the wrong kind (dtype, layout, object type).
class TypeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Concatenates the parts with operator<< into one message.
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  return os.str();
}

template <class... Parts>
[[noreturn]] void throw_value_error(const Parts&... parts) {
  throw ValueError(cat(parts...));
}

template <class... Parts>
[[noreturn]] void throw_type_error(const Parts&... parts) {
  throw TypeError(cat(parts...));
}

// Throws ValueError with the message when cond is false.
template <class... Parts>
void require(bool cond, const Parts&... parts) {
  if (!cond) throw_value_error(parts...);
}

}  // namespace planner
