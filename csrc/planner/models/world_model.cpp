#include "planner/models/world_model.h"

#include <cmath>

#include "planner/common/errors.h"
#include "planner/common/json.h"
#include "planner/models/safetensors.h"

namespace planner {
namespace {

constexpr int kFormatVersion = 1;
constexpr int kMaxWidth = 1 << 16;

std::vector<float> floats(const json::Value& v, std::size_t n, const std::string& what) {
  const auto& a = v.as_array(what);
  if (a.size() != n) throw_value_error(what, ": expected ", n, " values, got ", a.size());
  std::vector<float> out;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = a[i].as_number(what);
    out.push_back(static_cast<float>(x));
  }
  return out;
}

int dim(const json::Value& root, const char* key, int lo) {
  const std::int64_t x = root.at(key, "metadata").as_int(std::string("metadata.") + key);
  if (x < lo || x > kMaxWidth) throw_value_error("metadata.", key, " must be in [", lo, ", ", kMaxWidth, "], got ", x);
  return static_cast<int>(x);
}

Input parse_input(const std::string& s, const std::string& what) {
  if (s == "obs") return Input::kObs;
  if (s == "z") return Input::kZ;
  if (s == "a") return Input::kA;
  if (s == "c") return Input::kC;
  throw_value_error(what, ": unknown input '", s, "'; expected obs, z, a or c");
}

void load_vector(const SafeTensors& f, const json::Value& layer, const char* key, int n, Buffer<float>& out,
                 const std::string& what, bool required) {
  out.resize(static_cast<std::size_t>(n));
  const json::Value* name = layer.find(key);
  if (!name || name->is_null()) {
    if (required) throw_value_error(what, ": missing '", key, "'");
    out.fill(0.0f);
    return;
  }
  f.copy_f32(name->as_string(what + "." + key), {n}, out.data(), what + "." + key);
}

// Reads the layer list v.layers, which must map in_width to out_expected values.
MLP load_layers(const SafeTensors& f, const json::Value& v, const std::string& what, int in_width, int out_expected) {
  MLP mlp;
  const auto& layers = v.at("layers", what).as_array(what + ".layers");
  if (layers.empty()) throw_value_error(what, ".layers: needs at least one layer");
  int prev = in_width;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string lw = what + ".layers[" + std::to_string(i) + "]";
    const json::Value& L = layers[i];
    Layer layer;
    layer.in = static_cast<int>(L.at("in", lw).as_int(lw + ".in"));
    layer.out = static_cast<int>(L.at("out", lw).as_int(lw + ".out"));
    if (layer.in != prev) throw_value_error(lw, ": in=", layer.in, " does not match the previous width ", prev);
    if (layer.out < 1 || layer.out > kMaxWidth) throw_value_error(lw, ": out=", layer.out, " out of range");
    layer.weight.resize(static_cast<std::size_t>(layer.out) * layer.in);
    f.copy_f32(L.at("weight", lw).as_string(lw + ".weight"), {layer.out, layer.in}, layer.weight.data(), lw + ".weight");
    load_vector(f, L, "bias", layer.out, layer.bias, lw, false);
    const json::Value* norm = L.find("norm");
    const std::string norm_name = (norm && !norm->is_null()) ? norm->as_string(lw + ".norm") : "none";
    if (norm_name == "layernorm") {
      layer.layer_norm = true;
      load_vector(f, L, "norm_weight", layer.out, layer.norm_weight, lw, true);
      load_vector(f, L, "norm_bias", layer.out, layer.norm_bias, lw, true);
      if (const json::Value* eps = L.find("eps")) layer.eps = static_cast<float>(eps->as_number(lw + ".eps"));
      if (!(layer.eps > 0.0f)) throw_value_error(lw, ".eps must be > 0");
    } else if (norm_name != "none") {
      throw_value_error(lw, ": unknown norm '", norm_name, "'; expected layernorm or none");
    }
    const json::Value* act = L.find("act");
    layer.act = parse_activation(act && !act->is_null() ? act->as_string(lw + ".act") : "none", lw + ".act");
    if (layer.act == Activation::kSimNorm) {
      layer.simnorm_dim = static_cast<int>(L.at("simnorm_dim", lw).as_int(lw + ".simnorm_dim"));
      if (layer.simnorm_dim < 1 || layer.out % layer.simnorm_dim != 0)
        throw_value_error(lw, ": simnorm_dim=", layer.simnorm_dim, " must divide out=", layer.out);
    }
    for (Buffer<float>* b : {&layer.weight, &layer.bias, &layer.norm_weight, &layer.norm_bias})
      for (std::size_t k = 0; k < b->size(); ++k)
        if (!std::isfinite((*b)[k])) throw_value_error(lw, ": non-finite parameter");
    prev = layer.out;
    mlp.layers.push_back(std::move(layer));
  }
  if (prev != out_expected) throw_value_error(what, ": outputs ", prev, " values, expected ", out_expected);
  return mlp;
}

