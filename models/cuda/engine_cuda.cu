// CUDA backend of the engine: fp16 weights (read in place when the loader put them on this GPU), fp16
// activations between kernels, an fp32 residual stream, fp32 accumulation everywhere.
//   linear layers: the engine's own GEMV kernel for 1-2 token rows (decode is bound by reading the
//                  weights once), cuBLAS GEMMs (tensor cores) above, row counts padded to warmed-up buckets;
//   attention:     an own kernel over the KV cache for decode and short chunks, the keys split over up to
//                  8 blocks per (token, head); for long chunks (prefill, migration recompute) two cuBLAS
//                  batched GEMMs around an own causal softmax kernel;
//   own kernels:   embeddings, LayerNorm/RMSNorm fused with the residual add, bias + RoPE + KV-cache write,
//                  bias + ReLU, SwiGLU, argmax.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine_internal.h"
#include "gpu.h"
#include "sllm/core/error.h"

namespace sllm::models {
namespace {

void check_cuda(cudaError_t e, const char* what, int line) {
  if (e != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + " (engine_cuda.cu:" + std::to_string(line) +
                             "): " + cudaGetErrorString(e));
  }
}
void check_blas(cublasStatus_t s, const char* what, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuBLAS error ") + std::to_string(static_cast<int>(s)) + " in " + what +
                             " (engine_cuda.cu:" + std::to_string(line) + ")");
  }
}
#define CUDA_CHECK(expr) check_cuda((expr), #expr, __LINE__)
#define BLAS_CHECK(expr) check_blas((expr), #expr, __LINE__)
#define LAUNCH_CHECK() check_cuda(cudaGetLastError(), "kernel launch", __LINE__)

// ---- kernels -------------------------------------------------------------------------------------------

// Programmatic dependent launch (decode-step graphs): a kernel may start while the previous one still
// runs. Each kernel calls pdl_wait() before touching memory that earlier kernels write or read (it returns
// once the previous kernel has completed and its writes are visible; only constant weights are read
// before it), and pdl_launch_next() to let the next kernel start early. Both are no-ops for a kernel
// launched without the attribute.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_next() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffU, v, o);
  return v;
}
__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, o));
  return v;
}
// Every thread gets the block's total; `scratch` holds 32 floats. blockDim.x is a multiple of 32.
__device__ float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = static_cast<int>(threadIdx.x & 31) < static_cast<int>(blockDim.x >> 5) ? scratch[threadIdx.x & 31] : 0.0f;
  return warp_sum(v);
}
__device__ float block_max(float v, float* scratch) {
  v = warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = static_cast<int>(threadIdx.x & 31) < static_cast<int>(blockDim.x >> 5) ? scratch[threadIdx.x & 31] : -INFINITY;
  return warp_max(v);
}

__global__ void embed_kernel(const int* tokens, const int* positions, const half* embed, const half* pos_embed,
                             int pos_offset, float* x, int hidden) {
  pdl_launch_next();
  pdl_wait();
  const int r = blockIdx.x;
  const half* e = embed + static_cast<size_t>(tokens[r]) * hidden;
  const half* p = pos_embed ? pos_embed + static_cast<size_t>(positions[r] + pos_offset) * hidden : nullptr;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = __half2float(e[i]);
    if (p) v += __half2float(p[i]);
    x[static_cast<size_t>(r) * hidden + i] = v;
  }
}

constexpr int kNormThreads = 1024;  // decode normalises one row: one block must keep many loads in flight

constexpr int kNormCached = 4;  // elements per thread whose constant parameters are read ahead

// x += add (+ add_bias) when add is given; out = norm(x) (LayerNorm with bias, or RMSNorm when norm_b is
// null and rms is set). One block per row; the row is staged in shared memory. The parameters of each
// thread's first kNormCached elements (constants) are read before waiting for the previous kernel, so
// that only the row itself is on the critical path.
__global__ void add_norm_kernel(float* x, const half* add, const half* add_bias, const half* norm_w,
                                const half* norm_b, half* out, int hidden, float eps, int rms) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  float w_c[kNormCached], b_c[kNormCached], add_b_c[kNormCached];
#pragma unroll
  for (int k = 0; k < kNormCached; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    const bool in = i < hidden;
    w_c[k] = in ? __half2float(norm_w[i]) : 0.0f;
    b_c[k] = in && norm_b ? __half2float(norm_b[i]) : 0.0f;
    add_b_c[k] = in && add_bias ? __half2float(add_bias[i]) : 0.0f;
  }
  pdl_launch_next();
  pdl_wait();
  const size_t base = static_cast<size_t>(blockIdx.x) * hidden;
  const int cached_end = kNormCached * blockDim.x;
  auto load = [&](int i, float bias) {
    float v = x[base + i];
    if (add) {
      v += __half2float(add[base + i]) + bias;
      x[base + i] = v;
    }
    row[i] = v;
    return v;
  };
  float sum = 0;
#pragma unroll
  for (int k = 0; k < kNormCached; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < hidden) sum += load(i, add_b_c[k]);
  }
  for (int i = threadIdx.x + cached_end; i < hidden; i += blockDim.x) {
    sum += load(i, add_bias ? __half2float(add_bias[i]) : 0.0f);
  }
  const float mean = rms ? 0.0f : block_sum(sum, scratch) / hidden;
  float sq = 0;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) sq += (row[i] - mean) * (row[i] - mean);
  const float inv = rsqrtf(block_sum(sq, scratch) / hidden + eps);
#pragma unroll
  for (int k = 0; k < kNormCached; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < hidden) out[base + i] = __float2half((row[i] - mean) * inv * w_c[k] + b_c[k]);
  }
  for (int i = threadIdx.x + cached_end; i < hidden; i += blockDim.x) {
    float y = (row[i] - mean) * inv * __half2float(norm_w[i]);
    if (norm_b) y += __half2float(norm_b[i]);
    out[base + i] = __float2half(y);
  }
}

// Adds the q/k/v biases (OPT) or rotates q and k (RoPE, LLaMA), then writes k and v into the KV cache at
// the token's slot and position. q is updated in place.
__global__ void qkv_post_kernel(half* q, const half* k, const half* v, const half* bq, const half* bk, const half* bv,
                                const int* slots, const int* positions, half* cache_k, half* cache_v,
                                size_t slot_stride, int q_dim, int kv_dim, int head_dim, const double* inv_freq) {
  pdl_launch_next();
  pdl_wait();
  const int r = blockIdx.x, pos = positions[r], half_d = head_dim / 2;
  half* kc = cache_k + static_cast<size_t>(slots[r]) * slot_stride + static_cast<size_t>(pos) * kv_dim;
  half* vc = cache_v + static_cast<size_t>(slots[r]) * slot_stride + static_cast<size_t>(pos) * kv_dim;
  half* qr = q + static_cast<size_t>(r) * q_dim;
  const half* kr = k + static_cast<size_t>(r) * kv_dim;
  // Items: q pairs, then k pairs, then v elements; one per thread across blockIdx.y (a decode step has
  // one row, so the work must spread over many blocks to finish quickly).
  const int p = blockIdx.y * blockDim.x + threadIdx.x;
  const int pairs = (q_dim + kv_dim) / 2;
  if (p < pairs) {
    const bool is_q = p < q_dim / 2;
    const int pp = is_q ? p : p - q_dim / 2;
    const int i = pp % half_d, i1 = (pp / half_d) * head_dim + i, i2 = i1 + half_d;
    const half* src = is_q ? qr : kr;
    const half* bias = is_q ? bq : bk;
    float a1 = __half2float(src[i1]), a2 = __half2float(src[i2]);
    if (bias) {
      a1 += __half2float(bias[i1]);
      a2 += __half2float(bias[i2]);
    }
    if (inv_freq) {
      double sn, cs;
      sincos(static_cast<double>(pos) * inv_freq[i], &sn, &cs);
      const float cf = static_cast<float>(cs), sf = static_cast<float>(sn);
      const float r1 = a1 * cf - a2 * sf, r2 = a2 * cf + a1 * sf;
      a1 = r1;
      a2 = r2;
    }
    half* dst = is_q ? qr : kc;
    dst[i1] = __float2half(a1);
    dst[i2] = __float2half(a2);
  } else if (p < pairs + kv_dim) {
    const int j = p - pairs;
    float val = __half2float(v[static_cast<size_t>(r) * kv_dim + j]);
    if (bv) val += __half2float(bv[j]);
    vc[j] = __float2half(val);
  }
}

