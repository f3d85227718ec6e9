// Core C++ tests (ctest). Prints "N passed, M failed" and exits non-zero on failure.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "planner/common/errors.h"
#include "planner/common/fastmath.h"
#include "planner/common/philox.h"
#include "planner/models/context_encoder.h"
#include "planner/models/safetensors.h"
#include "planner/models/world_model.h"
#include "planner/planner.h"
#include "planner/scorers/latent.h"

#include "check.h"

namespace {

void test_philox_known_answers() {
  // Known-answer vectors of the Random123 distribution for philox4x32_10.
  auto r = planner::philox4x32_10(0, 0, 0, 0, 0, 0);
  check(r.v[0] == 0x6627e8d5u && r.v[1] == 0xe169c58du && r.v[2] == 0xbc57ac4cu && r.v[3] == 0x9b00dbd8u,
        "philox zero vector");
  r = planner::philox4x32_10(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu);
  check(r.v[0] == 0x408f276du && r.v[1] == 0x41c83b0eu && r.v[2] == 0xa20bc7c6u && r.v[3] == 0x6d5451fdu,
        "philox ones vector");
  r = planner::philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  check(r.v[0] == 0xd16cfe09u && r.v[1] == 0x94fdccebu && r.v[2] == 0x5001e420u && r.v[3] == 0x24126ea1u,
        "philox pi vector");
}

void test_normal_stream_is_chunk_independent() {
  planner::NormalStream st{42, 3, 1, 9};
  std::vector<float> whole(1001), parts(1001);
  planner::fill_normal(st, 5, whole.size(), whole.data());
  planner::fill_normal(st, 5, 3, parts.data());
  planner::fill_normal(st, 8, 500, parts.data() + 3);
  planner::fill_normal(st, 508, 498, parts.data() + 503);
  check(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)) == 0, "normal stream chunking");
  double mean = 0, var = 0;
  std::vector<float> big(200000);
  planner::fill_normal(st, 0, big.size(), big.data());
  for (float v : big) mean += v;
  mean /= static_cast<double>(big.size());
  for (float v : big) var += (v - mean) * (v - mean);
  var /= static_cast<double>(big.size());
  check(std::fabs(mean) < 0.01 && std::fabs(var - 1.0) < 0.02, "normal moments");
}

void test_fastmath() {
  double worst = 0;
  for (int i = -20000; i <= 20000; ++i) {
    const float x = static_cast<float>(i) * 1e-3f;
    worst = std::fmax(worst, std::fabs(planner::fm::sin(x) - std::sin(static_cast<double>(x))));
    worst = std::fmax(worst, std::fabs(planner::fm::cos(x) - std::cos(static_cast<double>(x))));
  }
  check(worst < 2e-6, "sin/cos accuracy");
  worst = 0;
  for (int i = 1; i < 100000; ++i) {
    const float x = static_cast<float>(i) * 1e-5f;
    worst = std::fmax(worst, std::fabs(planner::fm::log(x) - std::log(static_cast<double>(x))) /
                                 std::fmax(1.0, std::fabs(std::log(static_cast<double>(x)))));
  }
  check(worst < 1e-6, "log accuracy");
}

planner::OptimizerConfig config(const char* name) {
  planner::OptimizerConfig c;
  c.name = name;
  c.samples = 300;
  c.horizon = 12;
  c.iterations = 3;
  c.elites = 20;
  c.seed = 11;
  return c;
}

void test_thread_count_determinism() {
  for (const char* name : {"cem", "icem", "mppi"}) {
    for (const char* scorer : {"pendulum", "cartpole", "point_mass", "diff_drive"}) {
      auto s = planner::make_scorer(scorer);
      planner::Planner p1(config(name), s, {2, 1, 1});
      planner::Planner p2(config(name), s, {2, 2, 1});
      std::vector<float> state(2 * s->state_dim(), 0.3f);
      bool same = true, inside = true;
      for (int step = 0; step < 4; ++step) {
        const auto& a = p1.plan(state.data());
        std::vector<float> plan1(a.plan, a.plan + 2 * 12 * s->action_dim());
        const auto& b = p2.plan(state.data());
        same = same && std::memcmp(plan1.data(), b.plan, plan1.size() * sizeof(float)) == 0;
        for (std::size_t j = 0; j < plan1.size(); ++j) {
          const int d = static_cast<int>(j % s->action_dim());
          inside = inside && plan1[j] >= p1.optimizer().lower()[d] && plan1[j] <= p1.optimizer().upper()[d];
        }
      }
      check(same, std::string("bit-identical plans with 1 and 2 threads: ") + name + "/" + scorer);
      check(inside, std::string("plan inside the box: ") + name + "/" + scorer);
    }
  }
}

