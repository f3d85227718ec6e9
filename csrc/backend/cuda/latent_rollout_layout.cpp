#include "backend/cuda/latent_rollout_layout.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "planner/common/errors.h"

namespace planner::gpu::lr {

std::uint16_t to_bf16(float x) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

float bf16_to_float(std::uint16_t h) { return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16); }

float to_tf32(float x) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf, NaN
  return std::bit_cast<float>((u + 0x1000u) & 0xffffe000u);
}

namespace {

int act_code(Activation a) {
  switch (a) {
    case Activation::kNone: return kActNone;
    case Activation::kReLU: return kActReLU;
    case Activation::kELU: return kActELU;
    case Activation::kMish: return kActMish;
    case Activation::kTanh: return kActTanh;
    case Activation::kSimNorm: return kActSimNorm;
  }
  return kActNone;
}

int layer_gran(const Layer& L) { return L.act == Activation::kSimNorm ? std::lcm(kBlock, L.simnorm_dim) : kBlock; }

class Packer {
 public:
  Packer(const WorldModel& m, Prec p) : m_(m) { pm_.prec = p; }

  // Appends n values (zero-padded to n_pad, offset aligned to 4 floats) to the float blob.
  int add_floats(const float* v, int n, int n_pad) {
    const int off = static_cast<int>(pm_.floats.size());
    for (int i = 0; i < n_pad; ++i) pm_.floats.push_back(i < n && v ? v[i] : 0.0f);
    while (pm_.floats.size() % 4) pm_.floats.push_back(0.0f);
    return off;
  }

  // Adds one layer. col_of[i] is the packed input column of the file's input i.
  void add_layer(const Layer& L, const std::vector<int>& col_of, int k_pad, int gran) {
    LayerDesc d;
    d.k_pad = k_pad;
    d.n = L.out;
    d.n_pad = pad16(L.out);
    d.gran = gran;
    d.act = act_code(L.act);
    d.simnorm = L.simnorm_dim;
    d.ln = L.layer_norm ? 1 : 0;
    d.eps = L.eps;
    d.bias = add_floats(L.bias.data(), L.out, d.n_pad);
    if (L.layer_norm) {
      d.gamma = add_floats(L.norm_weight.data(), L.out, d.n_pad);
      d.beta = add_floats(L.norm_bias.data(), L.out, d.n_pad);
    }
    // Dense [n_pad, k_pad] in canonical column order, then blocked.
    const std::size_t np = static_cast<std::size_t>(d.n_pad), kp = static_cast<std::size_t>(k_pad);
    std::vector<float> dense(np * kp, 0.0f);
    for (int o = 0; o < L.out; ++o)
      for (int i = 0; i < L.in; ++i)
        dense[static_cast<std::size_t>(o) * kp + static_cast<std::size_t>(col_of[static_cast<std::size_t>(i)])] =
            L.weight[static_cast<std::size_t>(o) * static_cast<std::size_t>(L.in) + static_cast<std::size_t>(i)];
    const bool half = pm_.prec == Prec::kBF16;
    const std::size_t base = half ? pm_.w16.size() : pm_.w32.size();
    d.w = static_cast<long long>(base);
    const std::size_t total = np * kp;
    if (half) pm_.w16.resize(base + total); else pm_.w32.resize(base + total);
    const int nk = k_pad / kBlock;
    auto W = [&](int n, int k) { return dense[static_cast<std::size_t>(n) * kp + static_cast<std::size_t>(k)]; };
    for (int cb = 0; cb < d.n_pad / kBlock; ++cb)
      for (int kc = 0; kc < nk; ++kc) {
        const std::size_t blk = base + (static_cast<std::size_t>(cb) * static_cast<std::size_t>(nk) +
                                        static_cast<std::size_t>(kc)) * kBlockElems;
        const int n0 = cb * kBlock, k0 = kc * kBlock;
        switch (pm_.prec) {
          case Prec::kF32:
            // [k4 step s][column pair cg][column j][k], lane (rg, cg) reads 8 floats per step.
            for (int s = 0; s < 4; ++s)
              for (int cg = 0; cg < 8; ++cg)
                for (int j = 0; j < 2; ++j)
                  for (int kk = 0; kk < 4; ++kk)
                    pm_.w32[blk + static_cast<std::size_t>(s * 64 + cg * 8 + j * 4 + kk)] =
                        W(n0 + cg * 2 + j, k0 + s * 4 + kk);
            break;
          case Prec::kTF32:
            // [lane][n-tile][k8 half][b0, b1]: the m16n8k8 B fragment (k = t, t + 4; n = g).
            for (int lane = 0; lane < 32; ++lane)
              for (int nt = 0; nt < 2; ++nt)
                for (int h = 0; h < 2; ++h)
                  for (int i = 0; i < 2; ++i)
                    pm_.w32[blk + static_cast<std::size_t>(lane * 8 + nt * 4 + h * 2 + i)] =
                        to_tf32(W(n0 + nt * 8 + (lane >> 2), k0 + h * 8 + (lane & 3) + 4 * i));
            break;
          case Prec::kBF16:
            // [lane][n-tile][k 2t, 2t+1, 2t+8, 2t+9]: the m16n8k16 B fragment, two b32 registers.
            for (int lane = 0; lane < 32; ++lane)
              for (int nt = 0; nt < 2; ++nt)
                for (int e = 0; e < 4; ++e)
                  pm_.w16[blk + static_cast<std::size_t>(lane * 8 + nt * 4 + e)] =
                      to_bf16(W(n0 + nt * 8 + (lane >> 2), k0 + (e >> 1) * 8 + 2 * (lane & 3) + (e & 1)));
            break;
        }
      }
    pm_.layers.push_back(d);
  }