// Decode attention, split over the keys ("flash-decoding"): one block per (token row, head, split) so that
// a decode step's few heads spread over the whole GPU with many loads in flight; a single block per head
// is bound by the loads one SM keeps in flight (a third of a decode step at context 1024). The grid's
// split count is fixed (decode-step graphs are replayed as the context grows); a row with L keys uses
// ceil(L / kMinKeysPerSplit) of them, at most all, each taking a contiguous key range. Each split writes
// its running max, exp-sum and unnormalised output; the last split to finish (ticket counter) combines
// them in split order, so the result does not depend on which block finishes first.
constexpr int kDecodeAttentionThreads = 128;
constexpr int kDecodeAttentionWarps = kDecodeAttentionThreads / 32;
constexpr int kDecodeAttentionSplits = 8;
constexpr int kMinKeysPerSplit = 32;
constexpr int kKeyBatch = 4;  // key rows each lane group loads before using them

__device__ float dot8(const uint4& a, const float* b) {
  const half2* h = reinterpret_cast<const half2*>(&a);
  float s = 0;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __half22float2(h[k]);
    s += f.x * b[2 * k] + f.y * b[2 * k + 1];
  }
  return s;
}

// The 16-byte chunks of kKeyBatch cache rows (keys or values) one lane reads at a time: rows base, base +
// step, ...; rows at or past n, and lanes without a chunk (head_dim / 8 below the group's lanes), get zeros.
__device__ void load_cache_rows(const uint4* rows, size_t row_stride, int begin, int base, int step, int n, bool has_chunk,
                                uint4 (&out)[kKeyBatch]) {
#pragma unroll
  for (int u = 0; u < kKeyBatch; ++u) {
    const int j = base + u * step;
    out[u] = j < n && has_chunk ? __ldg(rows + static_cast<size_t>(begin + j) * row_stride) : make_uint4(0, 0, 0, 0);
  }
}

// Layout of `partials`: per (row, head, split) 2 + head_dim floats: max, exp-sum, output.
__global__ void __launch_bounds__(kDecodeAttentionThreads) decode_attention_kernel(
    const half* q, const int* slots, const int* positions, const half* cache_k, const half* cache_v,
    size_t slot_stride, half* out, float* partials, unsigned* tickets, int row0, int heads, int kv_heads,
    int head_dim, int score_capacity, float scale) {
  pdl_launch_next();
  pdl_wait();
  extern __shared__ float smem[];  // scores of this split's keys (score_capacity), then [warps][head_dim] outputs
  __shared__ float scratch[32];
  __shared__ bool last_split;
  const int r = row0 + blockIdx.x, h = blockIdx.y, split = blockIdx.z;
  const int L = positions[r] + 1;
  const int splits = min(static_cast<int>(gridDim.z), (L + kMinKeysPerSplit - 1) / kMinKeysPerSplit);
  if (split >= splits) return;  // the whole block: no barrier is skipped by part of it
  const int begin = static_cast<int>(static_cast<long long>(L) * split / splits);
  const int n = static_cast<int>(static_cast<long long>(L) * (split + 1) / splits) - begin;
  const int kvh = h / (heads / kv_heads), q_dim = heads * head_dim, kv_dim = kv_heads * head_dim;
  // A key row is read by a group of `group_lanes` lanes, 8 dims (16 bytes) each; a warp reads
  // 32 / group_lanes rows at a time.
  const int row_chunks = head_dim / 8;
  const int group_lanes = row_chunks <= 1 ? 1 : 1 << (32 - __clz(row_chunks - 1));
  const int rows_per_warp = 32 / group_lanes;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int group = lane / group_lanes, sub = lane % group_lanes;
  const bool has_chunk = sub < row_chunks;
  float* scores = smem;
  float* partial = smem + score_capacity;
  float qf[8];
  {
    const uint4 qv = has_chunk ? *reinterpret_cast<const uint4*>(q + static_cast<size_t>(r) * q_dim + h * head_dim + sub * 8)
                               : make_uint4(0, 0, 0, 0);
    const half2* qh = reinterpret_cast<const half2*>(&qv);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __half22float2(qh[k]);
      qf[2 * k] = f.x * scale;
      qf[2 * k + 1] = f.y * scale;
    }
  }
  const size_t slot_base = static_cast<size_t>(slots[r]) * slot_stride + static_cast<size_t>(kvh) * head_dim + sub * 8;
  const uint4* kb = reinterpret_cast<const uint4*>(cache_k + slot_base);
  const uint4* vb = reinterpret_cast<const uint4*>(cache_v + slot_base);
  const size_t key_stride = static_cast<size_t>(kv_dim) / 8;  // in uint4
  const int step = kDecodeAttentionWarps * rows_per_warp;
  float mx = -INFINITY;
  // Loops run over warp-uniform bounds (the shuffles need every lane); `j < n` masks the tail.
  for (int first = warp * rows_per_warp; first < n; first += step * kKeyBatch) {
    const int base = first + group;
    uint4 kv[kKeyBatch];
    load_cache_rows(kb, key_stride, begin, base, step, n, has_chunk, kv);
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      float s = dot8(kv[u], qf);
      for (int o = group_lanes >> 1; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffU, s, o);
      const int j = base + u * step;
      if (j < n) {
        if (sub == 0) scores[j] = s;
        mx = fmaxf(mx, s);
      }
    }
  }
  mx = block_max(mx, scratch);
  float sum = 0;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = __expf(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  sum = block_sum(sum, scratch);  // its barriers also publish scores[]
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int first = warp * rows_per_warp; first < n; first += step * kKeyBatch) {
    const int base = first + group;
    uint4 vv[kKeyBatch];
    load_cache_rows(vb, key_stride, begin, base, step, n, has_chunk, vv);
#pragma unroll
    for (int u = 0; u < kKeyBatch; ++u) {
      const int j = base + u * step;
      const float p = j < n ? scores[j] : 0.0f;
      const half2* vh = reinterpret_cast<const half2*>(&vv[u]);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float2 f = __half22float2(vh[k]);
        acc[2 * k] += p * f.x;
        acc[2 * k + 1] += p * f.y;
      }
    }
  }
  // The warp's groups hold partial sums of the same dims: add them (lanes sub, sub + group_lanes, ...).
  for (int o = group_lanes; o < 32; o <<= 1) {
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[k] += __shfl_xor_sync(0xffffffffU, acc[k], o);
  }
  if (group == 0 && has_chunk) {
#pragma unroll
    for (int k = 0; k < 8; ++k) partial[warp * head_dim + sub * 8 + k] = acc[k];
  }
  __syncthreads();
  // One split: the output. Several: this split's record (max, exp-sum, unnormalised output).
  const size_t out_base = static_cast<size_t>(r) * q_dim + static_cast<size_t>(h) * head_dim;
  const size_t record = static_cast<size_t>(2 + head_dim);
  float* mine = partials + ((static_cast<size_t>(r) * heads + h) * gridDim.z + split) * record;
  const float inv_sum = 1.0f / sum;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float total = 0;