Network load_network(const SafeTensors& f, const json::Value& v, const std::string& what, int in_width_expected,
                     int out_expected, const WorldModel& m, const std::vector<Input>& allowed) {
  Network net;
  for (const auto& in : v.at("inputs", what).as_array(what + ".inputs")) {
    const Input x = parse_input(in.as_string(what + ".inputs"), what + ".inputs");
    bool ok = false;
    for (Input a : allowed) ok = ok || a == x;
    if (!ok) throw_value_error(what, ".inputs: input not allowed for this network");
    for (Input y : net.inputs)
      if (y == x) throw_value_error(what, ".inputs: an input is listed twice");
    net.inputs.push_back(x);
  }
  const int width = m.input_width(net.inputs);
  if (width != in_width_expected)
    throw_value_error(what, ": inputs have width ", width, ", expected ", in_width_expected);
  net.mlp = load_layers(f, v, what, width, out_expected);
  return net;
}

// The output width of a layer list, read before loading it so that a chain that does
// not connect is reported in the terms of the spec (E, 2C) rather than layer by layer.
int declared_out(const json::Value& v, const std::string& what) {
  const auto& layers = v.at("layers", what).as_array(what + ".layers");
  if (layers.empty()) throw_value_error(what, ".layers: needs at least one layer");
  const std::string lw = what + ".layers[" + std::to_string(layers.size() - 1) + "]";
  const std::int64_t out = layers.back().at("out", lw).as_int(lw + ".out");
  if (out < 1 || out > kMaxWidth) throw_value_error(lw, ": out=", out, " out of range");
  return static_cast<int>(out);
}

std::int64_t declared_in(const json::Value& v, const std::string& what) {
  const auto& layers = v.at("layers", what).as_array(what + ".layers");
  if (layers.empty()) throw_value_error(what, ".layers: needs at least one layer");
  return layers.front().at("in", what + ".layers[0]").as_int(what + ".layers[0].in");
}