void test_bad_inputs() {
  auto s = planner::make_scorer("pendulum");
  check_throws<planner::ValueError>([&] { planner::make_scorer("nope"); }, "unknown scorer");
  check_throws<planner::ValueError>([&] { planner::make_scorer("pendulum", {{"mass", 1.0}}); }, "unknown param");
  auto c = config("cem");
  c.samples = 0;
  check_throws<planner::ValueError>([&] { planner::Planner(c, s); }, "N = 0");
  c = config("cem");
  c.horizon = 0;
  check_throws<planner::ValueError>([&] { planner::Planner(c, s); }, "H = 0");
  c = config("mppi");
  c.lower = {1.0f};
  c.upper = {-1.0f};
  check_throws<planner::ValueError>([&] { planner::Planner(c, s); }, "lower above upper");
  c = config("sgd");
  check_throws<planner::ValueError>([&] { planner::Planner(c, s); }, "unknown optimizer");
  planner::Planner p(config("mppi"), s, {1, 1, 1});
  const float bad[2] = {NAN, 0.0f};
  check_throws<planner::ValueError>([&] { p.plan(bad); }, "NaN state");
  const float good[2] = {0.1f, 0.0f};
  check(std::isfinite(p.plan(good).action[0]), "usable after a bad call");
}

void test_plan_allocates_nothing_after_first_call() {
  for (const char* name : {"cem", "icem", "mppi"}) {
    auto c = config(name);
    c.samples = 2000;  // large enough to use the thread pool
    planner::Planner p(c, planner::make_scorer("point_mass"), {3, 2, 1});
    std::vector<float> state(3 * 4, 0.1f), cand(3 * 2 * 12 * 2, 0.0f);
    p.plan(state.data(), nullptr, cand.data(), 2);  // first call may size the candidate buffer
    const long before = g_allocations.load();
    for (int i = 0; i < 5; ++i) {
      p.plan(state.data(), nullptr, cand.data(), 2);
      p.plan(state.data());
    }
    const long after = g_allocations.load();  // read before building the message below
    check(after == before, std::string("no allocation in plan(): ") + name);
  }
}

void test_all_nonfinite_falls_back() {
  int calls = 0;
  auto s = std::make_shared<planner::CallbackScorer>(
      1, 1,
      [&](const float*, const float*, int rows, int, float* ret) {
        ++calls;
        for (int i = 0; i < rows; ++i) ret[i] = NAN;
      },
      std::vector<float>{-1.0f}, std::vector<float>{1.0f});
  auto c = config("cem");
  c.init_mean = {0.25f};
  planner::Planner p(c, s, {1, 1, 0});
  const float state[1] = {0.0f};
  const auto& r = p.plan(state);
  check(calls > 0 && r.fallback[0] == 1 && r.action[0] == 0.25f, "all non-finite returns keep the previous plan");
}