#pragma unroll
    for (int w = 0; w < kDecodeAttentionWarps; ++w) total += partial[w * head_dim + d];
    if (splits == 1) {
      out[out_base + d] = __float2half(total * inv_sum);
    } else {
      mine[2 + d] = total;
    }
  }
  if (splits == 1) return;
  if (threadIdx.x == 0) {
    mine[0] = mx;
    mine[1] = sum;
  }
  __threadfence();  // this split's record is visible before its ticket
  __syncthreads();
  unsigned* ticket = tickets + static_cast<size_t>(r) * heads + h;
  if (threadIdx.x == 0) last_split = atomicAdd(ticket, 1U) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last_split) return;
  __threadfence();
  const float* first = partials + (static_cast<size_t>(r) * heads + h) * gridDim.z * record;
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, __ldcg(first + s * record));
  float total_sum = 0;
  for (int s = 0; s < splits; ++s) total_sum += __ldcg(first + s * record + 1) * __expf(__ldcg(first + s * record) - m);
  const float inv = 1.0f / total_sum;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float total = 0;
    for (int s = 0; s < splits; ++s) total += __ldcg(first + s * record + 2 + d) * __expf(__ldcg(first + s * record) - m);
    out[out_base + d] = __float2half(total * inv);
  }
  if (threadIdx.x == 0) *ticket = 0;  // ready for the next step (graphs replay the same counters)
}

// Rows are padded to row buckets (T_pad per head, L_pad columns): padding rows (i >= T) become all zeros.
__global__ void causal_softmax_kernel(const float* scores, half* probs, int T, int T_pad, int L, int start) {
  pdl_launch_next();
  pdl_wait();
  __shared__ float scratch[32];
  const size_t row = blockIdx.x;
  const int i = static_cast<int>(row % T_pad);
  half* p = probs + row * L;
  if (i >= T) {
    for (int j = threadIdx.x; j < L; j += blockDim.x) p[j] = __float2half(0.0f);
    return;
  }
  const int visible = start + i + 1;
  const float* s = scores + row * L;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) mx = fmaxf(mx, s[j]);
  mx = block_max(mx, scratch);
  float sum = 0;
  for (int j = threadIdx.x; j < visible; j += blockDim.x) sum += __expf(s[j] - mx);
  const float inv = 1.0f / block_sum(sum, scratch);
  for (int j = threadIdx.x; j < L; j += blockDim.x) p[j] = __float2half(j < visible ? __expf(s[j] - mx) * inv : 0.0f);
}

__global__ void bias_relu_kernel(half* y, const half* bias, int cols, size_t total) {
  pdl_launch_next();
  pdl_wait();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float v = __half2float(y[i]) + __half2float(bias[i % cols]);
    y[i] = __float2half(fmaxf(v, 0.0f));
  }
}

__global__ void swiglu_kernel(half* gate, const half* up, size_t total) {
  pdl_launch_next();
  pdl_wait();
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float g = __half2float(gate[i]);
    gate[i] = __float2half(g / (1.0f + __expf(-g)) * __half2float(up[i]));
  }
}

__global__ void gather_rows_kernel(const half* src, const int* rows, half* dst, int hidden) {
  pdl_launch_next();
  pdl_wait();
  const half* s = src + static_cast<size_t>(rows[blockIdx.x]) * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[static_cast<size_t>(blockIdx.x) * hidden + i] = s[i];
}

// First index of the maximum of each row (ties to the lowest index, like the CPU backend).
__global__ void argmax_kernel(const float* logits, int vocab, int* out) {
  pdl_launch_next();
  pdl_wait();
  __shared__ float best_v[32];
  __shared__ int best_i[32];
  const float* row = logits + static_cast<size_t>(blockIdx.x) * vocab;
  float bv = -INFINITY;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    if (row[j] > bv) {
      bv = row[j];
      bi = j;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffU, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffU, bi, o);
    if (ov > bv || (ov == bv && oi < bi)) {
      bv = ov;
      bi = oi;
    }
  }
  if ((threadIdx.x & 31) == 0) {
    best_v[threadIdx.x >> 5] = bv;
    best_i[threadIdx.x >> 5] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
      if (best_v[w] > bv || (best_v[w] == bv && best_i[w] < bi)) {
        bv = best_v[w];
        bi = best_i[w];
      }
    }
    out[blockIdx.x] = bi;
  }
}

__device__ void store_out(half* y, float v) { *y = __float2half(v); }
__device__ void store_out(float* y, float v) { *y = v; }

// Up to three linear layers over the same input in one launch (q, k and v): outputs of segment 0 come
// first, then 1, then 2.
template <typename Out>
struct GemvJob {
  const half *w0 = nullptr, *w1 = nullptr, *w2 = nullptr;
  Out *y0 = nullptr, *y1 = nullptr, *y2 = nullptr;
  int out0 = 0, out1 = 0, out2 = 0;
  const half* relu_bias0 = nullptr;  // segment 0 only: y = relu(y + bias) (OPT's fc1)
};

// Y[n][o] = sum_i X[n][i] W[o][i] for N <= kGemvMaxRows (2) rows: one warp per output row of W, 16-byte
// loads, so that the weights stream through once at close to memory bandwidth. `in` is a multiple of 8.
template <int N, typename Out>
__global__ void __launch_bounds__(256) gemv_kernel(const GemvJob<Out> job, const half* __restrict__ X, int in) {
  pdl_launch_next();
  pdl_wait();
  int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  const half* W = job.w0;
  Out* Y = job.y0;
  int out = job.out0;
  const half* relu_bias = job.relu_bias0;
  if (o >= job.out0) {
    o -= job.out0;
    relu_bias = nullptr;
    W = job.w1;
    Y = job.y1;
    out = job.out1;
    if (o >= job.out1) {
      o -= job.out1;
      W = job.w2;
      Y = job.y2;
      out = job.out2;
      if (o >= job.out2) return;
    }
  }
  const uint4* w = reinterpret_cast<const uint4*>(W + static_cast<size_t>(o) * in);
  const int chunks = in / 8;
  float acc[N];
#pragma unroll
  for (int n = 0; n < N; ++n) acc[n] = 0.0f;
#pragma unroll(N <= 2 ? 8 : 4)
  for (int c = lane; c < chunks; c += 32) {
    const uint4 wv = __ldg(w + c);
    const half2* wh = reinterpret_cast<const half2*>(&wv);
    float2 wf[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) wf[k] = __half22float2(wh[k]);
#pragma unroll
    for (int n = 0; n < N; ++n) {
      const uint4 xv = __ldg(reinterpret_cast<const uint4*>(X + static_cast<size_t>(n) * in) + c);
      const half2* xh = reinterpret_cast<const half2*>(&xv);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float2 xf = __half22float2(xh[k]);
        acc[n] += wf[k].x * xf.x + wf[k].y * xf.y;
      }
    }
  }
#pragma unroll
  for (int n = 0; n < N; ++n) {
    const float s = warp_sum(acc[n]);
    if (lane == 0) {
      store_out(Y + static_cast<size_t>(n) * out + o, relu_bias ? fmaxf(s + __half2float(relu_bias[o]), 0.0f) : s);
    }
  }
}