  // Adds a network; step networks read the canonical X, the encoder the normalized obs.
  void add_network(const Network& net, bool step, int last_gran, double* macs, double* wbytes, int* nlayers) {
    NetDesc nd;
    nd.first = static_cast<int>(pm_.layers.size());
    nd.count = static_cast<int>(net.mlp.layers.size());
    const int Z = m_.latent_dim, A = m_.action_dim;
    const double elem = pm_.prec == Prec::kBF16 ? 2.0 : 4.0;
    for (std::size_t l = 0; l < net.mlp.layers.size(); ++l) {
      const Layer& L = net.mlp.layers[l];
      std::vector<int> col_of(static_cast<std::size_t>(L.in));
      int k_pad = pad16(L.in);
      if (l == 0 && step) {
        // The file's concatenation order -> canonical [z | a | c].
        int at = 0;
        for (Input in : net.inputs) {
          const int canon = in == Input::kZ ? 0 : in == Input::kA ? Z : Z + A;
          const int width = in == Input::kZ ? Z : in == Input::kA ? A : m_.context_dim;
          require(in != Input::kObs, "latent rollout: a step network may not read obs");
          for (int i = 0; i < width; ++i) col_of[static_cast<std::size_t>(at + i)] = canon + i;
          at += width;
        }
        k_pad = pm_.Kx;
      } else {
        std::iota(col_of.begin(), col_of.end(), 0);
      }
      const bool last = l + 1 == net.mlp.layers.size();
      add_layer(L, col_of, k_pad, last && last_gran > 0 ? last_gran : layer_gran(L));
      if (!last) pm_.Hw = std::max(pm_.Hw, pad16(L.out));
      *macs += static_cast<double>(pad16(L.out)) * k_pad;
      *wbytes += static_cast<double>(pad16(L.out)) * k_pad * elem;
      ++*nlayers;
    }
    pm_.nets.push_back(nd);
  }