// A tiny model file (S=A=Z=1, one linear layer per network) as raw bytes.
std::vector<std::uint8_t> tiny_model_file() {
  const std::string meta =
      R"({"format":"latent-planner/world-model","format_version":1,"obs_dim":1,"action_dim":1,"latent_dim":1,)"
      R"("context_dim":0,"ensemble":1,"discount":0.5,"action_low":[-1],"action_high":[1],"obs_shift":[0],)"
      R"("obs_scale":[1],"networks":{"encoder":{"inputs":["obs"],"layers":[{"in":1,"out":1,"weight":"e"}]},)"
      R"("dynamics":[{"inputs":["z","a"],"layers":[{"in":2,"out":1,"weight":"d"}]}],)"
      R"("reward":[{"inputs":["z","a"],"layers":[{"in":2,"out":1,"weight":"r"}]}]}})";
  std::string escaped;
  for (char c : meta) escaped += (c == '"') ? std::string("\\\"") : std::string(1, c);
  const std::string header = R"({"e":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},)"
                             R"("d":{"dtype":"F32","shape":[1,2],"data_offsets":[4,12]},)"
                             R"("r":{"dtype":"F32","shape":[1,2],"data_offsets":[12,20]},)"
                             R"("__metadata__":{"latent_planner":")" + escaped + "\"}}";
  std::vector<std::uint8_t> bytes(8);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(n >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  // e = 1 (z = obs); d = [1, 1] (z' = z + a); r = [1, 0] (r = z)
  const float w[5] = {1.0f, 1.0f, 1.0f, 1.0f, 0.0f};
  const auto* p = reinterpret_cast<const std::uint8_t*>(w);
  bytes.insert(bytes.end(), p, p + sizeof(w));
  return bytes;
}

void test_model_file_and_latent_scorer() {
  const auto bytes = tiny_model_file();
  auto model = planner::WorldModel::from_safetensors(planner::SafeTensors::parse(bytes, "tiny"));
  planner::LatentScorer scorer(model);
  // From obs 2 with actions (1, -1): z = 2, 3, 2; r = 2 + 0.5 * 3 = 3.5.
  const float obs = 2.0f, actions[2] = {1.0f, -1.0f};
  float ret = 0.0f;
  std::vector<float> scratch(scorer.scratch_floats(1, 2));
  scorer.score(&obs, nullptr, actions, 1, 2, &ret, scratch.data());
  check(std::fabs(ret - 3.5f) < 1e-6f, "latent scorer on a hand-made model");
  // Every truncation and a corrupted byte in the header are rejected, never crash.
  int rejected = 0;
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    try {
      planner::WorldModel::from_safetensors(
          planner::SafeTensors::parse(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + len), "cut"));
    } catch (const planner::ValueError&) {
      ++rejected;
    }
  }
  check(rejected == static_cast<int>(bytes.size()), "every truncated model file is rejected");
  int survived = 0;
  for (std::size_t i = 8; i < bytes.size() - 20; ++i) {
    auto bad = bytes;
    bad[i] = static_cast<std::uint8_t>(bad[i] ^ 0x5a);
    try {
      auto m = planner::WorldModel::from_safetensors(planner::SafeTensors::parse(bad, "flip"));
      ++survived;  // a flip inside a string value can still leave a valid file
    } catch (const planner::ValueError&) {
    }
  }
  check(survived < static_cast<int>(bytes.size()) / 4, "corrupted headers are rejected");

  // Planning with the model allocates nothing after the first call either.
  auto c = config("mppi");
  c.samples = 300;
  planner::Planner p(c, std::make_shared<planner::LatentScorer>(model), {2, 2, 1});
  const float states[2] = {0.5f, -0.5f};
  p.plan(states);
  const long before = g_allocations.load();
  for (int i = 0; i < 5; ++i) p.plan(states);
  const long after = g_allocations.load();
  check(after == before, "no allocation in plan() with the latent scorer");
}


// ---- context encoder (docs/MODEL_FORMAT.md, "Context encoder") ----

struct RawTensor {
  std::string name;
  std::vector<int> shape;
  std::vector<float> values;
};