// networks.context_encoder (MODEL_FORMAT.md, "Context encoder"). Keys are checked
// strictly: a file written for a later pooling or input layout must not load as if it
// were this one.
void load_context_encoder(const SafeTensors& f, const json::Value& v, WorldModel& m) {
  const std::string what = "networks.context_encoder";
  if (m.context_dim == 0)
    throw_value_error(what, ": the model has context_dim = 0; a context encoder needs C > 0");
  for (const auto& [key, value] : v.as_object(what)) {
    (void)value;
    if (key != "history" && key != "pool" && key != "embed" && key != "head")
      throw_value_error(what, ": unknown key '", key, "'; expected history, pool, embed and head");
  }
  const std::int64_t K = v.at("history", what).as_int(what + ".history");
  if (K < 1 || K > kMaxWidth) throw_value_error(what, ".history must be in [1, ", kMaxWidth, "], got ", K);
  // pool may be left out (the only pooling is the mean), as the Python reader allows.
  if (const json::Value* pool = v.find("pool")) {
    const std::string& name = pool->as_string(what + ".pool");
    if (name != "mean") throw_value_error(what, ".pool: unknown pooling '", name, "'; expected mean");
  }
  const int S = m.obs_dim, A = m.action_dim, C = m.context_dim;
  auto part = [&](const char* key) -> const json::Value& {
    const std::string pw = what + "." + key;
    const json::Value& p = v.at(key, what);
    for (const auto& [k, x] : p.as_object(pw)) {
      if (k == "inputs") {
        // The Python writer's network shape; the encoder's layers take no named inputs.
        if (!x.as_array(pw + ".inputs").empty()) throw_value_error(pw, ".inputs: must be empty (or left out)");
      } else if (k != "layers") {
        throw_value_error(pw, ": unknown key '", k, "'; expected layers");
      }
    }
    return p;
  };
  const json::Value& embed = part("embed");
  const json::Value& head = part("head");
  const std::int64_t in = declared_in(embed, what + ".embed");
  if (in != 2 * S + A)
    throw_value_error(what, ".embed: takes ", in, " inputs, expected 2S + A = ", 2 * S + A, " (S=", S, ", A=", A, ")");
  const int E = declared_out(embed, what + ".embed");
  const std::int64_t head_in = declared_in(head, what + ".head");
  if (head_in != E) throw_value_error(what, ".head: takes ", head_in, " inputs but embed outputs E = ", E);
  const int head_out = declared_out(head, what + ".head");
  if (head_out != 2 * C)
    throw_value_error(what, ".head: outputs ", head_out, " values, expected 2C = ", 2 * C, " (mu and log-variance)");
  m.context_embed = load_layers(f, embed, what + ".embed", 2 * S + A, E);
  m.context_head = load_layers(f, head, what + ".head", E, 2 * C);
  m.history = static_cast<int>(K);
  m.has_context_encoder = true;
}

}  // namespace

int WorldModel::input_width(const std::vector<Input>& inputs) const {
  int w = 0;
  for (Input x : inputs) {
    switch (x) {
      case Input::kObs: w += obs_dim; break;
      case Input::kZ: w += latent_dim; break;
      case Input::kA: w += action_dim; break;
      case Input::kC: w += context_dim; break;
    }
  }
  return w;
}

long long WorldModel::parameter_count() const {
  long long n = 0;
  auto count = [&](const Network& net) {
    for (const auto& l : net.mlp.layers) n += static_cast<long long>(l.weight.size() + l.bias.size());
  };
  count(encoder);
  for (const auto& d : dynamics) count(d);
  for (const auto& r : reward) count(r);
  if (has_value) count(value);
  if (has_context_encoder)
    for (const MLP* mlp : {&context_embed, &context_head})
      for (const auto& l : mlp->layers) n += static_cast<long long>(l.weight.size() + l.bias.size());
  return n;
}

std::shared_ptr<const WorldModel> WorldModel::load(const std::string& path) {
  return from_safetensors(SafeTensors::read_file(path));
}