__global__ void fill_random_kernel(half* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned x = static_cast<unsigned>(i) * 2654435761U ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995U;
    x ^= x >> 15;
    p[i] = __float2half((static_cast<float>(x & 0xffff) / 65536.0f - 0.5f) * 0.2f);
  }
}

// ---- engine ----------------------------------------------------------------------------------------------

template <typename T>
T* device_alloc(size_t count) {
  void* p = nullptr;
  if (count == 0) count = 1;
  const cudaError_t e = cudaMalloc(&p, count * sizeof(T));
  if (e != cudaSuccess) {
    throw std::runtime_error("cudaMalloc of " + std::to_string(count * sizeof(T)) + " bytes: " + cudaGetErrorString(e));
  }
  return static_cast<T*>(p);
}

// Device allocations freed together: by free_all(), at the latest when this is destroyed.
class DeviceAllocations {
 public:
  DeviceAllocations() = default;
  DeviceAllocations(const DeviceAllocations&) = delete;
  DeviceAllocations& operator=(const DeviceAllocations&) = delete;
  ~DeviceAllocations() { free_all(); }

  template <typename T>
  T* alloc(size_t count) {
    pointers_.push_back(nullptr);  // room first: recording cannot throw once the memory is allocated
    pointers_.back() = device_alloc<T>(count);
    return static_cast<T*>(pointers_.back());
  }
  void free_all() {
    for (void* p : pointers_) cudaFree(p);
    pointers_.clear();
  }

 private:
  std::vector<void*> pointers_;
};

void require_gpu(const Device& device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    throw std::runtime_error("device " + device.to_string() + ": no CUDA device available" +
                             (e != cudaSuccess ? std::string(" (") + cudaGetErrorString(e) + ")" : std::string()));
  }
  if (device.index >= count) {
    throw std::runtime_error("device " + device.to_string() + ": only " + std::to_string(count) + " CUDA device(s)");
  }
  CUDA_CHECK(cudaSetDevice(device.index));
}

struct LayerWeights {
  const half *q = nullptr, *k = nullptr, *v = nullptr, *o = nullptr;
  const half *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;
  const half *norm1_w = nullptr, *norm1_b = nullptr, *norm2_w = nullptr, *norm2_b = nullptr;
  const half *fc1 = nullptr, *b1 = nullptr, *fc2 = nullptr, *b2 = nullptr;
  const half *gate = nullptr, *up = nullptr, *down = nullptr;
};

