// The weights of one transformer block, under llama.cpp's tensor names (blk.N.<name>.weight).
#pragma once

#include <vector>

#include "model/linear.h"

namespace tmac {

struct LayerWeights {
  std::vector<float> attn_norm;      // attn_norm
  Linear wq, wk, wv, wo;             // attn_q, attn_k, attn_v, attn_output
  std::vector<float> attn_sub_norm;  // attn_sub_norm (BitNet), else empty
  std::vector<float> ffn_norm;       // ffn_norm
  Linear w_gate, w_up, w_down;       // ffn_gate, ffn_up, ffn_down
  std::vector<float> ffn_sub_norm;   // ffn_sub_norm (BitNet), else empty
};

}  // namespace tmac