std::shared_ptr<const WorldModel> WorldModel::from_safetensors(const SafeTensors& f) {
  auto it = f.metadata().find("latent_planner");
  if (it == f.metadata().end())
    throw_value_error("model file: no 'latent_planner' metadata; not a latent-planner model (see docs/MODEL_FORMAT.md)");
  const json::Value root = json::Value::parse(it->second);
  const std::string format = root.at("format", "metadata").as_string("metadata.format");
  if (format != "latent-planner/world-model")
    throw_value_error("metadata.format: expected 'latent-planner/world-model', got '", format, "'");
  const std::int64_t version = root.at("format_version", "metadata").as_int("metadata.format_version");
  if (version != kFormatVersion)
    throw_value_error("metadata.format_version: this build reads version ", kFormatVersion, ", the file is version ",
                      version);
  auto m = std::make_shared<WorldModel>();
  m->metadata_json = it->second;
  m->obs_dim = dim(root, "obs_dim", 1);
  m->action_dim = dim(root, "action_dim", 1);
  m->latent_dim = dim(root, "latent_dim", 1);
  m->context_dim = dim(root, "context_dim", 0);
  m->ensemble = dim(root, "ensemble", 1);
  m->discount = static_cast<float>(root.at("discount", "metadata").as_number("metadata.discount"));
  if (!(m->discount > 0.0f && m->discount <= 1.0f)) throw_value_error("metadata.discount must be in (0, 1]");
  const auto A = static_cast<std::size_t>(m->action_dim), S = static_cast<std::size_t>(m->obs_dim);
  m->action_low = floats(root.at("action_low", "metadata"), A, "metadata.action_low");
  m->action_high = floats(root.at("action_high", "metadata"), A, "metadata.action_high");
  for (std::size_t a = 0; a < A; ++a)
    if (!(m->action_low[a] < m->action_high[a]) || !std::isfinite(m->action_low[a]) ||
        !std::isfinite(m->action_high[a]))
      throw_value_error("metadata.action_low/high: dim ", a, " must be finite with low < high");
  m->obs_shift = floats(root.at("obs_shift", "metadata"), S, "metadata.obs_shift");
  m->obs_scale = floats(root.at("obs_scale", "metadata"), S, "metadata.obs_scale");
  for (std::size_t s = 0; s < S; ++s)
    if (!(m->obs_scale[s] > 0.0f) || !std::isfinite(m->obs_scale[s]) || !std::isfinite(m->obs_shift[s]))
      throw_value_error("metadata.obs_scale/obs_shift: dim ", s, " must be finite with scale > 0");
  auto number = [&](const char* key, float fallback) {
    const json::Value* v = root.find(key);
    const float x = v ? static_cast<float>(v->as_number(std::string("metadata.") + key)) : fallback;
    if (!std::isfinite(x)) throw_value_error("metadata.", key, " must be finite");
    return x;
  };
  m->reward_shift = number("reward_shift", 0.0f);
  m->reward_scale = number("reward_scale", 1.0f);
  m->value_shift = number("value_shift", 0.0f);
  m->value_scale = number("value_scale", 1.0f);

  const json::Value& nets = root.at("networks", "metadata");
  const int Z = m->latent_dim, C = m->context_dim;
  const int zac = Z + m->action_dim + C;
  m->encoder = load_network(f, nets.at("encoder", "metadata.networks"), "networks.encoder", m->obs_dim, Z, *m,
                            {Input::kObs});
  const std::vector<Input> step_inputs = {Input::kZ, Input::kA, Input::kC};
  for (const char* key : {"dynamics", "reward"}) {
    const auto& list = nets.at(key, "metadata.networks").as_array(std::string("networks.") + key);
    if (static_cast<int>(list.size()) != m->ensemble)
      throw_value_error("networks.", key, ": ", list.size(), " networks but ensemble = ", m->ensemble);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string what = std::string("networks.") + key + "[" + std::to_string(i) + "]";
      Network n = load_network(f, list[i], what, zac, std::string(key) == "dynamics" ? Z : 1, *m, step_inputs);
      (std::string(key) == "dynamics" ? m->dynamics : m->reward).push_back(std::move(n));
    }
  }
  const json::Value* value = nets.find("value");
  if (value && !value->is_null()) {
    m->has_value = true;
    m->value = load_network(f, *value, "networks.value", Z + C, 1, *m, {Input::kZ, Input::kC});
  }
  const json::Value* context_encoder = nets.find("context_encoder");
  if (context_encoder && !context_encoder->is_null()) load_context_encoder(f, *context_encoder, *m);
  return m;
}

}  // namespace planner