class CudaEngine final : public Engine {
 public:
  CudaEngine(const ModelArch& arch, const TensorSource& weights, Device device, const EngineConfig& config)
      : Engine(arch, device, config) {
    if (arch.head_dim % 8 != 0 || arch.head_dim > 256) {
      throw InputError("model " + arch.name, "the CUDA engine needs head_dim to be a multiple of 8, at most 256");
    }
    require_gpu(device);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    BLAS_CHECK(cublasCreate(&blas_));
    BLAS_CHECK(cublasSetStream(blas_, stream_));
    try {
      load_weights(weights);
      allocate_cache();
      warm_up_row_buckets();
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaEngine() override { release(); }

  void reset(int slot) override { lengths_.at(static_cast<size_t>(slot)) = 0; }
  int context_length(int slot) const override { return lengths_.at(static_cast<size_t>(slot)); }

  std::vector<TokenId> forward(std::span<const SequenceChunk> chunks, std::vector<float>* last_logits) override {
    detail::validate_chunks(*this, chunks, lengths_);
    CUDA_CHECK(cudaSetDevice(device_.index));
    const ModelArch& a = arch_;
    const int h = a.hidden;
    const int C = static_cast<int>(chunks.size());
    std::vector<int> first_row(static_cast<size_t>(C) + 1, 0);
    for (int c = 0; c < C; ++c) first_row[c + 1] = first_row[c] + static_cast<int>(chunks[c].tokens.size());
    const int N = first_row.back();
    ensure_buffers(N, C);
    // Pinned host staging (so that the copies are real asynchronous DMA): tokens | positions | slots | last rows.
    int* host = host_ints_;
    for (int c = 0; c < C; ++c) {
      const int start = lengths_[static_cast<size_t>(chunks[c].slot)];
      for (int j = 0; j < static_cast<int>(chunks[c].tokens.size()); ++j) {
        const int r = first_row[c] + j;
        host[r] = chunks[c].tokens[static_cast<size_t>(j)];
        host[N + r] = start + j;
        host[2 * N + r] = chunks[c].slot;
      }
      host[3 * N + c] = first_row[c + 1] - 1;
    }
    CUDA_CHECK(cudaMemcpyAsync(ints_, host, static_cast<size_t>(3 * N + C) * sizeof(int), cudaMemcpyHostToDevice, stream_));
    // Decode steps (one token per sequence, own kernels only) launch the same ~11 kernels per layer with
    // only device-side data changing: replay them as one CUDA graph per row count, which removes the
    // per-launch CPU cost that would otherwise dominate small kernels.
    const bool single_tokens = N == C;
    if (single_tokens && use_gemv(N, h) && use_gemv(N, a.ffn)) {
      auto it = graphs_.find(N);
      if (it == graphs_.end()) {
        cudaGraphExec_t exec = nullptr;
        if (pdl_supported_) {
          try {
            exec = capture_graph(chunks, first_row, true);
          } catch (const std::runtime_error&) {
            pdl_supported_ = false;  // e.g. a driver without PDL in captured graphs: capture without it
            cudaGetLastError();
          }
        }
        if (!exec) exec = capture_graph(chunks, first_row, false);
        it = graphs_.emplace(N, exec).first;
      }
      CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    } else {
      enqueue(chunks, first_row);
    }
    CUDA_CHECK(cudaMemcpyAsync(host_next_, next_, static_cast<size_t>(C) * sizeof(int), cudaMemcpyDeviceToHost, stream_));
    if (last_logits) {
      last_logits->resize(static_cast<size_t>(C) * a.vocab);
      CUDA_CHECK(cudaMemcpyAsync(last_logits->data(), logits_, last_logits->size() * sizeof(float),
                                 cudaMemcpyDeviceToHost, stream_));
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    for (const SequenceChunk& c : chunks) lengths_[static_cast<size_t>(c.slot)] += static_cast<int>(c.tokens.size());
    return std::vector<TokenId>(host_next_, host_next_ + C);
  }

 private:
  cudaGraphExec_t capture_graph(std::span<const SequenceChunk> chunks, const std::vector<int>& first_row, bool pdl) {
    cudaGraph_t graph = nullptr;
    CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    pdl_ = pdl;
    try {
      enqueue(chunks, first_row);
    } catch (...) {
      pdl_ = false;
      cudaStreamEndCapture(stream_, &graph);
      if (graph) cudaGraphDestroy(graph);
      throw;
    }
    pdl_ = false;
    CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    CUDA_CHECK(e);
    return exec;
  }

  // Every kernel of one forward pass, on stream_ (captured into a graph for decode steps).
  void enqueue(std::span<const SequenceChunk> chunks, const std::vector<int>& first_row) {
    const ModelArch& a = arch_;
    const bool opt = a.family == ModelFamily::kOpt;
    const int q_dim = a.heads * a.head_dim, kv_dim = a.kv_heads * a.head_dim, h = a.hidden;
    const int C = static_cast<int>(chunks.size()), N = first_row.back();
    const int* d_tokens = ints_;
    const int* d_pos = ints_ + N;
    const int* d_slots = ints_ + 2 * N;
    const int* d_last = ints_ + 3 * N;
    const float norm_eps = static_cast<float>(opt ? detail::kLayerNormEps : detail::kRmsNormEps);
    const size_t norm_smem = static_cast<size_t>(h) * sizeof(float);
    launch(embed_kernel, N, 256, 0, d_tokens, d_pos, embed_, positions_, detail::kOptPositionOffset, x_, h);
    LAUNCH_CHECK();
    launch(add_norm_kernel, N, kNormThreads, norm_smem, x_, nullptr, nullptr, layers_[0].norm1_w, layers_[0].norm1_b, xn_, h,
                                                    norm_eps, !opt);
    LAUNCH_CHECK();
    const size_t slot_stride = static_cast<size_t>(cache_positions()) * kv_dim;
    const size_t layer_stride = slot_stride * static_cast<size_t>(config_.max_sequences);
    const float scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const LayerWeights& L = layers_[l];
      half* ck = cache_k_ + l * layer_stride;
      half* cv = cache_v_ + l * layer_stride;
      if (use_gemv(N, h)) {  // q, k and v in one launch
        gemv(GemvJob<half>{L.q, L.k, L.v, q_, k_, v_, q_dim, kv_dim, kv_dim}, xn_, N, h);
      } else {
        linear(L.q, xn_, q_, N, q_dim, h);
        linear(L.k, xn_, k_, N, kv_dim, h);
        linear(L.v, xn_, v_, N, kv_dim, h);
      }
      const dim3 post_grid(static_cast<unsigned>(N), static_cast<unsigned>(((q_dim + kv_dim) / 2 + kv_dim + 255) / 256));
      launch(qkv_post_kernel, post_grid, 256, 0, q_, k_, v_, L.bq, L.bk, L.bv, d_slots, d_pos, ck, cv, slot_stride, q_dim,
                                              kv_dim, a.head_dim, opt ? nullptr : inv_freq_);
      LAUNCH_CHECK();
      attention(chunks, first_row, ck, cv, slot_stride, d_slots, d_pos, scale);
      linear(L.o, attn_, t1_, N, h, q_dim);
      launch(add_norm_kernel, N, kNormThreads, norm_smem, x_, t1_, L.bo, L.norm2_w, L.norm2_b, xn_, h, norm_eps, !opt);
      LAUNCH_CHECK();
      const size_t ffn_total = static_cast<size_t>(N) * a.ffn;
      const int ew_blocks = static_cast<int>(std::min<size_t>((ffn_total + 255) / 256, 4096));
      const half* mlp_out;
      const half* mlp_bias = nullptr;
      if (opt) {
        if (use_gemv(N, h)) {  // bias and ReLU in the GEMV's epilogue
          GemvJob<half> job;
          job.w0 = L.fc1;
          job.y0 = t1_;
          job.out0 = a.ffn;
          job.relu_bias0 = L.b1;
          gemv(job, xn_, N, h);
        } else {
          linear(L.fc1, xn_, t1_, N, a.ffn, h);
          launch(bias_relu_kernel, ew_blocks, 256, 0, t1_, L.b1, a.ffn, ffn_total);
          LAUNCH_CHECK();
        }
        linear(L.fc2, t1_, t2_, N, h, a.ffn);
        mlp_out = t2_;
        mlp_bias = L.b2;
      } else {
        linear(L.gate, xn_, t1_, N, a.ffn, h);
        linear(L.up, xn_, t2_, N, a.ffn, h);
        launch(swiglu_kernel, ew_blocks, 256, 0, t1_, t2_, ffn_total);
        LAUNCH_CHECK();
        linear(L.down, t1_, attn_, N, h, a.ffn);
        mlp_out = attn_;
      }
      const bool last = l + 1 == layers_.size();
      launch(add_norm_kernel, N, kNormThreads, norm_smem, x_, mlp_out, mlp_bias, last ? final_w_ : layers_[l + 1].norm1_w,
                                                      last ? final_b_ : layers_[l + 1].norm1_b, xn_, h, norm_eps, !opt);
      LAUNCH_CHECK();
    }
    launch(gather_rows_kernel, C, 256, 0, xn_, d_last, last_rows_, h);
    LAUNCH_CHECK();
    linear_f32(lm_head_, last_rows_, logits_, C, a.vocab, h);
    launch(argmax_kernel, C, 1024, 0, logits_, a.vocab, next_);
    LAUNCH_CHECK();
  }

  // Token rows up to which linear layers use the GEMV kernel rather than cuBLAS: the crossover measured on an
  // H200 (docs/engine.md, 2026-11-22): an OPT-6.7B decode step with cuBLAS costs about the same for 1 to 16
  // rows (5.47-5.76 ms), with this GEMV 4.4-4.5 ms for 1 row and 4.9-5.0 ms for 2; from 3 rows on no GEMV
  // variant measured beat cuBLAS, and this one took 8.0 ms for 4 rows and 10.8 ms for 8.
  static constexpr int kGemvMaxRows = 2;
  static constexpr int kCublasAttentionMinRows = 32;  // chunks at least this long use the GEMM attention

  // cuBLAS chooses (and loads) a kernel the first time a process runs a GEMM shape: measured on an H200,
  // ~3 ms of host time for most new row counts of a linear layer and up to 2.6 ms for a new attention
  // shape (docs/engine.md), and the GPU waits meanwhile. A migration's first round or a prompt of a new
  // length would pay that inside its forward pass, several times (a first forward of 372 tokens took
  // 34.7 ms, the same forward repeated 7.1 ms). So cuBLAS row counts are padded to buckets (8, 16, 32, 64, then
  // multiples of 64), and each bucket's shapes run once when the engine is created, up to
  // kWarmUpRows rows (longer forwards pay the first use; the scores buffer for them would be large).
  static constexpr int kRowBucket = 64;
  static constexpr int kWarmUpRows = 2048;
  static int row_bucket(int rows) {
    if (rows <= kRowBucket) {
      int b = 8;
      while (b < rows) b *= 2;
      return b;
    }
    return (rows + kRowBucket - 1) / kRowBucket * kRowBucket;
  }
  // KV-cache positions per slot: max_context rounded up so that padded attention stays inside the slot.
  int cache_positions() const { return row_bucket(config_.max_context); }

  void warm_up_row_buckets() {
    const ModelArch& a = arch_;
    const bool opt = a.family == ModelFamily::kOpt;
    const int q_dim = a.heads * a.head_dim, kv_dim = a.kv_heads * a.head_dim;
    const int top = std::min(row_bucket(config_.max_context), kWarmUpRows);
    ensure_buffers(top, config_.max_sequences);
    if (top >= kCublasAttentionMinRows) ensure_scores(static_cast<size_t>(a.heads) * top * top);
    const LayerWeights& L = layers_.front();
    struct Shape {
      const half* w;
      int out, in;
    };
    const std::vector<Shape> shapes = {{L.q, q_dim, a.hidden}, {L.k, kv_dim, a.hidden}, {L.o, a.hidden, q_dim},
                                       {opt ? L.fc1 : L.gate, a.ffn, a.hidden}, {opt ? L.fc2 : L.down, a.hidden, a.ffn}};
    for (int b = row_bucket(1); b <= top; b = row_bucket(b + 1)) {
      for (const Shape& shape : shapes) blas_linear(shape.w, t1_, t2_, CUDA_R_16F, b, shape.out, shape.in);
      if (b <= chunks_capacity_) blas_linear(lm_head_, last_rows_, logits_, CUDA_R_32F, b, a.vocab, a.hidden);
      if (b >= kCublasAttentionMinRows) {
        blas_attention_scores(cache_k_, 0, b, b, 1.0f);
        blas_attention_values(cache_v_, 0, b, b);
      }
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void release() {
    if (device_.index >= 0) cudaSetDevice(device_.index);
    owned_.free_all();
    free_buffers();
    if (scores_) cudaFree(scores_);
    if (probs_) cudaFree(probs_);
    scores_ = nullptr;
    probs_ = nullptr;
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
    blas_ = nullptr;
    stream_ = nullptr;
  }

  // Points at the loader's device tensors, or uploads host tensors (converted to fp16) into one allocation.
  void load_weights(const TensorSource& w) {
    const ModelArch& a = arch_;
    const bool opt = a.family == ModelFamily::kOpt;
    const std::int64_t h = a.hidden, f = a.ffn, q_dim = std::int64_t{a.heads} * a.head_dim,
                       kv_dim = std::int64_t{a.kv_heads} * a.head_dim;
    struct Want {
      const half** slot;
      std::string name;
      std::vector<std::int64_t> shape;
    };
    std::vector<Want> wants;
    layers_.resize(static_cast<size_t>(a.layers));
    const std::string base = opt ? "model.decoder." : "model.";
    wants.push_back({&embed_, base + "embed_tokens.weight", {a.vocab, h}});
    if (opt) {
      wants.push_back({&positions_, base + "embed_positions.weight", {a.max_positions + detail::kOptPositionOffset, h}});
    }
    for (int i = 0; i < a.layers; ++i) {
      LayerWeights& L = layers_[static_cast<size_t>(i)];
      const std::string p = base + "layers." + std::to_string(i) + ".";
      if (opt) {
        wants.insert(wants.end(), {{&L.q, p + "self_attn.q_proj.weight", {q_dim, h}},
                                   {&L.bq, p + "self_attn.q_proj.bias", {q_dim}},
                                   {&L.k, p + "self_attn.k_proj.weight", {kv_dim, h}},
                                   {&L.bk, p + "self_attn.k_proj.bias", {kv_dim}},
                                   {&L.v, p + "self_attn.v_proj.weight", {kv_dim, h}},
                                   {&L.bv, p + "self_attn.v_proj.bias", {kv_dim}},
                                   {&L.o, p + "self_attn.out_proj.weight", {h, q_dim}},
                                   {&L.bo, p + "self_attn.out_proj.bias", {h}},
                                   {&L.norm1_w, p + "self_attn_layer_norm.weight", {h}},
                                   {&L.norm1_b, p + "self_attn_layer_norm.bias", {h}},
                                   {&L.norm2_w, p + "final_layer_norm.weight", {h}},
                                   {&L.norm2_b, p + "final_layer_norm.bias", {h}},
                                   {&L.fc1, p + "fc1.weight", {f, h}},
                                   {&L.b1, p + "fc1.bias", {f}},
                                   {&L.fc2, p + "fc2.weight", {h, f}},
                                   {&L.b2, p + "fc2.bias", {h}}});
      } else {
        wants.insert(wants.end(), {{&L.q, p + "self_attn.q_proj.weight", {q_dim, h}},
                                   {&L.k, p + "self_attn.k_proj.weight", {kv_dim, h}},
                                   {&L.v, p + "self_attn.v_proj.weight", {kv_dim, h}},
                                   {&L.o, p + "self_attn.o_proj.weight", {h, q_dim}},
                                   {&L.norm1_w, p + "input_layernorm.weight", {h}},
                                   {&L.norm2_w, p + "post_attention_layernorm.weight", {h}},
                                   {&L.gate, p + "mlp.gate_proj.weight", {f, h}},
                                   {&L.up, p + "mlp.up_proj.weight", {f, h}},
                                   {&L.down, p + "mlp.down_proj.weight", {h, f}}});
      }
    }
    if (opt) {
      wants.push_back({&final_w_, base + "final_layer_norm.weight", {h}});
      wants.push_back({&final_b_, base + "final_layer_norm.bias", {h}});
    } else {
      wants.push_back({&final_w_, "model.norm.weight", {h}});
      wants.push_back({&lm_head_, "lm_head.weight", {a.vocab, h}});
    }
    // Host tensors are uploaded into one allocation, 256-byte aligned each (the GEMV reads 16 bytes).
    std::vector<std::pair<const TensorView*, size_t>> uploads;
    size_t upload_bytes = 0;
    for (const Want& want : wants) {
      const TensorView& view = detail::require_tensor(w, want.name, want.shape);
      if (view.device.backend == "cuda") {
        if (view.device.index != device_.index || view.dtype != DType::kF16) {
          throw InputError("tensor '" + want.name + "'", "the CUDA engine on " + device_.to_string() +
                                                             " needs F16 tensors on that device, got " +
                                                             std::string(to_string(view.dtype)) + " on " +
                                                             view.device.to_string());
        }
        if (reinterpret_cast<std::uintptr_t>(view.data) % 16 != 0) {
          throw InputError("tensor '" + want.name + "'", "device tensors must be 16-byte aligned");
        }
        *want.slot = static_cast<const half*>(view.data);
      } else {
        uploads.emplace_back(&view, upload_bytes);
        upload_bytes += (view.bytes / dtype_size(view.dtype) * 2 + 255) / 256 * 256;
      }
    }
    if (!uploads.empty()) {
      auto* block = owned_.alloc<std::byte>(upload_bytes);
      std::vector<std::uint16_t> staging;
      size_t i = 0;
      for (const Want& want : wants) {
        if (*want.slot != nullptr) continue;
        const auto& [view, offset] = uploads[i++];
        const size_t elements = view->bytes / dtype_size(view->dtype);
        const void* src = view->data;
        if (view->dtype != DType::kF16) {
          const std::vector<float> values = detail::host_to_float(*view);
          staging.resize(elements);
          for (size_t e = 0; e < elements; ++e) staging[e] = float_to_half(values[e]);
          src = staging.data();
        }
        CUDA_CHECK(cudaMemcpy(block + offset, src, elements * 2, cudaMemcpyHostToDevice));
        *want.slot = reinterpret_cast<const half*>(block + offset);
      }
    }
    if (opt) lm_head_ = embed_;  // tied
    if (!opt) {
      std::vector<double> inv(static_cast<size_t>(a.head_dim / 2));
      for (size_t i = 0; i < inv.size(); ++i) inv[i] = std::pow(a.rope_theta, -2.0 * static_cast<double>(i) / a.head_dim);
      inv_freq_ = owned_.alloc<double>(inv.size());
      CUDA_CHECK(cudaMemcpy(inv_freq_, inv.data(), inv.size() * sizeof(double), cudaMemcpyHostToDevice));
    }
  }

  void allocate_cache() {
    const size_t kv_dim = static_cast<size_t>(arch_.kv_heads) * arch_.head_dim;
    // Zeroed: padded attention reads positions past a sequence's end (with probability 0), which must be finite.
    const size_t elements = kv_dim * cache_positions() * config_.max_sequences * layers_.size();
    cache_k_ = owned_.alloc<half>(elements);
    cache_v_ = owned_.alloc<half>(elements);
    CUDA_CHECK(cudaMemset(cache_k_, 0, elements * sizeof(half)));
    CUDA_CHECK(cudaMemset(cache_v_, 0, elements * sizeof(half)));
    lengths_.assign(static_cast<size_t>(config_.max_sequences), 0);
    if (decode_attention_smem() > 48 * 1024) {
      CUDA_CHECK(cudaFuncSetAttribute(decode_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(decode_attention_smem())));
    }
  }

  // Keys one split of decode_attention_kernel handles at most (see its comment).
  int score_capacity() const {
    return std::max(kMinKeysPerSplit, (config_.max_context + kDecodeAttentionSplits - 1) / kDecodeAttentionSplits);
  }
  size_t decode_attention_smem() const {
    return (static_cast<size_t>(score_capacity()) + static_cast<size_t>(kDecodeAttentionWarps) * arch_.head_dim) *
           sizeof(float);
  }

  void free_buffers() {
    for (auto& [rows, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
    buffers_.free_all();
    if (host_ints_) cudaFreeHost(host_ints_);
    if (host_next_) cudaFreeHost(host_next_);
    host_ints_ = nullptr;
    host_next_ = nullptr;
    rows_capacity_ = 0;
    chunks_capacity_ = 0;
  }

  void ensure_buffers(int rows, int chunks) {
    if (rows <= rows_capacity_ && chunks <= chunks_capacity_) return;
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    free_buffers();
    // Room for padded GEMMs: a forward's rows padded to their bucket, and a long chunk's attention rows padded
    // past the end of the forward's rows (by less than kRowBucket).
    rows_capacity_ = row_bucket(rows) + kRowBucket;
    chunks_capacity_ = row_bucket(chunks);
    const size_t R = static_cast<size_t>(rows_capacity_);
    const ModelArch& a = arch_;
    const size_t q_dim = static_cast<size_t>(a.heads) * a.head_dim, kv_dim = static_cast<size_t>(a.kv_heads) * a.head_dim;
    const size_t wide = std::max({static_cast<size_t>(a.ffn), static_cast<size_t>(a.hidden), q_dim});
    x_ = buffers_.alloc<float>(R * a.hidden);
    xn_ = buffers_.alloc<half>(R * a.hidden);
    q_ = buffers_.alloc<half>(R * q_dim);
    k_ = buffers_.alloc<half>(R * kv_dim);
    v_ = buffers_.alloc<half>(R * kv_dim);
    attn_ = buffers_.alloc<half>(R * wide);
    t1_ = buffers_.alloc<half>(R * wide);
    t2_ = buffers_.alloc<half>(R * wide);
    ints_ = buffers_.alloc<int>(3 * R + static_cast<size_t>(chunks_capacity_));
    last_rows_ = buffers_.alloc<half>(static_cast<size_t>(chunks_capacity_) * a.hidden);
    logits_ = buffers_.alloc<float>(static_cast<size_t>(chunks_capacity_) * a.vocab);
    next_ = buffers_.alloc<int>(static_cast<size_t>(chunks_capacity_));
    attention_partials_ = buffers_.alloc<float>(R * a.heads * kDecodeAttentionSplits * (2 + static_cast<size_t>(a.head_dim)));
    attention_tickets_ = buffers_.alloc<unsigned>(R * a.heads);
    CUDA_CHECK(cudaMemsetAsync(attention_tickets_, 0, R * a.heads * sizeof(unsigned), stream_));
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_ints_), (3 * R + static_cast<size_t>(chunks_capacity_)) * sizeof(int),
                             cudaHostAllocDefault));
    CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_next_), static_cast<size_t>(chunks_capacity_) * sizeof(int),
                             cudaHostAllocDefault));
  }

