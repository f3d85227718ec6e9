// Reader for safetensors files (8-byte little-endian header length, JSON header, raw
// little-endian tensor bytes). Everything is validated before use; a malformed,
// truncated or hostile file raises ValueError naming the problem. Nothing executes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace planner {

struct TensorInfo {
  std::string dtype;                // "F32", "BF16", ...
  std::vector<std::int64_t> shape;  // row-major
  std::uint64_t begin = 0, end = 0;  // byte range in the data buffer
};

class SafeTensors {
 public:
  // Reads and validates a whole file.
  static SafeTensors read_file(const std::string& path);
  // Validates `bytes` (the whole file content); `origin` names it in errors.
  static SafeTensors parse(std::vector<std::uint8_t> bytes, const std::string& origin);

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Copies tensor `name` into out after checking dtype F32 and the exact shape;
  // `what` names the use in errors (e.g. "networks.encoder.layers[0].weight").
  void copy_f32(const std::string& name, const std::vector<std::int64_t>& shape, float* out,
                const std::string& what) const;

 private:
  std::string origin_;
  std::vector<std::uint8_t> bytes_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
};

}  // namespace planner
