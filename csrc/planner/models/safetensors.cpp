#include "planner/models/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string_view>

#include "planner/common/errors.h"
#include "planner/common/json.h"

namespace planner {
namespace {

constexpr std::uint64_t kMaxHeader = 100ull << 20;  // 100 MB of JSON is already absurd

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += std::to_string(s[i]) + (i + 1 < s.size() ? ", " : "");
  return out + "]";
}

std::uint64_t itemsize(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2") return 1;
  return 0;
}

}  // namespace

SafeTensors SafeTensors::read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw_value_error("model file: cannot open '", path, "'");
  const std::streamoff size = f.tellg();
  if (size < 0) throw_value_error("model file: cannot read '", path, "'");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(bytes.data()), size))
    throw_value_error("model file: cannot read '", path, "'");
  return parse(std::move(bytes), path);
}

SafeTensors SafeTensors::parse(std::vector<std::uint8_t> bytes, const std::string& origin) {
  SafeTensors st;
  st.origin_ = origin;
  if (bytes.size() < 8) throw_value_error(origin, ": not a safetensors file (", bytes.size(), " bytes, need >= 8)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
  if (n > kMaxHeader || n > bytes.size() - 8)
    throw_value_error(origin, ": header length ", n, " exceeds the file (", bytes.size(), " bytes); truncated or corrupt");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(n));
  json::Value root;
  try {
    root = json::Value::parse(header);
  } catch (const ValueError& e) {
    throw_value_error(origin, ": header is not valid JSON (", e.what(), ")");
  }
  const std::uint64_t buffer = bytes.size() - 8 - n;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [name, v] : root.as_object(origin + " header")) {
    const std::string what = origin + ": tensor '" + name + "'";
    if (name == "__metadata__") {
      for (const auto& [k, mv] : v.as_object(origin + ": __metadata__")) st.metadata_[k] = mv.as_string(what + " " + k);
      continue;
    }
    TensorInfo t;
    t.dtype = v.at("dtype", what).as_string(what + " dtype");
    const std::uint64_t item = itemsize(t.dtype);
    if (item == 0) throw_value_error(what, ": unknown dtype '", t.dtype, "'");
    std::uint64_t numel = 1;
    for (const auto& d : v.at("shape", what).as_array(what + " shape")) {
      const std::int64_t x = d.as_int(what + " shape");
      if (x < 0 || x > (1ll << 40)) throw_value_error(what, ": invalid dimension ", x);
      t.shape.push_back(x);
      if (numel > (1ull << 40) / (static_cast<std::uint64_t>(x) + 1)) throw_value_error(what, ": shape too large");
      numel *= static_cast<std::uint64_t>(x);
    }
    const auto& offs = v.at("data_offsets", what).as_array(what + " data_offsets");
    if (offs.size() != 2) throw_value_error(what, ": data_offsets must be [begin, end]");
    const std::int64_t b = offs[0].as_int(what + " data_offsets"), e = offs[1].as_int(what + " data_offsets");
    if (b < 0 || e < b || static_cast<std::uint64_t>(e) > buffer)
      throw_value_error(what, ": data_offsets [", b, ", ", e, "] outside the data buffer of ", buffer,
                        " bytes; truncated or corrupt");
    t.begin = static_cast<std::uint64_t>(b);
    t.end = static_cast<std::uint64_t>(e);
    if (t.end - t.begin != numel * item)
      throw_value_error(what, ": ", t.end - t.begin, " bytes do not match shape ", shape_str(t.shape), " of ", t.dtype);
    if (t.end > t.begin) ranges.emplace_back(t.begin, t.end);
    st.tensors_.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw_value_error(origin, ": tensor data ranges overlap");
  st.data_start_ = 8 + n;
  st.bytes_ = std::move(bytes);
  return st;
}

void SafeTensors::copy_f32(const std::string& name, const std::vector<std::int64_t>& shape, float* out,
                           const std::string& what) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw_value_error(origin_, ": ", what, " names tensor '", name, "', which is not in the file");
  const TensorInfo& t = it->second;
  if (t.dtype != "F32") throw_value_error(origin_, ": tensor '", name, "' has dtype ", t.dtype, "; expected F32");
  if (t.shape != shape)
    throw_value_error(origin_, ": tensor '", name, "' has shape ", shape_str(t.shape), " but ", what, " needs ",
                      shape_str(shape));
  std::memcpy(out, bytes_.data() + data_start_ + t.begin, static_cast<std::size_t>(t.end - t.begin));
}

}  // namespace planner