  void ensure_scores(size_t elements) {
    if (elements <= scores_capacity_) return;
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (scores_) cudaFree(scores_);
    if (probs_) cudaFree(probs_);
    scores_ = nullptr;
    probs_ = nullptr;
    scores_ = device_alloc<float>(elements);
    probs_ = device_alloc<half>(elements);
    scores_capacity_ = elements;
  }

  // Y[rows, out] = X[rows, in] W^T (W as stored: [out, in]).
  void linear(const half* W, const half* X, half* Y, int rows, int out, int in) {
    if (use_gemv(rows, in)) {
      GemvJob<half> job;
      job.w0 = W;
      job.y0 = Y;
      job.out0 = out;
      gemv(job, X, rows, in);
      return;
    }
    blas_linear(W, X, Y, CUDA_R_16F, row_bucket(rows), out, in);
  }
  void linear_f32(const half* W, const half* X, float* Y, int rows, int out, int in) {
    if (use_gemv(rows, in)) {
      GemvJob<float> job;
      job.w0 = W;
      job.y0 = Y;
      job.out0 = out;
      gemv(job, X, rows, in);
      return;
    }
    blas_linear(W, X, Y, CUDA_R_32F, row_bucket(rows), out, in);
  }
  // Y[rows, out] = X[rows, in] W^T with cuBLAS; `rows` is a row bucket (rows past the caller's are computed
  // from whatever the buffers hold there and never read).
  void blas_linear(const half* W, const half* X, void* Y, cudaDataType y_type, int rows, int out, int in) {
    const float alpha = 1.0f, beta = 0.0f;
    BLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &alpha, W, CUDA_R_16F, in, X, CUDA_R_16F, in,
                            &beta, Y, y_type, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  template <typename Out>
  void gemv(const GemvJob<Out>& job, const half* X, int rows, int in) {
    const int blocks = (job.out0 + job.out1 + job.out2 + 7) / 8;
    static_assert(kGemvMaxRows == 2, "one instantiation per row count");
    if (rows == 1) {
      launch(gemv_kernel<1, Out>, blocks, 256, 0, job, X, in);
    } else {
      launch(gemv_kernel<2, Out>, blocks, 256, 0, job, X, in);
    }
  }
  // Every kernel launch of the engine; decode-step graphs set pdl_ (programmatic dependent launch: the
  // next kernel may start, and prefetch its weights, while the previous one drains).
  template <typename... Params, typename... Args>
  void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, Args&&... args) {
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config{};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream_;
    config.attrs = &attribute;
    config.numAttrs = pdl_ ? 1 : 0;
    CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
  }
  bool use_gemv(int rows, int in) const {
    return rows <= kGemvMaxRows && in % 8 == 0 && !config_.cublas_for_small_batches;
  }