  PackedModel run() {
    const WorldModel& m = m_;
    pm_.S = m.obs_dim;
    pm_.A = m.action_dim;
    pm_.Z = m.latent_dim;
    pm_.C = m.context_dim;
    pm_.M = m.ensemble;
    pm_.Kx = pad16(m.latent_dim + m.action_dim + m.context_dim);
    pm_.Hw = pad16(m.obs_dim);
    pm_.has_value = m.has_value;
    pm_.discount = m.discount;
    pm_.reward_scale = m.reward_scale;
    pm_.reward_shift = m.reward_shift;
    pm_.value_scale = m.value_scale;
    pm_.value_shift = m.value_shift;
    require(static_cast<int>(m.dynamics.size()) == m.ensemble && static_cast<int>(m.reward.size()) == m.ensemble,
            "latent rollout: the model needs ensemble dynamics and reward heads");
    pm_.obs_shift = add_floats(m.obs_shift.data(), m.obs_dim, m.obs_dim);
    pm_.obs_scale = add_floats(m.obs_scale.data(), m.obs_dim, m.obs_dim);
    // The CPU scorer's action map, computed the same way in float.
    std::vector<float> a_scale, a_shift;
    for (int a = 0; a < m.action_dim; ++a) {
      const float lo = m.action_low[static_cast<std::size_t>(a)], hi = m.action_high[static_cast<std::size_t>(a)];
      a_scale.push_back(2.0f / (hi - lo));
      a_shift.push_back(-2.0f * lo / (hi - lo) - 1.0f);
    }
    pm_.a_scale = add_floats(a_scale.data(), m.action_dim, m.action_dim);
    pm_.a_shift = add_floats(a_shift.data(), m.action_dim, m.action_dim);
    // Every dynamics head's last layer uses one granule so that the per-CTA ensemble
    // sums of the next latent line up column for column.
    int zgran = kBlock;
    for (const auto& d : m.dynamics) zgran = std::lcm(zgran, layer_gran(d.mlp.layers.back()));
    double enc_m = 0, enc_w = 0, val_m = 0, val_w = 0, step_m = 0, step_w = 0;
    int enc_l = 0, val_l = 0, step_l = 0;
    add_network(m.encoder, false, 0, &enc_m, &enc_w, &enc_l);
    for (const auto& r : m.reward) add_network(r, true, 0, &step_m, &step_w, &step_l);
    for (const auto& d : m.dynamics) add_network(d, true, zgran, &step_m, &step_w, &step_l);
    if (m.has_value) add_network(m.value, true, 0, &val_m, &val_w, &val_l);
    pm_.step_macs = step_m;
    pm_.step_weight_bytes = step_w;
    pm_.step_layers = step_l;
    pm_.value_macs = val_m;
    pm_.value_weight_bytes = val_w;
    pm_.value_layers = val_l;
    pm_.encoder_macs = enc_m;
    pm_.encoder_weight_bytes = enc_w;
    pm_.encoder_layers = enc_l;
    return std::move(pm_);
  }

 private:
  const WorldModel& m_;
  PackedModel pm_;
};

int align16(std::size_t x) { return static_cast<int>((x + 15) / 16 * 16); }

}  // namespace

PackedModel pack_model(const WorldModel& model, Prec p) { return Packer(model, p).run(); }

SmemPlan plan_smem(const PackedModel& pm, int rows, int cluster, bool spread) {
  SmemPlan s;
  s.rows = rows;
  s.cluster = cluster;
  const bool half = pm.prec == Prec::kBF16;
  // Row strides chosen for conflict-free fragment loads: 4 x odd words (see the kernel).
  s.sx = pm.Kx + (half ? 8 : 4);
  s.sh = pm.Hw + (half ? 8 : 4);
  int ns_max = kBlock;
  for (const auto& L : pm.layers) ns_max = std::max(ns_max, slice_width(L.n_pad, L.gran, cluster));
  s.ss = ns_max + 8;
  const LayerDesc& zl = pm.layers[static_cast<std::size_t>(pm.nets[static_cast<std::size_t>(net_dynamics(pm.M, 0))].first +
                                                            pm.nets[static_cast<std::size_t>(net_dynamics(pm.M, 0))].count - 1)];
  s.sz = slice_width(zl.n_pad, zl.gran, cluster);
  const std::size_t es = half ? 2 : 4, R = static_cast<std::size_t>(rows);
  std::size_t at = 0;
  auto take = [&](std::size_t bytes) {
    const int off = align16(at);
    at = static_cast<std::size_t>(off) + bytes;
    return off;
  };
  s.off_x = take(R * static_cast<std::size_t>(s.sx) * es);
  s.off_h = take(R * static_cast<std::size_t>(s.sh) * es);
  s.off_scr = take(R * static_cast<std::size_t>(s.ss) * 4);
  s.off_zacc = take(pm.M > 1 ? R * static_cast<std::size_t>(s.sz) * 4 : 0);
  s.off_zsq = take(pm.M > 1 && spread ? R * static_cast<std::size_t>(s.sz) * 4 : 0);
  s.off_stats = take(static_cast<std::size_t>(cluster) * R * 8);
  s.off_pen = take(R * 4);
  s.off_penall = take(static_cast<std::size_t>(cluster) * R * 4);
  s.off_rsum = take(R * 4);
  s.off_ret = take(R * 4);
  s.off_val = take(R * 4);
  s.off_layers = take(pm.layers.size() * sizeof(LayerDesc));
  s.off_nets = take(pm.nets.size() * sizeof(NetDesc));
  s.bytes = static_cast<std::size_t>(align16(at));
  return s;
}

}  // namespace planner::gpu::lr