// A model file from metadata JSON and tensors, offsets laid out in order. Built as one
// string and copied once (GCC 12 reports false -Warray-bounds on vector<uint8_t>::insert).
std::vector<std::uint8_t> model_file(const std::string& meta, const std::vector<RawTensor>& tensors) {
  std::string header = "{";
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    header += '"';
    header += t.name;
    header += "\":{\"dtype\":\"F32\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (i) header += ',';
      header += std::to_string(t.shape[i]);
    }
    const std::size_t end = offset + 4 * t.values.size();
    header += "],\"data_offsets\":[";
    header += std::to_string(offset);
    header += ',';
    header += std::to_string(end);
    header += "]},";
    offset = end;
  }
  header += R"("__metadata__":{"latent_planner":")";
  for (char c : meta) {
    if (c == '"') header += '\\';
    header += c;
  }
  header += "\"}}";
  std::string file;
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file += static_cast<char>(static_cast<std::uint8_t>(n >> (8 * i)));
  file += header;
  for (const auto& t : tensors) file.append(reinterpret_cast<const char*>(t.values.data()), 4 * t.values.size());
  return std::vector<std::uint8_t>(file.begin(), file.end());
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const std::size_t at = s.find(from);
  if (at == std::string::npos) {
    std::printf("test bug: '%s' not in the metadata\n", from.c_str());
    std::abort();
  }
  return s.replace(at, from.size(), to);
}

// S=A=Z=C=1, obs_scale 2, action box [-1, 1] (a_n = a), K=2. embed: x = [s/2, a, (s'-s)/2]
// -> e = [s/2, a + (s'-s)/2]; head [[1, 1], [1, -1]] -> mu = p0 + p1, log-variance p0 - p1.
const char* kContextMeta =
    R"({"format":"latent-planner/world-model","format_version":1,"obs_dim":1,"action_dim":1,"latent_dim":1,)"
    R"("context_dim":1,"ensemble":1,"discount":0.5,"action_low":[-1],"action_high":[1],"obs_shift":[0],)"
    R"("obs_scale":[2],"networks":{"encoder":{"inputs":["obs"],"layers":[{"in":1,"out":1,"weight":"e"}]},)"
    R"("dynamics":[{"inputs":["z","a","c"],"layers":[{"in":3,"out":1,"weight":"d"}]}],)"
    R"("reward":[{"inputs":["z","a","c"],"layers":[{"in":3,"out":1,"weight":"r"}]}],)"
    R"("context_encoder":{"history":2,"pool":"mean",)"
    R"("embed":{"layers":[{"in":3,"out":2,"weight":"ce","bias":"cb","act":"none"}]},)"
    R"("head":{"layers":[{"in":2,"out":2,"weight":"ch"}]}}}})";

std::vector<RawTensor> context_tensors() {
  return {{"e", {1, 1}, {1.0f}},
          {"d", {1, 3}, {1.0f, 1.0f, 0.0f}},
          {"r", {1, 3}, {1.0f, 0.0f, 1.0f}},
          {"ce", {2, 3}, {1.0f, 0.0f, 0.0f, 0.0f, 1.0f, 1.0f}},
          {"cb", {2}, {0.0f, 0.0f}},
          {"ch", {2, 2}, {1.0f, 1.0f, 1.0f, -1.0f}}};
}