  // Long chunks: S = Q K^T (scaled) and O = P V with cuBLAS, softmax in between; short chunks (decode,
  // small recomputes), grouped into consecutive row ranges: decode_attention_kernel.
  void attention(std::span<const SequenceChunk> chunks, const std::vector<int>& first_row, half* ck, half* cv,
                 size_t slot_stride, const int* d_slots, const int* d_pos, float scale) {
    const ModelArch& a = arch_;
    int pending_begin = -1, pending_end = -1;  // a range of rows for the own kernel
    auto flush = [&] {
      if (pending_begin < 0) return;
      const dim3 grid(static_cast<unsigned>(pending_end - pending_begin), static_cast<unsigned>(a.heads),
                      static_cast<unsigned>(kDecodeAttentionSplits));
      launch(decode_attention_kernel, grid, kDecodeAttentionThreads, decode_attention_smem(), q_, d_slots, d_pos, ck, cv,
             slot_stride, attn_, attention_partials_, attention_tickets_, pending_begin, a.heads, a.kv_heads, a.head_dim,
             score_capacity(), scale);
      LAUNCH_CHECK();
      pending_begin = pending_end = -1;
    };
    for (size_t c = 0; c < chunks.size(); ++c) {
      const int T = static_cast<int>(chunks[c].tokens.size()), row0 = first_row[c];
      if (T < kCublasAttentionMinRows) {
        if (pending_begin < 0) pending_begin = row0;
        pending_end = row0 + T;
        continue;
      }
      flush();
      const int start = lengths_[static_cast<size_t>(chunks[c].slot)];
      // Padded to row buckets like the linear layers: keys past L are zeros or an earlier sequence's (finite,
      // multiplied by probabilities of 0), query rows past T give rows that are never read.
      const int T_pad = row_bucket(T), L_pad = row_bucket(start + T);
      blas_attention_scores(ck + static_cast<size_t>(chunks[c].slot) * slot_stride, row0, T_pad, L_pad, scale);
      launch(causal_softmax_kernel, a.heads * T_pad, 256, 0, scores_, probs_, T, T_pad, L_pad, start);
      LAUNCH_CHECK();
      blas_attention_values(cv + static_cast<size_t>(chunks[c].slot) * slot_stride, row0, T_pad, L_pad);
    }
    flush();
  }
  // S[head][T_pad][L_pad] = scale * Q K^T for the query rows from row0 (heads kvh * group + g share kv head kvh).
  void blas_attention_scores(const half* keys, int row0, int T_pad, int L_pad, float scale) {
    const ModelArch& a = arch_;
    const int q_dim = a.heads * a.head_dim, kv_dim = a.kv_heads * a.head_dim, group = a.heads / a.kv_heads;
    ensure_scores(static_cast<size_t>(a.heads) * T_pad * L_pad);
    const long long TL = static_cast<long long>(T_pad) * L_pad;
    const float zero = 0.0f;
    for (int g = 0; g < group; ++g) {
      BLAS_CHECK(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_T, CUBLAS_OP_N, L_pad, T_pad, a.head_dim, &scale, keys, CUDA_R_16F, kv_dim, a.head_dim,
          q_ + static_cast<size_t>(row0) * q_dim + static_cast<size_t>(g) * a.head_dim, CUDA_R_16F, q_dim,
          static_cast<long long>(group) * a.head_dim, &zero, scores_ + g * TL, CUDA_R_32F, L_pad, group * TL, a.kv_heads,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }
  // O = P V into the attention output rows from row0.
  void blas_attention_values(const half* values, int row0, int T_pad, int L_pad) {
    const ModelArch& a = arch_;
    const int q_dim = a.heads * a.head_dim, kv_dim = a.kv_heads * a.head_dim, group = a.heads / a.kv_heads;
    const long long TL = static_cast<long long>(T_pad) * L_pad;
    const float one = 1.0f, zero = 0.0f;
    for (int g = 0; g < group; ++g) {
      BLAS_CHECK(cublasGemmStridedBatchedEx(
          blas_, CUBLAS_OP_N, CUBLAS_OP_N, a.head_dim, T_pad, L_pad, &one, values, CUDA_R_16F, kv_dim, a.head_dim,
          probs_ + g * TL, CUDA_R_16F, L_pad, group * TL, &zero,
          attn_ + static_cast<size_t>(row0) * q_dim + static_cast<size_t>(g) * a.head_dim, CUDA_R_16F, q_dim,
          static_cast<long long>(group) * a.head_dim, a.kv_heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }

  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceAllocations owned_, buffers_;  // for the engine's life; the forward's buffers (regrown)
  const half *embed_ = nullptr, *positions_ = nullptr, *final_w_ = nullptr, *final_b_ = nullptr, *lm_head_ = nullptr;
  std::vector<LayerWeights> layers_;
  double* inv_freq_ = nullptr;
  half *cache_k_ = nullptr, *cache_v_ = nullptr;
  std::vector<int> lengths_;
  int rows_capacity_ = 0, chunks_capacity_ = 0;
  float* x_ = nullptr;
  half *xn_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *attn_ = nullptr, *t1_ = nullptr, *t2_ = nullptr;
  int* ints_ = nullptr;
  half* last_rows_ = nullptr;
  float* logits_ = nullptr;
  int* next_ = nullptr;
  float* attention_partials_ = nullptr;  // decode_attention_kernel's per-split records
  unsigned* attention_tickets_ = nullptr;  // and its per-(row, head) counters, zero between launches
  float* scores_ = nullptr;
  half* probs_ = nullptr;
  size_t scores_capacity_ = 0;
  int* host_ints_ = nullptr;  // pinned
  int* host_next_ = nullptr;  // pinned
  std::map<int, cudaGraphExec_t> graphs_;  // decode step graphs by row count; they capture buffer addresses
  bool pdl_ = false;           // set while a decode-step graph is captured
  bool pdl_supported_ = true;  // cleared if capturing with it failed (then graphs are captured without)
};

}  // namespace

namespace detail {

std::unique_ptr<Engine> create_cuda_engine(const ModelArch& arch, const TensorSource& weights, Device device,
                                           const EngineConfig& config) {
  return std::make_unique<CudaEngine>(arch, weights, device, config);
}

}  // namespace detail

namespace {
// What the ceilings probe creates, released on every path out of it (a failed CUDA call throws).
struct ProbeResources {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  cublasHandle_t blas = nullptr;
  DeviceAllocations buffers;
  ~ProbeResources() {
    buffers.free_all();
    if (blas) cublasDestroy(blas);
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
  }
};
}  // namespace

DeviceCeilings measure_cuda_ceilings(int device_index, std::int64_t m, std::int64_t n, std::int64_t k) {
  const Device device{"cuda", device_index};
  require_gpu(device);
  DeviceCeilings out;
  ProbeResources r;
  CUDA_CHECK(cudaStreamCreate(&r.stream));
  CUDA_CHECK(cudaEventCreate(&r.start));
  CUDA_CHECK(cudaEventCreate(&r.stop));
  auto time_ms = [&](auto&& body, int repeats) {
    body();  // warm-up
    CUDA_CHECK(cudaEventRecord(r.start, r.stream));
    for (int i = 0; i < repeats; ++i) body();
    CUDA_CHECK(cudaEventRecord(r.stop, r.stream));
    CUDA_CHECK(cudaEventSynchronize(r.stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.stop));
    return static_cast<double>(ms) / repeats;
  };
  {  // device-to-device copy of 2 GiB: bytes read plus bytes written
    const size_t bytes = 2ull << 30;
    auto* a = r.buffers.alloc<half>(bytes / 2);
    auto* b = r.buffers.alloc<half>(bytes / 2);
    fill_random_kernel<<<1024, 256, 0, r.stream>>>(a, bytes / 2, 1);
    const double ms = time_ms([&] { CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, r.stream)); }, 10);
    out.copy_bytes_per_second = 2.0 * static_cast<double>(bytes) / (ms * 1e-3);
    r.buffers.free_all();  // 4 GiB, not held through the GEMM
  }
  {  // cuBLAS fp16 GEMM, fp32 accumulation, random inputs
    BLAS_CHECK(cublasCreate(&r.blas));
    BLAS_CHECK(cublasSetStream(r.blas, r.stream));
    auto* A = r.buffers.alloc<half>(static_cast<size_t>(m * k));
    auto* B = r.buffers.alloc<half>(static_cast<size_t>(k * n));
    auto* Cm = r.buffers.alloc<half>(static_cast<size_t>(m * n));
    fill_random_kernel<<<1024, 256, 0, r.stream>>>(A, static_cast<size_t>(m * k), 2);
    fill_random_kernel<<<1024, 256, 0, r.stream>>>(B, static_cast<size_t>(k * n), 3);
    const float alpha = 1.0f, beta = 0.0f;
    const double ms = time_ms(
        [&] {
          BLAS_CHECK(cublasGemmEx(r.blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(m), static_cast<int>(n),
                                  static_cast<int>(k), &alpha, A, CUDA_R_16F, static_cast<int>(k), B, CUDA_R_16F,
                                  static_cast<int>(k), &beta, Cm, CUDA_R_16F, static_cast<int>(m), CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
        },
        20);
    out.gemm_flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) / (ms * 1e-3);
  }
  return out;
}

}  // namespace sllm::models