void test_context_encoder() {
  const auto bytes = model_file(kContextMeta, context_tensors());
  auto model = planner::WorldModel::from_safetensors(planner::SafeTensors::parse(bytes, "ctx"));
  check(model->has_context_encoder && model->history == 2 && model->context_embed.out_dim() == 2 &&
            model->context_head.out_dim() == 2,
        "context encoder loaded");
  planner::ContextEncoder enc(model);
  check(enc.history() == 2 && enc.context_dim() == 1, "context encoder dims");
  // b=0: (2, 0.5, 4) and (0, -1, 0): e = [1, 1.5], [0, -1]; p = [0.5, 0.25]; mu = 0.75.
  // b=1: padding (NaN, never read), then (-2, 1, -4): e = [-1, 0]; mu = -1.
  // b=2: nothing valid: p = 0, mu = 0.
  const float obs[6] = {2.0f, 0.0f, NAN, -2.0f, 5.0f, 6.0f};
  const float act[6] = {0.5f, -1.0f, NAN, 1.0f, 0.3f, 0.1f};
  const float next[6] = {4.0f, 0.0f, NAN, -4.0f, 1.0f, 2.0f};
  const unsigned char mask[6] = {1, 1, 0, 1, 0, 0};
  std::vector<float> scratch(enc.scratch_floats(3), NAN);
  float mu[3] = {NAN, NAN, NAN};
  const long before = g_allocations.load();
  enc.infer(obs, act, next, mask, 3, mu, scratch.data());
  const long after = g_allocations.load();
  check(std::fabs(mu[0] - 0.75f) < 1e-6f && std::fabs(mu[1] + 1.0f) < 1e-6f && mu[2] == 0.0f,
        "context encoder on a hand-made model");
  check(after == before, "no allocation in ContextEncoder::infer()");
  float mu1 = NAN;
  enc.infer(obs + 2, act + 2, next + 2, mask + 2, 1, &mu1, scratch.data());
  check(mu1 == mu[1], "a window alone gives the batch's answer");
  enc.infer(obs, act, next, mask, 0, mu, scratch.data());  // an empty batch is a no-op
  check_throws<planner::ValueError>([&] { enc.infer(obs, act, next, mask, -1, mu, scratch.data()); },
                                    "negative context batch");
  check_throws<planner::ValueError>([&] { planner::ContextEncoder e(nullptr); }, "ContextEncoder of null");

  // The planning networks of a file with an encoder are the same as without one.
  planner::LatentScorer scorer(model);
  const float ctx = 0.5f, actions[2] = {1.0f, -1.0f}, o = 2.0f;
  float ret = 0.0f;
  std::vector<float> ls(scorer.scratch_floats(1, 2));
  scorer.score(&o, &ctx, actions, 1, 2, &ret, ls.data());
  // obs_n = 1: z = 1, 2, 1; r = z + c: 1.5 + 0.5 * 2.5 = 2.75
  check(std::fabs(ret - 2.75f) < 1e-6f, "latent scorer with a context encoder in the file");


  // Every truncation is rejected, never a crash (the encoder's tensors are the last bytes).
  int rejected = 0;
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    try {
      planner::WorldModel::from_safetensors(
          planner::SafeTensors::parse(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + len), "cut"));
    } catch (const planner::ValueError&) {
      ++rejected;
    }
  }
  check(rejected == static_cast<int>(bytes.size()), "every truncated model file with a context encoder is rejected");
  int survived = 0;
  for (std::size_t i = 8; i < bytes.size() - 4 * 15; ++i) {
    auto bad = bytes;
    bad[i] = static_cast<std::uint8_t>(bad[i] ^ 0x5a);
    try {
      auto m = planner::WorldModel::from_safetensors(planner::SafeTensors::parse(bad, "flip"));
      ++survived;
    } catch (const planner::ValueError&) {
    }
  }
  check(survived < static_cast<int>(bytes.size()) / 4, "corrupted headers with a context encoder are rejected");

  // Validation: each broken file is refused with a message naming the problem.
  auto rejects = [&](const std::string& meta, const std::vector<RawTensor>& tensors, const std::string& needle,
                     const std::string& what) {
    try {
      planner::WorldModel::from_safetensors(planner::SafeTensors::parse(model_file(meta, tensors), "bad"));
      check(false, what + " (loaded)");
    } catch (const planner::ValueError& e) {
      const bool ok = std::string(e.what()).find(needle) != std::string::npos;
      if (!ok) std::printf("  message: %s\n", e.what());
      check(ok, what);
    }
  };
  const std::string M = kContextMeta;
  const auto T = context_tensors();
  rejects(replaced(M, R"("history":2)", R"("history":0)"), T, "history must be in [1, ", "history 0");
  rejects(replaced(M, R"("history":2)", R"("history":-1)"), T, "history must be in [1, ", "negative history");
  rejects(replaced(M, R"("history":2)", R"("history":"2")"), T, "history: expected a number", "string history");
  rejects(replaced(M, R"("history":2,)", ""), T, "missing key 'history'", "missing history");
  rejects(replaced(M, R"("pool":"mean")", R"("pool":"max")"), T, "unknown pooling 'max'", "max pooling");
  rejects(replaced(M, R"("pool":"mean")", R"("pool":"mean","extra":1)"), T, "unknown key 'extra'",
          "unknown key in context_encoder");
  rejects(replaced(M, R"("embed":{"layers")", R"("embed":{"act":"relu","layers")"), T, "embed: unknown key 'act'",
          "unknown key in embed");
  rejects(replaced(M, R"("head":{"layers")", R"("head":{"inputs":["z"],"layers")"), T, "head.inputs: must be empty",
          "inputs of the head");
  rejects(replaced(M, R"("act":"none"})", R"("act":"gelu"})"), T, "unknown activation 'gelu'", "embed activation");
  rejects(replaced(M, R"("head":{"layers":[{"in":2,"out":2,"weight":"ch"}]})", R"("head":{"layers":[]})"), T,
          "head.layers: needs at least one layer", "empty head");
  // head mapping to 3 != 2C
  auto T3 = T;
  T3[5] = {"ch", {3, 2}, {1, 1, 1, -1, 0, 0}};
  rejects(replaced(M, R"({"in":2,"out":2,"weight":"ch"})", R"({"in":2,"out":3,"weight":"ch"})"), T3,
          "head: outputs 3 values, expected 2C = 2", "head width");
  // embed taking 4 != 2S+A = 3
  auto T4 = T;
  T4[3] = {"ce", {2, 4}, {1, 0, 0, 0, 0, 1, 1, 0}};
  rejects(replaced(M, R"({"in":3,"out":2,"weight":"ce")", R"({"in":4,"out":2,"weight":"ce")"), T4,
          "embed: takes 4 inputs, expected 2S + A = 3", "embed input width");
  // head taking 3 while embed gives E = 2
  auto T5 = T;
  T5[5] = {"ch", {2, 3}, {1, 1, 0, 1, -1, 0}};
  rejects(replaced(M, R"({"in":2,"out":2,"weight":"ch"})", R"({"in":3,"out":2,"weight":"ch"})"), T5,
          "head: takes 3 inputs but embed outputs E = 2", "chain embed -> head");
  auto T6 = T;
  T6[4].values[1] = NAN;
  rejects(M, T6, "embed.layers[0]: non-finite parameter", "non-finite embed bias");
  auto T7 = T;
  T7[5] = {"ch", {2, 1}, {1, 1}};
  rejects(M, T7, "has shape [2, 1]", "head weight shape");
  auto T8 = T;
  T8[4].name = "cb2";
  rejects(M, T8, "'cb', which is not in the file", "missing embed bias tensor");
  // C = 0 with an encoder: the planning networks take [z, a] then.
  auto T0 = T;
  T0[1] = {"d", {1, 2}, {1, 1}};
  T0[2] = {"r", {1, 2}, {1, 0}};
  std::string M0 = replaced(M, R"("context_dim":1)", R"("context_dim":0)");
  M0 = replaced(M0, R"({"in":3,"out":1,"weight":"d"})", R"({"in":2,"out":1,"weight":"d"})");
  M0 = replaced(M0, R"({"in":3,"out":1,"weight":"r"})", R"({"in":2,"out":1,"weight":"r"})");
  rejects(M0, T0, "context_dim = 0; a context encoder needs C > 0", "context encoder without a context");
  // ...and the same file without the encoder loads.
  std::string M0n = replaced(M0, R"(,"context_encoder":{"history":2,"pool":"mean",)", R"(,"unused":{)");
  try {
    auto m0 = planner::WorldModel::from_safetensors(planner::SafeTensors::parse(model_file(M0n, T0), "c0"));
    // A model without an encoder: none, history 0, and ContextEncoder refuses it.
    check(!m0->has_context_encoder && m0->history == 0, "C = 0 model without an encoder loads");
    check_throws<planner::ValueError>([&] { planner::ContextEncoder e(m0); }, "ContextEncoder needs an encoder");
  } catch (const planner::ValueError& e) {
    check(false, std::string("C = 0 model without an encoder loads: ") + e.what());
  }
}

}  // namespace

int main() {
  test_philox_known_answers();
  test_normal_stream_is_chunk_independent();
  test_fastmath();
  test_thread_count_determinism();
  test_bad_inputs();
  test_all_nonfinite_falls_back();
  test_plan_allocates_nothing_after_first_call();
  test_model_file_and_latent_scorer();
  test_context_encoder();
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
